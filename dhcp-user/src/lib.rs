//! xdhcp user space: everything that touches the kernel (aya, sockets, threads, clocks).
//!
//! - [`steer`]: loads the XDP program, attaches it, registers AF_XDP sockets, reads its counters.
//! - [`bounce`]: the lab's XDP_TX bounce from the same object, the benchmark's ceiling.
//! - [`xsk`]: AF_XDP sockets — UMEM, fill/completion and RX/TX rings.
//! - [`io`]: the datagram interface the engine runs on, with an AF_XDP and a UDP-socket backend.
//! - [`api`], [`metrics`]: the operator control API (HTTP/JSON) and the Prometheus endpoint.

pub mod api;
pub mod bounce;
pub mod failover;
pub mod io;
pub mod journal;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod server;
pub mod signals;
pub mod steer;
pub mod xsk;

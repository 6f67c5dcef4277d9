//! dhcp-load: a DHCPv4 load generator that checks every reply.
//!
//! This library is the part without I/O: a [`fleet::Fleet`] simulates up to
//! [`ident::MAX_CLIENTS`] clients doing DORA, renew, rebind, INIT-REBOOT and release — directly
//! or as a relay agent, with or without VLAN tags — builds the frames they send, and checks the
//! server's replies (transaction id, hardware address, message type, server identifier, lease
//! time, addressing, option 82 echo, and that no address is held by two clients at once). Time
//! is passed in; nothing here reads a clock or opens a socket. The `dhcp-load` binary drives
//! fleets over AF_XDP or AF_PACKET, one per thread.
//!
//! - [`fleet`]: the client model.
//! - [`config`]: what a fleet simulates.
//! - [`check`]: violation kinds and records; [`registry`]: who holds which address.
//! - [`stats`], [`histogram`]: counters and latency histograms by exchange type.
//! - [`search`]: the `--find-max` rate search.
//! - [`report`]: the result object printed as text or JSON.
//! - [`testing`]: an in-process DHCP server, correct or deliberately wrong, for tests.

pub mod check;
pub mod config;
pub mod fleet;
pub mod histogram;
pub mod ident;
pub mod registry;
pub mod report;
pub mod rng;
pub mod search;
pub mod stats;
pub mod testing;
pub mod wheel;

//! Shared pieces of the privileged integration tests: the network-namespace lab and crafted
//! frames. The tests themselves are under `tests/` and run through `cargo xtask test`; each
//! skips with a message when not run as root.

pub mod failover_lab;
pub mod frames;
pub mod lab;
pub mod netns;

//! DHCP failover (draft-ietf-dhc-failover-12, with the ISC dhcpd and Windows dialects):
//! the sans-IO pieces the server, the control thread and the simulator share.

pub mod conflict;
pub mod control;
pub mod endpoint;
pub mod hash;
pub mod msg;
pub mod node;
pub mod state;
pub mod view;
pub mod wire;

pub use conflict::{RejectReason, Verdict};
pub use endpoint::POT_SLACK_SECS;
pub use hash::{Hba, client_bucket, rfc3074_hash};
pub use state::{ServerState, Service};

#[cfg(test)]
mod tests;
pub use view::FailoverView;

#[cfg(test)]
mod node_tests;

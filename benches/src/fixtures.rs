//! DHCP messages captured from real clients and relays, kept by `dhcp-wire` under
//! `tests/fixtures/` (see its README for how each was captured).

use std::path::{Path, PathBuf};

/// Names of the captures sent by clients and relays (not the servers' replies).
pub const CLIENT_MESSAGES: [&str; 8] = [
    "dhclient-discover",
    "dhclient-request",
    "udhcpc-discover",
    "udhcpc-request",
    "dhcpcd-discover",
    "dhcpcd-request",
    "dhcrelay-discover",
    "dhcrelay-request",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dhcp-wire/tests/fixtures")
}

/// The payload of fixture `name` (without `.bin`).
pub fn load(name: &str) -> Vec<u8> {
    let p = dir().join(format!("{name}.bin"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

//! What a fleet simulates: its clients, how fast they start, how they reach the server, and
//! what the replies must look like.

use std::{net::Ipv4Addr, ops::RangeInclusive, time::Duration};

use dhcp_wire::frame::MacAddr;

use crate::ident::MAX_CLIENTS;

/// How new DORAs are started.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// Open loop: this many DORAs started per second whatever the answers; an exchange not
    /// answered within the drop timeout is dropped (no retransmission).
    Open {
        /// DORAs per second.
        rate: f64,
    },
    /// Closed loop: a new DORA whenever fewer than `window` exchanges are in flight.
    Closed {
        /// Most exchanges in flight.
        window: u32,
    },
    /// Every client starts at once and retransmits with the RFC 2131 §4.1 back-off until it
    /// is bound or out of tries.
    Avalanche,
}

/// The RFC 2131 §4.1 retransmission schedule: 4 s, 8 s, 16 s, ... capped at 64 s, each
/// randomised by ±1 s; `scale` shrinks (or stretches) all of it, for tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// Multiplier of every delay (1.0 is the RFC schedule).
    pub scale: f64,
    /// Transmissions of one message before the client gives up on it (a REQUEST gives up to
    /// a new DISCOVER, a DISCOVER gives up for good).
    pub max_tries: u8,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            scale: 1.0,
            max_tries: 8,
        }
    }
}

impl Backoff {
    /// Microseconds before retransmission number `tries` (1 after the first transmission),
    /// with jitter `jitter_us` in [−1 s, +1 s] already drawn.
    pub fn delay_us(&self, tries: u8, jitter_us: i64) -> u64 {
        let base_s = 4u64 << u32::from(tries.saturating_sub(1)).min(4);
        let us = (base_s.min(64) as i64 * 1_000_000 + jitter_us).max(0) as f64 * self.scale;
        us as u64
    }
}

/// Relay agent emulation: requests carry `giaddr`, `hops` 1 and option 82, and are sent from
/// `giaddr`:67 to the server's port 67.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relay {
    /// The relay's address (also the source address of relayed frames).
    pub giaddr: Ipv4Addr,
    /// Agent circuit id (sub-option 1): this prefix followed by the client's index in decimal.
    pub circuit_id_prefix: Vec<u8>,
    /// Agent remote id (sub-option 2): this prefix followed by the client's index in decimal.
    pub remote_id_prefix: Vec<u8>,
}

/// VLAN tags of the clients' frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vlans {
    /// Service (outer, 802.1ad 0x88a8) tag: makes frames QinQ.
    pub outer: Option<u16>,
    /// Customer (802.1Q 0x8100) tag of client 0.
    pub inner: Option<u16>,
    /// Client `i` uses inner tag `inner + i % inner_count` (1 for one tag for all).
    pub inner_count: u16,
}

/// The configuration of one fleet: a contiguous range of the run's clients.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// Index of this fleet's first client in the run.
    pub first_client: u32,
    /// Clients in this fleet.
    pub clients: u32,
    /// Clients in the whole run (all fleets), for recognising replies.
    pub total_clients: u32,
    /// Hardware address of client 0; client `i` has this plus `i`.
    pub mac_base: MacAddr,
    /// Option 61 is this prefix followed by the client index (4 bytes, big-endian); `None`
    /// sends no client identifier.
    pub client_id_prefix: Option<Vec<u8>>,
    /// How DORAs start.
    pub load: Load,
    /// Open and closed loop: an exchange unanswered this long is dropped.
    pub drop_timeout: Duration,
    /// Avalanche: retransmission schedule.
    pub backoff: Backoff,
    /// Stop starting DORAs after this many.
    pub dora_limit: Option<u64>,
    /// Renewals (unicast REQUEST with `ciaddr`) per second among bound clients.
    pub renew_rate: f64,
    /// Rebinds (broadcast REQUEST with `ciaddr`) per second.
    pub rebind_rate: f64,
    /// INIT-REBOOTs (REQUEST with requested address, no server id) per second.
    pub reboot_rate: f64,
    /// RELEASEs per second.
    pub release_rate: f64,
    /// The generator's interface address: source of relayed frames.
    pub iface_mac: MacAddr,
    /// Server address: destination of relayed and unicast requests.
    pub server: Option<Ipv4Addr>,
    /// Server hardware address, for frames sent to the server directly.
    pub server_mac: Option<MacAddr>,
    /// Server identifier every reply must carry (`None`: any).
    pub expect_server_id: Option<Ipv4Addr>,
    /// Lease times accepted, in seconds.
    pub lease_secs: RangeInclusive<u32>,
    /// Relay agent emulation.
    pub relay: Option<Relay>,
    /// VLAN tags.
    pub vlans: Vlans,
    /// Set the BROADCAST flag in requests (replies then come to the broadcast address).
    pub broadcast_flag: bool,
    /// Key of the xid permutation (the same for every fleet of a run).
    pub xid_key: u32,
    /// Seed of the jitter generator.
    pub seed: u64,
}

impl FleetConfig {
    /// A configuration for `clients` clients with defaults for everything else: direct
    /// (not relayed), untagged, open loop at 1,000/s, 1 s drop timeout.
    pub fn new(clients: u32) -> Self {
        FleetConfig {
            first_client: 0,
            clients,
            total_clients: clients,
            mac_base: MacAddr([0x02, 0xd1, 0, 0, 0, 0]),
            client_id_prefix: None,
            load: Load::Open { rate: 1000.0 },
            drop_timeout: Duration::from_secs(1),
            backoff: Backoff::default(),
            dora_limit: None,
            renew_rate: 0.0,
            rebind_rate: 0.0,
            reboot_rate: 0.0,
            release_rate: 0.0,
            iface_mac: MacAddr([0x02, 0xd0, 0, 0, 0, 1]),
            server: None,
            server_mac: None,
            expect_server_id: None,
            lease_secs: 1..=u32::MAX,
            relay: None,
            vlans: Vlans::default(),
            broadcast_flag: false,
            xid_key: 0x5eed_1234,
            seed: 1,
        }
    }

    /// Checks the configuration before any memory is reserved for it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.clients == 0 {
            return Err(ConfigError::NoClients);
        }
        let end = u64::from(self.first_client) + u64::from(self.clients);
        if self.total_clients > MAX_CLIENTS || end > u64::from(self.total_clients) {
            return Err(ConfigError::TooManyClients {
                clients: end,
                max: MAX_CLIENTS,
            });
        }
        let unicast = self.renew_rate > 0.0 || self.release_rate > 0.0;
        if self.relay.is_some() && (self.server.is_none() || self.server_mac.is_none()) {
            return Err(ConfigError::NeedsServer("relay mode"));
        }
        if unicast && self.server_mac.is_none() {
            return Err(ConfigError::NeedsServer(
                "renew and release (unicast to the server)",
            ));
        }
        for r in [
            self.renew_rate,
            self.rebind_rate,
            self.reboot_rate,
            self.release_rate,
        ] {
            if !(r.is_finite() && r >= 0.0) {
                return Err(ConfigError::BadRate(r));
            }
        }
        match self.load {
            Load::Open { rate } if !(rate.is_finite() && rate >= 0.0) => {
                return Err(ConfigError::BadRate(rate));
            }
            Load::Closed { window: 0 } => return Err(ConfigError::BadWindow),
            _ => {}
        }
        if !(self.backoff.scale.is_finite() && self.backoff.scale > 0.0)
            || self.backoff.max_tries == 0
        {
            return Err(ConfigError::BadBackoff);
        }
        for id in [self.vlans.outer, self.vlans.inner].into_iter().flatten() {
            if id == 0 || id > 4094 {
                return Err(ConfigError::BadVlan(u32::from(id)));
            }
        }
        if let Some(inner) = self.vlans.inner {
            let last = u32::from(inner) + u32::from(self.vlans.inner_count.max(1)) - 1;
            if last > 4094 {
                return Err(ConfigError::BadVlan(last));
            }
        }
        if self.client_id_prefix.as_ref().is_some_and(|p| p.len() > 32) {
            return Err(ConfigError::PrefixTooLong("client-id"));
        }
        if let Some(r) = &self.relay {
            if r.circuit_id_prefix.len() > 32 || r.remote_id_prefix.len() > 32 {
                return Err(ConfigError::PrefixTooLong("circuit-id/remote-id"));
            }
        }
        if self.lease_secs.is_empty() {
            return Err(ConfigError::BadLeaseBounds);
        }
        Ok(())
    }
}

/// Why a fleet configuration cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// Zero clients.
    #[error("the fleet has no clients")]
    NoClients,
    /// More clients than the xid encoding distinguishes.
    #[error("{clients} clients: at most {max} can be simulated")]
    TooManyClients {
        /// Clients asked for.
        clients: u64,
        /// The limit.
        max: u32,
    },
    /// A feature that sends to the server without knowing it.
    #[error("{0} needs the server's address and hardware address")]
    NeedsServer(&'static str),
    /// A negative or non-finite rate.
    #[error("rate {0} is not a non-negative number")]
    BadRate(f64),
    /// A closed-loop window of 0.
    #[error("the closed-loop window must be at least 1")]
    BadWindow,
    /// A back-off scale that is not positive, or zero tries.
    #[error("the back-off scale must be positive and max tries at least 1")]
    BadBackoff,
    /// A VLAN id outside 1..=4094.
    #[error("VLAN id {0} outside 1..=4094")]
    BadVlan(u32),
    /// An identifier prefix over 32 bytes.
    #[error("{0} prefix longer than 32 bytes")]
    PrefixTooLong(&'static str),
    /// An empty lease-time range.
    #[error("the lease-time bounds are empty")]
    BadLeaseBounds,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_rfc2131() {
        let b = Backoff::default();
        let s: Vec<u64> = (1..=7).map(|t| b.delay_us(t, 0) / 1_000_000).collect();
        assert_eq!(s, vec![4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(b.delay_us(1, -1_000_000), 3_000_000);
        assert_eq!(b.delay_us(6, 1_000_000), 65_000_000);
        let fast = Backoff {
            scale: 0.001,
            max_tries: 3,
        };
        assert_eq!(fast.delay_us(2, 0), 8_000);
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(FleetConfig::new(10).validate().is_ok());
        assert_eq!(FleetConfig::new(0).validate(), Err(ConfigError::NoClients));
        let mut c = FleetConfig::new(10);
        c.total_clients = MAX_CLIENTS + 1;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TooManyClients { .. })
        ));
        let mut c = FleetConfig::new(10);
        c.renew_rate = 5.0;
        assert!(matches!(c.validate(), Err(ConfigError::NeedsServer(_))));
        let mut c = FleetConfig::new(10);
        c.vlans.inner = Some(4090);
        c.vlans.inner_count = 10;
        assert_eq!(c.validate(), Err(ConfigError::BadVlan(4099)));
        let mut c = FleetConfig::new(10);
        c.load = Load::Closed { window: 0 };
        assert_eq!(c.validate(), Err(ConfigError::BadWindow));
        let mut c = FleetConfig::new(10);
        c.relay = Some(Relay {
            giaddr: Ipv4Addr::new(10, 78, 0, 1),
            circuit_id_prefix: vec![],
            remote_id_prefix: vec![],
        });
        assert!(matches!(c.validate(), Err(ConfigError::NeedsServer(_))));
    }
}

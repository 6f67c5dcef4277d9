//! The validated runtime configuration. Values of these types only exist after every check in
//! [`super::load`] passed, so the engine never re-validates them.
//!
//! Times are whole seconds (`*_secs`), as on the wire and in the journal.

use std::{net::Ipv4Addr, path::PathBuf};

/// An IPv4 network: address (host bits zero) and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    /// Network address, host bits zero.
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix: u8,
}

impl Ipv4Net {
    /// The netmask as an address (e.g. 255.255.255.0).
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_u32())
    }

    /// The netmask as a host-order integer.
    pub fn mask_u32(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// True when `a` lies inside the network.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask_u32() == u32::from(self.addr)
    }

    /// The directed broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask_u32())
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An inclusive range of IPv4 addresses, `start <= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddrRange {
    /// First address.
    pub start: Ipv4Addr,
    /// Last address (inclusive).
    pub end: Ipv4Addr,
}

impl AddrRange {
    /// Number of addresses in the range.
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.end)) - u64::from(u32::from(self.start)) + 1
    }

    /// Never true: a range holds at least one address. (Kept for clippy's `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        false
    }

    /// True when `a` is inside.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.start <= a && a <= self.end
    }

    /// True when the two ranges share an address.
    pub fn overlaps(&self, other: &AddrRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

impl std::fmt::Display for AddrRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Operator-chosen subnet identifier (stable across reloads; leases refer to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubnetId(pub u32);

/// Lease times of a subnet, in seconds: `min_secs <= default_secs <= max_secs`, all > 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTimes {
    /// Shortest lease granted even when a client asks for less.
    pub min_secs: u32,
    /// Granted when the client does not ask.
    pub default_secs: u32,
    /// Longest lease granted even when a client asks for more.
    pub max_secs: u32,
    /// T1 (option 58) as a fraction of the lease in per-mille; RFC 2131 default 500.
    pub renew_permille: u16,
    /// T2 (option 59) in per-mille; RFC 2131 default 875. Always > `renew_permille`, < 1000.
    pub rebind_permille: u16,
}

/// One RFC 3442 classless static route (option 121).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticRoute {
    /// Destination network.
    pub destination: Ipv4Net,
    /// Next hop.
    pub gateway: Ipv4Addr,
}

/// Options a subnet hands out. Only what is set is sent (and only when the client's parameter
/// request list asks for it, except the few RFC 2132 says to always send).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubnetOptions {
    /// Option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 15.
    pub domain_name: Option<String>,
    /// Option 26 (68..=65535).
    pub mtu: Option<u16>,
    /// Option 42.
    pub ntp_servers: Vec<Ipv4Addr>,
    /// Option 121.
    pub classless_static_routes: Vec<StaticRoute>,
    /// Any other option as raw bytes: (code, value). Codes the server manages itself (0, 1, 50-61,
    /// 82, 255 ...) are refused by validation.
    pub extra: Vec<(u8, Vec<u8>)>,
}

/// Vendor-specific information (option 43) handed to clients whose vendor class identifier
/// (option 60) starts with `class_prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorClass {
    /// Bytes that option 60 must start with.
    pub class_prefix: Vec<u8>,
    /// Raw option 43 value.
    pub option_43: Vec<u8>,
}

/// What identifies a reserved client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReservationKey {
    /// Hardware address (chaddr) of an Ethernet client: six bytes.
    HwAddress([u8; 6]),
    /// Client identifier (option 61), raw bytes including the type byte.
    ClientId(Vec<u8>),
    /// Relay agent circuit-id (option 82 sub-option 1), raw bytes.
    CircuitId(Vec<u8>),
    /// Relay agent remote-id (option 82 sub-option 2), raw bytes.
    RemoteId(Vec<u8>),
}

/// A fixed address for one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Who.
    pub key: ReservationKey,
    /// The address, inside the subnet and outside its dynamic pools.
    pub address: Ipv4Addr,
    /// Host name to send (option 12), if any.
    pub hostname: Option<String>,
}

/// A subnet ("scope") with its pools, options and reservations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    /// Stable identifier.
    pub id: SubnetId,
    /// The network.
    pub network: Ipv4Net,
    /// Dynamic pools, inside `network`, not overlapping each other or any other subnet's.
    pub pools: Vec<AddrRange>,
    /// Addresses inside the pools that are never handed out.
    pub exclusions: Vec<AddrRange>,
    /// Lease times.
    pub lease: LeaseTimes,
    /// Options.
    pub options: SubnetOptions,
    /// Option 43 by option 60 class.
    pub vendor_classes: Vec<VendorClass>,
    /// Reservations.
    pub reservations: Vec<Reservation>,
    /// Name of the shared network this subnet belongs to, if any.
    pub shared_network: Option<String>,
    /// Server identifier to use for this subnet instead of the receiving interface's address.
    pub server_id: Option<Ipv4Addr>,
}

/// Packet I/O backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// XDP steering + AF_XDP sockets (default).
    #[default]
    Xdp,
    /// A kernel UDP socket on port 67.
    Socket,
}

/// XDP attach mode preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum XdpAttach {
    /// Native, falling back to generic (SKB).
    #[default]
    Auto,
    /// Native only.
    Native,
    /// Generic (SKB) only.
    Skb,
}

/// AF_XDP bind mode preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum XdpBind {
    /// Zero-copy, falling back to copy.
    #[default]
    Auto,
    /// Zero-copy only.
    ZeroCopy,
    /// Copy only.
    Copy,
}

/// AF_XDP settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdpSettings {
    /// Attach mode.
    pub attach: XdpAttach,
    /// Bind mode.
    pub bind: XdpBind,
    /// RX queues to serve; empty = all.
    pub queues: Vec<u32>,
    /// bpffs directory for the pinned link; `None` = do not pin.
    pub pin_dir: Option<PathBuf>,
    /// UMEM frames per socket (power of two).
    pub frames_per_queue: u32,
}

/// When a DHCPACK may leave relative to its journal record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum JournalSync {
    /// The ACK leaves only after the binding's record is fsynced (default).
    #[default]
    Durable,
    /// The ACK leaves at once; records are fsynced in the background at least every
    /// `flush_interval_ms`. A crash can lose the last interval's leases.
    Background,
}

/// Lease journal settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalSettings {
    /// Durability mode.
    pub sync: JournalSync,
    /// Background-mode flush interval, milliseconds.
    pub flush_interval_ms: u32,
    /// Compact (write a snapshot, drop older segments) once the journal exceeds this many bytes.
    pub compact_after_bytes: u64,
}

/// One interface to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceSettings {
    /// Interface name.
    pub name: String,
    /// Server address on it (server identifier, reply source); `None` = read from the system.
    pub address: Option<Ipv4Addr>,
}

/// Daemon-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// Interfaces to serve (at least one).
    pub interfaces: Vec<InterfaceSettings>,
    /// Packet I/O backend.
    pub backend: BackendKind,
    /// Worker threads (>= 1); each owns some lease shards.
    pub workers: u16,
    /// Lease shards (>= workers, power of two).
    pub shards: u16,
    /// Directory for the journal and other state.
    pub state_dir: PathBuf,
    /// How long an offered address is held for the client that was offered it.
    pub offer_hold_secs: u32,
    /// How long a declined address is kept out of use.
    pub decline_quarantine_secs: u32,
    /// AF_XDP settings (used with [`BackendKind::Xdp`]).
    pub xdp: XdpSettings,
    /// Journal settings.
    pub journal: JournalSettings,
}

/// The whole validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Daemon-wide settings.
    pub server: ServerSettings,
    /// Subnets, in file order. Ids are unique; networks and pools do not overlap.
    pub subnets: Vec<Subnet>,
    /// Failover relationships. Names and partners are unique; a subnet is in at most one.
    pub failover: Vec<Relationship>,
    /// The operator control API and the metrics endpoint.
    pub control: ControlSettings,
}

/// Where the operator control API (HTTP/1.1 + JSON) and the Prometheus endpoint listen, and
/// who may change state through them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlSettings {
    /// TCP address of the control API; `None` = no TCP listener.
    pub listen: Option<std::net::SocketAddr>,
    /// Unix socket of the control API (same routes); `None` = no socket.
    pub socket: Option<PathBuf>,
    /// File holding the bearer token state-changing calls must present (read at start and at
    /// every reload); `None` = every state-changing call is refused.
    pub token_file: Option<PathBuf>,
    /// TCP address of the Prometheus endpoint (`/metrics`); the same as `listen` unless set,
    /// `None` = no metrics listener (`/metrics` is still served on the Unix socket).
    pub metrics: Option<std::net::SocketAddr>,
}

impl Default for ControlSettings {
    /// The built-in defaults ([`super::defaults`]).
    fn default() -> Self {
        let listen = super::defaults::CONTROL_LISTEN.parse().ok();
        ControlSettings {
            listen,
            socket: Some(PathBuf::from(super::defaults::CONTROL_SOCKET)),
            token_file: Some(PathBuf::from(super::defaults::CONTROL_TOKEN_FILE)),
            metrics: listen,
        }
    }
}

/// This server's role in a failover relationship (draft-12 §5.1): the primary sends CONNECT,
/// owns FREE addresses and, with the ISC bucket convention, the hash buckets whose bit is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailoverRole {
    /// Primary (in hot standby: the active server).
    Primary,
    /// Secondary (in hot standby: the standby server).
    Secondary,
}

/// How the two servers share the work (Windows' failover modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverMode {
    /// Both answer clients; this server answers `local_percent` % of the hash buckets and holds
    /// that share of the free addresses.
    LoadBalance {
        /// This server's share, 0..=100.
        local_percent: u8,
    },
    /// The active server (the primary) answers everybody; the standby answers only when the
    /// active is down, from its reserve of `reserve_percent` % of the free addresses.
    HotStandby {
        /// The standby's share of free addresses, 0..=100.
        reserve_percent: u8,
    },
}

/// Which failover implementation the partner is: decides the dialect details (batching,
/// digest, bucket bit meaning, Microsoft options).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PartnerSoftware {
    /// Another xdhcpd: batched updates, HMAC-SHA256 digest when a secret is set.
    #[default]
    Xdhcp,
    /// ISC dhcpd 4.4: one binding per BNDUPD, no digest, no DDNS option, RECOVER-WAIT = 254.
    IscDhcpd,
    /// Windows Server DHCP ([MS-DHCPF]): up to 16 bindings per BNDUPD, HMAC-SHA256.
    Windows,
}

/// A failover relationship (Windows' term): one partner, the scopes shared with it, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relationship {
    /// Name, identical on both servers (sent as relationship-name).
    pub name: String,
    /// This server's role.
    pub role: FailoverRole,
    /// Load balance or hot standby.
    pub mode: FailoverMode,
    /// The partner's address and failover port.
    pub partner: std::net::SocketAddrV4,
    /// Our address and port for this relationship: we listen on it and connect from it (ISC
    /// matches connections by source address).
    pub local: std::net::SocketAddrV4,
    /// `local` is a floating address that a cluster manager moves between hosts: we listen on
    /// it whether or not this host holds it yet (`IP_FREEBIND`).
    pub floating_address: bool,
    /// Maximum client lead time (draft-12 §5.2), seconds. The primary's value rules.
    pub mclt_secs: u32,
    /// COMMUNICATIONS-INTERRUPTED → PARTNER-DOWN after this long (Windows' state switchover
    /// interval; draft-12 §10 safe period). `None` = only by operator command.
    pub state_switchover_secs: Option<u32>,
    /// Shared secret for message digests. `None` = no digest.
    pub shared_secret: Option<Vec<u8>>,
    /// The partner's software.
    pub partner_software: PartnerSoftware,
    /// Subnets shared with the partner. A subnet belongs to at most one relationship.
    pub subnets: Vec<SubnetId>,
    /// BNDUPDs we accept unacknowledged (advertised as max-unacked-bndupd).
    pub max_unacked_updates: u32,
    /// Silence we tolerate before declaring the link dead, seconds (advertised receive-timer).
    pub receive_timer_secs: u32,
    /// A client waiting longer than this (`secs` field) is answered regardless of its hash
    /// bucket (RFC 3074 service delay); 0 = never.
    pub load_balance_max_secs: u16,
}

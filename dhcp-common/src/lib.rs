//! The ABI between the XDP steering program (`dhcp-ebpf`) and user space (`dhcp-user`).
//!
//! Everything both sides must agree on lives here and nowhere else: the names of the maps and
//! globals, the programs' names, and the meaning of each per-CPU counter slot.
#![no_std]

/// Name of the XDP program function (and so of the program in the object file).
pub const PROGRAM_NAME: &str = "xdhcp_steer";

/// Name of the lab's XDP_TX bounce program, in the same object: the benchmark's ceiling
/// (`xdp-echo bounce`). The daemon never loads it.
pub const BOUNCE_PROGRAM_NAME: &str = "xdhcp_bounce";

/// `BPF_MAP_TYPE_PERCPU_ARRAY` of one `u64`: frames the bounce program returned with `XDP_TX`.
pub const BOUNCED_MAP: &str = "BOUNCED";

/// `BPF_MAP_TYPE_XSKMAP`: RX queue index -> AF_XDP socket bound to that queue.
pub const XSKS_MAP: &str = "XSKS";

/// `BPF_MAP_TYPE_PERCPU_ARRAY` of `u64`, indexed by [`SteerStat`].
pub const STATS_MAP: &str = "STATS";

/// Number of XSKMAP slots: the highest RX queue index the program can steer, plus one.
pub const MAX_QUEUES: u32 = 256;

/// Global (read-only data) holding the first UDP destination port to steer, host order.
pub const GLOBAL_PORT_A: &str = "STEER_PORT_A";
/// Global holding a second UDP destination port to steer (0 = none). The server leaves it 0;
/// the load generator sets 67 and 68 so it sees both client and relay replies.
pub const GLOBAL_PORT_B: &str = "STEER_PORT_B";

/// The DHCP server port, the default of [`GLOBAL_PORT_A`].
pub const DHCP_SERVER_PORT: u16 = 67;

/// Maximum number of VLAN tags the program looks through (802.1Q, or QinQ with 0x88a8 or 0x8100
/// as the outer TPID). Frames with more tags are passed to the kernel.
pub const MAX_VLAN_TAGS: usize = 2;

/// One per-CPU counter per decision the steering program can take. The discriminant is the
/// index into [`STATS_MAP`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SteerStat {
    /// UDP to a steered port, redirected into the AF_XDP socket of its RX queue.
    Redirected = 0,
    /// UDP to a steered port, but no socket is bound to this RX queue: passed to the kernel.
    NoSocket = 1,
    /// Not IPv4 (ARP, IPv6, LLDP, ...): passed.
    NotIpv4 = 2,
    /// IPv4 but not UDP: passed.
    NotUdp = 3,
    /// UDP to a port that is not steered: passed.
    OtherPort = 4,
    /// An IPv4 fragment, first or later: passed (the kernel reassembles).
    Fragment = 5,
    /// Headers cut short, or an IPv4 header length below 20 bytes: passed.
    Truncated = 6,
    /// More VLAN tags than [`MAX_VLAN_TAGS`]: passed.
    TooManyTags = 7,
}

impl SteerStat {
    /// Number of counter slots.
    pub const COUNT: u32 = 8;

    /// Every counter, in index order.
    pub const ALL: [SteerStat; Self::COUNT as usize] = [
        SteerStat::Redirected,
        SteerStat::NoSocket,
        SteerStat::NotIpv4,
        SteerStat::NotUdp,
        SteerStat::OtherPort,
        SteerStat::Fragment,
        SteerStat::Truncated,
        SteerStat::TooManyTags,
    ];

    /// Index into the per-CPU array.
    pub const fn index(self) -> u32 {
        self as u32
    }

    /// Stable snake_case name, used for metrics labels and test output.
    pub const fn name(self) -> &'static str {
        match self {
            SteerStat::Redirected => "redirected",
            SteerStat::NoSocket => "no_socket",
            SteerStat::NotIpv4 => "not_ipv4",
            SteerStat::NotUdp => "not_udp",
            SteerStat::OtherPort => "other_port",
            SteerStat::Fragment => "fragment",
            SteerStat::Truncated => "truncated",
            SteerStat::TooManyTags => "too_many_tags",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_complete() {
        for (i, s) in SteerStat::ALL.iter().enumerate() {
            assert_eq!(s.index() as usize, i, "{s:?}");
        }
        assert_eq!(SteerStat::ALL.len(), SteerStat::COUNT as usize);
    }
}

//! DHCP option codes: one table, [`OPTIONS`], names every code this crate knows, with its
//! value format. The `OptionCode` constants, [`OptionCode::info`] and the name look-up are all
//! generated from that one list, so they cannot disagree.
//!
//! A code that is not in the table is still a perfectly good option: the parser keeps it and
//! the writer emits it, it just has no name here.

use core::fmt;

/// A DHCP option code (RFC 2132 section 2). Every `u8` is a valid code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OptionCode(pub u8);

/// How the value of an option is laid out on the wire. For configuration parsing and display;
/// the codec itself treats every value as opaque bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// No value at all (pad, end) or a zero-length flag option (rapid commit).
    Empty,
    /// One octet.
    U8,
    /// 0 or 1.
    Bool,
    /// Unsigned 16-bit, network order.
    U16,
    /// Unsigned 32-bit, network order.
    U32,
    /// Signed 32-bit, network order.
    I32,
    /// One IPv4 address.
    Ipv4,
    /// One or more IPv4 addresses.
    Ipv4List,
    /// Pairs of IPv4 addresses (address/mask or destination/router).
    Ipv4Pairs,
    /// A list of 16-bit values.
    U16List,
    /// NVT ASCII text, not NUL-terminated.
    Text,
    /// Opaque octets.
    Bytes,
    /// A list of option codes, one octet each (parameter request list).
    CodeList,
    /// RFC 1035 encoded domain names, possibly compressed (RFC 3397).
    DomainList,
    /// A DHCP message type (see [`MessageType`]).
    MessageType,
    /// Option overload: 1 file, 2 sname, 3 both (see [`Overload`]).
    Overload,
    /// Sub-options as code/length/value triples (relay agent information).
    SubOptions,
    /// Client FQDN (RFC 4702): flags, two rcodes, then a name.
    ClientFqdn,
    /// Classless static routes (RFC 3442): width-prefixed destinations, each with a router.
    ClasslessRoutes,
}

/// One row of the option table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionInfo {
    /// The code.
    pub code: OptionCode,
    /// The name, in kebab case (`domain-name-servers`), for config files and logs.
    pub name: &'static str,
    /// The value format.
    pub kind: ValueKind,
}

/// Declares every known option once; generates the constants and the table.
macro_rules! option_table {
    ($( $(#[$doc:meta])* $konst:ident = $code:literal, $name:literal, $kind:ident; )*) => {
        impl OptionCode {
            $( $(#[$doc])* pub const $konst: OptionCode = OptionCode($code); )*
        }

        /// Every option this crate knows by name, in code order. The single source of truth
        /// for option names and value formats.
        pub const OPTIONS: &[OptionInfo] = &[
            $( OptionInfo { code: OptionCode($code), name: $name, kind: ValueKind::$kind }, )*
        ];
    };
}

option_table! {
    /// Pad (RFC 2132 section 3.1): a single zero octet with no length.
    PAD = 0, "pad", Empty;
    /// Subnet mask (RFC 2132 section 3.3).
    SUBNET_MASK = 1, "subnet-mask", Ipv4;
    /// Time offset from UTC in seconds (RFC 2132 section 3.4).
    TIME_OFFSET = 2, "time-offset", I32;
    /// Routers (RFC 2132 section 3.5).
    ROUTER = 3, "routers", Ipv4List;
    /// Time servers (RFC 2132 section 3.6).
    TIME_SERVER = 4, "time-servers", Ipv4List;
    /// Name servers, IEN 116 (RFC 2132 section 3.7).
    NAME_SERVER = 5, "ien116-name-servers", Ipv4List;
    /// Domain name servers (RFC 2132 section 3.8).
    DOMAIN_NAME_SERVER = 6, "domain-name-servers", Ipv4List;
    /// Log servers (RFC 2132 section 3.9).
    LOG_SERVER = 7, "log-servers", Ipv4List;
    /// Host name (RFC 2132 section 3.14).
    HOST_NAME = 12, "host-name", Text;
    /// Boot file size in 512-octet blocks (RFC 2132 section 3.15).
    BOOT_SIZE = 13, "boot-size", U16;
    /// Domain name (RFC 2132 section 3.17).
    DOMAIN_NAME = 15, "domain-name", Text;
    /// Swap server (RFC 2132 section 3.18).
    SWAP_SERVER = 16, "swap-server", Ipv4;
    /// Root path (RFC 2132 section 3.19).
    ROOT_PATH = 17, "root-path", Text;
    /// IP forwarding (RFC 2132 section 4.1).
    IP_FORWARDING = 19, "ip-forwarding", Bool;
    /// Policy filter (RFC 2132 section 4.3).
    POLICY_FILTER = 21, "policy-filter", Ipv4Pairs;
    /// Maximum datagram reassembly size (RFC 2132 section 4.4).
    MAX_DATAGRAM_REASSEMBLY = 22, "max-datagram-reassembly", U16;
    /// Default IP time to live (RFC 2132 section 4.5).
    DEFAULT_IP_TTL = 23, "default-ip-ttl", U8;
    /// Interface MTU (RFC 2132 section 5.1).
    INTERFACE_MTU = 26, "interface-mtu", U16;
    /// Broadcast address (RFC 2132 section 5.3).
    BROADCAST_ADDRESS = 28, "broadcast-address", Ipv4;
    /// Static routes, destination/router pairs (RFC 2132 section 5.8).
    STATIC_ROUTE = 33, "static-routes", Ipv4Pairs;
    /// ARP cache timeout in seconds (RFC 2132 section 6.2).
    ARP_CACHE_TIMEOUT = 35, "arp-cache-timeout", U32;
    /// Default TCP time to live (RFC 2132 section 7.1).
    DEFAULT_TCP_TTL = 37, "default-tcp-ttl", U8;
    /// NIS domain (RFC 2132 section 8.1).
    NIS_DOMAIN = 40, "nis-domain", Text;
    /// NIS servers (RFC 2132 section 8.2).
    NIS_SERVERS = 41, "nis-servers", Ipv4List;
    /// NTP servers (RFC 2132 section 8.3).
    NTP_SERVERS = 42, "ntp-servers", Ipv4List;
    /// Vendor-specific information (RFC 2132 section 8.4).
    VENDOR_SPECIFIC = 43, "vendor-encapsulated-options", Bytes;
    /// NetBIOS over TCP/IP name servers (RFC 2132 section 8.5).
    NETBIOS_NAME_SERVERS = 44, "netbios-name-servers", Ipv4List;
    /// NetBIOS over TCP/IP node type (RFC 2132 section 8.7).
    NETBIOS_NODE_TYPE = 46, "netbios-node-type", U8;
    /// Requested IP address (RFC 2132 section 9.1).
    REQUESTED_IP = 50, "requested-address", Ipv4;
    /// IP address lease time in seconds (RFC 2132 section 9.2).
    LEASE_TIME = 51, "lease-time", U32;
    /// Option overload (RFC 2132 section 9.3).
    OVERLOAD = 52, "option-overload", Overload;
    /// DHCP message type (RFC 2132 section 9.6).
    MESSAGE_TYPE = 53, "message-type", MessageType;
    /// Server identifier (RFC 2132 section 9.7).
    SERVER_ID = 54, "server-identifier", Ipv4;
    /// Parameter request list (RFC 2132 section 9.8).
    PARAMETER_REQUEST_LIST = 55, "parameter-request-list", CodeList;
    /// Message, an error text (RFC 2132 section 9.9).
    MESSAGE = 56, "message", Text;
    /// Maximum DHCP message size (RFC 2132 section 9.10).
    MAX_MESSAGE_SIZE = 57, "max-message-size", U16;
    /// Renewal (T1) time in seconds (RFC 2132 section 9.11).
    RENEWAL_TIME = 58, "renewal-time", U32;
    /// Rebinding (T2) time in seconds (RFC 2132 section 9.12).
    REBINDING_TIME = 59, "rebinding-time", U32;
    /// Vendor class identifier (RFC 2132 section 9.13).
    VENDOR_CLASS = 60, "vendor-class-identifier", Bytes;
    /// Client identifier (RFC 2132 section 9.14).
    CLIENT_ID = 61, "client-identifier", Bytes;
    /// TFTP server name (RFC 2132 section 9.4).
    TFTP_SERVER_NAME = 66, "tftp-server-name", Text;
    /// Bootfile name (RFC 2132 section 9.5).
    BOOTFILE_NAME = 67, "bootfile-name", Text;
    /// User class (RFC 3004).
    USER_CLASS = 77, "user-class", Bytes;
    /// Rapid commit (RFC 4039).
    RAPID_COMMIT = 80, "rapid-commit", Empty;
    /// Client FQDN (RFC 4702).
    CLIENT_FQDN = 81, "client-fqdn", ClientFqdn;
    /// Relay agent information (RFC 3046).
    RELAY_AGENT_INFO = 82, "relay-agent-information", SubOptions;
    /// Client system architecture (RFC 4578).
    CLIENT_ARCH = 93, "client-system-architecture", U16List;
    /// Auto-configure (RFC 2563).
    AUTO_CONFIGURE = 116, "auto-configure", U8;
    /// Subnet selection (RFC 3011).
    SUBNET_SELECTION = 118, "subnet-selection", Ipv4;
    /// Domain search list (RFC 3397).
    DOMAIN_SEARCH = 119, "domain-search", DomainList;
    /// Classless static routes (RFC 3442).
    CLASSLESS_STATIC_ROUTE = 121, "classless-static-routes", ClasslessRoutes;
    /// Vendor-identifying vendor class (RFC 3925).
    VENDOR_IDENTIFYING_CLASS = 124, "vivco", Bytes;
    /// Vendor-identifying vendor-specific information (RFC 3925).
    VENDOR_IDENTIFYING_SPECIFIC = 125, "vivso", Bytes;
    /// TFTP server addresses (RFC 5859).
    TFTP_SERVER_ADDRESS = 150, "tftp-server-address", Ipv4List;
    /// End (RFC 2132 section 3.2): a single 255 octet with no length.
    END = 255, "end", Empty;
}

/// `BY_CODE[c]` is the index of code `c` in [`OPTIONS`] plus one, or 0 when unknown.
const BY_CODE: [u8; 256] = {
    let mut map = [0u8; 256];
    let mut i = 0;
    while i < OPTIONS.len() {
        let code = OPTIONS[i].code.0 as usize;
        // A code listed twice, or out of order, fails the build.
        assert!(map[code] == 0, "option code listed twice");
        assert!(i == 0 || OPTIONS[i - 1].code.0 < OPTIONS[i].code.0);
        map[code] = (i + 1) as u8;
        i += 1;
    }
    map
};

impl OptionCode {
    /// The table row for this code, if the code is known.
    pub fn info(self) -> Option<&'static OptionInfo> {
        let at = usize::from(BY_CODE[usize::from(self.0)]);
        at.checked_sub(1).and_then(|i| OPTIONS.get(i))
    }

    /// The code with this table name.
    pub fn from_name(name: &str) -> Option<OptionCode> {
        OPTIONS.iter().find(|o| o.name == name).map(|o| o.code)
    }

    /// True for pad (0) and end (255), which have no length octet.
    pub fn is_fixed_length(self) -> bool {
        self == OptionCode::PAD || self == OptionCode::END
    }
}

impl From<u8> for OptionCode {
    fn from(code: u8) -> Self {
        OptionCode(code)
    }
}

impl From<OptionCode> for u8 {
    fn from(code: OptionCode) -> Self {
        code.0
    }
}

impl fmt::Display for OptionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.info() {
            Some(info) => write!(f, "{}({})", info.name, self.0),
            None => write!(f, "option-{}", self.0),
        }
    }
}

/// DHCP message type, the value of option 53 (RFC 2132 section 9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// DHCPDISCOVER
    Discover,
    /// DHCPOFFER
    Offer,
    /// DHCPREQUEST
    Request,
    /// DHCPDECLINE
    Decline,
    /// DHCPACK
    Ack,
    /// DHCPNAK
    Nak,
    /// DHCPRELEASE
    Release,
    /// DHCPINFORM
    Inform,
    /// Any other value (FORCERENEW, lease query, ...), kept as it was.
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(value: u8) -> Self {
        match value {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            other => MessageType::Unknown(other),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(value: MessageType) -> Self {
        match value {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Unknown(other) => other,
        }
    }
}

/// Which of the BOOTP `file` and `sname` fields carry options: the value of option 52
/// (RFC 2132 section 9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Overload {
    /// 1: the `file` field.
    File,
    /// 2: the `sname` field.
    Sname,
    /// 3: both, `file` first.
    Both,
}

impl Overload {
    /// The option 52 value; `None` for anything but 1, 2 or 3.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Overload::File),
            2 => Some(Overload::Sname),
            3 => Some(Overload::Both),
            _ => None,
        }
    }

    /// The option 52 value.
    pub fn to_u8(self) -> u8 {
        match self {
            Overload::File => 1,
            Overload::Sname => 2,
            Overload::Both => 3,
        }
    }

    /// True when the `file` field carries options.
    pub fn file(self) -> bool {
        matches!(self, Overload::File | Overload::Both)
    }

    /// True when the `sname` field carries options.
    pub fn sname(self) -> bool {
        matches!(self, Overload::Sname | Overload::Both)
    }

    /// The overload covering exactly the given fields; `None` when neither.
    pub fn from_fields(file: bool, sname: bool) -> Option<Self> {
        match (file, sname) {
            (true, true) => Some(Overload::Both),
            (true, false) => Some(Overload::File),
            (false, true) => Some(Overload::Sname),
            (false, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::*;

    #[test]
    fn required_codes_are_in_the_table() {
        for code in [
            0u8, 1, 3, 6, 12, 15, 26, 42, 43, 50, 51, 52, 53, 54, 55, 57, 58, 59, 60, 61, 81, 82,
            118, 121, 255,
        ] {
            let info = OptionCode(code).info().expect("listed");
            assert_eq!(info.code, OptionCode(code));
            assert_eq!(OptionCode::from_name(info.name), Some(OptionCode(code)));
        }
    }

    #[test]
    fn unknown_codes_have_no_row_and_still_display() {
        assert!(OptionCode(224).info().is_none());
        assert_eq!(OptionCode::from_name("no-such-option"), None);
        assert_eq!(OptionCode(224).to_string(), "option-224");
        assert_eq!(OptionCode::ROUTER.to_string(), "routers(3)");
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in OPTIONS.iter().enumerate() {
            for b in &OPTIONS[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn message_type_round_trips_every_octet() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(MessageType::from(v)), v);
        }
        assert_eq!(MessageType::from(1), MessageType::Discover);
        assert_eq!(MessageType::from(8), MessageType::Inform);
        assert_eq!(MessageType::from(9), MessageType::Unknown(9));
    }

    #[test]
    fn overload_values() {
        for v in 0..=255u8 {
            match Overload::from_u8(v) {
                Some(o) => {
                    assert_eq!(o.to_u8(), v);
                    assert_eq!(Overload::from_fields(o.file(), o.sname()), Some(o));
                }
                None => assert!(!(1..=3).contains(&v)),
            }
        }
        assert_eq!(Overload::from_fields(false, false), None);
    }
}

//! The file structs: what the TOML file says, as serde reads it. Addresses, networks, ranges and
//! hex stay strings here; [`super::convert`] parses and checks them, so that a bad value in one
//! place does not stop the checks of every other place. Every table refuses unknown keys.
//!
//! Optional keys are `Option`s (or empty lists): their defaults live in [`super::defaults`].

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// The whole file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// `[server]`.
    pub server: ServerFile,
    /// `[lease]`: defaults for every subnet.
    #[serde(default)]
    pub lease: LeaseFile,
    /// `[[subnet]]`.
    #[serde(default)]
    pub subnet: Vec<SubnetFile>,
    /// `[[failover]]`: failover relationships.
    #[serde(default)]
    pub failover: Vec<FailoverFile>,
    /// `[control]`: the operator control API and the metrics endpoint.
    #[serde(default)]
    pub control: ControlFile,
}

/// `[control]`: every key optional; `""` turns a listener off.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ControlFile {
    /// HTTP address of the control API, `127.0.0.1:8067`.
    pub listen: Option<String>,
    /// Unix socket path of the control API.
    pub socket: Option<String>,
    /// File holding the bearer token for state-changing calls.
    pub token_file: Option<String>,
    /// Prometheus endpoint address; absent = `listen`, under `/metrics`.
    pub metrics: Option<String>,
}

/// `[server]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerFile {
    /// `interfaces = ["eth0", { name = "eth1", address = "192.0.2.1" }]`.
    pub interfaces: Vec<InterfaceFile>,
    /// `backend = "xdp" | "socket"`.
    pub backend: Option<BackendFile>,
    /// Worker threads.
    pub workers: Option<u32>,
    /// Lease shards.
    pub shards: Option<u32>,
    /// State directory (absolute).
    pub state_dir: Option<String>,
    /// Offer hold time.
    pub offer_hold: Option<DurationValue>,
    /// Decline quarantine time.
    pub decline_quarantine: Option<DurationValue>,
    /// `[server.xdp]`.
    #[serde(default)]
    pub xdp: XdpFile,
    /// `[server.journal]`.
    #[serde(default)]
    pub journal: JournalFile,
}

/// One entry of `server.interfaces`: a bare name, or a table with an address.
#[derive(Clone, Debug, PartialEq)]
pub struct InterfaceFile {
    /// Interface name.
    pub name: String,
    /// Server address on it.
    pub address: Option<String>,
}

/// The table form of [`InterfaceFile`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct InterfaceTable {
    name: String,
    address: Option<String>,
}

impl<'de> Deserialize<'de> for InterfaceFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InterfaceFile;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an interface name or a table { name, address }")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<InterfaceFile, E> {
                Ok(InterfaceFile {
                    name: name.to_owned(),
                    address: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<InterfaceFile, A::Error> {
                let t = InterfaceTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(InterfaceFile {
                    name: t.name,
                    address: t.address,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `server.backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendFile {
    /// XDP + AF_XDP.
    Xdp,
    /// Kernel UDP socket.
    Socket,
}

/// `[server.xdp]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct XdpFile {
    /// `attach = "auto" | "native" | "skb"`.
    pub attach: Option<XdpAttachFile>,
    /// `bind = "auto" | "zero-copy" | "copy"`.
    pub bind: Option<XdpBindFile>,
    /// RX queues; empty or absent = all.
    #[serde(default)]
    pub queues: Vec<u32>,
    /// bpffs directory for the pinned link; `""` = do not pin.
    pub pin_dir: Option<String>,
    /// UMEM frames per socket.
    pub frames_per_queue: Option<u32>,
}

/// `server.xdp.attach`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum XdpAttachFile {
    /// Native, falling back to SKB.
    Auto,
    /// Native only.
    Native,
    /// SKB only.
    Skb,
}

/// `server.xdp.bind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum XdpBindFile {
    /// Zero-copy, falling back to copy.
    Auto,
    /// Zero-copy only.
    ZeroCopy,
    /// Copy only.
    Copy,
}

/// `[server.journal]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct JournalFile {
    /// `sync = "durable" | "background"`.
    pub sync: Option<JournalSyncFile>,
    /// Background flush interval, milliseconds.
    pub flush_interval_ms: Option<u32>,
    /// Compaction threshold.
    pub compact_after_bytes: Option<SizeValue>,
}

/// `server.journal.sync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JournalSyncFile {
    /// ACK after fsync.
    Durable,
    /// ACK at once, fsync in the background.
    Background,
}

/// `[lease]` and a subnet's `lease = { .. }`: every key optional, a subnet's keys override
/// `[lease]`'s one by one, and `[lease]`'s override the built-in defaults.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LeaseFile {
    /// Lease time when the client does not ask.
    pub default: Option<DurationValue>,
    /// Shortest lease.
    pub min: Option<DurationValue>,
    /// Longest lease.
    pub max: Option<DurationValue>,
    /// T1 as a percentage of the lease (0.1 steps).
    pub renew_percent: Option<f64>,
    /// T2 as a percentage of the lease (0.1 steps).
    pub rebind_percent: Option<f64>,
}

/// `[[subnet]]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SubnetFile {
    /// Stable subnet identifier, 1 or more.
    pub id: u32,
    /// `10.0.0.0/24`.
    pub network: String,
    /// Dynamic ranges: `a-b`, a single address, or `a/len`.
    #[serde(default)]
    pub pools: Vec<String>,
    /// Addresses inside pools never handed out: same forms as pools.
    #[serde(default)]
    pub exclusions: Vec<String>,
    /// Option 3.
    #[serde(default)]
    pub routers: Vec<String>,
    /// Option 6.
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// Option 15.
    pub domain_name: Option<String>,
    /// Option 26.
    pub mtu: Option<u32>,
    /// Option 42.
    #[serde(default)]
    pub ntp_servers: Vec<String>,
    /// Option 121.
    #[serde(default)]
    pub classless_static_routes: Vec<RouteFile>,
    /// Any other option.
    #[serde(default)]
    pub option_data: Vec<OptionDataFile>,
    /// Option 43 by option 60 prefix.
    #[serde(default)]
    pub vendor_classes: Vec<VendorClassFile>,
    /// Shared network name.
    pub shared_network: Option<String>,
    /// Server identifier override.
    pub server_id: Option<String>,
    /// Lease times overriding `[lease]`.
    #[serde(default)]
    pub lease: LeaseFile,
    /// `[[subnet.reservations]]`.
    #[serde(default)]
    pub reservations: Vec<ReservationFile>,
}

/// One classless static route.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RouteFile {
    /// `10.1.0.0/16`.
    pub destination: String,
    /// Next hop; `0.0.0.0` = on-link.
    pub gateway: String,
}

/// One raw option: exactly one of `code` and `name`, and exactly one of `hex`, `text`,
/// `addresses`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OptionDataFile {
    /// Option code.
    pub code: Option<u32>,
    /// Option name, as in dhcp-wire's option table (`tftp-server-name`).
    pub name: Option<String>,
    /// Value as hex bytes.
    pub hex: Option<String>,
    /// Value as text (its UTF-8 bytes, no terminating NUL).
    pub text: Option<String>,
    /// Value as a list of IPv4 addresses (4 bytes each).
    pub addresses: Option<Vec<String>>,
}

/// One vendor class.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VendorClassFile {
    /// Text option 60 must start with.
    #[serde(rename = "match")]
    pub class_match: String,
    /// Option 43 value, hex.
    pub option_43: String,
}

/// `[[subnet.reservations]]`: exactly one identifier.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReservationFile {
    /// chaddr, `02:00:00:00:00:01`.
    pub hw_address: Option<String>,
    /// Option 61 in hex, type byte included.
    pub client_id: Option<String>,
    /// Option 82.1 as text.
    pub circuit_id: Option<String>,
    /// Option 82.1 in hex.
    pub circuit_id_hex: Option<String>,
    /// Option 82.2 as text.
    pub remote_id: Option<String>,
    /// Option 82.2 in hex.
    pub remote_id_hex: Option<String>,
    /// The reserved address.
    pub ip_address: String,
    /// Option 12.
    pub hostname: Option<String>,
}

/// `[[failover]]`: one failover relationship. Which keys apply depends on `mode`; the
/// conversion refuses the other mode's keys rather than ignoring them.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FailoverFile {
    /// Relationship name, identical on both servers.
    pub name: String,
    /// The partner: `192.0.2.2` or `192.0.2.2:647`.
    pub partner: String,
    /// Our address (and port) for this relationship.
    pub local_address: String,
    /// `local-address` may be absent from this host: a cluster manager moves it here.
    pub floating_address: Option<bool>,
    /// `mode = "load-balance" | "hot-standby"`.
    pub mode: Option<FailoverModeFile>,
    /// Load balance: `role = "primary" | "secondary"`.
    pub role: Option<FailoverRoleFile>,
    /// Load balance: this server's share of the clients, percent.
    pub load_balance_percent: Option<u32>,
    /// Hot standby: `server-role = "active" | "standby"`.
    pub server_role: Option<ServerRoleFile>,
    /// Hot standby: the standby's share of free addresses, percent.
    pub reserve_percent: Option<u32>,
    /// Maximum client lead time.
    pub mclt: Option<DurationValue>,
    /// COMMUNICATIONS-INTERRUPTED -> PARTNER-DOWN after this long; absent = never by itself.
    pub state_switchover_interval: Option<DurationValue>,
    /// Message digest secret, as text.
    pub shared_secret: Option<String>,
    /// `partner-software = "xdhcp" | "isc-dhcpd" | "windows"`.
    pub partner_software: Option<PartnerSoftwareFile>,
    /// Ids of the `[[subnet]]`s shared with the partner.
    pub subnets: Vec<u32>,
    /// Updates the partner may send before it waits for our acknowledgements.
    pub max_unacked_updates: Option<u32>,
    /// Partner silence tolerated before the link counts as down.
    pub receive_timer: Option<DurationValue>,
    /// Seconds (the client's `secs`) after which a client is answered whatever its bucket.
    pub load_balance_max_seconds: Option<u32>,
}

/// `failover[].mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailoverModeFile {
    /// Both servers answer, split by client hash.
    LoadBalance,
    /// The active server answers; the standby waits.
    HotStandby,
}

/// `failover[].role`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailoverRoleFile {
    /// Primary.
    Primary,
    /// Secondary.
    Secondary,
}

/// `failover[].server-role`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerRoleFile {
    /// The active server (the primary).
    Active,
    /// The standby server (the secondary).
    Standby,
}

/// `failover[].partner-software`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartnerSoftwareFile {
    /// Another xdhcpd.
    Xdhcp,
    /// ISC dhcpd 4.4.
    IscDhcpd,
    /// Windows Server DHCP.
    Windows,
}

/// A duration: an integer of seconds, or text such as `"90s"`, `"10m"`, `"1h30m"`, `"7d"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationValue {
    /// `600`.
    Secs(i64),
    /// `"10m"`.
    Text(String),
}

impl DurationValue {
    /// Whole seconds, or the reason the value is not a duration.
    pub fn secs(&self) -> Result<u32, String> {
        match self {
            Self::Secs(n) => match u64::try_from(*n) {
                Ok(n) => super::values::seconds(n, n),
                Err(_) => Err(format!("{n} is negative")),
            },
            Self::Text(s) => super::values::duration(s),
        }
    }
}

/// A size: an integer of bytes, or text such as `"512KiB"`, `"64MiB"`, `"1GiB"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeValue {
    /// `67108864`.
    Bytes(i64),
    /// `"64MiB"`.
    Text(String),
}

impl SizeValue {
    /// Bytes, or the reason the value is not a size.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            Self::Bytes(n) => u64::try_from(*n).map_err(|_| format!("{n} is negative")),
            Self::Text(s) => super::values::size(s),
        }
    }
}

/// Visits an integer or a string, for [`DurationValue`] and [`SizeValue`].
struct IntOrText<T> {
    expecting: &'static str,
    int: fn(i64) -> T,
    text: fn(String) -> T,
}

impl<T> Visitor<'_> for IntOrText<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Ok((self.int)(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        i64::try_from(v)
            .map(self.int)
            .map_err(|_| E::custom(format!("{v} is too large")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok((self.text)(v.to_owned()))
    }
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntOrText {
            expecting: "a duration: seconds, or a string such as \"10m\", \"1h\", \"7d\"",
            int: DurationValue::Secs,
            text: DurationValue::Text,
        })
    }
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntOrText {
            expecting: "a size: bytes, or a string such as \"512KiB\", \"64MiB\", \"1GiB\"",
            int: SizeValue::Bytes,
            text: SizeValue::Text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
        toml_edit::de::from_str(text).map_err(|e| e.message().to_owned())
    }

    #[derive(Debug, Deserialize)]
    struct Holder {
        d: Option<DurationValue>,
        s: Option<SizeValue>,
        i: Option<Vec<InterfaceFile>>,
    }

    #[test]
    fn durations_and_sizes_take_integers_or_text() {
        let h: Holder = read("d = 600\ns = \"64MiB\"").unwrap();
        assert_eq!(h.d, Some(DurationValue::Secs(600)));
        assert_eq!(h.d.unwrap().secs(), Ok(600));
        assert_eq!(h.s.unwrap().bytes(), Ok(64 << 20));
        let h: Holder = read("d = \"1h\"\ns = 4096").unwrap();
        assert_eq!(h.d.unwrap().secs(), Ok(3600));
        assert_eq!(h.s.unwrap().bytes(), Ok(4096));
        assert_eq!(
            DurationValue::Secs(-1).secs().unwrap_err(),
            "-1 is negative"
        );
        assert_eq!(SizeValue::Bytes(-1).bytes().unwrap_err(), "-1 is negative");
        let e = read::<Holder>("d = 1.5").unwrap_err();
        assert!(e.contains("expected a duration"), "{e}");
    }

    #[test]
    fn interfaces_take_a_name_or_a_table() {
        let h: Holder =
            read("i = [\"eth0\", { name = \"eth1\", address = \"192.0.2.1\" }]").unwrap();
        let i = h.i.unwrap();
        assert_eq!(i[0].name, "eth0");
        assert_eq!(i[0].address, None);
        assert_eq!(i[1].address.as_deref(), Some("192.0.2.1"));
        let e = read::<Holder>("i = [{ name = \"eth0\", adress = \"192.0.2.1\" }]").unwrap_err();
        assert!(e.starts_with("unknown field `adress`"), "{e}");
        assert!(
            read::<Holder>("i = [7]")
                .unwrap_err()
                .contains("an interface name")
        );
    }

    #[test]
    fn enums_are_kebab_case() {
        let x: XdpFile = read("attach = \"skb\"\nbind = \"zero-copy\"").unwrap();
        assert_eq!(x.attach, Some(XdpAttachFile::Skb));
        assert_eq!(x.bind, Some(XdpBindFile::ZeroCopy));
        assert!(read::<XdpFile>("bind = \"zerocopy\"").is_err());
    }
}

//! Every check of the configuration front end, through `config::parse`, with the exact text an
//! operator sees.

use dhcp_core::config::{self, Config, ConfigErrors};

/// A `[server]` table that passes; the tests below start at line 3.
const SERVER: &str = "[server]\ninterfaces = [\"eth0\"]\n";

/// `SERVER` followed by `body`.
fn parse(body: &str) -> Result<Config, ConfigErrors> {
    config::parse(&format!("{SERVER}{body}"), "t.toml")
}

/// The problems of `SERVER` + `body` as `key: reason`.
fn problems(body: &str) -> Vec<String> {
    match parse(body) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .iter()
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect(),
    }
}

/// The problems of a whole file as the operator sees them.
fn shown(text: &str) -> Vec<String> {
    match config::parse(text, "t.toml") {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn ok(body: &str) -> Config {
    parse(body).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_valid_file_passes() {
    let c = ok(r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = ["10.0.0.100-10.0.0.200"]
"#);
    assert_eq!(c.subnets.len(), 1);
}

#[test]
fn messages_name_file_line_key_and_reason() {
    let text = r#"[server]
interfaces = ["eth0"]

[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = ["10.0.0.100-10.0.0.200"]

[[subnet]]
id = 2
network = "10.0.1.0/24"
pools = [
    "10.0.1.10-10.0.1.20",
    "10.0.2.5-10.0.2.9",
]

[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
ip-address = "10.0.1.15"
"#;
    assert_eq!(
        shown(text),
        [
            "t.toml:14: subnet[1].pools[1]: 10.0.2.5-10.0.2.9 is outside the subnet 10.0.1.0/24",
            "t.toml:19: subnet[1].reservations[0].ip-address: 10.0.1.15 is inside subnet[1].pools[0] \
             (10.0.1.10-10.0.1.20); reserved addresses must be outside the pools",
        ]
    );
}

#[test]
fn toml_syntax_errors_name_the_line() {
    assert_eq!(
        shown("[server]\ninterfaces = [\"eth0\"]\nworkers = = 2\n"),
        ["t.toml:3: invalid string; expected `\"`, `'` (column 11)"]
    );
    assert_eq!(
        shown("[server]\ninterfaces = [\"eth0\"]\n[server]\n"),
        ["t.toml:3: invalid table header; duplicate key `server` in document root (column 1)"]
    );
}

#[test]
fn unknown_keys_are_all_reported_with_their_place() {
    let text = r#"[server]
interfaces = ["eth0"]
worker = 2
[server.xdp]
atach = "native"

[lease]
defualt = 600

[[subnet]]
id = 1
network = "10.0.0.0/24"
pool = ["10.0.0.5-10.0.0.9"]
lease = { mx = 600 }

[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
ip-adress = "10.0.0.10"

[dhcp4]
"#;
    let got = shown(text);
    assert_eq!(got.len(), 8, "{got:#?}");
    assert!(got[0].starts_with("t.toml:3: server.worker: unknown key `worker`, expected one of `interfaces`, `backend`, `workers`"));
    assert!(
        got[1].starts_with(
            "t.toml:5: server.xdp.atach: unknown key `atach`, expected one of `attach`"
        )
    );
    assert!(
        got[2].starts_with(
            "t.toml:8: lease.defualt: unknown key `defualt`, expected one of `default`"
        )
    );
    assert!(got[3].starts_with(
        "t.toml:13: subnet[0].pool: unknown key `pool`, expected one of `id`, `network`, `pools`"
    ));
    assert!(got[4].starts_with("t.toml:14: subnet[0].lease.mx: unknown key `mx`"));
    // The reservation lacks its address because the key was misspelt: both are said.
    assert_eq!(
        got[5],
        "t.toml:16: subnet[0].reservations[0].ip-address: required key is missing"
    );
    assert!(
        got[6]
            .starts_with("t.toml:18: subnet[0].reservations[0].ip-adress: unknown key `ip-adress`")
    );
    assert_eq!(
        got[7],
        "t.toml:20: dhcp4: unknown key `dhcp4`, expected one of `server`, `lease`, `subnet`, \
         `failover`, `control`"
    );
}

#[test]
fn wrong_types_and_missing_keys() {
    assert_eq!(
        problems("[[subnet]]\nid = \"one\"\nnetwork = \"10.0.0.0/24\"\n"),
        ["subnet[0].id: invalid type: string \"one\", expected u32"]
    );
    assert_eq!(
        problems("[[subnet]]\nid = 1\n"),
        ["subnet[0].network: required key is missing"]
    );
    assert_eq!(
        shown("[lease]\ndefault = 7200\n"),
        ["t.toml: server: required table [server] is missing"]
    );
    assert_eq!(
        problems(
            "[[subnet]]\nid = 1\nnetwork = \"10.0.0.0/24\"\npools = [\"10.0.0.5-10.0.0.9\", 7]\n"
        ),
        ["subnet[0].pools[1]: invalid type: integer `7`, expected a string"]
    );
    assert_eq!(
        problems("[subnet]\nid = 1\n"),
        ["subnet: expected an array of tables ([[subnet]])"]
    );
    assert_eq!(
        shown("[server]\ninterfaces = [\"eth0\"]\nbackend = \"dpdk\"\n"),
        ["t.toml:3: server.backend: unknown value `dpdk`, expected `xdp` or `socket`"]
    );
}

#[test]
fn bad_addresses_networks_and_ranges() {
    let got = problems(
        r#"
[[subnet]]
id = 1
network = "10.0.0.1/24"
pools = ["10.0.0.200-10.0.0.100", "10.0.0.300-10.0.0.310", "10.0.0.5/33"]
dns-servers = ["10.0.0"]
[[subnet]]
id = 2
network = "10.1.0.0"
[[subnet]]
id = 3
network = "10.2.0.0/31"
"#,
    );
    assert_eq!(
        got,
        [
            "subnet[0].network: 10.0.0.1/24 has host bits set; the network is 10.0.0.0/24",
            "subnet[0].pools[0]: 10.0.0.200-10.0.0.100: the first address is after the last",
            "subnet[0].pools[1]: `10.0.0.300` is not an IPv4 address",
            "subnet[0].pools[2]: `33` is not a prefix length (0-32)",
            "subnet[0].dns-servers[0]: `10.0.0` is not an IPv4 address",
            "subnet[1].network: `10.1.0.0` is not a network; write address/prefix-length, e.g. 10.0.0.0/24",
            "subnet[2].network: 10.2.0.0/31 has no room for clients; the smallest subnet is a /30",
        ]
    );
}

#[test]
fn pools_stay_inside_their_subnet_and_off_its_edges() {
    let got = problems(
        r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = ["10.0.1.5-10.0.1.9", "10.0.0.250-10.0.1.5", "10.0.0.0-10.0.0.9", "10.0.0.128/25"]
"#,
    );
    assert_eq!(
        got,
        [
            "subnet[0].pools[0]: 10.0.1.5-10.0.1.9 is outside the subnet 10.0.0.0/24",
            "subnet[0].pools[1]: 10.0.0.250-10.0.1.5 reaches outside the subnet 10.0.0.0/24",
            "subnet[0].pools[2]: 10.0.0.0-10.0.0.9 includes the network address 10.0.0.0 of 10.0.0.0/24",
            "subnet[0].pools[3]: 10.0.0.128-10.0.0.255 includes the broadcast address 10.0.0.255 of 10.0.0.0/24",
            // The two pools that reach outside also overlap each other.
            "subnet[0].pools[3]: 10.0.0.128-10.0.0.255 overlaps subnet[0].pools[1] (10.0.0.250-10.0.1.5)",
            "subnet[0].pools[1]: 10.0.0.250-10.0.1.5 overlaps subnet[0].pools[0] (10.0.1.5-10.0.1.9)",
        ]
    );
}

#[test]
fn pools_overlap_neither_within_nor_across_subnets() {
    let got = problems(
        r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = ["10.0.0.10-10.0.0.50", "10.0.0.40-10.0.0.60"]
[[subnet]]
id = 2
network = "10.0.0.0/23"
pools = ["10.0.0.55-10.0.0.70"]
"#,
    );
    assert_eq!(
        got,
        [
            "subnet[0].pools[1]: 10.0.0.40-10.0.0.60 overlaps subnet[0].pools[0] (10.0.0.10-10.0.0.50)",
            "subnet[1].network: 10.0.0.0/23 overlaps subnet[0].network (10.0.0.0/24)",
            "subnet[1].pools[0]: 10.0.0.55-10.0.0.70 overlaps subnet[0].pools[1] (10.0.0.40-10.0.0.60)",
        ]
    );
}

#[test]
fn subnets_do_not_overlap_and_ids_are_unique() {
    let got = problems(
        r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
[[subnet]]
id = 1
network = "10.0.1.0/24"
[[subnet]]
id = 3
network = "10.0.1.128/25"
[[subnet]]
id = 0
network = "10.0.2.0/24"
"#,
    );
    assert_eq!(
        got,
        [
            "subnet[1].id: id 1 is already used by subnet[0]",
            "subnet[2].network: 10.0.1.128/25 overlaps subnet[1].network (10.0.1.0/24)",
            "subnet[3].id: subnet ids start at 1",
        ]
    );
}

#[test]
fn exclusions_lie_inside_one_pool_and_do_not_overlap() {
    let got = problems(
        r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = ["10.0.0.10-10.0.0.50", "10.0.0.51-10.0.0.90"]
exclusions = ["10.0.0.20", "10.0.0.5", "10.0.0.45-10.0.0.55", "10.0.1.1", "10.0.0.15-10.0.0.25"]
"#,
    );
    assert_eq!(
        got,
        [
            "subnet[0].exclusions[1]: 10.0.0.5 is not inside any one pool of this subnet",
            "subnet[0].exclusions[2]: 10.0.0.45-10.0.0.55 is not inside any one pool of this subnet",
            "subnet[0].exclusions[3]: 10.0.1.1 is not inside any one pool of this subnet",
            "subnet[0].exclusions[4]: 10.0.0.15-10.0.0.25 overlaps subnet[0].exclusions[0] (10.0.0.20)",
        ]
    );
    // An excluded address may be a router.
    let c = ok(r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = ["10.0.0.1-10.0.0.50"]
exclusions = ["10.0.0.1"]
routers = ["10.0.0.1"]
"#);
    assert_eq!(c.subnets[0].exclusions.len(), 1);
}

const RESERVATION_SUBNETS: &str = r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = ["10.0.0.100-10.0.0.200"]
routers = ["10.0.0.1"]
server-id = "10.0.0.2"
"#;

#[test]
fn reserved_addresses_are_subnet_hosts_outside_the_pools() {
    let got = problems(&format!(
        r#"{RESERVATION_SUBNETS}
[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
ip-address = "10.0.1.10"
[[subnet.reservations]]
hw-address = "02:00:00:00:00:02"
ip-address = "10.0.0.150"
[[subnet.reservations]]
hw-address = "02:00:00:00:00:03"
ip-address = "10.0.0.255"
[[subnet.reservations]]
hw-address = "02:00:00:00:00:04"
ip-address = "10.0.0.1"
[[subnet.reservations]]
hw-address = "02:00:00:00:00:05"
ip-address = "10.0.0.2"
[[subnet.reservations]]
hw-address = "02:00:00:00:00:06"
ip-address = "10.0.0.10"
hostname = "bad_name"
"#
    ));
    assert_eq!(
        got,
        [
            "subnet[0].reservations[0].ip-address: 10.0.1.10 is outside the subnet 10.0.0.0/24",
            "subnet[0].reservations[1].ip-address: 10.0.0.150 is inside subnet[0].pools[0] \
             (10.0.0.100-10.0.0.200); reserved addresses must be outside the pools",
            "subnet[0].reservations[2].ip-address: 10.0.0.255 is the broadcast address of 10.0.0.0/24",
            "subnet[0].reservations[3].ip-address: 10.0.0.1 is a router of this subnet",
            "subnet[0].reservations[4].ip-address: 10.0.0.2 is the server-id of this subnet",
            "subnet[0].reservations[5].hostname: `bad_name` is not a DNS name (label `bad_name`: \
             letters, digits and inner hyphens, 1 to 63 of them)",
        ]
    );
}

#[test]
fn each_reservation_has_exactly_one_identifier() {
    let got = problems(&format!(
        r#"{RESERVATION_SUBNETS}
[[subnet.reservations]]
ip-address = "10.0.0.10"
[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
circuit-id = "eth0/1"
ip-address = "10.0.0.11"
[[subnet.reservations]]
hw-address = "02:00:00:00:01"
ip-address = "10.0.0.12"
[[subnet.reservations]]
client-id = "zz"
ip-address = "10.0.0.13"
"#
    ));
    assert_eq!(
        got,
        [
            "subnet[0].reservations[0]: needs exactly one of hw-address, client-id, circuit-id, \
             circuit-id-hex, remote-id, remote-id-hex; found none",
            "subnet[0].reservations[1]: needs exactly one of hw-address, client-id, circuit-id, \
             circuit-id-hex, remote-id, remote-id-hex; found hw-address and circuit-id",
            "subnet[0].reservations[2].hw-address: `02:00:00:00:01` is not a 6-byte hardware address",
            "subnet[0].reservations[3].client-id: `zz` is not hex bytes (e.g. 0a0b0c or 0a:0b:0c)",
        ]
    );
}

#[test]
fn client_identities_are_reserved_once_in_the_whole_file() {
    let got = problems(&format!(
        r#"{RESERVATION_SUBNETS}
[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
ip-address = "10.0.0.10"
[[subnet.reservations]]
hw-address = "02-00-00-00-00-01"
ip-address = "10.0.0.11"
[[subnet.reservations]]
client-id = "01:02:00:00:00:00:09"
ip-address = "10.0.0.12"
[[subnet]]
id = 2
network = "10.0.1.0/24"
[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
ip-address = "10.0.1.10"
[[subnet.reservations]]
client-id = "01-02-00-00-00-00-09"
ip-address = "10.0.1.11"
"#
    ));
    assert_eq!(
        got,
        [
            "subnet[0].reservations[1].hw-address: `02-00-00-00-00-01` is already reserved by \
             subnet[0].reservations[0]",
            "subnet[1].reservations[0].hw-address: `02:00:00:00:00:01` is already reserved by \
             subnet[0].reservations[0]",
            "subnet[1].reservations[1].client-id: `01-02-00-00-00-00-09` is already reserved by \
             subnet[0].reservations[2]",
        ]
    );
}

#[test]
fn relay_identifiers_are_unique_per_subnet_or_shared_network() {
    let body = |shared: &str| {
        format!(
            r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
{shared}
[[subnet.reservations]]
circuit-id = "1/1/1"
ip-address = "10.0.0.10"
[[subnet.reservations]]
circuit-id-hex = "31:2f:31:2f:31"
ip-address = "10.0.0.11"
[[subnet]]
id = 2
network = "10.0.1.0/24"
{shared}
[[subnet.reservations]]
circuit-id = "1/1/1"
ip-address = "10.0.1.10"
[[subnet.reservations]]
remote-id = "1/1/1"
ip-address = "10.0.1.11"
"#
        )
    };
    // The same port name on two relays is two clients; the same bytes twice behind one relay
    // is one client reserved twice (text and hex spellings are compared as bytes).
    assert_eq!(
        problems(&body("")),
        [
            "subnet[0].reservations[1].circuit-id-hex: `31:2f:31:2f:31` is already reserved by \
             subnet[0].reservations[0]"
        ]
    );
    assert_eq!(
        problems(&body("shared-network = \"olt\"")),
        [
            "subnet[0].reservations[1].circuit-id-hex: `31:2f:31:2f:31` is already reserved by \
             subnet[0].reservations[0]",
            "subnet[1].reservations[0].circuit-id: `1/1/1` is already reserved by \
             subnet[0].reservations[0]",
        ]
    );
}

#[test]
fn an_address_is_reserved_once() {
    let got = problems(&format!(
        r#"{RESERVATION_SUBNETS}
[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
ip-address = "10.0.0.10"
[[subnet.reservations]]
remote-id = "cpe-2"
ip-address = "10.0.0.10"
"#
    ));
    assert_eq!(
        got,
        [
            "subnet[0].reservations[1].ip-address: 10.0.0.10 is already reserved by subnet[0].reservations[0]"
        ]
    );
}

#[test]
fn impossible_lease_times() {
    let got = problems(
        r#"
[lease]
default = 0
[[subnet]]
id = 1
network = "10.0.0.0/24"
"#,
    );
    assert_eq!(got, ["lease.default: must be at least 1 second"]);

    let got = problems(
        r#"
[lease]
min = "2h"
max = "30m"
[[subnet]]
id = 1
network = "10.0.0.0/24"
"#,
    );
    assert_eq!(
        got,
        [
            "lease.min: min (7200 s) must not be greater than default (3600 s, the built-in default)",
            "lease.max: default (3600 s, the built-in default) must not be greater than max (1800 s)",
        ]
    );

    let got = problems(
        r#"
[lease]
renew-percent = 60
[[subnet]]
id = 1
network = "10.0.0.0/24"
lease = { rebind-percent = 55 }
[[subnet]]
id = 2
network = "10.0.1.0/24"
lease = { rebind-percent = 100, default = "1w" }
"#,
    );
    assert_eq!(
        got,
        [
            "subnet[0].lease.rebind-percent: renew (60 % from [lease]) must be less than rebind (55 %)",
            "subnet[1].lease.rebind-percent: 100 is not a percentage between 0 and 100 (both excluded)",
        ]
    );

    let got = problems(
        r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
lease = { default = "1w" }
"#,
    );
    assert_eq!(
        got,
        [
            "subnet[0].lease.default: default (604800 s) must not be greater than max (86400 s, the built-in default)"
        ]
    );
}

#[test]
fn a_broken_global_lease_is_reported_once() {
    let got = problems(
        r#"
[lease]
min = 7200
[[subnet]]
id = 1
network = "10.0.0.0/24"
[[subnet]]
id = 2
network = "10.0.1.0/24"
"#,
    );
    assert_eq!(
        got,
        ["lease.min: min (7200 s) must not be greater than default (3600 s, the built-in default)"]
    );
}

#[test]
fn server_settings() {
    let got = shown(
        r#"[server]
interfaces = []
workers = 0
offer-hold = 0
decline-quarantine = -5
"#,
    );
    assert_eq!(
        got,
        [
            "t.toml:2: server.interfaces: at least one interface is needed",
            "t.toml:3: server.workers: 0 is not between 1 and 1024",
            "t.toml:4: server.offer-hold: must be at least 1 second",
            "t.toml:5: server.decline-quarantine: -5 is negative",
        ]
    );
    let shards = |workers: u32, shards: u32| {
        shown(&format!(
            "[server]\ninterfaces = [\"eth0\"]\nworkers = {workers}\nshards = {shards}\n"
        ))
    };
    assert_eq!(
        shards(4, 12),
        ["t.toml:4: server.shards: 12 is not a power of two between 1 and 16384"]
    );
    assert_eq!(
        shards(4, 2),
        ["t.toml:4: server.shards: 2 shards cannot be spread over 4 workers"]
    );
    assert!(shards(4, 4).is_empty());
}

#[test]
fn option_values() {
    let got = problems(
        r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = ["10.0.0.1-10.0.0.50"]
routers = ["10.0.0.20", "10.1.0.1"]
mtu = 67
domain-name = "isp..example"
ntp-servers = ["10.0.0.5", "10.0.0.5"]
"#,
    );
    assert_eq!(
        got,
        [
            "subnet[0].routers[0]: 10.0.0.20 is inside subnet[0].pools[0] (10.0.0.1-10.0.0.50) and not excluded",
            "subnet[0].routers[1]: 10.1.0.1 is outside the subnet 10.0.0.0/24",
            "subnet[0].mtu: 67 is not an MTU (68 to 65535)",
            "subnet[0].domain-name: `isp..example` is not a DNS name (label ``: letters, digits and \
             inner hyphens, 1 to 63 of them)",
            "subnet[0].ntp-servers[1]: 10.0.0.5 is listed twice",
        ]
    );
    assert_eq!(
        ok("[[subnet]]\nid = 1\nnetwork = \"10.0.0.0/24\"\nmtu = 68\n").subnets[0]
            .options
            .mtu,
        Some(68)
    );
}

#[test]
fn static_routes() {
    let got = problems(
        r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
classless-static-routes = [
    { destination = "0.0.0.0/0", gateway = "10.0.0.1" },
    { destination = "10.8.0.0/16", gateway = "0.0.0.0" },
    { destination = "10.9.0.1/16", gateway = "10.0.0.1" },
    { destination = "10.10.0.0/16", gateway = "192.0.2.1" },
    { destination = "0.0.0.0/0", gateway = "10.0.0.2" },
]
"#,
    );
    assert_eq!(
        got,
        [
            "subnet[0].classless-static-routes[2].destination: 10.9.0.1/16 has host bits set; the network is 10.9.0.0/16",
            "subnet[0].classless-static-routes[3].gateway: 192.0.2.1 is outside the subnet 10.0.0.0/24; \
             a next hop must be on the client's link (0.0.0.0 = on-link)",
            "subnet[0].classless-static-routes[4].destination: 0.0.0.0/0 is routed twice",
        ]
    );
}

#[test]
fn option_data_refuses_managed_codes_and_huge_values() {
    let long = "ab".repeat(1025);
    let got = problems(&format!(
        r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
option-data = [
    {{ code = 3, addresses = ["10.0.0.1"] }},
    {{ code = 51, hex = "00000e10" }},
    {{ name = "relay-agent-information", hex = "0102" }},
    {{ code = 121, hex = "00" }},
    {{ code = 256, text = "x" }},
    {{ code = 66, text = "tftp", hex = "00" }},
    {{ code = 67 }},
    {{ code = 224, hex = "{long}" }},
    {{ code = 225, addresses = ["10.0.0"] }},
    {{ code = 252, text = "http://wpad/wpad.dat" }},
    {{ code = 252, text = "again" }},
]
"#
    ));
    assert_eq!(
        got,
        [
            "subnet[0].option-data[0].code: option 3 (routers) is set with `routers`",
            "subnet[0].option-data[1].code: option 51 (lease-time) is part of the DHCP exchange \
             and written by the server",
            "subnet[0].option-data[2].name: option 82 (relay-agent-information) belongs to the relay",
            "subnet[0].option-data[3].code: option 121 (classless-static-routes) is set with \
             `classless-static-routes`",
            "subnet[0].option-data[4].code: 256 is not an option code (1-254)",
            "subnet[0].option-data[5]: needs exactly one of `hex`, `text`, `addresses`",
            "subnet[0].option-data[6]: needs exactly one of `hex`, `text`, `addresses`",
            "subnet[0].option-data[7]: 1025 bytes is longer than the limit of 1024",
            "subnet[0].option-data[8]: `10.0.0` is not an IPv4 address",
            "subnet[0].option-data[10].code: option 252 is already set by subnet[0].option-data[9]",
        ]
    );
    // Over 255 bytes is fine: the wire writer splits long options (RFC 3396).
    let long = "ab".repeat(300);
    let c = ok(&format!(
        "[[subnet]]\nid = 1\nnetwork = \"10.0.0.0/24\"\noption-data = [{{ code = 224, hex = \"{long}\" }}]\n"
    ));
    assert_eq!(c.subnets[0].options.extra[0].1.len(), 300);
}

#[test]
fn option_data_by_name_and_in_the_format_of_the_option_table() {
    let c = ok(r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
option-data = [
    { name = "tftp-server-name", text = "tftp.isp.example" },
    { name = "tftp-server-address", addresses = ["192.0.2.69", "192.0.2.70"] },
    { code = 23, hex = "40" },
    { code = 224, addresses = ["192.0.2.1"] },
    { code = 225, text = "anything goes for codes the table does not name" },
]
"#);
    let extra = &c.subnets[0].options.extra;
    assert_eq!(extra[0], (66, b"tftp.isp.example".to_vec()));
    assert_eq!(extra[1], (150, vec![192, 0, 2, 69, 192, 0, 2, 70]));
    assert_eq!(extra[2], (23, vec![64]));

    let got = problems(
        r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
option-data = [
    { name = "tftp-servr-name", text = "x" },
    { name = "tftp-server-name", code = 66, text = "x" },
    { code = 150, text = "192.0.2.69" },
    { code = 66, addresses = ["192.0.2.69"] },
    { code = 23, hex = "4040" },
    { code = 19, hex = "02" },
    { code = 44, hex = "c00002" },
    { code = 2, text = "3600" },
]
"#,
    );
    assert_eq!(
        got,
        [
            "subnet[0].option-data[0].name: `tftp-servr-name` is not an option name this server \
             knows; give its `code`",
            "subnet[0].option-data[1]: needs exactly one of `code`, `name`",
            "subnet[0].option-data[2]: option 150 (tftp-server-address) takes `addresses` or `hex`",
            "subnet[0].option-data[3]: option 66 (tftp-server-name) takes `text` or `hex`",
            "subnet[0].option-data[4]: option 23 (default-ip-ttl) takes 1 byte, not 2 bytes",
            "subnet[0].option-data[5]: option 19 (ip-forwarding) takes 0 or 1, not 2",
            "subnet[0].option-data[6]: option 44 (netbios-name-servers) takes one or more \
             addresses, not 3 bytes",
            "subnet[0].option-data[7]: option 2 (time-offset) takes `hex`",
        ]
    );
}

#[test]
fn vendor_classes() {
    let got = problems(
        r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
vendor-classes = [
    { match = "MSFT 5.0", option-43 = "010400000001" },
    { match = "", option-43 = "01" },
    { match = "MSFT 5.0", option-43 = "02" },
    { match = "cpe", option-43 = "" },
]
"#,
    );
    assert_eq!(
        got,
        [
            "subnet[0].vendor-classes[1].match: an empty match would match every client",
            "subnet[0].vendor-classes[2].match: `MSFT 5.0` is matched twice",
            "subnet[0].vendor-classes[3].option-43: an empty option 43 tells the client nothing",
        ]
    );
}

#[test]
fn a_shared_network_of_one_subnet_is_allowed() {
    let c = ok(r#"
[[subnet]]
id = 1
network = "10.0.0.0/24"
shared-network = "lonely"
"#);
    assert_eq!(c.subnets[0].shared_network.as_deref(), Some("lonely"));
    assert_eq!(
        problems("[[subnet]]\nid = 1\nnetwork = \"10.0.0.0/24\"\nshared-network = \"\"\n"),
        ["subnet[0].shared-network: a shared network name is 1 to 64 printable characters"]
    );
}

#[test]
fn the_servers_own_addresses_are_not_handed_out() {
    let got = shown(
        r#"[server]
interfaces = [{ name = "eth0", address = "10.0.0.50" }, { name = "eth1", address = "10.0.0.7" }]

[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = ["10.0.0.10-10.0.0.100"]
exclusions = ["10.0.0.50"]
server-id = "10.0.0.60"

[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
ip-address = "10.0.0.7"
"#,
    );
    assert_eq!(
        got,
        [
            "t.toml:2: server.interfaces[1].address: 10.0.0.7 is reserved by subnet[0].reservations[0]",
            "t.toml:9: subnet[0].server-id: 10.0.0.60 is inside subnet[0].pools[0] (10.0.0.10-10.0.0.100) and not excluded",
        ]
    );
}

#[test]
fn every_problem_of_a_file_is_reported_at_once_in_file_order() {
    let text = r#"[server]
interfaces = ["eth0"]
workers = 0
shards = 3

[lease]
default = "1x"

[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = ["10.0.0.10-10.0.0.300"]
mtu = 10

[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
ip-address = "10.0.5.1"

[[subnet]]
id = 1
network = "10.0.0.0/25"
routers = ["10.0.0.0"]
"#;
    assert_eq!(
        shown(text),
        [
            "t.toml:3: server.workers: 0 is not between 1 and 1024",
            "t.toml:4: server.shards: 3 is not a power of two between 1 and 16384",
            "t.toml:7: lease.default: `1x` is not a duration (e.g. 600, \"45s\", \"10m\", \"1h30m\", \"7d\")",
            "t.toml:12: subnet[0].pools[0]: `10.0.0.300` is not an IPv4 address",
            "t.toml:13: subnet[0].mtu: 10 is not an MTU (68 to 65535)",
            "t.toml:17: subnet[0].reservations[0].ip-address: 10.0.5.1 is outside the subnet 10.0.0.0/24",
            "t.toml:20: subnet[1].id: id 1 is already used by subnet[0]",
            "t.toml:21: subnet[1].network: 10.0.0.0/25 overlaps subnet[0].network (10.0.0.0/24)",
            "t.toml:22: subnet[1].routers[0]: 10.0.0.0 is the network address of 10.0.0.0/25",
        ]
    );
}

#[test]
fn file_structs_convert_with_try_from() {
    use dhcp_core::config::file::ConfigFile;

    // File structs can come from anywhere serde reads; here straight from TOML, without the
    // piecewise reading and line numbers of `config::parse`.
    let text = r#"
[server]
interfaces = ["eth0"]
[[subnet]]
id = 7
network = "10.0.0.0/24"
pools = ["10.0.0.10-10.0.0.20"]
"#;
    let mut file: ConfigFile = toml_edit::de::from_str(text).unwrap();
    let c = Config::try_from(file.clone()).unwrap();
    assert_eq!(c.subnets[0].id.0, 7);

    file.subnet[0].pools[0] = "10.0.1.10-10.0.1.20".into();
    let e = Config::try_from(file).unwrap_err();
    // No file was read, so there is no file name or line.
    assert_eq!(
        e.to_string(),
        "subnet[0].pools[0]: 10.0.1.10-10.0.1.20 is outside the subnet 10.0.0.0/24"
    );
}

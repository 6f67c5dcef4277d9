//! `[[failover]]` relationships through `config::parse`: what each key becomes in the model, and
//! every check with the exact key and reason an operator sees.

use std::net::SocketAddrV4;

use dhcp_core::config::{
    self, Config, ConfigErrors, FailoverMode, FailoverRole, PartnerSoftware, SubnetId, defaults,
};

/// A server with an address and three subnets; the `[[failover]]` tables of a test follow.
const BASE: &str = r#"[server]
interfaces = [{ name = "eth0", address = "192.0.2.1" }]

[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = ["10.0.0.100-10.0.0.200"]

[[subnet]]
id = 2
network = "10.0.1.0/24"
pools = ["10.0.1.100-10.0.1.200"]

[[subnet]]
id = 3
network = "10.0.2.0/24"
pools = ["10.0.2.100-10.0.2.200"]
"#;

/// A load-balance primary's table with these endpoints; the other keys a test gives follow.
fn table(name: &str, partner: &str, local: &str) -> String {
    format!(
        "\n[[failover]]\nname = \"{name}\"\npartner = \"{partner}\"\n\
         local-address = \"{local}\"\nrole = \"primary\"\n"
    )
}

/// The keys every relationship needs but `subnets`, for relationship `n` (partner
/// 198.51.100.n).
fn required(n: u8) -> String {
    table(
        &format!("pair-{n}"),
        &format!("198.51.100.{n}"),
        "198.51.100.100",
    )
}

fn parse(failover: &str) -> Result<Config, ConfigErrors> {
    config::parse(&format!("{BASE}{failover}"), "t.toml")
}

fn ok(failover: &str) -> Config {
    parse(failover).unwrap_or_else(|e| panic!("{e}"))
}

/// The problems as `key: reason`.
fn problems(failover: &str) -> Vec<String> {
    match parse(failover) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .iter()
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect(),
    }
}

fn sock(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

#[test]
fn a_relationship_with_only_the_required_keys_gets_every_default() {
    let c = ok(&format!("{}subnets = [1]\n", required(2)));
    let [r] = c.failover.as_slice() else {
        panic!("one relationship expected")
    };
    assert_eq!(r.name, "pair-2");
    assert_eq!(r.role, FailoverRole::Primary);
    assert_eq!(
        r.mode,
        FailoverMode::LoadBalance {
            local_percent: defaults::LOAD_BALANCE_PERCENT
        }
    );
    assert_eq!(
        r.partner,
        SocketAddrV4::new("198.51.100.2".parse().unwrap(), 647)
    );
    assert_eq!(r.local, sock("198.51.100.100:647"));
    assert!(!r.floating_address);
    assert_eq!(defaults::FAILOVER_PORT, 647);
    assert_eq!(r.mclt_secs, defaults::MCLT_SECS);
    assert_eq!(r.state_switchover_secs, None);
    assert_eq!(r.shared_secret, None);
    assert_eq!(r.partner_software, defaults::PARTNER_SOFTWARE);
    assert_eq!(r.partner_software, PartnerSoftware::Xdhcp);
    assert_eq!(r.subnets, [SubnetId(1)]);
    assert_eq!(r.max_unacked_updates, defaults::MAX_UNACKED_UPDATES);
    assert_eq!(r.receive_timer_secs, defaults::RECEIVE_TIMER_SECS);
    assert_eq!(r.load_balance_max_secs, defaults::LOAD_BALANCE_MAX_SECS);
    // The documented values, so that a change of a default is a change of this test too.
    assert_eq!(
        (r.mclt_secs, r.max_unacked_updates, r.receive_timer_secs),
        (3600, 100, 30)
    );
    assert_eq!(r.load_balance_max_secs, 3);
}

#[test]
fn every_key_reaches_the_model() {
    let c = ok(r#"
[[failover]]
name = "edge-pair"
partner = "198.51.100.2:6470"
local-address = "198.51.100.1:6471"
floating-address = true
mode = "load-balance"
role = "secondary"
load-balance-percent = 30
mclt = "30m"
state-switchover-interval = "2h"
shared-secret = "correct horse battery staple"
partner-software = "windows"
subnets = [3, 1]
max-unacked-updates = 16
receive-timer = "1m"
load-balance-max-seconds = 10
"#);
    let r = &c.failover[0];
    assert_eq!(r.name, "edge-pair");
    assert_eq!(r.role, FailoverRole::Secondary);
    assert_eq!(r.mode, FailoverMode::LoadBalance { local_percent: 30 });
    assert_eq!(r.partner, sock("198.51.100.2:6470"));
    assert_eq!(r.local, sock("198.51.100.1:6471"));
    assert!(r.floating_address);
    assert_eq!(r.mclt_secs, 1800);
    assert_eq!(r.state_switchover_secs, Some(7200));
    assert_eq!(
        r.shared_secret.as_deref(),
        Some(&b"correct horse battery staple"[..])
    );
    assert_eq!(r.partner_software, PartnerSoftware::Windows);
    assert_eq!(r.subnets, [SubnetId(3), SubnetId(1)]);
    assert_eq!(r.max_unacked_updates, 16);
    assert_eq!(r.receive_timer_secs, 60);
    assert_eq!(r.load_balance_max_secs, 10);
}

#[test]
fn hot_standby_maps_active_to_primary_and_standby_to_secondary() {
    let c = ok(r#"
[[failover]]
name = "a"
partner = "198.51.100.2"
local-address = "198.51.100.1"
mode = "hot-standby"
server-role = "active"
subnets = [1]

[[failover]]
name = "b"
partner = "198.51.100.3"
local-address = "198.51.100.1"
mode = "hot-standby"
server-role = "standby"
reserve-percent = 10
load-balance-max-seconds = 5
subnets = [2]
"#);
    let [a, b] = c.failover.as_slice() else {
        panic!("two relationships expected")
    };
    assert_eq!(a.role, FailoverRole::Primary);
    assert_eq!(
        a.mode,
        FailoverMode::HotStandby {
            reserve_percent: defaults::RESERVE_PERCENT
        }
    );
    assert_eq!(defaults::RESERVE_PERCENT, 5);
    // The standby stays silent while the active server is up, unless asked otherwise.
    assert_eq!(
        a.load_balance_max_secs,
        defaults::HOT_STANDBY_LOAD_BALANCE_MAX_SECS
    );
    assert_eq!(a.load_balance_max_secs, 0);
    assert_eq!(b.role, FailoverRole::Secondary);
    assert_eq!(
        b.mode,
        FailoverMode::HotStandby {
            reserve_percent: 10
        }
    );
    assert_eq!(b.load_balance_max_secs, 5);
}

#[test]
fn no_failover_table_means_no_relationships() {
    assert!(ok("").failover.is_empty());
}

#[test]
fn required_keys() {
    assert_eq!(
        problems(
            "[[failover]]\nname = \"a\"\npartner = \"198.51.100.2\"\nlocal-address = \"198.51.100.1\"\nrole = \"primary\"\n"
        ),
        ["failover[0].subnets: required key is missing"]
    );
    assert_eq!(
        problems("[[failover]]\nname = \"a\"\nlocal-address = \"198.51.100.1\"\nsubnets = []\n"),
        ["failover[0].partner: required key is missing"]
    );
    assert_eq!(
        problems("[failover]\nname = \"a\"\n"),
        ["failover: expected an array of tables ([[failover]])"]
    );
}

#[test]
fn each_mode_needs_its_role() {
    let base = "[[failover]]\nname = \"a\"\npartner = \"198.51.100.2\"\n\
                local-address = \"198.51.100.1\"\nsubnets = [1]\n";
    assert_eq!(
        problems(base),
        [
            "failover[0].role: required in load-balance mode: \"primary\" on one server, \
             \"secondary\" on the other"
        ]
    );
    assert_eq!(
        problems(&format!("{base}mode = \"hot-standby\"\n")),
        [
            "failover[0].server-role: required in hot-standby mode: \"active\" on one server, \
             \"standby\" on the other"
        ]
    );
}

#[test]
fn the_other_modes_keys_are_refused() {
    let got = problems(&format!(
        "{}subnets = [1]\nserver-role = \"active\"\nreserve-percent = 5\n",
        required(2)
    ));
    assert_eq!(
        got,
        [
            "failover[0].server-role: server-role is for mode = \"hot-standby\"; in load-balance \
             mode the server's role is `role` (\"primary\" or \"secondary\")",
            "failover[0].reserve-percent: reserve-percent is for mode = \"hot-standby\"; in \
             load-balance mode the free addresses are split by load-balance-percent",
        ]
    );
    let got = problems(
        r#"
[[failover]]
name = "a"
partner = "198.51.100.2"
local-address = "198.51.100.1"
mode = "hot-standby"
server-role = "standby"
role = "secondary"
load-balance-percent = 50
subnets = [1]
"#,
    );
    assert_eq!(
        got,
        [
            "failover[0].role: role is for mode = \"load-balance\"; in hot-standby mode the \
             server's role is `server-role` (\"active\" or \"standby\")",
            "failover[0].load-balance-percent: load-balance-percent is for mode = \
             \"load-balance\"; in hot-standby mode the active server answers every client and \
             the standby holds reserve-percent of the free addresses",
        ]
    );
}

#[test]
fn unknown_keys_and_values() {
    let got = problems(&format!(
        "{}subnets = [1]\nmclt-secs = 3600\nmode = \"active-passive\"\n",
        required(2)
    ));
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got[0].starts_with(
            "failover[0].mclt-secs: unknown key `mclt-secs`, expected one of `name`, `partner`"
        ),
        "{}",
        got[0]
    );
    assert_eq!(
        got[1],
        "failover[0].mode: unknown value `active-passive`, expected `load-balance` or \
         `hot-standby`"
    );
    assert_eq!(
        problems(&format!(
            "{}subnets = [1]\npartner-software = \"kea\"\n",
            required(2)
        )),
        [
            "failover[0].partner-software: unknown value `kea`, expected one of `xdhcp`, \
             `isc-dhcpd`, `windows`"
        ]
    );
}

#[test]
fn percentages_are_between_0_and_100() {
    assert_eq!(
        problems(&format!(
            "{}subnets = [1]\nload-balance-percent = 101\n",
            required(2)
        )),
        ["failover[0].load-balance-percent: 101 is not a percentage between 0 and 100"]
    );
    assert_eq!(
        problems(&format!(
            "{}subnets = [1]\nload-balance-percent = -1\n",
            required(2)
        )),
        ["failover[0].load-balance-percent: invalid value: integer `-1`, expected u32"]
    );
    let hot = "[[failover]]\nname = \"a\"\npartner = \"198.51.100.2\"\n\
               local-address = \"198.51.100.1\"\nmode = \"hot-standby\"\n\
               server-role = \"active\"\nsubnets = [1]\n";
    assert_eq!(
        problems(&format!("{hot}reserve-percent = 300\n")),
        ["failover[0].reserve-percent: 300 is not a percentage between 0 and 100"]
    );
    // The ends are allowed, as in Windows: 0 % leaves this server no clients in NORMAL.
    for edge in [0, 100] {
        let c = ok(&format!(
            "{}subnets = [1]\nload-balance-percent = {edge}\n",
            required(2)
        ));
        assert_eq!(
            c.failover[0].mode,
            FailoverMode::LoadBalance {
                local_percent: edge
            }
        );
        ok(&format!("{hot}reserve-percent = {edge}\n"));
    }
}

#[test]
fn times_and_counts() {
    let got = problems(&format!(
        "{}subnets = [1]\nmclt = 0\nstate-switchover-interval = 0\nreceive-timer = \"2s\"\n\
         max-unacked-updates = 0\nload-balance-max-seconds = 256\n",
        required(2)
    ));
    assert_eq!(
        got,
        [
            "failover[0].mclt: must be at least 1 second",
            "failover[0].state-switchover-interval: must be at least 1 second; leave the key out \
             to go to PARTNER-DOWN only by command",
            "failover[0].receive-timer: 2 s is not between 3 s and 3600 s",
            "failover[0].max-unacked-updates: 0 is not between 1 and 65535",
            "failover[0].load-balance-max-seconds: 256 is not between 0 and 255",
        ]
    );
    let got = problems(&format!(
        "{}subnets = [1]\nmclt = \"31d\"\nstate-switchover-interval = \"soon\"\n\
         receive-timer = \"2h\"\nmax-unacked-updates = 65536\n",
        required(2)
    ));
    assert_eq!(
        got,
        [
            "failover[0].mclt: 2678400 s is longer than the limit of 2592000 s (30 days)",
            "failover[0].state-switchover-interval: `soon` is not a duration (e.g. 600, \"45s\", \
             \"10m\", \"1h30m\", \"7d\")",
            "failover[0].receive-timer: 7200 s is not between 3 s and 3600 s",
            "failover[0].max-unacked-updates: 65536 is not between 1 and 65535",
        ]
    );
    let c = ok(&format!(
        "{}subnets = [1]\nmclt = \"30d\"\nreceive-timer = 3\nmax-unacked-updates = 65535\n\
         load-balance-max-seconds = 0\n",
        required(2)
    ));
    let r = &c.failover[0];
    assert_eq!(
        (r.mclt_secs, r.receive_timer_secs, r.max_unacked_updates),
        (30 * 86_400, 3, 65_535)
    );
    assert_eq!(r.load_balance_max_secs, 0);
}

#[test]
fn relationship_names() {
    let named = |name: &str| {
        format!(
            "{}subnets = []\n",
            table(name, "198.51.100.2", "198.51.100.1")
        )
    };
    assert_eq!(
        problems(&named("")),
        ["failover[0].name: a relationship name is 1 to 126 printable characters"]
    );
    assert_eq!(
        problems(&named(&"n".repeat(127))),
        ["failover[0].name: a relationship name is 1 to 126 printable characters"]
    );
    assert_eq!(
        problems(&named("edge-pair ")),
        [
            "failover[0].name: `edge-pair ` starts or ends with a space; the partner must match \
             the name exactly"
        ]
    );
    assert_eq!(ok(&named(&"n".repeat(126))).failover[0].name.len(), 126);
}

#[test]
fn names_and_partners_are_unique() {
    let got = problems(&format!(
        "{}subnets = [1]\n{}subnets = [2]\n",
        table("edge-pair", "198.51.100.2", "198.51.100.1"),
        table("edge-pair", "198.51.100.2:6470", "198.51.100.1"),
    ));
    assert_eq!(
        got,
        [
            "failover[1].name: `edge-pair` is already the name of failover[0]",
            "failover[1].partner: 198.51.100.2 is already the partner of failover[0]; a server \
             has one relationship per partner",
        ]
    );
}

#[test]
fn endpoints_are_one_unicast_address_with_an_optional_port() {
    let got = problems(&format!(
        "{}subnets = [1]\n{}subnets = [2]\n",
        table("a", "dhcp2.isp.example", "0.0.0.0"),
        table("b", "198.51.100.3:0", "224.0.0.1:647"),
    ));
    assert_eq!(
        got,
        [
            "failover[0].partner: `dhcp2.isp.example` is not an IPv4 address",
            "failover[0].local-address: 0.0.0.0 is the unspecified address; a failover endpoint \
             is one unicast address",
            "failover[1].partner: `0` is not a port (1-65535)",
            "failover[1].local-address: 224.0.0.1 is a multicast address; a failover endpoint is \
             one unicast address",
        ]
    );
    // Loopback works for two servers on one host (tests): 127.0.0.0/8 is all local.
    let c = ok(&format!(
        "{}subnets = [1]\n",
        table("a", "127.0.0.2", "127.0.0.1")
    ));
    assert_eq!(c.failover[0].partner, sock("127.0.0.2:647"));
}

#[test]
fn the_partner_is_another_server() {
    let got = problems(&format!(
        "{}subnets = [1]\n{}subnets = [2]\n{}subnets = [3]\n",
        table("a", "198.51.100.1:6470", "198.51.100.1"),
        table("b", "192.0.2.1", "198.51.100.9"),
        table("c", "198.51.100.9", "198.51.100.1"),
    ));
    assert_eq!(
        got,
        [
            // The ports differ, but the partner recognises us by the address alone.
            "failover[0].partner: 198.51.100.1 is also the local-address; the partner is the \
             other server",
            "failover[1].partner: 192.0.2.1 is this server's address on server.interfaces[0]",
            "failover[2].partner: 198.51.100.9 is this server's local-address in failover[1]",
        ]
    );
    // Several relationships may share one local address: connections are told apart by the
    // partner's address.
    let c = ok(&format!(
        "{}subnets = [1]\n{}subnets = [2]\n",
        required(2),
        required(3)
    ));
    assert_eq!(c.failover[0].local, c.failover[1].local);
}

#[test]
fn relationships_sharing_a_local_address_agree_on_whether_it_floats() {
    let floating = |n: u8| format!("{}floating-address = true\n", required(n));
    let got = problems(&format!(
        "{}subnets = [1]\n{}subnets = [2]\n{}subnets = [3]\n",
        floating(2),
        floating(3),
        required(4),
    ));
    assert_eq!(
        got,
        [
            "failover[2].floating-address: 198.51.100.100 is also the local-address of \
             failover[0], where floating-address is true; an address floats between hosts for \
             every relationship or for none"
        ]
    );
    // Another port on the same address is the same address.
    let got = problems(&format!(
        "{}subnets = [1]\n{}floating-address = true\nsubnets = [2]\n",
        required(2),
        table("b", "198.51.100.3", "198.51.100.100:6470"),
    ));
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].starts_with("failover[1].floating-address: 198.51.100.100 is also"));
    assert_eq!(
        problems(&format!(
            "{}floating-address = \"yes\"\nsubnets = [1]\n",
            required(2)
        )),
        ["failover[0].floating-address: invalid type: string \"yes\", expected a boolean"]
    );
}

#[test]
fn failover_addresses_are_not_handed_to_clients() {
    let got = problems(&format!(
        "[[subnet.reservations]]\nhw-address = \"02:00:00:00:00:01\"\n\
         ip-address = \"10.0.2.10\"\n{}subnets = [1]\n{}subnets = [2]\n",
        table("a", "10.0.0.150", "10.0.1.100"),
        table("b", "198.51.100.2", "10.0.2.10"),
    ));
    assert_eq!(
        got,
        [
            "failover[0].partner: 10.0.0.150 is inside subnet[0].pools[0] (10.0.0.100-10.0.0.200) \
             and not excluded",
            "failover[0].local-address: 10.0.1.100 is inside subnet[1].pools[0] \
             (10.0.1.100-10.0.1.200) and not excluded",
            "failover[1].local-address: 10.0.2.10 is reserved by subnet[2].reservations[0]",
        ]
    );
    // Inside a subnet but outside its pools, or excluded, is fine.
    let text = format!(
        "{}\nexclusions = [\"10.0.2.100\"]\n{}subnets = [1]\n",
        BASE.trim_end(),
        table("a", "10.0.2.100", "10.0.0.2"),
    );
    let c = config::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.failover[0].local, sock("10.0.0.2:647"));
}

#[test]
fn a_shared_secret_is_long_enough_and_not_sent_to_isc() {
    assert_eq!(
        problems(&format!(
            "{}subnets = [1]\nshared-secret = \"123\"\n",
            required(2)
        )),
        [
            "failover[0].shared-secret: 3 bytes is too short for a shared secret; at least 16 \
             (anyone who captures one message can test guesses offline)"
        ]
    );
    assert_eq!(
        problems(&format!(
            "{}subnets = [1]\nshared-secret = \"a long enough secret\"\n\
             partner-software = \"isc-dhcpd\"\n",
            required(2)
        )),
        [
            "failover[0].shared-secret: ISC dhcpd 4.4 has no failover authentication: it never \
             sends a digest and ignores ours; leave shared-secret out and protect the failover \
             link another way (IPsec, WireGuard, a dedicated VLAN)"
        ]
    );
    assert_eq!(defaults::SHARED_SECRET_MIN_BYTES, 16);
    let c = ok(&format!(
        "{}subnets = [1]\nshared-secret = \"0123456789abcdef\"\n",
        required(2)
    ));
    assert_eq!(c.failover[0].shared_secret.as_ref().map(Vec::len), Some(16));
}

#[test]
fn listed_subnets_exist_and_belong_to_one_relationship() {
    let got = problems(&format!(
        "{}subnets = [1, 7, 1]\n{}subnets = [2, 1]\n",
        required(2),
        required(3)
    ));
    assert_eq!(
        got,
        [
            "failover[0].subnets[2]: subnet 1 is listed twice",
            "failover[0].subnets[1]: no [[subnet]] has id 7",
            "failover[1].subnets[1]: subnet 1 is already in failover[0]; a subnet belongs to one \
             relationship",
        ]
    );
}

#[test]
fn an_empty_relationship_is_allowed() {
    // As in Windows: the pair connects and reaches NORMAL, and subnets move in later.
    let c = ok(&format!("{}subnets = []\n", required(2)));
    assert!(c.failover[0].subnets.is_empty());
}

#[test]
fn a_subnet_that_could_not_be_read_is_not_called_missing() {
    let text = format!(
        "{BASE}\n[[subnet]]\nid = \"four\"\nnetwork = \"10.0.3.0/24\"\n\n{}subnets = [4]\n",
        required(2)
    );
    let e = config::parse(&text, "t.toml").unwrap_err();
    let got: Vec<String> = e
        .iter()
        .map(|e| format!("{}: {}", e.key, e.reason))
        .collect();
    assert_eq!(
        got,
        ["subnet[3].id: invalid type: string \"four\", expected u32"]
    );
}

#[test]
fn the_subnets_of_a_shared_network_fail_over_together() {
    let text = |first: &str, second: &str| {
        format!(
            r#"[server]
interfaces = ["eth0"]

[[subnet]]
id = 1
network = "10.0.0.0/24"
shared-network = "olt-1"

[[subnet]]
id = 2
network = "10.0.1.0/24"
shared-network = "olt-1"

[[subnet]]
id = 3
network = "10.0.2.0/24"

[[failover]]
name = "a"
partner = "198.51.100.2"
local-address = "198.51.100.1"
role = "primary"
subnets = {first}

[[failover]]
name = "b"
partner = "198.51.100.3"
local-address = "198.51.100.1"
role = "primary"
subnets = {second}
"#
        )
    };
    let problems = |first, second| match config::parse(&text(first, second), "t.toml") {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    assert_eq!(
        problems("[1, 3]", "[]"),
        [
            "t.toml:23: failover[0].subnets[0]: subnet 1 shares the link `olt-1` with subnet 2, \
             which is in no failover relationship; the subnets of a shared network fail over \
             together"
        ]
    );
    assert_eq!(
        problems("[1]", "[2]"),
        [
            "t.toml:23: failover[0].subnets[0]: subnet 1 shares the link `olt-1` with subnet 2, \
             which is in failover[1]; the subnets of a shared network fail over together",
            "t.toml:30: failover[1].subnets[0]: subnet 2 shares the link `olt-1` with subnet 1, \
             which is in failover[0]; the subnets of a shared network fail over together",
        ]
    );
    assert!(problems("[2, 1]", "[3]").is_empty());
    assert!(problems("[3]", "[]").is_empty());
}

#[test]
fn messages_name_the_line_of_the_key_or_of_its_table() {
    let text = format!(
        "{BASE}
[[failover]]
name = \"edge-pair\"
partner = \"198.51.100.2\"
local-address = \"198.51.100.1\"
mode = \"hot-standby\"
mclt = \"40d\"
subnets = [1]
"
    );
    let e = config::parse(&text, "t.toml").unwrap_err();
    let got: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "t.toml:19: failover[0].server-role: required in hot-standby mode: \"active\" on one \
             server, \"standby\" on the other",
            "t.toml:24: failover[0].mclt: 3456000 s is longer than the limit of 2592000 s (30 \
             days)",
        ]
    );
}

#[test]
fn file_structs_with_relationships_convert_with_try_from() {
    use dhcp_core::config::file::ConfigFile;

    let text = format!("{BASE}{}subnets = [2]\n", required(2));
    let mut file: ConfigFile = toml_edit::de::from_str(&text).unwrap();
    let c = Config::try_from(file.clone()).unwrap();
    assert_eq!(c.failover[0].subnets, [SubnetId(2)]);

    file.failover[0].subnets = vec![9];
    assert_eq!(
        Config::try_from(file).unwrap_err().to_string(),
        "failover[0].subnets[0]: no [[subnet]] has id 9"
    );
}

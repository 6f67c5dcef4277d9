//! A clustered partner: server `a` of a failover pair is an active/passive pair of hosts that
//! share one floating address (the DHCP server identifier and the failover endpoint, like a
//! Windows DHCP failover cluster's client access point) and one state directory, as a cluster
//! manager runs them. xdhcpd listens on the floating address before it reaches the host
//! (`floating-address = true`, IP_FREEBIND); the pair reaches NORMAL once the address comes;
//! when the active host dies the address moves to the passive one, which starts xdhcpd on the
//! same configuration and journal, and the partner returns to NORMAL with it, every lease
//! intact and renewed through the same address; a planned move back goes through the
//! partner's PARTNER-DOWN and RECOVER. Without `floating-address`, an absent address is a
//! warning and listening is tried again. Needs root.

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use xdhcp_tests::{
    failover_lab::{FailoverLab, LAN, Server, Udhcpc, wait_until},
    require_root,
};

const REL: &str = "lab-pair";
/// Renewals at 30 s: after the move, which takes a few seconds.
const LEASE: &str = "{ default = 60, min = 10, max = 60 }";
/// A dead host is noticed within seconds.
const TIMERS: &str = "mclt = 30\nreceive-timer = 3";
const MODE: &str = "load-balance-percent = 50";

fn lan(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(LAN[0], LAN[1], LAN[2], host)
}

fn dump(servers: &[&Server]) -> String {
    servers
        .iter()
        .map(|s| format!("--- {} ---\n{}", s.name, s.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until each of `servers` is in NORMAL; panics with their logs when one is not.
fn assert_normal(servers: &[&Server], timeout: Duration) {
    for s in servers {
        assert!(
            s.wait_fo_state(REL, "normal", timeout),
            "{} is not in NORMAL:\n{}",
            s.name,
            dump(servers)
        );
    }
}

/// Waits until both lease tables are the same and hold every lease of `before`.
fn leases_kept(lab: &FailoverLab, before: &[(Ipv4Addr, String)]) -> bool {
    wait_until(Duration::from_secs(10), || {
        lab.active()
            .is_ok_and(|[a, b]| a == b && before.iter().all(|l| a.contains(l)))
    })
}

/// Turns server `a`'s LAN address into the cluster's floating address: `a` keeps a node
/// address of its own (`node`) and not the floating one, and the relationship runs over the
/// LAN between the floating address and `b`'s LAN address. Returns the floating address.
fn floating_lab(lab: &mut FailoverLab, node: Ipv4Addr) -> Ipv4Addr {
    let float = lab.servers[0].lan_ip;
    let a = &lab.servers[0];
    a.ns.ip(["addr", "del", &format!("{float}/24"), "dev", &a.lan_if])
        .unwrap();
    a.ns.ip(["addr", "add", &format!("{node}/24"), "dev", &a.lan_if])
        .unwrap();
    lab.servers[0].fo_ip = float;
    lab.servers[1].fo_ip = lab.servers[1].lan_ip;
    float
}

/// What a cluster manager does when it gives `host` the floating address: add it, announce it.
fn take_address(host: &Server, float: Ipv4Addr) {
    host.ns
        .ip(["addr", "add", &format!("{float}/24"), "dev", &host.lan_if])
        .unwrap();
    host.announce(float).unwrap();
}

/// TCP listeners in `host`'s namespace (`ss -Hltn`).
fn listeners(host: &Server) -> String {
    let out = host.ns.exec("ss", ["-Hltn"]).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Gives client `i` a MAC address whose RFC 3074 bucket (udhcpc's client identifier: type 1 +
/// MAC) belongs to the primary when `primary`, to the secondary otherwise; `skip` such
/// addresses are passed over first.
fn set_client_mac(lab: &FailoverLab, i: usize, primary: bool, skip: usize) {
    let mac = (0u8..=255)
        .map(|k| [0x02, 0x78, 0, 0, 1, k])
        .filter(|mac| {
            let mut id = vec![1u8];
            id.extend_from_slice(mac);
            (dhcp_core::failover::client_bucket(Some(&id), mac) < 128) == primary
        })
        .nth(skip)
        .expect("a MAC address in each half of the buckets");
    let text = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let c = &lab.clients[i];
    for args in [
        ["link", "set", c.ifname.as_str(), "down"].as_slice(),
        &["link", "set", &c.ifname, "address", &text],
        &["link", "set", &c.ifname, "up"],
    ] {
        c.ns.ip(args).unwrap();
    }
}

#[test]
fn the_floating_address_moves_to_the_passive_host_and_the_partner_returns_to_normal() {
    require_root!();
    const N: usize = 4;
    let mut lab = FailoverLab::new("fcl", N).expect("lab");
    let float = floating_lab(&mut lab, lan(11));
    let mut a2 = lab.spare_host(0, "a2").expect("the passive host");
    a2.ns
        .ip(["addr", "add", &format!("{}/24", lan(12)), "dev", &a2.lan_if])
        .unwrap();
    let t0 = Instant::now();

    // The active host a1 starts xdhcpd before it holds the floating address: it listens on it.
    let cfg_a = lab.xdhcpd_config(
        0,
        "socket",
        MODE,
        &format!("floating-address = true\n{TIMERS}"),
        LEASE,
    );
    let cfg_b = lab.xdhcpd_config(1, "socket", MODE, TIMERS, LEASE);
    lab.servers[0]
        .start(&cfg_a)
        .unwrap_or_else(|e| panic!("{e}"));
    lab.servers[1]
        .start(&cfg_b)
        .unwrap_or_else(|e| panic!("{e}"));
    let endpoint = format!("{float}:647");
    let bound = lab.servers[0]
        .log()
        .lines()
        .find(|l| l.contains("failover listener bound") && l.contains(&endpoint))
        .map(str::to_owned);
    assert!(
        bound
            .as_deref()
            .is_some_and(|l| l.contains("floating=true")),
        "a1 did not listen on {endpoint}:\n{}",
        lab.servers[0].log()
    );
    let ss = listeners(&lab.servers[0]);
    assert!(
        ss.contains(&endpoint),
        "a1's namespace has no listener on {endpoint}:\n{ss}"
    );
    println!("a1 listens on {endpoint}, which it does not hold yet:\n{ss}");
    std::thread::sleep(Duration::from_secs(3));
    for s in &lab.servers {
        assert_ne!(s.fo_state(REL).as_deref(), Some("normal"), "{}", s.name);
    }

    // The cluster manager gives a1 the address: the pair reaches NORMAL.
    let given = Instant::now();
    take_address(&lab.servers[0], float);
    assert_normal(&[&lab.servers[0], &lab.servers[1]], Duration::from_secs(40));
    println!("NORMAL {:?} after a1 got {float}", given.elapsed());

    // Clients of both halves of the buckets: a's are answered from the floating address.
    for i in 0..N {
        set_client_mac(&lab, i, i % 2 == 0, i / 2);
    }
    let clients: Vec<Udhcpc> = (0..N).map(|i| Udhcpc::start(&lab, i)).collect();
    assert!(
        wait_until(Duration::from_secs(30), || clients
            .iter()
            .all(|c| c.last().is_some())),
        "not every client bound:\n{}",
        dump(&[&lab.servers[0], &lab.servers[1]])
    );
    let b_ip = lab.servers[1].lan_ip;
    let granted: Vec<(Ipv4Addr, Ipv4Addr)> = clients
        .iter()
        .map(|c| c.last().map(|(_, ip, sid)| (ip, sid)).unwrap())
        .collect();
    for (i, (_, sid)) in granted.iter().enumerate() {
        let want = if i % 2 == 0 { float } else { b_ip };
        assert_eq!(*sid, want, "client {i} answered by the wrong server");
    }
    assert!(
        wait_until(Duration::from_secs(10), || lab
            .active()
            .is_ok_and(|[a, b]| a == b && a.len() == N)),
        "lease tables differ: {:?}",
        lab.active()
    );
    let before = lab.active().unwrap()[0].clone();
    lab.assert_unique().unwrap();

    // a1 dies: off the network, its xdhcpd gone, the address taken off it (fenced). b notices
    // through the receive timer.
    let a1 = &mut lab.servers[0];
    a1.ns.ip(["link", "set", &a1.lan_if, "down"]).unwrap();
    a1.stop_with(libc::SIGKILL).unwrap();
    a1.ns
        .ip(["addr", "del", &format!("{float}/24"), "dev", &a1.lan_if])
        .unwrap();
    let died = Instant::now();
    let seen: Vec<usize> = clients.iter().map(|c| c.events().len()).collect();
    assert!(
        lab.servers[1].wait_fo_state(REL, "communications-interrupted", Duration::from_secs(20)),
        "{}",
        lab.servers[1].log()
    );
    println!("b noticed after {:?}", died.elapsed());

    // The cluster manager moves the address to a2 and starts xdhcpd there: the same
    // configuration, the same state directory.
    take_address(&a2, float);
    a2.start(&cfg_a).unwrap_or_else(|e| panic!("{e}"));
    assert_normal(&[&a2, &lab.servers[1]], Duration::from_secs(40));
    println!("NORMAL again {:?} after a1 died", died.elapsed());

    // Every lease is still in both tables (a2's is a1's journal).
    assert!(
        leases_kept(&lab, &before),
        "leases lost in the move: before {before:?}, now {:?}\n{}",
        lab.active(),
        dump(&[&a2, &lab.servers[1]])
    );
    lab.assert_unique().unwrap();

    // a's clients renew their addresses through the floating address, now a2's.
    let renewed = wait_until(Duration::from_secs(60), || {
        (0..N).step_by(2).all(|i| {
            clients[i].events()[seen[i]..]
                .iter()
                .any(|(ev, ip, sid)| ev == "renew" && *ip == granted[i].0 && *sid == float)
        })
    });
    assert!(
        renewed,
        "a's clients did not renew through {float}:\n{}",
        dump(&[&a2, &lab.servers[1]])
    );
    lab.assert_unique().unwrap();
    println!(
        "a's clients renewed with a2 {:?} after a1 died",
        died.elapsed()
    );

    // A planned move back: the cluster manager stops xdhcpd on a2, which tells b it is going
    // (SHUTDOWN: b goes PARTNER-DOWN and serves every client), moves the address to a1 and
    // starts xdhcpd there. a1 comes back through RECOVER, and the pair returns to NORMAL.
    a2.stop_with(libc::SIGTERM).unwrap();
    a2.ns
        .ip(["addr", "del", &format!("{float}/24"), "dev", &a2.lan_if])
        .unwrap();
    let stopped = Instant::now();
    assert!(
        lab.servers[1].wait_fo_state(REL, "partner-down", Duration::from_secs(10)),
        "{}",
        lab.servers[1].log()
    );
    let a1 = &mut lab.servers[0];
    a1.ns.ip(["link", "set", &a1.lan_if, "up"]).unwrap();
    take_address(a1, float);
    a1.start(&cfg_a).unwrap_or_else(|e| panic!("{e}"));
    assert_normal(&[&lab.servers[0], &lab.servers[1]], Duration::from_secs(60));
    println!("NORMAL again {:?} after a2 stopped", stopped.elapsed());
    assert!(
        leases_kept(&lab, &before),
        "leases lost in the move back: before {before:?}, now {:?}",
        lab.active(),
    );
    lab.assert_unique().unwrap();
    println!("{:?} in all", t0.elapsed());
    drop(clients);
}

#[test]
fn an_absent_local_address_is_a_warning_and_listening_is_tried_again() {
    require_root!();
    let mut lab = FailoverLab::new("fca", 0).expect("lab");
    let float = floating_lab(&mut lab, lan(11));
    for i in 0..2 {
        let cfg = lab.xdhcpd_config(i, "socket", MODE, TIMERS, LEASE);
        lab.servers[i].start(&cfg).unwrap_or_else(|e| panic!("{e}"));
    }
    let a = &mut lab.servers[0];
    let warning = format!("failover {REL}: local-address {float}:647 is not on this host");
    assert!(a.log().contains(&warning), "{}", a.log());
    assert!(a.running(), "a exited:\n{}", a.log());
    assert!(!listeners(a).contains(&format!("{float}:647")));

    let given = Instant::now();
    take_address(a, float);
    assert!(
        wait_until(Duration::from_secs(10), || listeners(a)
            .contains(&format!("{float}:647"))),
        "a did not listen once it had the address:\n{}",
        a.log()
    );
    println!("a listens {:?} after it got {float}", given.elapsed());
    assert_normal(&[&lab.servers[0], &lab.servers[1]], Duration::from_secs(40));
}

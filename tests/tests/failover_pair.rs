//! Two xdhcpd in a failover relationship, in network namespaces with real clients (udhcpc):
//! load balancing by hash bucket, a lease renewed by the server that did not grant it, a
//! SIGKILLed partner, PARTNER-DOWN by the state switchover interval and the partner's pool
//! after MCLT, recovery after the restart, a cut failover link and its heal, hot standby.
//! Uniqueness is checked over both lease tables throughout. Needs root.

use std::{
    collections::HashMap,
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use xdhcp_tests::{
    failover_lab::{FailoverLab, Udhcpc, wait_until},
    require_root,
};

const REL: &str = "lab-pair";
const MCLT: u64 = 30;
/// Short leases: renewals at 20 s, rebinding at 35 s.
const LEASE: &str = "{ default = 40, min = 10, max = 40 }";

fn start_pair(lab: &mut FailoverLab, backend: &str, mode: &str, extra: &str) {
    lab.start_pair_normal(REL, |lab, i| {
        lab.xdhcpd_config(i, backend, mode, extra, LEASE)
    });
}

fn dump_logs(lab: &FailoverLab) -> String {
    lab.servers
        .iter()
        .map(|s| format!("--- {} ---\n{}", s.name, s.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The server that should answer a client in NORMAL with a 50 % split (RFC 3074 bucket of
/// udhcpc's client identifier: type 1 + MAC; buckets below 128 are the primary's).
fn expected_server(mac: &[u8; 6], lab: &FailoverLab) -> Ipv4Addr {
    let mut id = vec![1u8];
    id.extend_from_slice(mac);
    let bucket = dhcp_core::failover::client_bucket(Some(&id), mac);
    if bucket < 128 {
        lab.servers[0].lan_ip
    } else {
        lab.servers[1].lan_ip
    }
}

/// Gives client 0 the address perfdhcp sends from (10.78.0.50, on the LAN).
fn relay_address(lab: &FailoverLab) {
    let c = &lab.clients[0];
    c.ns.ip(["addr", "add", "10.78.0.50/24", "dev", &c.ifname])
        .unwrap();
}

/// perfdhcp's avalanche of `clients` from client 0 toward `server`; its output.
fn avalanche(lab: &FailoverLab, clients: u32, server: Ipv4Addr) -> String {
    let mut perf = lab.clients[0].ns.command("perfdhcp");
    perf.args([
        "-4",
        "--scenario",
        "avalanche",
        "-l",
        "10.78.0.50",
        "-u",
        "-R",
    ])
    .arg(clients.to_string())
    .arg(server.to_string());
    xdhcp_tests::lab::run_for("perfdhcp", perf, Duration::from_secs(60))
        .unwrap()
        .1
}

fn wait_converged(lab: &FailoverLab, want: usize, timeout: Duration) -> bool {
    wait_until(timeout, || {
        let Ok([a, b]) = lab.active() else {
            return false;
        };
        a == b && a.len() >= want
    })
}

#[test]
fn load_balance_kill_switchover_partner_pool_and_recovery() {
    require_root!();
    const N: usize = 10;
    let mut lab = FailoverLab::new("fol", N).expect("lab");
    let extra = format!("mclt = {MCLT}\nstate-switchover-interval = 5");
    start_pair(&mut lab, "socket", "load-balance-percent = 50", &extra);
    let t0 = Instant::now();

    // Every client is answered by the server its hash bucket names.
    let clients: Vec<Udhcpc> = (0..N).map(|i| Udhcpc::start(&lab, i)).collect();
    assert!(
        wait_until(Duration::from_secs(30), || clients
            .iter()
            .all(|c| c.last().is_some())),
        "not every client bound:\n{}",
        dump_logs(&lab)
    );
    let mut granted = HashMap::new();
    for (i, c) in clients.iter().enumerate() {
        let (ev, ip, sid) = c.last().unwrap();
        assert_eq!(ev, "bound");
        assert_eq!(
            sid,
            expected_server(&c.mac, &lab),
            "client {i} answered by the wrong server"
        );
        granted.insert(i, (ip, sid));
    }
    let by_a = granted
        .values()
        .filter(|(_, s)| *s == lab.servers[0].lan_ip)
        .count();
    println!(
        "{N} clients bound in {:?}: {by_a} by a, {} by b",
        t0.elapsed(),
        N - by_a
    );

    // Both lease tables hold every lease, and no address twice.
    assert!(
        wait_converged(&lab, N, Duration::from_secs(10)),
        "lease tables differ: {:?}\n{}",
        lab.active().unwrap(),
        dump_logs(&lab)
    );
    assert_eq!(lab.assert_unique().unwrap(), N);

    // SIGKILL the primary: b goes COMMUNICATIONS-INTERRUPTED, then PARTNER-DOWN after the
    // switchover interval; a's clients rebind to b and keep their addresses.
    lab.servers[0].stop_with(libc::SIGKILL).unwrap();
    let b = &lab.servers[1];
    assert!(
        b.wait_fo_state(REL, "communications-interrupted", Duration::from_secs(40)),
        "{}",
        b.log()
    );
    assert!(
        b.wait_fo_state(REL, "partner-down", Duration::from_secs(20)),
        "{}",
        b.log()
    );
    let a_ip = lab.servers[0].lan_ip;
    let b_ip = b.lan_ip;
    let rebound = wait_until(Duration::from_secs(60), || {
        granted
            .iter()
            .filter(|(_, (_, s))| *s == a_ip)
            .all(|(i, (ip, _))| {
                clients[*i]
                    .events()
                    .iter()
                    .any(|(ev, eip, sid)| ev == "renew" && eip == ip && *sid == b_ip)
            })
    });
    assert!(
        rebound,
        "a's clients were not renewed by b:\n{}",
        dump_logs(&lab)
    );
    println!("a's clients renewed by b after {:?}", t0.elapsed());

    // After MCLT in PARTNER-DOWN, b also leases a's free addresses: 70 new clients (perfdhcp,
    // relayed through client 0's address) need more than b's own half of the pool.
    drop(clients);
    let pd_at = Instant::now();
    relay_address(&lab);
    std::thread::sleep(Duration::from_secs(MCLT + 1).saturating_sub(pd_at.elapsed()));
    let out = avalanche(&lab, 70, b_ip);
    let b_active = lab.active().unwrap()[1].len();
    println!("b holds {b_active} active leases after perfdhcp in PARTNER-DOWN");
    assert!(
        b_active >= 70,
        "b did not use a's pool after MCLT ({b_active} active):\n{out}\n{}",
        dump_logs(&lab)
    );
    lab.assert_unique().unwrap();

    // The primary comes back from its journal: RECOVER, then both NORMAL, tables converge.
    let cfg = lab.xdhcpd_config(0, "socket", "load-balance-percent = 50", &extra, LEASE);
    lab.servers[0].start(&cfg).unwrap();
    for s in &lab.servers {
        assert!(
            s.wait_fo_state(REL, "normal", Duration::from_secs(MCLT + 60)),
            "{} did not return to NORMAL:\n{}",
            s.name,
            dump_logs(&lab)
        );
    }
    assert!(
        lab.servers[0].log().contains("-> recover"),
        "a went through RECOVER"
    );
    assert!(wait_until(Duration::from_secs(10), || {
        let Ok([a, b]) = lab.active() else {
            return false;
        };
        a == b
    }));
    lab.assert_unique().unwrap();
    println!("recovered to NORMAL after {:?}", t0.elapsed());
}

#[test]
fn hot_standby_and_a_cut_failover_link_on_the_xdp_path() {
    require_root!();
    const N: usize = 6;
    let mut lab = FailoverLab::new("foh", N).expect("lab");
    let mode = "mode = \"hot-standby\"\nserver-role = \"{sr}\"\nreserve-percent = 20";
    let extra = format!("mclt = {MCLT}\nreceive-timer = 3");
    start_pair(&mut lab, "xdp", mode, &extra);
    let (a_ip, b_ip) = (lab.servers[0].lan_ip, lab.servers[1].lan_ip);

    // Hot standby in NORMAL: the active server answers everybody.
    let first: Vec<Udhcpc> = (0..N / 2).map(|i| Udhcpc::start(&lab, i)).collect();
    assert!(
        wait_until(Duration::from_secs(30), || first
            .iter()
            .all(|c| c.last().is_some())),
        "not every client bound:\n{}",
        dump_logs(&lab)
    );
    for c in &first {
        assert_eq!(
            c.last().unwrap().2,
            a_ip,
            "only the active server answers in NORMAL"
        );
    }
    assert!(
        wait_converged(&lab, N / 2, Duration::from_secs(10)),
        "{}",
        dump_logs(&lab)
    );

    // Cut the failover link: both notice through the receive timer and keep serving.
    lab.cut_link().unwrap();
    for s in &lab.servers {
        assert!(
            s.wait_fo_state(REL, "communications-interrupted", Duration::from_secs(20)),
            "{} did not notice the cut:\n{}",
            s.name,
            s.log()
        );
    }
    // New clients meanwhile: answered (by either: both are on the LAN), and the standby
    // serves relayed clients from its reserve.
    let more: Vec<Udhcpc> = (N / 2..N).map(|i| Udhcpc::start(&lab, i)).collect();
    assert!(
        wait_until(Duration::from_secs(30), || more
            .iter()
            .all(|c| c.last().is_some())),
        "new clients were not served during the cut:\n{}",
        dump_logs(&lab)
    );
    relay_address(&lab);
    let out = avalanche(&lab, 8, b_ip);
    let [_, b_during] = lab.active().unwrap();
    assert!(
        b_during.len() >= 8,
        "the standby did not serve from its reserve:\n{out}"
    );
    lab.assert_unique().unwrap();

    // Heal: both return to NORMAL and the tables converge.
    lab.heal_link().unwrap();
    for s in &lab.servers {
        assert!(
            s.wait_fo_state(REL, "normal", Duration::from_secs(40)),
            "{} did not return to NORMAL:\n{}",
            s.name,
            dump_logs(&lab)
        );
    }
    assert!(
        wait_converged(&lab, N + 8, Duration::from_secs(20)),
        "tables did not converge after the heal: {:?}\n{}",
        lab.active().unwrap(),
        dump_logs(&lab)
    );
    assert_eq!(lab.assert_unique().unwrap(), lab.active().unwrap()[0].len());
    drop((first, more));
}

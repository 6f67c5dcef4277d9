//! Real DHCP clients against xdhcpd in network namespaces, on the AF_XDP path and on the
//! socket path: dhclient, udhcpc and dhcpcd each obtain, renew and release a lease. Needs root.

use std::time::Duration;

use xdhcp_tests::{
    lab::{Background, DhcpLab},
    require_root,
};

const SHORT_LEASE: &str = "lease = { default = 20, min = 10, max = 20 }";

fn real_clients(backend: &str, tag: &str) {
    let mut lab = DhcpLab::new(tag, 3).expect("lab");
    let cfg = lab.config(backend, "", SHORT_LEASE);
    lab.start(&cfg).expect("xdhcpd starts");

    // udhcpc on link 0: its hook gets the event as $1 and the address as $ip, prefix as $mask.
    let l0 = &lab.links[0];
    let u_hook = lab.hook("udhcpc", "1", "ip", "mask", true).unwrap();
    let mut u = l0.ns.command("udhcpc");
    u.args([
        "-i", &l0.ifname, "-f", "-t", "5", "-T", "1", "-A", "1", "-s",
    ])
    .arg(&u_hook);
    let udhcpc = Background::spawn("udhcpc", u).unwrap();

    // dhclient on link 1 (foreground, our hook, private lease and pid files).
    let l1 = &lab.links[1];
    let d_hook = lab
        .hook("dhclient", "reason", "new_ip_address", "new_prefix", true)
        .unwrap();
    let lf = lab.dir.join("dhclient.leases");
    let pf = lab.dir.join("dhclient.pid");
    let mut d = l1.ns.command("dhclient");
    d.args(["-4", "-d", "-sf"])
        .arg(&d_hook)
        .arg("-lf")
        .arg(&lf)
        .arg("-pf")
        .arg(&pf)
        .arg(&l1.ifname);
    let dhclient = Background::spawn("dhclient", d).unwrap();

    // dhcpcd on link 2 (configures the address itself; our hook only logs).
    let l2 = &lab.links[2];
    let c_hook = lab
        .hook("dhcpcd", "reason", "new_ip_address", "new_prefix", false)
        .unwrap();
    let mut c = l2.ns.command("dhcpcd");
    c.args(["-4", "-B", "-d", "-f", "/dev/null", "-t", "20", "-c"])
        .arg(&c_hook)
        .arg(&l2.ifname);
    let dhcpcd = Background::spawn("dhcpcd", c).unwrap();

    let t = Duration::from_secs(20);
    let ub = lab.wait_event("udhcpc", "bound", t).expect("udhcpc bound");
    let db = lab
        .wait_event("dhclient", "BOUND", t)
        .expect("dhclient bound");
    let cb = lab.wait_event("dhcpcd", "BOUND", t).expect("dhcpcd bound");
    println!("{backend}: udhcpc {ub}; dhclient {db}; dhcpcd {cb}");
    for (ev, link) in [(&ub, 0usize), (&db, 1), (&cb, 2)] {
        let addr: std::net::Ipv4Addr = ev.split_whitespace().nth(1).unwrap().parse().unwrap();
        let n = lab.links[link].network.octets();
        assert_eq!(
            &addr.octets()[..3],
            &n[..3],
            "address from the link's own subnet"
        );
    }

    // Renewals: udhcpc on demand (SIGUSR1); dhclient and dhcpcd at T1 (10 s).
    udhcpc.signal(libc::SIGUSR1);
    let t = Duration::from_secs(25);
    let ur = lab
        .wait_event("udhcpc", "renew", t)
        .expect("udhcpc renewed");
    let dr = lab
        .wait_event("dhclient", "RENEW", t)
        .expect("dhclient renewed at T1");
    let cr = lab
        .wait_event("dhcpcd", "RENEW", t)
        .expect("dhcpcd renewed at T1");
    println!("{backend}: renewed: udhcpc {ur}; dhclient {dr}; dhcpcd {cr}");

    // Releases.
    udhcpc.signal(libc::SIGUSR2);
    lab.wait_event("udhcpc", "deconfig", Duration::from_secs(5))
        .expect("udhcpc released");
    let mut rel = l1.ns.command("dhclient");
    rel.args(["-4", "-r", "-sf"])
        .arg(&d_hook)
        .arg("-lf")
        .arg(&lf)
        .arg("-pf")
        .arg(&pf)
        .arg(&l1.ifname);
    let (ok, out) = xdhcp_tests::lab::run_for("dhclient -r", rel, Duration::from_secs(10)).unwrap();
    assert!(ok, "{out}");
    let (ok, out) = xdhcp_tests::lab::run_for(
        "dhcpcd -k",
        {
            let mut k = l2.ns.command("dhcpcd");
            k.args(["-4", "-k"]).arg(&l2.ifname);
            k
        },
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(ok, "{out}");

    // The server's journal: each client's address went active and then released.
    let t0 = std::time::Instant::now();
    let released = loop {
        let leases = lab.leases().unwrap();
        let released: Vec<_> = leases.iter().filter(|l| l.state == "released").collect();
        if released.len() >= 3 || t0.elapsed() > Duration::from_secs(5) {
            break leases;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for (ev, name) in [(&ub, "udhcpc"), (&db, "dhclient"), (&cb, "dhcpcd")] {
        let addr: std::net::Ipv4Addr = ev.split_whitespace().nth(1).unwrap().parse().unwrap();
        let l = released
            .iter()
            .find(|l| l.address == addr)
            .unwrap_or_else(|| panic!("{name}: {addr} not in the journal: {released:?}"));
        assert_eq!(l.state, "released", "{name}: {l:?}");
    }
    let log = lab.stop().unwrap();
    assert!(log.contains("xdhcpd stopped"), "{log}");
    for b in [udhcpc, dhclient, dhcpcd] {
        let (_, out) = b.finish(Duration::from_secs(1));
        if std::env::var_os("XDHCP_TEST_VERBOSE").is_some() {
            println!("{out}");
        }
    }
}

#[test]
fn dhclient_udhcpc_dhcpcd_on_the_xdp_path() {
    require_root!();
    real_clients("xdp", "rx");
}

#[test]
fn dhclient_udhcpc_dhcpcd_on_the_socket_path() {
    require_root!();
    real_clients("socket", "rs");
}

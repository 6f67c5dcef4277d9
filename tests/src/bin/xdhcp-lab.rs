//! `cargo xtask lab`: xdhcpd in a network-namespace lab with real clients.
//!
//! Creates a server namespace and three client namespaces (one veth link and one subnet each),
//! starts xdhcpd on the AF_XDP path with the configuration printed below, runs dhclient,
//! udhcpc and dhcpcd (one per link) and a short perfdhcp load as a relay, then prints what
//! happened: the leases each client got, perfdhcp's figures, the lease table from the journal,
//! and the server's counters. Everything is removed at the end.

use std::{collections::BTreeMap, time::Duration};

use xdhcp_tests::{
    lab::{Background, DhcpLab, run_for},
    netns::is_root,
};

const PERF_SUBNET: &str =
    "[[subnet]]\nid = 80\nnetwork = \"10.80.0.0/12\"\npools = [\"10.80.1.0-10.95.255.250\"]\n";

fn main() -> std::process::ExitCode {
    if !is_root() {
        eprintln!("xdhcp-lab needs root (network namespaces, XDP); run `sudo cargo xtask lab`");
        return std::process::ExitCode::FAILURE;
    }
    let secs: u32 = std::env::var("XDHCP_LAB_PERF_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    match run(secs) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdhcp-lab: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn section(title: &str) {
    println!("\n== {title} ==");
}

fn run(perf_secs: u32) -> Result<(), String> {
    let e = |x: std::io::Error| x.to_string();
    let mut lab = DhcpLab::new("lab", 3).map_err(e)?;
    // perfdhcp on link 0 acts as a relay for 10.80.0.0/12.
    let l0 = &lab.links[0];
    l0.ns
        .ip(["addr", "add", "10.77.1.2/24", "dev", &l0.ifname])
        .map_err(e)?;
    l0.ns
        .ip(["addr", "add", "10.80.0.1/12", "dev", &l0.ifname])
        .map_err(e)?;
    lab.server
        .ip(["route", "add", "10.80.0.0/12", "via", "10.77.1.2"])
        .map_err(e)?;
    let cfg = lab.config_with("xdp", "", "", PERF_SUBNET);
    section("xdhcpd configuration (embedded default)");
    println!("{cfg}");
    lab.start(&cfg).map_err(e)?;
    section("xdhcpd start-up");
    for l in lab.log().map_err(e)?.lines() {
        println!("{l}");
    }

    section("real clients");
    let (l0, l1, l2) = (&lab.links[0], &lab.links[1], &lab.links[2]);
    let dh = lab
        .hook("dhclient", "reason", "new_ip_address", "new_prefix", false)
        .map_err(e)?;
    let mut d = l0.ns.command("dhclient");
    d.args(["-4", "-d", "-sf"])
        .arg(&dh)
        .arg("-lf")
        .arg(lab.dir.join("dhclient.leases"))
        .arg("-pf")
        .arg(lab.dir.join("dhclient.pid"))
        .arg(&l0.ifname);
    let dhclient = Background::spawn("dhclient", d).map_err(e)?;
    let uh = lab.hook("udhcpc", "1", "ip", "mask", true).map_err(e)?;
    let mut u = l1.ns.command("udhcpc");
    u.args(["-i", &l1.ifname, "-f", "-t", "5", "-T", "1", "-s"])
        .arg(&uh);
    let udhcpc = Background::spawn("udhcpc", u).map_err(e)?;
    let ch = lab
        .hook("dhcpcd", "reason", "new_ip_address", "new_prefix", false)
        .map_err(e)?;
    let mut c = l2.ns.command("dhcpcd");
    c.args(["-4", "-B", "-f", "/dev/null", "-t", "20", "-c"])
        .arg(&ch)
        .arg(&l2.ifname);
    let dhcpcd = Background::spawn("dhcpcd", c).map_err(e)?;
    for (name, prefix) in [
        ("dhclient", "BOUND"),
        ("udhcpc", "bound"),
        ("dhcpcd", "BOUND"),
    ] {
        match lab.wait_event(name, prefix, Duration::from_secs(20)) {
            Some(ev) => println!("{name:<9} {ev}"),
            None => println!("{name:<9} got no lease within 20 s"),
        }
    }

    section(&format!(
        "perfdhcp: {perf_secs} s at 2,000 exchanges/s, 20,000 clients, as relay 10.80.0.1"
    ));
    let mut p = lab.links[0].ns.command("perfdhcp");
    p.args([
        "-4",
        "-l",
        "10.80.0.1",
        "-R",
        "20000",
        "-r",
        "2000",
        "-p",
        &perf_secs.to_string(),
        "10.77.1.1",
    ]);
    let (_, out) = run_for(
        "perfdhcp",
        p,
        Duration::from_secs(u64::from(perf_secs) + 30),
    )
    .map_err(e)?;
    for l in out.lines().filter(|l| {
        l.starts_with("Rate")
            || l.starts_with("***Statistics")
            || l.starts_with("sent packets")
            || l.starts_with("received packets")
            || l.starts_with("drops")
            || l.starts_with("avg delay")
    }) {
        println!("{l}");
    }

    // Release the real clients' leases, then stop the server cleanly.
    udhcpc.signal(libc::SIGUSR2);
    let _ = lab.wait_event("udhcpc", "deconfig", Duration::from_secs(3));
    for b in [dhclient, udhcpc, dhcpcd] {
        b.signal(libc::SIGTERM);
        b.finish(Duration::from_secs(3));
    }
    let log = lab.stop().map_err(e)?;

    section("lease table (journal)");
    let leases = lab.leases().map_err(e)?;
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for l in &leases {
        *by_state.entry(l.state.clone()).or_default() += 1;
    }
    println!(
        "{:<15} {:<9} {:<17} {:>6}  client",
        "address", "state", "hw-address", "subnet"
    );
    for l in leases.iter().filter(|l| l.subnet != 80) {
        println!(
            "{:<15} {:<9} {:<17} {:>6}  {}",
            l.address.to_string(),
            l.state,
            l.hw,
            l.subnet,
            l.client
        );
    }
    let perf: Vec<_> = leases.iter().filter(|l| l.subnet == 80).collect();
    if let (Some(first), Some(last)) = (perf.first(), perf.last()) {
        println!(
            "… and {} perfdhcp leases in subnet 80, {} to {}",
            perf.len(),
            first.address,
            last.address
        );
    }
    println!("by state: {by_state:?}");

    section("server counters");
    if let Some(l) = log.lines().rev().find(|l| l.contains("xdhcpd stopped")) {
        println!("{l}");
    }
    Ok(())
}

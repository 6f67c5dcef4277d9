//! Failover interop with ISC dhcpd 4.4 in network namespaces, both ways round: xdhcpd primary
//! with dhcpd secondary, and dhcpd primary with xdhcpd secondary. They reach NORMAL, pool
//! balancing moves free addresses to the secondary, a lease granted by either shows up in the
//! other's lease table, restarting either returns both to NORMAL, and stopping dhcpd drives
//! xdhcpd to COMMUNICATIONS-INTERRUPTED. Needs root and `dhcpd` (isc-dhcp-server).

use std::{collections::BTreeSet, net::Ipv4Addr, time::Duration};

use xdhcp_tests::{
    failover_lab::{FailoverLab, Udhcpc, wait_until},
    require_root,
};

const REL: &str = "lab-pair";
const MCLT: u32 = 30;
const LEASE: &str = "{ default = 40, min = 10, max = 40 }";
const CLIENTS: usize = 8;

fn have_dhcpd() -> bool {
    std::process::Command::new("sh")
        .args(["-c", "command -v dhcpd"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn logs(lab: &FailoverLab) -> String {
    lab.servers
        .iter()
        .map(|s| format!("--- {} ---\n{}", s.name, s.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `x` is the index of the xdhcpd server (0: primary, 1: secondary); the other runs dhcpd.
fn interop(x: usize, tag: &str) {
    if !have_dhcpd() {
        panic!("dhcpd (isc-dhcp-server) is not installed: `cargo xtask setup` installs it");
    }
    let d = 1 - x;
    let mut lab = FailoverLab::new(tag, CLIENTS).expect("lab");
    lab.secret = None;
    let mode = "load-balance-percent = 50";
    let xcfg = lab.xdhcpd_config(
        x,
        "socket",
        mode,
        &format!("mclt = {MCLT}\npartner-software = \"isc-dhcpd\""),
        LEASE,
    );
    let dcfg = lab.dhcpd_config(d, MCLT);
    lab.servers[d].start_dhcpd(&dcfg).unwrap();
    lab.servers[x]
        .start(&xcfg)
        .unwrap_or_else(|e| panic!("{e}"));

    // Both reach NORMAL.
    assert!(
        lab.servers[x].wait_fo_state(REL, "normal", Duration::from_secs(60)),
        "xdhcpd did not reach NORMAL:\n{}",
        logs(&lab)
    );
    assert!(
        wait_until(Duration::from_secs(30), || lab.servers[d]
            .dhcpd_moves_to("normal")
            >= 1),
        "dhcpd did not reach NORMAL:\n{}",
        logs(&lab)
    );

    // Pool balancing: the secondary owns part of the free addresses (BACKUP).
    let balanced = wait_until(Duration::from_secs(30), || {
        if x == 0 {
            lab.servers[d]
                .dhcpd_leases()
                .iter()
                .filter(|(_, s)| s == "backup")
                .count()
                >= 40
        } else {
            lab.servers[x]
                .leases()
                .unwrap_or_default()
                .iter()
                .filter(|l| l.state == "backup")
                .count()
                >= 40
        }
    });
    assert!(
        balanced,
        "no pool balancing toward the secondary:\n{}",
        logs(&lab)
    );

    // Leases from either server show up in both tables.
    let clients: Vec<Udhcpc> = (0..CLIENTS).map(|i| Udhcpc::start(&lab, i)).collect();
    assert!(
        wait_until(Duration::from_secs(40), || clients
            .iter()
            .all(|c| c.last().is_some())),
        "not every client bound:\n{}",
        logs(&lab)
    );
    let addrs: BTreeSet<Ipv4Addr> = clients.iter().map(|c| c.last().unwrap().1).collect();
    let servers: BTreeSet<Ipv4Addr> = clients.iter().map(|c| c.last().unwrap().2).collect();
    println!("{} clients bound; answered by {servers:?}", addrs.len());
    assert_eq!(addrs.len(), CLIENTS, "every client has its own address");
    let in_both = wait_until(Duration::from_secs(20), || {
        let x_active: BTreeSet<Ipv4Addr> = lab.servers[x]
            .leases()
            .unwrap_or_default()
            .iter()
            .filter(|l| l.state == "active")
            .map(|l| l.address)
            .collect();
        let d_active: BTreeSet<Ipv4Addr> = lab.servers[d]
            .dhcpd_leases()
            .into_iter()
            .filter(|(_, s)| s == "active")
            .map(|(a, _)| a)
            .collect();
        addrs.is_subset(&x_active) && addrs.is_subset(&d_active)
    });
    assert!(in_both, "leases not in both tables:\n{}", logs(&lab));

    // Restart dhcpd: both back to NORMAL.
    let before = lab.servers[d].dhcpd_moves_to("normal");
    lab.servers[d].stop_with(libc::SIGTERM).unwrap();
    assert!(
        lab.servers[x].wait_fo_state(REL, "communications-interrupted", Duration::from_secs(40)),
        "stopping dhcpd did not interrupt xdhcpd:\n{}",
        logs(&lab)
    );
    lab.servers[d].start_dhcpd(&dcfg).unwrap();
    assert!(
        wait_until(Duration::from_secs(90), || lab.servers[d]
            .dhcpd_moves_to("normal")
            > before
            && lab.servers[x].fo_state(REL).as_deref() == Some("normal")),
        "not both NORMAL after restarting dhcpd:\n{}",
        logs(&lab)
    );

    // Restart xdhcpd: both back to NORMAL.
    let before = lab.servers[d].dhcpd_moves_to("normal");
    lab.servers[x].stop_with(libc::SIGTERM).unwrap();
    lab.servers[x].start(&xcfg).unwrap();
    assert!(
        wait_until(Duration::from_secs(90), || lab.servers[d]
            .dhcpd_moves_to("normal")
            > before
            && lab.servers[x].fo_state(REL).as_deref() == Some("normal")),
        "not both NORMAL after restarting xdhcpd:\n{}",
        logs(&lab)
    );
    // The leases survived both restarts on the xdhcpd side.
    let x_active: BTreeSet<Ipv4Addr> = lab.servers[x]
        .leases()
        .unwrap()
        .iter()
        .filter(|l| l.state == "active")
        .map(|l| l.address)
        .collect();
    assert!(
        addrs.is_subset(&x_active),
        "xdhcpd lost leases: {x_active:?}"
    );

    // Stopping dhcpd drives xdhcpd to COMMUNICATIONS-INTERRUPTED.
    lab.servers[d].stop_with(libc::SIGTERM).unwrap();
    assert!(
        lab.servers[x].wait_fo_state(REL, "communications-interrupted", Duration::from_secs(40)),
        "{}",
        logs(&lab)
    );
    drop(clients);
}

#[test]
fn xdhcpd_primary_with_isc_dhcpd_secondary() {
    require_root!();
    interop(0, "fip");
}

#[test]
fn isc_dhcpd_primary_with_xdhcpd_secondary() {
    require_root!();
    interop(1, "fis");
}

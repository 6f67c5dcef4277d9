//! Load and crash safety with perfdhcp: 100,000 distinct clients get unique addresses; an
//! xdhcpd killed with SIGKILL mid-run restarts with every ACKed lease still bound to the same
//! client, and those clients' renewals get ACKs. Needs root.

use std::{collections::HashMap, net::Ipv4Addr, time::Duration};

use dhcp_wire::{
    dhcp::{DhcpPacket, DhcpWriter, MessageType, Op, OptionCode},
    frame::{
        LinkMeta, MacAddr, UdpMeta, VlanStack, parse_udp_frame, udp_headers_len, write_udp_headers,
    },
};
use xdhcp_tests::{
    frames::{PacketSocket, pcap_frames},
    lab::{Background, DhcpLab, run_for},
    require_root,
};

/// A /12 for perfdhcp's relay address and its clients.
const BIG_SUBNET: &str =
    "[[subnet]]\nid = 80\nnetwork = \"10.80.0.0/12\"\npools = [\"10.80.1.0-10.95.255.250\"]\n";

/// Sets up link 0 for perfdhcp in relay mode (giaddr 10.80.0.1) and starts the daemon.
fn perf_lab(tag: &str, backend: &str) -> DhcpLab {
    let mut lab = DhcpLab::new(tag, 1).expect("lab");
    let l = &lab.links[0];
    l.ns.ip(["addr", "add", "10.77.1.2/24", "dev", &l.ifname])
        .unwrap();
    l.ns.ip(["addr", "add", "10.80.0.1/12", "dev", &l.ifname])
        .unwrap();
    lab.server
        .ip(["route", "add", "10.80.0.0/12", "via", "10.77.1.2"])
        .unwrap();
    let cfg = lab.config_with(backend, "", "", BIG_SUBNET);
    lab.start(&cfg).expect("xdhcpd starts");
    lab
}

fn avalanche(lab: &DhcpLab, clients: u32) -> std::process::Command {
    let l = &lab.links[0];
    let mut c = l.ns.command("perfdhcp");
    c.args([
        "-4",
        "--scenario",
        "avalanche",
        "-l",
        "10.80.0.1",
        "-u",
        "-R",
        &clients.to_string(),
        "10.77.1.1",
    ]);
    c
}

fn perfdhcp(lab: &DhcpLab, clients: u32, rate: u32, secs: u32) -> std::process::Command {
    let l = &lab.links[0];
    let mut c = l.ns.command("perfdhcp");
    c.args([
        "-4",
        "-l",
        "10.80.0.1",
        "-u",
        "-R",
        &clients.to_string(),
        "-r",
        &rate.to_string(),
    ])
    .args(["-p", &secs.to_string(), "-W", "1000000", "10.77.1.1"]);
    c
}

/// perfdhcp's `-u` counts every address it sees twice, so a client that asks again (perfdhcp's
/// basic scenario picks clients at random) counts even when it rightly gets its own address
/// back. The avalanche scenario runs each of the `-R` clients through DORA exactly once, so
/// there any non-unique address is a real duplicate.
#[test]
fn perfdhcp_100k_clients_get_unique_addresses() {
    require_root!();
    let mut lab = perf_lab("pu", "xdp");
    let (ok, out) = run_for(
        "perfdhcp",
        avalanche(&lab, 100_000),
        Duration::from_secs(240),
    )
    .unwrap();
    let summary: Vec<&str> = out
        .lines()
        .filter(|l| !l.contains("still waiting"))
        .collect();
    let summary = summary.join("\n");
    assert!(ok, "perfdhcp did not finish:\n{summary}");
    println!("{summary}");
    let non_unique: Vec<u64> = out
        .lines()
        .filter(|l| l.contains("non unique addresses"))
        .filter_map(|l| l.rsplit(':').next()?.trim().parse().ok())
        .collect();
    assert_eq!(
        non_unique.len(),
        2,
        "perfdhcp printed no uniqueness figures:\n{summary}"
    );
    assert!(
        non_unique.iter().all(|&n| n == 0),
        "non-unique addresses: {non_unique:?}"
    );
    assert!(
        out.contains("to provision 100000 clients"),
        "not every client provisioned:\n{summary}"
    );
    // The server agrees: 100,000 active bindings, one per client.
    let leases = lab.leases().unwrap();
    let active: Vec<_> = leases.iter().filter(|l| l.state == "active").collect();
    let mut by_client: HashMap<&str, u32> = HashMap::new();
    for l in &active {
        *by_client.entry(l.client.as_str()).or_default() += 1;
    }
    assert!(
        by_client.values().all(|&n| n == 1),
        "a client holds two addresses"
    );
    assert_eq!(active.len(), 100_000);
    lab.stop().unwrap();
}

/// (chaddr, yiaddr, client id) of every DHCPACK in a capture.
type Acked = ([u8; 6], Ipv4Addr, Option<Vec<u8>>);

fn acks_in(pcap: &[u8]) -> Vec<Acked> {
    let mut v = Vec::new();
    for f in pcap_frames(pcap) {
        let Ok(u) = parse_udp_frame(&f) else { continue };
        let Ok(p) = DhcpPacket::new_checked(u.payload) else {
            continue;
        };
        let Ok(o) = p.options() else { continue };
        if o.message_type() == Some(MessageType::Ack) {
            let mut m = [0u8; 6];
            m.copy_from_slice(&p.chaddr()[..6]);
            let id = o.client_id().and_then(|v| v.as_slice().map(<[u8]>::to_vec));
            v.push((m, p.yiaddr(), id));
        }
    }
    v
}

/// A RENEWING DHCPREQUEST (unicast, ciaddr set) from `addr`/`mac` to the server.
fn renew_frame(acked: &Acked, src_mac: MacAddr, dst_mac: MacAddr, xid: u32) -> Vec<u8> {
    let (mac, addr, id) = acked;
    let (mac, addr) = (*mac, *addr);
    let mut payload = vec![0u8; 600];
    let mut w = DhcpWriter::new(&mut payload, 600, None).unwrap();
    w.set_op(Op::BootRequest);
    w.set_htype(1);
    w.set_hlen(6).unwrap();
    w.set_xid(xid);
    w.set_ciaddr(addr);
    w.set_chaddr(&mac).unwrap();
    w.option(OptionCode::MESSAGE_TYPE, &[3]).unwrap();
    if let Some(id) = id {
        w.option(OptionCode::CLIENT_ID, id).unwrap();
    }
    let n = w.finish();
    let link = LinkMeta {
        dst: dst_mac,
        src: src_mac,
        vlans: VlanStack::untagged(),
    };
    let udp = UdpMeta {
        src_ip: addr,
        dst_ip: Ipv4Addr::new(10, 77, 1, 1),
        src_port: 68,
        dst_port: 67,
        ttl: 64,
    };
    let hdr = udp_headers_len(&link.vlans);
    let mut f = vec![0u8; hdr + n];
    f[hdr..].copy_from_slice(&payload[..n]);
    write_udp_headers(&mut f, &link, &udp, 1, n).unwrap();
    f
}

fn mac_of(ns: &xdhcp_tests::netns::NetNs, dev: &str) -> MacAddr {
    let out = ns.ip(["link", "show", dev]).unwrap();
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let m = s
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap();
    let b: Vec<u8> = m
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).unwrap())
        .collect();
    MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
}

fn sigkill_mid_run(backend: &str, tag: &str) {
    let mut lab = perf_lab(tag, backend);
    let l = &lab.links[0];
    let cap = lab.dir.join("acks.pcap");
    let mut td = l.ns.command("tcpdump");
    td.args([
        "-i",
        &l.ifname,
        "-Z",
        "root",
        "--immediate-mode",
        "-U",
        "-n",
        "-w",
    ])
    .arg(&cap)
    .args(["udp", "port", "67"]);
    let tcpdump = Background::spawn("tcpdump", td).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let perf = Background::spawn("perfdhcp", perfdhcp(&lab, 50_000, 4_000, 6)).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let log = lab.stop_with(libc::SIGKILL).unwrap();
    let (_, perf_out) = perf.finish(Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(300));
    tcpdump.signal(libc::SIGINT);
    tcpdump.finish(Duration::from_secs(3));
    let acks = acks_in(&std::fs::read(&cap).unwrap());
    assert!(
        acks.len() > 1000,
        "only {} ACKs before the kill:\n{perf_out}\n{log}",
        acks.len()
    );
    assert!(
        !log.contains("xdhcpd stopped"),
        "the daemon was killed, not stopped"
    );

    // Restart; recovery replays the journal.
    let cfg = std::fs::read_to_string(lab.dir.join("xdhcpd.toml")).unwrap();
    lab.start(&cfg).expect("xdhcpd restarts");
    let leases = lab.leases().unwrap();
    let by_addr: HashMap<Ipv4Addr, &xdhcp_tests::lab::Lease> =
        leases.iter().map(|l| (l.address, l)).collect();
    let mut missing = Vec::new();
    for (mac, addr, _) in &acks {
        let hw = format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
        );
        match by_addr.get(addr) {
            Some(l) if l.state == "active" && l.hw == hw => {}
            other => missing.push((hw, *addr, other.map(|l| (l.state.clone(), l.hw.clone())))),
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} ACKed leases lost or changed, e.g. {:?}",
        missing.len(),
        acks.len(),
        &missing[..missing.len().min(5)]
    );

    // Renewals of a sample of those clients get ACKs from the restarted server.
    let l = &lab.links[0];
    let client_mac = mac_of(&l.ns, &l.ifname);
    let server_mac = mac_of(&lab.server, &l.server_if);
    let sample: Vec<_> = acks
        .iter()
        .step_by((acks.len() / 200).max(1))
        .cloned()
        .collect();
    let (acked, naked) = l.ns.run(|| {
        let sock = PacketSocket::open(&l.ifname).unwrap();
        let (mut acked, mut naked) = (0, 0);
        for (i, lease) in sample.iter().enumerate() {
            let addr = &lease.1;
            let xid = 0x5000_0000 + i as u32;
            sock.send(&renew_frame(lease, client_mac, server_mac, xid))
                .unwrap();
            let reply = sock
                .recv_matching(Duration::from_secs(2), |f| {
                    parse_udp_frame(f)
                        .ok()
                        .and_then(|u| {
                            DhcpPacket::new_checked(u.payload)
                                .ok()
                                .map(|p| p.xid() == xid && p.op() == Op::BootReply)
                        })
                        .unwrap_or(false)
                })
                .unwrap();
            let Some(f) = reply else { continue };
            let u = parse_udp_frame(&f).unwrap();
            let p = DhcpPacket::new_checked(u.payload).unwrap();
            match p.options().unwrap().message_type() {
                Some(MessageType::Ack) if p.yiaddr() == *addr => acked += 1,
                _ => naked += 1,
            }
        }
        (acked, naked)
    });
    assert_eq!(naked, 0, "renewals refused after the restart");
    assert_eq!(
        acked,
        sample.len(),
        "every sampled renewal answered with an ACK"
    );
    let log = lab.stop().unwrap();
    let restored: Option<u64> = log
        .lines()
        .rev()
        .find(|l| l.contains("lease journal recovered"))
        .and_then(|l| l.split("restored=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok());
    println!(
        "{backend}: {} ACKs before SIGKILL; after restart all bound to the same clients (restored {:?}); {acked}/{} sampled renewals ACKed",
        acks.len(),
        restored,
        sample.len()
    );
}

#[test]
fn sigkill_mid_run_loses_no_acked_lease_xdp() {
    require_root!();
    sigkill_mid_run("xdp", "kx");
}

#[test]
fn sigkill_mid_run_loses_no_acked_lease_socket() {
    require_root!();
    sigkill_mid_run("socket", "ks");
}

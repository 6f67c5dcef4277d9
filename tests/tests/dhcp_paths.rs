//! Relayed clients, INIT-REBOOT with a wrong address, and DECLINE, with real clients and a
//! real relay (ISC dhcrelay) in network namespaces. Needs root.

use std::{net::Ipv4Addr, time::Duration};

use dhcp_wire::{
    dhcp::{DhcpPacket, MessageType, OptionCode},
    frame::parse_udp_frame,
};
use xdhcp_tests::{
    frames::pcap_frames,
    lab::{Background, DhcpLab, run_for},
    netns::NetNs,
    require_root,
};

/// DHCP messages (payloads) in a capture.
fn dhcp_in(pcap: &[u8]) -> Vec<Vec<u8>> {
    pcap_frames(pcap)
        .iter()
        .filter_map(|f| parse_udp_frame(f).ok().map(|u| u.payload.to_vec()))
        .filter(|p| DhcpPacket::new_checked(&p[..]).is_ok())
        .collect()
}

fn relayed(backend: &str, tag: &str) {
    let mut lab = DhcpLab::new(tag, 1).expect("lab");
    // The first link's client namespace becomes the relay: upstream 10.77.1.2, downstream
    // 10.78.0.1/16 towards a client namespace.
    let relay = &lab.links[0];
    relay
        .ns
        .ip(["addr", "add", "10.77.1.2/24", "dev", &relay.ifname])
        .unwrap();
    let client = NetNs::new(&format!("{tag}cl")).unwrap();
    relay
        .ns
        .ip([
            "link",
            "add",
            "down0",
            "type",
            "veth",
            "peer",
            "name",
            "cli0",
            "netns",
            client.name(),
        ])
        .unwrap();
    relay
        .ns
        .ip(["addr", "add", "10.78.0.1/16", "dev", "down0"])
        .unwrap();
    relay.ns.ip(["link", "set", "down0", "up"]).unwrap();
    client.ip(["link", "set", "cli0", "up"]).unwrap();
    lab.server
        .ip(["route", "add", "10.78.0.0/16", "via", "10.77.1.2"])
        .unwrap();
    relay
        .ns
        .exec("sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"])
        .unwrap();
    let cfg = lab.config_with(
        backend,
        "",
        "",
        "[[subnet]]\nid = 9\nnetwork = \"10.78.0.0/16\"\npools = [\"10.78.1.10-10.78.1.200\"]\nrouters = [\"10.78.0.1\"]\n",
    );
    lab.start(&cfg).expect("xdhcpd starts");
    let relay = &lab.links[0];

    let cap = lab.dir.join("relay-up.pcap");
    let mut td = relay.ns.command("tcpdump");
    td.args([
        "-i",
        &relay.ifname,
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
    let mut dr = relay.ns.command("dhcrelay");
    dr.args([
        "-4",
        "-d",
        "--no-pid",
        "-a",
        "-iu",
        &relay.ifname,
        "-id",
        "down0",
        "10.77.1.1",
    ]);
    let dhcrelay = Background::spawn("dhcrelay", dr).unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let hook = lab.hook("relayed", "1", "ip", "mask", false).unwrap();
    let mut u = client.command("udhcpc");
    u.args([
        "-i", "cli0", "-n", "-q", "-f", "-t", "6", "-T", "1", "-A", "1", "-s",
    ])
    .arg(&hook);
    let (done, out) = run_for("udhcpc", u, Duration::from_secs(20)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    tcpdump.signal(libc::SIGINT);
    let (_, td_out) = tcpdump.finish(Duration::from_secs(3));
    let (_, relay_out) = dhcrelay.finish(Duration::from_millis(100));
    let bound = lab
        .events("relayed")
        .into_iter()
        .find(|e| e.starts_with("bound"));
    let bound = bound.unwrap_or_else(|| {
        panic!(
            "relayed client not bound ({done}):\n{out}\n{relay_out}\n{td_out}\n{}",
            lab.log().unwrap()
        )
    });
    let addr: Ipv4Addr = bound.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(
        &addr.octets()[..2],
        &[10, 78],
        "an address from the relay's subnet: {addr}"
    );

    // Option 82 the relay added came back unchanged in every reply.
    let raw = std::fs::read(&cap).unwrap();
    let _ = td_out;
    let msgs = dhcp_in(&raw);
    let mut sent82 = None;
    let mut replies = 0;
    for m in &msgs {
        let p = DhcpPacket::new_checked(&m[..]).unwrap();
        let o = p.options().unwrap();
        let v = o
            .get(OptionCode::RELAY_AGENT_INFO)
            .map(|v| v.as_slice().unwrap().to_vec());
        match o.message_type() {
            Some(MessageType::Discover | MessageType::Request) => {
                assert_eq!(p.giaddr(), Ipv4Addr::new(10, 78, 0, 1));
                sent82 = v.clone();
                assert!(v.is_some(), "dhcrelay -a adds option 82");
            }
            Some(MessageType::Offer | MessageType::Ack) => {
                replies += 1;
                assert_eq!(v, sent82, "option 82 echoed unchanged");
                assert_eq!(p.yiaddr(), addr);
            }
            _ => {}
        }
    }
    assert!(
        replies >= 2,
        "saw {replies} replies in the capture ({} messages)",
        msgs.len()
    );
    println!(
        "{backend}: relayed client got {addr}; option 82 {:02x?} echoed in {replies} replies",
        sent82.unwrap_or_default()
    );
    lab.stop().unwrap();
}

#[test]
fn a_relayed_client_gets_an_address_from_the_relay_subnet_and_option_82_back_xdp() {
    require_root!();
    relayed("xdp", "rlx");
}

#[test]
fn a_relayed_client_gets_an_address_from_the_relay_subnet_and_option_82_back_socket() {
    require_root!();
    relayed("socket", "rls");
}

#[test]
fn init_reboot_with_a_wrong_address_gets_a_nak() {
    require_root!();
    let mut lab = DhcpLab::new("nak", 1).expect("lab");
    let cfg = lab.config("xdp", "", "");
    lab.start(&cfg).expect("xdhcpd starts");
    let (a, wrong) = {
        let l = &lab.links[0];
        let hook = lab
            .hook("dhc", "reason", "new_ip_address", "new_prefix", false)
            .unwrap();
        let lf = lab.dir.join("nak.leases");
        let pf = lab.dir.join("nak.pid");
        // dhclient stays in the foreground after binding: run it until the hook saw BOUND.
        let dhclient = |n: usize| {
            let mut d = l.ns.command("dhclient");
            d.args(["-4", "-d", "-sf"])
                .arg(&hook)
                .arg("-lf")
                .arg(&lf)
                .arg("-pf")
                .arg(&pf)
                .arg(&l.ifname);
            let bg = Background::spawn("dhclient", d).unwrap();
            let t = std::time::Instant::now();
            while lab
                .events("dhc")
                .iter()
                .filter(|e| e.starts_with("BOUND"))
                .count()
                < n
                && t.elapsed() < Duration::from_secs(30)
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            bg.signal(libc::SIGTERM);
            bg.finish(Duration::from_secs(3)).1
        };
        let out = dhclient(1);
        assert!(out.contains("DHCPACK"), "{out}");
        let first = lab
            .events("dhc")
            .into_iter()
            .find(|e| e.starts_with("BOUND"))
            .expect("bound");
        let a: Ipv4Addr = first.split_whitespace().nth(1).unwrap().parse().unwrap();
        // Rewrite the remembered lease to another address of the subnet: the next start reboots
        // into it (INIT-REBOOT) and must be refused.
        let wrong = if a.octets()[3] == 150 {
            Ipv4Addr::new(10, 77, 1, 151)
        } else {
            Ipv4Addr::new(10, 77, 1, 150)
        };
        let text = std::fs::read_to_string(&lf).unwrap().replace(
            &format!("fixed-address {a};"),
            &format!("fixed-address {wrong};"),
        );
        std::fs::write(&lf, text).unwrap();
        let out = dhclient(2);
        assert!(
            out.contains(&format!("DHCPREQUEST for {wrong}")),
            "INIT-REBOOT sent:\n{out}"
        );
        assert!(out.contains("DHCPNAK"), "NAK received:\n{out}");
        let bound: Vec<_> = lab
            .events("dhc")
            .into_iter()
            .filter(|e| e.starts_with("BOUND"))
            .collect();
        assert_eq!(
            bound.last().map(|s| s.as_str()),
            Some(first.as_str()),
            "after the NAK it got its own address again"
        );
        (a, wrong)
    };
    let log = lab.stop().unwrap();
    assert!(log.contains("naks=1"), "{log}");
    println!("INIT-REBOOT for {wrong} (leased: {a}) got a NAK, then {a} again");
}

#[test]
fn decline_quarantines_the_address() {
    require_root!();
    let mut lab = DhcpLab::new("dcl", 1).expect("lab");
    let cfg = lab.config("xdp", "", "");
    lab.start(&cfg).expect("xdhcpd starts");
    let bound = {
        let l = &lab.links[0];
        // Something on the link already answers ARP for .100: dhcpcd's probe finds it, declines.
        lab.server
            .ip(["addr", "add", "10.77.1.100/32", "dev", &l.server_if])
            .unwrap();
        let hook = lab
            .hook("dc", "reason", "new_ip_address", "new_prefix", false)
            .unwrap();
        let mut c = l.ns.command("dhcpcd");
        c.args([
            "-4",
            "-B",
            "-1",
            "-d",
            "-f",
            "/dev/null",
            "-t",
            "40",
            "-r",
            "10.77.1.100",
            "-c",
        ])
        .arg(&hook)
        .arg(&l.ifname);
        let (ok, out) = run_for("dhcpcd", c, Duration::from_secs(45)).unwrap();
        let bound = lab
            .events("dc")
            .into_iter()
            .find(|e| e.starts_with("BOUND"));
        let mut k = l.ns.command("dhcpcd");
        k.args(["-4", "-x"]).arg(&l.ifname);
        let _ = run_for("dhcpcd -x", k, Duration::from_secs(5));
        let bound = bound.unwrap_or_else(|| panic!("dhcpcd never bound ({ok}):\n{out}"));
        assert!(
            out.to_ascii_lowercase().contains("declin"),
            "dhcpcd declined:\n{out}"
        );
        assert!(
            !bound.contains("10.77.1.100"),
            "bound to the conflicting address: {bound}"
        );
        let leases = lab.leases().unwrap();
        let l100 = leases
            .iter()
            .find(|x| x.address == Ipv4Addr::new(10, 77, 1, 100))
            .expect(".100 in the journal");
        assert_eq!(l100.state, "abandoned");
        bound
    };
    let log = lab.stop().unwrap();
    assert!(log.contains("declined=1"), "{log}");
    println!("10.77.1.100 declined and quarantined; dhcpcd then got {bound}");
}

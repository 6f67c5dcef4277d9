//! The XDP steering program run on crafted frames with `BPF_PROG_TEST_RUN`: every decision,
//! its returned action and the per-CPU counter it bumps; and the lab's bounce program (the
//! bench's ceiling) from the same object. Needs root (loads a BPF program).

use std::net::Ipv4Addr;

use dhcp_common::SteerStat;
use dhcp_user::{
    bounce::Bounce,
    steer::{Steering, action},
    xsk::{XskConfig, XskSocket},
};
use dhcp_wire::frame::{MacAddr, VlanTag};
use xdhcp_tests::{
    frames::{self, TPID_8021AD, TPID_8021Q},
    netns::VethLab,
    require_root,
};

const Q: VlanTag = VlanTag {
    tpid: TPID_8021Q,
    tci: 100,
};
const AD: VlanTag = VlanTag {
    tpid: TPID_8021AD,
    tci: 200,
};

/// Runs the program once and checks the action and that exactly `stat` moved by one.
fn expect(
    s: &mut Steering,
    name: &str,
    frame: &[u8],
    rx: Option<(u32, u32)>,
    want_action: u32,
    stat: SteerStat,
) {
    let before = s.stats().expect("stats");
    let got = s
        .test_run(frame, rx)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let after = s.stats().expect("stats");
    assert_eq!(got, want_action, "{name}: action");
    for st in SteerStat::ALL {
        let d = after[st.index() as usize] - before[st.index() as usize];
        let want = u64::from(st == stat);
        assert_eq!(d, want, "{name}: counter {} moved by {d}", st.name());
    }
    println!(
        "BPF_PROG_TEST_RUN {name:<32} -> action {got}, counter {}",
        stat.name()
    );
}

fn udp_to(port: u16) -> Vec<u8> {
    frames::udp_frame(
        &[],
        (Ipv4Addr::new(10, 0, 0, 2), 40000),
        (Ipv4Addr::new(10, 0, 0, 1), port),
        b"payload",
    )
}

#[test]
fn every_decision_without_sockets() {
    require_root!();
    let mut s = Steering::load(67, 0).expect("load the XDP program");
    let dhcp = frames::dhcp_frame(&[], &[0u8; 300]);

    // Steered frames with no socket on the queue fail open to the kernel.
    expect(
        &mut s,
        "untagged UDP/67",
        &dhcp,
        None,
        action::PASS,
        SteerStat::NoSocket,
    );
    expect(
        &mut s,
        "802.1Q UDP/67",
        &frames::dhcp_frame(&[Q], &[0; 300]),
        None,
        action::PASS,
        SteerStat::NoSocket,
    );
    expect(
        &mut s,
        "QinQ 88a8/8100 UDP/67",
        &frames::dhcp_frame(&[AD, Q], &[0; 300]),
        None,
        action::PASS,
        SteerStat::NoSocket,
    );
    expect(
        &mut s,
        "QinQ 8100/8100 UDP/67",
        &frames::dhcp_frame(&[Q, Q], &[0; 300]),
        None,
        action::PASS,
        SteerStat::NoSocket,
    );
    expect(
        &mut s,
        "IPv4 options UDP/67",
        &frames::with_ipv4_options(&dhcp, 8),
        None,
        action::PASS,
        SteerStat::NoSocket,
    );
    expect(
        &mut s,
        "IPv4 max options UDP/67",
        &frames::with_ipv4_options(&dhcp, 40),
        None,
        action::PASS,
        SteerStat::NoSocket,
    );

    // Three tags: beyond what the program looks through.
    let mut three = frames::dhcp_frame(&[AD, Q], &[0; 64]);
    three.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    expect(
        &mut s,
        "three VLAN tags",
        &three,
        None,
        action::PASS,
        SteerStat::TooManyTags,
    );

    // Fragments, first and later.
    let l3 = frames::l3_offset(0);
    let mut first = dhcp.clone();
    first[l3 + 6] = 0x20; // MF
    frames::fix_ipv4_checksum(&mut first, l3);
    expect(
        &mut s,
        "first fragment (MF)",
        &first,
        None,
        action::PASS,
        SteerStat::Fragment,
    );
    let mut later = dhcp.clone();
    later[l3 + 6] = 0x00;
    later[l3 + 7] = 0x10; // offset 16*8
    frames::fix_ipv4_checksum(&mut later, l3);
    expect(
        &mut s,
        "later fragment (offset)",
        &later,
        None,
        action::PASS,
        SteerStat::Fragment,
    );
    let mut tagged_frag = frames::dhcp_frame(&[Q], &[0; 64]);
    let l3q = frames::l3_offset(1);
    tagged_frag[l3q + 6] = 0x20;
    frames::fix_ipv4_checksum(&mut tagged_frag, l3q);
    expect(
        &mut s,
        "802.1Q fragment",
        &tagged_frag,
        None,
        action::PASS,
        SteerStat::Fragment,
    );

    // Other protocols and ports.
    expect(
        &mut s,
        "ARP",
        &frames::arp_request(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1)),
        None,
        action::PASS,
        SteerStat::NotIpv4,
    );
    expect(
        &mut s,
        "IPv6",
        &frames::ipv6_frame(),
        None,
        action::PASS,
        SteerStat::NotIpv4,
    );
    let mut tcp = udp_to(67);
    tcp[l3 + 9] = 6;
    frames::fix_ipv4_checksum(&mut tcp, l3);
    expect(
        &mut s,
        "TCP to 67",
        &tcp,
        None,
        action::PASS,
        SteerStat::NotUdp,
    );
    expect(
        &mut s,
        "UDP/68",
        &udp_to(68),
        None,
        action::PASS,
        SteerStat::OtherPort,
    );
    expect(
        &mut s,
        "UDP/5000",
        &udp_to(5000),
        None,
        action::PASS,
        SteerStat::OtherPort,
    );
    expect(
        &mut s,
        "802.1Q UDP/53",
        &frames::udp_frame(
            &[Q],
            (Ipv4Addr::new(10, 0, 0, 2), 53),
            (Ipv4Addr::new(10, 0, 0, 1), 53),
            b"x",
        ),
        None,
        action::PASS,
        SteerStat::OtherPort,
    );

    // Truncated headers.
    expect(
        &mut s,
        "Ethernet header only",
        &dhcp[..14],
        None,
        action::PASS,
        SteerStat::Truncated,
    );
    expect(
        &mut s,
        "IPv4 header cut",
        &dhcp[..14 + 12],
        None,
        action::PASS,
        SteerStat::Truncated,
    );
    expect(
        &mut s,
        "UDP header cut",
        &dhcp[..14 + 20 + 4],
        None,
        action::PASS,
        SteerStat::Truncated,
    );
    let q = frames::dhcp_frame(&[Q], &[0; 64]);
    expect(
        &mut s,
        "802.1Q tag cut",
        &q[..16],
        None,
        action::PASS,
        SteerStat::Truncated,
    );
    let opts = frames::with_ipv4_options(&dhcp, 40);
    expect(
        &mut s,
        "IPv4 options cut",
        &opts[..14 + 40],
        None,
        action::PASS,
        SteerStat::Truncated,
    );
    let mut short_ihl = dhcp.clone();
    short_ihl[l3] = 0x44;
    expect(
        &mut s,
        "IPv4 IHL 4",
        &short_ihl,
        None,
        action::PASS,
        SteerStat::Truncated,
    );
}

#[test]
fn second_port_is_steered_when_configured() {
    require_root!();
    let mut s = Steering::load(67, 68).expect("load");
    expect(
        &mut s,
        "UDP/68 with port B = 68",
        &udp_to(68),
        None,
        action::PASS,
        SteerStat::NoSocket,
    );
    expect(
        &mut s,
        "UDP/67 with port B = 68",
        &udp_to(67),
        None,
        action::PASS,
        SteerStat::NoSocket,
    );
    expect(
        &mut s,
        "UDP/69 with port B = 68",
        &udp_to(69),
        None,
        action::PASS,
        SteerStat::OtherPort,
    );
    let mut only_a = Steering::load(1067, 0).expect("load");
    expect(
        &mut only_a,
        "UDP/67 with port A = 1067",
        &udp_to(67),
        None,
        action::PASS,
        SteerStat::OtherPort,
    );
    expect(
        &mut only_a,
        "UDP/1067 with port A = 1067",
        &udp_to(1067),
        None,
        action::PASS,
        SteerStat::NoSocket,
    );
}

#[test]
fn steered_frames_redirect_when_a_socket_is_bound() {
    require_root!();
    let lab = VethLab::new("trun", 2).expect("lab");
    lab.server.run(|| {
        let mut s = Steering::load(67, 0).expect("load");
        s.attach(&lab.server_if, Default::default(), None)
            .expect("attach");
        let ifindex = dhcp_user::steer::ifindex(&lab.server_if).unwrap();
        let sock = XskSocket::bind(
            ifindex,
            0,
            &XskConfig {
                frame_count: 64,
                tx_reserve: 32,
                fill_size: 64,
                comp_size: 64,
                rx_size: 64,
                tx_size: 64,
                ..XskConfig::default()
            },
        )
        .expect("bind AF_XDP");
        s.register(0, &sock).expect("register");
        let dhcp = frames::dhcp_frame(&[], &[0; 300]);
        expect(
            &mut s,
            "UDP/67 queue 0 (socket)",
            &dhcp,
            Some((ifindex, 0)),
            action::REDIRECT,
            SteerStat::Redirected,
        );
        expect(
            &mut s,
            "QinQ UDP/67 queue 0 (socket)",
            &frames::dhcp_frame(&[AD, Q], &[0; 300]),
            Some((ifindex, 0)),
            action::REDIRECT,
            SteerStat::Redirected,
        );
        // Queue 1 has no socket: fail open.
        expect(
            &mut s,
            "UDP/67 queue 1 (no socket)",
            &dhcp,
            Some((ifindex, 1)),
            action::PASS,
            SteerStat::NoSocket,
        );
        // Non-DHCP traffic on the socket's queue still goes to the kernel.
        expect(
            &mut s,
            "ARP queue 0 (socket)",
            &frames::arp_request(lab.peer_ip, lab.server_ip),
            Some((ifindex, 0)),
            action::PASS,
            SteerStat::NotIpv4,
        );
        s.unregister(0).expect("unregister");
        expect(
            &mut s,
            "UDP/67 queue 0 (unregistered)",
            &dhcp,
            Some((ifindex, 0)),
            action::PASS,
            SteerStat::NoSocket,
        );
    });
}

/// Runs the bounce program once: `Some(reply)` expects `XDP_TX` with exactly `reply` and the
/// counter up by one; `None` expects `XDP_PASS` with the frame untouched and the counter still.
fn expect_bounce(b: &mut Bounce, name: &str, frame: &[u8], reply: Option<&[u8]>) {
    let before = b.bounced().expect("counter");
    let (got, out) = b.test_run(frame).unwrap_or_else(|e| panic!("{name}: {e}"));
    let moved = b.bounced().expect("counter") - before;
    match reply {
        Some(reply) => {
            assert_eq!(got, action::TX, "{name}: action");
            assert_eq!(out, reply, "{name}: the frame sent back");
            assert_eq!(moved, 1, "{name}: counter");
        }
        None => {
            assert_eq!(got, action::PASS, "{name}: action");
            assert_eq!(out, frame, "{name}: a passed frame is untouched");
            assert_eq!(moved, 0, "{name}: counter");
        }
    }
    println!("BPF_PROG_TEST_RUN bounce {name:<24} -> action {got}, counted {moved}");
}

#[test]
fn bounce_sends_udp67_back_swapped_and_passes_the_rest() {
    require_root!();
    let mut b = Bounce::load().expect("load the bounce program");
    let (server_mac, peer_mac) = (MacAddr([0x02, 0x77, 0, 0, 0, 1]), frames::PEER_MAC);
    let (server, peer) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let payload = [0x5a; 32];
    // The reply is built on its own, with checksums computed for its own headers: the program
    // must swap MACs, addresses and ports, and leave checksums that are valid as they stand.
    let request = frames::with_macs(
        frames::udp_frame(&[], (peer, 40000), (server, 67), &payload),
        server_mac,
        peer_mac,
    );
    let reply = frames::with_macs(
        frames::udp_frame(&[], (server, 67), (peer, 40000), &payload),
        peer_mac,
        server_mac,
    );
    assert_ne!(request, reply);
    expect_bounce(&mut b, "UDP/67", &request, Some(&reply));
    expect_bounce(&mut b, "UDP/67 again", &request, Some(&reply));

    let l3 = frames::l3_offset(0);
    let other_port = |port| {
        frames::with_macs(
            frames::udp_frame(&[], (peer, 40000), (server, port), &payload),
            server_mac,
            peer_mac,
        )
    };
    let mut tcp = request.clone();
    tcp[l3 + 9] = 6;
    frames::fix_ipv4_checksum(&mut tcp, l3);
    let mut fragment = request.clone();
    fragment[l3 + 6] = 0x20; // MF
    frames::fix_ipv4_checksum(&mut fragment, l3);
    let passed: [(&str, Vec<u8>); 9] = [
        ("ARP", frames::arp_request(peer, server)),
        ("IPv6", frames::ipv6_frame()),
        ("UDP/68", other_port(68)),
        ("UDP/5000", other_port(5000)),
        ("TCP to 67", tcp),
        ("first fragment (MF)", fragment),
        ("802.1Q UDP/67", frames::dhcp_frame(&[Q], &payload)),
        (
            "IPv4 options UDP/67",
            frames::with_ipv4_options(&request, 8),
        ),
        ("UDP header cut", request[..14 + 20 + 4].to_vec()),
    ];
    for (name, frame) in &passed {
        expect_bounce(&mut b, name, frame, None);
    }
    assert_eq!(b.bounced().expect("counter"), 2);
}

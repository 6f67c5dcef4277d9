//! Bad input at a running xdhcpd: truncated, oversized and garbage frames, a wrong magic
//! cookie, option lengths running past the end, an overload loop, hlen > 16. Each is a counted
//! drop, none stops the server: a real client is served afterwards. Needs root.

use std::{net::Ipv4Addr, time::Duration};

use dhcp_wire::dhcp::{DhcpWriter, Op, OptionCode};
use xdhcp_tests::{
    frames::{PacketSocket, udp_frame},
    lab::{DhcpLab, run_for},
    require_root,
};

/// A well-formed DISCOVER to start from.
fn discover() -> Vec<u8> {
    let mut b = vec![0u8; 600];
    let mut w = DhcpWriter::new(&mut b, 600, None).unwrap();
    w.set_op(Op::BootRequest);
    w.set_htype(1);
    w.set_hlen(6).unwrap();
    w.set_xid(0x0bad_0001);
    w.set_chaddr(&[2, 0xba, 0xd0, 0, 0, 1]).unwrap();
    w.option(OptionCode::MESSAGE_TYPE, &[1]).unwrap();
    let n = w.finish();
    b.truncate(n);
    b
}

fn bad_payloads() -> Vec<(&'static str, Vec<u8>)> {
    let good = discover();
    let mut v = Vec::new();
    v.push(("truncated", good[..100].to_vec()));
    let mut cookie = good.clone();
    cookie[236] = 0;
    v.push(("bad_magic_cookie", cookie));
    let mut hlen = good.clone();
    hlen[2] = 17;
    v.push(("bad_hlen", hlen));
    let mut overrun = good[..240].to_vec();
    overrun.extend_from_slice(&[53, 1, 1, 12, 200, b'x']); // host name claims 200 bytes
    v.push(("option_overrun", overrun));
    // Option 52 says "options continue in file", and file holds another option 52.
    let mut lp = good[..240].to_vec();
    lp.extend_from_slice(&[53, 1, 1, 52, 1, 1, 255]);
    lp[108..111].copy_from_slice(&[52, 1, 1]);
    v.push(("overload_loop", lp));
    let mut op = good.clone();
    op[0] = 7;
    v.push(("bad_op", op));
    // Garbage: pseudo-random bytes of DHCP size (fails the cookie or op check).
    let mut x: u32 = 0x1234_5678;
    let garbage: Vec<u8> = (0..400)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    v.push(("garbage", garbage));
    v
}

fn bad_input(backend: &str, tag: &str) {
    let mut lab = DhcpLab::new(tag, 1).expect("lab");
    let cfg = lab.config(backend, "", "");
    lab.start(&cfg).expect("xdhcpd starts");
    let l = &lab.links[0];
    let bad = bad_payloads();
    l.ns.run(|| {
        let raw = PacketSocket::open(&l.ifname).unwrap();
        for (_, p) in &bad {
            raw.send(&udp_frame(
                &[],
                (Ipv4Addr::UNSPECIFIED, 68),
                (Ipv4Addr::BROADCAST, 67),
                p,
            ))
            .unwrap();
        }
        // Oversized: a maximum-size frame whose UDP length claims more than the frame holds.
        let mut big = udp_frame(
            &[],
            (Ipv4Addr::UNSPECIFIED, 68),
            (Ipv4Addr::BROADCAST, 67),
            &vec![0xaa; 1472],
        );
        big[38..40].copy_from_slice(&9000u16.to_be_bytes());
        raw.send(&big).unwrap();
    });
    std::thread::sleep(Duration::from_millis(500));
    // Still serving.
    let hook = lab.hook("after", "1", "ip", "mask", false).unwrap();
    let mut u = l.ns.command("udhcpc");
    u.args([
        "-i", &l.ifname, "-n", "-q", "-f", "-t", "5", "-T", "1", "-s",
    ])
    .arg(&hook);
    let (_, out) = run_for("udhcpc", u, Duration::from_secs(15)).unwrap();
    assert!(
        lab.events("after").iter().any(|e| e.starts_with("bound")),
        "not served after bad input:\n{out}"
    );
    let log = lab.stop().unwrap();
    let stopped = log
        .lines()
        .rev()
        .find(|l| l.contains("xdhcpd stopped"))
        .expect("clean stop")
        .to_owned();
    for (name, _) in &bad {
        let reason = match *name {
            "garbage" => "bad_op",
            n => n,
        };
        assert!(
            stopped.contains(reason),
            "{name} not counted as {reason}: {stopped}"
        );
    }
    if backend == "xdp" {
        // The frame whose UDP length lies is refused before DHCP parsing.
        assert!(stopped.contains("bad_frames=1"), "{stopped}");
    }
    println!("{backend}: {stopped}");
}

#[test]
fn malformed_messages_are_counted_drops_xdp() {
    require_root!();
    bad_input("xdp", "bx");
}

#[test]
fn malformed_messages_are_counted_drops_socket() {
    require_root!();
    bad_input("socket", "bs");
}

//! The XDP → AF_XDP data plane in a network-namespace lab: steered frames reach user space,
//! frames written to the TX ring reach the peer, everything else still reaches the kernel, and
//! frames are recycled without leaking under sustained load. Needs root.

use std::{
    net::{Ipv4Addr, SocketAddrV4, UdpSocket},
    sync::mpsc,
    time::{Duration, Instant},
};

use dhcp_common::SteerStat;
use dhcp_user::{
    io::{
        L2Dest, PacketIo, Reply,
        xdp::{XdpPlane, XdpPlaneConfig, XdpPort},
    },
    steer::{AttachMode, Steering},
    xsk::XskConfig,
};
use dhcp_wire::frame::VlanTag;
use xdhcp_tests::{
    frames::{self, PacketSocket, TPID_8021AD, TPID_8021Q},
    netns::VethLab,
    require_root,
};

fn plane_cfg(lab: &VethLab, xsk: XskConfig) -> XdpPlaneConfig {
    XdpPlaneConfig {
        interface: lab.server_if.clone(),
        queues: vec![0],
        attach: AttachMode::Auto,
        xsk,
        pin_dir: None,
        ports: (67, 0),
    }
}

fn echo_handler(dg: &dhcp_user::io::Datagram<'_>, buf: &mut [u8]) -> Option<Reply> {
    let prefix = b"echo:";
    let len = prefix.len() + dg.payload.len();
    buf[..prefix.len()].copy_from_slice(prefix);
    buf[prefix.len()..len].copy_from_slice(dg.payload);
    Some(Reply {
        len,
        src_ip: *dg.dst.ip(),
        src_port: 67,
        dst: dg.src,
        l2: L2Dest::Sender,
    })
}

/// Serves `port` until `stop` is signalled or `limit` passes; returns the payloads seen.
fn serve_until(port: &mut XdpPort, stop: &mpsc::Receiver<()>, limit: Duration) -> Vec<Vec<u8>> {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < end && stop.try_recv().is_err() {
        let n = port
            .service(64, |dg, buf| {
                seen.push(dg.payload.to_vec());
                echo_handler(dg, buf)
            })
            .expect("service");
        if n == 0 {
            port.wait(Duration::from_millis(10)).expect("wait");
        }
    }
    seen
}

#[test]
fn steered_frames_reach_user_space_and_tx_frames_reach_the_peer() {
    require_root!();
    let lab = VethLab::new("dp", 1).expect("lab");
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel();
    let lab = &lab;
    std::thread::scope(|s| {
        let server = s.spawn(move || {
            let _in_server = lab.server.enter().expect("enter server namespace");
            let mut plane =
                XdpPlane::open(&plane_cfg(lab, XskConfig::default())).expect("open plane");
            println!(
                "XDP attached in {} mode ({:?}), AF_XDP bound in {} mode",
                plane.attach.mode,
                plane.attach.fallback_reason,
                plane.ports[0].socket().mode().as_str()
            );
            ready_tx.send(()).unwrap();
            let seen = serve_until(&mut plane.ports[0], &stop_rx, Duration::from_secs(20));
            let stats = plane.steering.stats().unwrap();
            (seen, stats, plane.ports[0].counters())
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server ready");

        lab.peer.run(|| {
            // Raw frames: untagged, 802.1Q and QinQ, all to UDP/67.
            let raw = PacketSocket::open(&lab.peer_if).expect("packet socket");
            let q = VlanTag {
                tpid: TPID_8021Q,
                tci: 10,
            };
            let ad = VlanTag {
                tpid: TPID_8021AD,
                tci: 20,
            };
            for (i, tags) in [&[][..], &[q][..], &[ad, q][..]].iter().enumerate() {
                for j in 0..20 {
                    let payload = format!("raw-{i}-{j}");
                    raw.send(&frames::dhcp_frame(tags, payload.as_bytes()))
                        .unwrap();
                }
            }
            // A kernel UDP socket in the peer namespace: the echo must come back through the
            // peer's own stack, so MAC, IPv4 and UDP checksums must all be right.
            let sock = UdpSocket::bind((lab.peer_ip, 6800)).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            for k in 0..10 {
                let msg = format!("udp-{k}");
                let mut got = None;
                for _attempt in 0..5 {
                    sock.send_to(msg.as_bytes(), SocketAddrV4::new(lab.server_ip, 67))
                        .unwrap();
                    let mut buf = [0u8; 256];
                    if let Ok((n, from)) = sock.recv_from(&mut buf) {
                        got = Some((buf[..n].to_vec(), from));
                        break;
                    }
                }
                let (reply, from) = got.unwrap_or_else(|| panic!("no echo for {msg}"));
                assert_eq!(reply, format!("echo:{msg}").as_bytes());
                assert_eq!(
                    from,
                    std::net::SocketAddr::V4(SocketAddrV4::new(lab.server_ip, 67))
                );
            }
        });
        stop_tx.send(()).unwrap();
        let (seen, stats, counters) = server.join().unwrap();
        for i in 0..3 {
            for j in 0..20 {
                let want = format!("raw-{i}-{j}");
                assert!(
                    seen.iter().any(|p| p == want.as_bytes()),
                    "frame {want} never reached AF_XDP"
                );
            }
        }
        let redirected = stats[SteerStat::Redirected.index() as usize];
        assert!(redirected >= 70, "redirected counter {redirected}");
        assert!(counters.tx_replies >= 10, "{counters:?}");
        println!(
            "AF_XDP received {} datagrams, sent {} replies; steer counters {stats:?}",
            counters.rx_datagrams, counters.tx_replies
        );
    });
}

#[test]
fn non_dhcp_traffic_still_reaches_the_kernel() {
    require_root!();
    let lab = VethLab::new("kp", 1).expect("lab");
    lab.server.run(|| {
        let mut plane = XdpPlane::open(&plane_cfg(&lab, XskConfig::default())).expect("open plane");
        let before = plane.steering.stats().unwrap();
        let kernel_sock = UdpSocket::bind((lab.server_ip, 5000)).unwrap();
        kernel_sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();

        // ARP + ICMP: ping from the peer must work while the program is attached.
        let ping = lab
            .peer
            .exec("ping", ["-c", "2", "-W", "2", &lab.server_ip.to_string()])
            .expect("ping through the attached program");
        assert!(String::from_utf8_lossy(&ping.stdout).contains("2 received"));

        // A UDP datagram to another port reaches the kernel socket.
        lab.peer.run(|| {
            let s = UdpSocket::bind((lab.peer_ip, 0)).unwrap();
            s.send_to(b"not dhcp", (lab.server_ip, 5000)).unwrap();
        });
        let mut buf = [0u8; 64];
        let (n, _) = kernel_sock
            .recv_from(&mut buf)
            .expect("UDP/5000 reached the kernel");
        assert_eq!(&buf[..n], b"not dhcp");

        let after = plane.steering.stats().unwrap();
        let d = |s: SteerStat| after[s.index() as usize] - before[s.index() as usize];
        assert!(d(SteerStat::NotIpv4) >= 1, "ARP counted as not_ipv4");
        assert!(d(SteerStat::NotUdp) >= 2, "ICMP counted as not_udp");
        assert!(
            d(SteerStat::OtherPort) >= 1,
            "UDP/5000 counted as other_port"
        );
        assert_eq!(d(SteerStat::Redirected), 0);
        // Nothing was steered, so the AF_XDP socket saw nothing.
        assert_eq!(plane.ports[0].service(64, |_, _| None).unwrap(), 0);
        println!("kernel path while attached: {:?}", after);
    });
}

#[test]
fn a_queue_without_a_socket_fails_open_to_the_kernel() {
    require_root!();
    let lab = VethLab::new("fo", 1).expect("lab");
    lab.server.run(|| {
        let mut s = Steering::load(67, 0).expect("load");
        s.attach(&lab.server_if, AttachMode::Auto, None)
            .expect("attach");
        let kernel_sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 67)).unwrap();
        kernel_sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        lab.peer.run(|| {
            let c = UdpSocket::bind((lab.peer_ip, 68)).unwrap();
            c.send_to(b"dhcp but no socket", (lab.server_ip, 67))
                .unwrap();
        });
        let mut buf = [0u8; 64];
        let (n, _) = kernel_sock
            .recv_from(&mut buf)
            .expect("UDP/67 reached the kernel");
        assert_eq!(&buf[..n], b"dhcp but no socket");
        assert!(s.stats().unwrap()[SteerStat::NoSocket.index() as usize] >= 1);
    });
}

#[test]
fn sustained_load_recycles_every_frame() {
    require_root!();
    let lab = VethLab::new("ld", 1).expect("lab");
    // A small UMEM so that the run reuses every frame many times over.
    let xsk = XskConfig {
        frame_count: 256,
        rx_size: 128,
        tx_size: 128,
        fill_size: 128,
        comp_size: 128,
        tx_reserve: 128,
        ..XskConfig::default()
    };
    const FRAMES: usize = 30_000;
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel();
    let lab = &lab;
    std::thread::scope(|s| {
        let server = s.spawn(move || {
            let _in_server = lab.server.enter().expect("enter server namespace");
            let mut plane = XdpPlane::open(&plane_cfg(lab, xsk)).expect("open plane");
            ready_tx.send(()).unwrap();
            let seen = serve_until(&mut plane.ports[0], &stop_rx, Duration::from_secs(60)).len();
            let port = &mut plane.ports[0];
            let until = Instant::now() + Duration::from_secs(2);
            while !port.socket().frames_accounted() && Instant::now() < until {
                port.socket_mut().complete();
                std::thread::sleep(Duration::from_millis(10));
            }
            (
                seen,
                port.socket().frame_census(),
                port.socket().frames_accounted(),
                port.counters(),
                port.socket().statistics().unwrap(),
            )
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server ready");
        lab.peer.run(|| {
            let raw = PacketSocket::open(&lab.peer_if).expect("packet socket");
            let frame = frames::dhcp_frame(&[], &[7u8; 300]);
            for i in 0..FRAMES {
                raw.send(&frame).unwrap();
                if i % 64 == 63 {
                    // Bounded pacing so the run measures recycling, not ring overflow.
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        });
        stop_tx.send(()).unwrap();
        let (seen, census, accounted, counters, kstats) = server.join().unwrap();
        println!(
            "sustained load: sent {FRAMES}, received {seen}, replies {}, census {census:?}, kernel {kstats:?}",
            counters.tx_replies
        );
        assert!(
            accounted,
            "frames leaked: census {census:?} (free, fill, rx, user, tx, completion) != 256"
        );
        // Far more frames went through than the UMEM holds: frames were recycled.
        assert!(seen >= FRAMES * 9 / 10, "received only {seen} of {FRAMES}");
        assert!(seen > 256 * 50);
    });
}

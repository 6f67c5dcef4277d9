//! The client model against the in-process fake server over a simulated link: a correct server
//! passes every check, each deliberate fault is caught under its own name, and the load modes
//! (open loop, closed loop, avalanche with RFC 2131 back-off) behave as specified.

use std::{net::Ipv4Addr, sync::Arc, time::Duration};

use dhcp_load::{
    check::ViolationKind,
    config::{Backoff, FleetConfig, Load, Relay, Vlans},
    fleet::{Fleet, Router, Verdict},
    registry::Registry,
    stats::{Exchange, Stats},
    testing::{FakeServer, Misbehaviour, SimLink},
};
use dhcp_wire::frame::{self, MacAddr};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SERVER_MAC: MacAddr = MacAddr([0x02, 0x77, 0, 0, 0, 1]);

fn server(pool: u32) -> FakeServer {
    FakeServer::new(SERVER, SERVER_MAC, Ipv4Addr::new(10, 78, 0, 10), pool)
}

fn config(clients: u32, rate: f64) -> FleetConfig {
    let mut c = FleetConfig::new(clients);
    c.load = Load::Open { rate };
    c.dora_limit = Some(u64::from(clients));
    c.server = Some(SERVER);
    c.server_mac = Some(SERVER_MAC);
    c.expect_server_id = Some(SERVER);
    c.lease_secs = 60..=7200;
    c
}

/// Runs `cfg` against `srv` on a lossless link for up to `secs` virtual seconds.
fn run(cfg: FleetConfig, srv: &mut FakeServer, secs: u64) -> (Fleet, SimLink) {
    let mut fleet = Fleet::new(cfg).expect("valid config");
    let mut link = SimLink::new(7);
    link.run(&mut fleet, srv, Duration::from_secs(secs), 64);
    (fleet, link)
}

fn assert_clean(s: &Stats) {
    let kept: Vec<_> = s.violations.kept().collect();
    assert_eq!(s.violations.total(), 0, "violations: {kept:#?}");
}

#[test]
fn a_correct_server_completes_every_dora_without_violations() {
    let mut srv = server(5000);
    let (fleet, _) = run(config(1000, 20_000.0), &mut srv, 2);
    let s = fleet.stats();
    assert_clean(s);
    assert_eq!(s.dora_started, 1000);
    assert_eq!(s.dora_completed, 1000);
    assert_eq!(s.dora_failed, 0);
    assert_eq!(s.provisioned, 1000);
    assert_eq!(srv.bindings(), 1000);
    for kind in [Exchange::Discover, Exchange::Request] {
        let e = s.exchange(kind);
        assert_eq!((e.sent, e.replies, e.drops), (1000, 1000, 0), "{kind:?}");
        // Two 50 µs hops, seen on a 100 µs clock.
        let p50 = e.latency_us.percentile(0.5);
        assert!((100..=200).contains(&p50), "{kind:?} p50 {p50}");
    }
    assert!(fleet.is_done());
    assert_eq!(fleet.inflight(), 0);
}

#[test]
fn renew_rebind_reboot_and_release_pass_against_a_correct_server() {
    let mut srv = server(5000);
    let mut cfg = config(500, 50_000.0);
    cfg.client_id_prefix = Some(b"load-".to_vec());
    cfg.renew_rate = 2_000.0;
    cfg.rebind_rate = 1_000.0;
    cfg.reboot_rate = 1_000.0;
    cfg.release_rate = 200.0;
    let mut fleet = Fleet::new(cfg).unwrap();
    let mut link = SimLink::new(3);
    link.run(&mut fleet, &mut srv, Duration::from_millis(1500), 64);
    let s = fleet.stats();
    assert_clean(s);
    for kind in [Exchange::Renew, Exchange::Rebind, Exchange::Reboot] {
        let e = s.exchange(kind);
        assert!(e.sent > 100, "{kind:?}: {e:?}");
        assert!(
            e.replies + 1 >= e.sent,
            "{kind:?}: all but one in flight answered: {e:?}"
        );
        assert_eq!(e.drops, 0, "{kind:?}");
    }
    let releases = s.exchange(Exchange::Release).sent;
    assert!(releases > 100, "{releases}");
    // Released clients start over: the DORA limit counts those too.
    assert_eq!(s.dora_completed, 500);
}

#[test]
fn relayed_qinq_clients_with_option_82_pass() {
    let mut srv = server(5000);
    let mut cfg = config(300, 20_000.0);
    cfg.relay = Some(Relay {
        giaddr: Ipv4Addr::new(10, 78, 0, 1),
        circuit_id_prefix: b"olt1/port".to_vec(),
        remote_id_prefix: b"sub-".to_vec(),
    });
    cfg.vlans = Vlans {
        outer: Some(10),
        inner: Some(100),
        inner_count: 4,
    };
    cfg.renew_rate = 500.0;
    cfg.rebind_rate = 500.0;
    let (fleet, _) = run(cfg, &mut srv, 2);
    let s = fleet.stats();
    assert_clean(s);
    assert_eq!(s.dora_completed, 300);
    assert!(s.exchange(Exchange::Renew).replies > 0);
    assert!(s.exchange(Exchange::Rebind).replies > 0);
}

#[test]
fn frames_look_like_real_clients_and_relays() {
    let mut cfg = config(10, 1000.0);
    cfg.load = Load::Closed { window: 10 };
    cfg.relay = Some(Relay {
        giaddr: Ipv4Addr::new(10, 78, 0, 1),
        circuit_id_prefix: b"c".to_vec(),
        remote_id_prefix: b"r".to_vec(),
    });
    cfg.vlans.inner = Some(100);
    cfg.vlans.inner_count = 1;
    let mut fleet = Fleet::new(cfg).unwrap();
    let mut buf = [0u8; 2048];
    let n = fleet.poll_transmit(Duration::ZERO, &mut buf).unwrap();
    let f = frame::parse_udp_frame(&buf[..n]).unwrap();
    assert_eq!(f.link.dst, SERVER_MAC);
    assert_eq!(f.link.vlans.tags()[0].vid(), 100);
    assert_eq!(f.udp.src_ip, Ipv4Addr::new(10, 78, 0, 1));
    assert_eq!((f.udp.src_port, f.udp.dst_port), (67, 67));
    assert_eq!(f.udp.dst_ip, SERVER);
    let p = dhcp_wire::dhcp::DhcpPacket::new_checked(f.payload).unwrap();
    let o = p.options().unwrap();
    assert_eq!(p.hops(), 1);
    assert_eq!(p.giaddr(), Ipv4Addr::new(10, 78, 0, 1));
    assert_eq!(
        o.message_type(),
        Some(dhcp_wire::dhcp::MessageType::Discover)
    );
    let ri = o.relay_agent_info().unwrap();
    assert_eq!(ri.circuit_id(), Some(&b"c0"[..]));
    assert_eq!(ri.remote_id(), Some(&b"r0"[..]));
    assert!(f.payload.len() >= 300, "BOOTP minimum");
    // Ten clients in the window, then nothing until answers or timeouts.
    let mut sent = 1;
    while fleet.poll_transmit(Duration::ZERO, &mut buf).is_some() {
        sent += 1;
    }
    assert_eq!(sent, 10);
    assert_eq!(fleet.inflight(), 10);
}

/// Runs 200 clients against a server with `fault` and returns the stats.
fn faulty(fault: Misbehaviour, relay: bool) -> Stats {
    let mut srv = server(5000).misbehaving(fault);
    let mut cfg = config(200, 20_000.0);
    if relay {
        cfg.relay = Some(Relay {
            giaddr: Ipv4Addr::new(10, 78, 0, 1),
            circuit_id_prefix: b"c".to_vec(),
            remote_id_prefix: b"r".to_vec(),
        });
    }
    let (fleet, _) = run(cfg, &mut srv, 3);
    fleet.stats().clone()
}

#[test]
fn an_address_given_to_two_clients_is_caught() {
    let s = faulty(Misbehaviour::SameAddressForAll, false);
    assert_eq!(s.violations.count(ViolationKind::DuplicateAddress), 199);
    let v = s
        .violations
        .kept()
        .find(|v| v.kind == ViolationKind::DuplicateAddress)
        .unwrap();
    assert_eq!(v.yiaddr, Ipv4Addr::new(10, 78, 0, 10));
    assert!(v.other_client.is_some());
    assert_ne!(v.other_client, v.client);
    assert_eq!(s.violations.total(), 199, "nothing else is wrong");
}

#[test]
fn a_wrong_xid_is_caught() {
    let s = faulty(Misbehaviour::WrongXid, false);
    // Every OFFER is unusable: each DISCOVER is answered once with a bad xid.
    assert_eq!(s.violations.count(ViolationKind::WrongXid), 200);
    assert_eq!(s.violations.total(), 200);
    assert_eq!(s.dora_completed, 0);
    assert_eq!(s.exchange(Exchange::Discover).drops, 200);
}

#[test]
fn a_wrong_chaddr_is_caught() {
    let s = faulty(Misbehaviour::WrongChaddr, false);
    assert_eq!(s.violations.count(ViolationKind::WrongChaddr), 200);
    assert_eq!(s.violations.total(), 200);
    assert_eq!(s.dora_completed, 0);
}

#[test]
fn a_missing_lease_time_is_caught() {
    let s = faulty(Misbehaviour::NoLeaseTime, false);
    // OFFER and ACK of every client.
    assert_eq!(s.violations.count(ViolationKind::MissingLeaseTime), 400);
    assert_eq!(s.violations.total(), 400);
    assert_eq!(s.dora_completed, 200, "non-fatal: the exchanges go on");
}

#[test]
fn a_lease_time_out_of_bounds_is_caught() {
    let mut srv = server(5000);
    srv.lease_secs = 30;
    let (fleet, _) = run(config(50, 10_000.0), &mut srv, 2);
    let s = fleet.stats();
    assert_eq!(s.violations.count(ViolationKind::LeaseTimeOutOfRange), 100);
    let v = s.violations.kept().next().unwrap();
    assert_eq!((v.expected, v.found), (Some(60), Some(30)));
}

#[test]
fn a_wrong_server_id_is_caught() {
    let s = faulty(Misbehaviour::WrongServerId, false);
    assert_eq!(s.violations.count(ViolationKind::WrongServerId), 400);
    let v = s.violations.kept().next().unwrap();
    assert_eq!(v.expected, Some(u32::from(SERVER)));
    assert_eq!(v.found, Some(u32::from(Ipv4Addr::new(192, 0, 2, 99))));
}

#[test]
fn option_82_not_echoed_is_caught() {
    let s = faulty(Misbehaviour::NoRelayEcho, true);
    assert_eq!(s.violations.count(ViolationKind::RelayInfoNotEchoed), 400);
    assert_eq!(s.violations.total(), 400);
}

#[test]
fn naks_and_wrong_types_are_caught() {
    let s = faulty(Misbehaviour::NakRequests, false);
    assert_eq!(s.violations.count(ViolationKind::Nak), 200);
    assert_eq!(s.exchange(Exchange::Request).naks, 200);
    assert_eq!(s.dora_failed, 200);
    let s = faulty(Misbehaviour::OfferForAck, false);
    assert_eq!(s.violations.count(ViolationKind::WrongMessageType), 200);
    assert_eq!(s.exchange(Exchange::Request).drops, 200);
}

#[test]
fn one_fault_in_fifty_replies_is_still_found() {
    let mut srv = server(5000).misbehaving(Misbehaviour::WrongXid);
    srv.misbehave_every = 50;
    let (fleet, _) = run(config(1000, 20_000.0), &mut srv, 3);
    let s = fleet.stats();
    // Every 50th reply: a bad OFFER ends its DORA early, so a few less than 2,000 replies.
    let bad = s.violations.count(ViolationKind::WrongXid);
    assert!((38..=40).contains(&bad), "{bad}");
    assert_eq!(s.violations.total(), bad);
    assert_eq!(s.dora_completed, 1000 - bad);
}

#[test]
fn loss_in_open_loop_is_counted_as_drops() {
    let mut srv = server(10_000);
    let mut fleet = Fleet::new(config(4000, 20_000.0)).unwrap();
    let mut link = SimLink::new(11);
    link.loss = 0.1;
    link.run(&mut fleet, &mut srv, Duration::from_secs(3), 64);
    let s = fleet.stats();
    assert_clean(s);
    assert_eq!(s.dora_completed + s.dora_failed, 4000);
    // Four frames must all survive: 0.9^4 = 66 %.
    let pct = s.dora_drop_pct();
    assert!((28.0..40.0).contains(&pct), "{pct}");
    assert_eq!(
        s.exchange(Exchange::Discover).drops + s.exchange(Exchange::Request).drops,
        s.dora_failed
    );
}

#[test]
fn late_replies_are_counted_not_flagged() {
    let mut srv = server(1000);
    let mut cfg = config(100, 10_000.0);
    cfg.drop_timeout = Duration::from_millis(100);
    let mut fleet = Fleet::new(cfg).unwrap();
    let mut link = SimLink::new(1);
    link.delay = Duration::from_millis(60);
    link.run(&mut fleet, &mut srv, Duration::from_secs(2), 64);
    let s = fleet.stats();
    assert_clean(s);
    assert_eq!(s.exchange(Exchange::Discover).drops, 100);
    assert_eq!(s.late, 100);
    assert_eq!(s.dora_completed, 0);
}

#[test]
fn open_loop_offers_the_configured_rate() {
    // A server that never answers: every DISCOVER is a start.
    let mut srv = server(0);
    let mut cfg = config(100_000, 5000.0);
    cfg.dora_limit = None;
    let mut fleet = Fleet::new(cfg).unwrap();
    let mut link = SimLink::new(1);
    link.run(&mut fleet, &mut srv, Duration::from_secs(2), 64);
    let sent = fleet.stats().exchange(Exchange::Discover).sent;
    assert!((9_990..=10_010).contains(&sent), "{sent}");
    assert_eq!(fleet.stats().starts_missed, 0);
}

#[test]
fn closed_loop_keeps_its_window() {
    let mut srv = server(10_000);
    let mut cfg = config(3000, 0.0);
    cfg.load = Load::Closed { window: 16 };
    cfg.drop_timeout = Duration::from_millis(20);
    let mut fleet = Fleet::new(cfg).unwrap();
    let mut link = SimLink::new(5);
    link.loss = 0.05;
    let mut max = 0;
    for ms in 1..=3000u64 {
        link.run(&mut fleet, &mut srv, Duration::from_millis(ms), 64);
        max = max.max(fleet.inflight());
        if fleet.is_done() {
            break;
        }
    }
    assert_eq!(max, 16);
    let s = fleet.stats();
    assert_eq!(s.dora_completed + s.dora_failed, 3000);
    assert_clean(s);
}

fn avalanche(clients: u32, max_tries: u8) -> FleetConfig {
    let mut cfg = config(clients, 0.0);
    cfg.load = Load::Avalanche;
    cfg.backoff = Backoff {
        scale: 0.001,
        max_tries,
    };
    cfg
}

#[test]
fn an_avalanche_through_loss_provisions_everyone() {
    let mut srv = server(10_000);
    let mut fleet = Fleet::new(avalanche(2000, 8)).unwrap();
    let mut link = SimLink::new(9);
    link.loss = 0.1;
    link.run(&mut fleet, &mut srv, Duration::from_secs(5), 256);
    let s = fleet.stats();
    assert_clean(s);
    assert!(fleet.is_done());
    assert_eq!(s.provisioned, 2000);
    assert_eq!(s.gave_up, 0);
    let retx =
        s.exchange(Exchange::Discover).retransmitted + s.exchange(Exchange::Request).retransmitted;
    assert!(retx > 200, "{retx}");
    assert!(s.provision_us.max() > 0);
}

#[test]
fn avalanche_retransmissions_follow_the_rfc_2131_back_off() {
    // One client, a server that never answers: record when frames leave.
    let mut fleet = Fleet::new(avalanche(1, 6)).unwrap();
    let mut buf = [0u8; 2048];
    let mut sent_at = Vec::new();
    for us in (0..400_000u64).step_by(100) {
        let now = Duration::from_micros(us);
        fleet.handle_timeout(now);
        while fleet.poll_transmit(now, &mut buf).is_some() {
            sent_at.push(us);
        }
    }
    assert_eq!(sent_at.len(), 6, "{sent_at:?}");
    let gaps: Vec<u64> = sent_at.windows(2).map(|w| w[1] - w[0]).collect();
    // 4, 8, 16, 32, 64 s ±1 s, at scale 1/1000 (µs), on a 1 ms timer.
    for (gap, base) in gaps.iter().zip([4_000u64, 8_000, 16_000, 32_000, 64_000]) {
        assert!(
            *gap >= base - 1_000 && *gap <= base + 2_000,
            "gaps {gaps:?}"
        );
    }
    let s = fleet.stats();
    assert_eq!(s.gave_up, 1);
    assert_eq!(s.exchange(Exchange::Discover).retransmitted, 5);
    assert!(fleet.is_done());
}

#[test]
fn duplicates_across_fleets_are_caught_and_replies_routed() {
    let registry = Arc::new(Registry::new(100));
    let mk = |first: u32| {
        let mut c = config(50, 20_000.0);
        c.first_client = first;
        c.total_clients = 100;
        Fleet::with_registry(c, registry.clone()).unwrap()
    };
    let (mut a, mut b) = (mk(0), mk(50));
    let mut srv = server(1000).misbehaving(Misbehaviour::SameAddressForAll);
    SimLink::new(1).run(&mut a, &mut srv, Duration::from_secs(1), 64);
    assert_eq!(
        a.stats().violations.count(ViolationKind::DuplicateAddress),
        49
    );
    SimLink::new(2).run(&mut b, &mut srv, Duration::from_secs(1), 64);
    assert_eq!(
        b.stats().violations.count(ViolationKind::DuplicateAddress),
        50
    );

    // The router names the owner of a reply; the other fleet calls it not ours.
    let mut srv = server(1000);
    let mut c = mk(0);
    let mut buf = [0u8; 2048];
    let mut out = [0u8; 2048];
    let n = b.poll_transmit(Duration::from_secs(2), &mut buf);
    assert!(n.is_none(), "b reached its DORA limit");
    let n = {
        let mut cfg = config(50, 1000.0);
        cfg.first_client = 50;
        cfg.total_clients = 100;
        cfg.dora_limit = None;
        let mut d = Fleet::with_registry(cfg, Arc::new(Registry::new(100))).unwrap();
        d.poll_transmit(Duration::from_secs(1), &mut buf).unwrap()
    };
    let m = srv.handle(&buf[..n], &mut out).unwrap();
    let router = Router::new(c.config());
    assert_eq!(router.client_of(&out[..m]), Some(50));
    assert_eq!(
        c.handle_frame(Duration::from_secs(1), &out[..m]),
        Verdict::NotForUs
    );
}

#[test]
fn release_all_releases_every_bound_client() {
    let mut srv = server(1000);
    let (mut fleet, mut link) = run(config(100, 10_000.0), &mut srv, 1);
    assert_eq!(srv.bindings(), 100);
    fleet.set_starting(false);
    assert_eq!(fleet.release_all(), 100);
    let until = link.now + Duration::from_millis(10);
    link.run(&mut fleet, &mut srv, until, 64);
    assert_eq!(fleet.stats().exchange(Exchange::Release).sent, 100);
    assert_eq!(srv.bindings(), 0);
    assert_eq!(fleet.release_all(), 0, "nobody is bound any more");
}

#[test]
fn renewals_start_as_soon_as_clients_are_bound_in_a_large_fleet() {
    let mut srv = server(200_000);
    let mut cfg = config(100_000, 20_000.0);
    cfg.renew_rate = 2_000.0;
    let mut fleet = Fleet::new(cfg).unwrap();
    let mut link = SimLink::new(4);
    link.run(&mut fleet, &mut srv, Duration::from_millis(500), 64);
    let s = fleet.stats();
    assert_clean(s);
    // 2,000/s over the ~0.5 s in which bound clients exist.
    assert!(
        s.exchange(Exchange::Renew).sent > 900,
        "{:?}",
        s.exchange(Exchange::Renew)
    );
    assert!(s.no_free_client < 5, "{}", s.no_free_client);
}

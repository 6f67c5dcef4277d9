//! Live reconfiguration on one server (through `Node`, which reloads the way the daemon
//! does): options, subnets, pools and exclusions change; no lease is lost or duplicated.

use std::net::Ipv4Addr;

use super::{failover_tests::req, *};
use crate::{
    config::{AddrRange, Ipv4Net, Subnet, SubnetId, SubnetOptions},
    failover::{endpoint::Now, node::Node},
    lease::BindingState,
    testing::test_config,
};

const IFACE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const T0: u32 = 1_700_000_000;

fn now(secs: u32) -> Now {
    Now {
        mono_ms: u64::from(secs) * 1000,
        wall: T0 + secs,
    }
}

fn node() -> Node {
    let mut c = test_config();
    c.server.workers = 2;
    c.server.shards = 4;
    let mut n = Node::start(c, vec![IFACE], 2, Vec::new(), now(0));
    n.pump(now(0));
    n
}

fn relayed(t: MsgType, n: u8, giaddr: Ipv4Addr) -> Request<'static> {
    Request {
        giaddr,
        ..req(t, n)
    }
}

/// DORA for client `n` (relayed when `giaddr` is set); the address when ACKed.
fn dora(node: &mut Node, n: u8, giaddr: Option<Ipv4Addr>, at: u32) -> Option<Ipv4Addr> {
    let base = |t| match giaddr {
        Some(g) => relayed(t, n, g),
        None => req(t, n),
    };
    let (_, o) = node.handle_request(now(at), 0, &base(MsgType::Discover));
    let Outcome::Reply(offer) = o else {
        return None;
    };
    let sel = Request {
        server_id: Some(IFACE),
        requested_ip: Some(offer.yiaddr),
        ..base(MsgType::Request)
    };
    let (_, a) = node.handle_request(now(at), 1, &sel);
    node.sync(now(at));
    match a {
        Outcome::Reply(r) if r.msg_type == MsgType::Ack => Some(r.yiaddr),
        _ => None,
    }
}

fn renew(node: &mut Node, n: u8, addr: Ipv4Addr, giaddr: Option<Ipv4Addr>, at: u32) -> Outcome {
    let r = Request {
        ciaddr: addr,
        giaddr: giaddr.unwrap_or(Ipv4Addr::UNSPECIFIED),
        ..req(MsgType::Request, n)
    };
    let (_, o) = node.handle_request(now(at), 0, &r);
    node.sync(now(at));
    o
}

fn active(node: &Node) -> Vec<(Ipv4Addr, crate::lease::ClientKey)> {
    node.held()
        .into_iter()
        .filter(|h| h.2 == BindingState::Active)
        .map(|h| (h.0, h.1))
        .collect()
}

#[test]
fn options_change_a_subnet_is_added_and_leases_stay() {
    let mut n = node();
    let a = dora(&mut n, 1, None, 1).unwrap();
    let mut cfg = n.plan().cfg.clone();
    cfg.subnets[0].options.routers = vec![Ipv4Addr::new(10, 0, 0, 254)];
    cfg.subnets.push(Subnet {
        id: SubnetId(3),
        network: Ipv4Net {
            addr: Ipv4Addr::new(10, 2, 0, 0),
            prefix: 24,
        },
        pools: vec![AddrRange {
            start: Ipv4Addr::new(10, 2, 0, 10),
            end: Ipv4Addr::new(10, 2, 0, 20),
        }],
        exclusions: vec![],
        lease: cfg.subnets[0].lease,
        options: SubnetOptions {
            routers: vec![Ipv4Addr::new(10, 2, 0, 1)],
            ..SubnetOptions::default()
        },
        vendor_classes: vec![],
        reservations: vec![],
        shared_network: None,
        server_id: None,
    });
    let (m, _) = n.reload(cfg, now(2)).expect("reload");
    assert_eq!(m.added, 11);
    assert_eq!(m.orphaned, 0);
    // The lease is still there and renews; the reply uses the new options.
    let Outcome::Reply(r) = renew(&mut n, 1, a, None, 3) else {
        panic!("no renewal after the reload")
    };
    assert_eq!((r.msg_type, r.yiaddr), (MsgType::Ack, a));
    let si = r.subnet.unwrap();
    assert_eq!(
        n.plan().subnet(si).options.routers,
        vec![Ipv4Addr::new(10, 0, 0, 254)]
    );
    // The new subnet serves relayed clients.
    let b = dora(&mut n, 2, Some(Ipv4Addr::new(10, 2, 0, 1)), 4).unwrap();
    assert!((10..=20).contains(&b.octets()[3]) && b.octets()[..3] == [10, 2, 0]);
}

#[test]
fn restart_only_settings_are_refused_by_name() {
    let mut n = node();
    let mut cfg = n.plan().cfg.clone();
    cfg.server.workers = 4;
    cfg.server.state_dir = "/elsewhere".into();
    let e = n.reload(cfg, now(1)).unwrap_err();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("server.workers: 2 -> 4"), "{e:?}");
    assert!(e[1].starts_with("server.state-dir"), "{e:?}");
}

#[test]
fn a_removed_pool_keeps_its_leases_and_a_returning_pool_does_not_duplicate_them() {
    let mut n = node();
    let relay = Some(Ipv4Addr::new(10, 1, 0, 1));
    let mut held = Vec::new();
    for c in 1..=5u8 {
        held.push((c, dora(&mut n, c, relay, 1).unwrap()));
    }
    let before = active(&n);
    // Remove subnet 2's pool (its reservation stays).
    let mut cfg = n.plan().cfg.clone();
    let original = cfg.clone();
    cfg.subnets[1].pools.clear();
    let (m, _) = n.reload(cfg, now(2)).expect("reload");
    assert_eq!(m.orphaned, 5, "{m:?}");
    // Nothing lost: the bindings are still there, with their addresses.
    let kept = n
        .bindings()
        .into_iter()
        .filter(|b| b.state == BindingState::Active && b.addr.octets()[..3] == [10, 1, 0])
        .count();
    assert_eq!(kept, 5);
    // No new client gets an address there (no pool).
    assert_eq!(dora(&mut n, 50, relay, 3), None);
    // The pool comes back: the five leases hold their addresses again, so new clients get
    // the other five and nobody gets one twice.
    n.reload(original, now(4)).expect("reload back");
    assert_eq!(active(&n).len(), before.len());
    let mut fresh = Vec::new();
    for c in 60..70u8 {
        if let Some(a) = dora(&mut n, c, relay, 5) {
            fresh.push(a);
        }
    }
    assert_eq!(
        fresh.len(),
        5,
        "the pool has ten addresses, five still held: {fresh:?}"
    );
    for (_, a) in &held {
        assert!(!fresh.contains(a), "{a} handed out twice");
    }
}

#[test]
fn an_address_excluded_while_leased_is_not_reused_after_release() {
    let mut n = node();
    let a = dora(&mut n, 1, None, 1).unwrap();
    let mut cfg = n.plan().cfg.clone();
    cfg.subnets[0]
        .exclusions
        .push(AddrRange { start: a, end: a });
    n.reload(cfg, now(2)).expect("reload");
    // Still leased and renewable.
    assert!(matches!(renew(&mut n, 1, a, None, 3), Outcome::Reply(r) if r.yiaddr == a));
    let rel = Request {
        ciaddr: a,
        server_id: Some(IFACE),
        ..req(MsgType::Release, 1)
    };
    n.handle_request(now(4), 0, &rel);
    n.sync(now(4));
    let sid = n.plan().space.slot_of(a).unwrap();
    assert_eq!(n.plan().space.get(sid), crate::lease::Slot::Excluded);
    for c in 10..40u8 {
        assert_ne!(
            dora(&mut n, c, None, 5),
            Some(a),
            "excluded address handed out"
        );
    }
}

#[test]
fn a_lease_outside_every_pool_renews_for_the_time_it_has_left() {
    let mut n = node();
    let relay = Some(Ipv4Addr::new(10, 1, 0, 1));
    let a = dora(&mut n, 1, relay, 1).unwrap();
    let end = n.bindings().iter().find(|b| b.addr == a).unwrap().lease_end;
    let mut cfg = n.plan().cfg.clone();
    cfg.subnets[1].pools.clear();
    n.reload(cfg, now(2)).unwrap();
    let Outcome::Reply(r) = renew(&mut n, 1, a, relay, 100) else {
        panic!("no answer")
    };
    assert_eq!((r.msg_type, r.yiaddr), (MsgType::Ack, a));
    assert_eq!(T0 + 100 + r.lease.unwrap().lease_secs, end, "not extended");
    assert_eq!(
        n.engines
            .iter()
            .map(|e| e.counters.leases_outside_pools)
            .sum::<u64>(),
        1
    );
    // Once it has ended, the client is told to start again.
    let Outcome::Reply(r) = renew(&mut n, 1, a, relay, end - T0 + 1) else {
        panic!("no answer")
    };
    assert_eq!(r.msg_type, MsgType::Nak);
}

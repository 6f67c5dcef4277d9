//! Timed trace tests of the engine: send this at t, expect that — one per RFC 2131 path.

use std::{net::Ipv4Addr, sync::Arc};

use super::*;
use crate::{lease::AddressSpace, testing::test_config};

const IFACE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const T0: u32 = 1_700_000_000;

fn engine() -> Engine {
    engine_with(test_config())
}

fn engine_with(cfg: crate::config::Config) -> Engine {
    let space = Arc::new(AddressSpace::new(&cfg));
    let shards: Vec<u16> = (0..cfg.server.shards).collect();
    let plan = Arc::new(Plan::new(cfg, space, vec![IFACE]));
    Engine::new(plan, &shards, 1024, T0)
}

fn mac(n: u8) -> &'static [u8] {
    Box::leak(Box::new([2, 0, 0, 0, 1, n]))
}

fn base(t: MsgType, n: u8) -> Request<'static> {
    Request {
        msg_type: t,
        xid: 0x1234_0000 | u32::from(n),
        broadcast: false,
        secs: 0,
        htype: 1,
        chaddr: mac(n),
        ciaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        client_id: None,
        requested_ip: None,
        server_id: None,
        lease_time: None,
        vendor_class: None,
        relay: None,
        subnet_selection: None,
        iface_addr: IFACE,
    }
}

fn discover(n: u8) -> Request<'static> {
    base(MsgType::Discover, n)
}

fn select(n: u8, addr: Ipv4Addr) -> Request<'static> {
    Request {
        server_id: Some(IFACE),
        requested_ip: Some(addr),
        ..base(MsgType::Request, n)
    }
}

fn reply(o: Outcome) -> ReplyPlan {
    match o {
        Outcome::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// DISCOVER then REQUEST: returns the leased address.
fn dora(e: &mut Engine, n: u8, now: u32) -> Ipv4Addr {
    let offer = reply(e.handle(now, &discover(n)));
    assert_eq!(offer.msg_type, MsgType::Offer);
    let ack = reply(e.handle(now, &select(n, offer.yiaddr)));
    assert_eq!(ack.msg_type, MsgType::Ack);
    assert_eq!(ack.yiaddr, offer.yiaddr);
    ack.yiaddr
}

#[test]
fn discover_offers_an_address_from_the_interface_subnet() {
    let mut e = engine();
    let o = reply(e.handle(T0, &discover(1)));
    assert_eq!(o.msg_type, MsgType::Offer);
    assert!(
        e.plan().subnet(0).pools[0].contains(o.yiaddr),
        "{}",
        o.yiaddr
    );
    assert_eq!(o.server_id, IFACE);
    let l = o.lease.unwrap();
    assert_eq!((l.lease_secs, l.t1_secs, l.t2_secs), (3600, 1800, 3150));
    // Unicast to chaddr/yiaddr: no broadcast flag, no ciaddr, no relay.
    assert_eq!(o.dest.ip, o.yiaddr);
    assert_eq!(o.dest.port, 68);
    assert_eq!(o.dest.l2, L2::Client([2, 0, 0, 0, 1, 1]));
    assert!(o.durable_after.is_none(), "offers are not journaled");
    assert!(e.journal().is_empty());
}

#[test]
fn selecting_request_is_acked_after_the_journal() {
    let mut e = engine();
    let o = reply(e.handle(T0, &discover(1)));
    let a = reply(e.handle(T0 + 1, &select(1, o.yiaddr)));
    assert_eq!(a.msg_type, MsgType::Ack);
    let seq = a.durable_after.expect("ACK waits for the journal");
    let j: Vec<_> = e.journal().drain(..).collect();
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].seq, seq);
    assert_eq!(j[0].binding.addr, o.yiaddr);
    assert_eq!(j[0].binding.state, crate::lease::BindingState::Active);
    assert_eq!(j[0].binding.lease_end, T0 + 1 + 3600);
    assert_eq!(j[0].binding.cltt, T0 + 1);
    assert_eq!(e.counters.pkt4_ack_sent, 1);
}

#[test]
fn two_clients_are_never_offered_the_same_address() {
    let mut e = engine();
    let mut seen = std::collections::HashSet::new();
    for n in 0..50 {
        let o = reply(e.handle(T0, &discover(n)));
        assert!(seen.insert(o.yiaddr), "{} offered twice", o.yiaddr);
    }
    // A repeated DISCOVER within the hold gets the same offer.
    let again = reply(e.handle(T0 + 1, &discover(7)));
    let first = reply(e.handle(T0 + 2, &discover(7)));
    assert_eq!(again.yiaddr, first.yiaddr);
}

#[test]
fn an_unclaimed_offer_lapses_after_the_hold() {
    let mut cfg = test_config();
    // A one-address pool makes the hold observable.
    cfg.subnets[1].pools = vec![crate::config::AddrRange {
        start: Ipv4Addr::new(10, 1, 0, 50),
        end: Ipv4Addr::new(10, 1, 0, 50),
    }];
    let mut e = engine_with(cfg);
    let relayed = |n| Request {
        giaddr: Ipv4Addr::new(10, 1, 0, 1),
        ..discover(n)
    };
    let o = reply(e.handle(T0, &relayed(1)));
    assert_eq!(o.yiaddr, Ipv4Addr::new(10, 1, 0, 50));
    assert_eq!(
        e.handle(T0 + 5, &relayed(2)),
        Outcome::Drop(DropReason::AllocationFailed)
    );
    e.tick(T0 + 10);
    let o2 = reply(e.handle(T0 + 11, &relayed(2)));
    assert_eq!(o2.yiaddr, Ipv4Addr::new(10, 1, 0, 50));
    // The first client's late REQUEST is refused.
    let late = Request {
        giaddr: Ipv4Addr::new(10, 1, 0, 1),
        ..select(1, o.yiaddr)
    };
    assert_eq!(reply(e.handle(T0 + 12, &late)).msg_type, MsgType::Nak);
}

#[test]
fn request_for_another_server_releases_our_offer_silently() {
    let mut e = engine();
    let o = reply(e.handle(T0, &discover(1)));
    let other = Request {
        server_id: Some(Ipv4Addr::new(10, 0, 0, 2)),
        ..select(1, o.yiaddr)
    };
    assert_eq!(e.handle(T0, &other), Outcome::Drop(DropReason::NotForUs));
    // The address is free again: a client that asks for it (a lost OFFER, say) gets it...
    assert_eq!(
        reply(e.handle(T0, &select(2, o.yiaddr))).msg_type,
        MsgType::Ack
    );
    // ...and the first client's late REQUEST to us gets a NAK.
    assert_eq!(
        reply(e.handle(T0, &select(1, o.yiaddr))).msg_type,
        MsgType::Nak
    );
}

#[test]
fn renewing_and_rebinding_extend_the_lease() {
    let mut e = engine();
    let a = dora(&mut e, 1, T0);
    e.journal().clear();
    let renew = Request {
        ciaddr: a,
        ..base(MsgType::Request, 1)
    };
    let r = reply(e.handle(T0 + 1800, &renew));
    assert_eq!(r.msg_type, MsgType::Ack);
    assert_eq!(r.yiaddr, a);
    assert_eq!(r.ciaddr, a);
    assert_eq!(r.dest.ip, a, "renewal answered to ciaddr");
    assert_eq!(r.dest.l2, L2::Sender);
    assert_eq!(e.journal()[0].binding.lease_end, T0 + 1800 + 3600);
    // Rebinding: broadcast, same fields.
    let rebind = Request {
        broadcast: true,
        ..renew
    };
    let r = reply(e.handle(T0 + 3200, &rebind));
    assert_eq!(r.msg_type, MsgType::Ack);
}

#[test]
fn renewing_someone_elses_address_is_refused() {
    let mut e = engine();
    let a = dora(&mut e, 1, T0);
    let _b = dora(&mut e, 2, T0);
    let bad = Request {
        ciaddr: a,
        ..base(MsgType::Request, 2)
    };
    assert_eq!(reply(e.handle(T0 + 10, &bad)).msg_type, MsgType::Nak);
}

#[test]
fn an_offer_let_go_is_no_record_of_a_lease_for_init_reboot() {
    // Seed 0xe73094d795cb1ce5: the client took the other server's offer; rebooting, it asked for
    // that server's address, and our NAK ("not leased to this client", from the offer we had
    // let go) reached it with the other server's ACK. It heeded the NAK and took a second
    // lease from us, which the partners' clocks then could not order.
    let mut e = engine();
    reply(e.handle(T0, &discover(1)));
    let elsewhere = Request {
        server_id: Some(Ipv4Addr::new(10, 0, 0, 2)),
        requested_ip: Some(Ipv4Addr::new(10, 0, 0, 150)),
        ..base(MsgType::Request, 1)
    };
    assert_eq!(
        e.handle(T0, &elsewhere),
        Outcome::Drop(DropReason::NotForUs)
    );
    let reboot = Request {
        requested_ip: Some(Ipv4Addr::new(10, 0, 0, 150)),
        ..base(MsgType::Request, 1)
    };
    assert_eq!(
        e.handle(T0 + 3, &reboot),
        Outcome::Drop(DropReason::NoBinding),
        "silent, as for a client we never heard of"
    );
    // An address another client holds is still refused.
    let taken = dora(&mut e, 2, T0 + 4);
    let theirs = Request {
        requested_ip: Some(taken),
        ..base(MsgType::Request, 1)
    };
    assert_eq!(reply(e.handle(T0 + 5, &theirs)).msg_type, MsgType::Nak);
}

#[test]
fn init_reboot_with_a_wrong_address_gets_a_nak() {
    let mut e = engine();
    let a = dora(&mut e, 1, T0);
    // Right address: ACK.
    let ok = Request {
        requested_ip: Some(a),
        ..base(MsgType::Request, 1)
    };
    assert_eq!(reply(e.handle(T0 + 60, &ok)).msg_type, MsgType::Ack);
    // Another address in the subnet: NAK, broadcast.
    let wrong = Request {
        requested_ip: Some(Ipv4Addr::new(10, 0, 0, 123)),
        ..base(MsgType::Request, 1)
    };
    let nak = reply(e.handle(T0 + 61, &wrong));
    assert_eq!(nak.msg_type, MsgType::Nak);
    assert_eq!(nak.dest.ip, Ipv4Addr::BROADCAST);
    assert_eq!(nak.dest.l2, L2::Broadcast);
    assert!(nak.lease.is_none() && nak.subnet.is_none());
    // An address on another network: NAK.
    let moved = Request {
        requested_ip: Some(Ipv4Addr::new(192, 168, 9, 9)),
        ..base(MsgType::Request, 1)
    };
    assert_eq!(reply(e.handle(T0 + 62, &moved)).msg_type, MsgType::Nak);
    // No record at all and a free address: silence.
    let stranger = Request {
        requested_ip: Some(Ipv4Addr::new(10, 0, 0, 180)),
        ..base(MsgType::Request, 99)
    };
    assert_eq!(
        e.handle(T0 + 63, &stranger),
        Outcome::Drop(DropReason::NoBinding)
    );
}

#[test]
fn a_returning_client_gets_its_previous_address() {
    let mut e = engine();
    let a = dora(&mut e, 1, T0);
    let release = Request {
        ciaddr: a,
        server_id: Some(IFACE),
        ..base(MsgType::Release, 1)
    };
    assert_eq!(
        e.handle(T0 + 10, &release),
        Outcome::Drop(DropReason::NoReplyExpected)
    );
    for n in 2..20 {
        dora(&mut e, n, T0 + 20);
    }
    let o = reply(e.handle(T0 + 30, &discover(1)));
    assert_eq!(o.yiaddr, a, "previous address, still free, offered again");
    assert_eq!(e.counters.v4_lease_reuses, 1);
}

#[test]
fn release_frees_the_address_and_is_journaled() {
    let mut e = engine();
    let a = dora(&mut e, 1, T0);
    e.journal().clear();
    let release = Request {
        ciaddr: a,
        server_id: Some(IFACE),
        ..base(MsgType::Release, 1)
    };
    e.handle(T0 + 10, &release);
    assert_eq!(
        e.journal()[0].binding.state,
        crate::lease::BindingState::Released
    );
    // A release for an address the client does not hold changes nothing.
    let bogus = Request {
        ciaddr: Ipv4Addr::new(10, 0, 0, 111),
        ..release
    };
    assert_eq!(
        e.handle(T0 + 11, &bogus),
        Outcome::Drop(DropReason::NoBinding)
    );
}

#[test]
fn decline_quarantines_the_address() {
    let mut cfg = test_config();
    cfg.subnets[1].pools = vec![crate::config::AddrRange {
        start: Ipv4Addr::new(10, 1, 0, 50),
        end: Ipv4Addr::new(10, 1, 0, 51),
    }];
    let mut e = engine_with(cfg);
    let gi = Ipv4Addr::new(10, 1, 0, 1);
    let relayed = |r: Request<'static>| Request { giaddr: gi, ..r };
    let o = reply(e.handle(T0, &relayed(discover(1))));
    reply(e.handle(T0, &relayed(select(1, o.yiaddr))));
    let decline = relayed(Request {
        requested_ip: Some(o.yiaddr),
        server_id: Some(IFACE),
        ..base(MsgType::Decline, 1)
    });
    assert_eq!(
        e.handle(T0 + 1, &decline),
        Outcome::Drop(DropReason::NoReplyExpected)
    );
    assert_eq!(e.counters.declined_addresses, 1);
    assert!(
        e.journal()
            .iter()
            .any(|j| j.binding.state == crate::lease::BindingState::Abandoned)
    );
    // Nobody gets the declined address during the quarantine (600 s in test_config)...
    for n in 2..6 {
        if let Outcome::Reply(r) = e.handle(T0 + 10, &relayed(discover(n))) {
            assert_ne!(
                r.yiaddr, o.yiaddr,
                "declined address offered during quarantine"
            );
            reply(e.handle(T0 + 10, &relayed(select(n, r.yiaddr))));
        }
    }
    // ...and it comes back after it.
    let later = reply(e.handle(T0 + 700, &relayed(discover(9))));
    assert_eq!(later.yiaddr, o.yiaddr);
}

#[test]
fn inform_gets_options_and_no_lease() {
    let mut e = engine();
    let inform = Request {
        ciaddr: Ipv4Addr::new(10, 0, 0, 33),
        ..base(MsgType::Inform, 1)
    };
    let r = reply(e.handle(T0, &inform));
    assert_eq!(r.msg_type, MsgType::Ack);
    assert!(r.lease.is_none());
    assert_eq!(r.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.ciaddr, Ipv4Addr::new(10, 0, 0, 33));
    assert_eq!(r.dest.ip, Ipv4Addr::new(10, 0, 0, 33));
    assert_eq!(r.subnet, Some(0));
    assert!(e.journal().is_empty());
}

#[test]
fn relayed_requests_use_the_relay_subnet_and_go_back_to_the_relay() {
    let mut e = engine();
    let gi = Ipv4Addr::new(10, 1, 0, 1);
    let req = Request {
        giaddr: gi,
        relay: Some(RelayInfo {
            circuit_id: Some(b"port-3"),
            remote_id: Some(b"olt-1"),
        }),
        ..discover(1)
    };
    let o = reply(e.handle(T0, &req));
    assert!(e.plan().subnet(1).pools[0].contains(o.yiaddr));
    assert_eq!(o.dest.ip, gi);
    assert_eq!(o.dest.port, 67);
    assert_eq!(o.dest.l2, L2::Sender);
    assert!(o.echo_relay_info);
    // A NAK through a relay sets the broadcast flag.
    let wrong = Request {
        giaddr: gi,
        requested_ip: Some(Ipv4Addr::new(10, 1, 0, 55)),
        ..base(MsgType::Request, 77)
    };
    let held = Request {
        giaddr: gi,
        ..select(1, o.yiaddr)
    };
    assert_eq!(reply(e.handle(T0, &held)).msg_type, MsgType::Ack);
    let n = reply(e.handle(
        T0,
        &Request {
            requested_ip: Some(o.yiaddr),
            ..wrong
        },
    ));
    assert_eq!(n.msg_type, MsgType::Nak);
    assert!(n.dest.set_broadcast_flag);
    assert_eq!(n.dest.ip, gi);
}

#[test]
fn option_118_selects_the_subnet() {
    let mut e = engine();
    let req = Request {
        subnet_selection: Some(Ipv4Addr::new(10, 1, 0, 0)),
        ..discover(1)
    };
    let o = reply(e.handle(T0, &req));
    assert!(e.plan().subnet(1).pools[0].contains(o.yiaddr));
}

#[test]
fn reservations_by_mac_and_by_circuit_id() {
    let mut e = engine();
    let reserved = Request {
        chaddr: &[2, 0, 0, 0, 0, 10],
        ..discover(0)
    };
    let o = reply(e.handle(T0, &reserved));
    assert_eq!(o.yiaddr, Ipv4Addr::new(10, 0, 0, 10));
    assert_eq!(o.reservation, Some((0, 0)));
    // Circuit-id reservation in the relayed subnet: any device on port-7 gets 10.1.0.7.
    let on_port = |n| Request {
        giaddr: Ipv4Addr::new(10, 1, 0, 1),
        relay: Some(RelayInfo {
            circuit_id: Some(b"port-7"),
            remote_id: None,
        }),
        ..discover(n)
    };
    let o = reply(e.handle(T0, &on_port(40)));
    assert_eq!(o.yiaddr, Ipv4Addr::new(10, 1, 0, 7));
    // A second device on the same port while the first holds it: conflict, dynamic address.
    let o2 = reply(e.handle(T0, &on_port(41)));
    assert_ne!(o2.yiaddr, Ipv4Addr::new(10, 1, 0, 7));
    assert_eq!(e.counters.v4_reservation_conflicts, 1);
    // Nobody else is ever given the reserved address dynamically.
    for n in 100..120 {
        if let Outcome::Reply(r) = e.handle(T0, &discover(n)) {
            assert_ne!(r.yiaddr, Ipv4Addr::new(10, 0, 0, 10));
        }
    }
}

#[test]
fn requested_lease_time_is_clamped() {
    let mut e = engine();
    let long = Request {
        lease_time: Some(10_000_000),
        ..discover(1)
    };
    assert_eq!(reply(e.handle(T0, &long)).lease.unwrap().lease_secs, 86_400);
    let short = Request {
        lease_time: Some(5),
        ..discover(2)
    };
    assert_eq!(reply(e.handle(T0, &short)).lease.unwrap().lease_secs, 60);
}

#[test]
fn vendor_class_selects_option_43() {
    let mut e = engine();
    let req = Request {
        vendor_class: Some(b"MSFT 5.0"),
        ..discover(1)
    };
    assert_eq!(reply(e.handle(T0, &req)).vendor, Some((0, 0)));
    assert_eq!(reply(e.handle(T0, &discover(2))).vendor, None);
}

#[test]
fn broadcast_flag_makes_offers_broadcast() {
    let mut e = engine();
    let req = Request {
        broadcast: true,
        ..discover(1)
    };
    let o = reply(e.handle(T0, &req));
    assert_eq!(o.dest.ip, Ipv4Addr::BROADCAST);
    assert_eq!(o.dest.l2, L2::Broadcast);
}

#[test]
fn leases_expire_and_are_journaled() {
    let mut e = engine();
    let a = dora(&mut e, 1, T0);
    e.journal().clear();
    assert_eq!(e.tick(T0 + 3599), 0);
    assert_eq!(e.tick(T0 + 3600), 1);
    let j = e.journal()[0];
    assert_eq!(j.binding.addr, a);
    assert_eq!(j.binding.state, crate::lease::BindingState::Expired);
    assert_eq!(e.counters.reclaimed_leases, 1);
}

#[test]
fn client_identifier_is_the_identity_when_present() {
    let mut e = engine();
    let with_id = |n| Request {
        client_id: Some(b"\x01same-client"),
        ..discover(n)
    };
    let a = reply(e.handle(T0, &with_id(1))).yiaddr;
    // Same client id from a different MAC: same client.
    let b = reply(e.handle(T0, &with_id(2))).yiaddr;
    assert_eq!(a, b);
}

#[test]
fn no_subnet_and_unexpected_types_are_counted_drops() {
    let mut e = engine();
    let lost = Request {
        giaddr: Ipv4Addr::new(172, 16, 0, 1),
        ..discover(1)
    };
    assert_eq!(e.handle(T0, &lost), Outcome::Drop(DropReason::NoSubnet));
    assert_eq!(
        e.handle(T0, &base(MsgType::Offer, 1)),
        Outcome::Drop(DropReason::UnexpectedType)
    );
    assert_eq!(
        e.handle(T0, &base(MsgType::Other(42), 1)),
        Outcome::Drop(DropReason::UnexpectedType)
    );
    assert_eq!(e.counters.drops[2], 1);
    assert_eq!(e.counters.drops[1], 2);
}

#[test]
fn requests_for_foreign_shards_are_forwarded() {
    let cfg = test_config(); // two shards
    let space = Arc::new(AddressSpace::new(&cfg));
    let plan = Arc::new(Plan::new(cfg, space, vec![IFACE]));
    let mut e0 = Engine::new(plan.clone(), &[0], 256, T0);
    let mut e1 = Engine::new(plan.clone(), &[1], 256, T0);
    let mut forwarded = 0;
    for n in 0..40 {
        let req = discover(n);
        match e0.handle(T0, &req) {
            Outcome::Forward(s) => {
                assert_eq!(s, 1);
                forwarded += 1;
                assert!(matches!(e1.handle(T0, &req), Outcome::Reply(_)));
            }
            Outcome::Reply(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(forwarded > 5 && forwarded < 35, "{forwarded}");
}

#[test]
fn a_shared_network_spills_into_its_second_subnet() {
    let mut cfg = test_config();
    // Subnet 1 keeps two usable addresses; subnet 2 joins it in one shared network, reached
    // through the same interface.
    cfg.subnets[0].pools = vec![crate::config::AddrRange {
        start: Ipv4Addr::new(10, 0, 0, 100),
        end: Ipv4Addr::new(10, 0, 0, 101),
    }];
    cfg.subnets[0].exclusions.clear();
    cfg.subnets[0].shared_network = Some("campus".into());
    cfg.subnets[1].shared_network = Some("campus".into());
    let mut e = engine_with(cfg);
    let mut got = Vec::new();
    for n in 1..=5 {
        got.push(dora(&mut e, n, T0));
    }
    assert_eq!(&got[..2].iter().filter(|a| a.octets()[1] == 0).count(), &2);
    for a in &got[2..] {
        assert_eq!(
            a.octets()[..3],
            [10, 1, 0],
            "spilled into the second subnet: {a}"
        );
    }
    // Options and mask come from the subnet the address is in.
    let o = reply(e.handle(T0, &discover(9)));
    assert_eq!(o.subnet, Some(1));
    // A renewal of a second-subnet address arriving on the first subnet's interface is fine.
    let renew = Request {
        ciaddr: got[4],
        ..base(MsgType::Request, 5)
    };
    assert_eq!(reply(e.handle(T0 + 10, &renew)).msg_type, MsgType::Ack);
}

#[test]
fn reservations_by_client_id_and_remote_id() {
    let mut cfg = test_config();
    cfg.subnets[0]
        .reservations
        .push(crate::config::Reservation {
            key: crate::config::ReservationKey::ClientId(b"\x01cpe-42".to_vec()),
            address: Ipv4Addr::new(10, 0, 0, 42),
            hostname: Some("cpe-42".into()),
        });
    cfg.subnets[1]
        .reservations
        .push(crate::config::Reservation {
            key: crate::config::ReservationKey::RemoteId(b"olt-9".to_vec()),
            address: Ipv4Addr::new(10, 1, 0, 9),
            hostname: None,
        });
    let mut e = engine_with(cfg);
    let by_id = Request {
        client_id: Some(b"\x01cpe-42"),
        ..discover(1)
    };
    let o = reply(e.handle(T0, &by_id));
    assert_eq!(o.yiaddr, Ipv4Addr::new(10, 0, 0, 42));
    assert_eq!(o.reservation, Some((0, 1)));
    let select = Request {
        msg_type: MsgType::Request,
        server_id: Some(IFACE),
        requested_ip: Some(o.yiaddr),
        ..by_id
    };
    let a = reply(e.handle(T0, &select));
    assert_eq!(a.msg_type, MsgType::Ack);
    let by_remote = Request {
        giaddr: Ipv4Addr::new(10, 1, 0, 1),
        relay: Some(RelayInfo {
            circuit_id: Some(b"some-port"),
            remote_id: Some(b"olt-9"),
        }),
        ..discover(2)
    };
    assert_eq!(
        reply(e.handle(T0, &by_remote)).yiaddr,
        Ipv4Addr::new(10, 1, 0, 9)
    );
    // The reservation of one subnet does not apply to a client in another.
    let elsewhere = Request {
        giaddr: Ipv4Addr::new(10, 1, 0, 1),
        client_id: Some(b"\x01cpe-42"),
        ..discover(3)
    };
    assert_ne!(
        reply(e.handle(T0, &elsewhere)).yiaddr,
        Ipv4Addr::new(10, 0, 0, 42)
    );
}

#[test]
fn an_ack_to_a_relayed_request_records_the_remote_id_digest_and_restore_keeps_it() {
    use crate::journal::{RECORD_LEN, decode_record, encode_record};
    use crate::lease::remote_id_digest;
    let mut e = engine();
    let digest = remote_id_digest(b"olt-1 port 3");
    let relayed = |r: Request<'static>| Request {
        giaddr: Ipv4Addr::new(10, 1, 0, 1),
        relay: Some(RelayInfo {
            circuit_id: Some(b"port-3"),
            remote_id: Some(b"olt-1 port 3"),
        }),
        ..r
    };
    let o = reply(e.handle(T0, &relayed(discover(1))));
    assert!(
        e.admin_find_remote_id(digest).is_empty(),
        "an offer is not a lease"
    );
    let a = reply(e.handle(T0 + 1, &relayed(select(1, o.yiaddr))));
    assert_eq!(a.msg_type, MsgType::Ack);
    let j: Vec<_> = e.journal().drain(..).collect();
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].binding.remote_id, digest);
    let found = e.admin_find_remote_id(digest);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].binding.addr, o.yiaddr);
    assert!(
        e.admin_find_remote_id(remote_id_digest(b"olt-2"))
            .is_empty()
    );
    assert!(e.admin_find_remote_id(0).is_empty());
    // A client without option 82 is not found by any remote-id.
    let plain = dora(&mut e, 2, T0);
    let j2: Vec<_> = e.journal().drain(..).collect();
    assert_eq!((j2[0].binding.addr, j2[0].binding.remote_id), (plain, 0));

    // Through the journal's bytes into a fresh engine: still found.
    let records: Vec<(u64, crate::lease::Binding)> = j
        .iter()
        .chain(&j2)
        .map(|x| {
            let mut r = [0u8; RECORD_LEN];
            encode_record(x.seq, &x.binding, &mut r);
            decode_record(&r).unwrap()
        })
        .collect();
    let mut fresh = [engine()];
    let restored = super::restore::restore(&mut fresh, records, T0 + 2);
    assert_eq!(restored.bindings, 2);
    let found = fresh[0].admin_find_remote_id(digest);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].binding.addr, o.yiaddr);
    assert!(found[0].holds);

    // True to the last committed request: a renewal without option 82 clears it.
    let renew = Request {
        ciaddr: o.yiaddr,
        ..base(MsgType::Request, 1)
    };
    assert_eq!(
        reply(fresh[0].handle(T0 + 10, &renew)).msg_type,
        MsgType::Ack
    );
    assert_eq!(fresh[0].journal()[0].binding.remote_id, 0);
    assert!(fresh[0].admin_find_remote_id(digest).is_empty());
}

//! Two engines sharing a subnet in a failover relationship, with binding updates passed by
//! hand: who answers in each state, the MCLT rule, pool ownership, partner updates.

use std::{
    net::{Ipv4Addr, SocketAddrV4},
    sync::Arc,
};

use super::{peer::PeerOutcome, *};
use crate::failover::RejectReason;
use crate::{
    config::{Config, FailoverMode, FailoverRole, PartnerSoftware, Relationship, SubnetId},
    failover::{ServerState, msg::PeerBinding},
    lease::{AddressSpace, BindingState, Slot},
    testing::test_config,
};

const IFACE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const T0: u32 = 1_700_000_000;
const MCLT: u32 = 600;

fn cfg(role: FailoverRole) -> Config {
    let mut c = test_config();
    c.failover = vec![Relationship {
        name: "pair".into(),
        role,
        mode: FailoverMode::LoadBalance { local_percent: 50 },
        partner: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 647),
        local: SocketAddrV4::new(IFACE, 647),
        floating_address: false,
        mclt_secs: MCLT,
        state_switchover_secs: None,
        shared_secret: None,
        partner_software: PartnerSoftware::Xdhcp,
        subnets: vec![SubnetId(1)],
        max_unacked_updates: 100,
        receive_timer_secs: 30,
        load_balance_max_secs: 0,
    }];
    c
}

fn engine(role: FailoverRole) -> Engine {
    let c = cfg(role);
    let space = Arc::new(AddressSpace::new(&c));
    let shards: Vec<u16> = (0..c.server.shards).collect();
    let plan = Arc::new(Plan::new(c, space, vec![IFACE]));
    Engine::new(plan, &shards, 1024, T0)
}

fn set_state(e: &Engine, s: ServerState, stos: u32) {
    e.plan().views()[0].set_state(s, stos);
}

pub(super) fn mac(n: u8) -> &'static [u8] {
    Box::leak(Box::new([2, 0, 0, 0, 7, n]))
}

pub(super) fn req(t: MsgType, n: u8) -> Request<'static> {
    Request {
        msg_type: t,
        xid: u32::from(n),
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

/// Gives every pool address of subnet 1 to the secondary engine `b` as BACKUP.
fn give_backup(b: &mut Engine, n: u32) {
    for i in 0..n {
        let a = Ipv4Addr::new(10, 0, 0, 100 + i as u8);
        if a == Ipv4Addr::new(10, 0, 0, 150) {
            continue;
        }
        let out = b.apply_peer(T0, &PeerBinding::pool(a, BindingState::Backup, T0));
        assert!(
            matches!(out, PeerOutcome::Done { reject: None, .. }),
            "{a}: {out:?}"
        );
    }
}

fn dora(e: &mut Engine, n: u8, now: u32) -> Option<(Ipv4Addr, LeaseGrant)> {
    let Outcome::Reply(o) = e.handle(now, &req(MsgType::Discover, n)) else {
        return None;
    };
    let sel = Request {
        server_id: Some(IFACE),
        requested_ip: Some(o.yiaddr),
        ..req(MsgType::Request, n)
    };
    match e.handle(now, &sel) {
        Outcome::Reply(a) if a.msg_type == MsgType::Ack => Some((a.yiaddr, a.lease.unwrap())),
        _ => None,
    }
}

#[test]
fn silent_states_answer_nobody_and_remember_nothing() {
    let mut a = engine(FailoverRole::Primary);
    for s in [
        ServerState::Startup,
        ServerState::Recover,
        ServerState::RecoverWait,
        ServerState::PotentialConflict,
        ServerState::Paused,
        ServerState::Shutdown,
    ] {
        set_state(&a, s, T0);
        assert_eq!(
            a.handle(T0, &req(MsgType::Discover, 1)),
            Outcome::Drop(DropReason::FailoverSilent),
            "{s:?}"
        );
    }
    assert!(
        a.shards().iter().all(|s| s.is_empty()),
        "nothing remembered"
    );
    // RECOVER-DONE answers no renewal either, as ISC (the draft allows renewals): the
    // partner is in PARTNER-DOWN until it sees us there, and if the link fails first it stays
    // there and reuses ended leases' addresses MCLT after what it knows; a renewal here would
    // be one it cannot know of (seed 0xcf16069d66de2bf3).
    set_state(&a, ServerState::RecoverDone, T0);
    assert_eq!(
        a.handle(T0, &req(MsgType::Discover, 1)),
        Outcome::Drop(DropReason::FailoverSilent)
    );
    let renew = Request {
        ciaddr: Ipv4Addr::new(10, 0, 0, 120),
        ..req(MsgType::Request, 1)
    };
    assert_eq!(
        a.handle(T0, &renew),
        Outcome::Drop(DropReason::FailoverSilent)
    );
}

#[test]
fn normal_splits_clients_by_hash_bucket() {
    let mut a = engine(FailoverRole::Primary);
    let mut b = engine(FailoverRole::Secondary);
    set_state(&a, ServerState::Normal, T0);
    set_state(&b, ServerState::Normal, T0);
    give_backup(&mut b, 50);
    let (mut na, mut nb) = (0, 0);
    for n in 0..60u8 {
        let ra = a.handle(T0, &req(MsgType::Discover, n));
        let rb = b.handle(T0, &req(MsgType::Discover, n));
        match (ra, rb) {
            (Outcome::Reply(_), Outcome::Drop(DropReason::PartnerBucket)) => na += 1,
            (Outcome::Drop(DropReason::PartnerBucket), Outcome::Reply(_)) => nb += 1,
            other => panic!("client {n}: both or neither answered: {other:?}"),
        }
    }
    assert!(na > 10 && nb > 10, "{na}/{nb}");
}

#[test]
fn the_first_lease_is_capped_at_mclt_and_grows_once_the_partner_knows() {
    let mut a = engine(FailoverRole::Primary);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    let (addr, g) = dora(&mut a, 1, T0).unwrap();
    assert_eq!(
        g.lease_secs, MCLT,
        "partner knows nothing yet: lease ≤ MCLT"
    );
    let entry = *a.journal().last().unwrap();
    assert!(
        entry.binding.sent_pot_exp >= T0 + 3600,
        "we tell the partner the desired lease"
    );
    // The partner acknowledges the potential expiration we sent.
    let sent = PeerBinding::from_binding(&entry.binding, Some(entry.binding.sent_pot_exp));
    a.peer_acked(T0 + 10, &sent, true);
    let renew = Request {
        ciaddr: addr,
        ..req(MsgType::Request, 1)
    };
    let Outcome::Reply(r) = a.handle(T0 + 300, &renew) else {
        panic!()
    };
    assert_eq!(
        r.lease.unwrap().lease_secs,
        3600,
        "now the full desired lease fits under the rule"
    );
}

#[test]
fn the_secondary_allocates_only_what_it_was_given() {
    let mut b = engine(FailoverRole::Secondary);
    set_state(&b, ServerState::CommunicationsInterrupted, T0);
    assert_eq!(
        b.handle(T0, &req(MsgType::Discover, 1)),
        Outcome::Drop(DropReason::AllocationFailed),
        "owns nothing yet"
    );
    give_backup(&mut b, 3);
    let mut got = Vec::new();
    for n in 1..=5u8 {
        if let Some((a, _)) = dora(&mut b, n, T0) {
            got.push(a);
        }
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            Ipv4Addr::new(10, 0, 0, 100),
            Ipv4Addr::new(10, 0, 0, 101),
            Ipv4Addr::new(10, 0, 0, 102)
        ]
    );
}

#[test]
fn partner_down_takes_the_partner_pool_only_after_mclt() {
    let mut b = engine(FailoverRole::Secondary);
    set_state(&b, ServerState::PartnerDown, T0);
    assert_eq!(
        b.handle(T0 + MCLT - 1, &req(MsgType::Discover, 1)),
        Outcome::Drop(DropReason::AllocationFailed)
    );
    assert!(
        dora(&mut b, 1, T0 + MCLT).is_some(),
        "after MCLT the primary's free addresses are usable"
    );
}

#[test]
fn an_address_reclaimed_in_partner_down_is_the_primarys_once_the_expiry_is_acknowledged() {
    // Seed 0x954086ca64bc623: the secondary, in PARTNER-DOWN, reclaimed the address of a lease
    // that had ended there; back in touch, the primary acknowledged the expiry and took the
    // address as its FREE, while the secondary still had it as its own: both leased it.
    let mut b = engine(FailoverRole::Secondary);
    set_state(&b, ServerState::PartnerDown, T0);
    let (addr, g) = dora(&mut b, 1, T0 + MCLT).unwrap();
    let sid = b.plan().space.slot_of(addr).unwrap();
    // The lease ends and, MCLT (and the slack) past everything known for it, is reclaimed.
    let mut t = T0 + MCLT + g.lease_secs + 1;
    for _ in 0..4 {
        b.tick(t);
        t += 3 * MCLT + 100;
    }
    b.tick(t);
    assert_eq!(b.plan().space.get(sid), Slot::Free, "reclaimed as our own");
    let expired = b
        .journal()
        .iter()
        .rev()
        .find(|j| j.binding.addr == addr && j.binding.state == BindingState::Expired)
        .copied()
        .expect("the expiry was journaled");
    // The primary is back and acknowledges the expiry: the address is its FREE now.
    b.peer_acked(t, &PeerBinding::from_binding(&expired.binding, None), true);
    assert_eq!(b.plan().space.get(sid), Slot::PartnerFree);
}

#[test]
fn an_ended_lease_is_not_given_back_while_partner_down_makes_our_pool_wait() {
    // Seed 0xb771c8436606a6dd: the primary came back after a long outage and resumed
    // PARTNER-DOWN; its own free addresses waited MCLT (the secondary, in PARTNER-DOWN
    // meanwhile, may have leased them), but a client's ended lease was offered back at once,
    // on an address the secondary had leased to another client.
    let mut a = engine(FailoverRole::Primary);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    let (addr, g) = dora(&mut a, 1, T0).unwrap();
    let ended = T0 + g.lease_secs + 1;
    a.tick(ended);
    let t = ended + 10 * MCLT;
    a.plan().views()[0].set_own_pool_since(t);
    set_state(&a, ServerState::PartnerDown, t);
    let offered = match a.handle(t + 1, &req(MsgType::Discover, 1)) {
        Outcome::Reply(o) => Some(o.yiaddr),
        _ => None,
    };
    assert_ne!(
        offered,
        Some(addr),
        "our pool waits, the ended lease's address too"
    );
    // MCLT later it is ours again.
    let Outcome::Reply(o) = a.handle(t + MCLT + 1, &req(MsgType::Discover, 1)) else {
        panic!("no offer after the wait")
    };
    assert_eq!(o.yiaddr, addr);
}

#[test]
fn a_lease_from_the_partner_is_renewed_here() {
    let mut a = engine(FailoverRole::Primary);
    let mut b = engine(FailoverRole::Secondary);
    set_state(&a, ServerState::Normal, T0);
    set_state(&b, ServerState::Normal, T0);
    // Find a client whose bucket is the primary's.
    let n = (0..100u8)
        .find(|&n| matches!(a.handle(T0, &req(MsgType::Discover, n)), Outcome::Reply(_)))
        .unwrap();
    let sel_addr = match a.handle(T0, &req(MsgType::Discover, n)) {
        Outcome::Reply(o) => o.yiaddr,
        _ => unreachable!(),
    };
    let sel = Request {
        server_id: Some(IFACE),
        requested_ip: Some(sel_addr),
        ..req(MsgType::Request, n)
    };
    assert!(matches!(a.handle(T0, &sel), Outcome::Reply(_)));
    let entry = *a
        .journal()
        .iter()
        .rev()
        .find(|e| e.binding.state == BindingState::Active)
        .unwrap();
    let upd = PeerBinding::from_binding(&entry.binding, Some(entry.binding.sent_pot_exp));
    // The secondary applies the update...
    assert!(matches!(
        b.apply_peer(T0 + 1, &upd),
        PeerOutcome::Done {
            reject: None,
            seq: Some(_)
        }
    ));
    // ...and renews the client when the primary is unreachable (RENEWING ignores buckets).
    let renew = Request {
        ciaddr: sel_addr,
        ..req(MsgType::Request, n)
    };
    let Outcome::Reply(r) = b.handle(T0 + 100, &renew) else {
        panic!("secondary did not renew")
    };
    assert_eq!((r.msg_type, r.yiaddr), (MsgType::Ack, sel_addr));
    // The renewal's lease is within MCLT of what the primary told the secondary.
    let end = T0 + 100 + r.lease.unwrap().lease_secs;
    assert!(end <= upd.pot_exp.unwrap().max(T0 + 100) + MCLT);
}

#[test]
fn conflicting_updates_follow_the_table() {
    let mut a = engine(FailoverRole::Primary);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    let (addr, _) = dora(&mut a, 1, T0).unwrap();
    // The secondary claims the same address for another client: the primary refuses (2).
    let mut other = PeerBinding::pool(addr, BindingState::Active, T0);
    other.hw = Some(crate::lease::HwAddr::new(1, &[2, 9, 9, 9, 9, 9]));
    other.lease_end = Some(T0 + 600);
    other.pot_exp = Some(T0 + 900);
    other.cltt = Some(T0 + 5);
    assert_eq!(
        a.apply_peer(T0 + 5, &other),
        PeerOutcome::Done {
            reject: Some(crate::failover::RejectReason::FatalConflict),
            seq: None
        }
    );
    // An address outside every shared pool is illegal (subnet 2 is not in the relationship).
    let outside = PeerBinding::pool(Ipv4Addr::new(10, 1, 0, 55), BindingState::Free, T0);
    assert_eq!(
        a.apply_peer(T0, &outside),
        PeerOutcome::Done {
            reject: Some(crate::failover::RejectReason::IllegalAddress),
            seq: None
        }
    );
}

/// Seed 0xb7c48a2d51e82736: after a partition the client is ACTIVE here on one address and at
/// the secondary on another, with equal last transaction times. The secondary's update is
/// outdated here, but the secondary told the client its address is leased: refusing the
/// update must not make the address (the secondary's BACKUP) free for the primary to hand out.
#[test]
fn an_outdated_partner_lease_keeps_its_address_out_of_use() {
    let mut a = engine(FailoverRole::Primary);
    set_state(&a, ServerState::Normal, T0);
    let backup = Ipv4Addr::new(10, 0, 0, 199);
    let out = a.apply_peer(T0, &PeerBinding::pool(backup, BindingState::Backup, T0));
    assert!(
        matches!(out, PeerOutcome::Done { reject: None, .. }),
        "{out:?}"
    );
    let sid = a.plan().space.slot_of(backup).unwrap();
    assert_eq!(a.plan().space.get(sid), Slot::PartnerFree);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    let (ours, _) = dora(&mut a, 1, T0 + 10).unwrap();
    assert_ne!(ours, backup);
    // The secondary leased its BACKUP address to the same client at the same moment.
    let mut upd = PeerBinding::pool(backup, BindingState::Active, T0 + 10);
    upd.hw = Some(crate::lease::HwAddr::new(1, mac(1)));
    upd.lease_end = Some(T0 + 10 + MCLT);
    upd.pot_exp = Some(T0 + 10 + 2 * MCLT);
    upd.cltt = Some(T0 + 10);
    let out = a.apply_peer(T0 + 20, &upd);
    assert!(
        matches!(
            out,
            PeerOutcome::Done {
                reject: Some(crate::failover::RejectReason::OutdatedBindingInfo),
                seq: Some(_)
            }
        ),
        "{out:?}"
    );
    // Not ours to give: out of use until MCLT past the partner's potential expiration (and
    // the slack its offset correction may have taken off it).
    let until = T0 + 10 + 3 * MCLT + crate::failover::POT_SLACK_SECS;
    assert_eq!(a.plan().space.get(sid), Slot::Quarantined { until });
    assert_eq!(a.journal().last().unwrap().binding.lease_end, until);
    for n in 2..=100u8 {
        if let Some((addr, _)) = dora(&mut a, n, T0 + 30) {
            assert_ne!(addr, backup, "client {n} got the partner's leased address");
        }
    }
}

#[test]
fn an_expired_address_waits_for_the_partner_before_reuse() {
    let mut a = engine(FailoverRole::Primary);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    let (addr, g) = dora(&mut a, 1, T0).unwrap();
    a.tick(T0 + g.lease_secs);
    let exp = *a.journal().last().unwrap();
    assert_eq!(exp.binding.state, BindingState::Expired);
    let sid = a.plan().space.slot_of(addr).unwrap();
    assert!(
        matches!(a.plan().space.get(sid), Slot::Bound { .. }),
        "held until acknowledged"
    );
    let sent = PeerBinding::from_binding(&exp.binding, None);
    a.peer_acked(T0 + g.lease_secs + 1, &sent, true);
    assert_eq!(
        a.plan().space.get(sid),
        Slot::Free,
        "the primary's FREE once acknowledged"
    );
}

#[test]
fn a_partner_lease_for_another_client_moves_across_shards() {
    let mut b = engine(FailoverRole::Secondary);
    set_state(&b, ServerState::Normal, T0);
    give_backup(&mut b, 10);
    set_state(&b, ServerState::CommunicationsInterrupted, T0);
    let (addr, _) = dora(&mut b, 1, T0).unwrap();
    // The primary (whose word wins for the secondary) says another client holds it.
    let mut upd = PeerBinding::pool(addr, BindingState::Active, T0);
    upd.hw = Some(crate::lease::HwAddr::new(1, &[2, 8, 8, 8, 8, 8]));
    upd.lease_end = Some(T0 + 900);
    upd.pot_exp = Some(T0 + 1200);
    upd.cltt = Some(T0 + 3);
    let out = b.apply_peer(T0 + 3, &upd);
    assert!(
        matches!(
            out,
            PeerOutcome::Done {
                reject: None,
                seq: Some(_)
            }
        ),
        "{out:?}"
    );
    let sid = b.plan().space.slot_of(addr).unwrap();
    let Slot::Bound { shard, index } = b.plan().space.get(sid) else {
        panic!()
    };
    let holder = b
        .shards()
        .iter()
        .find(|s| s.id() == shard)
        .unwrap()
        .binding(index);
    assert_eq!(holder.key, upd.client_key());
    assert_eq!(holder.recv_pot_exp, T0 + 1200);
    // Our client's REQUEST for it now gets a NAK.
    let renew = Request {
        ciaddr: addr,
        ..req(MsgType::Request, 1)
    };
    let Outcome::Reply(r) = b.handle(T0 + 10, &renew) else {
        panic!()
    };
    assert_eq!(r.msg_type, MsgType::Nak);
}

/// The secondary's engines `es` (together owning every shard) hold client 1's lease on one
/// address and client `n2`'s, taken 5 s later, on another; the primary's outdated ACTIVE puts
/// client `n2` on client 1's address. Answers the first engine's outcome and the addresses.
fn outdated_move_onto_our_lease(es: &mut [Engine], n2: u8) -> (PeerOutcome, Ipv4Addr) {
    set_state(&es[0], ServerState::Normal, T0);
    give_backup(&mut es[0], 10);
    set_state(&es[0], ServerState::CommunicationsInterrupted, T0);
    let mut lease = |n: u8, now: u32| {
        es.iter_mut()
            .find_map(|e| dora(e, n, now))
            .expect("one engine answers")
            .0
    };
    let x = lease(1, T0);
    let y = lease(n2, T0 + 5);
    assert_ne!(x, y);
    // The primary's news of client n2 on x, from before its lease on y here.
    let mut upd = PeerBinding::pool(x, BindingState::Active, T0 + 1);
    upd.hw = Some(crate::lease::HwAddr::new(1, mac(n2)));
    upd.lease_end = Some(T0 + 1 + MCLT);
    upd.pot_exp = Some(T0 + 1 + 2 * MCLT);
    upd.cltt = Some(T0 + 1);
    // The engine holding x applies it.
    let sid = es[0].plan().space.slot_of(x).unwrap();
    let Slot::Bound { shard, .. } = es[0].plan().space.get(sid) else {
        panic!("x is leased")
    };
    let e = es
        .iter_mut()
        .find(|e| e.shards().iter().any(|s| s.id() == shard))
        .unwrap();
    (e.apply_peer(T0 + 20, &upd), x)
}

/// Client 1's binding, wherever it is filed: (address, state).
fn lease_of(es: &[Engine], n: u8) -> (Ipv4Addr, BindingState) {
    let key = crate::lease::ClientKey::from_hw(1, mac(n));
    es.iter()
        .flat_map(|e| e.shards())
        .find_map(|s| {
            s.find(&key)
                .map(|i| (s.binding(i).addr, s.binding(i).state))
        })
        .unwrap()
}

#[test]
fn an_outdated_partner_lease_over_ours_is_refused_before_ours_is_given_up() {
    // Seed 0x4e2eb333aa70bbbe: the secondary, in PARTNER-DOWN, leased an address of a client
    // that had moved to another address; back in touch, the primary sent its older news of
    // that client on the old address. The secondary yields to the primary (§7.1.2) and gave
    // up its own lease, and only then found the update outdated for the client (newer lease
    // on another address, one lease per client): refused, with our lease already lost.
    let mut es = vec![engine(FailoverRole::Secondary)];
    let (out, x) = outdated_move_onto_our_lease(&mut es, 2);
    assert_eq!(verdict(out), Some(RejectReason::OutdatedBindingInfo));
    assert_eq!(
        lease_of(&es, 1),
        (x, BindingState::Active),
        "our lease stands"
    );
    let sid = es[0].plan().space.slot_of(x).unwrap();
    assert!(matches!(es[0].plan().space.get(sid), Slot::Bound { .. }));
    // The partner told its client x until its potential expiration: reuse waits for it.
    assert_eq!(es[0].plan().space.pot(sid), T0 + 1 + 2 * MCLT);
}

#[test]
fn a_partner_lease_over_ours_is_vetted_by_the_engine_of_its_client() {
    // The same with the two clients in shards of different workers: the engine holding the
    // address asks the client's engine (`PeerOutcome::Vet`) before giving up its lease.
    let c = cfg(FailoverRole::Secondary);
    assert_eq!(c.server.shards, 2);
    let space = Arc::new(AddressSpace::new(&c));
    let plan = Arc::new(Plan::new(c, space, vec![IFACE]));
    let shard = |n: u8| plan.shard_of(&crate::lease::ClientKey::from_hw(1, mac(n)));
    let n2 = (2..=40u8).find(|&n| shard(n) != shard(1)).unwrap();
    let mut es = vec![
        Engine::new(plan.clone(), &[shard(1)], 256, T0),
        Engine::new(plan.clone(), &[shard(n2)], 256, T0),
    ];
    let (out, x) = outdated_move_onto_our_lease(&mut es, n2);
    assert_eq!(out, PeerOutcome::Vet(shard(n2)));
    assert_eq!(
        lease_of(&es, 1),
        (x, BindingState::Active),
        "nothing given up yet"
    );
    let upd = {
        let mut u = PeerBinding::pool(x, BindingState::Active, T0 + 1);
        u.hw = Some(crate::lease::HwAddr::new(1, mac(n2)));
        u.lease_end = Some(T0 + 1 + MCLT);
        u.pot_exp = Some(T0 + 1 + 2 * MCLT);
        u.cltt = Some(T0 + 1);
        u
    };
    assert_eq!(
        verdict(es[1].vet_peer(T0 + 20, &upd)),
        Some(RejectReason::OutdatedBindingInfo)
    );
    assert_eq!(
        lease_of(&es, 1),
        (x, BindingState::Active),
        "our lease stands"
    );
    // Newer news of the client passes, and the address moves to it.
    let mut newer = upd.clone();
    newer.cltt = Some(T0 + 10);
    assert_eq!(es[1].vet_peer(T0 + 20, &newer), PeerOutcome::Vetted);
    assert_eq!(
        es[0].apply_peer_vetted(T0 + 20, &newer, true),
        PeerOutcome::Install(shard(n2))
    );
    assert_eq!(verdict(es[1].install_peer(T0 + 20, &newer)), None);
    assert_eq!(lease_of(&es, n2), (x, BindingState::Active));
}

/// The journal as replay would see it: engine entries in order, latest per address.
fn replayed(entries: &[JournalEntry]) -> Vec<(u64, crate::lease::Binding)> {
    let mut r = crate::journal::Replay::default();
    for (i, e) in entries.iter().enumerate() {
        r.apply(i as u64 + 1, e.binding);
    }
    r.into_bindings()
}

fn slot_map(e: &Engine) -> Vec<(Ipv4Addr, &'static str)> {
    let space = &e.plan().space;
    let mut v = Vec::new();
    for n in 100..=199u8 {
        let a = Ipv4Addr::new(10, 0, 0, n);
        let sid = space.slot_of(a).unwrap();
        let kind = match space.get(sid) {
            Slot::Free => "free",
            Slot::PartnerFree => "partner",
            Slot::Bound { .. } => "bound",
            Slot::Quarantined { .. } => "quarantined",
            Slot::Excluded => "excluded",
            Slot::ReservedFree => "reserved",
            Slot::Transit => "transit",
        };
        v.push((a, kind));
    }
    v
}

fn client_map(e: &Engine) -> Vec<(crate::lease::ClientKey, Ipv4Addr, BindingState, bool)> {
    let mut v: Vec<_> = e
        .shards()
        .iter()
        .flat_map(|s| {
            s.bindings()
                .filter(|(_, b)| b.state != BindingState::Offered)
                .map(move |(i, b)| (b.key, b.addr, b.state, s.holds(i)))
        })
        .collect();
    v.sort_by_key(|(k, a, ..)| (*a, *k));
    v
}

#[test]
fn a_restart_from_the_journal_restores_slots_and_bindings() {
    // A secondary in NORMAL: the primary gave it some addresses, it leased some, the partner
    // leased some (one from the partner's pool), one client moved address, one lease expired
    // unacknowledged, one was released and acknowledged.
    let mut b = engine(FailoverRole::Secondary);
    set_state(&b, ServerState::Normal, T0);
    give_backup(&mut b, 30);
    set_state(&b, ServerState::CommunicationsInterrupted, T0);
    let mut granted = Vec::new();
    for n in 1..=8u8 {
        granted.push((n, dora(&mut b, n, T0).unwrap()));
    }
    // The partner's lease on an address from the primary's own pool.
    let mut theirs = PeerBinding::pool(Ipv4Addr::new(10, 0, 0, 180), BindingState::Active, T0);
    theirs.hw = Some(crate::lease::HwAddr::new(1, &[2, 0, 0, 0, 9, 1]));
    theirs.lease_end = Some(T0 + 7200);
    theirs.pot_exp = Some(T0 + 7200);
    theirs.cltt = Some(T0);
    assert!(matches!(
        b.apply_peer(T0 + 1, &theirs),
        PeerOutcome::Done { reject: None, .. }
    ));
    // Client 1 releases (and the partner acknowledges); client 2's lease runs out.
    let (_, (a1, _)) = granted[0];
    let rel = Request {
        ciaddr: a1,
        server_id: Some(IFACE),
        ..req(MsgType::Release, 1)
    };
    b.handle(T0 + 2, &rel);
    let released = *b.journal().last().unwrap();
    assert_eq!(released.binding.state, BindingState::Released);
    b.peer_acked(
        T0 + 3,
        &PeerBinding::from_binding(&released.binding, None),
        true,
    );
    let (_, (_, g2)) = granted[1];
    // Renew everyone else past client 2's end, then let client 2 expire.
    for &(n, (addr, _)) in &granted[2..] {
        let renew = Request {
            ciaddr: addr,
            ..req(MsgType::Request, n)
        };
        assert!(matches!(
            b.handle(T0 + g2.lease_secs - 5, &renew),
            Outcome::Reply(_)
        ));
    }
    b.tick(T0 + g2.lease_secs + 1);
    let now = T0 + g2.lease_secs + 2;
    let entries = b.journal().clone();
    let before_slots = slot_map(&b);
    let before_clients = client_map(&b);

    let mut fresh = [engine(FailoverRole::Secondary)];
    let out = restore::restore(&mut fresh, replayed(&entries), now);
    assert_eq!(out.refused, 0, "{out:?}");
    assert!(out.addresses > 0, "pool records applied: {out:?}");
    assert_eq!(slot_map(&fresh[0]), before_slots);
    assert_eq!(client_map(&fresh[0]), before_clients);
    // The expired-but-unacknowledged address is still held, and still to be told.
    let (_, (a2, _)) = granted[1];
    let held = fresh[0]
        .shards()
        .iter()
        .flat_map(|s| s.bindings().map(move |(i, b)| (s.holds(i), *b)))
        .find(|(_, b)| b.addr == a2)
        .unwrap();
    assert!(held.0, "held until the partner acknowledges");
    assert_eq!(held.1.state, BindingState::Expired);
    assert_ne!(
        held.1.flags.0 & crate::lease::BindingFlags::UPDATE_PENDING,
        0
    );
}

#[test]
fn restore_puts_a_client_that_moved_on_its_last_address() {
    let mut a = engine(FailoverRole::Primary);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    // First seen through a relay on 10.1.0.0/24, then on the local segment: it moves, and the
    // old address's last record still says ACTIVE for it.
    let relayed = |t| Request {
        giaddr: Ipv4Addr::new(10, 1, 0, 1),
        ..req(t, 1)
    };
    let Outcome::Reply(o) = a.handle(T0, &relayed(MsgType::Discover)) else {
        panic!("no offer through the relay")
    };
    let sel = Request {
        server_id: Some(IFACE),
        requested_ip: Some(o.yiaddr),
        ..relayed(MsgType::Request)
    };
    assert!(matches!(a.handle(T0, &sel), Outcome::Reply(_)));
    let (now_at, _) = dora(&mut a, 1, T0 + 1).unwrap();
    assert!(
        now_at < o.yiaddr,
        "the test needs the new address to sort first"
    );
    let entries = a.journal().clone();
    let mut fresh = [engine(FailoverRole::Primary)];
    restore::restore(&mut fresh, replayed(&entries), T0 + 3);
    assert_eq!(client_map(&fresh[0]), client_map(&a));
    assert_eq!(slot_map(&fresh[0]), slot_map(&a));
}

/// Client `n` releases `addr`; returns the journal entry of the release.
fn release(e: &mut Engine, n: u8, addr: Ipv4Addr, now: u32) -> JournalEntry {
    let rel = Request {
        ciaddr: addr,
        server_id: Some(IFACE),
        ..req(MsgType::Release, n)
    };
    e.handle(now, &rel);
    let released = *e.journal().last().unwrap();
    assert_eq!(
        (released.binding.addr, released.binding.state),
        (addr, BindingState::Released)
    );
    released
}

/// A secondary whose client 1 released its lease while the partner was unreachable: the
/// address stays held for the partner's acknowledgement and is not the secondary's to give
/// back. Returns the engine and the released address.
fn released_unacknowledged_on_the_secondary() -> (Engine, Ipv4Addr) {
    let mut b = engine(FailoverRole::Secondary);
    set_state(&b, ServerState::Normal, T0);
    give_backup(&mut b, 10);
    set_state(&b, ServerState::CommunicationsInterrupted, T0);
    let (old, _) = dora(&mut b, 1, T0).unwrap();
    release(&mut b, 1, old, T0 + 5);
    (b, old)
}

fn free_count(e: &Engine) -> u64 {
    let space = &e.plan().space;
    space.pools().map(|r| space.census(r).free).sum()
}

#[test]
fn a_client_whose_ended_lease_waits_for_the_partner_is_offered_a_new_address() {
    // Seed 0x65723ce435d048f0: the secondary offered such a client a new address but left its
    // binding RELEASED there, so the REQUEST got a NAK ("belongs to the failover partner")
    // and every further DISCOVER moved it on, each time turning one of the secondary's free
    // addresses over to the primary; the binding ended RELEASED on an address the client
    // never had, and that was told to the partner.
    let (mut b, old) = released_unacknowledged_on_the_secondary();
    let free_before = free_count(&b);
    // INIT: it asks for its old address, which only the primary may hand out now.
    let disc = Request {
        requested_ip: Some(old),
        ..req(MsgType::Discover, 1)
    };
    let Outcome::Reply(offer) = b.handle(T0 + 8, &disc) else {
        panic!("no offer")
    };
    assert_eq!(offer.msg_type, MsgType::Offer);
    assert_ne!(offer.yiaddr, old, "the barred address is not offered again");
    let sel = Request {
        server_id: Some(IFACE),
        requested_ip: Some(offer.yiaddr),
        ..req(MsgType::Request, 1)
    };
    let Outcome::Reply(ack) = b.handle(T0 + 8, &sel) else {
        panic!("no answer to the REQUEST")
    };
    assert_eq!((ack.msg_type, ack.yiaddr), (MsgType::Ack, offer.yiaddr));
    let entry = *b.journal().last().unwrap();
    assert_eq!(
        (entry.binding.addr, entry.binding.state),
        (offer.yiaddr, BindingState::Active)
    );
    // One address used, the released one handed back to the primary: no more.
    assert_eq!(free_count(&b), free_before - 1);
    let sid = b.plan().space.slot_of(old).unwrap();
    assert_eq!(b.plan().space.get(sid), Slot::PartnerFree);
}

#[test]
fn an_ended_lease_on_the_partners_address_is_left_to_the_partner_without_a_nak() {
    // Seed 0x9c5cd8d45d0d4bc5: in COMMUNICATIONS-INTERRUPTED a client rebooted with the address
    // of a lease that had ended here and was the partner's to give. The partner ACKed it; we
    // NAKed, the client heeded the NAK and took a new address from us 0.3 s later. After the
    // heal each server held the client on a different address, whole-second clocks ordered the
    // two leases wrongly, and our later ACK was lost. ISC stays silent here ("lease in
    // transition state"); so do we, and the owner answers.
    let (mut b, old) = released_unacknowledged_on_the_secondary();
    let before = b.counters.drops;
    let sid = b.plan().space.slot_of(old).unwrap();
    let slot = b.plan().space.get(sid);
    let journaled = b.journal().len();
    let reboot = Request {
        requested_ip: Some(old),
        ..req(MsgType::Request, 1)
    };
    let out = b.handle(T0 + 8, &reboot);
    assert_eq!(out, Outcome::Drop(DropReason::PartnerAddress), "{out:?}");
    let i = DropReason::ALL
        .iter()
        .position(|r| *r == DropReason::PartnerAddress)
        .unwrap();
    assert_eq!(b.counters.drops[i], before[i] + 1, "counted");
    assert_eq!(b.counters.pkt4_nak_sent, 0);
    // Renewing (ciaddr) the same way.
    let renew = Request {
        ciaddr: old,
        ..req(MsgType::Request, 1)
    };
    assert_eq!(
        b.handle(T0 + 9, &renew),
        Outcome::Drop(DropReason::PartnerAddress)
    );
    // Nothing was taken or committed for the client.
    assert_eq!(b.plan().space.get(sid), slot);
    assert_eq!(b.journal().len(), journaled);
}

/// The partner acknowledges, at `now`, the last journaled change of `addr` (an ended lease).
fn acknowledge_the_end(b: &mut Engine, addr: Ipv4Addr, now: u32) {
    let sent = update_for(b, addr);
    b.peer_acked(now, &sent, true);
}

#[test]
fn a_lease_ended_here_and_given_back_to_the_partner_is_left_to_it_without_a_nak() {
    // Seed 0xdfec4ff0cdc0171a: a client's lease ended at the secondary, which gave the address
    // back to the primary once it acknowledged the end. The client, rebinding, asked both:
    // the primary (just restarted) ACKed, the secondary NAKed ("no longer available"), and
    // the NAK arrived first. Only the partner can have renewed its free address: it answers.
    let (mut b, old) = released_unacknowledged_on_the_secondary();
    acknowledge_the_end(&mut b, old, T0 + 6);
    let sid = b.plan().space.slot_of(old).unwrap();
    assert_eq!(b.plan().space.get(sid), Slot::PartnerFree);
    let journaled = b.journal().len();
    let rebind = Request {
        ciaddr: old,
        ..req(MsgType::Request, 1)
    };
    let reboot = Request {
        requested_ip: Some(old),
        ..req(MsgType::Request, 1)
    };
    for r in [rebind, reboot] {
        let out = b.handle(T0 + 8, &r);
        assert_eq!(out, Outcome::Drop(DropReason::PartnerAddress), "{out:?}");
    }
    assert_eq!(b.counters.pkt4_nak_sent, 0);
    assert_eq!(b.journal().len(), journaled, "nothing committed");
    assert_eq!(b.plan().space.get(sid), Slot::PartnerFree);
}

#[test]
fn an_ended_lease_whose_address_moved_on_is_not_told_in_answer_to_updreqall() {
    // Seed 0x8cc00ea193b93b30: a client released its lease at the secondary; the primary
    // acknowledged it, and later gave the address to the secondary as BACKUP. Answering the
    // restarted primary's UPDREQALL, the secondary sent the old RELEASED again; the primary
    // took the address as its own FREE and leased it while the secondary did the same.
    let (mut b, old) = released_unacknowledged_on_the_secondary();
    let told = |b: &Engine| b.failover_bindings(0, false).iter().any(|u| u.addr == old);
    assert!(told(&b), "an end not yet acknowledged is told");
    acknowledge_the_end(&mut b, old, T0 + 6);
    let out = b.apply_peer(
        T0 + 7,
        &PeerBinding::pool(old, BindingState::Backup, T0 + 7),
    );
    assert_eq!(verdict(out), None);
    let sid = b.plan().space.slot_of(old).unwrap();
    assert_eq!(
        b.plan().space.get(sid),
        Slot::Free,
        "the secondary's own now"
    );
    assert!(!told(&b), "the old RELEASED went out again");
}

#[test]
fn a_reboot_onto_the_partners_free_address_is_left_to_the_partner_without_a_nak() {
    // Seed 0x40d608a57d8aef03: in COMMUNICATIONS-INTERRUPTED the partner leased one of its free
    // addresses to a client whose lease here had ended. The client rebooted asking for it; the
    // partner ACKed, we NAKed ("not leased to this client"), and the client, heeding the NAK,
    // took its old address from us 0.3 s later. After the heal each server held the client on
    // a different address, whole-second clocks on two servers could not order the two leases,
    // and our later ACK was lost. Only the partner knows of its grant: it answers.
    let (mut b, old) = released_unacknowledged_on_the_secondary();
    let space = &b.plan().space;
    let theirs = space
        .pools()
        .flat_map(|r| r.slots())
        .find(|&s| space.get(s) == Slot::PartnerFree && space.addr(s) != Some(old))
        .and_then(|s| space.addr(s))
        .expect("the primary has free addresses");
    let ours = space
        .pools()
        .flat_map(|r| r.slots())
        .find(|&s| space.get(s) == Slot::Free)
        .and_then(|s| space.addr(s))
        .expect("the secondary has free addresses");
    let journaled = b.journal().len();
    for (t, r) in [
        (
            T0 + 8,
            Request {
                requested_ip: Some(theirs),
                ..req(MsgType::Request, 1)
            },
        ),
        (
            T0 + 9,
            Request {
                ciaddr: theirs,
                ..req(MsgType::Request, 1)
            },
        ),
    ] {
        let out = b.handle(t, &r);
        assert_eq!(out, Outcome::Drop(DropReason::PartnerAddress), "{out:?}");
    }
    assert_eq!(b.counters.pkt4_nak_sent, 0);
    assert_eq!(b.journal().len(), journaled, "nothing committed");
    // An address that is ours to give, and not the client's, is still refused.
    let reboot = Request {
        requested_ip: Some(ours),
        ..req(MsgType::Request, 1)
    };
    let Outcome::Reply(nak) = b.handle(T0 + 10, &reboot) else {
        panic!("no NAK for our own address")
    };
    assert_eq!(nak.msg_type, MsgType::Nak);
    // In PARTNER-DOWN after MCLT the partner's pool is ours too: refused as well.
    set_state(&b, ServerState::PartnerDown, T0 + 10);
    let later = T0 + 10 + b.plan().view(0).unwrap().mclt() + 1;
    let reboot = Request {
        requested_ip: Some(theirs),
        ..req(MsgType::Request, 1)
    };
    let Outcome::Reply(nak) = b.handle(later, &reboot) else {
        panic!("no NAK in PARTNER-DOWN")
    };
    assert_eq!(nak.msg_type, MsgType::Nak);
}

#[test]
fn a_lease_granted_after_a_release_at_the_partner_survives_a_clock_step() {
    // Seed 0xd48551aa45828210, as two engines: the primary leases to client 1 and tells the
    // secondary; cut off, the client releases at the primary, and 3 s later renews at the
    // secondary. The primary's clock was 21 s ahead when it stamped the release (it stepped
    // back afterwards), so the release looks later than the renewal. Each is the server's own
    // news against the partner's: the lease stands on both, the release costs only the address.
    let mut a = engine(FailoverRole::Primary);
    let mut b = engine(FailoverRole::Secondary);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    set_state(&b, ServerState::CommunicationsInterrupted, T0);
    let (addr, _) = dora(&mut a, 1, T0).unwrap();
    let granted = *a.journal().last().unwrap();
    let upd = PeerBinding::from_binding(&granted.binding, Some(granted.binding.sent_pot_exp));
    assert!(matches!(
        b.apply_peer(T0 + 1, &upd),
        PeerOutcome::Done { reject: None, .. }
    ));
    let step = 21;
    let released = release(&mut a, 1, addr, T0 + 100 + step);
    let renew = Request {
        ciaddr: addr,
        ..req(MsgType::Request, 1)
    };
    let Outcome::Reply(ack) = b.handle(T0 + 103, &renew) else {
        panic!("no answer to the renewal")
    };
    assert_eq!((ack.msg_type, ack.yiaddr), (MsgType::Ack, addr));
    let renewed = *b.journal().last().unwrap();
    // The heal: each hears of the other's change.
    let rel = PeerBinding::from_binding(&released.binding, None);
    assert!(
        matches!(
            b.apply_peer(T0 + 130, &rel),
            PeerOutcome::Done {
                reject: Some(RejectReason::OutdatedBindingInfo),
                ..
            }
        ),
        "the secondary keeps the lease it granted"
    );
    let act = PeerBinding::from_binding(&renewed.binding, Some(renewed.binding.sent_pot_exp));
    assert!(
        matches!(
            a.apply_peer(T0 + 130, &act),
            PeerOutcome::Done { reject: None, .. }
        ),
        "the primary takes the lease over its release"
    );
    for e in [&mut a, &mut b] {
        let last = e.journal().last().unwrap().binding;
        assert_eq!((last.addr, last.state), (addr, BindingState::Active));
    }
    // Learnt from the partner, the renewal's time is the partner's: the client's release at
    // the secondary 48 s later, on the same clock, ends it at the primary plainly.
    let later = release(&mut b, 1, addr, T0 + 103 + 48);
    assert!(matches!(
        a.apply_peer(T0 + 180, &PeerBinding::from_binding(&later.binding, None)),
        PeerOutcome::Done { reject: None, .. }
    ));
}

#[test]
fn an_offer_let_go_is_not_told_to_the_partner_as_a_free_address() {
    // Seed 0x9a5a67a9c1f6eb45: the secondary offered one of its BACKUP addresses to a client
    // that took the primary's offer; its binding, FREE and no longer holding the address, went
    // into the answer to the primary's UPDREQALL as "FREE". The primary took the address as
    // its own while the secondary still had it as BACKUP, and both leased it.
    let mut b = engine(FailoverRole::Secondary);
    set_state(&b, ServerState::Normal, T0);
    give_backup(&mut b, 10);
    set_state(&b, ServerState::CommunicationsInterrupted, T0);
    let Outcome::Reply(offer) = b.handle(T0, &req(MsgType::Discover, 1)) else {
        panic!("no offer")
    };
    let elsewhere = Request {
        server_id: Some(Ipv4Addr::new(10, 0, 0, 2)),
        requested_ip: Some(Ipv4Addr::new(10, 0, 0, 200)),
        ..req(MsgType::Request, 1)
    };
    assert_eq!(
        b.handle(T0, &elsewhere),
        Outcome::Drop(DropReason::NotForUs)
    );
    let (leased, _) = dora(&mut b, 2, T0 + 1).unwrap();
    let told = b.failover_bindings(0, false);
    assert!(
        told.iter().all(|u| u.addr != offer.yiaddr),
        "{:?}",
        told.iter().find(|u| u.addr == offer.yiaddr)
    );
    assert!(
        told.iter()
            .any(|u| u.addr == leased && u.state == BindingState::Active),
        "a lease is told"
    );
}

#[test]
fn restore_lets_go_of_an_ended_lease_a_client_moved_on_from() {
    // The journal's last record of the old address is the unacknowledged release; the client
    // then leased another address and released that too, acknowledged. Restore followed the
    // first record (hold the address for the partner) but not the move, so the old slot named
    // a binding on another address — and the partner's next update for the old address was
    // applied to that binding (seed 0x65723ce435d048f0: ACTIVE on an address the partner
    // never heard of, on one server only).
    let (mut b, old) = released_unacknowledged_on_the_secondary();
    let (new, _) = dora(&mut b, 1, T0 + 8).unwrap();
    assert_ne!(new, old);
    let released = release(&mut b, 1, new, T0 + 9);
    b.peer_acked(
        T0 + 10,
        &PeerBinding::from_binding(&released.binding, None),
        true,
    );
    let entries = b.journal().clone();
    let mut fresh = [engine(FailoverRole::Secondary)];
    set_state(&fresh[0], ServerState::Normal, T0 + 11);
    let out = restore::restore(&mut fresh, replayed(&entries), T0 + 11);
    assert_eq!(out.refused, 0, "{out:?}");
    assert_eq!(slot_map(&fresh[0]), slot_map(&b));
    assert_eq!(client_map(&fresh[0]), client_map(&b));
    // The primary gives the client its old address again: the client's binding moves there.
    let mut upd = PeerBinding::from_binding(&released.binding, None);
    upd.addr = old;
    upd.state = BindingState::Active;
    upd.lease_end = Some(T0 + 600);
    upd.pot_exp = Some(T0 + 900);
    upd.cltt = Some(T0 + 20);
    let e = &mut fresh[0];
    assert!(
        matches!(
            e.apply_peer(T0 + 20, &upd),
            PeerOutcome::Done { reject: None, .. }
        ),
        "accepted"
    );
    let key = released.binding.key;
    let at: Vec<_> = client_map(e)
        .into_iter()
        .filter(|(k, ..)| *k == key)
        .map(|(_, a, s, holds)| (a, s, holds))
        .collect();
    assert_eq!(at, vec![(old, BindingState::Active, true)]);
    let sid = e.plan().space.slot_of(new).unwrap();
    assert!(!matches!(e.plan().space.get(sid), Slot::Bound { .. }));
}

/// Offers client 1 one of the partner's free addresses in PARTNER-DOWN (after MCLT), then
/// brings the partner back (NORMAL) and loses it again (COMMUNICATIONS-INTERRUPTED) before the
/// client's REQUEST arrives. Returns the outcome of that REQUEST and the offered address.
fn partner_offer_requested_after_partner_down(e: &mut Engine) -> (Outcome, Ipv4Addr) {
    set_state(e, ServerState::PartnerDown, T0);
    let Outcome::Reply(offer) = e.handle(T0 + MCLT, &req(MsgType::Discover, 1)) else {
        panic!("no offer in PARTNER-DOWN")
    };
    assert_eq!(offer.msg_type, MsgType::Offer);
    set_state(e, ServerState::Normal, T0 + MCLT + 1);
    set_state(e, ServerState::CommunicationsInterrupted, T0 + MCLT + 1);
    let sel = Request {
        server_id: Some(IFACE),
        requested_ip: Some(offer.yiaddr),
        ..req(MsgType::Request, 1)
    };
    (e.handle(T0 + MCLT + 1, &sel), offer.yiaddr)
}

#[test]
fn an_offer_from_the_partner_pool_is_not_committed_after_partner_down() {
    // Seed 0x951e6cb1fe3abe26: the secondary offered one of the primary's free addresses in
    // PARTNER-DOWN; the primary came back, both reached NORMAL and the link failed again; the
    // client's REQUEST then arrived and the secondary ACKed the offer in
    // COMMUNICATIONS-INTERRUPTED. The primary had never heard of it and leased the address as
    // its own FREE to another client.
    let mut b = engine(FailoverRole::Secondary);
    let (out, addr) = partner_offer_requested_after_partner_down(&mut b);
    let Outcome::Reply(nak) = out else {
        panic!("no answer to the REQUEST: {out:?}")
    };
    assert_eq!(
        nak.msg_type,
        MsgType::Nak,
        "the primary's address is not ours now"
    );
    let sid = b.plan().space.slot_of(addr).unwrap();
    assert_eq!(
        b.plan().space.get(sid),
        Slot::PartnerFree,
        "back to the primary"
    );
    assert!(
        b.journal().iter().all(|j| j.binding.addr != addr),
        "nothing committed"
    );

    // The primary, the other way round: the secondary's BACKUP address it offered in
    // PARTNER-DOWN goes back to the secondary, not into the primary's own FREE pool.
    let mut a = engine(FailoverRole::Primary);
    for i in 0..200u8 {
        let x = Ipv4Addr::new(10, 0, 0, i);
        let Some(sid) = a.plan().space.slot_of(x) else {
            continue;
        };
        if a.plan().space.get(sid) == Slot::Free {
            let out = a.apply_peer(T0, &PeerBinding::pool(x, BindingState::Backup, T0));
            assert!(
                matches!(out, PeerOutcome::Done { reject: None, .. }),
                "{x}: {out:?}"
            );
        }
    }
    let (out, addr) = partner_offer_requested_after_partner_down(&mut a);
    assert!(
        matches!(out, Outcome::Reply(ref r) if r.msg_type == MsgType::Nak),
        "{out:?}"
    );
    let sid = a.plan().space.slot_of(addr).unwrap();
    assert_eq!(
        a.plan().space.get(sid),
        Slot::PartnerFree,
        "back to the secondary"
    );
}

/// The update engine `e` journaled last for `addr`, as its control plane sends it.
fn update_for(e: &mut Engine, addr: Ipv4Addr) -> PeerBinding {
    let b = e
        .journal()
        .iter()
        .rev()
        .find(|j| j.binding.addr == addr)
        .unwrap()
        .binding;
    let pot = (b.state == BindingState::Active).then_some(b.sent_pot_exp);
    PeerBinding::from_binding(&b, pot)
}

fn verdict(out: PeerOutcome) -> Option<crate::failover::RejectReason> {
    match out {
        PeerOutcome::Done { reject, .. } => reject,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_release_in_the_second_of_the_renewal_ends_the_lease_at_the_partner() {
    // Seeds 0xcdb05399a81fcbae, 0x86b0fecd1ae5e740, 0xf2dcb3fe047fce3a, 0x357dabfb5309ae35,
    // 0x1ed3917b9beed152, 0x8cc7ab7c10cbb833: a client renewed at one server and released
    // the lease within the same second. Both updates carry the same client-last-transaction
    // time, and the partner refused the RELEASED as outdated (CLTT not later, §7.1.3): it kept
    // the lease ACTIVE until it ran out, while the server the client released it to held the
    // address for an acknowledgement that never came.
    let mut a = engine(FailoverRole::Primary);
    let mut b = engine(FailoverRole::Secondary);
    set_state(&a, ServerState::Normal, T0);
    give_backup(&mut b, 10);
    set_state(&b, ServerState::CommunicationsInterrupted, T0);
    let (addr, _) = dora(&mut b, 1, T0 + 10).unwrap();
    let upd = update_for(&mut b, addr);
    assert_eq!(verdict(a.apply_peer(T0 + 10, &upd)), None);
    let renew = Request {
        ciaddr: addr,
        ..req(MsgType::Request, 1)
    };
    assert!(matches!(b.handle(T0 + 100, &renew), Outcome::Reply(r) if r.msg_type == MsgType::Ack));
    let upd = update_for(&mut b, addr);
    assert_eq!(verdict(a.apply_peer(T0 + 100, &upd)), None);
    release(&mut b, 1, addr, T0 + 100);
    let upd = update_for(&mut b, addr);
    assert_eq!(upd.cltt, Some(T0 + 100), "the renewal's second");
    assert_eq!(
        verdict(a.apply_peer(T0 + 100, &upd)),
        None,
        "the later news"
    );
    let sid = a.plan().space.slot_of(addr).unwrap();
    assert_eq!(
        a.plan().space.get(sid),
        Slot::Free,
        "free again, the primary's"
    );

    // A lease granted here is not ended by a release of the same second at the partner: the
    // release may have come first. Nor when the partner then reports the same lease, with
    // the same time: which of the two came first is unknown, and ours stands.
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    let (ours, _) = dora(&mut a, 2, T0 + 200).unwrap();
    let mut released = update_for(&mut a, ours);
    released.state = BindingState::Released;
    released.lease_end = None;
    released.pot_exp = None;
    let outdated = Some(crate::failover::RejectReason::OutdatedBindingInfo);
    assert_eq!(verdict(a.apply_peer(T0 + 200, &released)), outdated);
    let active = update_for(&mut a, ours);
    assert_eq!(verdict(a.apply_peer(T0 + 200, &active)), None);
    assert_eq!(verdict(a.apply_peer(T0 + 200, &released)), outdated);
}

#[test]
fn a_reserved_address_released_unacknowledged_goes_back_to_its_client() {
    // Seed 0x8cc7ab7c10cbb833, before the fix of its RELEASED refused by the partner: the
    // client released its reserved address, and until the partner acknowledged that, each
    // DISCOVER got the reserved address offered and each REQUEST a NAK ("belongs to the
    // failover partner now"), hundreds of times a minute. Reserved for this client, the
    // address is nobody else's: either server gives it back (draft-12 §5.13).
    for role in [FailoverRole::Primary, FailoverRole::Secondary] {
        let mut e = engine(role);
        set_state(&e, ServerState::CommunicationsInterrupted, T0);
        let reserved = Ipv4Addr::new(10, 0, 0, 10);
        let owner = |t| Request {
            chaddr: &[2, 0, 0, 0, 0, 10],
            ..req(t, 10)
        };
        let select = |addr| Request {
            server_id: Some(IFACE),
            requested_ip: Some(addr),
            ..owner(MsgType::Request)
        };
        for now in [T0, T0 + 10] {
            let Outcome::Reply(offer) = e.handle(now, &owner(MsgType::Discover)) else {
                panic!("{role:?}: no offer")
            };
            assert_eq!(offer.yiaddr, reserved);
            let Outcome::Reply(ack) = e.handle(now, &select(reserved)) else {
                panic!("{role:?}: no answer")
            };
            assert_eq!(
                (ack.msg_type, ack.yiaddr),
                (MsgType::Ack, reserved),
                "{role:?} at {now}"
            );
            let rel = Request {
                ciaddr: reserved,
                server_id: Some(IFACE),
                ..owner(MsgType::Release)
            };
            e.handle(now + 5, &rel);
            let last = e.journal().last().unwrap().binding;
            assert_eq!((last.addr, last.state), (reserved, BindingState::Released));
        }
    }
}

#[test]
fn a_client_holding_a_lease_keeps_it_over_its_reservation_until_the_lease_ends() {
    // Seed 0xb2859e07587ebcf5 (uniqueness): a client with a reservation held a dynamic lease,
    // known to both servers. Both in COMMUNICATIONS-INTERRUPTED, its DISCOVER got the
    // reservation offered by the primary, which moved the binding and freed the dynamic
    // address at once; the secondary renewed the dynamic lease (the client took that offer),
    // and the primary leased the address to another client a second later. While the partner
    // knows the client on an address, the address stays the client's here too.
    let mut a = engine(FailoverRole::Primary);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    let owner_hw = [2, 0, 0, 0, 0, 10];
    let dynamic = Ipv4Addr::new(10, 0, 0, 120);
    let upd = PeerBinding {
        addr: dynamic,
        state: BindingState::Active,
        client_id: None,
        hw: Some(crate::lease::HwAddr::new(1, &owner_hw)),
        lease_end: Some(T0 + 300),
        pot_exp: Some(T0 + 600),
        stos: Some(T0),
        cltt: Some(T0),
        reserved: false,
        bootp: false,
    };
    assert!(matches!(
        a.apply_peer(T0, &upd),
        PeerOutcome::Done { reject: None, .. }
    ));
    let discover = Request {
        chaddr: &owner_hw,
        requested_ip: Some(dynamic),
        ..req(MsgType::Discover, 10)
    };
    let Outcome::Reply(offer) = a.handle(T0 + 10, &discover) else {
        panic!("no offer")
    };
    assert_eq!(
        offer.yiaddr, dynamic,
        "the lease it holds, not the reservation"
    );
    let space = a.plan().space.clone();
    let sid = space.slot_of(dynamic).unwrap();
    assert!(
        matches!(space.get(sid), Slot::Bound { .. }),
        "{dynamic} must stay bound: {:?}",
        space.get(sid)
    );
    // Another client cannot get it.
    for n in 20..80u8 {
        if let Outcome::Reply(o) = a.handle(T0 + 11, &req(MsgType::Discover, n)) {
            assert_ne!(o.yiaddr, dynamic);
        }
    }
}

#[test]
fn a_declined_address_stays_out_of_use_until_the_partner_acknowledges_the_decline() {
    // Seed 0x9910a376685bf4bb (uniqueness): in COMMUNICATIONS-INTERRUPTED a client declined
    // the address the primary had just ACKed. The secondary, not told, kept the client's
    // earlier lease on it and renewed it again and again; the primary's quarantine ended and
    // it leased the address to another client.
    let mut a = engine(FailoverRole::Primary);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    let (addr, _) = dora(&mut a, 1, T0).unwrap();
    let decline = Request {
        server_id: Some(IFACE),
        requested_ip: Some(addr),
        ..req(MsgType::Decline, 1)
    };
    a.handle(T0 + 1, &decline);
    let abandoned = update_for(&mut a, addr);
    assert_eq!(abandoned.state, BindingState::Abandoned);
    let later = T0 + 1 + a.plan().cfg.server.decline_quarantine_secs + 10;
    // The quarantine is over, the partner not told: every other address goes first.
    let mut others = 0;
    for n in 10..=200u8 {
        match dora(&mut a, n, later) {
            Some((x, _)) => {
                assert_ne!(x, addr, "client {n} got the declined address");
                others += 1;
            }
            None => break,
        }
    }
    assert!(others > 50, "only {others} leases");
    // A restart keeps it held: the journal says the partner has not acknowledged it.
    let mut fresh = [engine(FailoverRole::Primary)];
    restore::restore(&mut fresh, replayed(a.journal()), later);
    let space = fresh[0].plan().space.clone();
    assert_eq!(
        space.get(space.slot_of(addr).unwrap()),
        crate::lease::shard::HELD_FOR_ACK
    );
    a.peer_acked(later, &abandoned, true);
    assert_eq!(
        dora(&mut a, 250, later).map(|(x, _)| x),
        Some(addr),
        "free again once the partner knows"
    );
}

#[test]
fn a_lease_given_again_after_an_acknowledged_release_is_capped_at_mclt() {
    // Seed 0x3100078bfb4f3318 (uniqueness): the partner acknowledged a client's RELEASED;
    // the client came back, the primary reactivated the lease for 526 s on the strength of
    // the potential expiration the partner had acknowledged for the old lease. The partner,
    // which knew the address as free, restarted, went PARTNER-DOWN and leased it after MCLT.
    let mut a = engine(FailoverRole::Primary);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    let (addr, first) = dora(&mut a, 1, T0).unwrap();
    assert!(first.lease_secs <= MCLT);
    let active = update_for(&mut a, addr);
    a.peer_acked(T0, &active, true);
    // Known to the partner: the renewal may go MCLT past that.
    let (_, renewed) = dora(&mut a, 1, T0 + 10).unwrap();
    assert!(renewed.lease_secs > MCLT, "{}", renewed.lease_secs);
    let renewal = update_for(&mut a, addr);
    a.peer_acked(T0 + 10, &renewal, true);
    release(&mut a, 1, addr, T0 + 20);
    let released = update_for(&mut a, addr);
    assert_eq!(released.state, BindingState::Released);
    a.peer_acked(T0 + 21, &released, true);
    let (again, lease) = dora(&mut a, 1, T0 + 30).unwrap();
    assert_eq!(again, addr);
    assert!(
        lease.lease_secs <= MCLT,
        "the partner knows the address as free: {} s",
        lease.lease_secs
    );
}

/// Client `n` of `e` takes an address and declines it at `T0 + 1`: the address and the
/// ABANDONED update for the partner.
fn lease_and_decline(e: &mut Engine, n: u8) -> (Ipv4Addr, PeerBinding) {
    let (addr, _) = dora(e, n, T0).unwrap();
    let decline = Request {
        server_id: Some(IFACE),
        requested_ip: Some(addr),
        ..req(MsgType::Decline, n)
    };
    e.handle(T0 + 1, &decline);
    let abandoned = update_for(e, addr);
    assert_eq!(abandoned.state, BindingState::Abandoned);
    (addr, abandoned)
}

#[test]
fn a_decline_the_partner_acknowledges_at_once_still_waits_out_its_quarantine() {
    // The ABANDONED carries no lease end: taken from it, the quarantine ended at the
    // acknowledgement, a round trip after the DECLINE, and the address was leased again.
    let mut a = engine(FailoverRole::Primary);
    set_state(&a, ServerState::Normal, T0);
    let (addr, abandoned) = lease_and_decline(&mut a, 1);
    a.peer_acked(T0 + 2, &abandoned, true);
    let end = T0 + 1 + a.plan().cfg.server.decline_quarantine_secs;
    let space = a.plan().space.clone();
    let sid = space.slot_of(addr).unwrap();
    assert_eq!(space.get(sid), Slot::Quarantined { until: end });
    for n in 10..=250u8 {
        if let Some((x, _)) = dora(&mut a, n, T0 + 3) {
            assert_ne!(x, addr, "client {n} got the declined address");
        }
    }
    // The acknowledgement is journaled: a restart neither ends the quarantine nor holds the
    // address for an acknowledgement again.
    let mut fresh = [engine(FailoverRole::Primary)];
    restore::restore(&mut fresh, replayed(a.journal()), T0 + 3);
    let space = fresh[0].plan().space.clone();
    assert_eq!(
        space.get(space.slot_of(addr).unwrap()),
        Slot::Quarantined { until: end }
    );
}

#[test]
fn a_decline_unacknowledged_at_a_restart_is_told_again() {
    // Held for the acknowledgement across the restart, the ABANDONED was not sent again (its
    // binding no longer holds the address): the address stayed out of use for good.
    let mut a = engine(FailoverRole::Primary);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    let (addr, _) = lease_and_decline(&mut a, 1);
    let mut fresh = [engine(FailoverRole::Primary)];
    restore::restore(&mut fresh, replayed(a.journal()), T0 + 2);
    let told: Vec<PeerBinding> = fresh[0]
        .failover_bindings(0, true)
        .into_iter()
        .filter(|u| u.addr == addr)
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].state, BindingState::Abandoned);
    let fresh = &mut fresh[0];
    set_state(fresh, ServerState::CommunicationsInterrupted, T0);
    fresh.peer_acked(T0 + 3, &told[0], true);
    // Acknowledged, it is not told again.
    assert!(
        fresh
            .failover_bindings(0, true)
            .iter()
            .all(|u| u.addr != addr)
    );
    let later = T0 + 1 + fresh.plan().cfg.server.decline_quarantine_secs + 10;
    let mut got = false;
    for n in 10..=250u8 {
        match dora(fresh, n, later) {
            Some((x, _)) if x == addr => {
                got = true;
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    assert!(got, "the declined address never came back into use");
}

#[test]
fn a_refused_release_is_answered_with_our_lease_once() {
    // Seed 0xc205ba26f667eed6: the primary leased to a client and the secondary heard of it;
    // the client released the lease at the secondary exactly the clock-step margin later. The
    // primary refused the RELEASED (it may be stamped before a clock step), the secondary had
    // nothing to refuse, and the two disagreed until the lease ended. Now the primary tells
    // its lease again, and the secondary takes it.
    let mut a = engine(FailoverRole::Primary);
    let mut b = engine(FailoverRole::Secondary);
    set_state(&a, ServerState::CommunicationsInterrupted, T0);
    set_state(&b, ServerState::CommunicationsInterrupted, T0);
    let (addr, _) = dora(&mut a, 1, T0).unwrap();
    let lease = update_for(&mut a, addr);
    assert_eq!(verdict(b.apply_peer(T0, &lease)), None);
    a.peer_acked(T0, &lease, true);
    let margin = crate::failover::conflict::RELEASE_MARGIN_SECS;
    let released = release(&mut b, 1, addr, T0 + margin);
    let released = PeerBinding::from_binding(&released.binding, None);

    let before = a.journal().len();
    let outdated = Some(RejectReason::OutdatedBindingInfo);
    assert_eq!(verdict(a.apply_peer(T0 + margin, &released)), outdated);
    assert_eq!(a.journal().len(), before + 1, "our lease is told again");
    let told = *a.journal().last().unwrap();
    assert!(
        !told.from_peer,
        "as a change of ours, which goes to the partner"
    );
    assert_eq!(
        (told.binding.addr, told.binding.state),
        (addr, BindingState::Active)
    );
    let again = update_for(&mut a, addr);
    assert_eq!(again.cltt, Some(T0));
    // Told once: refusing again before the partner answers tells nothing more, so two
    // servers refusing each other's news do not echo it back and forth.
    assert_eq!(verdict(a.apply_peer(T0 + margin, &released)), outdated);
    assert_eq!(a.journal().len(), before + 1);

    assert_eq!(
        verdict(b.apply_peer(T0 + margin, &again)),
        None,
        "the lease, at exactly the margin"
    );
    let at_b = b.journal().last().unwrap().binding;
    assert_eq!((at_b.addr, at_b.state), (addr, BindingState::Active));
    a.peer_acked(T0 + margin, &again, true);

    // A refusal of the partner's news for a lease learnt from it is not answered: it knows
    // what we know. (An EXPIRED before the lease ends, refused.)
    let before = b.journal().len();
    let mut other = again;
    other.state = BindingState::Expired;
    other.lease_end = None;
    other.pot_exp = None;
    assert_eq!(verdict(b.apply_peer(T0 + margin, &other)), outdated);
    assert_eq!(b.journal().len(), before, "{:?}", b.journal().last());
}

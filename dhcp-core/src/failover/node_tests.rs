//! Two [`Node`]s — control plane, engines, journal — over a simulated link that carries the
//! encoded bytes: the pieces the daemon runs, end to end, without threads.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::{
    ServerState,
    control::IoCmd,
    endpoint::Now,
    node::{LogItem, Node},
    wire::{self, Profile},
};
use crate::{
    config::{Config, FailoverMode, FailoverRole, PartnerSoftware, Relationship, SubnetId},
    engine::{MsgType, Outcome, Request},
    lease::BindingState,
    testing::test_config,
};

const T0: u32 = 1_700_000_000;
const MCLT: u32 = 300;
const A_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SECRET: &[u8] = b"0123456789abcdef-secret";

fn cfg(role: FailoverRole, mode: FailoverMode) -> Config {
    let mut c = test_config();
    let (me, them) = match role {
        FailoverRole::Primary => (A_ADDR, B_ADDR),
        FailoverRole::Secondary => (B_ADDR, A_ADDR),
    };
    c.server.workers = 2;
    c.server.shards = 4;
    c.failover = vec![Relationship {
        name: "edge".into(),
        role,
        mode,
        partner: SocketAddrV4::new(them, 647),
        local: SocketAddrV4::new(me, 647),
        floating_address: false,
        mclt_secs: MCLT,
        state_switchover_secs: Some(60),
        shared_secret: Some(SECRET.to_vec()),
        partner_software: PartnerSoftware::Xdhcp,
        subnets: vec![SubnetId(1)],
        max_unacked_updates: 16,
        receive_timer_secs: 30,
        load_balance_max_secs: 0,
    }];
    c
}

struct Pair {
    nodes: [Option<Node>; 2],
    cfgs: [Config; 2],
    now: Now,
    link: Option<u64>,
    next_link: u64,
    cut: bool,
    /// Messages carried, by sender.
    carried: [usize; 2],
}

impl Pair {
    fn new(mode: FailoverMode) -> Pair {
        Pair::with_cfgs([
            cfg(FailoverRole::Primary, mode),
            cfg(FailoverRole::Secondary, mode),
        ])
    }

    fn with_cfgs(cfgs: [Config; 2]) -> Pair {
        let now = Now {
            mono_ms: 1_000,
            wall: T0,
        };
        let a = Node::start(cfgs[0].clone(), vec![A_ADDR], 2, Vec::new(), now);
        let b = Node::start(cfgs[1].clone(), vec![B_ADDR], 2, Vec::new(), now);
        let mut p = Pair {
            nodes: [Some(a), Some(b)],
            cfgs,
            now,
            link: None,
            next_link: 1,
            cut: false,
            carried: [0; 2],
        };
        for i in 0..2 {
            let io = p.node(i).pump(now);
            p.io(i, io);
        }
        p
    }

    fn node(&mut self, i: usize) -> &mut Node {
        self.nodes[i].as_mut().expect("node is down")
    }

    fn up(&self, i: usize) -> bool {
        self.nodes[i].is_some()
    }

    /// Carries out network actions of node `i` (recursively for what they cause).
    fn io(&mut self, i: usize, cmds: Vec<IoCmd>) {
        let now = self.now;
        for c in cmds {
            if std::env::var("NODE_DEBUG").is_ok() {
                eprintln!("{} {i}: {c:?}", self.now.mono_ms);
            }
            match c {
                IoCmd::Connect { .. } => {
                    if self.link.is_some() || self.cut || !self.up(1 - i) {
                        continue;
                    }
                    // The other side has no such relationship (any more): refused.
                    if self.node(1 - i).control.is_empty() {
                        continue;
                    }
                    let id = self.next_link;
                    self.next_link += 1;
                    self.link = Some(id);
                    for j in [i, 1 - i] {
                        let ok = self.node(j).control.handle_link_up(now, 0, id);
                        assert!(ok);
                    }
                    for j in [i, 1 - i] {
                        let io = self.node(j).pump(now);
                        self.io(j, io);
                    }
                }
                IoCmd::Close { link, .. } => self.drop_link(link),
                IoCmd::Send { link, msg, .. } => {
                    if self.link != Some(link) || !self.up(1 - i) {
                        continue;
                    }
                    // Through the codec, digest included, as on TCP.
                    let p = Profile::new(PartnerSoftware::Xdhcp, Some(SECRET));
                    let mut buf = [0u8; 4096];
                    let n = wire::encode(&msg, &p, &mut buf).expect("encodes");
                    let back = wire::decode(&buf[..n], &p).expect("decodes");
                    self.carried[i] += 1;
                    let j = 1 - i;
                    self.node(j).control.handle_message(now, 0, link, back);
                    let io = self.node(j).pump(now);
                    self.io(j, io);
                }
            }
        }
    }

    fn drop_link(&mut self, link: u64) {
        if self.link != Some(link) {
            return;
        }
        self.link = None;
        let now = self.now;
        for j in 0..2 {
            if self.up(j) {
                self.node(j).control.handle_link_down(now, 0, link);
                let io = self.node(j).pump(now);
                self.io(j, io);
            }
        }
    }

    /// Hands node 0 a BNDUPD of `b` from the partner on the current link, as if it came
    /// alone: what node 0 sends in return is not delivered.
    fn deliver_to_primary(&mut self, xid: u32, b: super::msg::PeerBinding) {
        let link = self.link.expect("connected");
        let now = self.now;
        let msg = super::msg::Msg {
            time: now.wall,
            xid,
            body: super::msg::Body::BndUpd(vec![b]),
        };
        self.node(0).control.handle_message(now, 0, link, msg);
        let _ = self.node(0).pump(now);
        let _ = self.node(0).sync(now);
    }

    fn sync(&mut self) {
        for i in 0..2 {
            if self.up(i) {
                let now = self.now;
                let io = self.node(i).sync(now);
                self.io(i, io);
            }
        }
    }

    /// Advances time by `ms` in 100 ms steps, syncing journals at every step.
    fn run_for(&mut self, ms: u64) {
        let end = self.now.mono_ms + ms;
        while self.now.mono_ms < end {
            self.now.mono_ms += 100;
            if self.now.mono_ms.is_multiple_of(1000) {
                self.now.wall += 1;
            }
            for i in 0..2 {
                if !self.up(i) {
                    continue;
                }
                let due = self
                    .node(i)
                    .control
                    .poll_timeout()
                    .is_some_and(|t| t <= self.now.mono_ms);
                let now = self.now;
                let io = if due || self.now.mono_ms.is_multiple_of(1000) {
                    self.node(i).handle_timeout(now)
                } else {
                    self.node(i).pump(now)
                };
                self.io(i, io);
            }
            self.sync();
        }
    }

    fn states(&self) -> (ServerState, ServerState) {
        let s = |i: usize| {
            self.nodes[i]
                .as_ref()
                .and_then(|n| n.control.status().first().map(|r| r.state.0))
                .unwrap_or(ServerState::Shutdown)
        };
        (s(0), s(1))
    }

    /// DISCOVER/REQUEST for client `n` at node `i`; the ACK counts once durable.
    fn dora(&mut self, i: usize, n: u8) -> Option<Ipv4Addr> {
        let now = self.now;
        let id = if i == 0 { A_ADDR } else { B_ADDR };
        let (_, o) = self
            .node(i)
            .handle_request(now, 0, &req(MsgType::Discover, n, None, None));
        let Outcome::Reply(offer) = o else {
            return None;
        };
        let (w, a) = self.node(i).handle_request(
            now,
            0,
            &req(MsgType::Request, n, Some(offer.yiaddr), Some(id)),
        );
        let Outcome::Reply(ack) = a else { return None };
        if ack.msg_type != MsgType::Ack {
            return None;
        }
        self.sync();
        let seq = ack.durable_after.unwrap_or(0);
        assert!(
            self.node(i).is_durable(w, seq),
            "ACK before its binding is durable"
        );
        Some(ack.yiaddr)
    }

    /// The operator declares node `i`'s partner down.
    fn partner_down(&mut self, i: usize) -> Result<(), &'static str> {
        let now = self.now;
        let r = self.node(i).control.partner_down(now, 0);
        let io = self.node(i).pump(now);
        self.io(i, io);
        r
    }

    fn crash(&mut self, i: usize, torn: usize) -> Vec<LogItem> {
        let n = self.nodes[i].take().unwrap();
        if let Some(l) = self.link {
            self.drop_link(l);
        }
        n.crash(torn)
    }

    fn restart(&mut self, i: usize, journal: Vec<LogItem>) {
        let now = self.now;
        let id = if i == 0 { A_ADDR } else { B_ADDR };
        self.nodes[i] = Some(Node::start(self.cfgs[i].clone(), vec![id], 2, journal, now));
        let io = self.node(i).pump(now);
        self.io(i, io);
    }

    /// Addresses held by a binding on either node, with the client: no address may have two.
    fn assert_unique(&self) {
        let mut by_addr = std::collections::HashMap::new();
        for n in self.nodes.iter().flatten() {
            for (addr, key, state, _) in n.held() {
                if state != BindingState::Active {
                    continue;
                }
                if let Some(k) = by_addr.insert(addr, key) {
                    assert_eq!(k, key, "{addr} held by two clients");
                }
            }
        }
    }
}

fn mac(n: u8) -> &'static [u8] {
    Box::leak(Box::new([2, 0, 0, 0, 8, n]))
}

fn req(
    t: MsgType,
    n: u8,
    requested: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
) -> Request<'static> {
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
        requested_ip: requested,
        server_id: server,
        lease_time: None,
        vendor_class: None,
        relay: None,
        subnet_selection: None,
        iface_addr: Ipv4Addr::new(10, 0, 0, 1),
    }
}

fn renew(p: &mut Pair, i: usize, n: u8, addr: Ipv4Addr) -> Option<Ipv4Addr> {
    let now = p.now;
    let r = Request {
        ciaddr: addr,
        ..req(MsgType::Request, n, None, None)
    };
    let (_, o) = p.node(i).handle_request(now, 1, &r);
    p.sync();
    match o {
        Outcome::Reply(a) if a.msg_type == MsgType::Ack => Some(a.yiaddr),
        _ => None,
    }
}

fn pool_split(p: &Pair, i: usize) -> (u64, u64) {
    let n = p.nodes[i].as_ref().unwrap();
    let space = &n.plan().space;
    let mut free = 0;
    let mut partner = 0;
    for r in space.pools().filter(|r| r.subnet == SubnetId(1)) {
        let c = space.census(r);
        free += c.free;
        partner += c.partner_free;
    }
    (free, partner)
}

#[test]
fn a_new_pair_reaches_normal_and_splits_the_pool() {
    let mut p = Pair::new(FailoverMode::LoadBalance { local_percent: 50 });
    p.run_for(2_000);
    assert_eq!(p.states(), (ServerState::Normal, ServerState::Normal));
    let (a_free, a_partner) = pool_split(&p, 0);
    let (b_free, b_partner) = pool_split(&p, 1);
    // 99 addresses in the pool (one excluded): the secondary holds half of them.
    assert_eq!(a_free + a_partner, 99);
    assert_eq!(
        (b_free, b_partner),
        (a_partner, a_free),
        "both agree who owns what"
    );
    assert!((49..=50).contains(&b_free), "secondary got {b_free}");
}

#[test]
fn leases_from_either_server_reach_the_other_and_renew_there() {
    let mut p = Pair::new(FailoverMode::LoadBalance { local_percent: 50 });
    p.run_for(2_000);
    let mut leased = Vec::new();
    for n in 1..=40u8 {
        // Each client asks both; the one whose bucket it is answers.
        let a = p.dora(0, n);
        let b = p.dora(1, n);
        assert!(
            a.is_some() != b.is_some(),
            "client {n}: exactly one answers ({a:?}, {b:?})"
        );
        leased.push((n, a.or(b).unwrap(), if a.is_some() { 0 } else { 1 }));
    }
    assert!(leased.iter().any(|l| l.2 == 0) && leased.iter().any(|l| l.2 == 1));
    p.run_for(1_000);
    p.assert_unique();
    // Both lease tables hold all forty.
    for i in 0..2 {
        let held: Vec<_> = p.nodes[i].as_ref().unwrap().held();
        for (n, addr, _) in &leased {
            assert!(
                held.iter().any(|(a, ..)| a == addr),
                "node {i} lacks client {n}'s {addr}"
            );
        }
    }
    // The primary goes away: the secondary renews the primary's clients (RENEWING is unicast to
    // the granting server, REBINDING broadcast; answered regardless of buckets).
    p.crash(0, 0);
    p.run_for(1_000);
    assert_eq!(p.states().1, ServerState::CommunicationsInterrupted);
    for (n, addr, by) in &leased {
        if *by == 0 {
            assert_eq!(renew(&mut p, 1, *n, *addr), Some(*addr), "client {n}");
        }
    }
}

#[test]
fn partner_down_after_switchover_then_recovery_converges() {
    let mut p = Pair::new(FailoverMode::HotStandby {
        reserve_percent: 10,
    });
    p.run_for(2_000);
    assert_eq!(p.states(), (ServerState::Normal, ServerState::Normal));
    let mut leased = Vec::new();
    for n in 1..=20u8 {
        // Hot standby: only the active (primary) answers in NORMAL.
        assert_eq!(p.dora(1, n), None);
        leased.push((n, p.dora(0, n).unwrap()));
    }
    p.run_for(500);
    let journal = p.crash(0, 0);
    // Switchover interval (60 s) then PARTNER-DOWN; after MCLT the standby may use all.
    p.run_for(61_000);
    assert_eq!(p.states().1, ServerState::PartnerDown);
    let (free, _) = pool_split(&p, 1);
    let mut extra = Vec::new();
    for n in 100..(100 + free as u8) {
        extra.push((n, p.dora(1, n).unwrap()));
    }
    assert!(
        p.dora(1, 200).is_none(),
        "its own pool is used up before MCLT"
    );
    p.run_for(u64::from(MCLT) * 1000);
    let more = p.dora(1, 201).expect("the partner's pool after MCLT");
    extra.push((201, more));
    p.assert_unique();
    // The primary returns from its journal, recovers, and both converge; the clients keep
    // renewing wherever they are answered.
    p.restart(0, journal);
    let clients: Vec<(u8, Ipv4Addr)> = leased.iter().chain(&extra).copied().collect();
    for _ in 0..(MCLT / 30 + 4) {
        p.run_for(30_000);
        for &(n, addr) in &clients {
            let ok = (0..2).any(|i| renew(&mut p, i, n, addr) == Some(addr));
            assert!(ok, "client {n} ({addr}) lost its lease");
        }
    }
    p.run_for(2_000);
    assert_eq!(p.states(), (ServerState::Normal, ServerState::Normal));
    p.assert_unique();
    let active = |i: usize| -> Vec<_> {
        p.nodes[i]
            .as_ref()
            .unwrap()
            .held()
            .into_iter()
            .filter(|h| h.2 == BindingState::Active)
            .map(|h| (h.0, h.1))
            .collect()
    };
    let (a, b) = (active(0), active(1));
    assert_eq!(a, b, "lease tables converged");
    assert_eq!(a.len(), clients.len());
}

#[test]
fn a_relationship_is_added_changed_and_removed_without_a_restart() {
    let lb = |p| FailoverMode::LoadBalance { local_percent: p };
    let alone = |role| {
        let mut c = cfg(role, lb(50));
        c.failover.clear();
        c
    };
    // A serves the subnet alone and has leases; B is configured but serves nobody yet.
    let mut p = Pair::with_cfgs([alone(FailoverRole::Primary), alone(FailoverRole::Secondary)]);
    let mut leased = Vec::new();
    for n in 1..=10u8 {
        leased.push(p.dora(0, n).unwrap());
    }
    // Both get the relationship by reload: they connect, recover, reach NORMAL; B learns A's
    // leases and gets its share of the pool.
    let now = p.now;
    for (i, role) in [FailoverRole::Primary, FailoverRole::Secondary]
        .into_iter()
        .enumerate()
    {
        let c = cfg(role, lb(50));
        p.cfgs[i] = c.clone();
        p.node(i)
            .reload(c, now)
            .expect("reload adds the relationship");
        let io = p.node(i).pump(now);
        p.io(i, io);
    }
    p.run_for(3_000);
    assert_eq!(p.states(), (ServerState::Normal, ServerState::Normal));
    let b_held: Vec<Ipv4Addr> = p.nodes[1]
        .as_ref()
        .unwrap()
        .held()
        .iter()
        .map(|h| h.0)
        .collect();
    for a in &leased {
        assert!(b_held.contains(a), "B lacks A's lease {a}");
    }
    let (b_free, _) = pool_split(&p, 1);
    assert!(b_free >= 40, "B got {b_free} addresses");
    p.assert_unique();

    // A new MCLT: renegotiated by reconnecting, back to NORMAL, leases kept.
    let now = p.now;
    for i in 0..2 {
        let mut c = p.cfgs[i].clone();
        c.failover[0].mclt_secs = 120;
        p.cfgs[i] = c.clone();
        p.node(i).reload(c, now).expect("reload changes MCLT");
        let io = p.node(i).pump(now);
        p.io(i, io);
    }
    p.run_for(3_000);
    assert_eq!(p.states(), (ServerState::Normal, ServerState::Normal));
    assert_eq!(p.nodes[1].as_ref().unwrap().control.endpoint(0).mclt(), 120);
    p.assert_unique();

    // Removed on A only: A serves alone again and owns every free address; B loses its
    // partner (COMMUNICATIONS-INTERRUPTED) and keeps the leases.
    let now = p.now;
    let c = alone(FailoverRole::Primary);
    p.cfgs[0] = c.clone();
    let (_, map) = p
        .node(0)
        .reload(c, now)
        .expect("reload removes the relationship");
    assert_eq!(map, vec![None]);
    if let Some(l) = p.link {
        p.drop_link(l);
    }
    p.run_for(2_000);
    assert!(p.nodes[0].as_ref().unwrap().control.is_empty());
    let (a_free, a_partner) = pool_split(&p, 0);
    assert_eq!(
        a_partner, 0,
        "standalone again: nothing left to the partner"
    );
    assert_eq!(a_free + leased.len() as u64, 99);
    assert_eq!(p.states().1, ServerState::CommunicationsInterrupted);
    assert!(p.dora(0, 200).is_some(), "A answers everybody again");
}

/// Seeds 0x73c56d6b217e7d0a and 0x40c1fa443f9731de: a client released its address at one
/// server and, seconds later, was granted it again by the other. Then one clock stepped
/// back (the partner's here): corrected by the partner's offset as it is now, the older
/// RELEASED, stamped before the step, looked later than the grant and ended the lease.
#[test]
fn a_release_stamped_before_the_partners_clock_stepped_back_does_not_end_a_later_lease() {
    use super::msg::{Body, Msg, PeerBinding};
    let mut p = Pair::new(FailoverMode::LoadBalance { local_percent: 50 });
    p.run_for(2_000);
    let (n, addr) = (1..=40u8)
        .find_map(|n| p.dora(0, n).map(|a| (n, a)))
        .expect("the primary answers some client");
    let granted = p.now.wall;
    let link = p.link.expect("connected");
    // From now on the partner's clock is 21 s behind ours (only node 0 runs: what it sends
    // is dropped). The offset estimate follows within a minute.
    let behind = |p: &Pair| p.now.wall - 21;
    for k in 0..8 {
        p.now.mono_ms += 10_000;
        p.now.wall += 10;
        let (now, time) = (p.now, behind(&p));
        let msg = Msg {
            time,
            xid: 1_000 + k,
            body: Body::Contact,
        };
        p.node(0).control.handle_message(now, 0, link, msg);
        let _ = p.node(0).pump(now);
    }
    // The partner's RELEASED for the client, 5 s before the grant on the clock the partner
    // had then (before its step).
    let mut released = PeerBinding::pool(addr, BindingState::Released, granted - 5);
    released.hw = Some(crate::lease::HwAddr::new(1, mac(n)));
    released.cltt = Some(granted - 5);
    let (now, time) = (p.now, behind(&p));
    let msg = Msg {
        time,
        xid: 2_000,
        body: Body::BndUpd(vec![released]),
    };
    p.node(0).control.handle_message(now, 0, link, msg);
    let _ = p.node(0).pump(now);
    let io = p.node(0).sync(now);
    drop(io);
    let held = p.nodes[0].as_ref().unwrap().held();
    assert!(
        held.iter()
            .any(|(a, _, s, _)| *a == addr && *s == BindingState::Active),
        "client {n}'s lease on {addr} ended by an older RELEASED: {held:?}"
    );
}

/// Runs pair `p` to NORMAL; then, only node 0 running (what it sends is not delivered), one
/// of the secondary's addresses comes back to the primary (FREE), which gives it to the
/// secondary again as BACKUP: unacknowledged. Returns the address and node 0's address space.
fn backup_transfer_unacknowledged(
    p: &mut Pair,
) -> (Ipv4Addr, std::sync::Arc<crate::lease::AddressSpace>) {
    use super::msg::PeerBinding;
    use crate::lease::Slot;
    p.run_for(2_000);
    let space = p.nodes[0].as_ref().unwrap().plan().space.clone();
    let addr = (100..=199u8)
        .rev()
        .map(|n| Ipv4Addr::new(10, 0, 0, n))
        .find(|a| {
            space
                .slot_of(*a)
                .is_some_and(|s| space.get(s) == Slot::PartnerFree)
        })
        .expect("the secondary has addresses");
    let sid = space.slot_of(addr).unwrap();
    let free = PeerBinding::pool(addr, BindingState::Free, p.now.wall);
    p.deliver_to_primary(3_000, free);
    assert_eq!(space.get(sid), Slot::Free);
    let now = p.now;
    assert!(p.node(0).control.rebalance(0, now) > 0);
    let _ = p.node(0).pump(now);
    assert_eq!(space.get(sid), Slot::PartnerFree);
    (addr, space)
}

/// Seed 0x18ff785e8afcb047: the secondary's RELEASED, applied here, was re-sent on a new
/// connection after the primary had passed the (now free) address to the secondary as BACKUP.
/// Applied again it made the address the primary's FREE, while the secondary took the BACKUP:
/// both leased it. While our BACKUP is unacknowledged, the primary's version wins.
#[test]
fn a_released_crossing_our_backup_transfer_leaves_the_address_with_the_partner() {
    use super::msg::PeerBinding;
    use crate::lease::Slot;
    let mut p = Pair::new(FailoverMode::LoadBalance { local_percent: 50 });
    let (addr, space) = backup_transfer_unacknowledged(&mut p);
    let sid = space.slot_of(addr).unwrap();
    // Before the secondary's BNDACK, its RELEASED for the address arrives (again).
    let mut released = PeerBinding::pool(addr, BindingState::Released, p.now.wall - 1);
    released.hw = Some(crate::lease::HwAddr::new(1, mac(7)));
    released.cltt = Some(p.now.wall - 1);
    p.deliver_to_primary(3_001, released);
    assert_eq!(
        space.get(sid),
        Slot::PartnerFree,
        "{addr} became the primary's while the secondary takes it as BACKUP"
    );
}

/// Seed 0x74b70bcc645e4b01: the primary applied the secondary's lease of an address it was
/// giving the secondary as BACKUP, as the connection failed; the verdict went nowhere, and the
/// BACKUP transfer went out again on the next connection. The secondary, whose client had
/// released the lease meanwhile, took the address and leased it to another client, while the
/// primary kept the first client's lease (refusing that RELEASED as older than its transfer)
/// and gave it the address again. An update applied after its connection is gone supersedes
/// our own news of the address as an acknowledged one does.
#[test]
fn an_update_applied_as_its_connection_fails_supersedes_our_backup_transfer() {
    use super::msg::{Body, Msg, PeerBinding};
    use crate::lease::HwAddr;
    let mut p = Pair::new(FailoverMode::LoadBalance { local_percent: 50 });
    let (addr, _) = backup_transfer_unacknowledged(&mut p);
    let now = p.now;
    let _ = p.node(0).sync(now);
    let unacked = |p: &mut Pair| p.node(0).control.endpoint(0).unacked_update(addr);
    assert_eq!(unacked(&mut p), Some(BindingState::Backup));
    // The secondary's lease of the address arrives; the connection fails before it is durable.
    let mut lease = PeerBinding::pool(addr, BindingState::Active, now.wall);
    lease.hw = Some(HwAddr::new(1, mac(7)));
    lease.cltt = Some(now.wall);
    lease.lease_end = Some(now.wall + 600);
    lease.pot_exp = Some(now.wall + 900);
    let link = p.link.expect("connected");
    let msg = Msg {
        time: now.wall,
        xid: 3_001,
        body: Body::BndUpd(vec![lease]),
    };
    p.node(0).control.handle_message(now, 0, link, msg);
    let _ = p.node(0).pump(now);
    p.drop_link(link);
    let _ = p.node(0).sync(now);
    assert!(
        p.node(0)
            .held()
            .iter()
            .any(|(a, _, s, _)| *a == addr && *s == BindingState::Active),
        "the lease is applied"
    );
    assert_eq!(
        unacked(&mut p),
        None,
        "the BACKUP transfer of {addr} is older news than the partner's lease"
    );
}

/// The primary moves free addresses only in NORMAL, as ISC does (`dobalance`). Answering a
/// POOLREQ in RECOVER-DONE gave the partner, just out of PARTNER-DOWN, BACKUP addresses before
/// its leases on them had arrived (found by a helper with seed 0x959b4e3bd636a624).
#[test]
fn the_primary_moves_free_addresses_only_in_normal() {
    use crate::lease::Slot;
    let mut p = Pair::new(FailoverMode::LoadBalance { local_percent: 50 });
    p.run_for(2_000);
    let space = p.nodes[0].as_ref().unwrap().plan().space.clone();
    // Five of the secondary's addresses come back: the split is off by five.
    let back: Vec<Ipv4Addr> = (100..=199u8)
        .map(|n| Ipv4Addr::new(10, 0, 0, n))
        .filter(|a| {
            space
                .slot_of(*a)
                .is_some_and(|s| space.get(s) == Slot::PartnerFree)
        })
        .take(5)
        .collect();
    assert_eq!(back.len(), 5);
    for (i, a) in back.iter().enumerate() {
        let free = super::msg::PeerBinding::pool(*a, BindingState::Free, p.now.wall);
        p.deliver_to_primary(4_000 + i as u32, free);
    }
    let slot = |a: &Ipv4Addr| space.get(space.slot_of(*a).unwrap());
    assert!(back.iter().all(|a| slot(a) == Slot::Free));
    p.drop_link(p.link.expect("connected"));
    assert_eq!(p.states().0, ServerState::CommunicationsInterrupted);
    let now = p.now;
    assert_eq!(p.node(0).control.rebalance(0, now), 0, "not in NORMAL");
    assert!(back.iter().all(|a| slot(a) == Slot::Free));
}

/// Seeds 0x58cf4fb63174b222 and 0x15a71ddb7c86edde: the secondary was down longer than MCLT.
/// Meanwhile the primary, in PARTNER-DOWN, leased the secondary's free (BACKUP) addresses
/// after its MCLT wait, then went down too. The operator declared the secondary's partner
/// down, and the secondary handed out its own free addresses at once, not knowing of those
/// leases. Having not been in touch with its partner, it waits MCLT for its own pool as for
/// the partner's; leases it knows are renewed at once.
#[test]
fn partner_down_after_a_long_outage_waits_mclt_for_our_own_free_addresses() {
    let mut p = Pair::new(FailoverMode::LoadBalance { local_percent: 50 });
    p.run_for(2_000);
    assert_eq!(p.states(), (ServerState::Normal, ServerState::Normal));
    // A lease the secondary grants before it goes down (one of the clients it answers),
    // renewed once the primary knows it, so that it outlasts the outage.
    let (mine, mine_addr) = (1..=40u8)
        .find_map(|n| p.dora(1, n).map(|a| (n, a)))
        .expect("the secondary answers some client");
    p.run_for(1_000);
    assert_eq!(renew(&mut p, 1, mine, mine_addr), Some(mine_addr));
    p.run_for(1_000);
    let journal = p.crash(1, 0);
    p.run_for(1_000);
    p.partner_down(0).expect("the secondary is down");
    assert_eq!(p.states().0, ServerState::PartnerDown);
    // After MCLT the primary runs out of its own addresses and leases the secondary's.
    p.run_for(u64::from(MCLT) * 1000 + 1_000);
    let (own, _) = pool_split(&p, 0);
    for n in 100..(100 + own as u8) {
        p.dora(0, n).expect("the primary's own pool");
    }
    let taken: Vec<Ipv4Addr> = (200..210u8)
        .map(|n| p.dora(0, n).expect("the secondary's pool after MCLT"))
        .collect();
    p.run_for(1_000);
    p.crash(0, 0);
    // The secondary comes back after more than MCLT, does not reach the primary, stays
    // silent, and the operator declares the primary down.
    p.run_for(20_000);
    p.restart(1, journal);
    p.run_for(20_000);
    assert_eq!(
        p.states().1,
        ServerState::Startup,
        "down longer than MCLT: silent"
    );
    p.partner_down(1)
        .expect("held in STARTUP, partner unreachable");
    assert_eq!(p.states().1, ServerState::PartnerDown);
    // Its own lease renews at once; no new address until MCLT has passed.
    assert_eq!(renew(&mut p, 1, mine, mine_addr), Some(mine_addr));
    for n in 220..230u8 {
        let got = p.dora(1, n);
        assert!(
            got.is_none(),
            "client {n} got {got:?} before MCLT (the primary leased {taken:?})"
        );
    }
    // The primary's leases, capped at MCLT past its last word, have run out by then.
    p.run_for(u64::from(MCLT) * 1000 + 1_000);
    assert!(p.dora(1, 230).is_some(), "own pool after MCLT");
}

/// Seed 0x9a698fa98f8b0284: the primary's clock is 20 s behind the secondary's. The primary's
/// potential expiration for one of its addresses, moved onto the secondary's clock "never
/// later", stayed 20 s early there; in PARTNER-DOWN the secondary reused the address MCLT +
/// POT_SLACK_SECS past that, 14 s before the primary's lease on it (capped at that potential
/// expiration + MCLT) ended. The primary came back, its client renewed, and both servers
/// ACKed the address to it while the secondary's new client held it.
#[test]
fn the_potential_expiration_of_a_partner_behind_us_is_waited_for_on_our_clock() {
    use super::msg::{Body, Msg, PeerBinding};
    use crate::lease::Slot;
    let mut p = Pair::new(FailoverMode::HotStandby {
        reserve_percent: 10,
    });
    p.run_for(2_000);
    assert_eq!(p.states(), (ServerState::Normal, ServerState::Normal));
    let space = p.nodes[1].as_ref().unwrap().plan().space.clone();
    let x = (100..=199u8)
        .map(|n| Ipv4Addr::new(10, 0, 0, n))
        .find(|a| {
            space
                .slot_of(*a)
                .is_some_and(|s| space.get(s) == Slot::PartnerFree)
        })
        .expect("the primary has free addresses");
    let link = p.link.expect("connected");
    // From now on the primary's clock is 20 s behind the secondary's (only the secondary
    // runs: what it sends is dropped). Its messages show that within a minute.
    let behind = 20;
    for k in 0..8 {
        p.now.mono_ms += 10_000;
        p.now.wall += 10;
        let now = p.now;
        let msg = Msg {
            time: now.wall - behind,
            xid: 1_000 + k,
            body: Body::Contact,
        };
        p.node(1).control.handle_message(now, 0, link, msg);
        let _ = p.node(1).pump(now);
    }
    // The primary's lease of x to client 7, its potential expiration 200 s on (its clock).
    let tp = p.now.wall - behind;
    let mut active = PeerBinding::pool(x, BindingState::Active, tp);
    active.hw = Some(crate::lease::HwAddr::new(1, mac(7)));
    active.cltt = Some(tp);
    active.lease_end = Some(tp + 60);
    active.pot_exp = Some(tp + 200);
    let now = p.now;
    let msg = Msg {
        time: tp,
        xid: 2_000,
        body: Body::BndUpd(vec![active]),
    };
    p.node(1).control.handle_message(now, 0, link, msg);
    let _ = p.node(1).pump(now);
    let _ = p.node(1).sync(now);
    // On our clock the primary may extend client 7's lease until `until`.
    let until = p.now.wall + 200 + MCLT;
    // The primary goes down; the operator says so.
    p.crash(0, 0);
    p.partner_down(1).expect("the primary is down");
    assert_eq!(p.states().1, ServerState::PartnerDown);
    // A little before `until`, every address the secondary may give out is given out: x is
    // not among them.
    let target = u64::from(until - 2 - p.now.wall) * 1000;
    p.run_for(target);
    let mut given = Vec::new();
    for n in 100..=250u8 {
        match p.dora(1, n) {
            Some(a) => given.push(a),
            None => break,
        }
    }
    assert!(
        !given.is_empty(),
        "the primary's other addresses after MCLT"
    );
    assert!(
        !given.contains(&x),
        "{x} reused at {} before the primary's lease on it could end ({until})",
        p.now.wall
    );
    // Once that has passed, it is the secondary's to give.
    p.run_for(3_000);
    assert_eq!(p.dora(1, 251), Some(x), "{x} after {until}");
}

#[test]
fn a_stopping_server_answers_no_client_of_a_shared_subnet() {
    // Once SHUTDOWN is announced the partner may take over (PARTNER-DOWN, ISC's rule); a lease
    // granted after that, in the moments before the workers stop, would be one it cannot know
    // of. Not connected (here: the link is gone, so SHUTDOWN cannot even be told), the
    // stopping server stays silent all the same.
    let mut p = Pair::new(FailoverMode::LoadBalance { local_percent: 50 });
    p.run_for(2_000);
    assert_eq!(p.states(), (ServerState::Normal, ServerState::Normal));
    let link = p.link.expect("connected");
    p.drop_link(link);
    assert_eq!(p.states().1, ServerState::CommunicationsInterrupted);
    assert!(
        (0..20).any(|n| p.dora(1, n).is_some()),
        "serves its own pool while COMMUNICATIONS-INTERRUPTED"
    );
    let now = p.now;
    p.node(1).control.shutdown(now);
    let io = p.node(1).pump(now);
    p.io(1, io);
    assert!(
        (20..80).all(|n| p.dora(1, n).is_none()),
        "silent once stopping"
    );
}

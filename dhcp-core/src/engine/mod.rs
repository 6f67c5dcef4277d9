//! The request engine: RFC 2131 server behaviour over the lease shards a worker owns.
//!
//! `handle(now, &request)` decides and updates bindings; it returns a [`ReplyPlan`] (written to
//! the wire by [`emit`]), a [`DropReason`], or the shard that owns the client when another
//! worker must answer. Binding changes that must survive a crash are queued as
//! [`JournalEntry`]s; an ACK carries the sequence number that must be durable before it leaves.

pub mod admin;
pub mod emit;
pub mod peer;
pub mod plan;
pub mod reload;
pub mod restore;
pub mod types;

use std::{net::Ipv4Addr, sync::Arc};

pub use plan::Plan;
pub use types::*;

use crate::lease::{BindingFlags, BindingState, ClientKey, HwAddr, Shard};

/// Most expiries processed per shard per [`Engine::tick`].
const EXPIRE_BATCH: usize = 4096;

/// One worker's engine: the shards it owns and its counters.
#[derive(Debug)]
pub struct Engine {
    plan: Arc<Plan>,
    shards: Vec<Shard>,
    /// Local position of each global shard number, or `usize::MAX` when another worker owns it.
    local: Vec<usize>,
    journal: Vec<JournalEntry>,
    seq: u64,
    /// Counters.
    pub counters: Counters,
}

impl Engine {
    /// An engine owning the shards numbered `owned`, each with room for `capacity` bindings.
    pub fn new(plan: Arc<Plan>, owned: &[u16], capacity: usize, now: u32) -> Engine {
        let n = plan.shard_count;
        let mut local = vec![usize::MAX; usize::from(n)];
        let shards = owned
            .iter()
            .enumerate()
            .map(|(pos, &id)| {
                local[usize::from(id)] = pos;
                Shard::new(id, n, capacity, plan.space.clone(), now)
            })
            .collect();
        Engine {
            plan,
            shards,
            local,
            journal: Vec::with_capacity(4096),
            seq: 0,
            counters: Counters::default(),
        }
    }

    /// Live reconfiguration: decides with `plan` from now on. The caller made `plan`'s address
    /// space take over the old one's state while no worker ran (`AddressSpace::migrate_from`);
    /// the shard count is the same.
    pub fn set_plan(&mut self, plan: Arc<Plan>) {
        let n = plan.shard_count;
        for s in &mut self.shards {
            s.set_space(plan.space.clone(), n);
        }
        self.plan = plan;
    }

    /// True when this engine owns shard `shard`.
    pub fn owns(&self, shard: u16) -> bool {
        self.local
            .get(usize::from(shard))
            .is_some_and(|p| *p != usize::MAX)
    }

    /// The compiled configuration.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The shards this engine owns.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// Mutable access to the owned shards (recovery).
    pub fn shards_mut(&mut self) -> &mut [Shard] {
        &mut self.shards
    }

    /// The owned shard with global number `id`.
    pub fn shard_mut(&mut self, id: u16) -> Option<&mut Shard> {
        let pos = *self.local.get(usize::from(id))?;
        self.shards.get_mut(pos)
    }

    /// Journal entries produced since the last call (the caller drains the vector).
    pub fn journal(&mut self) -> &mut Vec<JournalEntry> {
        &mut self.journal
    }

    /// The last journal sequence number handed out.
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    fn record(&mut self, shard_pos: usize, idx: u32) -> u64 {
        self.record_from(shard_pos, idx, false)
    }

    /// Journals binding `idx`; a local change in a failover subnet is marked as not yet
    /// acknowledged by the partner, and is no longer the partner's news.
    pub(crate) fn record_from(&mut self, shard_pos: usize, idx: u32, from_peer: bool) -> u64 {
        if !from_peer {
            self.shards[shard_pos].binding_mut(idx).flags.0 &= !BindingFlags::LEARNT_FROM_PARTNER;
            let subnet = self.shards[shard_pos].binding(idx).subnet;
            if self
                .plan
                .subnet_index(subnet)
                .and_then(|i| self.plan.relationship_of(i))
                .is_some()
            {
                self.shards[shard_pos].binding_mut(idx).flags.0 |= BindingFlags::UPDATE_PENDING;
            }
        }
        self.seq += 1;
        let binding = *self.shards[shard_pos].binding(idx);
        self.journal.push(JournalEntry {
            seq: self.seq,
            binding,
            from_peer,
        });
        self.seq
    }

    /// Handles one request at wall-clock second `now`.
    pub fn handle(&mut self, now: u32, req: &Request<'_>) -> Outcome {
        let key = ClientKey::for_request(req.client_id, req.htype, req.chaddr);
        let shard = self.plan.shard_of(&key);
        let Some(&pos) = self
            .local
            .get(usize::from(shard))
            .filter(|p| **p != usize::MAX)
        else {
            return Outcome::Forward(shard);
        };
        self.counters.pkt4_received += 1;
        let out = match self.failover_gate(now, req) {
            Err(r) => Outcome::Drop(r),
            Ok(()) => self.dispatch(now, req, &key, pos),
        };
        match out {
            Outcome::Reply(ref r) => match r.msg_type {
                MsgType::Offer => self.counters.pkt4_offer_sent += 1,
                MsgType::Ack => self.counters.pkt4_ack_sent += 1,
                MsgType::Nak => self.counters.pkt4_nak_sent += 1,
                _ => {}
            },
            Outcome::Drop(r) => self.counters.drop(r),
            Outcome::Forward(_) => {}
        }
        out
    }

    /// Failover: may we answer this request at all (failover-protocol.md §3.1)? A request we
    /// ignore must leave no trace (draft-12 §9.2), so this runs before anything else.
    fn failover_gate(&self, _now: u32, req: &Request<'_>) -> Result<(), DropReason> {
        use crate::failover::Service;
        let Some(view) = self.plan.select_subnet(req).and_then(|s| self.plan.view(s)) else {
            return Ok(());
        };
        let bucket_ours = || {
            let waited = view.load_balance_max_secs > 0 && req.secs > view.load_balance_max_secs;
            waited || view.bucket_is_ours(req.client_id, req.chaddr)
        };
        match view.service() {
            Service::None => Err(DropReason::FailoverSilent),
            Service::Balanced => match req.msg_type {
                MsgType::Discover | MsgType::Inform => {
                    if bucket_ours() {
                        Ok(())
                    } else {
                        Err(DropReason::PartnerBucket)
                    }
                }
                // INIT-REBOOT is for the bucket's server; SELECTING names its server itself;
                // renewals go to whoever gets them (draft-12 §9.8.2).
                MsgType::Request if req.server_id.is_none() && req.ciaddr.is_unspecified() => {
                    if bucket_ours() {
                        Ok(())
                    } else {
                        Err(DropReason::PartnerBucket)
                    }
                }
                _ => Ok(()),
            },
            Service::OwnPool | Service::PartnerDown => Ok(()),
        }
    }

    fn dispatch(&mut self, now: u32, req: &Request<'_>, key: &ClientKey, pos: usize) -> Outcome {
        match req.msg_type {
            MsgType::Discover => {
                self.counters.pkt4_discover_received += 1;
                self.discover(now, req, key, pos)
            }
            MsgType::Request => {
                self.counters.pkt4_request_received += 1;
                self.request(now, req, key, pos)
            }
            MsgType::Decline => {
                self.counters.pkt4_decline_received += 1;
                self.decline(now, req, key, pos)
            }
            MsgType::Release => {
                self.counters.pkt4_release_received += 1;
                self.release(now, req, key, pos)
            }
            MsgType::Inform => {
                self.counters.pkt4_inform_received += 1;
                self.inform(req)
            }
            _ => {
                self.counters.pkt4_unknown_received += 1;
                Outcome::Drop(DropReason::UnexpectedType)
            }
        }
    }

    /// The lease the client asked for, within the subnet's limits.
    fn desired_lease(&self, subnet: usize, req: &Request<'_>) -> u32 {
        let t = self.plan.subnet(subnet).lease;
        req.lease_time
            .map(|r| r.clamp(t.min_secs, t.max_secs))
            .unwrap_or(t.default_secs)
    }

    /// The lease to grant: the desired one, capped in a failover subnet by the MCLT rule
    /// (draft-12 §7.1.5, failover-protocol.md §4.2): the lease may end at most MCLT after the
    /// latest potential expiration the partner knows (acknowledged or received), or after now.
    #[cfg_attr(feature = "break-mclt", allow(unused_variables))]
    fn lease_for_binding(
        &self,
        now: u32,
        subnet: usize,
        req: &Request<'_>,
        b: Option<&crate::lease::Binding>,
    ) -> LeaseGrant {
        #[cfg_attr(feature = "break-mclt", allow(unused_mut))]
        let mut lease = self.desired_lease(subnet, req);
        // `break-mclt` exists only to prove the simulator's checkers notice a broken rule.
        #[cfg(not(feature = "break-mclt"))]
        if let Some(view) = self.plan.view(subnet) {
            let known = b.map(|b| b.acked_pot_exp.max(b.recv_pot_exp)).unwrap_or(0);
            let cap_end = u64::from(now.max(known)) + u64::from(view.mclt());
            let cap = cap_end
                .saturating_sub(u64::from(now))
                .min(u64::from(u32::MAX)) as u32;
            lease = lease.min(cap.max(1));
        }
        self.grant(subnet, lease)
    }

    fn grant(&self, subnet: usize, lease: u32) -> LeaseGrant {
        let t = self.plan.subnet(subnet).lease;
        LeaseGrant {
            lease_secs: lease,
            t1_secs: (u64::from(lease) * u64::from(t.renew_permille) / 1000) as u32,
            t2_secs: (u64::from(lease) * u64::from(t.rebind_permille) / 1000) as u32,
        }
    }

    fn reply(
        &self,
        msg_type: MsgType,
        req: &Request<'_>,
        subnet: usize,
        yiaddr: Ipv4Addr,
    ) -> ReplyPlan {
        let vendor = req.vendor_class.and_then(|vc| {
            self.plan
                .subnet(subnet)
                .vendor_classes
                .iter()
                .position(|v| vc.starts_with(&v.class_prefix))
                .map(|vi| (subnet, vi))
        });
        ReplyPlan {
            msg_type,
            yiaddr,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            server_id: self.plan.server_id(subnet, req.iface_addr),
            lease: None,
            subnet: Some(subnet),
            reservation: None,
            vendor,
            message: None,
            echo_relay_info: req.relay.is_some(),
            dest: destination(req, msg_type, yiaddr),
            durable_after: None,
        }
    }

    fn nak(&self, req: &Request<'_>, subnet: Option<usize>, why: &'static str) -> Outcome {
        let server_id = match subnet {
            Some(s) => self.plan.server_id(s, req.iface_addr),
            None => req.iface_addr,
        };
        Outcome::Reply(ReplyPlan {
            msg_type: MsgType::Nak,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            server_id,
            lease: None,
            subnet: None,
            reservation: None,
            vendor: None,
            message: Some(why),
            echo_relay_info: req.relay.is_some(),
            dest: destination(req, MsgType::Nak, Ipv4Addr::UNSPECIFIED),
            durable_after: None,
        })
    }

    /// May binding `idx` take up again the address its ended lease still holds? In a failover
    /// subnet an EXPIRED/RELEASED/RESET address belongs to the owner of free addresses
    /// (FREE: the primary) once the partner hears of it (draft-12 §5.11); the partner may
    /// already have handed it to someone else. So only that owner (or a survivor in
    /// PARTNER-DOWN after MCLT) gives it back to the client. A reserved address is the
    /// client's alone, and either server may give it to its owner (§5.13).
    /// An offer of the partner's free address made in PARTNER-DOWN is, likewise, only ours
    /// while we stay there: once the partner is back it may lease that address as its own.
    fn may_reactivate(&self, pos: usize, idx: u32, now: u32) -> bool {
        let b = self.shards[pos].binding(idx);
        let partner_offer =
            b.state == BindingState::Offered && b.flags.0 & BindingFlags::PARTNER_POOL != 0;
        if !partner_offer
            && !matches!(
                b.state,
                BindingState::Expired | BindingState::Released | BindingState::Reset
            )
        {
            return true;
        }
        let Some(view) = self.plan.view_of(b.subnet) else {
            return true;
        };
        if partner_offer {
            return view.may_use_partner_pool(now);
        }
        let space = &self.plan.space;
        let available = space.slot_of(b.addr).map(|sid| space.available_state(sid));
        // Our own free address, unless PARTNER-DOWN makes our own pool wait as the partner's
        // (entered from STARTUP after a long outage: the partner may have leased it meanwhile,
        // seed 0xb771c8436606a6dd).
        let owner = available == Some(crate::lease::Slot::Free) && view.may_use_own_pool(now);
        let reserved = available == Some(crate::lease::Slot::ReservedFree);
        owner || reserved || view.may_use_partner_pool(now)
    }

    /// Lets go binding `idx`'s offer, should it hold one: [`may_reactivate`](Self::may_reactivate)
    /// refused it, so its address (the partner's) goes back to the partner's pool. An ended lease
    /// keeps its address held (draft-12 §5.11).
    fn withdraw_offer(&mut self, now: u32, pos: usize, idx: u32) {
        if self.shards[pos].binding(idx).state == BindingState::Offered {
            self.shards[pos].let_go(idx, BindingState::Free, None, now);
        }
    }

    /// May `addr` be taken for a client now, should we find it available? Not one of our own
    /// free addresses while PARTNER-DOWN makes them wait as the partner's
    /// ([`FailoverView::own_pool_wait`](crate::failover::view::FailoverView::own_pool_wait):
    /// entered without having been in touch with the partner, which may have leased them
    /// meanwhile): MCLT past our entry into PARTNER-DOWN and past the latest potential
    /// expiration known for the address. An address a binding holds is for `take` to judge.
    fn own_free_ok(&self, subnet: usize, addr: Ipv4Addr, now: u32) -> bool {
        use crate::lease::Slot;
        let Some(view) = self.plan.view(subnet) else {
            return true;
        };
        let Some(mclt) = view.own_pool_wait() else {
            return true;
        };
        let space = &self.plan.space;
        let Some(sid) = space.slot_of(addr) else {
            return true;
        };
        let ours = match space.get(sid) {
            Slot::Free => true,
            Slot::Quarantined { .. } => space.available_state(sid) == Slot::Free,
            _ => false,
        };
        !ours
            || (view.may_use_own_pool(now)
                && u64::from(space.pot(sid))
                    + u64::from(mclt)
                    + u64::from(crate::failover::POT_SLACK_SECS)
                    <= u64::from(now))
    }

    /// `addr` is a free address of the failover partner's that we may not hand out now: only
    /// the partner can have leased it, and only it can say whether a client holds it.
    fn partner_answers(&self, subnet: usize, addr: Ipv4Addr, now: u32) -> bool {
        let Some(view) = self.plan.view(subnet) else {
            return false;
        };
        let space = &self.plan.space;
        space
            .slot_of(addr)
            .is_some_and(|sid| space.get(sid) == crate::lease::Slot::PartnerFree)
            && !view.may_use_partner_pool(now)
    }

    /// The subnet of `subnet`'s shared network that `addr` is in.
    fn in_group(&self, subnet: usize, addr: Ipv4Addr) -> Option<usize> {
        self.plan
            .group(subnet)
            .iter()
            .copied()
            .find(|&s| self.plan.subnet(s).network.contains(addr))
    }

    fn discover(&mut self, now: u32, req: &Request<'_>, key: &ClientKey, pos: usize) -> Outcome {
        let Some(subnet) = self.plan.select_subnet(req) else {
            return Outcome::Drop(DropReason::NoSubnet);
        };
        let hw = HwAddr::new(req.htype, req.chaddr);
        let subnet_id = self.plan.subnet(subnet).id;
        let idx = match self.shards[pos].binding_for(key, hw, subnet_id) {
            Ok(i) => i,
            Err(_) => {
                self.counters.v4_allocation_fail += 1;
                return Outcome::Drop(DropReason::AllocationFailed);
            }
        };
        let mut reservation = None;
        let mut chosen: Option<Ipv4Addr> = None;
        // Whether the chosen address came from the partner's free pool (PARTNER-DOWN).
        let mut from_partner = false;
        // What the binding is before this DISCOVER: any step below that takes another address
        // moves it there (one address per client).
        let before = *self.shards[pos].binding(idx);
        let held_before = self.shards[pos].holds(idx);
        let barred = held_before && !self.may_reactivate(pos, idx, now);

        // A binding that holds its address in a failover subnet (a lease not ended, or ended
        // and not yet acknowledged) is not moved by an offer: the partner knows the client on
        // that address and may renew it there, so freed here it could be leased twice (seed
        // 0xb2859e07587ebcf5, a reservation offered over a live lease). Its reservation is
        // offered once the lease has ended and the partner has acknowledged that.
        let keep_held = held_before && !barred && self.plan.view_of(before.subnet).is_some();

        // 1. A reservation.
        if let Some(r) = self
            .plan
            .reservation(req, subnet)
            .filter(|r| !keep_held || r.address == before.addr)
        {
            let rs = self.plan.subnet(r.subnet).id;
            match self.shards[pos].take(idx, r.address, rs, true, now) {
                Ok(()) => {
                    chosen = Some(r.address);
                    reservation = Some((r.subnet, r.index));
                }
                Err(_) => self.counters.v4_reservation_conflicts += 1,
            }
        }
        // 2. The address it holds, or held before (when still free).
        if chosen.is_none() {
            let b = *self.shards[pos].binding(idx);
            let holds = self.shards[pos].holds(idx);
            if let Some(bs) = self
                .in_group(subnet, b.addr)
                .filter(|_| !b.addr.is_unspecified() && !barred)
            {
                let reserved = b.flags.reserved();
                if holds
                    || (self.own_free_ok(bs, b.addr, now)
                        && self.shards[pos]
                            .take(idx, b.addr, self.plan.subnet(bs).id, reserved, now)
                            .is_ok())
                {
                    if !holds {
                        self.counters.v4_lease_reuses += 1;
                    }
                    chosen = Some(b.addr);
                }
            }
        }
        // 3. The address it asks for (option 50), when available — not the one step 2 barred,
        // which the binding still holds and `take` would hand back.
        if chosen.is_none() {
            if let Some(want) = req.requested_ip.filter(|w| !(barred && *w == before.addr)) {
                if let Some(ws) = self.in_group(subnet, want) {
                    if self.own_free_ok(ws, want, now)
                        && self.shards[pos]
                            .take(idx, want, self.plan.subnet(ws).id, false, now)
                            .is_ok()
                    {
                        chosen = Some(want);
                    }
                }
            }
        }
        // 4. Any free address of the shared network.
        if chosen.is_none() {
            let pools = self.plan.group_pools(subnet).to_vec();
            let view = self.plan.view(subnet);
            let partner_ok = view
                .filter(|v| v.may_use_partner_pool(now))
                .map(|v| v.mclt());
            // Our own free addresses, at once unless PARTNER-DOWN makes them wait as the
            // partner's (see `own_free_ok`).
            let own_ok = view.is_none_or(|v| v.may_use_own_pool(now));
            let pot_wait = view.and_then(|v| v.own_pool_wait());
            let own = if own_ok {
                self.shards[pos].allocate_with(idx, &pools, now, pot_wait)
            } else {
                Err(crate::lease::TakeError::Unavailable)
            };
            let got = own.or_else(|e| {
                if let Some(mclt) = partner_ok {
                    from_partner = true;
                    self.shards[pos].allocate_partner(idx, &pools, now, mclt)
                } else {
                    Err(e)
                }
            });
            match got {
                Ok(a) => chosen = Some(a),
                Err(_) => {
                    self.counters.v4_allocation_fail += 1;
                    return Outcome::Drop(DropReason::AllocationFailed);
                }
            }
        }
        let addr = chosen.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let subnet = self.in_group(subnet, addr).unwrap_or(subnet);
        // An ended lease still holding its address is offered back as it is (below) only when
        // that address is the one chosen. A binding that moved to another address left its
        // ended state there: what it holds now is an offer.
        let moved = addr != before.addr;
        let held_ended = held_before
            && !moved
            && matches!(
                before.state,
                BindingState::Expired | BindingState::Released | BindingState::Reset
            );
        let shard = &mut self.shards[pos];
        let b = shard.binding_mut(idx);
        // A change the failover partner has not acknowledged yet stays to be told — on the
        // address it was about.
        // So does the pool an offer came from (an offer made again keeps its address), and
        // whose news a lease offered back to its client is (an offer is no transaction).
        let kept = if moved {
            if from_partner {
                BindingFlags::PARTNER_POOL
            } else {
                0
            }
        } else {
            b.flags.0
                & (BindingFlags::UPDATE_PENDING
                    | BindingFlags::PARTNER_POOL
                    | BindingFlags::LEARNT_FROM_PARTNER)
        };
        b.flags = if reservation.is_some() {
            BindingFlags(BindingFlags::RESERVED | kept)
        } else {
            BindingFlags(kept)
        };
        // An ended lease whose address is still held for the partner's acknowledgement
        // (draft-12 §5.11) is offered back to its client as it is: if the client takes another
        // server's offer, the address must stay held, not become free.
        if b.state != BindingState::Active && !held_ended {
            let hold = now.saturating_add(self.plan.cfg.server.offer_hold_secs);
            shard.set_lease(idx, BindingState::Offered, hold, now);
        }
        let b = *self.shards[pos].binding(idx);
        let mut r = self.reply(MsgType::Offer, req, subnet, addr);
        r.lease = Some(self.lease_for_binding(now, subnet, req, Some(&b)));
        r.reservation = reservation;
        Outcome::Reply(r)
    }

    fn request(&mut self, now: u32, req: &Request<'_>, key: &ClientKey, pos: usize) -> Outcome {
        let Some(subnet) = self.plan.select_subnet(req) else {
            return Outcome::Drop(DropReason::NoSubnet);
        };
        let existing = self.shards[pos].find(key);

        // SELECTING: the client names the server it chose.
        if let Some(sid) = req.server_id {
            if !self.plan.is_our_id(sid, req.iface_addr) {
                // It chose another server: give back what we offered.
                if let Some(i) = existing {
                    if self.shards[pos].binding(i).state == BindingState::Offered {
                        self.shards[pos].let_go(i, BindingState::Free, None, now);
                    }
                }
                return Outcome::Drop(DropReason::NotForUs);
            }
            let Some(want) = req.requested_ip else {
                return Outcome::Drop(DropReason::RfcViolation);
            };
            if let Some(i) = existing {
                if self.shards[pos].binding(i).addr == want && self.shards[pos].holds(i) {
                    if !self.may_reactivate(pos, i, now) {
                        self.withdraw_offer(now, pos, i);
                        return self.nak(
                            req,
                            Some(subnet),
                            "address belongs to the failover partner now",
                        );
                    }
                    return self.commit(now, req, subnet, pos, i);
                }
            }
            // Our offer lapsed (or was never seen: a lost OFFER, a client that skipped the
            // DISCOVER). If the address is still free in the client's network, it can have it.
            return match self.take_requested(now, req, key, pos, subnet, want) {
                Some((i, s)) => self.commit(now, req, s, pos, i),
                None => self.nak(req, Some(subnet), "requested address not available"),
            };
        }

        // INIT-REBOOT: requested-ip, no ciaddr. RENEWING/REBINDING: ciaddr, no requested-ip.
        let (want, rebooting) = match (req.requested_ip, req.ciaddr.is_unspecified()) {
            (Some(w), true) => (w, true),
            (_, false) => (req.ciaddr, false),
            (None, true) => return Outcome::Drop(DropReason::RfcViolation),
        };
        let Some(want_subnet) = self.in_group(subnet, want) else {
            // The client is on the wrong network (moved); tell it so it restarts (§4.3.2).
            return if rebooting {
                self.nak(req, Some(subnet), "address not on this network")
            } else {
                Outcome::Drop(DropReason::NoSubnet)
            };
        };
        // A binding that holds no address elsewhere (an offer let go, a lease ended and given
        // up) is no record of a lease: what the client asks for may be another server's
        // grant, so only an address held by another client is refused (RFC 2131 §4.3.2).
        let existing = existing
            .filter(|&i| self.shards[pos].binding(i).addr == want || self.shards[pos].holds(i));
        match existing {
            Some(i) => {
                let b = *self.shards[pos].binding(i);
                if b.addr != want {
                    if self.partner_answers(want_subnet, want, now) {
                        // The partner's free address: it may have leased it to the client
                        // without our knowing yet (a partition, a lazy update). It answers;
                        // ISC does the same ("letting peer answer").
                        return Outcome::Drop(DropReason::PartnerAddress);
                    }
                    return self.nak(req, Some(subnet), "address not leased to this client");
                }
                if self.shards[pos].holds(i) {
                    if !self.may_reactivate(pos, i, now) {
                        // The lease ended and the address is the partner's to give: it answers
                        // (ISC does the same). A NAK could reach the client with the owner's
                        // ACK, and a client that heeds it holds a lease from each server, which
                        // no clock can then order.
                        self.withdraw_offer(now, pos, i);
                        return Outcome::Drop(DropReason::PartnerAddress);
                    }
                    return self.commit(now, req, want_subnet, pos, i);
                }
                // Its pool was removed by a reload: the lease is kept until it ends, never
                // extended (the client moves to a pool address at its next DISCOVER).
                if self.plan.space.slot_of(want).is_none()
                    && b.state == BindingState::Active
                    && b.lease_end > now
                {
                    self.counters.leases_outside_pools += 1;
                    return self.commit_until(now, req, want_subnet, pos, i, Some(b.lease_end));
                }
                // Ended, and given up: the partner's free address now (its acknowledgement
                // came), which only the partner may have renewed since. It answers (seed
                // 0xdfec4ff0cdc0171a: our NAK beat its ACK to a rebinding client).
                if self.partner_answers(want_subnet, want, now) {
                    return Outcome::Drop(DropReason::PartnerAddress);
                }
                // Expired or released but the client still uses it: renew if still free.
                let sid = self.plan.subnet(want_subnet).id;
                let taken = if self.own_free_ok(want_subnet, want, now) {
                    self.shards[pos].take(i, want, sid, b.flags.reserved(), now)
                } else {
                    Err(crate::lease::TakeError::Unavailable)
                };
                match taken {
                    Ok(()) => {
                        self.counters.v4_lease_reuses += 1;
                        self.commit(now, req, want_subnet, pos, i)
                    }
                    Err(_) => self.nak(req, Some(subnet), "address no longer available"),
                }
            }
            None => {
                // No record of this client. If the address is someone else's, say no;
                // otherwise remain silent (RFC 2131 §4.3.2).
                let held = self
                    .plan
                    .space
                    .slot_of(want)
                    .map(|s| matches!(self.plan.space.get(s), crate::lease::Slot::Bound { .. }))
                    .unwrap_or(false);
                if held {
                    self.nak(req, Some(subnet), "address leased to another client")
                } else {
                    Outcome::Drop(DropReason::NoBinding)
                }
            }
        }
    }

    /// Takes `want` for the client when it is free in the shared network of `subnet` (or is the
    /// client's reservation). Returns the binding and the address's subnet.
    fn take_requested(
        &mut self,
        now: u32,
        req: &Request<'_>,
        key: &ClientKey,
        pos: usize,
        subnet: usize,
        want: Ipv4Addr,
    ) -> Option<(u32, usize)> {
        let ws = self.in_group(subnet, want)?;
        let reserved = self
            .plan
            .reservation(req, subnet)
            .is_some_and(|r| r.address == want);
        if !reserved && !self.own_free_ok(ws, want, now) {
            return None;
        }
        let hw = HwAddr::new(req.htype, req.chaddr);
        let id = self.plan.subnet(ws).id;
        let idx = self.shards[pos].binding_for(key, hw, id).ok()?;
        self.shards[pos].take(idx, want, id, reserved, now).ok()?;
        let b = self.shards[pos].binding_mut(idx);
        b.flags = if reserved {
            BindingFlags(BindingFlags::RESERVED)
        } else {
            BindingFlags::default()
        };
        Some((idx, ws))
    }

    /// Makes binding `idx` ACTIVE with a fresh lease and answers with an ACK that waits for the
    /// journal.
    fn commit(
        &mut self,
        now: u32,
        req: &Request<'_>,
        subnet: usize,
        pos: usize,
        idx: u32,
    ) -> Outcome {
        self.commit_until(now, req, subnet, pos, idx, None)
    }

    /// [`commit`](Self::commit), with the lease ending no later than `cap_end` when given.
    fn commit_until(
        &mut self,
        now: u32,
        req: &Request<'_>,
        subnet: usize,
        pos: usize,
        idx: u32,
        cap_end: Option<u32>,
    ) -> Outcome {
        let before = *self.shards[pos].binding(idx);
        let mut grant = self.lease_for_binding(now, subnet, req, Some(&before));
        if let Some(end) = cap_end {
            let left = end.saturating_sub(now).max(1);
            if left < grant.lease_secs {
                grant = self.grant(subnet, left);
            }
        }
        let lease_end = now.saturating_add(grant.lease_secs);
        let mclt = self.plan.view(subnet).map(|v| v.mclt());
        #[cfg(not(feature = "break-mclt"))]
        if let Some(mclt) = mclt {
            // The MCLT rule, asserted before every ACK: the client must never hold a lease the
            // partner could not know about within MCLT. Debug builds stop; release builds do
            // not send the ACK (counted), since the packet path never panics.
            let known = before.acked_pot_exp.max(before.recv_pot_exp);
            let ok = u64::from(lease_end) <= u64::from(now.max(known)) + u64::from(mclt);
            debug_assert!(
                ok,
                "MCLT rule violated: lease end {lease_end} > max(now {now}, partner-known {known}) + MCLT {mclt}"
            );
            if !ok {
                self.counters.drop(DropReason::McltGuard);
                return Outcome::Drop(DropReason::McltGuard);
            }
        }
        let was_active = before.state == BindingState::Active;
        let desired = self.desired_lease(subnet, req);
        let shard = &mut self.shards[pos];
        shard.set_lease(idx, BindingState::Active, lease_end, now);
        let b = shard.binding_mut(idx);
        // A lease, wherever its address came from, is ours to keep (and the partner is told).
        b.flags.0 &= !BindingFlags::PARTNER_POOL;
        b.cltt = now;
        b.hw = HwAddr::new(req.htype, req.chaddr);
        // True to the last committed request: a request without option 82 remote-id clears
        // it. (Set here only: an OFFER is not journaled, and look-ups want leases.)
        b.remote_id = req
            .relay
            .and_then(|r| r.remote_id)
            .filter(|r| !r.is_empty())
            .map_or(0, crate::lease::remote_id_digest);
        if mclt.is_some() {
            // What we will tell the partner: the desired lease plus half of the granted one
            // beyond now (draft-12 §5.2.1's example, ISC's rule), never below the lease end.
            let pot = u64::from(now) + u64::from(desired) + u64::from(grant.lease_secs / 2);
            b.sent_pot_exp = (pot.min(u64::from(u32::MAX)) as u32).max(lease_end);
        }
        let addr = b.addr;
        let reserved = b.flags.reserved();
        if !was_active {
            self.counters.cumulative_assigned_addresses += 1;
        }
        let seq = self.record(pos, idx);
        let mut r = self.reply(MsgType::Ack, req, subnet, addr);
        r.ciaddr = req.ciaddr;
        r.lease = Some(grant);
        r.durable_after = Some(seq);
        if reserved {
            r.reservation = self
                .plan
                .reservation(req, subnet)
                .map(|f| (f.subnet, f.index));
        }
        Outcome::Reply(r)
    }

    fn decline(&mut self, now: u32, req: &Request<'_>, key: &ClientKey, pos: usize) -> Outcome {
        match req.server_id {
            Some(sid) if self.plan.is_our_id(sid, req.iface_addr) => {}
            _ => return Outcome::Drop(DropReason::NotForUs),
        }
        let Some(addr) = req.requested_ip else {
            return Outcome::Drop(DropReason::RfcViolation);
        };
        let Some(i) = self.shards[pos].find(key) else {
            return Outcome::Drop(DropReason::NoBinding);
        };
        if self.shards[pos].binding(i).addr != addr || !self.shards[pos].holds(i) {
            return Outcome::Drop(DropReason::NoBinding);
        }
        let until = now.saturating_add(self.plan.cfg.server.decline_quarantine_secs);
        // In a failover subnet the partner, not told yet, may renew the client's lease on the
        // address, and in COMMUNICATIONS-INTERRUPTED for as long as the client asks: the
        // quarantine's end counts only once the partner has acknowledged the ABANDONED
        // (draft-12 §5.11, as for an expired or released lease; seed 0x9910a376685bf4bb).
        let failover = self
            .plan
            .view_of(self.shards[pos].binding(i).subnet)
            .is_some();
        let slot_until = if failover {
            crate::lease::shard::UNTIL_ACKED
        } else {
            until
        };
        self.shards[pos].let_go(i, BindingState::Abandoned, Some(slot_until), now);
        self.shards[pos].binding_mut(i).lease_end = until;
        self.counters.declined_addresses += 1;
        self.record(pos, i);
        Outcome::Drop(DropReason::NoReplyExpected)
    }

    fn release(&mut self, now: u32, req: &Request<'_>, key: &ClientKey, pos: usize) -> Outcome {
        if let Some(sid) = req.server_id {
            if !self.plan.is_our_id(sid, req.iface_addr) {
                return Outcome::Drop(DropReason::NotForUs);
            }
        }
        let Some(i) = self.shards[pos].find(key) else {
            return Outcome::Drop(DropReason::NoBinding);
        };
        if self.shards[pos].binding(i).addr != req.ciaddr || !self.shards[pos].holds(i) {
            return Outcome::Drop(DropReason::NoBinding);
        }
        self.end_binding(now, pos, i, BindingState::Released);
        self.shards[pos].binding_mut(i).cltt = now;
        self.record(pos, i);
        Outcome::Drop(DropReason::NoReplyExpected)
    }

    fn inform(&mut self, req: &Request<'_>) -> Outcome {
        if req.ciaddr.is_unspecified() {
            return Outcome::Drop(DropReason::RfcViolation);
        }
        let Some(subnet) = self.plan.select_subnet(req) else {
            return Outcome::Drop(DropReason::NoSubnet);
        };
        // RFC 2131 §4.3.5: no lease, no yiaddr, options only; answer to ciaddr.
        let mut r = self.reply(MsgType::Ack, req, subnet, Ipv4Addr::UNSPECIFIED);
        r.ciaddr = req.ciaddr;
        Outcome::Reply(r)
    }

    /// Processes lease and offer-hold ends due at `now`: lapsed offers give their address back
    /// silently, ended leases become EXPIRED (journaled). Returns how many were processed.
    pub fn tick(&mut self, now: u32) -> usize {
        let mut n = 0;
        for pos in 0..self.shards.len() {
            let due = self.shards[pos].due(now, EXPIRE_BATCH);
            for &idx in &due {
                let state = self.shards[pos].binding(idx).state;
                match state {
                    BindingState::Offered => {
                        self.shards[pos].let_go(idx, BindingState::Free, None, now);
                    }
                    BindingState::Active => {
                        self.end_binding(now, pos, idx, BindingState::Expired);
                        self.counters.reclaimed_leases += 1;
                        self.record(pos, idx);
                    }
                    // Failover: an expired or released address awaiting the partner's
                    // acknowledgement; after MCLT in PARTNER-DOWN we may take it back.
                    BindingState::Expired | BindingState::Released | BindingState::Reset => {
                        self.reclaim_check(now, pos, idx);
                    }
                    _ => {}
                }
                n += 1;
            }
            self.shards[pos].recycle_due(due);
        }
        n
    }
}

impl Engine {
    /// A lease ends (expiry or release). Outside failover the address is free at once; in a
    /// failover subnet it stays out of use until the partner acknowledges the change (draft-12
    /// §5.11), checked again every MCLT in case the partner is down.
    fn end_binding(&mut self, now: u32, pos: usize, idx: u32, state: BindingState) {
        let subnet = self.shards[pos].binding(idx).subnet;
        let view = self.plan.view_of(subnet);
        match view {
            None => self.shards[pos].let_go(idx, state, None, now),
            Some(v) => {
                let mclt = v.mclt();
                self.shards[pos].hold(idx, state, now);
                self.shards[pos].schedule(idx, now.saturating_add(mclt));
            }
        }
    }

    fn reclaim_check(&mut self, now: u32, pos: usize, idx: u32) {
        let subnet = self.shards[pos].binding(idx).subnet;
        let view = self.plan.view_of(subnet);
        match view {
            Some(v) if v.may_use_partner_pool(now) => {
                // The partner may have extended this lease up to MCLT past the latest
                // potential expiration either of us knew for the address (§5.2.1): reuse it
                // only after that, as well as after MCLT in PARTNER-DOWN.
                let b = *self.shards[pos].binding(idx);
                let known = b
                    .sent_pot_exp
                    .max(b.acked_pot_exp)
                    .max(b.recv_pot_exp)
                    .max(b.lease_end);
                let free_at = known
                    .saturating_add(v.mclt())
                    .saturating_add(crate::failover::POT_SLACK_SECS);
                if now >= free_at {
                    self.shards[pos].reclaim_held(idx)
                } else {
                    self.shards[pos].schedule(idx, free_at);
                }
            }
            Some(v) => {
                let mclt = v.mclt();
                self.shards[pos].schedule(idx, now.saturating_add(mclt));
            }
            None => self.shards[pos].release_held(idx, now),
        }
    }
}

/// RFC 2131 §4.1 reply addressing.
pub fn destination(req: &Request<'_>, msg: MsgType, yiaddr: Ipv4Addr) -> Destination {
    if !req.giaddr.is_unspecified() {
        return Destination {
            ip: req.giaddr,
            port: 67,
            l2: L2::Sender,
            set_broadcast_flag: msg == MsgType::Nak || req.broadcast,
        };
    }
    let broadcast = Destination {
        ip: Ipv4Addr::BROADCAST,
        port: 68,
        l2: L2::Broadcast,
        set_broadcast_flag: false,
    };
    if msg == MsgType::Nak {
        return broadcast;
    }
    if !req.ciaddr.is_unspecified() {
        return Destination {
            ip: req.ciaddr,
            port: 68,
            l2: L2::Sender,
            set_broadcast_flag: false,
        };
    }
    if req.broadcast || yiaddr.is_unspecified() {
        return broadcast;
    }
    match (req.htype, req.chaddr) {
        (1, &[a, b, c, d, e, f]) => Destination {
            ip: yiaddr,
            port: 68,
            l2: L2::Client([a, b, c, d, e, f]),
            set_broadcast_flag: false,
        },
        _ => broadcast,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod failover_tests;
#[cfg(test)]
mod reload_tests;

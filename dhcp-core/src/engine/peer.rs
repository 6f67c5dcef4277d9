//! The failover partner's binding updates, applied to the lease shards a worker owns.
//!
//! A partner's BNDUPD names an address. Whoever holds the address (the slot says which shard)
//! decides with the conflict table (`failover::conflict`); an ACTIVE binding for another client
//! moves to that client's shard through a `Transit` slot that only the move may take, so no
//! local allocation can slip in between. Every accepted change is journaled marked as coming
//! from the partner; the BNDACK waits for that journal entry to be durable.
//!
//! A BNDUPD carries no option 82, so the option 82 remote-id digest (`Binding::remote_id`)
//! is never learnt from the partner: a binding updated or installed for a client this shard
//! already knows keeps the digest it had; one created for a new client has none (0).

use std::net::Ipv4Addr;

use super::Engine;
use crate::{
    failover::{
        RejectReason, Verdict,
        conflict::{Ours, Theirs, resolve},
        msg::PeerBinding,
    },
    lease::{Binding, BindingFlags, BindingState, ClientKey, HwAddr, Slot},
};

/// What happened to a partner's update here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerOutcome {
    /// Decided: `reject` is `None` when accepted; the BNDACK may go once journal sequence
    /// `seq` (of this engine) is durable.
    Done {
        /// Reject reason.
        reject: Option<RejectReason>,
        /// Journal entry to wait for.
        seq: Option<u64>,
    },
    /// The address is held by a binding in shard `.0`, which this engine does not own.
    Route(u16),
    /// Accepted; the address is in transit: call [`Engine::install_peer`] on the engine owning
    /// shard `.0` (the client's shard).
    Install(u16),
    /// Our lease of another client holds the address, and the partner's client is filed in
    /// shard `.0`, which this engine does not own: call [`Engine::vet_peer`] on the engine
    /// owning it before our lease is given up.
    Vet(u16),
    /// [`Engine::vet_peer`] found nothing newer of the client: call
    /// [`Engine::apply_peer_vetted`] with `vetted` set, on the engine holding the address.
    Vetted,
}

fn done(reject: Option<RejectReason>, seq: Option<u64>) -> PeerOutcome {
    PeerOutcome::Done { reject, seq }
}

impl Engine {
    fn local_pos(&self, shard: u16) -> Option<usize> {
        self.local
            .get(usize::from(shard))
            .copied()
            .filter(|p| *p != usize::MAX)
    }

    /// Journals an address-only record (pool ownership, or an address freed by the partner).
    fn record_address(
        &mut self,
        addr: Ipv4Addr,
        subnet: crate::config::SubnetId,
        state: BindingState,
        now: u32,
        lease_end: u32,
    ) -> u64 {
        let mut b = Binding::new(ClientKey::NONE, HwAddr::default(), addr, subnet);
        b.state = state;
        b.stos = now;
        b.lease_end = lease_end;
        self.seq += 1;
        self.journal.push(super::JournalEntry {
            seq: self.seq,
            binding: b,
            from_peer: true,
        });
        self.seq
    }

    /// Applies (or refuses) one binding from the partner's BNDUPD.
    pub fn apply_peer(&mut self, now: u32, pb: &PeerBinding) -> PeerOutcome {
        self.apply_peer_vetted(now, pb, false)
    }

    /// [`apply_peer`](Self::apply_peer); `vetted`: [`vet_peer`](Self::vet_peer) has already
    /// found the partner's ACTIVE not outdated for its client.
    pub fn apply_peer_vetted(&mut self, now: u32, pb: &PeerBinding, vetted: bool) -> PeerOutcome {
        let plan = self.plan.clone();
        let space = plan.space.clone();
        let Some(sid) = space.slot_of(pb.addr) else {
            return done(Some(RejectReason::IllegalAddress), None);
        };
        let Some(si) = plan.subnet_containing(pb.addr) else {
            return done(Some(RejectReason::IllegalAddress), None);
        };
        let Some(view) = plan.view(si) else {
            return done(Some(RejectReason::IllegalAddress), None);
        };
        let role = view.role;
        let free_slot = |s: BindingState| view.slot_for(s);
        let quarantine = self.plan.cfg.server.decline_quarantine_secs;
        // ABANDONED from the partner: its quarantine end rules, so that both end together.
        let quarantine_end = pb
            .lease_end
            .filter(|e| *e > now)
            .unwrap_or(now.saturating_add(quarantine));
        // The state an address the partner reports not leased takes here.
        let available = |other: BindingState| {
            if other == BindingState::Backup {
                BindingState::Backup
            } else {
                BindingState::Free
            }
        };
        let subnet = self.plan.subnet(si).id;
        let theirs = Theirs {
            state: pb.state,
            client: pb.client_key(),
            cltt: pb.cltt,
            reserved: pb.reserved,
        };
        match space.get(sid) {
            Slot::Bound { shard, index } => {
                let Some(pos) = self.local_pos(shard) else {
                    return PeerOutcome::Route(shard);
                };
                let b = *self.shards[pos].binding(index);
                let ours = Ours {
                    state: b.state,
                    client: b.key,
                    cltt: b.cltt,
                    lease_end: b.lease_end,
                    stos: b.stos,
                    reserved: b.flags.reserved(),
                    learnt_from_partner: b.flags.learnt_from_partner(),
                };
                if let Verdict::Reject(r) = resolve(Some(&ours), &theirs, role, now) {
                    return self.refuse(pos, index, r);
                }
                match pb.state {
                    BindingState::Active | BindingState::Expired | BindingState::Released
                        if theirs.client == b.key =>
                    {
                        self.update_in_place(now, pos, index, pb);
                        let seq = self.record_from(pos, index, true);
                        done(None, Some(seq))
                    }
                    BindingState::Active => {
                        // The partner leased it to another client: hand the address over —
                        // unless that client's lease here, on another address, is the newer
                        // (one lease per client, §7.1.2): then the update is outdated, and our
                        // lease stands. Decided before ours is given up (seed
                        // 0x4e2eb333aa70bbbe: refused afterwards, it lost our lease).
                        let target = self.plan.shard_of(&theirs.client);
                        if !vetted {
                            let Some(tpos) = self.local_pos(target) else {
                                return PeerOutcome::Vet(target);
                            };
                            if self.outdated_for_client(tpos, pb) {
                                return self.refuse_outdated(sid, pb, now);
                            }
                        }
                        self.shards[pos].hold(index, BindingState::Free, now);
                        space.set(sid, Slot::Transit);
                        if self.local_pos(target).is_some() {
                            self.install_peer(now, pb)
                        } else {
                            PeerOutcome::Install(target)
                        }
                    }
                    BindingState::Abandoned => {
                        let until = quarantine_end;
                        self.shards[pos].hold(index, BindingState::Abandoned, now);
                        space.set(sid, Slot::Quarantined { until });
                        let seq = self.record_address(
                            pb.addr,
                            subnet,
                            BindingState::Abandoned,
                            now,
                            until,
                        );
                        done(None, Some(seq))
                    }
                    // EXPIRED/RELEASED of another client, FREE, BACKUP, RESET: available again.
                    other => {
                        let st = available(other);
                        self.shards[pos].hold(index, BindingState::Free, now);
                        space.note_pot(sid, crate::lease::shard::lease_pot(&b));
                        space.set(sid, free_slot(st));
                        let seq = self.record_address(pb.addr, subnet, st, now, 0);
                        done(None, Some(seq))
                    }
                }
            }
            cur @ (Slot::Free
            | Slot::PartnerFree
            | Slot::ReservedFree
            | Slot::Quarantined { .. }
            | Slot::Transit) => {
                let ours = match cur {
                    Slot::Quarantined { until } => Some(Ours {
                        state: BindingState::Abandoned,
                        client: ClientKey::NONE,
                        cltt: 0,
                        lease_end: until,
                        stos: 0,
                        reserved: false,
                        learnt_from_partner: false,
                    }),
                    Slot::ReservedFree => Some(Ours {
                        state: BindingState::Free,
                        client: ClientKey::NONE,
                        cltt: 0,
                        lease_end: 0,
                        stos: 0,
                        reserved: true,
                        learnt_from_partner: false,
                    }),
                    _ => None,
                };
                if let Verdict::Reject(r) = resolve(ours.as_ref(), &theirs, role, now) {
                    return done(Some(r), None);
                }
                match pb.state {
                    BindingState::Active => {
                        if !space.claim(sid, cur, Slot::Transit) {
                            // Taken meanwhile by a local allocation.
                            return done(Some(RejectReason::FatalConflict), None);
                        }
                        let target = self.plan.shard_of(&theirs.client);
                        if self.local_pos(target).is_some() {
                            self.install_peer(now, pb)
                        } else {
                            PeerOutcome::Install(target)
                        }
                    }
                    BindingState::Abandoned => {
                        let until = quarantine_end;
                        if !space.claim(sid, cur, Slot::Quarantined { until }) {
                            return done(Some(RejectReason::FatalConflict), None);
                        }
                        let seq = self.record_address(
                            pb.addr,
                            subnet,
                            BindingState::Abandoned,
                            now,
                            until,
                        );
                        done(None, Some(seq))
                    }
                    other => {
                        let st = available(other);
                        let next = if cur == Slot::ReservedFree {
                            Slot::ReservedFree
                        } else {
                            free_slot(st)
                        };
                        if next != cur && !space.claim(sid, cur, next) {
                            return done(Some(RejectReason::FatalConflict), None);
                        }
                        let seq = self.record_address(pb.addr, subnet, st, now, 0);
                        done(None, Some(seq))
                    }
                }
            }
            Slot::Excluded => done(Some(RejectReason::IllegalAddress), None),
        }
    }

    /// Refuses the partner's update for an address binding `idx` of shard `pos` holds. Refused
    /// as outdated, the partner keeps news we hold older than ours, and nothing else would tell
    /// it ours: an own binding it has acknowledged is told again (journaled as a local change,
    /// which the control plane sends). Told once: one still unacknowledged is not, so two
    /// servers that each refuse the other's news do not echo it back and forth (seed
    /// 0xc205ba26f667eed6: a lease kept at one server and released at the other, each refusing
    /// the other's, stayed apart until the lease ended).
    fn refuse(&mut self, pos: usize, idx: u32, reason: RejectReason) -> PeerOutcome {
        let b = self.shards[pos].binding(idx);
        let tell = reason == RejectReason::OutdatedBindingInfo
            && !b.flags.learnt_from_partner()
            && b.flags.0 & BindingFlags::UPDATE_PENDING == 0;
        let seq = tell.then(|| self.record(pos, idx));
        done(Some(reason), seq)
    }

    fn update_in_place(&mut self, now: u32, pos: usize, idx: u32, pb: &PeerBinding) {
        let shard = &mut self.shards[pos];
        let before = *shard.binding(idx);
        // The partner's news replaces a different state of ours (its lease won over our ended
        // one, by time or by the margin of `resolve`, or its release over our lease): its time
        // is the client's last transaction then. Over a lease of ours, the later time stands.
        let replaces = before.state != pb.state;
        // The binding is the partner's news from now on if it replaces ours, or was its news
        // already, or if the client's transaction with the partner is the later one. With
        // equal times, ours may be the later: it stays ours.
        let learnt = replaces
            || before.flags.learnt_from_partner()
            || pb.cltt.is_some_and(|c| c > before.cltt);
        match pb.state {
            BindingState::Active => {
                // The same client's lease: the later end stands (§7.1.5) — an older update
                // arriving late must not shorten a lease the client holds.
                let mut end = pb.lease_end.unwrap_or(now);
                if before.state == BindingState::Active {
                    end = end.max(before.lease_end);
                }
                shard.set_lease(idx, BindingState::Active, end, now);
            }
            s => {
                // Acknowledging the partner's EXPIRED/RELEASED makes the address FREE (the
                // primary's) on both sides (draft-12 §5.11).
                shard.hold(idx, s, now);
                shard.release_held(idx, now);
            }
        }
        let b = shard.binding_mut(idx);
        if let Some(hw) = pb.hw {
            b.hw = hw;
        }
        if let Some(c) = pb.cltt {
            if c > b.cltt || replaces {
                b.cltt = c;
            }
        }
        if let Some(p) = pb.pot_exp {
            b.recv_pot_exp = b.recv_pot_exp.max(p);
        }
        if let Some(t) = pb.stos {
            b.stos = t;
        }
        b.flags.0 &= !(BindingFlags::UPDATE_PENDING | BindingFlags::LEARNT_FROM_PARTNER);
        if learnt {
            b.flags.0 |= BindingFlags::LEARNT_FROM_PARTNER;
        }
        if pb.reserved {
            b.flags.0 |= BindingFlags::RESERVED;
        }
    }

    /// The partner's ACTIVE binding `pb`, for an address our lease of another client holds:
    /// refused when its client's lease here is the newer ([`PeerOutcome::Vet`]); run by the
    /// engine owning the client's shard.
    pub fn vet_peer(&mut self, now: u32, pb: &PeerBinding) -> PeerOutcome {
        let target = self.plan.shard_of(&pb.client_key());
        let Some(tpos) = self.local_pos(target) else {
            // Not ours to vet (the control plane routes by shard, so it does not happen):
            // `install_peer` checks again, and keeps the address out of use if outdated.
            return PeerOutcome::Vetted;
        };
        let Some(sid) = self.plan.space.slot_of(pb.addr) else {
            return done(Some(RejectReason::IllegalAddress), None);
        };
        if self.outdated_for_client(tpos, pb) {
            self.refuse_outdated(sid, pb, now)
        } else {
            PeerOutcome::Vetted
        }
    }

    /// The client of the partner's ACTIVE `pb` holds a lease on another address in shard
    /// `pos` whose last transaction is not older (one lease per client: the later stands).
    fn outdated_for_client(&self, pos: usize, pb: &PeerBinding) -> bool {
        let shard = &self.shards[pos];
        shard.find(&pb.client_key()).is_some_and(|i| {
            let b = shard.binding(i);
            b.addr != pb.addr
                && !b.addr.is_unspecified()
                && shard.holds(i)
                && b.state == BindingState::Active
                && pb.cltt.is_none_or(|c| c <= b.cltt)
        })
    }

    /// Refuses the partner's outdated ACTIVE for an address our own lease holds. The partner
    /// told its client the address may be used until its potential expiration: that is kept
    /// with the address, so that no wait for reuse ends before it.
    fn refuse_outdated(
        &mut self,
        sid: crate::lease::SlotId,
        pb: &PeerBinding,
        now: u32,
    ) -> PeerOutcome {
        let pot = pb
            .lease_end
            .unwrap_or(now)
            .max(pb.pot_exp.unwrap_or(0))
            .max(now);
        self.plan.space.note_pot(sid, pot);
        done(Some(RejectReason::OutdatedBindingInfo), None)
    }

    /// Installs the partner's ACTIVE binding for a client of one of our shards; the address
    /// slot is `Transit` (set by [`apply_peer`](Self::apply_peer)).
    pub fn install_peer(&mut self, now: u32, pb: &PeerBinding) -> PeerOutcome {
        let space = self.plan.space.clone();
        let key = pb.client_key();
        let Some(sid) = space.slot_of(pb.addr) else {
            return done(Some(RejectReason::IllegalAddress), None);
        };
        let Some(si) = self.plan.subnet_containing(pb.addr) else {
            return done(Some(RejectReason::IllegalAddress), None);
        };
        let subnet = self.plan.subnet(si).id;
        let shard = self.plan.shard_of(&key);
        let Some(pos) = self.local_pos(shard) else {
            return PeerOutcome::Install(shard);
        };
        let hw = pb.hw.unwrap_or_default();
        let Ok(idx) = self.shards[pos].binding_for(&key, hw, subnet) else {
            space.set(sid, Slot::Free);
            return done(Some(RejectReason::MissingBindingInfo), None);
        };
        // One address per client: whatever it held before is let go — unless what we know
        // of the client there is newer (its last transaction here is later, §7.1.2): then
        // the partner's update is outdated, and the address goes back to its owner.
        let before = *self.shards[pos].binding(idx);
        if before.addr != pb.addr && !before.addr.is_unspecified() && self.shards[pos].holds(idx) {
            let theirs_newer = pb.cltt.is_some_and(|c| c > before.cltt);
            if before.state == BindingState::Active && !theirs_newer {
                // Outdated or not, the partner has told a client this address is its lease
                // and may extend it up to MCLT past what it knows: nobody else may have the
                // address before then (draft-12 §5.2.1, §7.1.5). Quarantined, and journaled
                // so that a restart keeps it out of use as well.
                let mclt = self.plan.view(si).map_or(0, |v| v.mclt());
                let pot = pb
                    .lease_end
                    .unwrap_or(now)
                    .max(pb.pot_exp.unwrap_or(0))
                    .max(now);
                let until = pot
                    .saturating_add(mclt)
                    .saturating_add(crate::failover::POT_SLACK_SECS);
                space.note_pot(sid, pot);
                space.claim(sid, Slot::Transit, Slot::Quarantined { until });
                let seq = self.record_address(pb.addr, subnet, BindingState::Abandoned, now, until);
                return done(Some(RejectReason::OutdatedBindingInfo), Some(seq));
            }
            self.shards[pos].release_held(idx, now);
        }
        let me = Slot::Bound { shard, index: idx };
        if !space.claim(sid, Slot::Transit, me) {
            return done(Some(RejectReason::FatalConflict), None);
        }
        {
            let b = self.shards[pos].binding_mut(idx);
            b.addr = pb.addr;
            b.subnet = subnet;
            let reserved = if pb.reserved {
                BindingFlags::RESERVED
            } else {
                0
            };
            b.flags = BindingFlags(reserved | BindingFlags::LEARNT_FROM_PARTNER);
            b.cltt = pb.cltt.unwrap_or(0);
            b.recv_pot_exp = pb.pot_exp.unwrap_or(0);
            b.acked_pot_exp = 0;
            b.sent_pot_exp = 0;
        }
        let end = pb.lease_end.unwrap_or(now);
        self.shards[pos].set_lease(idx, BindingState::Active, end, now);
        if let Some(t) = pb.stos {
            self.shards[pos].binding_mut(idx).stos = t;
        }
        let seq = self.record_from(pos, idx, true);
        done(None, Some(seq))
    }

    /// The partner answered our update `sent` for an address a binding of ours holds:
    /// remember what it now knows, and free an EXPIRED/RELEASED/RESET address it accepted.
    /// Returns the journal sequence of the recorded change, if any.
    pub fn peer_acked(&mut self, now: u32, sent: &PeerBinding, accepted: bool) -> Option<u64> {
        let space = self.plan.space.clone();
        let sid = space.slot_of(sent.addr)?;
        let Slot::Bound { shard, index } = space.get(sid) else {
            // An ended lease's address the secondary reclaimed in PARTNER-DOWN and has not
            // reused: acknowledged, it is the primary's FREE on both sides (draft-12 §5.11),
            // no longer the secondary's own, or both would lease it.
            let reclaimed = accepted
                && matches!(
                    sent.state,
                    BindingState::Expired | BindingState::Released | BindingState::Reset
                )
                && space.range_of_slot(sid).is_some_and(|r| {
                    r.secondary && matches!(r.kind, crate::lease::space::RangeKind::Pool(_))
                });
            if reclaimed {
                space.claim(sid, Slot::Free, Slot::PartnerFree);
            }
            // A DECLINE the partner accepted: the quarantine runs to its end from now on, the
            // end counted from the DECLINE (the ABANDONED's start of state; the update carries
            // no lease end, and taking the ack's time ended the quarantine at once). Journaled,
            // so that a restart does not hold the address for an acknowledgement again. A
            // refusal leaves it held: the partner's own news of the address follows.
            let held = crate::lease::shard::HELD_FOR_ACK;
            if accepted && sent.state == BindingState::Abandoned && space.get(sid) == held {
                let quarantine = self.plan.cfg.server.decline_quarantine_secs;
                let until = sent
                    .lease_end
                    .unwrap_or_else(|| sent.stos.unwrap_or(now).saturating_add(quarantine));
                let subnet = self.plan.subnet_containing(sent.addr)?;
                let subnet = self.plan.subnet(subnet).id;
                if space.claim(sid, held, Slot::Quarantined { until }) {
                    return Some(self.record_address(
                        sent.addr,
                        subnet,
                        BindingState::Abandoned,
                        now,
                        until,
                    ));
                }
            }
            return None;
        };
        let pos = self.local_pos(shard)?;
        let b = *self.shards[pos].binding(index);
        if b.state != sent.state || b.key != sent.client_key() && !sent.client_key().is_none() {
            // Changed again since: that change has its own update in the queue.
            return None;
        }
        if !accepted {
            return None;
        }
        {
            let m = self.shards[pos].binding_mut(index);
            m.flags.0 &= !BindingFlags::UPDATE_PENDING;
            if let Some(p) = sent.pot_exp {
                m.acked_pot_exp = m.acked_pot_exp.max(p);
            }
        }
        if matches!(
            b.state,
            BindingState::Expired | BindingState::Released | BindingState::Reset
        ) {
            self.shards[pos].release_held(index, now);
            // The partner now knows the lease as ended, not the potential expiration it
            // acknowledged or told us before: the address is free on both sides, and a lease
            // granted on it again (to the same client) is capped at MCLT past now, as a new
            // one (seed 0x3100078bfb4f3318: a 526 s lease on an address the partner, in
            // PARTNER-DOWN after a restart, took as free).
            let m = self.shards[pos].binding_mut(index);
            m.acked_pot_exp = 0;
            m.recv_pot_exp = 0;
        }
        Some(self.record_from(pos, index, true))
    }

    /// The bindings of shared subnets in relationship `rel`, for the partner's UPDREQ
    /// (`pending_only`: the ones it has not acknowledged) or UPDREQALL (all of them).
    pub fn failover_bindings(&self, rel: usize, pending_only: bool) -> Vec<PeerBinding> {
        let mut v = Vec::new();
        for s in &self.shards {
            for (i, b) in s.bindings() {
                let Some(si) = self.plan.subnet_index(b.subnet) else {
                    continue;
                };
                // A binding that no longer holds its address is history: its end was
                // acknowledged, and the address has moved on — to another binding (telling it
                // would overwrite the holder's update at the partner) or to a pool, whose
                // owner pool transfers decide. Told again, an old RELEASED made the recovering
                // primary take as its FREE an address given to the secondary as BACKUP since
                // (seed 0x8cc00ea193b93b30).
                // The exception: a DECLINE the partner has not acknowledged, its address held
                // for that (`UNTIL_ACKED`). Not told again after a restart, it stayed held for
                // good.
                let unacked_decline = b.state == BindingState::Abandoned
                    && b.flags.0 & BindingFlags::UPDATE_PENDING != 0
                    && self.plan.space.slot_of(b.addr).is_some_and(|sid| {
                        self.plan.space.get(sid) == crate::lease::shard::HELD_FOR_ACK
                    });
                if !s.holds(i) && !unacked_decline {
                    continue;
                }
                if self.plan.relationship_of(si) != Some(rel) {
                    continue;
                }
                // An offer is no lease, nor is one let go (FREE/BACKUP, the client took another
                // server's): which server's pool its address is in is the address's business,
                // moved only by pool transfers. Told FREE by the secondary, it became the
                // primary's while the secondary kept it as its own (seed 0x9a5a67a9c1f6eb45).
                if matches!(
                    b.state,
                    BindingState::Offered | BindingState::Free | BindingState::Backup
                ) || b.addr.is_unspecified()
                {
                    continue;
                }
                if pending_only && b.flags.0 & BindingFlags::UPDATE_PENDING == 0 {
                    continue;
                }
                // What we know the lease may run to: our own promise, or the partner's for a
                // binding it told us about, never below the lease end.
                let pot = b.sent_pot_exp.max(b.recv_pot_exp).max(b.lease_end);
                let pot = (b.state == BindingState::Active).then_some(pot);
                v.push(PeerBinding::from_binding(b, pot));
            }
        }
        v
    }
}

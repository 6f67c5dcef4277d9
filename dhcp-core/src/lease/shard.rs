//! One lease shard: the bindings of the clients whose key hashes to it, owned by exactly one
//! thread. Everything is sized at start-up; no operation allocates.
//!
//! A client has at most one binding. A binding that no longer holds its address (expired,
//! released, an offer that lapsed) is remembered, so a returning client gets its previous
//! address back while nobody else took it; remembered bindings are evicted oldest-first when
//! the shard is full.

use std::{collections::VecDeque, net::Ipv4Addr, sync::Arc};

use super::{
    binding::{Binding, BindingState},
    index::ClientIndex,
    key::{ClientKey, HwAddr},
    space::{AddressSpace, RangeKind, Slot, SlotId},
    wheel::Wheel,
};
use crate::config::SubnetId;

/// Slots looked at per allocation when the free list is empty, before giving up for this
/// request (the next one continues the scan).
pub const SCAN_LIMIT: u32 = 1024;

/// The end of a quarantine that lasts until the failover partner acknowledges the DECLINE
/// (ABANDONED) behind it: until then the partner may still renew the declining client's lease
/// on the address. The acknowledgement sets the real end (`Engine::peer_acked`).
pub const UNTIL_ACKED: u32 = u32::MAX;

/// The slot of a declined address held until the partner acknowledges the DECLINE.
pub const HELD_FOR_ACK: Slot = Slot::Quarantined { until: UNTIL_ACKED };

/// Bindings looked at per eviction attempt.
const EVICT_SCAN: usize = 256;

/// Why an address could not be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeError {
    /// Another binding holds it.
    InUse,
    /// Declined/abandoned and still quarantined, excluded, or the partner's.
    Unavailable,
    /// Not an address this server manages.
    Unknown,
    /// The shard has no room for another binding and nothing to evict.
    ShardFull,
}

/// Counters of one shard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Bindings evicted to make room.
    pub evicted: u64,
    /// Free-list candidates that turned out to be taken already.
    pub stale_candidates: u64,
    /// Allocations that had to scan the pool.
    pub scans: u64,
    /// Expiries processed.
    pub expired: u64,
}

/// One shard.
#[derive(Debug)]
pub struct Shard {
    id: u16,
    space: Arc<AddressSpace>,
    slab: Vec<Binding>,
    free_slab: Vec<u32>,
    index: ClientIndex,
    free_lists: Vec<VecDeque<SlotId>>,
    free_list_cap: Vec<usize>,
    scan_cursor: Vec<u32>,
    wheel: Wheel,
    evict_cursor: usize,
    due: Vec<u32>,
    /// Counters.
    pub stats: ShardStats,
}

impl Shard {
    /// A shard with room for `capacity` bindings. Its free lists start with its share (slot
    /// index modulo `shard_count`) of the pool addresses that are `Free` in `space`.
    pub fn new(
        id: u16,
        shard_count: u16,
        capacity: usize,
        space: Arc<AddressSpace>,
        now: u32,
    ) -> Shard {
        let capacity = capacity.max(16);
        let empty = Binding::new(
            ClientKey::NONE,
            HwAddr::default(),
            Ipv4Addr::UNSPECIFIED,
            SubnetId(0),
        );
        let mut free_lists = Vec::with_capacity(space.pool_count());
        let mut free_list_cap = Vec::with_capacity(space.pool_count());
        let mut scan_cursor = Vec::with_capacity(space.pool_count());
        for pool in space.pools() {
            let cap = pool.len() as usize / usize::from(shard_count.max(1)) + 64;
            let mut list = VecDeque::with_capacity(cap);
            for sid in pool.slots() {
                if sid.0 % u32::from(shard_count.max(1)) == u32::from(id)
                    && space.get(sid) == Slot::Free
                    && list.len() < cap
                {
                    list.push_back(sid);
                }
            }
            free_lists.push(list);
            free_list_cap.push(cap);
            scan_cursor.push(0);
        }
        Shard {
            id,
            space,
            slab: vec![empty; capacity],
            free_slab: (0..capacity as u32).rev().collect(),
            index: ClientIndex::with_capacity(capacity),
            free_lists,
            free_list_cap,
            scan_cursor,
            wheel: Wheel::new(now),
            evict_cursor: 0,
            due: Vec::with_capacity(1024),
            stats: ShardStats::default(),
        }
    }

    /// This shard's number.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The shared address space.
    pub fn space(&self) -> &Arc<AddressSpace> {
        &self.space
    }

    /// Number of bindings (holding or remembered).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Binding capacity.
    pub fn capacity(&self) -> usize {
        self.slab.len()
    }

    /// Bytes held by the slab, the index, the free lists and the wheel.
    pub fn memory_bytes(&self) -> usize {
        self.slab.len() * std::mem::size_of::<Binding>()
            + self.free_slab.capacity() * 4
            + self.index.memory_bytes()
            + self
                .free_lists
                .iter()
                .map(|l| l.capacity() * 4)
                .sum::<usize>()
            + super::wheel::WHEEL_SLOTS as usize * 4
    }

    /// The binding of `key`.
    pub fn find(&self, key: &ClientKey) -> Option<u32> {
        let slab = &self.slab;
        self.index.get(key, |i| slab[i as usize].key)
    }

    /// Binding `idx`.
    pub fn binding(&self, idx: u32) -> &Binding {
        &self.slab[idx as usize]
    }

    /// Iterates over all bindings (for dumps and compaction; not for the packet path).
    pub fn bindings(&self) -> impl Iterator<Item = (u32, &Binding)> {
        self.slab
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.key.is_none())
            .map(|(i, b)| (i as u32, b))
    }

    fn bound(&self, idx: u32) -> Slot {
        Slot::Bound {
            shard: self.id,
            index: idx,
        }
    }

    /// True when binding `idx` currently holds its address in the space.
    pub fn holds(&self, idx: u32) -> bool {
        match self.space.slot_of(self.slab[idx as usize].addr) {
            Some(sid) => self.space.get(sid) == self.bound(idx),
            None => false,
        }
    }

    /// The binding for `key`, created (evicting if needed) when there is none.
    pub fn binding_for(
        &mut self,
        key: &ClientKey,
        hw: HwAddr,
        subnet: SubnetId,
    ) -> Result<u32, TakeError> {
        if let Some(i) = self.find(key) {
            let b = &mut self.slab[i as usize];
            b.hw = hw;
            return Ok(i);
        }
        let idx = match self.free_slab.pop() {
            Some(i) => i,
            None => self.evict().ok_or(TakeError::ShardFull)?,
        };
        self.slab[idx as usize] = Binding::new(*key, hw, Ipv4Addr::UNSPECIFIED, subnet);
        if !self.index.insert(key, idx) {
            self.slab[idx as usize].key = ClientKey::NONE;
            self.free_slab.push(idx);
            return Err(TakeError::ShardFull);
        }
        Ok(idx)
    }

    /// Evicts one remembered (not holding) binding; returns its freed slab index.
    fn evict(&mut self) -> Option<u32> {
        let n = self.slab.len();
        for _ in 0..EVICT_SCAN.min(n) {
            let i = self.evict_cursor;
            self.evict_cursor = (self.evict_cursor + 1) % n;
            let b = &self.slab[i];
            if b.key.is_none() || b.state.holds_address() {
                continue;
            }
            if self.holds(i as u32) {
                continue;
            }
            let key = b.key;
            let slab = &self.slab;
            self.index.remove(&key, |j| slab[j as usize].key);
            self.wheel.cancel(&mut self.slab, i as u32);
            self.slab[i].key = ClientKey::NONE;
            self.stats.evicted += 1;
            return Some(i as u32);
        }
        None
    }

    /// Makes binding `idx` hold `addr`: compare-and-swap of the address's slot from an
    /// available state. A reserved address is only taken with `reserved`. Any address the
    /// binding held before is let go (one address per client).
    pub fn take(
        &mut self,
        idx: u32,
        addr: Ipv4Addr,
        subnet: SubnetId,
        reserved: bool,
        now: u32,
    ) -> Result<(), TakeError> {
        self.take_with(idx, addr, subnet, reserved, false, now)
    }

    /// [`take`](Self::take), also from the failover partner's free addresses when
    /// `partner_ok` (PARTNER-DOWN after MCLT).
    pub fn take_with(
        &mut self,
        idx: u32,
        addr: Ipv4Addr,
        subnet: SubnetId,
        reserved: bool,
        partner_ok: bool,
        now: u32,
    ) -> Result<(), TakeError> {
        let sid = self.space.slot_of(addr).ok_or(TakeError::Unknown)?;
        let me = self.bound(idx);
        let cur = self.space.get(sid);
        if cur == me {
            let b = &mut self.slab[idx as usize];
            b.addr = addr;
            b.subnet = subnet;
            return Ok(());
        }
        let claimed = match cur {
            Slot::Free => !reserved_range(&self.space, sid) && self.space.claim(sid, cur, me),
            Slot::ReservedFree => reserved && self.space.claim(sid, cur, me),
            Slot::Quarantined { until }
                if quarantine_over(&self.space, sid, until, now, partner_ok) =>
            {
                self.space.claim(sid, cur, me)
            }
            Slot::PartnerFree if partner_ok => self.space.claim(sid, cur, me),
            Slot::Bound { .. } => return Err(TakeError::InUse),
            _ => return Err(TakeError::Unavailable),
        };
        if !claimed {
            return Err(match self.space.get(sid) {
                Slot::Bound { .. } => TakeError::InUse,
                _ => TakeError::Unavailable,
            });
        }
        self.let_go_previous(idx, addr, now);
        let b = &mut self.slab[idx as usize];
        b.addr = addr;
        b.subnet = subnet;
        Ok(())
    }

    /// Releases the address binding `idx` held before it took `new` (one address per client).
    /// The potential-expiration times belong to the address (draft-12 §5.2.1): a binding that
    /// moves to another address starts with none the partner knows of.
    fn let_go_previous(&mut self, idx: u32, new: Ipv4Addr, now: u32) {
        let old = self.slab[idx as usize].addr;
        if old == new {
            return;
        }
        if !old.is_unspecified() {
            if let Some(sid) = self.space.slot_of(old) {
                self.space
                    .note_pot(sid, lease_pot(&self.slab[idx as usize]));
                if self.space.get(sid) == self.bound(idx) {
                    self.give_back(idx, sid, now);
                }
            }
        }
        let b = &mut self.slab[idx as usize];
        b.sent_pot_exp = 0;
        b.acked_pot_exp = 0;
        b.recv_pot_exp = 0;
    }

    /// Takes the next available address from `pools` (pool numbers of the address space): the
    /// free list first, then a bounded scan of the pool.
    pub fn allocate(&mut self, idx: u32, pools: &[u32], now: u32) -> Result<Ipv4Addr, TakeError> {
        self.allocate_with(idx, pools, now, None)
    }

    /// [`allocate`](Self::allocate); with `pot_wait` (the MCLT) only addresses whose latest
    /// known potential expiration lies at least that long ago: our own free addresses, in a
    /// PARTNER-DOWN entered without having been in touch with the partner, which may have
    /// extended a lease on them meanwhile (draft-12 §5.2.1).
    pub fn allocate_with(
        &mut self,
        idx: u32,
        pools: &[u32],
        now: u32,
        pot_wait: Option<u32>,
    ) -> Result<Ipv4Addr, TakeError> {
        let me = self.bound(idx);
        for &p in pools {
            let Some(list) = self.free_lists.get_mut(p as usize) else {
                continue;
            };
            while let Some(sid) = list.pop_front() {
                let cur = self.space.get(sid);
                // Still quarantined, or (`pot_wait`) the partner may still extend a lease on
                // it: kept for later.
                let later = match cur {
                    Slot::Quarantined { until } => {
                        until > now || !pot_over(&self.space, sid, now, pot_wait)
                    }
                    Slot::Free => !pot_over(&self.space, sid, now, pot_wait),
                    _ => false,
                };
                let ok = !later && claim_available(&self.space, sid, cur, me, now);
                if ok {
                    return self.finish_allocate(idx, sid, now);
                }
                if later {
                    if list.len() < self.free_list_cap[p as usize] {
                        list.push_back(sid);
                    }
                    break;
                }
                if !matches!(cur, Slot::Quarantined { .. }) {
                    self.stats.stale_candidates += 1;
                } else {
                    break;
                }
            }
        }
        for &p in pools {
            if let Some(sid) = self.scan(p, me, now, pot_wait) {
                return self.finish_allocate(idx, sid, now);
            }
        }
        Err(TakeError::Unavailable)
    }

    fn finish_allocate(&mut self, idx: u32, sid: SlotId, now: u32) -> Result<Ipv4Addr, TakeError> {
        let addr = self.space.addr(sid).ok_or(TakeError::Unknown)?;
        let subnet = self
            .space
            .range_of_slot(sid)
            .map(|r| r.subnet)
            .ok_or(TakeError::Unknown)?;
        self.let_go_previous(idx, addr, now);
        let b = &mut self.slab[idx as usize];
        b.addr = addr;
        b.subnet = subnet;
        Ok(addr)
    }

    /// Takes an address the failover partner owns (PARTNER-DOWN after MCLT, draft-12 §5.2.2):
    /// a bounded scan of `pools` for partner-free slots.
    pub fn allocate_partner(
        &mut self,
        idx: u32,
        pools: &[u32],
        now: u32,
        mclt: u32,
    ) -> Result<Ipv4Addr, TakeError> {
        let me = self.bound(idx);
        for &p in pools {
            let Some(range) = self.space.pool(p).copied() else {
                continue;
            };
            let len = range.len();
            for _ in 0..SCAN_LIMIT.min(len) {
                let off = self.scan_cursor[p as usize] % len;
                self.scan_cursor[p as usize] = (off + 1) % len;
                let sid = SlotId(range.base + off);
                // The partner may have extended an earlier lease on it up to MCLT past the
                // latest potential expiration we knew (§5.2.1).
                if self.space.get(sid) == Slot::PartnerFree
                    && u64::from(self.space.pot(sid))
                        + u64::from(mclt)
                        + u64::from(crate::failover::POT_SLACK_SECS)
                        <= u64::from(now)
                    && self.space.claim(sid, Slot::PartnerFree, me)
                {
                    return self.finish_allocate(idx, sid, now);
                }
            }
        }
        Err(TakeError::Unavailable)
    }

    fn scan(&mut self, pool: u32, me: Slot, now: u32, pot_wait: Option<u32>) -> Option<SlotId> {
        let range = *self.space.pool(pool)?;
        self.stats.scans += 1;
        let len = range.len();
        for _ in 0..SCAN_LIMIT.min(len) {
            let off = self.scan_cursor[pool as usize] % len;
            self.scan_cursor[pool as usize] = (off + 1) % len;
            let sid = SlotId(range.base + off);
            let cur = self.space.get(sid);
            let ok = pot_over(&self.space, sid, now, pot_wait)
                && claim_available(&self.space, sid, cur, me, now);
            if ok {
                return Some(sid);
            }
        }
        None
    }

    /// Returns the slot to the available state (owner only) and queues it for reuse at the back
    /// of this shard's free list, so recently used addresses are handed out last.
    fn free_slot(&mut self, sid: SlotId, _now: u32) {
        if self.space.is_excluded(sid) {
            // Excluded by a reload while a binding held it.
            self.space.set(sid, Slot::Excluded);
            return;
        }
        let range = self.space.range_of_slot(sid).copied();
        match range.map(|r| (r.kind, r.secondary)) {
            Some((RangeKind::Reserved, _)) => self.space.set(sid, Slot::ReservedFree),
            // As a failover secondary, what becomes available is the primary's.
            Some((RangeKind::Pool(_), true)) => self.space.set(sid, Slot::PartnerFree),
            Some((RangeKind::Pool(p), false)) => {
                self.space.set(sid, Slot::Free);
                let cap = self.free_list_cap[p as usize];
                let list = &mut self.free_lists[p as usize];
                if list.len() < cap {
                    list.push_back(sid);
                }
            }
            None => {}
        }
    }

    /// Ends binding `idx`'s hold on its address: the binding moves to `state` (remembered) and
    /// the address becomes available again — or quarantined until `quarantine_until` when given.
    pub fn let_go(
        &mut self,
        idx: u32,
        state: BindingState,
        quarantine_until: Option<u32>,
        now: u32,
    ) {
        self.wheel.cancel(&mut self.slab, idx);
        let addr = self.slab[idx as usize].addr;
        let pot = lease_pot(&self.slab[idx as usize]);
        self.slab[idx as usize].set_state(state, now);
        let Some(sid) = self.space.slot_of(addr) else {
            return;
        };
        self.space.note_pot(sid, pot);
        if self.space.get(sid) != self.bound(idx) {
            return;
        }
        match quarantine_until {
            Some(until) => {
                self.slab[idx as usize].flags.0 &= !crate::lease::BindingFlags::PARTNER_POOL;
                self.space.set(sid, Slot::Quarantined { until });
                if let Some(RangeKind::Pool(p)) = self.space.range_of_slot(sid).map(|r| r.kind) {
                    let cap = self.free_list_cap[p as usize];
                    let list = &mut self.free_lists[p as usize];
                    if list.len() < cap {
                        list.push_back(sid);
                    }
                }
            }
            None => self.give_back(idx, sid, now),
        }
    }

    /// Returns slot `sid`, held by binding `idx`, to its owner's available state: the failover
    /// partner's when the binding's offer came from the partner's pool (PARTNER-DOWN), which
    /// the range alone does not tell (the primary's BACKUP addresses, the secondary's FREE ones).
    fn give_back(&mut self, idx: u32, sid: SlotId, now: u32) {
        let partner =
            self.slab[idx as usize].flags.0 & crate::lease::BindingFlags::PARTNER_POOL != 0;
        if partner && !self.space.is_excluded(sid) {
            self.slab[idx as usize].flags.0 &= !crate::lease::BindingFlags::PARTNER_POOL;
            self.space.set(sid, Slot::PartnerFree);
        } else {
            self.free_slot(sid, now);
        }
    }

    /// Moves binding `idx` to `state` but keeps its address (failover: an EXPIRED or RELEASED
    /// address stays out of use until the partner acknowledges, draft-12 §5.11).
    pub fn hold(&mut self, idx: u32, state: BindingState, now: u32) {
        self.wheel.cancel(&mut self.slab, idx);
        self.slab[idx as usize].set_state(state, now);
    }

    /// Gives up the address binding `idx` still holds (the partner acknowledged its expiry or
    /// release): it becomes available as [`let_go`](Self::let_go) would make it.
    pub fn release_held(&mut self, idx: u32, now: u32) {
        let addr = self.slab[idx as usize].addr;
        if let Some(sid) = self.space.slot_of(addr) {
            self.space
                .note_pot(sid, lease_pot(&self.slab[idx as usize]));
            if self.space.get(sid) == self.bound(idx) {
                self.free_slot(sid, now);
            }
        }
    }

    /// Gives up the address binding `idx` holds and makes it ours, whatever the failover role
    /// (PARTNER-DOWN after MCLT: the survivor may reuse it).
    pub fn reclaim_held(&mut self, idx: u32) {
        let addr = self.slab[idx as usize].addr;
        if let Some(sid) = self.space.slot_of(addr) {
            self.space
                .note_pot(sid, lease_pot(&self.slab[idx as usize]));
            if self.space.get(sid) == self.bound(idx) {
                self.space.set(sid, Slot::Free);
            }
        }
    }

    /// Schedules binding `idx` for a look at second `at` (reclaim checks).
    pub fn schedule(&mut self, idx: u32, at: u32) {
        self.wheel.schedule(&mut self.slab, idx, at);
    }

    /// Sets binding `idx` to `state` with `lease_end`, and schedules its expiry.
    pub fn set_lease(&mut self, idx: u32, state: BindingState, lease_end: u32, now: u32) {
        let b = &mut self.slab[idx as usize];
        b.set_state(state, now);
        b.lease_end = lease_end;
        self.wheel.schedule(&mut self.slab, idx, lease_end);
    }

    /// Mutable access for fields the engine maintains (CLTT, flags, potential-expiration).
    pub fn binding_mut(&mut self, idx: u32) -> &mut Binding {
        &mut self.slab[idx as usize]
    }

    /// Bindings whose lease or offer hold ended at or before `now` (at most `max`), already
    /// unscheduled. The caller decides what each becomes (see the engine).
    pub fn due(&mut self, now: u32, max: usize) -> Vec<u32> {
        let mut out = std::mem::take(&mut self.due);
        out.clear();
        self.wheel.advance(&mut self.slab, now, &mut out, max);
        self.stats.expired += out.len() as u64;
        out
    }

    /// Gives back the buffer returned by [`due`](Self::due) so the next call does not allocate.
    pub fn recycle_due(&mut self, v: Vec<u32>) {
        self.due = v;
    }

    /// Installs a binding recovered from the journal (or received from a partner): creates or
    /// replaces the client's binding, claims the address when the state holds one, and
    /// schedules expiry. Returns false when the address is held by another binding or the shard
    /// is full.
    pub fn restore(&mut self, b: &Binding, now: u32) -> bool {
        self.restore_with(b, now, false, false)
    }

    /// [`restore`](Self::restore) for a binding of a failover subnet (`failover`): a live
    /// lease may take its address from the partner's free pool, and with `held` the binding
    /// keeps its address although it ended (an EXPIRED/RELEASED/RESET the partner has not
    /// acknowledged, or an ACTIVE that ran out while the server was down).
    pub fn restore_with(&mut self, b: &Binding, now: u32, failover: bool, held: bool) -> bool {
        let Ok(idx) = self.binding_for(&b.key, b.hw, b.subnet) else {
            return false;
        };
        let live = b.state == BindingState::Active && b.lease_end > now;
        if live || held {
            let reserved = b.flags.reserved();
            // In a failover subnet the address may sit in the partner's free pool (a lease
            // installed from the partner); the record says whose it is.
            match self.take_with(idx, b.addr, b.subnet, reserved, failover, now) {
                Ok(()) | Err(TakeError::Unknown) => {}
                Err(_) => return false,
            }
        } else {
            // A later record of the client on another address: it moved on, so an address an
            // earlier record made it hold (an ended lease kept for the partner) is let go, as
            // when it moved. Left bound, the slot would name a binding that is elsewhere.
            self.let_go_previous(idx, b.addr, now);
            if b.state == BindingState::Abandoned {
                if let Some(sid) = self.space.slot_of(b.addr) {
                    if matches!(self.space.get(sid), Slot::Free | Slot::PartnerFree) {
                        let unacked = b.flags.0 & crate::lease::BindingFlags::UPDATE_PENDING != 0;
                        let until = if failover && unacked {
                            UNTIL_ACKED
                        } else {
                            b.lease_end
                        };
                        self.space.set(sid, Slot::Quarantined { until });
                    }
                }
            }
        }
        let wheel = self.slab[idx as usize].wheel;
        let mut copy = *b;
        copy.wheel = wheel;
        if !live && copy.state == BindingState::Active {
            copy.state = BindingState::Expired;
            if failover {
                // The partner has not heard of the expiry: tell it, and hold the address
                // until it acknowledges.
                copy.flags.0 |= crate::lease::BindingFlags::UPDATE_PENDING;
            }
        }
        self.slab[idx as usize] = copy;
        if live {
            self.wheel.schedule(&mut self.slab, idx, b.lease_end);
        } else if held {
            // Looked at again on the next tick: released once acknowledged, or reclaimed in
            // PARTNER-DOWN after MCLT.
            self.wheel
                .schedule(&mut self.slab, idx, now.saturating_add(1));
        } else {
            self.wheel.cancel(&mut self.slab, idx);
        }
        true
    }

    /// Live reconfiguration: works on `space` from now on (see
    /// [`AddressSpace::migrate_from`]); the free lists are rebuilt for its pools.
    pub fn set_space(&mut self, space: Arc<AddressSpace>, shard_count: u16) {
        let n = space.pool_count();
        self.free_lists = (0..n).map(|_| VecDeque::new()).collect();
        self.free_list_cap = space
            .pools()
            .map(|p| p.len() as usize / usize::from(shard_count.max(1)) + 64)
            .collect();
        self.scan_cursor = vec![0; n];
        self.space = space;
        self.reclaim_orphans();
        self.rebuild_free_lists(shard_count);
    }

    /// After a reload: a binding still holding its address (ACTIVE or OFFERED, or an ended
    /// lease kept for the failover partner) whose slot does not name it — the address left the
    /// configuration and came back — takes the slot again if it is available. Returns how many.
    pub fn reclaim_orphans(&mut self) -> usize {
        let mut n = 0;
        for idx in 0..self.slab.len() as u32 {
            let b = self.slab[idx as usize];
            if b.key.is_none() || b.addr.is_unspecified() {
                continue;
            }
            let keeps = b.state.holds_address()
                || (b.flags.0 & crate::lease::BindingFlags::UPDATE_PENDING != 0
                    && matches!(
                        b.state,
                        BindingState::Expired | BindingState::Released | BindingState::Reset
                    ));
            if !keeps || self.find(&b.key) != Some(idx) {
                continue;
            }
            let Some(sid) = self.space.slot_of(b.addr) else {
                continue;
            };
            let me = self.bound(idx);
            let cur = self.space.get(sid);
            if cur != me
                && matches!(cur, Slot::Free | Slot::PartnerFree | Slot::ReservedFree)
                && self.space.claim(sid, cur, me)
            {
                n += 1;
            }
        }
        n
    }

    /// Rebuilds the free lists from the space (after a bulk restore took addresses).
    pub fn rebuild_free_lists(&mut self, shard_count: u16) {
        for (p, pool) in self.space.pools().enumerate() {
            let list = &mut self.free_lists[p];
            list.clear();
            for sid in pool.slots() {
                if sid.0 % u32::from(shard_count.max(1)) == u32::from(self.id)
                    && self.space.get(sid) == Slot::Free
                    && list.len() < self.free_list_cap[p]
                {
                    list.push_back(sid);
                }
            }
        }
    }
}

/// The latest potential expiration anybody told or was told for binding `b`'s lease.
pub fn lease_pot(b: &Binding) -> u32 {
    b.sent_pot_exp.max(b.acked_pot_exp).max(b.recv_pot_exp).max(
        if b.state == BindingState::Active {
            b.lease_end
        } else {
            0
        },
    )
}

/// True when a quarantine ending at `until` is over and the address is ours to use again: it
/// returns to its owner (in a failover subnet where we are the secondary, the primary's,
/// unless `partner_ok`), so that the two servers never both reuse it.
fn quarantine_over(
    space: &AddressSpace,
    sid: SlotId,
    until: u32,
    now: u32,
    partner_ok: bool,
) -> bool {
    until <= now
        && match space.available_state(sid) {
            Slot::Free => true,
            Slot::PartnerFree => partner_ok,
            _ => false,
        }
}

/// Claims slot `sid`, seen as `cur`, for `me` when it is ours to allocate: free, or out of a
/// quarantine that returns it to us.
fn claim_available(space: &AddressSpace, sid: SlotId, cur: Slot, me: Slot, now: u32) -> bool {
    match cur {
        Slot::Free => space.claim(sid, cur, me),
        Slot::Quarantined { until } if quarantine_over(space, sid, until, now, false) => {
            space.claim(sid, cur, me)
        }
        _ => false,
    }
}

/// True unless `pot_wait` (the MCLT) has not yet passed since the latest potential expiration
/// known for slot `sid`.
fn pot_over(space: &AddressSpace, sid: SlotId, now: u32, pot_wait: Option<u32>) -> bool {
    pot_wait.is_none_or(|mclt| {
        u64::from(space.pot(sid)) + u64::from(mclt) + u64::from(crate::failover::POT_SLACK_SECS)
            <= u64::from(now)
    })
}

fn reserved_range(space: &AddressSpace, sid: SlotId) -> bool {
    matches!(
        space.range_of_slot(sid).map(|r| r.kind),
        Some(RangeKind::Reserved)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::test_config;

    fn setup(shards: u16) -> (Arc<AddressSpace>, Vec<Shard>) {
        let space = Arc::new(AddressSpace::new(&test_config()));
        let v = (0..shards)
            .map(|i| Shard::new(i, shards, 256, space.clone(), 1000))
            .collect();
        (space, v)
    }

    fn key(i: u32) -> ClientKey {
        ClientKey::from_hw(1, &i.to_be_bytes())
    }

    fn pools(space: &AddressSpace, subnet: u32) -> Vec<u32> {
        space
            .pools()
            .enumerate()
            .filter(|(_, r)| r.subnet == SubnetId(subnet))
            .map(|(i, _)| i as u32)
            .collect()
    }

    #[test]
    fn two_shards_never_hand_out_one_address() {
        let (space, mut shards) = setup(2);
        let p = pools(&space, 1);
        let mut seen = std::collections::HashSet::new();
        // 99 usable addresses in subnet 1's pool (100 minus one exclusion).
        for c in 0..99u32 {
            let s = &mut shards[(c % 2) as usize];
            let idx = s
                .binding_for(&key(c), HwAddr::default(), SubnetId(1))
                .unwrap();
            let a = s.allocate(idx, &p, 1000).unwrap();
            assert!(seen.insert(a), "{a} handed out twice");
            assert_ne!(
                a,
                Ipv4Addr::new(10, 0, 0, 150),
                "excluded address handed out"
            );
        }
        let s = &mut shards[0];
        let idx = s
            .binding_for(&key(500), HwAddr::default(), SubnetId(1))
            .unwrap();
        assert_eq!(
            s.allocate(idx, &p, 1000),
            Err(TakeError::Unavailable),
            "pool exhausted"
        );
    }

    #[test]
    fn an_empty_free_list_falls_back_to_scanning_other_shards_addresses() {
        let (space, mut shards) = setup(2);
        let p = pools(&space, 2); // 10 addresses, 5 per shard's list
        let s = &mut shards[0];
        let mut got = Vec::new();
        for c in 0..10u32 {
            let idx = s
                .binding_for(&key(c), HwAddr::default(), SubnetId(2))
                .unwrap();
            got.push(s.allocate(idx, &p, 1000).unwrap());
        }
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 10);
        assert!(s.stats.scans > 0);
        // Shard 1's list now holds only stale candidates.
        let s1 = &mut shards[1];
        let idx = s1
            .binding_for(&key(99), HwAddr::default(), SubnetId(2))
            .unwrap();
        assert_eq!(s1.allocate(idx, &p, 1000), Err(TakeError::Unavailable));
        assert!(s1.stats.stale_candidates >= 5);
    }

    #[test]
    fn a_returning_client_gets_its_address_back() {
        let (space, mut shards) = setup(1);
        let p = pools(&space, 1);
        let s = &mut shards[0];
        let idx = s
            .binding_for(&key(1), HwAddr::default(), SubnetId(1))
            .unwrap();
        let a = s.allocate(idx, &p, 1000).unwrap();
        s.set_lease(idx, BindingState::Active, 2000, 1000);
        s.let_go(idx, BindingState::Released, None, 1500);
        assert!(!s.holds(idx));
        // Someone else allocates: the just-released address is at the back of the list.
        let other = s
            .binding_for(&key(2), HwAddr::default(), SubnetId(1))
            .unwrap();
        assert_ne!(s.allocate(other, &p, 1500).unwrap(), a);
        let again = s.find(&key(1)).unwrap();
        assert_eq!(again, idx);
        assert_eq!(s.take(idx, a, SubnetId(1), false, 1600), Ok(()));
        assert!(s.holds(idx));
    }

    #[test]
    fn reserved_addresses_only_go_to_their_reservation() {
        let (_space, mut shards) = setup(1);
        let s = &mut shards[0];
        let r = Ipv4Addr::new(10, 0, 0, 10);
        let idx = s
            .binding_for(&key(1), HwAddr::default(), SubnetId(1))
            .unwrap();
        assert_eq!(
            s.take(idx, r, SubnetId(1), false, 1000),
            Err(TakeError::Unavailable)
        );
        assert_eq!(s.take(idx, r, SubnetId(1), true, 1000), Ok(()));
        let other = s
            .binding_for(&key(2), HwAddr::default(), SubnetId(1))
            .unwrap();
        assert_eq!(
            s.take(other, r, SubnetId(1), true, 1000),
            Err(TakeError::InUse)
        );
        s.let_go(idx, BindingState::Released, None, 1000);
        assert_eq!(s.take(other, r, SubnetId(1), true, 1000), Ok(()));
    }

    #[test]
    fn quarantine_blocks_until_it_ends() {
        let (space, mut shards) = setup(1);
        let s = &mut shards[0];
        let a = Ipv4Addr::new(10, 1, 0, 50);
        let idx = s
            .binding_for(&key(1), HwAddr::default(), SubnetId(2))
            .unwrap();
        s.take(idx, a, SubnetId(2), false, 1000).unwrap();
        s.let_go(idx, BindingState::Abandoned, Some(2000), 1000);
        let other = s
            .binding_for(&key(2), HwAddr::default(), SubnetId(2))
            .unwrap();
        assert_eq!(
            s.take(other, a, SubnetId(2), false, 1500),
            Err(TakeError::Unavailable)
        );
        assert_eq!(s.take(other, a, SubnetId(2), false, 2000), Ok(()));
        let _ = space;
    }

    #[test]
    fn a_full_shard_evicts_remembered_bindings_not_live_ones() {
        let space = Arc::new(AddressSpace::new(&test_config()));
        let mut s = Shard::new(0, 1, 16, space.clone(), 1000);
        let p = pools(&space, 1);
        for c in 0..16u32 {
            let idx = s
                .binding_for(&key(c), HwAddr::default(), SubnetId(1))
                .unwrap();
            s.allocate(idx, &p, 1000).unwrap();
            s.set_lease(idx, BindingState::Active, 5000, 1000);
        }
        assert_eq!(
            s.binding_for(&key(100), HwAddr::default(), SubnetId(1)),
            Err(TakeError::ShardFull)
        );
        let i3 = s.find(&key(3)).unwrap();
        s.let_go(i3, BindingState::Released, None, 1100);
        let n = s
            .binding_for(&key(100), HwAddr::default(), SubnetId(1))
            .unwrap();
        assert_eq!(n, i3);
        assert!(s.find(&key(3)).is_none());
        assert_eq!(s.stats.evicted, 1);
        for c in (0..16u32).filter(|&c| c != 3) {
            assert!(s.find(&key(c)).is_some());
        }
    }

    #[test]
    fn due_returns_expired_leases() {
        let (space, mut shards) = setup(1);
        let p = pools(&space, 1);
        let s = &mut shards[0];
        let idx = s
            .binding_for(&key(1), HwAddr::default(), SubnetId(1))
            .unwrap();
        s.allocate(idx, &p, 1000).unwrap();
        s.set_lease(idx, BindingState::Active, 1100, 1000);
        let d = s.due(1099, 100);
        assert!(d.is_empty());
        s.recycle_due(d);
        let d = s.due(1100, 100);
        assert_eq!(d, vec![idx]);
        s.recycle_due(d);
    }

    #[test]
    fn restore_claims_live_bindings_and_remembers_the_rest() {
        let (space, mut shards) = setup(1);
        let s = &mut shards[0];
        let mut live = Binding::new(
            key(1),
            HwAddr::default(),
            Ipv4Addr::new(10, 0, 0, 120),
            SubnetId(1),
        );
        live.state = BindingState::Active;
        live.lease_end = 5000;
        let mut old = Binding::new(
            key(2),
            HwAddr::default(),
            Ipv4Addr::new(10, 0, 0, 121),
            SubnetId(1),
        );
        old.state = BindingState::Active;
        old.lease_end = 900;
        assert!(s.restore(&live, 1000));
        assert!(s.restore(&old, 1000));
        let i1 = s.find(&key(1)).unwrap();
        let i2 = s.find(&key(2)).unwrap();
        assert!(s.holds(i1));
        assert!(!s.holds(i2));
        assert_eq!(s.binding(i2).state, BindingState::Expired);
        // A conflicting restore for the held address is refused.
        let mut clash = live;
        clash.key = key(3);
        assert!(!s.restore(&clash, 1000));
        let sid = space.slot_of(Ipv4Addr::new(10, 0, 0, 120)).unwrap();
        assert_eq!(
            space.get(sid),
            Slot::Bound {
                shard: 0,
                index: i1
            }
        );
    }
}

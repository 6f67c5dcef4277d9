//! The address space: one atomic slot per address the server manages (every pool address and
//! every reserved address), shared by all shards.
//!
//! Bindings live in the shard of their *client*; an address can be wanted by clients of any
//! shard. The slot is what makes that safe without locks: a shard takes an address only by a
//! compare-and-swap from an available state to `Bound { shard, index }`, and only the shard
//! named in a `Bound` slot writes it again. Two clients can therefore never hold one address,
//! whichever shards they live in.

use std::{
    net::Ipv4Addr,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::config::{Config, SubnetId};

/// Index of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId(pub u32);

/// What a slot says about its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// Available to this server (failover: FREE on the primary, BACKUP on the secondary).
    Free,
    /// Available only to the failover partner.
    PartnerFree,
    /// A reserved address nobody holds: only its reservation may take it.
    ReservedFree,
    /// Held by binding `index` of shard `shard`.
    Bound {
        /// Owning shard.
        shard: u16,
        /// Index in the shard's binding slab.
        index: u32,
    },
    /// Declined or found in use: unusable until `until` (wall-clock seconds).
    Quarantined {
        /// End of the quarantine.
        until: u32,
    },
    /// Excluded by configuration: never handed out.
    Excluded,
    /// Failover: moving between shards for a partner's update; only that move may take it.
    Transit,
}

const TAG_SHIFT: u32 = 56;
const TAG_FREE: u64 = 0;
const TAG_PARTNER: u64 = 1;
const TAG_RESERVED: u64 = 2;
const TAG_BOUND: u64 = 3;
const TAG_QUARANTINE: u64 = 4;
const TAG_EXCLUDED: u64 = 5;
const TAG_TRANSIT: u64 = 6;

impl Slot {
    fn encode(self) -> u64 {
        match self {
            Slot::Free => TAG_FREE << TAG_SHIFT,
            Slot::PartnerFree => TAG_PARTNER << TAG_SHIFT,
            Slot::ReservedFree => TAG_RESERVED << TAG_SHIFT,
            Slot::Bound { shard, index } => {
                (TAG_BOUND << TAG_SHIFT) | (u64::from(shard) << 32) | u64::from(index)
            }
            Slot::Quarantined { until } => (TAG_QUARANTINE << TAG_SHIFT) | u64::from(until),
            Slot::Excluded => TAG_EXCLUDED << TAG_SHIFT,
            Slot::Transit => TAG_TRANSIT << TAG_SHIFT,
        }
    }

    fn decode(v: u64) -> Slot {
        match v >> TAG_SHIFT {
            TAG_FREE => Slot::Free,
            TAG_PARTNER => Slot::PartnerFree,
            TAG_RESERVED => Slot::ReservedFree,
            TAG_BOUND => Slot::Bound {
                shard: ((v >> 32) & 0xffff) as u16,
                index: v as u32,
            },
            TAG_QUARANTINE => Slot::Quarantined { until: v as u32 },
            TAG_TRANSIT => Slot::Transit,
            _ => Slot::Excluded,
        }
    }
}

/// What a range of slots is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeKind {
    /// A dynamic pool; the number is the pool's index in [`AddressSpace::pools`].
    Pool(u32),
    /// One reserved address.
    Reserved,
}

/// A run of consecutive addresses with consecutive slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRange {
    /// First address (host order).
    pub start: u32,
    /// Last address (host order, inclusive).
    pub end: u32,
    /// Slot index of `start`.
    pub base: u32,
    /// Subnet the addresses belong to.
    pub subnet: SubnetId,
    /// Pool or reservation.
    pub kind: RangeKind,
    /// The subnet is shared in a failover relationship where we are the secondary: an address
    /// that becomes available again is the primary's (draft-12 §5.4), not ours.
    pub secondary: bool,
    /// The subnet is shared in a failover relationship (either role).
    pub shared: bool,
}

impl SlotRange {
    /// Number of addresses.
    pub fn len(&self) -> u32 {
        self.end - self.start + 1
    }

    /// Never true (a range holds at least one address).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The slots of the range.
    pub fn slots(&self) -> impl Iterator<Item = SlotId> {
        (self.base..self.base + self.len()).map(SlotId)
    }
}

/// All slots, and the ranges that map addresses to them.
#[derive(Debug)]
pub struct AddressSpace {
    /// Sorted by `start`, non-overlapping.
    ranges: Vec<SlotRange>,
    /// Excluded addresses (host order, inclusive ranges), sorted: an excluded address a
    /// binding still holds (after a reload) becomes `Excluded`, not free, when let go.
    excluded: Vec<(u32, u32)>,
    /// Indices into `ranges` of the pools, by pool number.
    pools: Vec<u32>,
    slots: Box<[AtomicU64]>,
    /// Per slot: the latest potential expiration either failover partner knew for the address
    /// when a lease on it ended. The partner may have extended the lease up to MCLT past it,
    /// so a survivor in PARTNER-DOWN reuses the address only after that (§5.2.1).
    pots: Box<[std::sync::atomic::AtomicU32]>,
}

impl AddressSpace {
    /// Builds the space of a validated configuration: every pool address starts `Free`
    /// (or `Excluded`), every reserved address `ReservedFree`.
    pub fn new(cfg: &Config) -> AddressSpace {
        let mut ranges = Vec::new();
        let secondary = |id: SubnetId| {
            cfg.failover.iter().any(|r| {
                r.role == crate::config::FailoverRole::Secondary && r.subnets.contains(&id)
            })
        };
        let shared = |id: SubnetId| cfg.failover.iter().any(|r| r.subnets.contains(&id));
        for s in &cfg.subnets {
            for p in &s.pools {
                ranges.push(SlotRange {
                    start: u32::from(p.start),
                    end: u32::from(p.end),
                    base: 0,
                    subnet: s.id,
                    kind: RangeKind::Pool(0),
                    secondary: secondary(s.id),
                    shared: shared(s.id),
                });
            }
            for r in &s.reservations {
                let a = u32::from(r.address);
                ranges.push(SlotRange {
                    start: a,
                    end: a,
                    base: 0,
                    subnet: s.id,
                    kind: RangeKind::Reserved,
                    secondary: secondary(s.id),
                    shared: shared(s.id),
                });
            }
        }
        ranges.sort_by_key(|r| r.start);
        // Two reservations of one address (or a reservation inside a pool) are config errors
        // caught by validation; merge defensively so slots stay unique.
        ranges.dedup_by(|b, a| b.start <= a.end);
        let mut base = 0u32;
        let mut pools = Vec::new();
        for (i, r) in ranges.iter_mut().enumerate() {
            r.base = base;
            base += r.len();
            if let RangeKind::Pool(_) = r.kind {
                r.kind = RangeKind::Pool(pools.len() as u32);
                pools.push(i as u32);
            }
        }
        let slots: Box<[AtomicU64]> = (0..base)
            .map(|_| AtomicU64::new(Slot::Free.encode()))
            .collect();
        let mut excluded: Vec<(u32, u32)> = cfg
            .subnets
            .iter()
            .flat_map(|s| {
                s.exclusions
                    .iter()
                    .map(|e| (u32::from(e.start), u32::from(e.end)))
            })
            .collect();
        excluded.sort_unstable();
        let pots = (0..base)
            .map(|_| std::sync::atomic::AtomicU32::new(0))
            .collect();
        let space = AddressSpace {
            ranges,
            excluded,
            pools,
            slots,
            pots,
        };
        for r in &space.ranges {
            if r.kind == RangeKind::Reserved {
                space.set(SlotId(r.base), Slot::ReservedFree);
            } else if r.secondary {
                // A new failover secondary owns nothing until the primary hands it BACKUP
                // addresses (draft-12 §5.4).
                for id in r.slots() {
                    space.set(id, Slot::PartnerFree);
                }
            }
        }
        for s in &cfg.subnets {
            for ex in &s.exclusions {
                for a in u32::from(ex.start)..=u32::from(ex.end) {
                    if let Some(id) = space.slot_of(Ipv4Addr::from(a)) {
                        space.set(id, Slot::Excluded);
                    }
                }
            }
        }
        space
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when the space manages no address.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Pools, by pool number.
    pub fn pools(&self) -> impl Iterator<Item = &SlotRange> {
        self.pools.iter().map(|&i| &self.ranges[i as usize])
    }

    /// Pool by number.
    pub fn pool(&self, n: u32) -> Option<&SlotRange> {
        self.pools
            .get(n as usize)
            .map(|&i| &self.ranges[i as usize])
    }

    /// Number of pools.
    pub fn pool_count(&self) -> usize {
        self.pools.len()
    }

    /// The range containing `addr`.
    pub fn range_of(&self, addr: Ipv4Addr) -> Option<&SlotRange> {
        let a = u32::from(addr);
        let i = self.ranges.partition_point(|r| r.end < a);
        self.ranges.get(i).filter(|r| r.start <= a)
    }

    /// The slot of `addr`, if the server manages it.
    pub fn slot_of(&self, addr: Ipv4Addr) -> Option<SlotId> {
        let a = u32::from(addr);
        self.range_of(addr).map(|r| SlotId(r.base + (a - r.start)))
    }

    /// The range holding slot `id`.
    pub fn range_of_slot(&self, id: SlotId) -> Option<&SlotRange> {
        let i = self.ranges.partition_point(|r| r.base + r.len() <= id.0);
        self.ranges.get(i).filter(|r| r.base <= id.0)
    }

    /// The address of slot `id`.
    pub fn addr(&self, id: SlotId) -> Option<Ipv4Addr> {
        self.range_of_slot(id)
            .map(|r| Ipv4Addr::from(r.start + (id.0 - r.base)))
    }

    /// Current state of a slot.
    pub fn get(&self, id: SlotId) -> Slot {
        match self.slots.get(id.0 as usize) {
            Some(s) => Slot::decode(s.load(Ordering::Acquire)),
            None => Slot::Excluded,
        }
    }

    /// Atomically replaces `expected` by `new`; false when the slot was not `expected`.
    pub fn claim(&self, id: SlotId, expected: Slot, new: Slot) -> bool {
        match self.slots.get(id.0 as usize) {
            Some(s) => s
                .compare_exchange(
                    expected.encode(),
                    new.encode(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok(),
            None => false,
        }
    }

    /// Stores `state`. Only for the owner of a `Bound` slot, or during start-up.
    pub fn set(&self, id: SlotId, state: Slot) {
        if let Some(s) = self.slots.get(id.0 as usize) {
            s.store(state.encode(), Ordering::Release);
        }
    }

    /// The state an address returns to when nobody holds it any more (after a lease ends or a
    /// quarantine passes): excluded, reserved, the failover partner's (we are the secondary
    /// of its subnet: what becomes free is the primary's, draft-12 §5.4), or ours.
    pub fn available_state(&self, id: SlotId) -> Slot {
        if self.is_excluded(id) {
            return Slot::Excluded;
        }
        match self.range_of_slot(id) {
            Some(r) if r.kind == RangeKind::Reserved => Slot::ReservedFree,
            Some(r) if r.secondary => Slot::PartnerFree,
            Some(_) => Slot::Free,
            None => Slot::Excluded,
        }
    }

    /// Remembers that the partner may know of a lease on slot `id` running to `t`.
    pub fn note_pot(&self, id: SlotId, t: u32) {
        if let Some(p) = self.pots.get(id.0 as usize) {
            p.fetch_max(t, Ordering::AcqRel);
        }
    }

    /// The latest potential expiration noted for slot `id` (0: none).
    pub fn pot(&self, id: SlotId) -> u32 {
        self.pots
            .get(id.0 as usize)
            .map(|p| p.load(Ordering::Acquire))
            .unwrap_or(0)
    }

    /// True when configuration excludes the address of slot `id`.
    pub fn is_excluded(&self, id: SlotId) -> bool {
        let Some(a) = self.addr(id).map(u32::from) else {
            return false;
        };
        let i = self.excluded.partition_point(|(_, end)| *end < a);
        self.excluded.get(i).is_some_and(|(start, _)| *start <= a)
    }

    /// Live reconfiguration: takes over the state of every address this space shares with
    /// `old` (which must no longer change: every worker is paused). Bindings keep their
    /// addresses (a `Bound` slot names the same shard and index in both); an address that was
    /// available keeps its failover owner (FREE/BACKUP) while it stays in a pool; new
    /// addresses start as [`new`](Self::new) made them. Addresses bound in `old` that this
    /// space no longer manages are counted: their bindings keep them until they end.
    pub fn migrate_from(&self, old: &AddressSpace) -> Migration {
        let mut m = Migration::default();
        for r in &self.ranges {
            for id in r.slots() {
                let Some(addr) = self.addr(id) else { continue };
                let Some(oid) = old.slot_of(addr) else {
                    m.added += 1;
                    continue;
                };
                self.note_pot(id, old.pot(oid));
                let before = old.get(oid);
                let now = self.get(id);
                let same_role = old
                    .range_of_slot(oid)
                    .is_some_and(|o| o.secondary == r.secondary && o.shared == r.shared);
                let next = match (before, now) {
                    // Held, in transit or quarantined: stays so whatever the new config says.
                    (Slot::Bound { .. } | Slot::Transit | Slot::Quarantined { .. }, _) => before,
                    // Still an ordinary pool address in the same failover role: keep who owns
                    // it (a subnet that joins or leaves a relationship as secondary takes the
                    // new default: the primary's until balanced, or ours).
                    (Slot::Free | Slot::PartnerFree, Slot::Free | Slot::PartnerFree)
                        if r.kind != RangeKind::Reserved && same_role =>
                    {
                        before
                    }
                    // Newly excluded, reserved, or back from exclusion: the new config rules.
                    _ => now,
                };
                if next != now {
                    self.set(id, next);
                }
                m.carried += 1;
            }
        }
        for r in &old.ranges {
            for id in r.slots() {
                let Some(addr) = old.addr(id) else { continue };
                if self.slot_of(addr).is_none() {
                    match old.get(id) {
                        Slot::Bound { .. } | Slot::Transit => m.orphaned += 1,
                        _ => m.removed += 1,
                    }
                }
            }
        }
        m
    }

    /// Counts slots per state over one range (for utilisation figures; O(range)).
    pub fn census(&self, range: &SlotRange) -> SlotCensus {
        let mut c = SlotCensus::default();
        for id in range.slots() {
            match self.get(id) {
                Slot::Free | Slot::ReservedFree => c.free += 1,
                Slot::PartnerFree => c.partner_free += 1,
                Slot::Bound { .. } | Slot::Transit => c.bound += 1,
                Slot::Quarantined { .. } => c.quarantined += 1,
                Slot::Excluded => c.excluded += 1,
            }
        }
        c
    }
}

/// What [`AddressSpace::migrate_from`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Migration {
    /// Addresses in both spaces (state carried over).
    pub carried: u64,
    /// Addresses new in this space.
    pub added: u64,
    /// Available addresses the new configuration dropped.
    pub removed: u64,
    /// Held addresses the new configuration dropped: their bindings keep them until they end.
    pub orphaned: u64,
}

/// Slot counts by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotCensus {
    /// Available to us.
    pub free: u64,
    /// Available to the partner.
    pub partner_free: u64,
    /// Held by a binding.
    pub bound: u64,
    /// Declined / abandoned.
    pub quarantined: u64,
    /// Excluded by configuration.
    pub excluded: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::test_config;

    #[test]
    fn slot_encoding_round_trips() {
        for s in [
            Slot::Free,
            Slot::PartnerFree,
            Slot::ReservedFree,
            Slot::Bound {
                shard: 7,
                index: 123_456,
            },
            Slot::Bound {
                shard: u16::MAX,
                index: u32::MAX,
            },
            Slot::Quarantined {
                until: 1_700_000_000,
            },
            Slot::Excluded,
        ] {
            assert_eq!(Slot::decode(s.encode()), s);
        }
    }

    #[test]
    fn maps_addresses_to_slots_and_back() {
        let cfg = test_config();
        let space = AddressSpace::new(&cfg);
        // test_config: 10.0.0.100-10.0.0.199 (pool), reservation 10.0.0.10, exclusion .150,
        // and 10.1.0.50-10.1.0.59 with reservation 10.1.0.7.
        assert_eq!(space.len(), 100 + 1 + 10 + 1);
        for a in [
            Ipv4Addr::new(10, 0, 0, 100),
            Ipv4Addr::new(10, 0, 0, 199),
            Ipv4Addr::new(10, 0, 0, 10),
            Ipv4Addr::new(10, 1, 0, 55),
        ] {
            let id = space.slot_of(a).unwrap();
            assert_eq!(space.addr(id), Some(a));
        }
        assert_eq!(space.slot_of(Ipv4Addr::new(10, 0, 0, 99)), None);
        assert_eq!(space.slot_of(Ipv4Addr::new(10, 0, 0, 200)), None);
        assert_eq!(
            space.get(space.slot_of(Ipv4Addr::new(10, 0, 0, 10)).unwrap()),
            Slot::ReservedFree
        );
        assert_eq!(
            space.get(space.slot_of(Ipv4Addr::new(10, 0, 0, 150)).unwrap()),
            Slot::Excluded
        );
        assert_eq!(space.pool_count(), 2);
    }

    #[test]
    fn claim_is_exclusive() {
        let space = AddressSpace::new(&test_config());
        let id = space.slot_of(Ipv4Addr::new(10, 0, 0, 120)).unwrap();
        let a = Slot::Bound { shard: 0, index: 1 };
        let b = Slot::Bound { shard: 1, index: 9 };
        assert!(space.claim(id, Slot::Free, a));
        assert!(!space.claim(id, Slot::Free, b));
        assert_eq!(space.get(id), a);
    }

    #[test]
    fn concurrent_claims_never_share_an_address() {
        let space = std::sync::Arc::new(AddressSpace::new(&test_config()));
        let won: Vec<Vec<SlotId>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4u16)
                .map(|shard| {
                    let space = &space;
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        for r in space.pools().cloned().collect::<Vec<_>>() {
                            for id in r.slots() {
                                if space.claim(id, Slot::Free, Slot::Bound { shard, index: id.0 }) {
                                    mine.push(id);
                                }
                            }
                        }
                        mine
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<SlotId> = won.into_iter().flatten().collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "an address was claimed twice");
        assert_eq!(
            n, 109,
            "every free pool address claimed once (110 minus the exclusion)"
        );
    }
}

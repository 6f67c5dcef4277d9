//! Start-up from the journal: the replayed records go back into the shards of every worker's
//! engine and into the shared address slots. The daemon and the simulator both start this way.
//!
//! - A client's record goes to the shard of its client key, in journal order, so that a client
//!   that moved address ends up on its last one.
//! - A live ACTIVE lease takes its address whatever the slot says (the partner's free pool
//!   included: a binding installed from the partner's pool is still that client's).
//! - In a failover subnet an EXPIRED/RELEASED/RESET binding the partner has not acknowledged
//!   keeps its address until it does (draft-12 §5.11), as it did before the restart.
//! - An address-only record (no client: pool ownership from balancing, a partner's FREE/BACKUP
//!   or ABANDONED) sets the slot directly.

use super::Engine;
use crate::lease::{Binding, BindingFlags, BindingState, Slot};

/// What restoring found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Client bindings put back.
    pub bindings: u64,
    /// Records that no longer fit the configuration (address outside every subnet, shard full).
    pub refused: u64,
    /// Address-only records applied to slots.
    pub addresses: u64,
    /// The latest time in any record (client last transaction, start of state): when this
    /// server last worked, as far as the journal knows.
    pub last_alive: u32,
}

/// Puts `records` (as from `Replay::into_bindings`) back into `engines`, which together own
/// every shard; `now` is the wall clock.
pub fn restore(engines: &mut [Engine], mut records: Vec<(u64, Binding)>, now: u32) -> Restored {
    let mut out = Restored::default();
    let Some(plan) = engines.first().map(|e| e.plan().clone()) else {
        return out;
    };
    records.sort_by_key(|(seq, b)| (*seq, b.addr));
    for (_, b) in &records {
        out.last_alive = out.last_alive.max(b.cltt).max(b.stos);
        if b.key.is_none() {
            if restore_address(&plan, b) {
                out.addresses += 1;
            } else {
                out.refused += 1;
            }
            continue;
        }
        // What the partner may know of leases on the address survives the restart too.
        if let Some(sid) = plan.space.slot_of(b.addr) {
            plan.space.note_pot(sid, crate::lease::shard::lease_pot(b));
        }
        let shard = plan.shard_of(&b.key);
        let Some(engine) = engines.iter_mut().find(|e| e.owns(shard)) else {
            out.refused += 1;
            continue;
        };
        let failover = plan.view_of(b.subnet).is_some();
        let Some(s) = engine.shard_mut(shard) else {
            out.refused += 1;
            continue;
        };
        let ended_unacked = b.flags.0 & BindingFlags::UPDATE_PENDING != 0
            && matches!(
                b.state,
                BindingState::Expired | BindingState::Released | BindingState::Reset
            );
        let ran_out = b.state == BindingState::Active && b.lease_end <= now;
        let held = failover && (ended_unacked || ran_out);
        if s.restore_with(b, now, failover, held) {
            out.bindings += 1;
        } else {
            out.refused += 1;
        }
    }
    let shard_count = plan.shard_count;
    for e in engines.iter_mut() {
        for s in e.shards_mut() {
            s.rebuild_free_lists(shard_count);
        }
    }
    out
}

/// An address-only record: sets the slot of `b.addr` when nobody holds it.
fn restore_address(plan: &super::Plan, b: &Binding) -> bool {
    let space = &plan.space;
    let Some(sid) = space.slot_of(b.addr) else {
        return false;
    };
    let cur = space.get(sid);
    if !matches!(
        cur,
        Slot::Free | Slot::PartnerFree | Slot::Quarantined { .. }
    ) {
        // Bound by a later client record, reserved or excluded: that rules.
        return true;
    }
    let view = plan.subnet_containing(b.addr).and_then(|i| plan.view(i));
    let next = match b.state {
        BindingState::Abandoned => Slot::Quarantined { until: b.lease_end },
        s => match view {
            Some(v) => v.slot_for(s),
            None => Slot::Free,
        },
    };
    if next != cur {
        space.set(sid, next);
    }
    true
}

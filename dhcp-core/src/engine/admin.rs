//! Operator changes and questions about bindings (the control API's `lease4-add`, `lease4-del`
//! and look-ups). A change follows the request path's rules: an address is taken only by a
//! compare-and-swap of its slot from an available state, only the shard named in a `Bound`
//! slot lets it go, and every change is journaled (its sequence number is returned so the
//! caller can wait until it is durable before answering).
//!
//! Everything is checked before anything changes, so a refused call leaves no trace — with one
//! exception that cannot be checked in advance: another worker may take the address between
//! the check and the compare-and-swap; the call is then refused, and a client seen for the
//! first time keeps an empty remembered binding (no address, evicted first).

use std::net::Ipv4Addr;

use super::Engine;
use crate::{
    config::SubnetId,
    failover::Service,
    lease::{Binding, BindingFlags, BindingState, ClientKey, HwAddr, Slot, TakeError},
};

/// A lease an operator asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdminLease {
    /// The address.
    pub addr: Ipv4Addr,
    /// The client (option 61, or hardware type + address).
    pub key: ClientKey,
    /// The client's hardware address.
    pub hw: HwAddr,
    /// The subnet the caller expects the address in (checked when given).
    pub subnet: Option<SubnetId>,
    /// Lease time; the subnet's default when `None`. Capped by MCLT in a failover subnet.
    pub valid_secs: Option<u32>,
}

/// Why an operator change was refused. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminRefusal {
    /// The request itself is wrong (an address in no subnet, the wrong subnet).
    Invalid(String),
    /// The state does not allow it (address in use, the partner's, outside the pools, …).
    Conflict(String),
    /// No such lease.
    NotFound(String),
}

impl std::fmt::Display for AdminRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminRefusal::Invalid(s) | AdminRefusal::Conflict(s) | AdminRefusal::NotFound(s) => {
                f.write_str(s)
            }
        }
    }
}

/// A binding as operators see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingView {
    /// The record.
    pub binding: Binding,
    /// True while the binding holds its address in the address space (a lease, an offer, or
    /// an ended lease the failover partner has not acknowledged yet).
    pub holds: bool,
    /// The shard it lives in.
    pub shard: u16,
}

/// Which bindings a paged listing wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageFilter {
    /// Only this subnet.
    pub subnet: Option<SubnetId>,
    /// Only these states (empty: all).
    pub states: Vec<BindingState>,
    /// Only addresses above this one (the previous page's last address).
    pub after: Option<Ipv4Addr>,
    /// At most this many.
    pub limit: usize,
}

/// Sort order of listings: by address, then the binding holding it first, then by client.
fn order(a: &BindingView, b: &BindingView) -> std::cmp::Ordering {
    a.binding
        .addr
        .cmp(&b.binding.addr)
        .then(b.holds.cmp(&a.holds))
        .then(a.binding.key.cmp(&b.binding.key))
}

impl Engine {
    fn view(&self, pos: usize, idx: u32) -> BindingView {
        let s = &self.shards[pos];
        BindingView {
            binding: *s.binding(idx),
            holds: s.holds(idx),
            shard: s.id(),
        }
    }

    fn views(&self, mut keep: impl FnMut(&Binding) -> bool) -> Vec<BindingView> {
        let mut out = Vec::new();
        for (pos, s) in self.shards.iter().enumerate() {
            for (idx, b) in s.bindings() {
                if keep(b) {
                    out.push(self.view(pos, idx));
                }
            }
        }
        out.sort_by(order);
        out
    }

    /// The binding of client `key`, when its shard is this engine's.
    pub fn admin_find_client(&self, key: &ClientKey) -> Option<BindingView> {
        let shard = self.plan.shard_of(key);
        let pos = *self
            .local
            .get(usize::from(shard))
            .filter(|p| **p != usize::MAX)?;
        let idx = self.shards[pos].find(key)?;
        Some(self.view(pos, idx))
    }

    /// Every binding of this engine recording address `addr` (the one holding it, and
    /// remembered ones of earlier clients).
    pub fn admin_find_addr(&self, addr: Ipv4Addr) -> Vec<BindingView> {
        self.views(|b| b.addr == addr)
    }

    /// Every binding of this engine whose client has hardware address `hw` (whatever its
    /// identity: a client that sends option 61 is keyed by it, not by its MAC).
    pub fn admin_find_hw(&self, hw: &HwAddr) -> Vec<BindingView> {
        self.views(|b| b.hw == *hw)
    }

    /// Every ACTIVE binding of this engine whose client's last committed request carried an
    /// option 82 remote-id with digest `digest` ([`remote_id_digest`](crate::lease::remote_id_digest);
    /// Kea's `lease4-get-by-remote-id`). A digest, so another remote-id's lease may in rare
    /// cases be among them; 0 (no remote-id) finds nothing.
    pub fn admin_find_remote_id(&self, digest: u32) -> Vec<BindingView> {
        if digest == 0 {
            return Vec::new();
        }
        self.views(|b| b.remote_id == digest && b.state == BindingState::Active)
    }

    /// A page of this engine's bindings with an address: those `filter` keeps, above
    /// `filter.after`, in address order, at most `filter.limit`.
    pub fn admin_page(&self, filter: &PageFilter) -> Vec<BindingView> {
        let mut v = self.views(|b| {
            !b.addr.is_unspecified()
                && filter.subnet.is_none_or(|s| b.subnet == s)
                && (filter.states.is_empty() || filter.states.contains(&b.state))
                && filter.after.is_none_or(|a| b.addr > a)
        });
        v.truncate(filter.limit);
        v
    }

    /// Operator: lease `l.addr` to `l.key` (Kea's `lease4-add`). The client's shard must be
    /// this engine's (the caller routes the call). Returns the binding and the journal sequence
    /// number to wait for.
    pub fn admin_add_lease(
        &mut self,
        now: u32,
        l: &AdminLease,
    ) -> Result<(BindingView, u64), AdminRefusal> {
        let shard = self.plan.shard_of(&l.key);
        let Some(&pos) = self
            .local
            .get(usize::from(shard))
            .filter(|p| **p != usize::MAX)
        else {
            return Err(AdminRefusal::Invalid(format!(
                "shard {shard} of this client is not this worker's"
            )));
        };
        let addr = l.addr;
        let Some(si) = self.plan.subnet_containing(addr) else {
            return Err(AdminRefusal::Invalid(format!(
                "{addr} is in no configured subnet"
            )));
        };
        let subnet = self.plan.subnet(si);
        let subnet_id = subnet.id;
        if let Some(want) = l.subnet {
            if want != subnet_id {
                return Err(AdminRefusal::Invalid(format!(
                    "{addr} is in subnet {} ({}), not in subnet {}",
                    subnet_id.0, subnet.network, want.0
                )));
            }
        }
        let Some(sid) = self.plan.space.slot_of(addr) else {
            return Err(AdminRefusal::Conflict(format!(
                "{addr} is outside the pools and reservations of subnet {} ({})",
                subnet_id.0, subnet.network
            )));
        };
        if let Some(v) = self.plan.view(si) {
            if v.service() == Service::None {
                let rel = self
                    .plan
                    .relationship_of(si)
                    .and_then(|r| self.plan.cfg.failover.get(r))
                    .map_or("", |r| r.name.as_str());
                return Err(AdminRefusal::Conflict(format!(
                    "subnet {} is shared in failover relationship `{rel}`, which is in state {}: \
                     no lease can be given now",
                    subnet_id.0,
                    v.state().name()
                )));
            }
        }
        if let Some(i) = self.shards[pos].find(&l.key) {
            let b = self.shards[pos].binding(i);
            if self.shards[pos].holds(i) {
                return Err(AdminRefusal::Conflict(if b.addr == addr {
                    format!(
                        "{addr} is already leased to this client ({})",
                        b.state.name()
                    )
                } else {
                    format!(
                        "this client already holds {} ({}); delete that lease first",
                        b.addr,
                        b.state.name()
                    )
                }));
            }
        }
        let reservation = self
            .plan
            .subnet(si)
            .reservations
            .iter()
            .find(|r| r.address == addr);
        let reserved = match self.plan.space.get(sid) {
            Slot::Free => false,
            Slot::ReservedFree => {
                let mine = reservation.is_some_and(|r| match &r.key {
                    crate::config::ReservationKey::HwAddress(m) => l.hw.mac() == Some(*m),
                    crate::config::ReservationKey::ClientId(id) => l.key.client_id() == Some(id),
                    _ => false,
                });
                if !mine {
                    return Err(AdminRefusal::Conflict(format!(
                        "{addr} is reserved for another client"
                    )));
                }
                true
            }
            Slot::PartnerFree => {
                return Err(AdminRefusal::Conflict(format!(
                    "{addr} belongs to the failover partner (its free pool)"
                )));
            }
            Slot::Bound { .. } | Slot::Transit => {
                return Err(AdminRefusal::Conflict(format!(
                    "{addr} is in use by another client"
                )));
            }
            Slot::Quarantined { until } if until > now => {
                return Err(AdminRefusal::Conflict(format!(
                    "{addr} was declined and is quarantined for {} more s; delete that lease first",
                    until - now
                )));
            }
            Slot::Quarantined { .. } => false,
            Slot::Excluded => {
                return Err(AdminRefusal::Conflict(format!(
                    "{addr} is excluded by configuration"
                )));
            }
        };
        let idx = self.shards[pos]
            .binding_for(&l.key, l.hw, subnet_id)
            .map_err(|_| {
                AdminRefusal::Conflict(format!(
                    "the lease table of shard {shard} is full of live leases"
                ))
            })?;
        let before = *self.shards[pos].binding(idx);
        self.shards[pos]
            .take(idx, addr, subnet_id, reserved, now)
            .map_err(|e| {
                AdminRefusal::Conflict(match e {
                    TakeError::InUse => format!("{addr} was just taken by another client"),
                    _ => format!("{addr} is not available"),
                })
            })?;
        let desired = l.valid_secs.unwrap_or(subnet.lease.default_secs).max(1);
        let mut lease = desired;
        let mclt = self.plan.view(si).map(|v| v.mclt());
        if let Some(mclt) = mclt {
            // The MCLT rule, as for an ACK: the partner must hear of the lease within MCLT.
            let known = before.acked_pot_exp.max(before.recv_pot_exp);
            let cap = (u64::from(now.max(known)) + u64::from(mclt))
                .saturating_sub(u64::from(now))
                .min(u64::from(u32::MAX)) as u32;
            lease = lease.min(cap.max(1));
        }
        let lease_end = now.saturating_add(lease);
        let shard_ref = &mut self.shards[pos];
        shard_ref.set_lease(idx, BindingState::Active, lease_end, now);
        let b = shard_ref.binding_mut(idx);
        b.cltt = now;
        b.hw = l.hw;
        b.flags = if reserved {
            BindingFlags(BindingFlags::RESERVED)
        } else {
            BindingFlags::default()
        };
        if mclt.is_some() {
            let pot = u64::from(now) + u64::from(desired) + u64::from(lease / 2);
            b.sent_pot_exp = (pot.min(u64::from(u32::MAX)) as u32).max(lease_end);
        }
        self.counters.cumulative_assigned_addresses += 1;
        let seq = self.record(pos, idx);
        Ok((self.view(pos, idx), seq))
    }

    /// Operator: ends the lease on `addr` (Kea's `lease4-del`): the binding becomes RESET and
    /// the address available again — in a failover subnet once the partner acknowledged the
    /// change (draft-12 §5.11). A declined address leaves its quarantine. Run on every worker:
    /// the engine whose shard holds the address (or, for an address no slot names — declined,
    /// or outside every pool after a reload — the one that records it) acts; the others
    /// answer `Ok(None)`.
    pub fn admin_del_lease(
        &mut self,
        now: u32,
        addr: Ipv4Addr,
    ) -> Result<Option<(BindingView, u64)>, AdminRefusal> {
        let sid = self.plan.space.slot_of(addr);
        let slot = sid.map(|s| self.plan.space.get(s));
        let (pos, idx) = match slot {
            Some(Slot::Bound { shard, index }) => {
                let Some(&pos) = self
                    .local
                    .get(usize::from(shard))
                    .filter(|p| **p != usize::MAX)
                else {
                    return Ok(None);
                };
                if self.shards[pos].binding(index).addr != addr {
                    return Err(AdminRefusal::Conflict(format!(
                        "the slot of {addr} names a binding of another address; not changed"
                    )));
                }
                (pos, index)
            }
            Some(Slot::Transit) => {
                return Err(AdminRefusal::Conflict(format!(
                    "{addr} is being moved for a failover update; try again"
                )));
            }
            // Declined (quarantined), or no longer in any pool: the binding that records it.
            Some(Slot::Quarantined { .. }) | None => {
                let want = |b: &Binding| match slot {
                    Some(_) => b.state == BindingState::Abandoned,
                    None => b.state.holds_address(),
                };
                let mut found = None;
                for (pos, s) in self.shards.iter().enumerate() {
                    for (idx, b) in s.bindings() {
                        if b.addr == addr
                            && want(b)
                            && found.is_none_or(|(_, _, stos)| b.stos > stos)
                        {
                            found = Some((pos, idx, b.stos));
                        }
                    }
                }
                let Some((pos, idx, _)) = found else {
                    return Ok(None);
                };
                (pos, idx)
            }
            Some(_) => return Ok(None),
        };
        match slot {
            Some(Slot::Quarantined { until }) => {
                let Some(sid) = sid else { return Ok(None) };
                let range = self.plan.space.range_of_slot(sid).copied();
                let back = match range {
                    Some(r) if r.kind == crate::lease::space::RangeKind::Reserved => {
                        Slot::ReservedFree
                    }
                    Some(r) if r.secondary => Slot::PartnerFree,
                    _ => Slot::Free,
                };
                if !self
                    .plan
                    .space
                    .claim(sid, Slot::Quarantined { until }, back)
                {
                    return Err(AdminRefusal::Conflict(format!(
                        "{addr} was just taken; not changed"
                    )));
                }
                self.shards[pos]
                    .binding_mut(idx)
                    .set_state(BindingState::Reset, now);
            }
            _ => self.end_binding(now, pos, idx, BindingState::Reset),
        }
        self.shards[pos].binding_mut(idx).cltt = now;
        let seq = self.record(pos, idx);
        Ok(Some((self.view(pos, idx), seq)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        engine::Plan,
        lease::{AddressSpace, key::ClientKey},
        testing::test_config,
    };
    use std::sync::Arc;

    const NOW: u32 = 1_000_000;

    fn engine() -> Engine {
        let cfg = test_config();
        let space = Arc::new(AddressSpace::new(&cfg));
        let plan = Arc::new(Plan::new(cfg, space, vec![Ipv4Addr::new(10, 0, 0, 1)]));
        let owned: Vec<u16> = (0..plan.shard_count).collect();
        Engine::new(plan, &owned, 256, NOW)
    }

    fn lease(mac: u8, addr: [u8; 4]) -> AdminLease {
        let m = [2, 0, 0, 0, 0, mac];
        AdminLease {
            addr: Ipv4Addr::from(addr),
            key: ClientKey::from_hw(1, &m),
            hw: HwAddr::new(1, &m),
            subnet: None,
            valid_secs: Some(600),
        }
    }

    fn slot(e: &Engine, a: [u8; 4]) -> Slot {
        let s = e.plan.space.slot_of(Ipv4Addr::from(a)).unwrap();
        e.plan.space.get(s)
    }

    /// Everything a refused call must leave alone.
    fn snapshot(e: &mut Engine) -> (Vec<BindingView>, usize, u64) {
        let all = e.admin_page(&PageFilter {
            limit: usize::MAX,
            ..PageFilter::default()
        });
        let n = e.shards.iter().map(|s| s.len()).sum();
        (all, n, e.last_seq())
    }

    #[test]
    fn add_takes_a_free_address_and_journals_it() {
        let mut e = engine();
        let (v, seq) = e.admin_add_lease(NOW, &lease(1, [10, 0, 0, 120])).unwrap();
        assert!(v.holds);
        assert_eq!(v.binding.state, BindingState::Active);
        assert_eq!(v.binding.lease_end, NOW + 600);
        assert_eq!(v.binding.subnet, SubnetId(1));
        assert_eq!(seq, e.last_seq());
        assert_eq!(e.journal().len(), 1);
        assert_eq!(e.journal()[0].binding.addr, Ipv4Addr::new(10, 0, 0, 120));
        assert!(matches!(slot(&e, [10, 0, 0, 120]), Slot::Bound { .. }));
        // Found by address, client and hardware address.
        assert_eq!(e.admin_find_addr(Ipv4Addr::new(10, 0, 0, 120)).len(), 1);
        let l = lease(1, [0; 4]);
        assert_eq!(e.admin_find_client(&l.key).map(|v| v.holds), Some(true));
        assert_eq!(e.admin_find_hw(&l.hw).len(), 1);
    }

    #[test]
    fn refusals_name_the_reason_and_change_nothing() {
        let mut e = engine();
        e.admin_add_lease(NOW, &lease(1, [10, 0, 0, 120])).unwrap();
        e.journal().clear();
        let before = snapshot(&mut e);
        let cases: Vec<(AdminLease, &str)> = vec![
            (lease(2, [10, 0, 0, 120]), "in use by another client"),
            (
                lease(1, [10, 0, 0, 121]),
                "this client already holds 10.0.0.120",
            ),
            (lease(1, [10, 0, 0, 120]), "already leased to this client"),
            (lease(2, [10, 9, 0, 1]), "in no configured subnet"),
            (
                lease(2, [10, 0, 0, 50]),
                "outside the pools and reservations",
            ),
            (lease(2, [10, 0, 0, 150]), "excluded by configuration"),
            (lease(2, [10, 0, 0, 10]), "reserved for another client"),
            (
                AdminLease {
                    subnet: Some(SubnetId(2)),
                    ..lease(2, [10, 0, 0, 130])
                },
                "not in subnet 2",
            ),
        ];
        for (l, why) in cases {
            let e2 = e.admin_add_lease(NOW, &l).unwrap_err();
            assert!(e2.to_string().contains(why), "{e2} (wanted: {why})");
            assert_eq!(snapshot(&mut e), before, "{why}");
            assert!(e.journal().is_empty(), "{why}");
        }
    }

    #[test]
    fn the_reserved_client_may_be_given_its_reservation() {
        let mut e = engine();
        // test_config reserves 10.0.0.10 for 02:00:00:00:00:0a.
        let (v, _) = e
            .admin_add_lease(NOW, &lease(0x0a, [10, 0, 0, 10]))
            .unwrap();
        assert!(v.binding.flags.reserved());
    }

    #[test]
    fn delete_frees_the_address_and_unknown_addresses_are_not_found() {
        let mut e = engine();
        e.admin_add_lease(NOW, &lease(1, [10, 0, 0, 120])).unwrap();
        let (v, seq) = e
            .admin_del_lease(NOW + 5, Ipv4Addr::new(10, 0, 0, 120))
            .unwrap()
            .unwrap();
        assert_eq!(v.binding.state, BindingState::Reset);
        assert!(!v.holds);
        assert_eq!(seq, e.last_seq());
        assert_eq!(slot(&e, [10, 0, 0, 120]), Slot::Free);
        // Another client can have it now.
        e.admin_add_lease(NOW + 6, &lease(2, [10, 0, 0, 120]))
            .unwrap();
        let before = snapshot(&mut e);
        assert_eq!(
            e.admin_del_lease(NOW, Ipv4Addr::new(10, 0, 0, 121)),
            Ok(None)
        );
        assert_eq!(e.admin_del_lease(NOW, Ipv4Addr::new(10, 9, 9, 9)), Ok(None));
        assert_eq!(snapshot(&mut e), before);
    }

    #[test]
    fn deleting_a_declined_address_ends_its_quarantine() {
        let mut e = engine();
        e.admin_add_lease(NOW, &lease(1, [10, 0, 0, 120])).unwrap();
        let key = lease(1, [0; 4]).key;
        let shard = e.plan.shard_of(&key);
        let s = e.shard_mut(shard).unwrap();
        let idx = s.find(&key).unwrap();
        s.let_go(idx, BindingState::Abandoned, Some(NOW + 600), NOW);
        assert!(matches!(
            slot(&e, [10, 0, 0, 120]),
            Slot::Quarantined { .. }
        ));
        let refused = e
            .admin_add_lease(NOW, &lease(2, [10, 0, 0, 120]))
            .unwrap_err();
        assert!(refused.to_string().contains("quarantined"), "{refused}");
        let (v, _) = e
            .admin_del_lease(NOW + 1, Ipv4Addr::new(10, 0, 0, 120))
            .unwrap()
            .unwrap();
        assert_eq!(v.binding.state, BindingState::Reset);
        assert_eq!(slot(&e, [10, 0, 0, 120]), Slot::Free);
    }

    #[test]
    fn pages_are_in_address_order_and_filtered() {
        let mut e = engine();
        for (m, a) in [(1, 130), (2, 110), (3, 120)] {
            e.admin_add_lease(NOW, &lease(m, [10, 0, 0, a])).unwrap();
        }
        e.admin_add_lease(
            NOW,
            &AdminLease {
                addr: Ipv4Addr::new(10, 1, 0, 55),
                ..lease(4, [0; 4])
            },
        )
        .unwrap();
        let page = |after: Option<[u8; 4]>, subnet: Option<u32>, limit| {
            e.admin_page(&PageFilter {
                subnet: subnet.map(SubnetId),
                states: vec![BindingState::Active],
                after: after.map(Ipv4Addr::from),
                limit,
            })
            .iter()
            .map(|v| v.binding.addr.octets()[3])
            .collect::<Vec<_>>()
        };
        assert_eq!(page(None, None, 10), [110, 120, 130, 55]);
        assert_eq!(page(None, Some(1), 2), [110, 120]);
        assert_eq!(page(Some([10, 0, 0, 120]), Some(1), 2), [130]);
        assert_eq!(page(None, Some(2), 10), [55]);
        let none = e.admin_page(&PageFilter {
            states: vec![BindingState::Expired],
            limit: 10,
            ..PageFilter::default()
        });
        assert!(none.is_empty());
    }
}

//! The configuration compiled for the request path: subnet lookup, shared-network groups, pool
//! numbers and reservation indexes, shared read-only by every worker.

use std::{collections::HashMap, net::Ipv4Addr, sync::Arc};

use super::types::{RelayInfo, Request};
use crate::{
    config::{Config, ReservationKey, Subnet},
    failover::FailoverView,
    lease::{AddressSpace, ClientKey, key::mix64},
};

/// A reservation found for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundReservation {
    /// Subnet index.
    pub subnet: usize,
    /// Reservation index within the subnet.
    pub index: usize,
    /// The reserved address.
    pub address: Ipv4Addr,
}

/// Read-only request-path view of the configuration.
#[derive(Debug)]
pub struct Plan {
    /// The configuration.
    pub cfg: Config,
    /// The address space (slots shared by all shards).
    pub space: Arc<AddressSpace>,
    /// Number of shards.
    pub shard_count: u16,
    /// Addresses this server answers as (option 54 values it recognises).
    pub server_ids: Vec<Ipv4Addr>,
    /// Pool numbers (in `space`) of each subnet.
    subnet_pools: Vec<Vec<u32>>,
    /// Shared-network group of each subnet.
    subnet_group: Vec<usize>,
    /// Subnet indices of each group.
    groups: Vec<Vec<usize>>,
    /// Pool numbers of each group, in subnet order.
    group_pools: Vec<Vec<u32>>,
    by_hw: HashMap<[u8; 6], (usize, usize)>,
    by_client_id: HashMap<Vec<u8>, (usize, usize)>,
    by_circuit: HashMap<Vec<u8>, (usize, usize)>,
    by_remote: HashMap<Vec<u8>, (usize, usize)>,
    /// Failover views, one per relationship in `cfg.failover` order.
    views: Vec<Arc<FailoverView>>,
    /// Relationship of each subnet.
    subnet_rel: Vec<Option<usize>>,
}

impl Plan {
    /// Compiles `cfg` over `space`. `server_ids` are the server's own addresses (interface
    /// addresses and per-subnet server identifiers).
    pub fn new(cfg: Config, space: Arc<AddressSpace>, server_ids: Vec<Ipv4Addr>) -> Plan {
        let mut subnet_pools = vec![Vec::new(); cfg.subnets.len()];
        for (n, pool) in space.pools().enumerate() {
            if let Some(i) = cfg.subnets.iter().position(|s| s.id == pool.subnet) {
                subnet_pools[i].push(n as u32);
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut named: HashMap<&str, usize> = HashMap::new();
        let mut subnet_group = vec![0; cfg.subnets.len()];
        for (i, s) in cfg.subnets.iter().enumerate() {
            let g = match s.shared_network.as_deref() {
                Some(name) => *named.entry(name).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                }),
                None => {
                    groups.push(Vec::new());
                    groups.len() - 1
                }
            };
            groups[g].push(i);
            subnet_group[i] = g;
        }
        let group_pools = groups
            .iter()
            .map(|g| {
                g.iter()
                    .flat_map(|&s| subnet_pools[s].iter().copied())
                    .collect()
            })
            .collect();
        let mut by_hw = HashMap::new();
        let mut by_client_id = HashMap::new();
        let mut by_circuit = HashMap::new();
        let mut by_remote = HashMap::new();
        for (si, s) in cfg.subnets.iter().enumerate() {
            for (ri, r) in s.reservations.iter().enumerate() {
                match &r.key {
                    ReservationKey::HwAddress(m) => {
                        by_hw.insert(*m, (si, ri));
                    }
                    ReservationKey::ClientId(v) => {
                        by_client_id.insert(v.clone(), (si, ri));
                    }
                    ReservationKey::CircuitId(v) => {
                        by_circuit.insert(v.clone(), (si, ri));
                    }
                    ReservationKey::RemoteId(v) => {
                        by_remote.insert(v.clone(), (si, ri));
                    }
                }
            }
        }
        let mut ids = server_ids;
        for s in &cfg.subnets {
            if let Some(id) = s.server_id {
                ids.push(id);
            }
        }
        for i in &cfg.server.interfaces {
            if let Some(a) = i.address {
                ids.push(a);
            }
        }
        ids.sort();
        ids.dedup();
        let views: Vec<Arc<FailoverView>> = cfg
            .failover
            .iter()
            .map(|r| Arc::new(FailoverView::new(r)))
            .collect();
        let subnet_rel = cfg
            .subnets
            .iter()
            .map(|s| cfg.failover.iter().position(|r| r.subnets.contains(&s.id)))
            .collect();
        Plan {
            shard_count: cfg.server.shards.max(1),
            cfg,
            space,
            server_ids: ids,
            subnet_pools,
            subnet_group,
            groups,
            group_pools,
            by_hw,
            by_client_id,
            by_circuit,
            by_remote,
            views,
            subnet_rel,
        }
    }

    /// Live reconfiguration: a relationship that keeps its name and role keeps its state and
    /// MCLT from `old` (the view object itself is new when its mode changed); the others start
    /// afresh in STARTUP.
    pub fn adopt_views(&mut self, old: &Plan) {
        for (i, r) in self.cfg.failover.iter().enumerate() {
            let Some(j) = old
                .cfg
                .failover
                .iter()
                .position(|o| o.name == r.name && o.role == r.role)
            else {
                continue;
            };
            let o = &old.cfg.failover[j];
            if o.mode == r.mode && o.load_balance_max_secs == r.load_balance_max_secs {
                self.views[i] = old.views[j].clone();
            } else {
                self.views[i].take_state_from(&old.views[j]);
            }
        }
    }

    /// The failover views, by relationship (configuration order).
    pub fn views(&self) -> &[Arc<FailoverView>] {
        &self.views
    }

    /// The relationship subnet `i` is shared in.
    pub fn relationship_of(&self, i: usize) -> Option<usize> {
        self.subnet_rel.get(i).copied().flatten()
    }

    /// The failover view of subnet `i`, when it is shared with a partner.
    pub fn view(&self, i: usize) -> Option<&FailoverView> {
        self.relationship_of(i).map(|r| &*self.views[r])
    }

    /// Subnet `i`.
    pub fn subnet(&self, i: usize) -> &Subnet {
        &self.cfg.subnets[i]
    }

    /// Index of the subnet whose network contains `a`.
    pub fn subnet_containing(&self, a: Ipv4Addr) -> Option<usize> {
        self.cfg.subnets.iter().position(|s| s.network.contains(a))
    }

    /// The subnet a request belongs to: option 118, else the relay address, else the client's
    /// own address (a unicast renewal), else the receiving interface's address.
    pub fn select_subnet(&self, req: &Request<'_>) -> Option<usize> {
        if let Some(sel) = req.subnet_selection {
            return self.subnet_containing(sel);
        }
        if !req.giaddr.is_unspecified() {
            return self.subnet_containing(req.giaddr);
        }
        if !req.ciaddr.is_unspecified() {
            if let Some(i) = self.subnet_containing(req.ciaddr) {
                return Some(i);
            }
        }
        self.subnet_containing(req.iface_addr)
    }

    /// Subnets of the shared network of subnet `i` (just `i` when it has none).
    pub fn group(&self, i: usize) -> &[usize] {
        &self.groups[self.subnet_group[i]]
    }

    /// True when subnets `a` and `b` are in one shared network.
    pub fn same_group(&self, a: usize, b: usize) -> bool {
        self.subnet_group.get(a) == self.subnet_group.get(b)
    }

    /// Pool numbers of subnet `i`'s shared network.
    pub fn group_pools(&self, i: usize) -> &[u32] {
        &self.group_pools[self.subnet_group[i]]
    }

    /// Pool numbers of subnet `i`.
    pub fn pools(&self, i: usize) -> &[u32] {
        &self.subnet_pools[i]
    }

    /// Index of the subnet with id `id`.
    pub fn subnet_index(&self, id: crate::config::SubnetId) -> Option<usize> {
        self.cfg.subnets.iter().position(|s| s.id == id)
    }

    /// The failover view of the subnet with id `id`, when a relationship shares it.
    pub fn view_of(&self, id: crate::config::SubnetId) -> Option<&FailoverView> {
        self.subnet_index(id).and_then(|i| self.view(i))
    }

    /// The server identifier for replies in subnet `i` to a request that arrived on an
    /// interface with address `iface_addr`.
    pub fn server_id(&self, i: usize, iface_addr: Ipv4Addr) -> Ipv4Addr {
        self.cfg.subnets[i].server_id.unwrap_or(iface_addr)
    }

    /// True when `a` is one of this server's identifiers.
    pub fn is_our_id(&self, a: Ipv4Addr, iface_addr: Ipv4Addr) -> bool {
        a == iface_addr || self.server_ids.binary_search(&a).is_ok()
    }

    /// The reservation for this request within subnet `i`'s shared network: by hardware
    /// address, client identifier, circuit-id or remote-id, in that order.
    pub fn reservation(&self, req: &Request<'_>, i: usize) -> Option<FoundReservation> {
        let mut found = None;
        if req.htype == 1 && req.chaddr.len() == 6 {
            let mut m = [0u8; 6];
            m.copy_from_slice(req.chaddr);
            found = self.by_hw.get(&m).copied();
        }
        if found.is_none() {
            if let Some(id) = req.client_id {
                found = self.by_client_id.get(id).copied();
            }
        }
        if found.is_none() {
            if let Some(RelayInfo {
                circuit_id,
                remote_id,
            }) = req.relay
            {
                found = circuit_id
                    .and_then(|c| self.by_circuit.get(c).copied())
                    .or_else(|| remote_id.and_then(|r| self.by_remote.get(r).copied()));
            }
        }
        let (si, ri) = found?;
        if !self.same_group(si, i) {
            return None;
        }
        Some(FoundReservation {
            subnet: si,
            index: ri,
            address: self.cfg.subnets[si].reservations[ri].address,
        })
    }

    /// The shard of a client.
    pub fn shard_of(&self, key: &ClientKey) -> u16 {
        (mix64(key.hash64()) % u64::from(self.shard_count)) as u16
    }
}

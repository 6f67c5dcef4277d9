//! One server without threads or sockets: the failover control plane, one engine per worker,
//! and an in-memory journal with an explicit sync point. Unit tests and the simulator drive
//! it; the daemon wires the same [`Control`] and [`run_worker_cmd`] to threads, rings and
//! files.
//!
//! The journal is a list of records in write order; [`Node::sync`] makes everything written so
//! far durable and tells the control plane, as the journal writer's tap does in the daemon. A
//! crash keeps what was synced (and, for a torn tail, any prefix of the rest).

use std::{net::Ipv4Addr, sync::Arc};

use super::{
    control::{Control, ControlRecord, IoCmd, run_worker_cmd},
    endpoint::Now,
};
use crate::{
    config::Config,
    engine::{Engine, JournalEntry, Outcome, Plan, Request, restore},
    journal::{Replay, StateRecord},
    lease::{AddressSpace, Binding, BindingState},
};

/// A journal record as the node writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogItem {
    /// A binding change from queue `queue` (a worker, or the control plane's own queue, which
    /// is numbered after the workers).
    Entry {
        /// Queue index.
        queue: usize,
        /// The change.
        entry: JournalEntry,
    },
    /// A failover relationship's state.
    State(StateRecord),
}

/// One server.
#[derive(Debug)]
pub struct Node {
    plan: Arc<Plan>,
    /// The failover control plane.
    pub control: Control,
    /// One engine per worker.
    pub engines: Vec<Engine>,
    log: Vec<LogItem>,
    synced: usize,
    durable: Vec<u64>,
}

impl Node {
    /// A server for `cfg` with `workers` workers, started from `journal` (records in write
    /// order, as a previous [`crash`](Self::crash) returned them; empty for a first start).
    /// Call [`pump`](Self::pump) next: it returns the first network actions.
    pub fn start(
        cfg: Config,
        server_ids: Vec<Ipv4Addr>,
        workers: usize,
        journal: Vec<LogItem>,
        now: Now,
    ) -> Node {
        let workers = workers.max(1);
        let space = Arc::new(AddressSpace::new(&cfg));
        let shard_count = cfg.server.shards.max(1);
        let plan = Arc::new(Plan::new(cfg, space, server_ids));
        let mut engines: Vec<Engine> = (0..workers)
            .map(|w| {
                let owned: Vec<u16> = (0..shard_count)
                    .filter(|s| usize::from(*s) % workers == w)
                    .collect();
                Engine::new(plan.clone(), &owned, 4096, now.wall)
            })
            .collect();
        let mut replay = Replay::default();
        for (i, item) in journal.iter().enumerate() {
            let seq = i as u64 + 1;
            match item {
                LogItem::Entry { entry, .. } => replay.apply(seq, entry.binding),
                LogItem::State(s) => {
                    replay.apply_record(seq, crate::journal::Record::State(s.clone()))
                }
            }
        }
        let persisted: Vec<_> = plan
            .cfg
            .failover
            .iter()
            .map(|r| replay.state(&r.name))
            .collect();
        let restored = restore::restore(&mut engines, replay.into_bindings(), now.wall);
        let mut control = Control::new(plan.clone(), &persisted, workers, "xdhcp-node", now);
        control.set_last_alive(restored.last_alive);
        Node {
            plan,
            control,
            engines,
            // The old records stay: they are the start of this run's journal too.
            synced: journal.len(),
            log: journal,
            durable: vec![0; workers + 1],
        }
    }

    /// Live reconfiguration, as the daemon does it (`engine::reload`): refused with every
    /// reason when a restart-only setting changed; otherwise the new plan takes over every
    /// address's state, every engine switches, and the control plane re-files its
    /// relationships. Returns what the migration did and the old→new relationship map.
    pub fn reload(
        &mut self,
        cfg: Config,
        now: Now,
    ) -> Result<(crate::lease::Migration, Vec<Option<usize>>), Vec<String>> {
        let refused = crate::engine::reload::restart_only_changes(&self.plan.cfg, &cfg);
        if !refused.is_empty() {
            return Err(refused);
        }
        let plan = crate::engine::reload::build(&self.plan, cfg);
        // Nothing runs concurrently here: the node is the only thread.
        let migration = crate::engine::reload::switch(&self.plan, &plan);
        for e in &mut self.engines {
            e.set_plan(plan.clone());
        }
        let map = self.control.reconfigure(plan.clone(), now);
        self.plan = plan;
        Ok((migration, map))
    }

    /// The compiled configuration.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.engines.len()
    }

    /// A client's request, arriving at worker `at`: the outcome and the worker that decided.
    /// An ACK (`durable_after`) may only reach the client once [`is_durable`](Self::is_durable).
    pub fn handle_request(&mut self, now: Now, at: usize, req: &Request<'_>) -> (usize, Outcome) {
        let mut w = at % self.engines.len();
        let mut out = self.engines[w].handle(now.wall, req);
        if let Outcome::Forward(shard) = out {
            w = usize::from(shard) % self.engines.len();
            out = self.engines[w].handle(now.wall, req);
        }
        self.collect();
        (w, out)
    }

    /// True when worker `w`'s journal entry `seq` is durable.
    pub fn is_durable(&self, w: usize, seq: u64) -> bool {
        self.durable.get(w).is_some_and(|d| *d >= seq)
    }

    /// Moves every engine's journal entries and the control plane's records into the log.
    fn collect(&mut self) {
        for (w, e) in self.engines.iter_mut().enumerate() {
            for entry in e.journal().drain(..) {
                self.log.push(LogItem::Entry { queue: w, entry });
            }
        }
        let own = self.engines.len();
        while let Some(r) = self.control.poll_record() {
            match r {
                ControlRecord::State { name, persisted } => self
                    .log
                    .push(LogItem::State(StateRecord { name, persisted })),
                ControlRecord::Pool { seq, binding } => self.log.push(LogItem::Entry {
                    queue: own,
                    entry: JournalEntry {
                        seq,
                        binding,
                        from_peer: true,
                    },
                }),
            }
        }
    }

    /// Runs worker commands and collects records until nothing moves; returns the network
    /// actions for the driver.
    pub fn pump(&mut self, now: Now) -> Vec<IoCmd> {
        loop {
            let mut moved = false;
            while let Some((w, cmd)) = self.control.poll_worker_cmd() {
                moved = true;
                let w = w % self.engines.len();
                if let Some(reply) = run_worker_cmd(&mut self.engines[w], w, now.wall, cmd) {
                    self.control.handle_worker_reply(now, reply);
                }
            }
            let before = self.log.len();
            self.collect();
            moved |= self.log.len() != before;
            if !moved {
                break;
            }
        }
        let mut io = Vec::new();
        while let Some(c) = self.control.poll_io() {
            io.push(c);
        }
        io
    }

    /// Makes everything written so far durable and tells the control plane (the journal tap).
    pub fn sync(&mut self, now: Now) -> Vec<IoCmd> {
        let own = self.engines.len();
        let mut io = Vec::new();
        loop {
            self.collect();
            if self.synced == self.log.len() {
                break;
            }
            let batch: Vec<LogItem> = self.log[self.synced..].to_vec();
            self.synced = self.log.len();
            for item in &batch {
                if let LogItem::Entry { queue, entry } = item {
                    if *queue < own {
                        self.control.handle_durable_entry(now, entry);
                    }
                    self.durable[*queue] = self.durable[*queue].max(entry.seq);
                }
            }
            for w in 0..own {
                self.control.handle_worker_durable(now, w, self.durable[w]);
            }
            self.control.handle_own_durable(now, self.durable[own]);
            io.extend(self.pump(now));
        }
        io
    }

    /// Timers.
    pub fn handle_timeout(&mut self, now: Now) -> Vec<IoCmd> {
        self.control.handle_timeout(now);
        for e in &mut self.engines {
            e.tick(now.wall);
        }
        self.pump(now)
    }

    /// A clean stop, as the daemon's: SHUTDOWN announced on every relationship and everything
    /// written so far made durable. Close the connections next, sync again, and keep the
    /// journal: [`crash`](Self::crash) with all of [`unsynced`](Self::unsynced).
    pub fn stop(&mut self, now: Now) -> Vec<IoCmd> {
        self.control.shutdown(now);
        let mut io = self.pump(now);
        io.extend(self.sync(now));
        io
    }

    /// The node stops without warning: the journal as it is on disk — everything synced and
    /// the first `torn` records written after the last sync.
    pub fn crash(self, torn: usize) -> Vec<LogItem> {
        let keep = (self.synced + torn).min(self.log.len());
        let mut log = self.log;
        log.truncate(keep);
        log
    }

    /// Records written and not yet durable.
    pub fn unsynced(&self) -> usize {
        self.log.len() - self.synced
    }

    /// Every binding that holds its address: (address, client key, state, lease end).
    pub fn held(&self) -> Vec<(Ipv4Addr, crate::lease::ClientKey, BindingState, u32)> {
        let mut v = Vec::new();
        for e in &self.engines {
            for s in e.shards() {
                for (i, b) in s.bindings() {
                    if s.holds(i) {
                        v.push((b.addr, b.key, b.state, b.lease_end));
                    }
                }
            }
        }
        v.sort_by_key(|(a, ..)| *a);
        v
    }

    /// Every binding, held or not.
    pub fn bindings(&self) -> Vec<Binding> {
        self.engines
            .iter()
            .flat_map(|e| {
                e.shards()
                    .iter()
                    .flat_map(|s| s.bindings().map(|(_, b)| *b))
            })
            .collect()
    }
}

//! The control plane of failover, sans-IO: every relationship's [`Endpoint`], and the glue
//! between them and the lease shards the workers own.
//!
//! The daemon runs it on its control thread and the simulator runs it in-process; both move
//! the same commands and replies, so the simulator exercises the same code.
//!
//! - Binding changes reach the partner only once durable: the journal hands every durable
//!   entry to [`Control::handle_durable_entry`], which queues an update.
//! - A partner's update goes to the worker owning the address (or its client's shard) as
//!   [`WorkerCmd::Apply`]; the verdict comes back as [`WorkerReply::Applied`]; the BNDACK goes
//!   once that worker's journal is durable past the verdict's entry
//!   ([`Control::handle_worker_durable`]).
//! - The primary balances free addresses between the partners by the configured shares, with
//!   compare-and-swap on the shared address slots and its own journal records.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    net::Ipv4Addr,
    sync::Arc,
};

use super::{
    endpoint::{Endpoint, EndpointConfig, Event, Now, Persisted},
    msg::{Msg, PeerBinding},
    state::ServerState,
};
use crate::{
    config::{FailoverMode, FailoverRole, SubnetId},
    engine::{JournalEntry, Plan, peer::PeerOutcome},
    lease::{Binding, BindingState, ClientKey, HwAddr, Slot, SlotId},
};

/// Seconds between pool-balance runs in NORMAL (besides on entering NORMAL and on POOLREQ).
pub const BALANCE_EVERY_MS: u64 = 60_000;
/// Addresses moved per balance run at most.
pub const BALANCE_MAX_MOVES: usize = 65_536;

/// A command for a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkerCmd {
    /// Apply a partner's update (`Engine::apply_peer_vetted`).
    Apply {
        /// Answer with this ticket.
        ticket: u64,
        /// The update.
        binding: PeerBinding,
        /// `Engine::vet_peer` has passed it.
        vetted: bool,
    },
    /// Check a partner's ACTIVE against its client's lease here (`Engine::vet_peer`).
    Vet {
        /// Answer with this ticket.
        ticket: u64,
        /// The update.
        binding: PeerBinding,
    },
    /// Install a partner's ACTIVE binding for a client of this worker's shards
    /// (`Engine::install_peer`).
    Install {
        /// Answer with this ticket.
        ticket: u64,
        /// The update.
        binding: PeerBinding,
    },
    /// The partner answered our update (`Engine::peer_acked`).
    Acked {
        /// What we sent.
        binding: PeerBinding,
        /// Accepted.
        accepted: bool,
    },
    /// List the bindings of relationship `rel` (`Engine::failover_bindings`).
    Dump {
        /// Answer with this ticket.
        ticket: u64,
        /// Relationship.
        rel: usize,
        /// Only those the partner has not acknowledged.
        pending_only: bool,
    },
}

/// A worker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkerReply {
    /// Outcome of an Apply or Install.
    Applied {
        /// The command's ticket.
        ticket: u64,
        /// The worker answering.
        worker: usize,
        /// What happened.
        outcome: PeerOutcome,
    },
    /// Outcome of a Dump.
    Dumped {
        /// The command's ticket.
        ticket: u64,
        /// The bindings.
        bindings: Vec<PeerBinding>,
    },
}

/// Network actions for the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IoCmd {
    /// Open a connection for relationship `rel`.
    Connect {
        /// Relationship.
        rel: usize,
    },
    /// Close connection `link` of relationship `rel` (after sending what is queued).
    Close {
        /// Relationship.
        rel: usize,
        /// Connection.
        link: u64,
    },
    /// Send `msg` on connection `link` of relationship `rel`.
    Send {
        /// Relationship.
        rel: usize,
        /// Connection.
        link: u64,
        /// Message.
        msg: Msg,
    },
}

/// Something the control plane writes to the journal itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlRecord {
    /// A relationship's state (draft-12 §9: persisted with its start time).
    State {
        /// Relationship name.
        name: String,
        /// What to keep.
        persisted: Persisted,
    },
    /// A pool ownership change (FREE/BACKUP) made by balancing; `seq` comes back through
    /// [`Control::handle_own_durable`].
    Pool {
        /// Control-local sequence number.
        seq: u64,
        /// Address-only binding.
        binding: Binding,
    },
}

/// A decided partner update: (ticket, reject reason on the wire).
type TicketVerdict = (u64, Option<u8>);

#[derive(Debug)]
struct Ticket {
    rel: usize,
    link: u64,
    xid: u32,
    index: usize,
    binding: PeerBinding,
    /// `Engine::vet_peer` has passed the update.
    vetted: bool,
}

#[derive(Debug)]
struct DumpJob {
    rel: usize,
    remaining: usize,
    /// The partner asked (UPDREQ/UPDREQALL): UPDDONE follows.
    answer: bool,
}

/// Failover state shown to operators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationshipStatus {
    /// Name.
    pub name: String,
    /// Our role.
    pub role: FailoverRole,
    /// Our state and since when.
    pub state: (ServerState, u32),
    /// The partner's, when known.
    pub partner_state: Option<(ServerState, u32)>,
    /// Connected.
    pub connected: bool,
    /// MCLT in force.
    pub mclt: u32,
    /// Updates (queued, sent unacknowledged).
    pub backlog: (usize, usize),
    /// Partner clock minus ours, seconds: updated from every message, the largest offset seen
    /// over the last minute.
    pub skew: i64,
    /// Counters.
    pub stats: super::endpoint::EndpointStats,
}

/// The control plane.
#[derive(Debug)]
pub struct Control {
    plan: Arc<Plan>,
    vendor: String,
    endpoints: Vec<Endpoint>,
    workers: usize,
    next_ticket: u64,
    tickets: HashMap<u64, Ticket>,
    /// Per worker: journal seq → tickets waiting for it to be durable.
    waiting: Vec<BTreeMap<u64, Vec<TicketVerdict>>>,
    durable: Vec<u64>,
    dumps: HashMap<u64, DumpJob>,
    own_seq: u64,
    own_waiting: BTreeMap<u64, (usize, PeerBinding)>,
    balance_due: Vec<Option<u64>>,
    cmds: VecDeque<(usize, WorkerCmd)>,
    io: VecDeque<IoCmd>,
    records: VecDeque<ControlRecord>,
    notes: VecDeque<String>,
}

impl Control {
    /// A control plane for `plan`'s relationships. `persisted[i]` is what relationship `i`
    /// stored last time (`None`: first run); `workers` is the number of workers.
    pub fn new(
        plan: Arc<Plan>,
        persisted: &[Option<Persisted>],
        workers: usize,
        vendor: &str,
        now: Now,
    ) -> Control {
        let endpoints: Vec<Endpoint> = (0..plan.cfg.failover.len())
            .map(|i| {
                Endpoint::new(
                    endpoint_config(&plan, i, vendor),
                    persisted.get(i).copied().flatten(),
                    now,
                )
            })
            .collect();
        let n = endpoints.len();
        let mut c = Control {
            plan,
            vendor: vendor.to_owned(),
            endpoints,
            workers: workers.max(1),
            next_ticket: 1,
            tickets: HashMap::new(),
            waiting: vec![BTreeMap::new(); workers.max(1)],
            durable: vec![0; workers.max(1)],
            dumps: HashMap::new(),
            own_seq: 0,
            own_waiting: BTreeMap::new(),
            balance_due: vec![None; n],
            cmds: VecDeque::new(),
            io: VecDeque::new(),
            records: VecDeque::new(),
            notes: VecDeque::new(),
        };
        for i in 0..n {
            c.pump(i, now);
            // What the partner had not acknowledged before the restart goes again.
            c.dump(i, true, false);
        }
        c
    }

    /// Live reconfiguration: relationships are matched by name. A kept one (same role and
    /// partner address) keeps its endpoint and state and takes the new settings; a new one
    /// starts in STARTUP (first run: no MCLT wait); a removed one is dropped and the driver
    /// closes its connection (the partner goes COMMUNICATIONS-INTERRUPTED). Returns, for every old relationship index, its new index (`None`:
    /// removed) so that the driver can re-file its connections.
    pub fn reconfigure(&mut self, plan: Arc<Plan>, now: Now) -> Vec<Option<usize>> {
        let old_cfg = self.plan.cfg.failover.clone();
        let mut old_eps: Vec<Option<Endpoint>> = std::mem::take(&mut self.endpoints)
            .into_iter()
            .map(Some)
            .collect();
        let mut map: Vec<Option<usize>> = vec![None; old_cfg.len()];
        let mut eps = Vec::with_capacity(plan.cfg.failover.len());
        for (i, r) in plan.cfg.failover.iter().enumerate() {
            let cfg = endpoint_config(&plan, i, &self.vendor);
            let kept = old_cfg.iter().position(|o| {
                o.name == r.name && o.role == r.role && o.partner == r.partner && o.local == r.local
            });
            let ep = match kept.and_then(|j| old_eps[j].take().map(|e| (j, e))) {
                Some((j, mut e)) => {
                    map[j] = Some(i);
                    e.reconfigure(now, cfg);
                    e
                }
                None => {
                    // A relationship that changed role or addresses starts again from its
                    // stored state; a new one from scratch.
                    let persisted = old_cfg
                        .iter()
                        .position(|o| o.name == r.name)
                        .and_then(|j| old_eps[j].as_ref().map(Endpoint::persisted));
                    self.notes
                        .push_back(format!("failover {}: relationship (re)configured", r.name));
                    Endpoint::new(cfg, persisted, now)
                }
            };
            eps.push(ep);
        }
        // Removed (or replaced) relationships: the driver closes their connections (the map
        // has no new index for them); the partner sees COMMUNICATIONS-INTERRUPTED.
        for (j, e) in old_eps.iter().enumerate() {
            if e.is_some() {
                self.notes.push_back(format!(
                    "failover {}: relationship removed",
                    old_cfg[j].name
                ));
            }
        }
        // Re-file everything keyed by relationship index.
        let remap = |rel: usize| map.get(rel).copied().flatten();
        self.tickets.retain(|_, t| remap(t.rel).is_some());
        for t in self.tickets.values_mut() {
            t.rel = remap(t.rel).unwrap_or(t.rel);
        }
        self.dumps.retain(|_, d| remap(d.rel).is_some());
        for d in self.dumps.values_mut() {
            d.rel = remap(d.rel).unwrap_or(d.rel);
        }
        let own: Vec<(u64, (usize, PeerBinding))> =
            std::mem::take(&mut self.own_waiting).into_iter().collect();
        for (seq, (rel, b)) in own {
            if let Some(n) = remap(rel) {
                self.own_waiting.insert(seq, (n, b));
            }
        }
        let mut due = vec![None; eps.len()];
        for (j, d) in self.balance_due.iter().enumerate() {
            if let Some(n) = remap(j) {
                due[n] = *d;
            }
        }
        self.balance_due = due;
        self.endpoints = eps;
        self.plan = plan;
        for i in 0..self.endpoints.len() {
            let view = &self.plan.views()[i];
            let (state, stos) = self.endpoints[i].state();
            view.set_own_pool_since(self.endpoints[i].own_pool_since());
            view.set_state(state, stos);
            view.set_mclt(self.endpoints[i].mclt());
            view.set_hba(self.endpoints[i].hba());
            self.pump(i, now);
        }
        map
    }

    fn dump(&mut self, rel: usize, pending_only: bool, answer: bool) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.dumps.insert(
            ticket,
            DumpJob {
                rel,
                remaining: self.workers,
                answer,
            },
        );
        for w in 0..self.workers {
            self.cmds.push_back((
                w,
                WorkerCmd::Dump {
                    ticket,
                    rel,
                    pending_only,
                },
            ));
        }
    }

    /// The last time this server is known to have worked before this start (its latest
    /// journal record): a server down longer than MCLT does not serve on its own after
    /// STARTUP (see `Endpoint`).
    pub fn set_last_alive(&mut self, t: u32) {
        for e in &mut self.endpoints {
            e.set_last_alive(t);
        }
    }

    /// Number of relationships.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Relationship `rel`'s endpoint (read-only).
    pub fn endpoint(&self, rel: usize) -> &Endpoint {
        &self.endpoints[rel]
    }

    /// Status of every relationship.
    pub fn status(&self) -> Vec<RelationshipStatus> {
        self.endpoints
            .iter()
            .map(|e| RelationshipStatus {
                name: e.name().to_owned(),
                role: e.role(),
                state: e.state(),
                partner_state: e.partner_state(),
                connected: e.connected(),
                mclt: e.mclt(),
                backlog: e.backlog(),
                skew: e.skew,
                stats: e.stats,
            })
            .collect()
    }

    // ---- outputs ----

    /// Next command for a worker: (worker index, command).
    pub fn poll_worker_cmd(&mut self) -> Option<(usize, WorkerCmd)> {
        self.cmds.pop_front()
    }

    /// Next network action.
    pub fn poll_io(&mut self) -> Option<IoCmd> {
        self.io.pop_front()
    }

    /// Next record to journal.
    pub fn poll_record(&mut self) -> Option<ControlRecord> {
        self.records.pop_front()
    }

    /// Next log line.
    pub fn poll_note(&mut self) -> Option<String> {
        self.notes.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next run.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.endpoints
            .iter()
            .filter_map(Endpoint::poll_timeout)
            .chain(self.balance_due.iter().flatten().copied())
            .min()
    }

    // ---- inputs ----

    /// Runs due timers.
    pub fn handle_timeout(&mut self, now: Now) {
        for i in 0..self.endpoints.len() {
            self.endpoints[i].handle_timeout(now);
            if self.balance_due[i].is_some_and(|t| t <= now.mono_ms) {
                self.balance_due[i] = None;
                self.rebalance(i, now);
            }
            self.pump(i, now);
        }
    }

    /// A connection of relationship `rel` is up; false: close it (one is in use).
    pub fn handle_link_up(&mut self, now: Now, rel: usize, link: u64) -> bool {
        let Some(e) = self.endpoints.get_mut(rel) else {
            return false;
        };
        let ok = e.handle_link_up(now, link);
        self.pump(rel, now);
        ok
    }

    /// A connection of relationship `rel` closed.
    pub fn handle_link_down(&mut self, now: Now, rel: usize, link: u64) {
        let Some(e) = self.endpoints.get_mut(rel) else {
            return;
        };
        e.handle_link_down(now, link);
        // Updates from the lost connection still being applied are carried through (a move
        // across shards half done would leave its address in transit); their verdicts go
        // nowhere (`finish_ticket`).
        self.pump(rel, now);
    }

    /// A message on connection `link` of relationship `rel` failed authentication: DISCONNECT
    /// with `reason` and close. False when the endpoint does not own `link` (the driver closes
    /// it itself and reports [`handle_link_down`](Self::handle_link_down)).
    pub fn refuse_link(&mut self, now: Now, rel: usize, link: u64, reason: u8, text: &str) -> bool {
        let Some(e) = self.endpoints.get_mut(rel) else {
            return false;
        };
        let done = e.refuse_link(now, link, reason, text);
        if done {
            self.pump(rel, now);
        }
        done
    }

    /// A message arrived on connection `link` of relationship `rel`.
    pub fn handle_message(&mut self, now: Now, rel: usize, link: u64, msg: Msg) {
        let Some(e) = self.endpoints.get_mut(rel) else {
            return;
        };
        e.handle_message(now, link, msg);
        self.pump(rel, now);
    }

    /// Operator command: the partner of `rel` is down.
    pub fn partner_down(&mut self, now: Now, rel: usize) -> Result<(), &'static str> {
        let Some(e) = self.endpoints.get_mut(rel) else {
            return Err("no such relationship");
        };
        let r = e.handle_partner_down(now);
        self.pump(rel, now);
        r
    }

    /// Orderly stop: announce SHUTDOWN on every connected relationship, and answer no client
    /// of a shared subnet from now on. The partner may take over on hearing SHUTDOWN
    /// (PARTNER-DOWN), and a lease granted after that, in the moments before the workers stop,
    /// would be one it cannot know of.
    pub fn shutdown(&mut self, now: Now) {
        for i in 0..self.endpoints.len() {
            self.endpoints[i].handle_shutdown(now);
            self.pump(i, now);
            self.plan.views()[i].set_state(ServerState::Shutdown, now.wall);
        }
    }

    /// A worker's journal entry became durable: tell the partner about local changes.
    pub fn handle_durable_entry(&mut self, now: Now, e: &JournalEntry) {
        if e.from_peer || e.binding.state == BindingState::Offered {
            return;
        }
        let Some(rel) = self.relationship_of_subnet(e.binding.subnet) else {
            return;
        };
        let pot = (e.binding.state == BindingState::Active).then_some(e.binding.sent_pot_exp);
        self.endpoints[rel].queue_update(PeerBinding::from_binding(&e.binding, pot));
        self.endpoints[rel].flush(now);
        self.pump(rel, now);
    }

    /// Worker `worker`'s journal is durable up to `seq`: BNDACKs waiting for it may go.
    pub fn handle_worker_durable(&mut self, now: Now, worker: usize, seq: u64) {
        if worker >= self.durable.len() || seq <= self.durable[worker] {
            return;
        }
        self.durable[worker] = seq;
        let ready: Vec<u64> = self.waiting[worker]
            .range(..=seq)
            .map(|(k, _)| *k)
            .collect();
        for k in ready {
            if let Some(list) = self.waiting[worker].remove(&k) {
                for (ticket, reject) in list {
                    self.finish_ticket(now, ticket, reject);
                }
            }
        }
    }

    /// The control plane's own journal record `seq` is durable.
    pub fn handle_own_durable(&mut self, now: Now, seq: u64) {
        let ready: Vec<u64> = self.own_waiting.range(..=seq).map(|(k, _)| *k).collect();
        let mut touched = Vec::new();
        for k in ready {
            if let Some((rel, b)) = self.own_waiting.remove(&k) {
                self.endpoints[rel].queue_update(b);
                touched.push(rel);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for rel in touched {
            self.endpoints[rel].flush(now);
            self.pump(rel, now);
        }
    }

    /// A worker answered.
    pub fn handle_worker_reply(&mut self, now: Now, reply: WorkerReply) {
        match reply {
            WorkerReply::Applied {
                ticket,
                worker,
                outcome,
            } => match outcome {
                PeerOutcome::Done { reject, seq } => {
                    let reject = reject.map(|r| r.wire());
                    match seq {
                        Some(s) if worker < self.durable.len() && s > self.durable[worker] => {
                            self.waiting[worker]
                                .entry(s)
                                .or_default()
                                .push((ticket, reject));
                        }
                        _ => self.finish_ticket(now, ticket, reject),
                    }
                }
                PeerOutcome::Route(shard) => {
                    self.forward(ticket, Some(shard), |binding, vetted| WorkerCmd::Apply {
                        ticket,
                        binding,
                        vetted,
                    });
                }
                PeerOutcome::Vet(shard) => {
                    self.forward(ticket, Some(shard), |binding, _| WorkerCmd::Vet {
                        ticket,
                        binding,
                    });
                }
                PeerOutcome::Vetted => {
                    if let Some(t) = self.tickets.get_mut(&ticket) {
                        t.vetted = true;
                    }
                    self.forward(ticket, None, |binding, vetted| WorkerCmd::Apply {
                        ticket,
                        binding,
                        vetted,
                    });
                }
                PeerOutcome::Install(shard) => {
                    self.forward(ticket, Some(shard), |binding, _| WorkerCmd::Install {
                        ticket,
                        binding,
                    });
                }
            },
            WorkerReply::Dumped { ticket, bindings } => {
                let Some(job) = self.dumps.get_mut(&ticket) else {
                    return;
                };
                let rel = job.rel;
                job.remaining = job.remaining.saturating_sub(1);
                let last = job.remaining == 0;
                let answer = job.answer;
                for b in bindings {
                    self.endpoints[rel].queue_update(b);
                }
                if last {
                    self.dumps.remove(&ticket);
                    if answer {
                        self.endpoints[rel].updates_queued(now);
                    }
                }
                self.endpoints[rel].flush(now);
                self.pump(rel, now);
            }
        }
    }

    /// Sends ticket `ticket`'s update on, as the command `make` builds from it and its vetted
    /// flag, to the worker owning `shard` (`None`: the one holding its address now).
    fn forward(
        &mut self,
        ticket: u64,
        shard: Option<u16>,
        make: impl FnOnce(PeerBinding, bool) -> WorkerCmd,
    ) {
        let Some(t) = self.tickets.get(&ticket) else {
            return;
        };
        let (binding, vetted) = (t.binding.clone(), t.vetted);
        let w = shard.map_or_else(|| self.route(&binding), |s| usize::from(s) % self.workers);
        self.cmds.push_back((w, make(binding, vetted)));
    }

    fn finish_ticket(&mut self, now: Now, ticket: u64, reject: Option<u8>) {
        if let Some(t) = self.tickets.remove(&ticket) {
            let e = &mut self.endpoints[t.rel];
            if reject.is_none() && e.link_id() != Some(t.link) {
                // The connection the update came on is gone, and its verdict with it; the
                // update is applied here all the same, so our own older news of the address
                // is not sent on the next connection (seed 0x74b70bcc645e4b01: the primary
                // applied the secondary's lease of an address as the link failed, then sent
                // the address again as BACKUP; the secondary, whose client had released the
                // lease meanwhile, took it and leased it to another client, while the primary,
                // refusing that RELEASED as older than its transfer, kept the first client's
                // lease and gave it the address again).
                e.supersede(t.binding.addr, t.binding.state, t.binding.client_key());
            }
            e.handle_verdict(now, t.link, t.xid, t.index, reject);
            self.pump(t.rel, now);
        }
    }

    fn relationship_of_subnet(&self, id: SubnetId) -> Option<usize> {
        self.plan
            .subnet_index(id)
            .and_then(|i| self.plan.relationship_of(i))
    }

    /// Which worker should look at an update for `b`: the owner of the address's shard when
    /// a binding holds it, else the owner of the client's shard, else any.
    fn route(&self, b: &PeerBinding) -> usize {
        let space = &self.plan.space;
        if let Some(sid) = space.slot_of(b.addr) {
            if let Slot::Bound { shard, .. } = space.get(sid) {
                return usize::from(shard) % self.workers;
            }
        }
        let key = b.client_key();
        if !key.is_none() {
            return usize::from(self.plan.shard_of(&key)) % self.workers;
        }
        (u32::from(b.addr) as usize) % self.workers
    }

    /// Moves endpoint `rel`'s outputs out and acts on its events.
    fn pump(&mut self, rel: usize, now: Now) {
        loop {
            let mut progress = false;
            while let Some(msg) = self.endpoints[rel].poll_transmit() {
                progress = true;
                if let Some(link) = self.endpoints[rel].link_id() {
                    self.io.push_back(IoCmd::Send { rel, link, msg });
                }
            }
            while let Some(ev) = self.endpoints[rel].poll_event() {
                progress = true;
                self.on_event(rel, ev, now);
            }
            if !progress {
                break;
            }
        }
    }

    fn on_event(&mut self, rel: usize, ev: Event, now: Now) {
        match ev {
            Event::StateChanged { state, stos, from } => {
                let view = &self.plan.views()[rel];
                view.set_own_pool_since(self.endpoints[rel].own_pool_since());
                view.set_state(state, stos);
                view.set_mclt(self.endpoints[rel].mclt());
                view.set_hba(self.endpoints[rel].hba());
                self.notes.push_back(format!(
                    "failover {}: {} -> {}",
                    self.endpoints[rel].name(),
                    from.name(),
                    state.name()
                ));
                let persisted = self.endpoints[rel].persisted();
                self.records.push_back(ControlRecord::State {
                    name: self.endpoints[rel].name().to_owned(),
                    persisted,
                });
                if state == ServerState::Normal
                    && self.endpoints[rel].role() == FailoverRole::Primary
                {
                    self.balance_due[rel] = Some(now.mono_ms + BALANCE_EVERY_MS);
                } else if state != ServerState::Normal {
                    self.balance_due[rel] = None;
                }
            }
            Event::PartnerState { state, .. } => {
                self.notes.push_back(format!(
                    "failover {}: partner is {}",
                    self.endpoints[rel].name(),
                    state.name()
                ));
            }
            Event::Connect => self.io.push_back(IoCmd::Connect { rel }),
            Event::Close { link } => self.io.push_back(IoCmd::Close { rel, link }),
            Event::PeerUpdate {
                link,
                xid,
                index,
                mut binding,
            } => {
                // The partner's times on our clock (draft-12 §5.10), by the offset its
                // messages show. The potential expiration caps our leases, so it is moved by
                // an offset that surely covers the real one (`Endpoint::skew_bound`, an upper
                // bound on the partner's lead, negative when it is surely behind): a slow link
                // makes a partner look behind when it is not, and whole-second clocks make any
                // estimate a second short. It is moved later, too, for a partner surely
                // behind: left on its clock, every wait for its possible extension (PARTNER-
                // DOWN reuse, quarantine) ended early by its lag (seed 0x9a698fa98f8b0284).
                // `POT_SLACK_SECS` in those waits makes up for the bound's excess.
                let skew = self.endpoints[rel].skew;
                let fix = |t: &mut Option<u32>, by: i64| {
                    if let Some(v) = t.as_mut() {
                        if *v != 0 {
                            *v = (i64::from(*v) - by).clamp(0, i64::from(u32::MAX)) as u32;
                        }
                    }
                };
                fix(&mut binding.lease_end, skew);
                fix(&mut binding.pot_exp, self.endpoints[rel].skew_bound());
                fix(&mut binding.stos, skew);
                // Nor is the client's last transaction time: it decides whether the partner's
                // news is later than ours (§7.1.3), and a time stamped before a clock step, by
                // the partner or by us, is off by the step. Moved later, an older RELEASED
                // would end a lease granted after it; moved only earlier, news is at worst
                // taken for older, and a lease is kept (until the client's next transaction).
                // Later only when surely right (`Endpoint::cltt_shift`).
                if let Some(t) = binding.cltt {
                    let by = self.endpoints[rel].cltt_shift(t);
                    fix(&mut binding.cltt, by);
                }
                // Dueling updates (failover-protocol.md §5.6, ISC's rule): an ended lease the
                // partner reports for an address we are giving it as BACKUP, before it has
                // acknowledged that, is older news than our transfer — often its own update
                // re-sent on a new connection after we applied it. Applied now, it would make
                // the address our FREE while the partner takes our BACKUP: both would lease it.
                // The primary's version wins.
                if self.endpoints[rel].role() == FailoverRole::Primary
                    && matches!(
                        binding.state,
                        BindingState::Expired | BindingState::Released | BindingState::Reset
                    )
                    && self.giving_as_backup(rel, binding.addr)
                {
                    let reject = super::RejectReason::OutdatedBindingInfo.wire();
                    self.endpoints[rel].handle_verdict(now, link, xid, index, Some(reject));
                    return;
                }
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                let w = self.route(&binding);
                self.tickets.insert(
                    ticket,
                    Ticket {
                        rel,
                        link,
                        xid,
                        index,
                        binding: binding.clone(),
                        vetted: false,
                    },
                );
                self.cmds.push_back((
                    w,
                    WorkerCmd::Apply {
                        ticket,
                        binding,
                        vetted: false,
                    },
                ));
            }
            Event::Acked { binding, reject } => {
                if let Some(r) = reject {
                    self.notes.push_back(format!(
                        "failover {}: partner rejected the update for {} ({}): reason {r}",
                        self.endpoints[rel].name(),
                        binding.addr,
                        binding.state.name()
                    ));
                }
                let w = self.route(&binding);
                self.cmds.push_back((
                    w,
                    WorkerCmd::Acked {
                        binding,
                        accepted: reject.is_none(),
                    },
                ));
            }
            Event::SendUpdates { all } => self.dump(rel, !all, true),
            Event::PoolRequest => {
                let moved = self.rebalance(rel, now);
                self.endpoints[rel].pool_response(now, moved as u32);
            }
            Event::Rebalance => {
                self.rebalance(rel, now);
            }
            Event::Note(s) => self
                .notes
                .push_back(format!("failover {}: {s}", self.endpoints[rel].name())),
        }
    }

    /// The primary moves free addresses to the partner until it holds its configured share
    /// (Windows' rule: load-balance percentage, or the hot-standby reserve); returns how many
    /// moved. Addresses go from the end of each pool, so that low addresses stay with the
    /// primary and a returning client tends to find its old one.
    pub fn rebalance(&mut self, rel: usize, now: Now) -> usize {
        // Only in NORMAL (ISC's `dobalance` too): in any other state the partner may hold
        // leases on our free addresses that have not reached us yet (a POOLREQ answered in
        // RECOVER-DONE, before the partner's PARTNER-DOWN leases arrived).
        if self.endpoints[rel].role() != FailoverRole::Primary
            || self.endpoints[rel].state().0 != ServerState::Normal
        {
            return 0;
        }
        let r = &self.plan.cfg.failover[rel];
        let partner_percent = match r.mode {
            FailoverMode::LoadBalance { local_percent } => 100 - u64::from(local_percent.min(100)),
            FailoverMode::HotStandby { reserve_percent } => u64::from(reserve_percent.min(100)),
        };
        let space = self.plan.space.clone();
        let mut moved = 0usize;
        let subnets = r.subnets.clone();
        for range in space.pools().copied().collect::<Vec<_>>() {
            if !subnets.contains(&range.subnet) {
                continue;
            }
            let census = space.census(&range);
            let total = census.free + census.partner_free;
            let target = total * partner_percent / 100;
            if census.partner_free >= target {
                continue;
            }
            let mut need = (target - census.partner_free) as usize;
            let mut off = range.len();
            while need > 0 && off > 0 && moved < BALANCE_MAX_MOVES {
                off -= 1;
                let sid = SlotId(range.base + off);
                if space.get(sid) == Slot::Free && space.claim(sid, Slot::Free, Slot::PartnerFree) {
                    let Some(addr) = space.addr(sid) else {
                        continue;
                    };
                    self.own_record(rel, addr, range.subnet, BindingState::Backup, now);
                    need -= 1;
                    moved += 1;
                }
            }
        }
        if moved > 0 {
            self.notes.push_back(format!(
                "failover {}: gave {moved} free address(es) to the partner",
                self.endpoints[rel].name()
            ));
        }
        self.balance_due[rel] = Some(now.mono_ms + BALANCE_EVERY_MS);
        moved
    }

    /// True while our latest update for `addr` in relationship `rel` gives it to the partner
    /// as BACKUP and the partner has not acknowledged it (durable or not yet).
    fn giving_as_backup(&self, rel: usize, addr: Ipv4Addr) -> bool {
        let waiting = self
            .own_waiting
            .values()
            .rev()
            .find(|(r, b)| *r == rel && b.addr == addr)
            .map(|(_, b)| b.state);
        waiting.or_else(|| self.endpoints[rel].unacked_update(addr)) == Some(BindingState::Backup)
    }

    fn own_record(
        &mut self,
        rel: usize,
        addr: Ipv4Addr,
        subnet: SubnetId,
        state: BindingState,
        now: Now,
    ) {
        self.own_seq += 1;
        let mut b = Binding::new(ClientKey::NONE, HwAddr::default(), addr, subnet);
        b.state = state;
        b.stos = now.wall;
        self.records.push_back(ControlRecord::Pool {
            seq: self.own_seq,
            binding: b,
        });
        self.own_waiting.insert(
            self.own_seq,
            (rel, PeerBinding::pool(addr, state, now.wall)),
        );
    }
}

fn endpoint_config(plan: &Plan, i: usize, vendor: &str) -> EndpointConfig {
    let r = &plan.cfg.failover[i];
    EndpointConfig {
        name: r.name.clone(),
        role: r.role,
        mclt: r.mclt_secs,
        hba: super::view::configured_hba(r),
        max_unacked: r.max_unacked_updates,
        receive_timer: r.receive_timer_secs,
        switchover: r.state_switchover_secs,
        partner: r.partner_software,
        vendor: vendor.to_owned(),
        startup_secs: 15,
    }
}

/// Runs one control-plane command on the engine of worker `worker` (the daemon's workers and
/// the simulator both call this); `now` is the wall clock.
pub fn run_worker_cmd(
    engine: &mut crate::engine::Engine,
    worker: usize,
    now: u32,
    cmd: WorkerCmd,
) -> Option<WorkerReply> {
    match cmd {
        WorkerCmd::Apply {
            ticket,
            binding,
            vetted,
        } => Some(WorkerReply::Applied {
            ticket,
            worker,
            outcome: engine.apply_peer_vetted(now, &binding, vetted),
        }),
        WorkerCmd::Vet { ticket, binding } => Some(WorkerReply::Applied {
            ticket,
            worker,
            outcome: engine.vet_peer(now, &binding),
        }),
        WorkerCmd::Install { ticket, binding } => Some(WorkerReply::Applied {
            ticket,
            worker,
            outcome: engine.install_peer(now, &binding),
        }),
        WorkerCmd::Acked { binding, accepted } => {
            engine.peer_acked(now, &binding, accepted);
            None
        }
        WorkerCmd::Dump {
            ticket,
            rel,
            pending_only,
        } => Some(WorkerReply::Dumped {
            ticket,
            bindings: engine.failover_bindings(rel, pending_only),
        }),
    }
}

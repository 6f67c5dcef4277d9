//! The world: two [`Node`]s (the production control plane, engines and journal), the clients,
//! a failover link carried through the real codec, a discrete-event clock, the faults, and the
//! checkers watching from outside.
//!
//! Time is simulated milliseconds from 0; each server sees it through its own wall-clock offset
//! (clock skew) and a monotonic clock. Nothing reads the host's clock, spawns a thread or opens
//! a socket, so a seed replays exactly.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque},
    net::Ipv4Addr,
};

use dhcp_core::{
    config::{Config, PartnerSoftware},
    engine::{MsgType, Outcome, Request},
    failover::{
        ServerState,
        control::IoCmd,
        endpoint::Now,
        node::{LogItem, Node},
        wire::{self, Profile},
    },
    lease::{BindingState, ClientKey},
};

use crate::{
    check::{self, AckSeen, Checker, HeldLease, Hold, Mclt, Table, Uniqueness, Violation},
    client::{Client, ClientMsg, Dest, Effects, Reply},
    rng::Rng,
    scenario::{SECRET, SERVER_ADDRS, Scenario, T0},
    trail::{Note, Trail},
};

/// Monotonic clock of a server at simulated time 0 (any boot time will do).
const BOOT_MS: u64 = 3_600_000;
/// A run that needs more events than this is a simulator bug (a livelock), not a verdict.
const MAX_EVENTS: u64 = 20_000_000;
/// Largest failover message (the length field is 16 bits).
const MAX_MSG: usize = 65_535;
/// Mean time between durability checks of the running servers.
const DURABILITY_EVERY_MS: u64 = 30_000;

/// How to run one seed.
#[derive(Clone, Debug)]
pub struct Options {
    /// The seed.
    pub seed: u64,
    /// Print every event as it happens.
    pub verbose: bool,
    /// Events kept for a failure report.
    pub trail: usize,
    /// Fail on violations explained by a known, unfixed production bug
    /// ([`check::KNOWN_BUGS`]) instead of counting them.
    pub strict: bool,
    /// Allow clock steps beyond CONNECT's tolerance ([`Scenario::with_clocks`]).
    pub wild_clocks: bool,
    /// Half of the crashes are clean stops instead (SHUTDOWN announced, journal synced,
    /// connections closed), as `xdhcpd` does on SIGTERM. Off, a seed runs as it always has.
    pub clean_stops: bool,
}

impl Options {
    /// Defaults for `seed`.
    pub fn new(seed: u64) -> Options {
        Options {
            seed,
            verbose: false,
            trail: 60,
            strict: false,
            wild_clocks: false,
            clean_stops: false,
        }
    }
}

/// A checker that fired.
#[derive(Clone, Debug)]
pub struct Failure {
    /// What it found.
    pub violation: Violation,
    /// When (simulated ms).
    pub at_ms: u64,
    /// The last events before it.
    pub trail: Vec<String>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed's world.
    pub scenario: Scenario,
    /// Run with `--wild-clocks`.
    pub wild_clocks: bool,
    /// Run with `--clean-stops`.
    pub clean_stops: bool,
    /// Events simulated.
    pub events: u64,
    /// Simulated time, ms.
    pub sim_ms: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// ACKs that reached the wire.
    pub acks: u64,
    /// Leases clients took (new or renewed).
    pub leases: u64,
    /// Failover messages delivered.
    pub failover_messages: u64,
    /// When both servers were seen converged.
    pub converged_at_ms: Option<u64>,
    /// Violations explained by a known production bug, by bug (not failures unless strict).
    pub known_bugs: BTreeMap<&'static str, u64>,
    /// The first checker that fired.
    pub failure: Option<Failure>,
}

impl Report {
    /// True when no checker fired.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// The command that replays this seed.
    pub fn replay_command(&self) -> String {
        let mut cmd = replay_command(self.scenario.seed);
        if self.wild_clocks {
            cmd.push_str(" --wild-clocks");
        }
        if self.clean_stops {
            cmd.push_str(" --clean-stops");
        }
        cmd
    }
}

/// The command that replays `seed` with every event printed.
pub fn replay_command(seed: u64) -> String {
    let features = if cfg!(feature = "break-mclt") {
        " --features break-mclt"
    } else {
        ""
    };
    format!("cargo run -p dhcp-sim --release{features} -- --seed {seed:#x} --verbose")
}

/// Runs one seed.
pub fn run(opts: &Options) -> Report {
    let mut sim = Sim::new(opts);
    sim.run();
    sim.report()
}

#[derive(Debug)]
enum Ev {
    Start(usize),
    ClientWake { c: u32, generation: u64 },
    ToServer { node: usize, msg: ClientMsg },
    ToClient { c: u32, reply: Reply },
    NodeTimer { node: usize, epoch: u32 },
    NodeSecond { node: usize, epoch: u32 },
    NodeSync { node: usize, epoch: u32 },
    Connect { from: usize, epoch: u32 },
    Deliver { link: u64, dir: usize },
    Reset,
    Slow,
    Partition,
    PartitionEnd,
    Crash,
    CrashNode(usize),
    Restart(usize),
    OperatorPartnerDown { node: usize, tries: u32 },
    ClockStep,
    DurabilityCheck,
    Heal,
    CheckConvergence,
    End,
}

#[derive(Debug)]
struct Sched {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Sched {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Sched {}
impl PartialOrd for Sched {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Sched {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// An ACK waiting for its journal entry to be durable.
#[derive(Debug)]
struct Held {
    worker: usize,
    seq: u64,
    client: u32,
    reply: Reply,
    ack: AckSeen,
}

#[derive(Debug)]
struct Server {
    cfg: Config,
    node: Option<Node>,
    /// The journal on disk while the server is down.
    journal: Vec<LogItem>,
    /// Bumped at every crash: events of an earlier life are void.
    epoch: u32,
    skew_secs: i64,
    held: Vec<Held>,
    sync_armed: bool,
    timer_at: Option<u64>,
}

/// One TCP connection between the servers. Direction `d` carries what server `d` sends.
#[derive(Debug, Default)]
struct Conn {
    /// Server `d`'s socket is open.
    open: [bool; 2],
    /// Bytes in flight, with the time they can arrive and the sender's clock offset when it
    /// sent them (what the times in them meant), in order.
    queue: [VecDeque<(u64, Vec<u8>, i64)>; 2],
    /// Server `d` closed: the peer sees the end of the stream after the queued bytes.
    fin: [bool; 2],
    /// A delivery event is scheduled for direction `d`.
    armed: [bool; 2],
}

struct Sim {
    sc: Scenario,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Sched>>,
    servers: [Server; 2],
    clients: Vec<Client>,
    client_of: BTreeMap<ClientKey, u32>,
    scheduled_wake: Vec<u64>,
    conns: BTreeMap<u64, Conn>,
    next_link: u64,
    partitioned: bool,
    /// The servers have talked since the last partition ended. With automatic switchover a
    /// new partition waits for it: partitions back to back, shorter than the reconnect
    /// interval apart, would add up to one longer than the switchover interval.
    rejoined: bool,
    slow_until: u64,
    restart_wanted: [bool; 2],
    crash_mid_write: [bool; 2],
    quiet: [bool; 2],
    healed: bool,
    skew_range: (i64, i64),
    rng_net: Rng,
    rng_fault: Rng,
    rng_client: Rng,
    rng_node: Rng,
    /// Clean stop or crash; `None` without `--clean-stops`. A stream of its own, not forked
    /// from the root, so that seeds without the option run as they always have.
    rng_stop: Option<Rng>,
    uniq: Uniqueness,
    mclt: Mclt,
    trail: Trail,
    faults: BTreeMap<&'static str, u64>,
    events: u64,
    acks: u64,
    leases: u64,
    failover_messages: u64,
    converged_at: Option<u64>,
    known_bugs: BTreeMap<&'static str, u64>,
    strict: bool,
    wild_clocks: bool,
    last_divergence: Option<Violation>,
    failure: Option<Failure>,
    done: bool,
    buf: Vec<u8>,
}

impl Sim {
    fn new(opts: &Options) -> Sim {
        let sc = Scenario::with_clocks(opts.seed, opts.wild_clocks);
        let mut root = Rng::new(opts.seed);
        let rng_net = root.fork(1);
        let rng_fault = root.fork(2);
        let mut rng_client = root.fork(3);
        let rng_node = root.fork(4);
        let servers = [0, 1].map(|i| Server {
            cfg: sc.config(i),
            node: None,
            journal: Vec::new(),
            epoch: 0,
            skew_secs: sc.skew_secs[i],
            held: Vec::new(),
            sync_armed: false,
            timer_at: None,
        });
        let clients: Vec<Client> = (0..sc.clients as u32)
            .map(|i| Client::new(i, &mut rng_client))
            .collect();
        let client_of = clients.iter().map(|c| (c.key, c.id)).collect();
        let lo = sc.skew_secs[0].min(sc.skew_secs[1]).min(0);
        let hi = sc.skew_secs[0].max(sc.skew_secs[1]).max(0);
        let mut sim = Sim {
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            servers,
            scheduled_wake: vec![u64::MAX; clients.len()],
            clients,
            client_of,
            conns: BTreeMap::new(),
            next_link: 1,
            partitioned: false,
            rejoined: true,
            slow_until: 0,
            restart_wanted: [false; 2],
            crash_mid_write: [false; 2],
            quiet: [false; 2],
            healed: false,
            skew_range: (lo, hi),
            rng_net,
            rng_fault,
            rng_client,
            rng_node,
            rng_stop: opts
                .clean_stops
                .then(|| Rng::new(opts.seed ^ 0xc1ea_5709_0000_0001)),
            uniq: Uniqueness::new(1000 + 1000 * (hi - lo) as u64),
            mclt: Mclt::new(sc.mclt_secs),
            trail: Trail::new(opts.trail, opts.verbose),
            faults: BTreeMap::new(),
            events: 0,
            acks: 0,
            leases: 0,
            failover_messages: 0,
            converged_at: None,
            known_bugs: BTreeMap::new(),
            strict: opts.strict,
            wild_clocks: opts.wild_clocks,
            last_divergence: None,
            failure: None,
            done: false,
            buf: vec![0; MAX_MSG],
            sc,
        };
        if opts.verbose {
            println!("{}", sim.sc);
        }
        // The primary boots first, the secondary up to 5 s later.
        sim.schedule(0, Ev::Start(0));
        let s = sim.rng_fault.range(0, 5000);
        sim.schedule(s, Ev::Start(1));
        // Most clients arrive in the first two minutes, some later.
        for c in 0..sim.clients.len() {
            let at = if sim.rng_client.chance(0.85) {
                sim.rng_client.range(1000, 120_000)
            } else {
                sim.rng_client.range(120_000, sim.sc.fault_ms)
            };
            sim.clients[c].arrive(at);
            sim.arm_client(c as u32);
        }
        let f = sim.sc.faults.clone();
        sim.again(f.reset_every_ms, Ev::Reset);
        sim.again(f.slow_every_ms, Ev::Slow);
        sim.again(f.partition_every_ms, Ev::Partition);
        sim.again(f.crash_every_ms, Ev::Crash);
        if let Some(step) = sim.sc.clock_step {
            sim.schedule(step.at_ms, Ev::ClockStep);
        }
        sim.schedule(DURABILITY_EVERY_MS, Ev::DurabilityCheck);
        sim.schedule(sim.sc.fault_ms, Ev::Heal);
        sim
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Sched {
            at: at.max(self.now),
            seq: self.seq,
            ev,
        }));
    }

    /// The next strike of a fault that comes every `every` ms on average.
    fn again(&mut self, every: Option<u64>, ev: Ev) {
        if let Some(ms) = every {
            let at = self.now + self.rng_fault.exp_ms(ms);
            self.schedule(at, ev);
        }
    }

    /// Runs `f` on server `k` if it is still in life `epoch`, then carries out what it asks
    /// for. False when the server is gone (crashed since).
    fn on_node(
        &mut self,
        k: usize,
        epoch: u32,
        f: impl FnOnce(&mut Node, Now) -> Vec<IoCmd>,
    ) -> bool {
        if self.servers[k].epoch != epoch {
            return false;
        }
        let now = self.node_now(k);
        let Some(n) = self.servers[k].node.as_mut() else {
            return false;
        };
        let io = f(n, now);
        self.route(k, io);
        self.release_held(k);
        self.after(k);
        true
    }

    /// Tells server `k`, if up, that connection `link` is gone.
    fn link_down(&mut self, k: usize, link: u64) {
        let epoch = self.servers[k].epoch;
        self.on_node(k, epoch, |n, now| {
            n.control.handle_link_down(now, 0, link);
            n.pump(now)
        });
    }

    fn note(&mut self, n: Note) {
        self.trail.push(self.now, n);
    }

    fn world(&mut self, s: String) {
        self.note(Note::World(s));
    }

    fn count(&mut self, kind: &'static str) {
        *self.faults.entry(kind).or_default() += 1;
    }

    fn fail(&mut self, v: Violation) {
        if self.failure.is_none() {
            self.world(format!("CHECKER {} FAILED: {}", v.checker, v.detail));
            self.failure = Some(Failure {
                violation: v,
                at_ms: self.now,
                trail: self.trail.lines(),
            });
        }
    }

    fn faults_on(&self) -> bool {
        !self.healed && !self.quiet.iter().any(|q| *q)
    }

    fn run(&mut self) {
        while let Some(Reverse(s)) = self.queue.pop() {
            if self.failure.is_some() || self.done {
                break;
            }
            self.now = s.at;
            self.events += 1;
            if self.events > MAX_EVENTS {
                self.fail(Violation {
                    checker: Checker::Harness,
                    detail: format!("more than {MAX_EVENTS} events: the simulation livelocked"),
                });
                break;
            }
            self.handle(s.ev);
        }
    }

    fn report(self) -> Report {
        Report {
            wild_clocks: self.wild_clocks,
            clean_stops: self.rng_stop.is_some(),
            scenario: self.sc,
            events: self.events,
            sim_ms: self.now,
            faults: self.faults,
            acks: self.acks,
            leases: self.leases,
            failover_messages: self.failover_messages,
            converged_at_ms: self.converged_at,
            known_bugs: self.known_bugs,
            failure: self.failure,
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Start(k) => self.restart(k),
            Ev::ClientWake { c, generation } => {
                let cl = &mut self.clients[c as usize];
                if cl.wake_gen != generation {
                    return;
                }
                let fx = cl.handle_wake(self.now, &mut self.rng_client);
                self.client_effects(c, fx);
            }
            Ev::ToServer { node, msg } => self.at_server(node, msg),
            Ev::ToClient { c, reply } => {
                let fx =
                    self.clients[c as usize].handle_reply(self.now, &reply, &mut self.rng_client);
                self.client_effects(c, fx);
            }
            Ev::NodeTimer { node, epoch } => {
                if self.servers[node].timer_at == Some(self.now) {
                    self.servers[node].timer_at = None;
                }
                self.on_node(node, epoch, |n, now| {
                    let due = n.control.poll_timeout().is_some_and(|t| t <= now.mono_ms);
                    if due {
                        n.handle_timeout(now)
                    } else {
                        Vec::new()
                    }
                });
            }
            Ev::NodeSecond { node, epoch } => {
                if self.on_node(node, epoch, Node::handle_timeout) {
                    self.schedule(self.now + 1000, Ev::NodeSecond { node, epoch });
                }
            }
            Ev::NodeSync { node, epoch } => {
                if self.servers[node].epoch == epoch {
                    self.servers[node].sync_armed = false;
                }
                self.on_node(node, epoch, Node::sync);
            }
            Ev::Connect { from, epoch } => self.connect(from, epoch),
            Ev::Deliver { link, dir } => self.deliver(link, dir),
            Ev::Reset => {
                if self.healed {
                    return;
                }
                if self.faults_on() && !self.conns.is_empty() {
                    self.count("reset");
                    let links: Vec<u64> = self.conns.keys().copied().collect();
                    for l in links {
                        self.reset(l, "connection reset");
                    }
                }
                self.again(self.sc.faults.reset_every_ms, Ev::Reset);
            }
            Ev::Slow => {
                if self.healed {
                    return;
                }
                if self.faults_on() {
                    self.count("slow");
                    let d = self.rng_fault.range(1000, 20_000);
                    self.slow_until = self.now + d;
                    self.world(format!("the failover link is slow for {} ms", d));
                }
                self.again(self.sc.faults.slow_every_ms, Ev::Slow);
            }
            Ev::Partition => {
                if self.healed {
                    return;
                }
                let may = self.rejoined || self.sc.switchover_secs.is_none();
                if self.faults_on() && !self.partitioned && may {
                    self.count("partition");
                    self.rejoined = false;
                    let d = self
                        .rng_fault
                        .range(1000, self.sc.faults.partition_max_ms.max(1000));
                    self.partitioned = true;
                    self.world(format!("partition for {} ms", d));
                    self.schedule(self.now + d, Ev::PartitionEnd);
                }
                self.again(self.sc.faults.partition_every_ms, Ev::Partition);
            }
            Ev::PartitionEnd => self.end_partition(),
            Ev::Crash => {
                if self.healed {
                    return;
                }
                self.crash();
                self.again(self.sc.faults.crash_every_ms, Ev::Crash);
            }
            Ev::CrashNode(k) => {
                if self.crash_mid_write[k] {
                    self.crash_node(k);
                }
            }
            Ev::Restart(k) => self.restart(k),
            Ev::OperatorPartnerDown { node, tries } => self.operator_partner_down(node, tries),
            Ev::ClockStep => {
                if let Some(s) = self.sc.clock_step {
                    if !self.healed {
                        self.count("clock-step");
                        self.step_clock(s.node, s.by_secs);
                    }
                }
            }
            Ev::DurabilityCheck => {
                for k in 0..2 {
                    self.check_durability(k, "running");
                }
                self.schedule(self.now + DURABILITY_EVERY_MS, Ev::DurabilityCheck);
            }
            Ev::Heal => self.heal(),
            Ev::CheckConvergence => self.check_convergence(),
            Ev::End => {
                if self.converged_at.is_none() {
                    let v = self.last_divergence.take().unwrap_or(Violation {
                        checker: Checker::Convergence,
                        detail: "a server is down at the end".into(),
                    });
                    self.fail(Violation {
                        checker: Checker::Convergence,
                        detail: format!(
                            "not converged {} s after the heal: {}",
                            (self.sc.settle_ms + self.sc.converge_ms) / 1000,
                            v.detail
                        ),
                    });
                }
                self.done = true;
            }
        }
    }

    // ---- servers ----

    fn node_now(&self, k: usize) -> Now {
        let wall = i64::from(T0) + (self.now / 1000) as i64 + self.servers[k].skew_secs;
        Now {
            mono_ms: self.now + BOOT_MS,
            wall: wall as u32,
        }
    }

    /// Bookkeeping after anything ran on server `k`: its log lines, a journal sync when
    /// records wait, its next timer.
    fn after(&mut self, k: usize) {
        let fsync = self.rng_node.range(1, 6);
        let s = &mut self.servers[k];
        let epoch = s.epoch;
        let Some(n) = s.node.as_mut() else { return };
        let mut notes = Vec::new();
        while let Some(t) = n.control.poll_note() {
            notes.push(t);
        }
        let want_sync = n.unsynced() > 0 && !s.sync_armed;
        let timer = n.control.poll_timeout().map(|t| t.saturating_sub(BOOT_MS));
        let through = {
            let e = n.control.endpoint(0);
            e.connected() && e.state().0 != ServerState::Startup
        };
        if want_sync {
            s.sync_armed = true;
        }
        let arm = match (timer, s.timer_at) {
            (Some(t), None) => Some(t),
            (Some(t), Some(old)) if t < old => Some(t),
            _ => None,
        };
        if let Some(t) = arm {
            s.timer_at = Some(t.max(self.now));
        }
        for text in notes {
            self.note(Note::Server { node: k, text });
        }
        if want_sync {
            self.schedule(self.now + fsync, Ev::NodeSync { node: k, epoch });
        }
        if let Some(t) = arm {
            self.schedule(t, Ev::NodeTimer { node: k, epoch });
        }
        if self.quiet[k] && through {
            self.quiet[k] = false;
        }
        if through && !self.partitioned {
            self.rejoined = true;
        }
        if self.crash_mid_write[k] && want_sync {
            self.schedule(self.now, Ev::CrashNode(k));
        }
    }

    fn route(&mut self, k: usize, io: Vec<IoCmd>) {
        for c in io {
            match c {
                IoCmd::Connect { .. } => {
                    let d = self.rng_net.range(1, 3);
                    let epoch = self.servers[k].epoch;
                    self.schedule(self.now + d, Ev::Connect { from: k, epoch });
                }
                IoCmd::Close { link, .. } => self.close(k, link),
                IoCmd::Send { link, msg, .. } => self.send(k, link, msg),
            }
        }
    }

    fn restart(&mut self, k: usize) {
        if self.servers[k].node.is_some() {
            return;
        }
        if self.partitioned {
            // A server comes back where it can reach its partner (see `quiet`).
            self.restart_wanted[k] = true;
            return;
        }
        let now = self.node_now(k);
        let journal = std::mem::take(&mut self.servers[k].journal);
        let records = journal.len();
        let s = &mut self.servers[k];
        let mut node = Node::start(
            s.cfg.clone(),
            vec![SERVER_ADDRS[k]],
            self.sc.workers,
            journal,
            now,
        );
        let io = node.pump(now);
        s.node = Some(node);
        s.timer_at = None;
        let epoch = s.epoch;
        self.quiet[k] = true;
        self.world(format!(
            "node {k} starts from a journal of {records} record(s)"
        ));
        self.route(k, io);
        self.after(k);
        let next = (self.now / 1000 + 1) * 1000;
        self.schedule(next, Ev::NodeSecond { node: k, epoch });
        self.check_durability(k, "after restart");
    }

    fn crash(&mut self) {
        let up: Vec<usize> = (0..2).filter(|k| self.servers[*k].node.is_some()).collect();
        if up.is_empty() {
            return;
        }
        if up.len() == 1 && !self.rng_fault.chance(0.2) {
            return;
        }
        let k = self.rng_fault.pick(&up);
        if self.rng_stop.as_mut().is_some_and(|r| r.chance(0.5)) {
            self.stop_node(k);
        } else if self.rng_fault.chance(0.5) {
            // In the middle of a write: the crash waits for records that are not durable yet,
            // so that a torn tail can reach the disk.
            self.crash_mid_write[k] = true;
        } else {
            self.crash_node(k);
        }
    }

    /// A clean stop, as `xdhcpd` stops on SIGTERM: SHUTDOWN to the partner, the journal
    /// synced (held ACKs whose bindings are durable go out), the connections closed after
    /// what was sent on them.
    fn stop_node(&mut self, k: usize) {
        let epoch = self.servers[k].epoch;
        if !self.on_node(k, epoch, |n, now| n.stop(now)) {
            return;
        }
        let links = self.open_links(k);
        for l in links {
            self.close(k, l);
        }
        // What the closed connections made it record is synced too.
        self.on_node(k, epoch, |n, now| n.sync(now));
        let Some(node) = self.servers[k].node.take() else {
            return;
        };
        let unsynced = node.unsynced();
        let journal = node.crash(unsynced);
        self.count("clean-stop");
        self.world(format!("node {k} stops cleanly"));
        self.went_down(k, journal);
    }

    /// The connections server `k` has open.
    fn open_links(&self, k: usize) -> Vec<u64> {
        self.conns
            .iter()
            .filter(|(_, c)| c.open[k])
            .map(|(l, _)| *l)
            .collect()
    }

    /// Server `k` is down with `journal` on its disk: it restarts later.
    fn went_down(&mut self, k: usize, journal: Vec<LogItem>) {
        self.crash_mid_write[k] = false;
        let s = &mut self.servers[k];
        s.journal = journal;
        s.epoch += 1;
        s.held.clear();
        s.sync_armed = false;
        s.timer_at = None;
        self.quiet[k] = false;
        let down = self
            .rng_fault
            .range(1000, self.sc.faults.down_max_ms.max(1000));
        self.schedule(self.now + down, Ev::Restart(k));
    }

    fn crash_node(&mut self, k: usize) {
        self.crash_mid_write[k] = false;
        let process = self.rng_fault.chance(0.5);
        let Some(node) = self.servers[k].node.take() else {
            return;
        };
        let unsynced = node.unsynced();
        let torn = self.rng_fault.below(unsynced as u64 + 1) as usize;
        let journal = node.crash(torn);
        self.count(if process {
            "crash-process"
        } else {
            "crash-host"
        });
        if torn < unsynced {
            self.count("torn-tail");
        }
        self.world(format!(
            "node {k} crashes ({}); {torn} of {unsynced} unsynced record(s) reach the disk",
            if process {
                "process: its connections reset"
            } else {
                "host: silence"
            }
        ));
        let links = self.open_links(k);
        for l in links {
            if process {
                self.reset(l, "reset by the crash");
            } else if let Some(c) = self.conns.get_mut(&l) {
                c.open[k] = false;
                c.queue[0].clear();
                c.queue[1].clear();
                self.gc_conn(l);
            }
        }
        self.went_down(k, journal);
        if self.rng_fault.chance(self.sc.faults.partner_down) {
            let wait =
                u64::from(self.sc.receive_timer_secs) * 1000 + self.rng_fault.range(1000, 30_000);
            self.schedule(
                self.now + wait,
                Ev::OperatorPartnerDown {
                    node: 1 - k,
                    tries: 0,
                },
            );
        }
    }

    /// The operator tells server `node` that its partner is down — only ever while the
    /// partner really is down (anything else is the operator's mistake, not the protocol's).
    fn operator_partner_down(&mut self, node: usize, tries: u32) {
        if self.healed || self.servers[1 - node].node.is_some() {
            return;
        }
        let now = self.node_now(node);
        let Some(n) = self.servers[node].node.as_mut() else {
            return;
        };
        match n.control.partner_down(now, 0) {
            Ok(()) => {
                let io = n.pump(now);
                self.count("partner-down");
                self.world(format!("operator: node {node}, your partner is down"));
                self.route(node, io);
                self.after(node);
            }
            Err(_) if tries < 30 => self.schedule(
                self.now + 5000,
                Ev::OperatorPartnerDown {
                    node,
                    tries: tries + 1,
                },
            ),
            Err(_) => {}
        }
    }

    fn step_clock(&mut self, k: usize, by: i64) {
        self.servers[k].skew_secs += by;
        let s = self.servers[k].skew_secs;
        self.skew_range = (self.skew_range.0.min(s), self.skew_range.1.max(s));
        let (lo, hi) = self.skew_range;
        self.uniq.set_tolerance(1000 + 1000 * (hi - lo) as u64);
        self.world(format!("node {k}'s clock steps {by:+} s (now {s:+} s)"));
    }

    fn heal(&mut self) {
        self.world("heal: no more faults".into());
        self.healed = true;
        self.slow_until = 0;
        self.crash_mid_write = [false; 2];
        if let Some(s) = self.sc.clock_step {
            if s.by_secs.abs() > 60 && self.now >= s.at_ms {
                self.step_clock(s.node, -s.by_secs);
            }
        }
        self.end_partition();
        for k in 0..2 {
            self.restart(k);
        }
        let t = self.now + self.sc.settle_ms;
        self.schedule(t, Ev::CheckConvergence);
        self.schedule(t + self.sc.converge_ms, Ev::End);
    }

    fn release_held(&mut self, k: usize) {
        let s = &mut self.servers[k];
        let Some(n) = s.node.as_ref() else { return };
        let (ready, wait): (Vec<Held>, Vec<Held>) = std::mem::take(&mut s.held)
            .into_iter()
            .partition(|h| n.is_durable(h.worker, h.seq));
        s.held = wait;
        for h in ready {
            self.check_ack(&h.ack);
            self.reply_to_client(h.client, h.reply);
        }
    }

    /// An ACK leaves server `a.server`: the MCLT checker judges it.
    fn check_ack(&mut self, a: &AckSeen) {
        self.acks += 1;
        let Err(v) = self.mclt.check(a) else { return };
        match self.mclt.known_bug(a) {
            Some(bug) if !self.strict => {
                *self.known_bugs.entry(bug).or_default() += 1;
                self.world(format!("known bug {bug}: {}", v.detail));
            }
            _ => self.fail(v),
        }
    }

    fn reply_to_client(&mut self, c: u32, reply: Reply) {
        if !self.healed && self.rng_net.chance(self.sc.faults.udp_loss) {
            return;
        }
        let d = self.rng_net.range(1, 4);
        self.schedule(self.now + d, Ev::ToClient { c, reply });
    }

    fn at_server(&mut self, k: usize, msg: ClientMsg) {
        let now = self.node_now(k);
        let workers = self.sc.workers;
        let at = self.rng_node.below(workers as u64) as usize;
        let cl = &self.clients[msg.client as usize];
        let Some(n) = self.servers[k].node.as_mut() else {
            return;
        };
        let req = Request {
            msg_type: msg.kind,
            xid: msg.xid,
            broadcast: false,
            secs: msg.secs,
            htype: 1,
            chaddr: &cl.mac,
            ciaddr: msg.ciaddr,
            giaddr: Ipv4Addr::UNSPECIFIED,
            client_id: cl.client_id.as_deref(),
            requested_ip: msg.requested,
            server_id: msg.server_id,
            lease_time: None,
            vendor_class: None,
            relay: None,
            subnet_selection: None,
            iface_addr: SERVER_ADDRS[k],
        };
        let (w, out) = n.handle_request(now, at, &req);
        let state = n.plan().views()[0].state();
        let held_now = match out {
            Outcome::Reply(p) => {
                let lease = p.lease.map(|g| g.lease_secs).unwrap_or(0);
                let reply = Reply {
                    from: k,
                    kind: p.msg_type,
                    xid: msg.xid,
                    yiaddr: p.yiaddr,
                    server_id: p.server_id,
                    lease: p.lease,
                    req_sent_at: msg.sent_at,
                    server_end: now.wall.saturating_add(lease),
                };
                let wait = p
                    .durable_after
                    .filter(|seq| !n.is_durable(w, *seq))
                    .map(|seq| (w, seq));
                Some((reply, wait, lease))
            }
            Outcome::Drop(reason) => {
                self.note(Note::ServerDrop {
                    node: k,
                    client: msg.client,
                    kind: msg.kind,
                    reason,
                });
                None
            }
            Outcome::Forward(_) => None,
        };
        if let Some((reply, wait, lease)) = held_now {
            self.note(Note::ServerReply {
                node: k,
                client: msg.client,
                kind: reply.kind,
                addr: reply.yiaddr,
                lease,
                held: wait.is_some(),
            });
            let ack = AckSeen {
                server: k,
                client: msg.client,
                addr: reply.yiaddr,
                now: now.wall,
                lease_secs: lease,
                state,
                bound: self.mclt.bound(k, reply.yiaddr, now.wall),
                known: self.mclt.known(k, reply.yiaddr),
                client_bound: self.mclt.client_bound(
                    k,
                    &self.clients[msg.client as usize].key,
                    now.wall,
                ),
            };
            let is_lease = reply.kind == MsgType::Ack && reply.lease.is_some();
            match wait {
                Some((worker, seq)) => self.servers[k].held.push(Held {
                    worker,
                    seq,
                    client: msg.client,
                    reply,
                    ack,
                }),
                None => {
                    if is_lease {
                        // An ACK with nothing to wait for (the binding was durable already).
                        self.check_ack(&ack);
                    }
                    self.reply_to_client(msg.client, reply);
                }
            }
        }
        self.after(k);
    }

    fn table(&self, k: usize) -> Option<Table> {
        let n = self.servers[k].node.as_ref()?;
        let st = n.control.status();
        let s = st.first()?;
        Some(Table {
            state: s.state.0,
            backlog: s.backlog,
            active: active_set(n),
        })
    }

    fn check_durability(&mut self, k: usize, when: &str) {
        let Some(n) = self.servers[k].node.as_ref() else {
            return;
        };
        let active = active_set(n);
        let leases: Vec<HeldLease> = self
            .clients
            .iter()
            .filter_map(|c| {
                let l = c.lease?;
                (l.server == k && l.end_ms > self.now).then_some(HeldLease {
                    client: c.id,
                    key: c.key,
                    addr: l.addr,
                    server_end: l.server_end,
                })
            })
            .collect();
        let now = self.node_now(k);
        if let Err(mut v) = check::durability(k, now.wall, &leases, &active, when) {
            for l in leases
                .iter()
                .filter(|l| !active.contains(&(l.addr, l.key)))
                .take(3)
            {
                v.detail
                    .push_str(&format!("\n    {}", self.describe(l.addr, Some(&l.key))));
            }
            self.fail(v);
        }
    }

    /// What the running servers hold for `addr` and for client `key`: for a failure report.
    fn describe(&self, addr: Ipv4Addr, key: Option<&ClientKey>) -> String {
        let mut parts = Vec::new();
        for (k, s) in self.servers.iter().enumerate() {
            let Some(n) = s.node.as_ref() else {
                parts.push(format!("node {k} is down"));
                continue;
            };
            let now = self.node_now(k).wall;
            let mut seen = Vec::new();
            for b in n.bindings() {
                if b.addr == addr || key == Some(&b.key) {
                    seen.push(format!(
                        "{} {} {} end {:+} cltt {:+} acked-pot {:+}",
                        b.addr,
                        b.state.name(),
                        self.name(&b.key),
                        i64::from(b.lease_end) - i64::from(now),
                        i64::from(b.cltt) - i64::from(now),
                        i64::from(b.acked_pot_exp) - i64::from(now),
                    ));
                }
            }
            if seen.is_empty() {
                seen.push("nothing".into());
            }
            parts.push(format!(
                "node {k} (times from its now): {}",
                seen.join("; ")
            ));
        }
        parts.join("\n    ")
    }

    fn name(&self, k: &ClientKey) -> String {
        match self.client_of.get(k) {
            Some(c) => format!("c{c}"),
            None if k.is_none() => "-".into(),
            None => format!("{:?}", k.data()),
        }
    }

    fn check_convergence(&mut self) {
        let tables = [self.table(0), self.table(1)];
        if let [Some(a), Some(b)] = tables {
            let names = |k: &ClientKey| self.name(k);
            match check::convergence(&[a, b], &names) {
                Ok(()) => {
                    self.converged_at = Some(self.now);
                    self.world("converged".into());
                    for k in 0..2 {
                        self.check_durability(k, "at the end");
                    }
                    self.done = true;
                    return;
                }
                Err(v) => self.last_divergence = Some(v),
            }
        }
        self.schedule(self.now + 1000, Ev::CheckConvergence);
    }

    // ---- clients ----

    fn arm_client(&mut self, c: u32) {
        let cl = &self.clients[c as usize];
        if let Some(at) = cl.wake_at {
            if self.scheduled_wake[c as usize] != cl.wake_gen {
                self.scheduled_wake[c as usize] = cl.wake_gen;
                let generation = cl.wake_gen;
                self.schedule(at, Ev::ClientWake { c, generation });
            }
        }
    }

    fn client_effects(&mut self, c: u32, fx: Effects) {
        if let Some((addr, why)) = fx.dropped {
            self.uniq.release(c, addr);
            self.note(Note::Dropped {
                client: c,
                addr,
                why,
            });
        }
        if let Some(l) = fx.acquired {
            self.leases += 1;
            self.note(Note::Leased {
                client: c,
                addr: l.addr,
                secs: (l.end_ms - self.now) / 1000,
                from: l.server,
            });
            let h = Hold {
                client: c,
                end_ms: l.end_ms,
                server: l.server,
                since_ms: self.now,
            };
            if let Err(mut v) = self.uniq.acquire(self.now, l.addr, h) {
                v.detail
                    .push_str(&format!("\n    {}", self.describe(l.addr, None)));
                self.fail(v);
            }
        }
        if fx.left {
            self.world(format!("c{c} leaves the network"));
        }
        for (dest, m) in fx.send {
            let addr = if m.ciaddr.is_unspecified() {
                m.requested.unwrap_or(Ipv4Addr::UNSPECIFIED)
            } else {
                m.ciaddr
            };
            self.note(Note::ClientSent {
                client: c,
                kind: m.kind,
                to: match dest {
                    Dest::Server(k) => Some(k),
                    Dest::Broadcast => None,
                },
                addr,
                xid: m.xid,
            });
            let targets: &[usize] = match dest {
                Dest::Broadcast => &[0, 1],
                Dest::Server(0) => &[0],
                Dest::Server(_) => &[1],
            };
            for &k in targets {
                if !self.healed && self.rng_net.chance(self.sc.faults.udp_loss) {
                    continue;
                }
                let d = self.rng_net.range(1, 4);
                self.schedule(self.now + d, Ev::ToServer { node: k, msg: m });
            }
        }
        self.arm_client(c);
    }

    // ---- the failover link ----

    fn latency(&mut self) -> u64 {
        if self.now < self.slow_until {
            self.rng_net.range(200, 3000)
        } else {
            self.rng_net.range(1, 3)
        }
    }

    fn connect(&mut self, from: usize, epoch: u32) {
        if self.servers[from].epoch != epoch || self.servers[from].node.is_none() {
            return;
        }
        let to = 1 - from;
        if self.partitioned || self.servers[to].node.is_none() {
            self.note(Note::World(format!(
                "node {from} cannot connect to node {to}"
            )));
            return;
        }
        let link = self.next_link;
        self.next_link += 1;
        let mut ok = [false; 2];
        for k in [from, to] {
            let now = self.node_now(k);
            let n = self.servers[k].node.as_mut().expect("up");
            ok[k] = n.control.handle_link_up(now, 0, link);
        }
        if ok == [true, true] {
            self.conns.insert(
                link,
                Conn {
                    open: [true, true],
                    ..Conn::default()
                },
            );
            self.note(Note::Link {
                link,
                what: "connected",
            });
        } else {
            // One side has a connection already: the new one is closed at once.
            self.note(Note::Link {
                link,
                what: "refused: a connection exists",
            });
            for k in [from, to] {
                if ok[k] {
                    let now = self.node_now(k);
                    let n = self.servers[k].node.as_mut().expect("up");
                    n.control.handle_link_down(now, 0, link);
                }
            }
        }
        for k in [from, to] {
            let now = self.node_now(k);
            let n = self.servers[k].node.as_mut().expect("up");
            let io = n.pump(now);
            self.route(k, io);
            self.after(k);
        }
    }

    fn send(&mut self, k: usize, link: u64, msg: dhcp_core::failover::msg::Msg) {
        match self.conns.get(&link) {
            Some(c) if c.open[k] && !c.fin[k] => {}
            _ => return,
        }
        let profile = Profile::new(PartnerSoftware::Xdhcp, Some(SECRET.as_bytes()));
        let n = match wire::encode(&msg, &profile, &mut self.buf) {
            Ok(n) => n,
            Err(e) => {
                self.fail(Violation {
                    checker: Checker::Harness,
                    detail: format!(
                        "node {k} built a message the codec cannot encode: {e:?}: {msg:?}"
                    ),
                });
                return;
            }
        };
        if self.faults_on() && self.rng_net.chance(self.sc.faults.loss) {
            self.count("loss");
            self.reset(link, "a lost segment: TCP gives up on the connection");
            return;
        }
        let lat = self.latency();
        let bytes = self.buf[..n].to_vec();
        let c = self.conns.get_mut(&link).expect("checked");
        let last = c.queue[k].back().map(|q| q.0).unwrap_or(0);
        let at = (self.now + lat).max(last);
        c.queue[k].push_back((at, bytes, self.servers[k].skew_secs));
        if !c.armed[k] {
            c.armed[k] = true;
            self.schedule(at, Ev::Deliver { link, dir: k });
        }
    }

    fn deliver(&mut self, link: u64, k: usize) {
        let j = 1 - k;
        loop {
            let partitioned = self.partitioned;
            let Some(c) = self.conns.get_mut(&link) else {
                return;
            };
            c.armed[k] = false;
            if partitioned {
                // Stalled: TCP keeps retransmitting; the heal rearms.
                return;
            }
            let Some(&(at, _, _)) = c.queue[k].front() else {
                if c.fin[k] && c.open[j] {
                    c.open[j] = false;
                    self.note(Note::Link {
                        link,
                        what: "closed by the peer",
                    });
                    self.link_down(j, link);
                }
                self.gc_conn(link);
                return;
            };
            if at > self.now {
                c.armed[k] = true;
                self.schedule(at, Ev::Deliver { link, dir: k });
                return;
            }
            let (_, bytes, sent_skew) = c.queue[k].pop_front().expect("front");
            if !c.open[j] {
                continue;
            }
            let profile = Profile::new(PartnerSoftware::Xdhcp, Some(SECRET.as_bytes()));
            let msg = match wire::decode(&bytes, &profile) {
                Ok(m) => m,
                Err(e) => {
                    self.fail(Violation {
                        checker: Checker::Harness,
                        detail: format!("node {j} cannot decode what node {k} sent: {e}"),
                    });
                    return;
                }
            };
            self.failover_messages += 1;
            // The sender's times are on its clock as it was when it sent them: a step of its
            // clock while they were in flight does not change what they meant (nor what it
            // knew); the receiver's clock is the one it reads them on now.
            let offset = self.servers[j].skew_secs - sent_skew;
            self.mclt.on_delivered(k, link, &msg, offset);
            self.note(Note::Wire {
                from: k,
                link,
                msg: msg.clone(),
            });
            let epoch = self.servers[j].epoch;
            self.on_node(j, epoch, |n, now| {
                n.control.handle_message(now, 0, link, msg);
                n.pump(now)
            });
        }
    }

    /// Server `k` closes connection `link`: what it sent still arrives, then the end of the
    /// stream; what is on its way to it is discarded.
    fn close(&mut self, k: usize, link: u64) {
        let j = 1 - k;
        let Some(c) = self.conns.get_mut(&link) else {
            return;
        };
        if !c.open[k] {
            return;
        }
        c.open[k] = false;
        c.fin[k] = true;
        c.queue[j].clear();
        let arm = !c.armed[k];
        if arm {
            c.armed[k] = true;
        }
        self.note(Note::Link {
            link,
            what: if k == 0 {
                "node 0 closes it"
            } else {
                "node 1 closes it"
            },
        });
        self.link_down(k, link);
        if arm {
            let lat = self.latency();
            self.schedule(self.now + lat, Ev::Deliver { link, dir: k });
        }
    }

    /// Both ends see the connection fail at once; nothing in flight arrives.
    fn reset(&mut self, link: u64, why: &'static str) {
        let Some(c) = self.conns.remove(&link) else {
            return;
        };
        self.mclt.on_link_gone(link);
        self.note(Note::Link { link, what: why });
        for k in 0..2 {
            if c.open[k] {
                self.link_down(k, link);
            }
        }
    }

    fn gc_conn(&mut self, link: u64) {
        if self
            .conns
            .get(&link)
            .is_some_and(|c| !c.open[0] && !c.open[1])
        {
            self.conns.remove(&link);
            self.mclt.on_link_gone(link);
        }
    }

    fn end_partition(&mut self) {
        if !self.partitioned {
            return;
        }
        self.partitioned = false;
        self.world("the partition heals".into());
        let stalled: Vec<(u64, usize)> = self
            .conns
            .iter()
            .flat_map(|(l, c)| {
                (0..2)
                    .filter(|d| !c.armed[*d] && (!c.queue[*d].is_empty() || c.fin[*d]))
                    .map(move |d| (*l, d))
            })
            .collect();
        for (link, d) in stalled {
            if let Some(c) = self.conns.get_mut(&link) {
                c.armed[d] = true;
            }
            let lat = self.latency();
            self.schedule(self.now + lat, Ev::Deliver { link, dir: d });
        }
        for k in 0..2 {
            if std::mem::take(&mut self.restart_wanted[k]) {
                self.restart(k);
            }
        }
    }
}

/// The ACTIVE bindings of a server: (address, client).
fn active_set(n: &Node) -> BTreeSet<(Ipv4Addr, ClientKey)> {
    n.bindings()
        .into_iter()
        .filter(|b| b.state == BindingState::Active)
        .map(|b| (b.addr, b.key))
        .collect()
}

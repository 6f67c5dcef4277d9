//! The failover control thread: the partner TCP connections (draft-12 on port 647), the
//! timers, and [`Control`] — the sans-IO control plane from `dhcp-core` — in between.
//!
//! - Connections: one listener per local address of the configured relationships; an
//!   accepted connection belongs to the relationship whose partner address it comes from.
//!   Outgoing connections are bound to the relationship's local address (ISC dhcpd matches its
//!   peer by source address). A floating local address (`floating-address`, moved between
//!   the hosts of a cluster) is listened on with `IP_FREEBIND` whether or not this host holds
//!   it yet; any other address that is not on this host is a warning, and its listener is
//!   tried again every [`LISTEN_RETRY`]. Connection tasks only move bytes; this thread cuts
//!   the stream into messages and decodes them with the relationship's profile (dialect,
//!   digest), so a reconfiguration never leaves a task with stale settings.
//! - Workers: the control plane's commands for a worker go through an unbounded channel and a
//!   wake-up of the worker's eventfd; the answers come back through this thread's channel.
//! - Journal: the writer's tap sends every durable batch here — local binding changes become
//!   BNDUPDs, and durable sequence numbers release BNDACKs. The control plane's own records
//!   (state changes, pool balancing) go to its own journal queue.
//! - Reconfiguration: the thread takes part in the reload rendezvous (see `server::reload`),
//!   so the control plane never acts on an address space that is being replaced.

use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4},
    os::fd::AsRawFd as _,
    sync::{
        Arc, Barrier, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use dhcp_core::{
    engine::{JournalEntry, Plan},
    failover::{
        control::{Control, ControlRecord, IoCmd, RelationshipStatus, WorkerCmd, WorkerReply},
        endpoint::{Now, Persisted},
        wire::{self, Profile},
    },
    journal::StateRecord,
    lease::BindingState,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{mpsc, oneshot},
    task::AbortHandle,
};

use crate::{
    journal::{DurableTap, StateJournal, WorkerJournal},
    notify::Notify,
    server::wall_now,
};

/// Largest failover message (draft-12: 2048 bytes; a little room for digests).
const MAX_MESSAGE: usize = 4096;
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Status snapshot refresh.
const STATUS_EVERY: Duration = Duration::from_millis(200);
/// How often a listener that could not be bound is tried again.
const LISTEN_RETRY: Duration = Duration::from_secs(2);

/// A reload rendezvous: every worker, the control thread and the reloading thread meet at
/// `paused`; the reloader carries the address space over; at `switch` everyone takes the new
/// plan; at `resumed` all have it.
pub struct Rendezvous {
    /// All parties stopped.
    pub paused: Barrier,
    /// The new plan is ready.
    pub switch: Barrier,
    /// Everyone switched.
    pub resumed: Barrier,
    /// The new plan.
    pub plan: Arc<Plan>,
}

/// What reaches the control thread.
pub enum CtlMsg {
    /// A worker's answer.
    Reply(WorkerReply),
    /// The journal made these entries durable; `durable[q]` is queue `q`'s durable sequence.
    Durable {
        /// `(queue, entry)` in write order.
        entries: Vec<(usize, JournalEntry)>,
        /// Durable sequence per queue.
        durable: Vec<u64>,
    },
    /// Operator: the partner of relationship `name` is down.
    PartnerDown {
        /// Relationship name.
        name: String,
        /// The answer.
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Take part in a reload; answer with what changed.
    Reload {
        /// The rendezvous.
        rv: Arc<Rendezvous>,
        /// Log lines about relationships (listeners that could not be bound, …).
        done: oneshot::Sender<Vec<String>>,
    },
    /// Operator: copy the scopes of relationship `name` (the `[[subnet]]` tables in `toml`)
    /// to the partner; the answer is the partner's verdict.
    Replicate {
        /// Relationship name.
        name: String,
        /// The scope tables.
        toml: String,
        /// The answer.
        done: oneshot::Sender<Result<String, String>>,
    },
    /// Where scopes replicated to us are applied (a thread that can reload).
    SetApplier(std::sync::mpsc::Sender<ApplyJob>),
    /// The applier's verdict on scopes replicated to us.
    Applied {
        /// Connection the scopes came on.
        link: u64,
        /// Transfer id.
        xfer: u32,
        /// Verdict.
        result: Result<String, String>,
    },
    /// Stop: announce it to the partners and end.
    Shutdown,
}

/// Scopes a partner replicated to us, to be written into the configuration file and applied.
#[derive(Debug)]
pub struct ApplyJob {
    /// Relationship they came through.
    pub relationship: String,
    /// The `[[subnet]]` tables.
    pub toml: String,
    /// Connection and transfer id, for the answer.
    pub link: u64,
    /// Transfer id.
    pub xfer: u32,
}

/// Payload bytes per replication chunk (a message stays well under 2048 bytes).
const CHUNK: usize = 1700;
/// How long the partner may take to apply replicated scopes.
const REPLICATE_TIMEOUT: Duration = Duration::from_secs(30);

/// A replication we started, waiting for the partner's verdict.
struct Outgoing {
    done: oneshot::Sender<Result<String, String>>,
    deadline: Instant,
}

/// Chunks of a replication coming in.
struct Incoming {
    rel: usize,
    chunks: Vec<Option<Vec<u8>>>,
}

/// The worker's end of the control plane.
pub struct WorkerLink {
    /// Commands for this worker.
    pub cmds: crossbeam::channel::Receiver<WorkerCmd>,
    /// Where answers go.
    pub replies: mpsc::UnboundedSender<CtlMsg>,
}

/// Network events from the connection tasks.
enum NetEv {
    /// An outgoing connection for relationship `name` is up.
    Connected {
        name: String,
        link: u64,
        writer: mpsc::UnboundedSender<Vec<u8>>,
        peer: SocketAddr,
    },
    /// An incoming connection from `peer` to `local` is up.
    Accepted {
        link: u64,
        writer: mpsc::UnboundedSender<Vec<u8>>,
        peer: SocketAddr,
        local: SocketAddr,
    },
    Down {
        link: u64,
        why: String,
    },
    Bytes {
        link: u64,
        bytes: Vec<u8>,
    },
    ConnectFailed {
        name: String,
        why: String,
    },
}

/// Counters of the control thread.
#[derive(Clone, Debug, Default)]
pub struct PlaneCounters {
    /// Messages received that did not decode.
    pub bad_messages: u64,
    /// Last decode error.
    pub last_bad: Option<String>,
    /// Connections refused: from an address that is no relationship's partner.
    pub unknown_peers: u64,
    /// Connections accepted or opened.
    pub connections: u64,
}

/// What operators see.
#[derive(Clone, Debug, Default)]
pub struct PlaneStatus {
    /// Every relationship.
    pub relationships: Vec<RelationshipStatus>,
    /// Counters.
    pub counters: PlaneCounters,
}

/// A running control thread.
pub struct FailoverPlane {
    thread: Option<thread::JoinHandle<()>>,
    tx: mpsc::UnboundedSender<CtlMsg>,
    /// Refreshed five times a second.
    pub status: Arc<Mutex<PlaneStatus>>,
}

/// The journal tap for the control plane: forwards durable batches while any relationship is
/// configured (`active`): local changes (the control plane picks those of shared subnets)
/// and every queue's durable mark.
pub fn tap(
    tx: mpsc::UnboundedSender<CtlMsg>,
    active: Arc<AtomicBool>,
    workers: usize,
) -> DurableTap {
    Box::new(move |entries, durable| {
        if !active.load(Ordering::Acquire) {
            return;
        }
        let keep: Vec<(usize, JournalEntry)> = entries
            .iter()
            .filter(|(q, e)| {
                *q < workers && !e.from_peer && e.binding.state != BindingState::Offered
            })
            .copied()
            .collect();
        let _ = tx.send(CtlMsg::Durable {
            entries: keep,
            durable: durable.to_vec(),
        });
    })
}

/// Channels between the workers and the control thread, made before either starts.
pub struct Wiring {
    /// To the control thread.
    pub tx: mpsc::UnboundedSender<CtlMsg>,
    rx: mpsc::UnboundedReceiver<CtlMsg>,
    cmd_tx: Vec<crossbeam::channel::Sender<WorkerCmd>>,
    /// One per worker, handed to the workers.
    pub links: Vec<Option<WorkerLink>>,
    /// True while any relationship is configured (read by the journal tap).
    pub active: Arc<AtomicBool>,
}

impl Wiring {
    /// Channels for `workers` workers.
    pub fn new(workers: usize) -> Wiring {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut cmd_tx = Vec::new();
        let mut links = Vec::new();
        for _ in 0..workers {
            let (ctx, crx) = crossbeam::channel::unbounded();
            cmd_tx.push(ctx);
            links.push(Some(WorkerLink {
                cmds: crx,
                replies: tx.clone(),
            }));
        }
        Wiring {
            tx,
            rx,
            cmd_tx,
            links,
            active: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Everything the control thread needs.
pub struct PlaneConfig {
    /// The compiled configuration.
    pub plan: Arc<Plan>,
    /// Persisted state per relationship (index as in the config).
    pub persisted: Vec<Option<Persisted>>,
    /// Workers' eventfds (woken after a command).
    pub notifies: Arc<Vec<Notify>>,
    /// The control plane's own journal queue.
    pub journal: WorkerJournal,
    /// Where state records go.
    pub states: StateJournal,
    /// When this server last worked before this start (its latest journal record).
    pub last_alive: u32,
}

impl FailoverPlane {
    /// Starts the control thread: binds the listeners first, so that an address in use is an
    /// error at start-up rather than a log line later. An address that is not on this host
    /// is not an error: a cluster manager or a slow interface may bring it later, so it is a
    /// warning and its listener is tried again.
    pub fn start(cfg: PlaneConfig, wiring: Wiring) -> anyhow::Result<FailoverPlane> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the failover control runtime")?;
        let mut listeners = Vec::new();
        let mut unbound = Vec::new();
        {
            let _g = rt.enter();
            for (addr, name, floating) in local_addresses(&cfg.plan) {
                match listen(addr, floating) {
                    Ok(l) => {
                        tracing::info!(relationship = %name, local = %addr, floating, "failover listener bound");
                        listeners.push((addr, l));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                        tracing::warn!(relationship = %name, local = %addr, "{}", absent(&name, addr));
                        unbound.push(addr);
                    }
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("failover {name}: listening on local-address {addr}")
                        });
                    }
                }
            }
        }
        let status = Arc::new(Mutex::new(PlaneStatus::default()));
        let tx = wiring.tx.clone();
        let st = status.clone();
        let thread = thread::Builder::new()
            .name("xdhcp-failover".into())
            .spawn(move || {
                rt.block_on(async move {
                    let mut plane = Plane::new(cfg, wiring, st);
                    plane.run(listeners, unbound).await;
                })
            })
            .context("starting the failover control thread")?;
        Ok(FailoverPlane {
            thread: Some(thread),
            tx,
            status,
        })
    }

    /// The channel into the control thread.
    pub fn sender(&self) -> mpsc::UnboundedSender<CtlMsg> {
        self.tx.clone()
    }

    /// Operator command: relationship `name`'s partner is down.
    pub fn partner_down(&self, name: &str) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(CtlMsg::PartnerDown {
                name: name.to_owned(),
                done,
            })
            .map_err(|_| "the failover control thread is not running".to_owned())?;
        rx.blocking_recv()
            .map_err(|_| "the failover control thread did not answer".to_owned())?
    }

    /// Announces the shutdown to every partner and stops the thread (at most a second).
    pub fn shutdown(mut self) {
        let _ = self.tx.send(CtlMsg::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// True while the thread runs.
    pub fn running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for FailoverPlane {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.tx.send(CtlMsg::Shutdown);
            let _ = t.join();
        }
    }
}

/// Distinct local addresses of `plan`'s relationships, with the first relationship's name
/// and whether the address floats (the configuration makes relationships sharing an address
/// agree).
fn local_addresses(plan: &Plan) -> Vec<(SocketAddrV4, String, bool)> {
    let mut v: Vec<(SocketAddrV4, String, bool)> = Vec::new();
    for r in &plan.cfg.failover {
        if !v.iter().any(|(a, ..)| *a == r.local) {
            v.push((r.local, r.name.clone(), r.floating_address));
        }
    }
    v
}

/// A listener on `addr`; with `floating`, also when this host does not hold `addr` (yet):
/// `IP_FREEBIND` lets the bind succeed, and connections arrive once the address is here.
fn listen(addr: SocketAddrV4, floating: bool) -> std::io::Result<TcpListener> {
    let s = TcpSocket::new_v4()?;
    s.set_reuseaddr(true)?;
    if floating {
        crate::io::udp::set_int(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_FREEBIND,
            1,
            "IP_FREEBIND",
        )?;
    }
    s.bind(SocketAddr::V4(addr))?;
    s.listen(16)
}

/// The warning for a local address that is not on this host.
fn absent(name: &str, addr: SocketAddrV4) -> String {
    format!(
        "failover {name}: local-address {addr} is not on this host; listening is tried again \
         every {LISTEN_RETRY:?} (floating-address = true if a cluster manager moves it here)"
    )
}

struct Link {
    /// Relationship index, `None` until an accepted connection is filed.
    rel: usize,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes received and not yet a whole message.
    buf: Vec<u8>,
}

struct Plane {
    plan: Arc<Plan>,
    control: Control,
    rx: mpsc::UnboundedReceiver<CtlMsg>,
    cmd_tx: Vec<crossbeam::channel::Sender<WorkerCmd>>,
    notifies: Arc<Vec<Notify>>,
    journal: WorkerJournal,
    states: StateJournal,
    active: Arc<AtomicBool>,
    /// Own records the journal queue could not take yet.
    backlog: VecDeque<JournalEntry>,
    net_tx: mpsc::UnboundedSender<NetEv>,
    net_rx: mpsc::UnboundedReceiver<NetEv>,
    links: HashMap<u64, Link>,
    next_link: Arc<std::sync::atomic::AtomicU64>,
    /// Relationships with a connection attempt under way, by name.
    connecting: HashMap<String, bool>,
    listeners: HashMap<SocketAddrV4, AbortHandle>,
    /// Local addresses whose listener could not be bound, tried again at `next_listen`.
    unbound: Vec<SocketAddrV4>,
    next_listen: Instant,
    applier: Option<std::sync::mpsc::Sender<ApplyJob>>,
    outgoing: HashMap<u32, Outgoing>,
    incoming: HashMap<(u64, u32), Incoming>,
    next_xfer: u32,
    base: Instant,
    status: Arc<Mutex<PlaneStatus>>,
    counters: PlaneCounters,
    last_status: Instant,
}

fn profile(plan: &Plan, rel: usize) -> Option<Profile<'_>> {
    let r = plan.cfg.failover.get(rel)?;
    Some(Profile::new(r.partner_software, r.shared_secret.as_deref()))
}

impl Plane {
    fn new(cfg: PlaneConfig, wiring: Wiring, status: Arc<Mutex<PlaneStatus>>) -> Plane {
        let base = Instant::now();
        let now = Now {
            mono_ms: 1,
            wall: wall_now(),
        };
        let workers = wiring.cmd_tx.len();
        let vendor = format!("xdhcp {}", env!("CARGO_PKG_VERSION"));
        let mut control = Control::new(cfg.plan.clone(), &cfg.persisted, workers, &vendor, now);
        control.set_last_alive(cfg.last_alive);
        let (net_tx, net_rx) = mpsc::unbounded_channel();
        wiring
            .active
            .store(!cfg.plan.cfg.failover.is_empty(), Ordering::Release);
        Plane {
            plan: cfg.plan,
            control,
            rx: wiring.rx,
            cmd_tx: wiring.cmd_tx,
            notifies: cfg.notifies,
            journal: cfg.journal,
            states: cfg.states,
            active: wiring.active,
            backlog: VecDeque::new(),
            net_tx,
            net_rx,
            links: HashMap::new(),
            next_link: Arc::new(std::sync::atomic::AtomicU64::new(1)),
            connecting: HashMap::new(),
            listeners: HashMap::new(),
            unbound: Vec::new(),
            next_listen: Instant::now() + LISTEN_RETRY,
            applier: None,
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
            next_xfer: 1,
            base,
            status,
            counters: PlaneCounters::default(),
            last_status: Instant::now() - STATUS_EVERY,
        }
    }

    fn now(&self) -> Now {
        Now {
            mono_ms: self.base.elapsed().as_millis() as u64 + 1,
            wall: wall_now(),
        }
    }

    fn add_listener(&mut self, addr: SocketAddrV4, l: TcpListener) {
        let tx = self.net_tx.clone();
        let next = self.next_link.clone();
        let h = tokio::spawn(accept_loop(l, next, tx));
        self.listeners.insert(addr, h.abort_handle());
    }

    /// Tries the listeners in `unbound` again; those that still fail stay there.
    fn retry_listeners(&mut self) {
        self.next_listen = Instant::now() + LISTEN_RETRY;
        let wanted = local_addresses(&self.plan);
        for a in std::mem::take(&mut self.unbound) {
            let Some((_, name, floating)) = wanted.iter().find(|(w, ..)| *w == a) else {
                continue;
            };
            match listen(a, *floating) {
                Ok(l) => {
                    tracing::info!(relationship = %name, local = %a, floating, "failover listener bound");
                    self.add_listener(a, l);
                }
                Err(e) => {
                    tracing::debug!(relationship = %name, local = %a, error = %e, "failover listener still not bound");
                    self.unbound.push(a);
                }
            }
        }
    }

    async fn run(
        &mut self,
        listeners: Vec<(SocketAddrV4, TcpListener)>,
        unbound: Vec<SocketAddrV4>,
    ) {
        for (a, l) in listeners {
            self.add_listener(a, l);
        }
        self.unbound = unbound;
        self.drive();
        loop {
            if !self.unbound.is_empty() && Instant::now() >= self.next_listen {
                self.retry_listeners();
            }
            let next = self.control.poll_timeout();
            let sleep = match next {
                Some(t) => Duration::from_millis(t.saturating_sub(self.now().mono_ms)),
                None => Duration::from_secs(1),
            }
            .min(if self.backlog.is_empty() {
                STATUS_EVERY
            } else {
                Duration::from_millis(5)
            });
            tokio::select! {
                m = self.rx.recv() => {
                    match m {
                        None | Some(CtlMsg::Shutdown) => {
                            self.stop().await;
                            return;
                        }
                        Some(m) => self.on_ctl(m),
                    }
                    // Take whatever else is waiting before driving.
                    while let Ok(m) = self.rx.try_recv() {
                        if matches!(m, CtlMsg::Shutdown) {
                            self.stop().await;
                            return;
                        }
                        self.on_ctl(m);
                    }
                }
                Some(ev) = self.net_rx.recv() => self.on_net(ev),
                _ = tokio::time::sleep(sleep) => {
                    let now = self.now();
                    if next.is_some_and(|t| t <= now.mono_ms) {
                        self.control.handle_timeout(now);
                    }
                }
            }
            self.drive();
        }
    }

    async fn stop(&mut self) {
        let now = self.now();
        self.control.shutdown(now);
        self.drive();
        // Let the writers flush DISCONNECT/STATE.
        self.links.clear();
        tokio::time::sleep(Duration::from_millis(200)).await;
        while let Some(r) = self.control.poll_record() {
            self.record(r);
        }
        self.flush_backlog();
    }

    fn on_ctl(&mut self, m: CtlMsg) {
        let now = self.now();
        match m {
            CtlMsg::Reply(r) => self.control.handle_worker_reply(now, r),
            CtlMsg::Durable { entries, durable } => {
                for (_, e) in &entries {
                    self.control.handle_durable_entry(now, e);
                }
                let own = self.cmd_tx.len();
                for (q, &seq) in durable.iter().enumerate() {
                    if seq == 0 {
                        continue;
                    }
                    if q < own {
                        self.control.handle_worker_durable(now, q, seq);
                    } else if q == own {
                        self.control.handle_own_durable(now, seq);
                    }
                }
            }
            CtlMsg::PartnerDown { name, done } => {
                let r = match self.plan.cfg.failover.iter().position(|r| r.name == name) {
                    None => Err(format!("no failover relationship named {name:?}")),
                    Some(rel) => self.control.partner_down(now, rel).map_err(str::to_owned),
                };
                if r.is_ok() {
                    tracing::warn!(relationship = %name, "operator: partner down");
                }
                let _ = done.send(r);
            }
            CtlMsg::Reload { rv, done } => {
                // Bring the control plane's own outputs to the journal first, then stop with
                // everyone else while the address space is carried over.
                self.drive();
                rv.paused.wait();
                rv.switch.wait();
                let notes = self.reconfigure(rv.plan.clone(), now);
                rv.resumed.wait();
                let _ = done.send(notes);
            }
            CtlMsg::Replicate { name, toml, done } => self.replicate(now, &name, &toml, done),
            CtlMsg::SetApplier(tx) => self.applier = Some(tx),
            CtlMsg::Applied { link, xfer, result } => {
                let mut payload = xfer.to_be_bytes().to_vec();
                let (ok, text) = match &result {
                    Ok(t) => (1u8, t.as_str()),
                    Err(t) => (0u8, t.as_str()),
                };
                payload.push(ok);
                let text = text.as_bytes();
                payload.extend_from_slice(&text[..text.len().min(CHUNK)]);
                self.send_vendor(
                    now,
                    link,
                    dhcp_core::failover::msg::VENDOR_SCOPES_RESULT,
                    payload,
                );
            }
            CtlMsg::Shutdown => {}
        }
    }

    /// Starts a scope replication toward relationship `name`'s partner.
    fn replicate(
        &mut self,
        now: Now,
        name: &str,
        toml: &str,
        done: oneshot::Sender<Result<String, String>>,
    ) {
        let Some(rel) = self.plan.cfg.failover.iter().position(|r| r.name == name) else {
            let _ = done.send(Err(format!("no failover relationship named {name:?}")));
            return;
        };
        let r = &self.plan.cfg.failover[rel];
        if r.partner_software != dhcp_core::config::PartnerSoftware::Xdhcp {
            let _ = done.send(Err(format!(
                "failover {name}: scope replication works between xdhcp servers; the partner is {:?}",
                r.partner_software
            )));
            return;
        }
        if r.shared_secret.is_none() {
            let _ = done.send(Err(format!(
                "failover {name}: scope replication is authenticated by the relationship's shared-secret, and none is set"
            )));
            return;
        }
        let ep = self.control.endpoint(rel);
        let link = ep
            .link_id()
            .filter(|_| ep.connected() && ep.partner_state().is_some());
        let Some(link) = link.filter(|l| self.links.contains_key(l)) else {
            let _ = done.send(Err(format!(
                "failover {name}: the partner {} is unreachable (state {}, not connected); nothing was replicated",
                r.partner,
                ep.state().0.name()
            )));
            return;
        };
        let xfer = self.next_xfer;
        self.next_xfer = self.next_xfer.wrapping_add(1);
        let bytes = toml.as_bytes();
        let total = bytes.len().div_ceil(CHUNK).max(1);
        if total > usize::from(u16::MAX) {
            let _ = done.send(Err(format!(
                "failover {name}: the scopes are too large to replicate"
            )));
            return;
        }
        for (seq, part) in bytes.chunks(CHUNK).enumerate() {
            let mut payload = xfer.to_be_bytes().to_vec();
            payload.extend_from_slice(&(seq as u16).to_be_bytes());
            payload.extend_from_slice(&(total as u16).to_be_bytes());
            payload.extend_from_slice(part);
            self.send_vendor(now, link, dhcp_core::failover::msg::VENDOR_SCOPES, payload);
        }
        tracing::info!(relationship = %name, bytes = bytes.len(), chunks = total, "scopes sent to the partner");
        self.outgoing.insert(
            xfer,
            Outgoing {
                done,
                deadline: Instant::now() + REPLICATE_TIMEOUT,
            },
        );
    }

    fn send_vendor(&mut self, now: Now, link: u64, code: u8, payload: Vec<u8>) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let Some(p) = profile(&self.plan, l.rel) else {
            return;
        };
        let msg = dhcp_core::failover::msg::Msg {
            time: now.wall,
            xid: 0x8000_0000 | self.next_xfer,
            body: dhcp_core::failover::msg::Body::Vendor { code, payload },
        };
        let mut buf = vec![0u8; MAX_MESSAGE];
        match wire::encode(&msg, &p, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                let _ = l.writer.send(buf);
            }
            Err(e) => tracing::error!(error = ?e, "xdhcp-private message could not be encoded"),
        }
    }

    /// An xdhcp-private message from the partner.
    fn on_vendor(&mut self, link: u64, rel: usize, code: u8, payload: &[u8]) {
        use dhcp_core::failover::msg::{VENDOR_SCOPES, VENDOR_SCOPES_RESULT};
        let name = self.rel_name(rel).to_owned();
        let Some(xfer) = payload
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return;
        };
        match code {
            VENDOR_SCOPES => {
                let (Some(seq), Some(total)) = (
                    payload
                        .get(4..6)
                        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))),
                    payload
                        .get(6..8)
                        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))),
                ) else {
                    return;
                };
                if total == 0 || seq >= total || total > 4096 {
                    return;
                }
                let inc = self
                    .incoming
                    .entry((link, xfer))
                    .or_insert_with(|| Incoming {
                        rel,
                        chunks: vec![None; total],
                    });
                if inc.chunks.len() != total || inc.rel != rel {
                    self.incoming.remove(&(link, xfer));
                    return;
                }
                inc.chunks[seq] = Some(payload[8..].to_vec());
                if inc.chunks.iter().all(Option::is_some) {
                    let Some(inc) = self.incoming.remove(&(link, xfer)) else {
                        return;
                    };
                    let bytes: Vec<u8> = inc.chunks.into_iter().flatten().flatten().collect();
                    let verdict = match (String::from_utf8(bytes), &self.applier) {
                        (Err(_), _) => Some(Err("replicated scopes are not UTF-8 text".to_owned())),
                        (_, None) => {
                            Some(Err("this server cannot apply replicated scopes".to_owned()))
                        }
                        (Ok(toml), Some(tx)) => {
                            tracing::warn!(relationship = %name, bytes = toml.len(), "scopes replicated from the partner: applying");
                            let job = ApplyJob {
                                relationship: name.clone(),
                                toml,
                                link,
                                xfer,
                            };
                            tx.send(job)
                                .err()
                                .map(|_| Err("the applier is not running".to_owned()))
                        }
                    };
                    if let Some(v) = verdict {
                        self.on_ctl(CtlMsg::Applied {
                            link,
                            xfer,
                            result: v,
                        });
                    }
                }
            }
            VENDOR_SCOPES_RESULT => {
                let ok = payload.get(4).copied() == Some(1);
                let text =
                    String::from_utf8_lossy(payload.get(5..).unwrap_or_default()).into_owned();
                if let Some(o) = self.outgoing.remove(&xfer) {
                    tracing::info!(relationship = %name, ok, result = %text, "partner answered the scope replication");
                    let _ = o.done.send(if ok {
                        Ok(text)
                    } else {
                        Err(format!("the partner refused: {text}"))
                    });
                }
            }
            _ => {}
        }
    }

    /// Replications whose partner never answered.
    fn expire_replications(&mut self) {
        let now = Instant::now();
        let late: Vec<u32> = self
            .outgoing
            .iter()
            .filter(|(_, o)| o.deadline <= now)
            .map(|(x, _)| *x)
            .collect();
        for x in late {
            if let Some(o) = self.outgoing.remove(&x) {
                let _ = o.done.send(Err(format!(
                    "the partner did not answer within {REPLICATE_TIMEOUT:?}; its configuration may or may not have changed"
                )));
            }
        }
    }

    /// Takes the new plan: relationships re-filed by name, connections of removed ones
    /// closed, listeners for new local addresses bound (or tried again later) and those no
    /// longer used closed.
    fn reconfigure(&mut self, plan: Arc<Plan>, now: Now) -> Vec<String> {
        let mut notes = Vec::new();
        let map = self.control.reconfigure(plan.clone(), now);
        let mut gone = Vec::new();
        for (id, l) in self.links.iter_mut() {
            match map.get(l.rel).copied().flatten() {
                Some(n) => l.rel = n,
                None => gone.push(*id),
            }
        }
        for id in gone {
            self.links.remove(&id);
        }
        self.plan = plan;
        self.active
            .store(!self.plan.cfg.failover.is_empty(), Ordering::Release);
        let wanted = local_addresses(&self.plan);
        self.unbound.retain(|a| wanted.iter().any(|(w, ..)| w == a));
        let stale: Vec<SocketAddrV4> = self
            .listeners
            .keys()
            .filter(|a| !wanted.iter().any(|(w, ..)| w == *a))
            .copied()
            .collect();
        for a in stale {
            if let Some(h) = self.listeners.remove(&a) {
                h.abort();
                notes.push(format!("failover listener on {a} closed"));
            }
        }
        for (a, name, floating) in wanted {
            if self.listeners.contains_key(&a) {
                continue;
            }
            match listen(a, floating) {
                Ok(l) => {
                    self.unbound.retain(|u| *u != a);
                    self.add_listener(a, l);
                    notes.push(format!("failover {name}: listening on {a}"));
                }
                Err(e) => {
                    if !self.unbound.contains(&a) {
                        self.unbound.push(a);
                    }
                    notes.push(if e.kind() == std::io::ErrorKind::AddrNotAvailable {
                        absent(&name, a)
                    } else {
                        format!(
                            "failover {name}: cannot listen on local-address {a}: {e}; tried \
                             again every {LISTEN_RETRY:?}, and outgoing connections are still tried"
                        )
                    });
                }
            }
        }
        self.connecting
            .retain(|n, _| self.plan.cfg.failover.iter().any(|r| &r.name == n));
        notes
    }

    fn rel_name(&self, rel: usize) -> &str {
        self.plan
            .cfg
            .failover
            .get(rel)
            .map(|r| r.name.as_str())
            .unwrap_or("?")
    }

    fn link_up(
        &mut self,
        rel: usize,
        link: u64,
        writer: mpsc::UnboundedSender<Vec<u8>>,
        peer: SocketAddr,
    ) {
        let now = self.now();
        self.counters.connections += 1;
        self.links.insert(
            link,
            Link {
                rel,
                writer,
                buf: Vec::new(),
            },
        );
        if self.control.handle_link_up(now, rel, link) {
            tracing::info!(relationship = %self.rel_name(rel), %peer, link, "failover connection up");
        } else {
            // One is already in use (both sides connected at once).
            tracing::debug!(relationship = %self.rel_name(rel), %peer, link, "second failover connection closed");
            self.links.remove(&link);
        }
    }

    fn on_net(&mut self, ev: NetEv) {
        let now = self.now();
        match ev {
            NetEv::Connected {
                name,
                link,
                writer,
                peer,
            } => {
                self.connecting.remove(&name);
                match self.plan.cfg.failover.iter().position(|r| r.name == name) {
                    Some(rel) => self.link_up(rel, link, writer, peer),
                    None => {
                        tracing::debug!(relationship = %name, "connection for a removed relationship closed")
                    }
                }
            }
            NetEv::Accepted {
                link,
                writer,
                peer,
                local,
            } => {
                let rel = self.plan.cfg.failover.iter().position(|r| {
                    IpAddr::V4(*r.partner.ip()) == peer.ip()
                        && IpAddr::V4(*r.local.ip()) == local.ip()
                });
                match rel {
                    Some(rel) => self.link_up(rel, link, writer, peer),
                    None => {
                        self.counters.unknown_peers += 1;
                        tracing::warn!(%peer, %local, "failover connection from an address that is no partner: closed");
                    }
                }
            }
            NetEv::Down { link, why } => {
                if let Some(l) = self.links.remove(&link) {
                    tracing::info!(relationship = %self.rel_name(l.rel), link, reason = %why, "failover connection down");
                    self.control.handle_link_down(now, l.rel, link);
                }
            }
            NetEv::Bytes { link, bytes } => self.on_bytes(link, bytes, now),
            NetEv::ConnectFailed { name, why } => {
                self.connecting.remove(&name);
                tracing::debug!(relationship = %name, error = %why, "failover connect failed");
            }
        }
    }

    /// Cuts whole messages out of a connection's byte stream and hands them on.
    fn on_bytes(&mut self, link: u64, bytes: Vec<u8>, now: Now) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        l.buf.extend_from_slice(&bytes);
        let rel = l.rel;
        loop {
            let Some(l) = self.links.get_mut(&link) else {
                return;
            };
            let n = match dhcp_wire::failover::frame_len(&l.buf) {
                Ok(Some(n)) if l.buf.len() >= n => n,
                Ok(_) => return,
                Err(e) => {
                    // The stream cannot be re-synchronised (draft-12 §6.1): close it.
                    tracing::warn!(relationship = %self.rel_name(rel), error = %e, "failover stream framing broken: closing");
                    self.links.remove(&link);
                    self.control.handle_link_down(now, rel, link);
                    return;
                }
            };
            let frame: Vec<u8> = l.buf.drain(..n).collect();
            let Some(p) = profile(&self.plan, rel) else {
                return;
            };
            match wire::decode(&frame, &p) {
                Ok(dhcp_core::failover::msg::Msg {
                    body: dhcp_core::failover::msg::Body::Vendor { code, payload },
                    ..
                }) => self.on_vendor(link, rel, code, &payload),
                Ok(msg) => self.control.handle_message(now, rel, link, msg),
                Err(e) => {
                    self.counters.bad_messages += 1;
                    let why = format!(
                        "{e} ({n} bytes, {:?} dialect)",
                        self.plan.cfg.failover[rel].partner_software
                    );
                    self.counters.last_bad = Some(why.clone());
                    use dhcp_core::failover::endpoint::reason;
                    use dhcp_wire::failover::FailoverError as F;
                    let refusal = match e {
                        wire::DecodeError::Wire(F::DigestMissing) => Some(reason::DIGEST_MISSING),
                        wire::DecodeError::Wire(F::DigestMismatch) => Some(reason::DIGEST_FAILED),
                        wire::DecodeError::Wire(F::DigestNotConfigured) => {
                            Some(reason::DIGEST_NOT_CONFIGURED)
                        }
                        _ => None,
                    };
                    let Some(code) = refusal else {
                        tracing::warn!(relationship = %self.rel_name(rel), error = %why, "failover message dropped");
                        continue;
                    };
                    // An unauthenticated partner: refuse the connection (draft-12 §8 — reasons
                    // 13, 20, 21; Windows closes it too). It reconnects with back-off.
                    tracing::warn!(relationship = %self.rel_name(rel), error = %why, reason = code, "failover message failed authentication: connection refused and closed");
                    if !self
                        .control
                        .refuse_link(now, rel, link, code, &e.to_string())
                    {
                        self.links.remove(&link);
                        self.control.handle_link_down(now, rel, link);
                    }
                    return;
                }
            }
        }
    }

    fn record(&mut self, r: ControlRecord) {
        match r {
            ControlRecord::State { name, persisted } => {
                self.states.push(StateRecord { name, persisted });
            }
            ControlRecord::Pool { seq, binding } => self.backlog.push_back(JournalEntry {
                seq,
                binding,
                from_peer: true,
            }),
        }
    }

    fn flush_backlog(&mut self) {
        while let Some(e) = self.backlog.front() {
            if !self.journal.push(*e) {
                break;
            }
            self.backlog.pop_front();
        }
    }

    /// Moves the control plane's outputs to workers, journal, network and log.
    fn drive(&mut self) {
        if !self.outgoing.is_empty() {
            self.expire_replications();
        }
        let now = self.now();
        for _ in 0..64 {
            let mut moved = false;
            let mut woke = vec![false; self.cmd_tx.len()];
            while let Some((w, cmd)) = self.control.poll_worker_cmd() {
                moved = true;
                let w = w % self.cmd_tx.len().max(1);
                if self.cmd_tx[w].send(cmd).is_ok() {
                    woke[w] = true;
                }
            }
            for (w, wake) in woke.into_iter().enumerate() {
                if wake {
                    self.notifies[w].wake();
                }
            }
            while let Some(r) = self.control.poll_record() {
                moved = true;
                self.record(r);
            }
            self.flush_backlog();
            while let Some(io) = self.control.poll_io() {
                moved = true;
                self.io(io, now);
            }
            while let Some(n) = self.control.poll_note() {
                moved = true;
                tracing::info!("{n}");
            }
            if !moved {
                break;
            }
        }
        if self.last_status.elapsed() >= STATUS_EVERY {
            self.last_status = Instant::now();
            if let Ok(mut s) = self.status.lock() {
                s.relationships = self.control.status();
                s.counters = self.counters.clone();
            }
        }
    }

    fn io(&mut self, io: IoCmd, now: Now) {
        match io {
            IoCmd::Connect { rel } => {
                let Some(r) = self.plan.cfg.failover.get(rel) else {
                    return;
                };
                if self.connecting.contains_key(&r.name) {
                    return;
                }
                self.connecting.insert(r.name.clone(), true);
                let link = self
                    .next_link
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let tx = self.net_tx.clone();
                let (local, partner, name) = (*r.local.ip(), r.partner, r.name.clone());
                tokio::spawn(async move {
                    match connect(local, partner).await {
                        Ok(s) => start_link(s, link, tx, |writer, peer, _| NetEv::Connected {
                            name,
                            link,
                            writer,
                            peer,
                        }),
                        Err(e) => {
                            // The endpoint's reconnect timer asks again.
                            let _ = tx.send(NetEv::ConnectFailed {
                                name,
                                why: format!("connect to {partner} from {local}: {e}"),
                            });
                        }
                    }
                });
            }
            IoCmd::Close { rel, link } => {
                if self.links.remove(&link).is_some() {
                    self.control.handle_link_down(now, rel, link);
                }
            }
            IoCmd::Send { link, msg, .. } => {
                let Some(l) = self.links.get(&link) else {
                    return;
                };
                let Some(p) = profile(&self.plan, l.rel) else {
                    return;
                };
                let mut buf = vec![0u8; MAX_MESSAGE];
                match wire::encode(&msg, &p, &mut buf) {
                    Ok(n) => {
                        buf.truncate(n);
                        let _ = l.writer.send(buf);
                    }
                    Err(e) => {
                        tracing::error!(relationship = %self.rel_name(l.rel), error = ?e, message = msg.body.name(), "failover message could not be encoded");
                    }
                }
            }
        }
    }
}

async fn connect(local: Ipv4Addr, partner: SocketAddrV4) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.set_reuseaddr(true)?;
    s.bind(SocketAddr::V4(SocketAddrV4::new(local, 0)))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, s.connect(SocketAddr::V4(partner))).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        )),
    }
}

async fn accept_loop(
    l: TcpListener,
    next: Arc<std::sync::atomic::AtomicU64>,
    tx: mpsc::UnboundedSender<NetEv>,
) {
    loop {
        let (s, _) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "failover accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let link = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        start_link(s, link, tx.clone(), |writer, peer, local| NetEv::Accepted {
            link,
            writer,
            peer,
            local,
        });
    }
}

/// Starts the reader and writer tasks of a connection and announces it with `up`.
fn start_link(
    s: TcpStream,
    link: u64,
    tx: mpsc::UnboundedSender<NetEv>,
    up: impl FnOnce(mpsc::UnboundedSender<Vec<u8>>, SocketAddr, SocketAddr) -> NetEv,
) {
    let _ = s.set_nodelay(true);
    let (peer, local) = match (s.peer_addr(), s.local_addr()) {
        (Ok(p), Ok(l)) => (p, l),
        (Err(e), _) | (_, Err(e)) => {
            let _ = tx.send(NetEv::Down {
                link,
                why: format!("connection {link}: {e}"),
            });
            return;
        }
    };
    let (mut rd, mut wr) = s.into_split();
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
    let _ = tx.send(up(wtx, peer, local));
    let txw = tx.clone();
    tokio::spawn(async move {
        while let Some(buf) = wrx.recv().await {
            if let Err(e) = wr.write_all(&buf).await {
                let _ = txw.send(NetEv::Down {
                    link,
                    why: format!("write: {e}"),
                });
                return;
            }
        }
        // The control plane dropped the link: what was queued is written; close.
        let _ = wr.shutdown().await;
    });
    tokio::spawn(async move {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            match rd.read(&mut chunk).await {
                Ok(0) => {
                    let _ = tx.send(NetEv::Down {
                        link,
                        why: "closed by the partner".into(),
                    });
                    return;
                }
                Ok(n) => {
                    if tx
                        .send(NetEv::Bytes {
                            link,
                            bytes: chunk[..n].to_vec(),
                        })
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(NetEv::Down {
                        link,
                        why: format!("read: {e}"),
                    });
                    return;
                }
            }
        }
    });
}

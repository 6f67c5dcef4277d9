//! The failover control thread: the partner TCP connections (draft-12 on port 647), the
//! timers, and [`Control`] — the sans-IO control plane from `dhcp-core` — in between.
//!
//! - Connections: one listener per local address of a relationship; an accepted connection
//!   belongs to the relationship whose partner address it comes from. Outgoing connections are
//!   bound to the relationship's local address (ISC dhcpd matches its peer by source address).
//!   A reader task cuts the byte stream into messages (2-byte length) and decodes them with
//!   the relationship's profile (dialect, digest); a writer task sends what the control plane
//!   encodes.
//! - Workers: the control plane's commands for a worker go through an unbounded channel and a
//!   wake-up of the worker's eventfd; the answers come back through this thread's channel.
//! - Journal: the writer's tap sends every durable batch here — local binding changes become
//!   BNDUPDs, and durable sequence numbers release BNDACKs. The control plane's own records
//!   (state changes, pool balancing) go to its own journal queue.

use std::{
    collections::{HashMap, VecDeque},
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use dhcp_core::{
    config::PartnerSoftware,
    engine::{JournalEntry, Plan},
    failover::{
        control::{Control, ControlRecord, IoCmd, RelationshipStatus, WorkerCmd, WorkerReply},
        endpoint::{Now, Persisted},
        msg::Msg,
        wire::{self, Profile},
    },
    journal::StateRecord,
    lease::BindingState,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{mpsc, oneshot},
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
    /// Operator: the partner of relationship `rel` is down.
    PartnerDown {
        /// Relationship name.
        name: String,
        /// The answer.
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Stop: announce it to the partners and end.
    Shutdown,
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
    Up {
        rel: usize,
        link: u64,
        writer: mpsc::UnboundedSender<Vec<u8>>,
        peer: SocketAddr,
    },
    Down {
        rel: usize,
        link: u64,
        why: String,
    },
    Msg {
        rel: usize,
        link: u64,
        msg: Msg,
    },
    BadMessage {
        rel: usize,
        why: String,
    },
    ConnectFailed {
        rel: usize,
        why: String,
    },
}

/// Counters of the control thread.
#[derive(Clone, Debug, Default)]
pub struct PlaneCounters {
    /// Messages received that did not decode (by reason text, last one kept).
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

/// The journal tap for the control plane: forwards durable batches that matter (local changes
/// of failover subnets, and every queue's durable mark).
pub fn tap(tx: mpsc::UnboundedSender<CtlMsg>, plan: Arc<Plan>, workers: usize) -> DurableTap {
    Box::new(move |entries, durable| {
        let keep: Vec<(usize, JournalEntry)> = entries
            .iter()
            .filter(|(q, e)| {
                *q < workers
                    && !e.from_peer
                    && e.binding.state != BindingState::Offered
                    && plan
                        .subnet_index(e.binding.subnet)
                        .and_then(|i| plan.relationship_of(i))
                        .is_some()
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
}

impl FailoverPlane {
    /// Starts the control thread: binds the listeners first, so that an address in use is an
    /// error at start-up rather than a log line later.
    pub fn start(cfg: PlaneConfig, wiring: Wiring) -> anyhow::Result<FailoverPlane> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the failover control runtime")?;
        let mut listeners = Vec::new();
        {
            let _g = rt.enter();
            let mut seen: Vec<SocketAddrV4> = Vec::new();
            for r in &cfg.plan.cfg.failover {
                if seen.contains(&r.local) {
                    continue;
                }
                seen.push(r.local);
                let l = listen(r.local).with_context(|| {
                    format!(
                        "failover {}: listening on local-address {} (is the address configured on an interface?)",
                        r.name, r.local
                    )
                })?;
                tracing::info!(relationship = %r.name, local = %r.local, "failover listener bound");
                listeners.push(l);
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
                    plane.run(listeners).await;
                })
            })
            .context("starting the failover control thread")?;
        Ok(FailoverPlane {
            thread: Some(thread),
            tx,
            status,
        })
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
}

impl Drop for FailoverPlane {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.tx.send(CtlMsg::Shutdown);
            let _ = t.join();
        }
    }
}

fn listen(addr: SocketAddrV4) -> std::io::Result<TcpListener> {
    let s = TcpSocket::new_v4()?;
    s.set_reuseaddr(true)?;
    s.bind(SocketAddr::V4(addr))?;
    s.listen(16)
}

struct Link {
    rel: usize,
    writer: mpsc::UnboundedSender<Vec<u8>>,
}

struct Plane {
    plan: Arc<Plan>,
    control: Control,
    rx: mpsc::UnboundedReceiver<CtlMsg>,
    cmd_tx: Vec<crossbeam::channel::Sender<WorkerCmd>>,
    notifies: Arc<Vec<Notify>>,
    journal: WorkerJournal,
    states: StateJournal,
    /// Own records the journal queue could not take yet.
    backlog: VecDeque<JournalEntry>,
    net_tx: mpsc::UnboundedSender<NetEv>,
    net_rx: mpsc::UnboundedReceiver<NetEv>,
    links: HashMap<u64, Link>,
    next_link: u64,
    connecting: Vec<bool>,
    base: Instant,
    status: Arc<Mutex<PlaneStatus>>,
    counters: PlaneCounters,
    last_status: Instant,
}

fn profile(plan: &Plan, rel: usize) -> Profile<'_> {
    let r = &plan.cfg.failover[rel];
    Profile::new(r.partner_software, r.shared_secret.as_deref())
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
        let control = Control::new(cfg.plan.clone(), &cfg.persisted, workers, &vendor, now);
        let (net_tx, net_rx) = mpsc::unbounded_channel();
        let n = cfg.plan.cfg.failover.len();
        Plane {
            plan: cfg.plan,
            control,
            rx: wiring.rx,
            cmd_tx: wiring.cmd_tx,
            notifies: cfg.notifies,
            journal: cfg.journal,
            states: cfg.states,
            backlog: VecDeque::new(),
            net_tx,
            net_rx,
            links: HashMap::new(),
            next_link: 1,
            connecting: vec![false; n],
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

    async fn run(&mut self, listeners: Vec<TcpListener>) {
        for l in listeners {
            let tx = self.net_tx.clone();
            let plan = self.plan.clone();
            tokio::spawn(accept_loop(l, plan, tx));
        }
        self.drive();
        loop {
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
            CtlMsg::Shutdown => {}
        }
    }

    fn on_net(&mut self, ev: NetEv) {
        let now = self.now();
        match ev {
            NetEv::Up {
                rel,
                link,
                writer,
                peer,
            } => {
                self.connecting[rel] = false;
                self.counters.connections += 1;
                self.links.insert(link, Link { rel, writer });
                if self.control.handle_link_up(now, rel, link) {
                    tracing::info!(relationship = %self.plan.cfg.failover[rel].name, %peer, link, "failover connection up");
                } else {
                    // One is already in use (both sides connected at once).
                    tracing::debug!(relationship = %self.plan.cfg.failover[rel].name, %peer, link, "second failover connection closed");
                    self.links.remove(&link);
                }
            }
            NetEv::Down { rel, link, why } => {
                if self.links.remove(&link).is_some() {
                    tracing::info!(relationship = %self.plan.cfg.failover[rel].name, link, reason = %why, "failover connection down");
                    self.control.handle_link_down(now, rel, link);
                }
            }
            NetEv::Msg { rel, link, msg } => {
                if self.links.contains_key(&link) {
                    self.control.handle_message(now, rel, link, msg);
                }
            }
            NetEv::ConnectFailed { rel, why } => {
                self.connecting[rel] = false;
                tracing::debug!(relationship = %self.plan.cfg.failover[rel].name, error = %why, "failover connect failed");
            }
            NetEv::BadMessage { rel, why } => {
                self.counters.bad_messages += 1;
                tracing::warn!(relationship = %self.plan.cfg.failover[rel].name, error = %why, "failover message dropped");
                self.counters.last_bad = Some(why);
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
                if self.connecting[rel] {
                    return;
                }
                self.connecting[rel] = true;
                let r = &self.plan.cfg.failover[rel];
                let link = self.next_link;
                self.next_link += 1;
                let tx = self.net_tx.clone();
                let plan = self.plan.clone();
                let (local, partner) = (*r.local.ip(), r.partner);
                tokio::spawn(async move {
                    match connect(local, partner).await {
                        Ok(s) => start_link(s, rel, link, plan, tx),
                        Err(e) => {
                            // The endpoint's reconnect timer asks again.
                            let _ = tx.send(NetEv::ConnectFailed {
                                rel,
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
            IoCmd::Send { rel, link, msg } => {
                let Some(l) = self.links.get(&link) else {
                    return;
                };
                let mut buf = vec![0u8; MAX_MESSAGE];
                match wire::encode(&msg, &profile(&self.plan, l.rel), &mut buf) {
                    Ok(n) => {
                        buf.truncate(n);
                        let _ = l.writer.send(buf);
                    }
                    Err(e) => {
                        tracing::error!(relationship = %self.plan.cfg.failover[rel].name, error = ?e, message = msg.body.name(), "failover message could not be encoded");
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

async fn accept_loop(l: TcpListener, plan: Arc<Plan>, tx: mpsc::UnboundedSender<NetEv>) {
    // Accepted links count down from the top so they never collide with outgoing ones.
    let mut next = u64::MAX / 2;
    loop {
        let (s, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "failover accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let local = s.local_addr().ok();
        let rel = plan.cfg.failover.iter().position(|r| {
            SocketAddr::V4(SocketAddrV4::new(*r.partner.ip(), peer.port())) == peer
                && local.is_none_or(|a| a.ip() == std::net::IpAddr::V4(*r.local.ip()))
        });
        let Some(rel) = rel else {
            tracing::warn!(%peer, "failover connection from an address that is no partner: closed");
            continue;
        };
        next += 1;
        start_link(s, rel, next, plan.clone(), tx.clone());
    }
}

fn start_link(
    s: TcpStream,
    rel: usize,
    link: u64,
    plan: Arc<Plan>,
    tx: mpsc::UnboundedSender<NetEv>,
) {
    let _ = s.set_nodelay(true);
    let peer = match s.peer_addr() {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(NetEv::ConnectFailed {
                rel,
                why: format!("connection {link}: {e}"),
            });
            return;
        }
    };
    let (mut rd, mut wr) = s.into_split();
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
    let _ = tx.send(NetEv::Up {
        rel,
        link,
        writer: wtx,
        peer,
    });
    let txw = tx.clone();
    tokio::spawn(async move {
        while let Some(buf) = wrx.recv().await {
            if let Err(e) = wr.write_all(&buf).await {
                let _ = txw.send(NetEv::Down {
                    rel,
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
        let software = plan.cfg.failover[rel].partner_software;
        let mut buf: Vec<u8> = Vec::with_capacity(MAX_MESSAGE * 2);
        let mut chunk = [0u8; 8192];
        loop {
            // Whole messages first.
            loop {
                match dhcp_wire::failover::frame_len(&buf) {
                    Ok(Some(n)) if buf.len() >= n => {
                        let p = profile(&plan, rel);
                        match wire::decode(&buf[..n], &p) {
                            Ok(msg) => {
                                let _ = tx.send(NetEv::Msg { rel, link, msg });
                            }
                            Err(e) => {
                                let _ = tx.send(NetEv::BadMessage {
                                    rel,
                                    why: format!("{e} ({} bytes{})", n, isc_hint(software)),
                                });
                            }
                        }
                        buf.drain(..n);
                    }
                    Ok(_) => break,
                    Err(e) => {
                        // The stream cannot be re-synchronised (draft-12 §6.1): close.
                        let _ = tx.send(NetEv::Down {
                            rel,
                            link,
                            why: format!("bad framing: {e}"),
                        });
                        return;
                    }
                }
            }
            match rd.read(&mut chunk).await {
                Ok(0) => {
                    let _ = tx.send(NetEv::Down {
                        rel,
                        link,
                        why: "closed by the partner".into(),
                    });
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    let _ = tx.send(NetEv::Down {
                        rel,
                        link,
                        why: format!("read: {e}"),
                    });
                    return;
                }
            }
        }
    });
}

fn isc_hint(s: PartnerSoftware) -> &'static str {
    match s {
        PartnerSoftware::IscDhcpd => ", from ISC dhcpd",
        PartnerSoftware::Windows => ", from Windows",
        PartnerSoftware::Xdhcp => "",
    }
}

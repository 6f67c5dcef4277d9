//! The running server: start-up (journal recovery, lease shards, packet I/O), the worker
//! threads, and a clean shutdown that flushes the journal and detaches XDP.
//!
//! Each worker owns some lease shards and some packet ports. A request for a client of another
//! worker's shard crosses a bounded queue to that worker; its reply comes back the same way and
//! leaves through the port it arrived on. An ACK waits in the worker until the journal reports
//! its binding durable (unless the journal runs in background mode).

use std::{
    collections::VecDeque,
    net::{Ipv4Addr, SocketAddrV4},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, bail};
use crossbeam::queue::ArrayQueue;
use dhcp_core::{
    config::{BackendKind, Config, XdpAttach, XdpBind},
    engine::{
        Counters, Engine, Outcome, Plan,
        emit::{self, Scratch},
        types::L2,
    },
    lease::AddressSpace,
};
use dhcp_wire::dhcp::DhcpPacket;

use crate::{
    failover::{CtlMsg, FailoverPlane, PlaneConfig, Wiring, WorkerLink},
    io::{
        DatagramMeta, IoCounters, L2Dest, PacketIo, Reply,
        udp::UdpPort,
        xdp::{XdpPlane, XdpPlaneConfig, XdpPort},
    },
    journal::{self, Journal, WorkerJournal, WriterConfig},
    notify::{Notify, poll_any},
    ops::Ops,
    steer::{AttachMode, Steering},
    xsk::{BindMode, XskConfig},
};

/// Largest DHCP payload carried between workers.
const MAX_PAYLOAD: usize = 1500;
/// Messages a worker's inbox holds.
const INBOX_CAPACITY: usize = 4096;
/// Replies a worker holds while their bindings become durable.
const PENDING_CAPACITY: usize = 65_536;
/// Replies waiting for room on their port (a burst of ACKs released by one journal sync).
const OUTBOX_CAPACITY: usize = 65_536;
/// Datagrams taken per port per loop turn.
const BATCH: usize = 64;

/// Wall-clock seconds since 1970, as leases count them.
pub fn wall_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// A packet port of either backend. Ports live in a `Vec` per worker and are touched only by
/// their worker, so the size difference between variants costs nothing worth a box.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Port {
    /// AF_XDP.
    Xdp(XdpPort),
    /// Kernel UDP socket.
    Udp(UdpPort),
}

macro_rules! with_port {
    ($p:expr, $x:ident => $e:expr) => {
        match $p {
            Port::Xdp($x) => $e,
            Port::Udp($x) => $e,
        }
    };
}

/// A payload with the facts needed to answer it.
#[derive(Clone, Copy)]
struct Carried {
    meta: DatagramMeta,
    /// The port (index in the receiving worker's list) the request came in on: the reply
    /// leaves through the same queue.
    port: u16,
    len: u16,
    bytes: [u8; MAX_PAYLOAD],
}

impl Carried {
    fn new(meta: DatagramMeta, port: usize, payload: &[u8]) -> Option<Carried> {
        if payload.len() > MAX_PAYLOAD {
            return None;
        }
        let mut bytes = [0u8; MAX_PAYLOAD];
        bytes[..payload.len()].copy_from_slice(payload);
        Some(Carried {
            meta,
            port: port as u16,
            len: payload.len() as u16,
            bytes,
        })
    }

    fn payload(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// What workers send each other.
enum Msg {
    /// A request for a client of the receiver's shards; answer goes back to `origin`.
    Request { origin: u16, data: Carried },
    /// A reply the receiver must send through the port the request came in on.
    Reply { reply: Reply, data: Carried },
}

/// A reply waiting for its journal entry.
struct Pending {
    seq: u64,
    origin: u16,
    reply: Reply,
    data: Carried,
}

/// Worker counters beyond the engine's and the ports'.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerCounters {
    /// Requests handed to another worker.
    pub forwarded: u64,
    /// Requests or replies lost because a worker's inbox was full.
    pub inbox_full: u64,
    /// Replies lost because too many were waiting for the journal.
    pub pending_full: u64,
    /// Replies lost because too many were waiting for room on their port.
    pub outbox_full: u64,
    /// ACKs not sent because the journal queue was full.
    pub journal_full: u64,
    /// Replies that could not be written (did not fit the client's size limit).
    pub emit_failed: u64,
    /// Malformed DHCP messages, by [`dhcp_wire::dhcp::DhcpError::index`].
    pub malformed: [u64; 9],
}

/// One packet port's counters (one AF_XDP socket per RX queue, or one UDP socket).
#[derive(Clone, Debug, Default)]
pub struct PortStats {
    /// Interface index.
    pub ifindex: u32,
    /// RX queue of an AF_XDP socket; `None` for a UDP socket.
    pub queue: Option<u32>,
    /// "af_xdp" or "udp_socket".
    pub backend: &'static str,
    /// AF_XDP bind mode ("zero-copy", "copy"); empty for a UDP socket.
    pub mode: &'static str,
    /// What the port saw and sent.
    pub io: IoCounters,
    /// AF_XDP ring counters.
    pub rings: Option<crate::xsk::XskCounters>,
    /// The kernel's counters of the AF_XDP socket (`XDP_STATISTICS`).
    pub kernel: Option<crate::xsk::XdpStatistics>,
}

/// A snapshot of one worker's counters, published for the control plane and metrics.
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    /// Engine counters.
    pub engine: Counters,
    /// Worker counters.
    pub worker: WorkerCounters,
    /// Port counters, summed.
    pub io: IoCounters,
    /// Bindings in this worker's shards.
    pub bindings: u64,
    /// Replies waiting for the journal.
    pub pending: u64,
    /// Messages waiting in the worker's inbox (requests and replies from other workers).
    pub inbox: u64,
    /// Replies waiting for room on their port.
    pub outbox: u64,
    /// Journal entries waiting for the writer.
    pub journal_queued: u64,
    /// Per port.
    pub ports: Vec<PortStats>,
}

impl WorkerStats {
    /// Adds `o` to these counters.
    pub fn add(&mut self, o: &WorkerStats) {
        self.engine.add(&o.engine);
        let (a, b) = (&mut self.worker, &o.worker);
        a.forwarded += b.forwarded;
        a.inbox_full += b.inbox_full;
        a.pending_full += b.pending_full;
        a.outbox_full += b.outbox_full;
        a.journal_full += b.journal_full;
        a.emit_failed += b.emit_failed;
        for (x, y) in a.malformed.iter_mut().zip(b.malformed) {
            *x += y;
        }
        self.io.rx_datagrams += o.io.rx_datagrams;
        self.io.rx_malformed += o.io.rx_malformed;
        self.io.tx_replies += o.io.tx_replies;
        self.io.tx_dropped += o.io.tx_dropped;
        self.bindings += o.bindings;
        self.pending += o.pending;
        self.inbox += o.inbox;
        self.outbox += o.outbox;
        self.journal_queued += o.journal_queued;
        self.ports.extend(o.ports.iter().cloned());
    }
}

struct Worker {
    id: u16,
    engine: Engine,
    ports: Vec<Port>,
    /// (ifindex, server address) of each port.
    iface: Vec<(u32, Ipv4Addr)>,
    /// (ifindex, server address) of every served interface: requests forwarded from another
    /// worker may come from an interface this worker has no port on.
    all_ifaces: Arc<Vec<(u32, Ipv4Addr)>>,
    inboxes: Arc<Vec<ArrayQueue<Msg>>>,
    notifies: Arc<Vec<Notify>>,
    journal: WorkerJournal,
    pending: VecDeque<Pending>,
    /// Replies to send through this worker's ports as room allows.
    outbox: VecDeque<(Reply, Carried)>,
    scratch: Box<Scratch>,
    out: Box<[u8; MAX_PAYLOAD]>,
    counters: WorkerCounters,
    stop: Arc<AtomicBool>,
    stats: Arc<std::sync::Mutex<WorkerStats>>,
    /// Per-batch scratch lists (kept to avoid allocating per batch).
    batch_held: Vec<(u64, Reply, Carried)>,
    batch_forwards: Vec<(u16, Carried)>,
    /// Failover: commands from the control thread, and where answers go.
    failover: Option<WorkerLink>,
    /// Jobs from the operator side (queries, reload).
    jobs: crossbeam::channel::Receiver<Job>,
}

/// Work for a worker's engine, run between batches (operator queries, live reconfiguration).
pub type Job = Box<dyn FnOnce(&mut Engine) + Send>;

/// What to do with a processed request.
enum Action {
    None,
    Send(Reply, usize),
    Hold(u64, Reply, usize),
    Forward(u16),
}

fn io_reply(plan: &dhcp_core::engine::ReplyPlan, len: usize, src_ip: Ipv4Addr) -> Reply {
    Reply {
        len,
        src_ip,
        src_port: 67,
        dst: SocketAddrV4::new(plan.dest.ip, plan.dest.port),
        l2: match plan.dest.l2 {
            L2::Broadcast => L2Dest::Broadcast,
            L2::Sender => L2Dest::Sender,
            L2::Client(m) => L2Dest::Mac(dhcp_wire::frame::MacAddr(m)),
        },
    }
}

impl Worker {
    fn iface_addr(&self, ifindex: u32) -> Ipv4Addr {
        self.all_ifaces
            .iter()
            .find(|(i, _)| *i == ifindex)
            .map(|(_, a)| *a)
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    fn port_index(&self, ifindex: u32) -> Option<usize> {
        self.iface.iter().position(|(i, _)| *i == ifindex)
    }

    /// Parses, decides, writes the reply into `out`, and queues journal entries.
    #[allow(clippy::too_many_arguments)]
    fn process(
        engine: &mut Engine,
        journal: &WorkerJournal,
        counters: &mut WorkerCounters,
        scratch: &mut Scratch,
        now: u32,
        iface_addr: Ipv4Addr,
        payload: &[u8],
        out: &mut [u8],
    ) -> Action {
        let pkt = match DhcpPacket::new_checked(payload) {
            Ok(p) => p,
            Err(e) => {
                counters.malformed[e.index()] += 1;
                return Action::None;
            }
        };
        let opts = match pkt.options() {
            Ok(o) => o,
            Err(e) => {
                counters.malformed[e.index()] += 1;
                return Action::None;
            }
        };
        let req = match emit::request(&pkt, &opts, iface_addr, scratch) {
            Ok(r) => r,
            Err(e) => {
                engine.counters.drop(e.drop_reason());
                return Action::None;
            }
        };
        let outcome = engine.handle(now, &req);
        // Queue whatever the engine journaled (also for drops: RELEASE, DECLINE).
        let mut queued_upto = 0;
        let mut journal_ok = true;
        {
            let entries = engine.journal();
            let mut done = 0;
            for e in entries.iter() {
                if !journal.push(*e) {
                    journal_ok = false;
                    break;
                }
                queued_upto = e.seq;
                done += 1;
            }
            entries.drain(..done);
        }
        match outcome {
            Outcome::Forward(shard) => Action::Forward(shard),
            Outcome::Drop(_) => Action::None,
            Outcome::Reply(plan) => {
                if let Some(seq) = plan.durable_after {
                    if !journal_ok && seq > queued_upto {
                        counters.journal_full += 1;
                        return Action::None;
                    }
                }
                let n = match emit::write_reply(engine.plan(), &pkt, &opts, &plan, out) {
                    Ok(n) => n,
                    Err(_) => {
                        counters.emit_failed += 1;
                        return Action::None;
                    }
                };
                let reply = io_reply(&plan, n, iface_addr);
                match plan.durable_after {
                    Some(seq) if journal.acks_wait() => Action::Hold(seq, reply, n),
                    _ => Action::Send(reply, n),
                }
            }
        }
    }

    fn owner(&self, shard: u16) -> u16 {
        shard % self.inboxes.len() as u16
    }

    fn send_to(&mut self, worker: u16, msg: Msg) {
        let q = &self.inboxes[usize::from(worker)];
        let was_empty = q.is_empty();
        if q.push(msg).is_err() {
            self.counters.inbox_full += 1;
        } else if was_empty {
            self.notifies[usize::from(worker)].wake();
        }
    }

    fn hold(&mut self, seq: u64, origin: u16, reply: Reply, data: Carried) {
        if self.pending.len() >= PENDING_CAPACITY {
            self.counters.pending_full += 1;
            return;
        }
        self.pending.push_back(Pending {
            seq,
            origin,
            reply,
            data,
        });
    }

    /// Queues a reply whose payload is in `data` for the port the request came in on.
    fn send_local(&mut self, reply: Reply, data: &Carried) {
        if self.outbox.len() >= OUTBOX_CAPACITY {
            self.counters.outbox_full += 1;
            return;
        }
        self.outbox.push_back((reply, *data));
    }

    /// The port a carried request came in on (or, for one carried from another worker's
    /// port, this worker's port on the same interface).
    fn port_for(&self, data: &Carried) -> Option<usize> {
        let p = usize::from(data.port);
        match self.iface.get(p) {
            Some((ifindex, _)) if *ifindex == data.meta.ifindex => Some(p),
            _ => self.port_index(data.meta.ifindex),
        }
    }

    /// Sends queued replies as far as the ports have room; the rest wait for the next turn
    /// (a burst of released ACKs would otherwise overflow the TX ring).
    fn drain_outbox(&mut self) -> usize {
        let mut room: Vec<Option<usize>> = vec![None; self.ports.len()];
        let mut sent = 0;
        while let Some((reply, data)) = self.outbox.front().copied() {
            let Some(pi) = self.port_for(&data) else {
                self.outbox.pop_front();
                self.counters.inbox_full += 1;
                continue;
            };
            let r =
                room[pi].get_or_insert_with(|| with_port!(&mut self.ports[pi], p => p.tx_room()));
            if *r == 0 {
                break;
            }
            *r -= 1;
            self.outbox.pop_front();
            let payload = data.payload();
            with_port!(&mut self.ports[pi], p => {
                p.send_with(&data.meta, |buf| {
                    let n = payload.len();
                    let dst = buf.get_mut(..n)?;
                    dst.copy_from_slice(payload);
                    Some(reply)
                });
            });
            sent += 1;
        }
        sent
    }

    fn release_durable(&mut self) {
        let durable = self.journal.durable();
        while self.pending.front().is_some_and(|p| p.seq <= durable) {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            if p.origin == self.id {
                self.send_local(p.reply, &p.data);
            } else {
                self.send_to(
                    p.origin,
                    Msg::Reply {
                        reply: p.reply,
                        data: p.data,
                    },
                );
            }
        }
    }

    fn drain_inbox(&mut self, now: u32) -> usize {
        let mut n = 0;
        while let Some(msg) = self.inboxes[usize::from(self.id)].pop() {
            n += 1;
            match msg {
                Msg::Reply { reply, data } => self.send_local(reply, &data),
                Msg::Request { origin, data } => {
                    let iface_addr = self.iface_addr(data.meta.ifindex);
                    let action = Self::process(
                        &mut self.engine,
                        &self.journal,
                        &mut self.counters,
                        &mut self.scratch,
                        now,
                        iface_addr,
                        data.payload(),
                        &mut self.out[..],
                    );
                    match action {
                        Action::None | Action::Forward(_) => {}
                        Action::Send(reply, len) => {
                            if let Some(c) =
                                Carried::new(data.meta, usize::from(data.port), &self.out[..len])
                            {
                                self.send_to(origin, Msg::Reply { reply, data: c });
                            }
                        }
                        Action::Hold(seq, reply, len) => {
                            if let Some(c) =
                                Carried::new(data.meta, usize::from(data.port), &self.out[..len])
                            {
                                self.hold(seq, origin, reply, c);
                            }
                        }
                    }
                }
            }
        }
        n
    }

    fn service_ports(&mut self, now: u32) -> usize {
        let mut total = 0;
        for pi in 0..self.ports.len() {
            let iface_addr = self.iface[pi].1;
            let engine = &mut self.engine;
            let journal = &self.journal;
            let counters = &mut self.counters;
            let scratch = &mut self.scratch;
            let held = &mut self.batch_held;
            let forwards = &mut self.batch_forwards;
            let n = with_port!(&mut self.ports[pi], p => {
                p.service(BATCH, |dg, buf| {
                    match Self::process(engine, journal, counters, scratch, now, iface_addr, dg.payload, buf) {
                        Action::None => None,
                        Action::Send(reply, _) => Some(reply),
                        Action::Hold(seq, reply, len) => {
                            if let Some(c) = Carried::new(dg.meta(), pi, &buf[..len]) {
                                held.push((seq, reply, c));
                            }
                            None
                        }
                        Action::Forward(shard) => {
                            if let Some(c) = Carried::new(dg.meta(), pi, dg.payload) {
                                forwards.push((shard, c));
                            }
                            None
                        }
                    }
                })
            });
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "receive failed");
                    0
                }
            };
            let mut held = std::mem::take(&mut self.batch_held);
            for (seq, reply, c) in held.drain(..) {
                self.hold(seq, self.id, reply, c);
            }
            self.batch_held = held;
            let mut forwards = std::mem::take(&mut self.batch_forwards);
            for (shard, c) in forwards.drain(..) {
                let to = self.owner(shard);
                self.counters.forwarded += 1;
                self.send_to(
                    to,
                    Msg::Request {
                        origin: self.id,
                        data: c,
                    },
                );
            }
            self.batch_forwards = forwards;
            total += n;
        }
        total
    }

    fn flush_ports(&mut self) {
        for p in &mut self.ports {
            with_port!(p, x => x.flush());
        }
    }

    fn publish_stats(&self) {
        let mut io = IoCounters::default();
        let mut ports = Vec::with_capacity(self.ports.len());
        for (p, (ifindex, _)) in self.ports.iter().zip(&self.iface) {
            let c = with_port!(p, x => x.counters());
            io.rx_datagrams += c.rx_datagrams;
            io.rx_malformed += c.rx_malformed;
            io.tx_replies += c.tx_replies;
            io.tx_dropped += c.tx_dropped;
            let mut ps = PortStats {
                ifindex: *ifindex,
                backend: with_port!(p, x => x.backend()),
                io: c,
                ..PortStats::default()
            };
            if let Port::Xdp(x) = p {
                let sock = x.socket();
                ps.queue = Some(sock.queue());
                ps.mode = sock.mode().as_str();
                ps.rings = Some(sock.counters());
                ps.kernel = sock.statistics().ok();
            }
            ports.push(ps);
        }
        if let Ok(mut s) = self.stats.lock() {
            s.engine = self.engine.counters;
            s.worker = self.counters;
            s.io = io;
            s.bindings = self.engine.shards().iter().map(|s| s.len() as u64).sum();
            s.pending = self.pending.len() as u64;
            s.inbox = self.inboxes[usize::from(self.id)].len() as u64;
            s.outbox = self.outbox.len() as u64;
            s.journal_queued = self.journal.queued() as u64;
            s.ports = ports;
        }
    }

    /// Runs the failover control plane's commands (partner updates, acknowledgements, dumps).
    fn failover_cmds(&mut self, now: u32) -> usize {
        let Some(link) = &self.failover else {
            return 0;
        };
        let mut n = 0;
        while n < 256 {
            let Ok(cmd) = link.cmds.try_recv() else {
                break;
            };
            n += 1;
            if let Some(reply) = dhcp_core::failover::control::run_worker_cmd(
                &mut self.engine,
                usize::from(self.id),
                now,
                cmd,
            ) {
                let _ = link.replies.send(CtlMsg::Reply(reply));
            }
        }
        if n > 0 {
            self.push_journal();
        }
        n
    }

    /// Runs queued jobs (a reload's rendezvous blocks here, between batches).
    fn run_jobs(&mut self) -> usize {
        let mut n = 0;
        while let Ok(job) = self.jobs.try_recv() {
            job(&mut self.engine);
            n += 1;
        }
        if n > 0 {
            self.push_journal();
        }
        n
    }

    /// Queues the engine's journal entries; what the queue cannot take stays for later.
    fn push_journal(&mut self) {
        let entries = self.engine.journal();
        let mut done = 0;
        for e in entries.iter() {
            if !self.journal.push(*e) {
                break;
            }
            done += 1;
        }
        entries.drain(..done);
    }

    fn run(mut self) -> Self {
        let mut fds: Vec<i32> = self
            .ports
            .iter()
            .map(|p| with_port!(p, x => x.fd()))
            .collect();
        fds.push(std::os::fd::AsRawFd::as_raw_fd(
            &self.notifies[usize::from(self.id)],
        ));
        let mut last_tick = Instant::now();
        let mut last_stats = Instant::now();
        let mut stop_since: Option<Instant> = None;
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            let now = wall_now();
            let mut work = self.drain_inbox(now);
            work += self.failover_cmds(now);
            work += self.run_jobs();
            if !stopping {
                work += self.service_ports(now);
            }
            self.release_durable();
            work += self.drain_outbox();
            self.flush_ports();
            if last_tick.elapsed() >= Duration::from_millis(200) {
                self.engine.tick(now);
                self.push_journal();
                last_tick = Instant::now();
            }
            if last_stats.elapsed() >= Duration::from_millis(500) {
                self.publish_stats();
                last_stats = Instant::now();
            }
            if stopping {
                // No new requests; held ACKs still go out as the journal makes them durable,
                // for at most two seconds.
                let since = *stop_since.get_or_insert_with(Instant::now);
                let idle = self.pending.is_empty()
                    && self.outbox.is_empty()
                    && self.inboxes[usize::from(self.id)].is_empty();
                if idle || since.elapsed() > Duration::from_secs(2) {
                    break;
                }
                thread::sleep(Duration::from_millis(1));
                continue;
            }
            if work == 0 {
                self.notifies[usize::from(self.id)].clear();
                // Anything queued before the clear would not wake us: look once more.
                let queued = !self.inboxes[usize::from(self.id)].is_empty()
                    || !self.jobs.is_empty()
                    || self.failover.as_ref().is_some_and(|l| !l.cmds.is_empty());
                if queued {
                    continue;
                }
                let timeout = if self.pending.is_empty() && self.outbox.is_empty() {
                    100
                } else {
                    1
                };
                if let Err(e) = poll_any(&fds, timeout) {
                    tracing::warn!(error = %e, "poll failed");
                }
            }
        }
        self.publish_stats();
        self
    }
}

/// IPv4 address of `ifname` in the calling thread's namespace.
pub fn interface_ipv4(ifname: &str) -> std::io::Result<Ipv4Addr> {
    // Safety: plain socket(2) call; closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // Safety: zeroed ifreq; name bounded below.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if ifname.len() >= req.ifr_name.len() {
        // Safety: closing our descriptor.
        unsafe { libc::close(fd) };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // Safety: SIOCGIFADDR fills req with the interface's IPv4 address.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFADDR, &mut req) };
    let err = std::io::Error::last_os_error();
    // Safety: closing our descriptor.
    unsafe { libc::close(fd) };
    if rc != 0 {
        return Err(err);
    }
    // Safety: after SIOCGIFADDR the union holds a sockaddr_in.
    let sa: libc::sockaddr_in = unsafe { std::mem::transmute_copy(&req.ifr_ifru.ifru_addr) };
    Ok(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)))
}

/// Handles to a running server.
pub struct Server {
    workers: Vec<thread::JoinHandle<Worker>>,
    stop: Arc<AtomicBool>,
    journal: Option<Journal>,
    /// The XDP programs, shared with [`Ops`] for their counters.
    planes: Arc<std::sync::Mutex<Vec<Steering>>>,
    /// Per-worker counters, refreshed twice a second.
    pub stats: Vec<Arc<std::sync::Mutex<WorkerStats>>>,
    /// Journal counters.
    pub journal_stats: Arc<journal::JournalStats>,
    /// Bindings restored at start-up.
    pub restored: u64,
    /// How long recovery took.
    pub recovery: Duration,
    notifies: Arc<Vec<Notify>>,
    /// Total leases stored at last stop (for logs).
    pub started_at: Instant,
    /// The failover control thread (runs with or without relationships).
    pub failover: Option<FailoverPlane>,
    ops: Ops,
    /// Held until the server is dropped (after the journal's last sync).
    _lock: journal::DirLock,
}

impl Server {
    /// Starts everything described by `cfg`.
    pub fn start(cfg: Config) -> anyhow::Result<Server> {
        let t0 = Instant::now();
        let workers = usize::from(cfg.server.workers.max(1));
        let now = wall_now();

        // Interfaces and their addresses.
        let mut ifaces = Vec::new();
        for i in &cfg.server.interfaces {
            let ifindex = crate::steer::ifindex(&i.name)
                .with_context(|| format!("server.interfaces: {}", i.name))?;
            let addr = match i.address {
                Some(a) => a,
                None => interface_ipv4(&i.name).with_context(|| {
                    format!(
                        "server.interfaces: {} has no IPv4 address; set `address`",
                        i.name
                    )
                })?,
            };
            ifaces.push((i.name.clone(), ifindex, addr));
        }
        let space = Arc::new(AddressSpace::new(&cfg));
        let total_addresses = space.len();
        let ids = ifaces.iter().map(|(_, _, a)| *a).collect();
        let state_dir = cfg.server.state_dir.clone();
        let jcfg = cfg.server.journal.clone();
        let backend = cfg.server.backend;
        let xdp = cfg.server.xdp.clone();
        let shard_count = cfg.server.shards.max(1);
        let plan = Arc::new(Plan::new(cfg, space, ids));

        // Recovery, holding the state directory against a second daemon.
        let lock = journal::lock_dir(&state_dir)
            .with_context(|| format!("server.state-dir {}", state_dir.display()))?;
        let rec = journal::recover(&state_dir)
            .with_context(|| format!("recovering the lease journal in {}", state_dir.display()))?;
        let per_shard = (total_addresses * 2 / usize::from(shard_count)).max(1024)
            + rec.replay.len() / usize::from(shard_count);
        let mut engines: Vec<Engine> = (0..workers)
            .map(|w| {
                let owned: Vec<u16> = (0..shard_count)
                    .filter(|s| usize::from(*s) % workers == w)
                    .collect();
                Engine::new(plan.clone(), &owned, per_shard, now)
            })
            .collect();
        let max_seq = rec.replay.max_seq;
        let next_segment = rec.next_segment;
        let replayed = rec.replay.len();
        let persisted: Vec<_> = plan
            .cfg
            .failover
            .iter()
            .map(|r| rec.replay.state(&r.name))
            .collect();
        let out =
            dhcp_core::engine::restore::restore(&mut engines, rec.replay.into_bindings(), now);
        let (restored, refused) = (out.bindings, out.refused);
        let last_alive = out.last_alive;
        let recovery = t0.elapsed();
        tracing::info!(
            replayed,
            restored,
            refused,
            truncated_bytes = rec.truncated_bytes,
            files = rec.files,
            ms = recovery.as_millis() as u64,
            "lease journal recovered"
        );

        // Journal writer: one queue per worker, and one for the failover control plane (its
        // own records: pool balancing), which also hears of every durable batch.
        // The control thread always runs: relationships may be added by a reload.
        let mut wiring = Wiring::new(workers);
        let queues = workers + 1;
        let notifies: Vec<Notify> = (0..queues)
            .map(|_| Notify::new())
            .collect::<Result<_, _>>()?;
        let tap = Some(crate::failover::tap(
            wiring.tx.clone(),
            wiring.active.clone(),
            workers,
        ));
        let journal = Journal::start_with_tap(
            WriterConfig {
                dir: state_dir.clone(),
                sync: jcfg.sync,
                flush_interval: Duration::from_millis(u64::from(jcfg.flush_interval_ms.max(1))),
                compact_after_bytes: jcfg.compact_after_bytes,
            },
            notifies.clone(),
            next_segment,
            max_seq,
            tap,
        )?;
        let notifies = Arc::new(notifies);

        // Packet I/O.
        let mut ports: Vec<Vec<(Port, u32, Ipv4Addr)>> = (0..workers).map(|_| Vec::new()).collect();
        let mut steering = Vec::new();
        for (name, ifindex, addr) in &ifaces {
            match backend {
                BackendKind::Xdp => {
                    let pcfg = XdpPlaneConfig {
                        interface: name.clone(),
                        queues: xdp.queues.clone(),
                        attach: match xdp.attach {
                            XdpAttach::Auto => AttachMode::Auto,
                            XdpAttach::Native => AttachMode::Native,
                            XdpAttach::Skb => AttachMode::Skb,
                        },
                        xsk: XskConfig {
                            frame_count: xdp.frames_per_queue,
                            bind_mode: match xdp.bind {
                                XdpBind::Auto => BindMode::Auto,
                                XdpBind::ZeroCopy => BindMode::ZeroCopy,
                                XdpBind::Copy => BindMode::Copy,
                            },
                            tx_reserve: xdp.frames_per_queue / 2,
                            ..XskConfig::default()
                        },
                        pin_dir: xdp.pin_dir.clone(),
                        ports: (67, 0),
                    };
                    let plane = XdpPlane::open(&pcfg)
                        .with_context(|| format!("setting up XDP/AF_XDP on {name}"))?;
                    tracing::info!(
                        interface = %name, attach = plane.attach.mode,
                        replaced_leftover = plane.attach.replaced_leftover,
                        queues = plane.ports.len(),
                        bind = plane.ports.first().map(|p| p.socket().mode().as_str()).unwrap_or("-"),
                        "XDP program attached"
                    );
                    let XdpPlane {
                        steering: plane_steering,
                        ports: xports,
                        ..
                    } = plane;
                    for (q, p) in xports.into_iter().enumerate() {
                        ports[q % workers].push((Port::Xdp(p), *ifindex, *addr));
                    }
                    steering.push(plane_steering);
                }
                BackendKind::Socket => {
                    let p = UdpPort::bind(67, Some(name))
                        .with_context(|| format!("binding UDP port 67 on {name}"))?;
                    tracing::info!(interface = %name, "serving on a UDP socket");
                    let w = ports
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, v)| v.len())
                        .map(|(i, _)| i)
                        .unwrap_or(0);
                    ports[w].push((Port::Udp(p), *ifindex, *addr));
                }
            }
        }
        if ports.iter().all(|p| p.is_empty()) {
            bail!("no packet port could be opened");
        }
        let planes = Arc::new(std::sync::Mutex::new(steering));

        let all_ifaces: Arc<Vec<(u32, Ipv4Addr)>> =
            Arc::new(ifaces.iter().map(|(_, i, a)| (*i, *a)).collect());
        let (job_tx, job_rx): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| crossbeam::channel::unbounded::<Job>())
            .unzip();
        let inboxes: Arc<Vec<ArrayQueue<Msg>>> = Arc::new(
            (0..workers)
                .map(|_| ArrayQueue::new(INBOX_CAPACITY))
                .collect(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        let mut stats = Vec::new();
        for (w, (engine, ports)) in engines.into_iter().zip(ports).enumerate() {
            let st = Arc::new(std::sync::Mutex::new(WorkerStats::default()));
            stats.push(st.clone());
            let (ports, iface): (Vec<Port>, Vec<(u32, Ipv4Addr)>) =
                ports.into_iter().map(|(p, i, a)| (p, (i, a))).unzip();
            let worker = Worker {
                id: w as u16,
                engine,
                ports,
                iface,
                all_ifaces: all_ifaces.clone(),
                inboxes: inboxes.clone(),
                notifies: notifies.clone(),
                journal: journal.worker(w),
                pending: VecDeque::with_capacity(PENDING_CAPACITY),
                outbox: VecDeque::new(),
                scratch: Box::default(),
                out: Box::new([0; MAX_PAYLOAD]),
                counters: WorkerCounters::default(),
                stop: stop.clone(),
                stats: st,
                batch_held: Vec::with_capacity(BATCH),
                batch_forwards: Vec::with_capacity(BATCH),
                failover: wiring.links[w].take(),
                jobs: job_rx[w].clone(),
            };
            handles.push(
                thread::Builder::new()
                    .name(format!("xdhcp-worker-{w}"))
                    .spawn(move || worker.run())?,
            );
        }
        let failover = FailoverPlane::start(
            PlaneConfig {
                plan: plan.clone(),
                persisted,
                notifies: notifies.clone(),
                journal: journal.worker(workers),
                states: journal.states(),
                last_alive,
            },
            wiring,
        )
        .context("starting failover")?;
        let ops = Ops {
            inner: Arc::new(crate::ops::Inner {
                plan: std::sync::Mutex::new(plan.clone()),
                jobs: job_tx,
                journals: (0..workers).map(|w| journal.worker(w)).collect(),
                notifies: notifies.clone(),
                failover: failover.sender(),
                failover_status: failover.status.clone(),
                reload_lock: std::sync::Mutex::new(()),
                stats: stats.clone(),
                journal_stats: journal.stats.clone(),
                config_path: std::sync::Mutex::new(None),
                started: Instant::now(),
                steering: planes.clone(),
            }),
        };
        // Scopes a partner replicates to us are applied on a thread of their own (a reload
        // needs the failover thread at its rendezvous).
        let (apply_tx, apply_rx) = std::sync::mpsc::channel::<crate::failover::ApplyJob>();
        let applier_ops = ops.clone();
        let fo_tx = failover.sender();
        thread::Builder::new()
            .name("xdhcp-replica".into())
            .spawn(move || {
                while let Ok(job) = apply_rx.recv() {
                    let result = applier_ops.apply_replicated(&job.relationship, &job.toml);
                    match &result {
                        Ok(t) => tracing::warn!(relationship = %job.relationship, "replicated scopes applied: {t}"),
                        Err(e) => tracing::error!(relationship = %job.relationship, "replicated scopes refused: {e}"),
                    }
                    let _ = fo_tx.send(CtlMsg::Applied {
                        link: job.link,
                        xfer: job.xfer,
                        result,
                    });
                }
            })?;
        let _ = failover.sender().send(CtlMsg::SetApplier(apply_tx));
        Ok(Server {
            _lock: lock,
            ops,
            failover: Some(failover),
            workers: handles,
            stop,
            journal_stats: journal.stats.clone(),
            journal: Some(journal),
            planes,
            stats,
            restored,
            recovery,
            notifies,
            started_at: Instant::now(),
        })
    }

    /// Summed worker counters.
    pub fn totals(&self) -> WorkerStats {
        self.ops.stats().1
    }

    /// The operator's handle.
    pub fn ops(&self) -> Ops {
        self.ops.clone()
    }

    /// Stops the workers (held ACKs whose bindings are durable still go out), flushes and syncs
    /// the journal, and detaches XDP.
    pub fn shutdown(mut self) -> anyhow::Result<WorkerStats> {
        // Partners first (they hear SHUTDOWN while we can still journal our state).
        if let Some(f) = self.failover.take() {
            f.shutdown();
        }
        self.stop.store(true, Ordering::Release);
        for n in self.notifies.iter() {
            n.wake();
        }
        let mut finished = Vec::new();
        for h in self.workers.drain(..) {
            match h.join() {
                Ok(w) => finished.push(w),
                Err(_) => tracing::error!("a worker thread panicked"),
            }
        }
        let totals = self.totals();
        if let Some(j) = self.journal.take() {
            j.shutdown().context("flushing the lease journal")?;
        }
        drop(finished);
        let planes = match self.planes.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        for mut p in planes {
            p.detach().context("detaching the XDP program")?;
        }
        Ok(totals)
    }
}

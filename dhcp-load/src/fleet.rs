//! The sans-IO client model: a fleet of simulated DHCP clients, the frames they send and the
//! checks of every reply they get.
//!
//! The fleet never reads a clock or touches a socket. The driver passes time in (`now`, a
//! [`Duration`] since the run's origin, the same origin for every fleet of a run) and moves
//! frames: [`Fleet::poll_transmit`] writes the next whole Ethernet frame to send,
//! [`Fleet::handle_frame`] takes a received one, [`Fleet::handle_timeout`] fires the
//! retransmission and drop timers, and [`Fleet::poll_timeout`] says when to call again.
//!
//! # Per-client state
//!
//! A client is an index. Its hardware address, client identifier, option 82 values and
//! transaction ids are computed from that index ([`crate::ident`]); what is stored is 16 bytes
//! ([`Client`]: address, send time, phase, exchange epoch, tries, flags, server), 12 bytes of
//! timer links ([`Wheel`]), 4 bytes of send-queue slot, and 8 bytes plus a share of the
//! address table in the shared [`Registry`]. All of it is allocated when the fleet is built.
//!
//! # Identifying a reply
//!
//! The `xid` of exchange `e` of client `i` is a keyed permutation of `(i, e)`, so a reply's
//! `xid` names a client and an exchange, and its `chaddr` names a client too. When they agree
//! and the exchange is in flight, the reply is checked; when they agree on an exchange that is
//! over, it is late; when the `xid` names an exchange in flight but the `chaddr` is someone
//! else's, the `chaddr` is wrong; when the `chaddr` is ours but the `xid` names nothing in
//! flight, the `xid` is wrong.

use std::{collections::VecDeque, net::Ipv4Addr, sync::Arc, time::Duration};

use dhcp_wire::{
    dhcp::{DhcpPacket, DhcpWriter, FLAG_BROADCAST, HTYPE_ETHERNET, MessageType, Op, OptionCode},
    frame::{self, LinkMeta, MacAddr, UdpMeta, VlanStack, VlanTag},
};

use crate::{
    check::{Violation, ViolationKind},
    config::{ConfigError, FleetConfig, Load},
    ident::{XidCodec, client_mac, client_of_mac, put_decimal},
    registry::{CLOCK_SLACK_SECS, Claim, INFINITE, Registry},
    rng::Rng,
    stats::{Exchange, Stats},
    wheel::Wheel,
};

/// Smallest buffer [`Fleet::poll_transmit`] accepts: the largest request it builds (two VLAN
/// tags, option 82 and 61 with 32-byte prefixes) fits with room to spare.
pub const MIN_FRAME_BUFFER: usize = 600;

/// Parameter request list of every request: mask, routers, DNS, domain, lease, server id, T1,
/// T2.
const PRL: [u8; 8] = [1, 3, 6, 15, 51, 54, 58, 59];
/// Distinct server identifiers remembered (a failover pair needs two).
const MAX_SERVERS: usize = 16;
/// Most clients looked at to find one free for a new exchange.
const PROBE: u32 = 64;
const TPID_8021Q: u16 = 0x8100;
const TPID_8021AD: u16 = 0x88a8;

/// Where a client is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// No lease, nothing in flight.
    #[default]
    Idle,
    /// DISCOVER sent, waiting for an OFFER.
    Selecting,
    /// REQUEST for an offered address sent (or queued), waiting for the ACK.
    Requesting,
    /// Holds a lease.
    Bound,
    /// Renewal REQUEST in flight.
    Renewing,
    /// Rebind REQUEST in flight.
    Rebinding,
    /// INIT-REBOOT REQUEST in flight.
    Rebooting,
    /// RELEASE queued.
    Releasing,
    /// Avalanche: out of DISCOVER retransmissions.
    GaveUp,
}

impl Phase {
    fn waiting(self) -> Option<Exchange> {
        match self {
            Phase::Selecting => Some(Exchange::Discover),
            Phase::Requesting => Some(Exchange::Request),
            Phase::Renewing => Some(Exchange::Renew),
            Phase::Rebinding => Some(Exchange::Rebind),
            Phase::Rebooting => Some(Exchange::Reboot),
            _ => None,
        }
    }
}

/// Queued for a transmission.
const QUEUED: u8 = 1;
/// Has been bound at least once.
const EVER_BOUND: u8 = 2;

/// The stored state of one client (16 bytes).
#[derive(Clone, Copy, Debug, Default)]
struct Client {
    /// Offered or bound address (0 for none).
    addr: u32,
    /// First transmission of the exchange in flight, microseconds (wrapping).
    sent_us: u32,
    phase: Phase,
    /// Exchange counter: part of the xid.
    epoch: u8,
    /// Transmissions of the message in flight.
    tries: u8,
    flags: u8,
    /// Index of the server identifier the client's lease is from.
    server: u8,
}

/// What became of a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A reply that completed (or advanced) an exchange; `violations` is how many non-fatal
    /// violations it carried (counted in the stats).
    Accepted {
        /// The exchange it answered.
        exchange: Exchange,
        /// Violations found in it.
        violations: u8,
    },
    /// A reply the client could not use: the first violation found.
    Rejected(ViolationKind),
    /// A reply to an exchange no longer in flight.
    Late,
    /// Not a DHCP reply to one of our clients.
    NotForUs,
}

/// Finds the client a received frame is about, for handing it to the fleet that owns that
/// client: by `xid` when it decodes to a client of the run, else by `chaddr`.
#[derive(Clone, Copy, Debug)]
pub struct Router {
    codec: XidCodec,
    mac_base: MacAddr,
    total: u32,
}

impl Router {
    /// The router of a run configured like `cfg` (any fleet's config of that run).
    pub fn new(cfg: &FleetConfig) -> Self {
        Router {
            codec: XidCodec::new(cfg.xid_key),
            mac_base: cfg.mac_base,
            total: cfg.total_clients,
        }
    }

    /// Global index of the client `frame` is a reply to, if it names one.
    pub fn client_of(&self, frame: &[u8]) -> Option<u32> {
        let f = frame::parse_udp_frame(frame).ok()?;
        let p = DhcpPacket::new_checked(f.payload).ok()?;
        let (i, _) = self.codec.decode(p.xid());
        if i < self.total {
            return Some(i);
        }
        client_of_mac(self.mac_base, self.total, p.chaddr())
    }
}

/// What a violation record says besides its kind.
#[derive(Clone, Copy, Debug, Default)]
struct Detail {
    expected: Option<u32>,
    found: Option<u32>,
    other_client: Option<u32>,
}

/// Violations of one reply, collected before they are counted.
struct Found {
    list: [(ViolationKind, Detail); 8],
    len: usize,
}

impl Found {
    fn new() -> Self {
        Found {
            list: [(ViolationKind::Malformed, Detail::default()); 8],
            len: 0,
        }
    }

    fn push(&mut self, kind: ViolationKind, expected: Option<u32>, found: Option<u32>) {
        self.push_detail(
            kind,
            Detail {
                expected,
                found,
                other_client: None,
            },
        );
    }

    fn push_detail(&mut self, kind: ViolationKind, d: Detail) {
        if self.len < self.list.len() {
            self.list[self.len] = (kind, d);
            self.len += 1;
        }
    }

    fn items(&self) -> &[(ViolationKind, Detail)] {
        &self.list[..self.len]
    }
}

/// A fleet of simulated clients. See the module documentation.
pub struct Fleet {
    cfg: FleetConfig,
    codec: XidCodec,
    clients: Box<[Client]>,
    wheel: Wheel,
    ready: VecDeque<u32>,
    registry: Arc<Registry>,
    rng: Rng,
    servers: [u32; MAX_SERVERS],
    servers_len: usize,
    /// Time of the last call, microseconds.
    last_us: u64,
    starting: bool,
    dora_rate: f64,
    window: u32,
    dora_credit: f64,
    /// Renew, rebind, reboot, release.
    maint_rate: [f64; 4],
    maint_credit: [f64; 4],
    start_cursor: u32,
    maint_cursor: u32,
    /// Clients `0..started_span` have started at least one DORA: only they can be bound.
    started_span: u32,
    avalanche_next: u32,
    inflight: u32,
    ident: u16,
    stats: Stats,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("first_client", &self.cfg.first_client)
            .field("clients", &self.cfg.clients)
            .field("inflight", &self.inflight)
            .finish()
    }
}

impl Fleet {
    /// A fleet with its own address registry (for a single-fleet run or a test).
    pub fn new(cfg: FleetConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let registry = Arc::new(Registry::new(cfg.total_clients));
        Self::with_registry(cfg, registry)
    }

    /// A fleet sharing `registry` with the other fleets of its run.
    pub fn with_registry(cfg: FleetConfig, registry: Arc<Registry>) -> Result<Self, ConfigError> {
        cfg.validate()?;
        assert!(registry.clients() >= cfg.total_clients);
        let n = cfg.clients as usize;
        let (dora_rate, window) = match cfg.load {
            Load::Open { rate } => (rate, 0),
            Load::Closed { window } => (0.0, window),
            Load::Avalanche => (0.0, 0),
        };
        Ok(Fleet {
            codec: XidCodec::new(cfg.xid_key),
            clients: vec![Client::default(); n].into_boxed_slice(),
            wheel: Wheel::new(n),
            ready: VecDeque::with_capacity(n),
            registry,
            rng: Rng::new(cfg.seed),
            servers: [0; MAX_SERVERS],
            servers_len: 0,
            last_us: 0,
            starting: true,
            dora_rate,
            window,
            dora_credit: 0.0,
            maint_rate: [
                cfg.renew_rate,
                cfg.rebind_rate,
                cfg.reboot_rate,
                cfg.release_rate,
            ],
            maint_credit: [0.0; 4],
            start_cursor: 0,
            maint_cursor: 0,
            started_span: 0,
            avalanche_next: 0,
            inflight: 0,
            ident: 0,
            stats: Stats::default(),
            cfg,
        })
    }

    /// Bytes of per-client state this fleet allocated (the shared registry not included).
    pub fn memory_bytes(&self) -> usize {
        self.clients.len() * (std::mem::size_of::<Client>() + 12 + 4)
    }

    /// The configuration.
    pub fn config(&self) -> &FleetConfig {
        &self.cfg
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Exchanges in flight (a DORA counts once, from its DISCOVER to its ACK).
    pub fn inflight(&self) -> u32 {
        self.inflight
    }

    /// True when this fleet owns global client `g`.
    pub fn owns(&self, g: u32) -> bool {
        g.wrapping_sub(self.cfg.first_client) < self.cfg.clients
    }

    /// Stops (false) or resumes (true) starting exchanges; those in flight carry on.
    pub fn set_starting(&mut self, on: bool) {
        self.starting = on;
        if !on {
            self.dora_credit = 0.0;
            self.maint_credit = [0.0; 4];
        }
    }

    /// Queues a RELEASE for every bound client (the end of a run that cleans up after
    /// itself); they go out through [`poll_transmit`](Self::poll_transmit) even with starting
    /// stopped. Returns how many were queued.
    pub fn release_all(&mut self) -> u32 {
        let mut n = 0;
        for l in 0..self.cfg.clients {
            let c = &mut self.clients[l as usize];
            if c.phase == Phase::Bound && c.flags & QUEUED == 0 {
                c.phase = Phase::Releasing;
                c.tries = 0;
                self.queue(l);
                n += 1;
            }
        }
        n
    }

    /// Open loop: the DORA rate, per second.
    pub fn set_rate(&mut self, rate: f64) {
        self.dora_rate = rate.max(0.0);
    }

    /// Closed loop: the window.
    pub fn set_window(&mut self, window: u32) {
        self.window = window;
    }

    /// True when nothing more will happen: every avalanche client is bound or gave up, or the
    /// DORA limit was reached, nothing is in flight and no renewals (or rebinds, reboots,
    /// releases) are configured.
    pub fn is_done(&self) -> bool {
        match self.cfg.load {
            Load::Avalanche => {
                self.avalanche_next == self.cfg.clients
                    && self.inflight == 0
                    && self.ready.is_empty()
            }
            _ => {
                let maintaining = self.starting && self.maint_rate.iter().any(|r| *r > 0.0);
                self.inflight == 0
                    && self.ready.is_empty()
                    && !maintaining
                    && self
                        .cfg
                        .dora_limit
                        .is_some_and(|l| self.stats.dora_started >= l)
            }
        }
    }

    /// When the fleet next has something to do (`None`: only a received frame can wake it).
    pub fn poll_timeout(&self, now: Duration) -> Option<Duration> {
        if !self.ready.is_empty() {
            return Some(now);
        }
        let mut next: Option<Duration> = None;
        let mut at = |t: Duration| next = Some(next.map_or(t, |n| n.min(t)));
        if self.wheel.armed() > 0 {
            at(Duration::from_millis(now.as_millis() as u64 + 1));
        }
        if self.starting {
            if self.may_start_dora() {
                return Some(now);
            }
            if matches!(self.cfg.load, Load::Open { .. }) && self.dora_rate > 0.0 {
                let wait = (1.0 - self.dora_credit).max(0.0) / self.dora_rate;
                at(now + Duration::from_secs_f64(wait));
            }
            for (r, c) in self.maint_rate.iter().zip(self.maint_credit) {
                if *r > 0.0 {
                    at(now + Duration::from_secs_f64((1.0 - c).max(0.0) / r));
                }
            }
        }
        next
    }

    fn advance(&mut self, now_us: u64) {
        if now_us <= self.last_us {
            return;
        }
        let dt = (now_us - self.last_us) as f64 / 1e6;
        self.last_us = now_us;
        if !self.starting {
            return;
        }
        if matches!(self.cfg.load, Load::Open { .. }) {
            self.dora_credit += self.dora_rate * dt;
            // Up to 25 ms of starts may be caught up after a stall (the kernel's softirq work
            // for the link runs on the sender's CPU and can preempt it for milliseconds);
            // beyond that they are lost (counted), so the offered rate is what was really sent.
            let cap = (self.dora_rate * 0.025).max(64.0);
            if self.dora_credit > cap {
                self.stats.starts_missed += (self.dora_credit - cap) as u64;
                self.dora_credit = cap;
            }
        }
        for (c, r) in self.maint_credit.iter_mut().zip(self.maint_rate) {
            *c = (*c + r * dt).min((r * 0.005).max(4.0));
        }
    }

    fn may_start_dora(&self) -> bool {
        if self
            .cfg
            .dora_limit
            .is_some_and(|l| self.stats.dora_started >= l)
        {
            return false;
        }
        match self.cfg.load {
            Load::Open { .. } => self.dora_credit >= 1.0,
            Load::Closed { .. } => self.inflight < self.window,
            Load::Avalanche => self.avalanche_next < self.cfg.clients,
        }
    }

    /// Writes the next frame to send into `buf` (at least [`MIN_FRAME_BUFFER`] bytes) and
    /// returns its length, or `None` when nothing is due at `now`.
    pub fn poll_transmit(&mut self, now: Duration, buf: &mut [u8]) -> Option<usize> {
        assert!(buf.len() >= MIN_FRAME_BUFFER, "frame buffer too small");
        let now_us = now.as_micros() as u64;
        self.advance(now_us);
        while let Some(l) = self.ready.pop_front() {
            let c = &mut self.clients[l as usize];
            c.flags &= !QUEUED;
            if c.phase.waiting().is_some() || c.phase == Phase::Releasing {
                return Some(self.emit(l, now_us, buf));
            }
        }
        if !self.starting {
            return None;
        }
        for k in 0..4 {
            if self.maint_credit[k] < 1.0 {
                continue;
            }
            match self.pick_bound(now_us) {
                Some(l) => {
                    self.maint_credit[k] -= 1.0;
                    let c = &mut self.clients[l as usize];
                    c.phase = [
                        Phase::Renewing,
                        Phase::Rebinding,
                        Phase::Rebooting,
                        Phase::Releasing,
                    ][k];
                    c.epoch = c.epoch.wrapping_add(1);
                    c.tries = 0;
                    if k < 3 {
                        self.inflight += 1;
                    }
                    return Some(self.emit(l, now_us, buf));
                }
                None => {
                    self.maint_credit[k] = 0.0;
                    self.stats.no_free_client += 1;
                }
            }
        }
        if self.may_start_dora() {
            let l = match self.cfg.load {
                Load::Avalanche => {
                    self.avalanche_next += 1;
                    Some(self.avalanche_next - 1)
                }
                _ => self.pick_free(),
            };
            match l {
                Some(l) => {
                    if let Load::Open { .. } = self.cfg.load {
                        self.dora_credit -= 1.0;
                    }
                    let g = self.cfg.first_client + l;
                    self.started_span = self.started_span.max(l + 1);
                    let c = &mut self.clients[l as usize];
                    if c.phase == Phase::Bound {
                        // A bound client starting over forgets its lease, as after a reboot
                        // that lost it.
                        self.registry.let_go(g);
                    }
                    c.phase = Phase::Selecting;
                    c.addr = 0;
                    c.epoch = c.epoch.wrapping_add(1);
                    c.tries = 0;
                    self.inflight += 1;
                    self.stats.dora_started += 1;
                    return Some(self.emit(l, now_us, buf));
                }
                None => self.stats.no_free_client += 1,
            }
        }
        None
    }

    /// A client with no exchange in flight (idle, or bound and starting over).
    fn pick_free(&mut self) -> Option<u32> {
        let n = self.cfg.clients;
        for _ in 0..PROBE.min(n) {
            let l = self.start_cursor;
            self.start_cursor = (self.start_cursor + 1) % n;
            let c = &self.clients[l as usize];
            if matches!(c.phase, Phase::Idle | Phase::Bound) && c.flags & QUEUED == 0 {
                return Some(l);
            }
        }
        None
    }

    /// A bound client whose lease is not about to end (the server's clock may be ahead of
    /// ours by [`CLOCK_SLACK_SECS`]).
    fn pick_bound(&mut self, now_us: u64) -> Option<u32> {
        // New DORAs take clients in index order, so while the first lap is not over the bound
        // ones are all below `started_span`: look only there.
        let n = self.started_span.max(1);
        let now_s = (now_us / 1_000_000) as u32;
        for _ in 0..PROBE.min(n) {
            let l = self.maint_cursor % n;
            self.maint_cursor = (l + 1) % n;
            let c = &self.clients[l as usize];
            if c.phase == Phase::Bound
                && c.flags & QUEUED == 0
                && self.registry.held(self.cfg.first_client + l).1
                    > now_s.saturating_add(CLOCK_SLACK_SECS)
            {
                return Some(l);
            }
        }
        None
    }

    fn queue(&mut self, l: u32) {
        let c = &mut self.clients[l as usize];
        if c.flags & QUEUED == 0 {
            c.flags |= QUEUED;
            self.ready.push_back(l);
        }
    }

    /// Sends the message of client `l`'s current phase and arms its timer.
    fn emit(&mut self, l: u32, now_us: u64, buf: &mut [u8]) -> usize {
        let c = self.clients[l as usize];
        let kind = c.phase.waiting().unwrap_or(Exchange::Release);
        let len = self.build(l, now_us, buf);
        self.stats.frames_sent += 1;
        let c = &mut self.clients[l as usize];
        if c.tries == 0 {
            c.sent_us = now_us as u32;
            self.stats.exchange_mut(kind).sent += 1;
        } else {
            self.stats.exchange_mut(kind).retransmitted += 1;
        }
        c.tries = c.tries.saturating_add(1);
        if kind == Exchange::Release {
            c.phase = Phase::Idle;
            c.addr = 0;
            self.registry.let_go(self.cfg.first_client + l);
            return len;
        }
        let deadline_us = match self.cfg.load {
            Load::Avalanche => {
                let j = self.rng.jitter(1_000_000);
                now_us + self.cfg.backoff.delay_us(c.tries, j)
            }
            _ => now_us + self.cfg.drop_timeout.as_micros() as u64,
        };
        self.wheel.arm(l, deadline_us.div_ceil(1000) as u32);
        len
    }

    fn vlans_of(&self, g: u32) -> VlanStack {
        let v = self.cfg.vlans;
        let mut tags = [VlanTag::default(); 2];
        let mut n = 0;
        if let Some(o) = v.outer {
            tags[n] = VlanTag {
                tpid: TPID_8021AD,
                tci: o,
            };
            n += 1;
        }
        if let Some(i) = v.inner {
            let id = u32::from(i) + g % u32::from(v.inner_count.max(1));
            tags[n] = VlanTag {
                tpid: TPID_8021Q,
                tci: id as u16,
            };
            n += 1;
        }
        VlanStack::from_tags(&tags[..n]).unwrap_or_default()
    }

    /// Option 82 value of client `g`: circuit id and remote id, each prefix + decimal index.
    fn relay_info(&self, g: u32, out: &mut [u8; 96]) -> usize {
        let Some(r) = &self.cfg.relay else { return 0 };
        let mut at = 0;
        for (code, prefix) in [(1u8, &r.circuit_id_prefix), (2, &r.remote_id_prefix)] {
            let start = at;
            out[start] = code;
            out[start + 2..start + 2 + prefix.len()].copy_from_slice(prefix);
            let end = put_decimal(out, start + 2 + prefix.len(), g).unwrap_or(start + 2);
            out[start + 1] = (end - start - 2) as u8;
            at = end;
        }
        at
    }

    fn server_of(&self, c: &Client) -> Ipv4Addr {
        if usize::from(c.server) < self.servers_len {
            Ipv4Addr::from(self.servers[usize::from(c.server)])
        } else {
            self.cfg.server.unwrap_or(Ipv4Addr::BROADCAST)
        }
    }

    fn server_index(&mut self, id: Ipv4Addr) -> u8 {
        let id = u32::from(id);
        if let Some(i) = self.servers[..self.servers_len]
            .iter()
            .position(|s| *s == id)
        {
            return i as u8;
        }
        if self.servers_len < MAX_SERVERS {
            self.servers[self.servers_len] = id;
            self.servers_len += 1;
            return (self.servers_len - 1) as u8;
        }
        0
    }

    fn relayed(&self, kind: Exchange) -> bool {
        self.cfg.relay.is_some()
            && matches!(
                kind,
                Exchange::Discover | Exchange::Request | Exchange::Rebind | Exchange::Reboot
            )
    }

    /// Writes the frame of client `l`'s current phase.
    fn build(&mut self, l: u32, now_us: u64, buf: &mut [u8]) -> usize {
        let g = self.cfg.first_client + l;
        let c = self.clients[l as usize];
        let kind = c.phase.waiting().unwrap_or(Exchange::Release);
        let mac = client_mac(self.cfg.mac_base, g);
        let relayed = self.relayed(kind);
        let addr = Ipv4Addr::from(c.addr);
        let server_mac = self.cfg.server_mac.unwrap_or(MacAddr::BROADCAST);
        let (src_mac, dst_mac, src_ip, dst_ip, src_port) = match (&self.cfg.relay, kind) {
            (Some(r), _) if relayed => (
                self.cfg.iface_mac,
                server_mac,
                r.giaddr,
                self.cfg.server.unwrap_or(Ipv4Addr::BROADCAST),
                67,
            ),
            (relay, Exchange::Renew | Exchange::Release) => (
                if relay.is_some() {
                    self.cfg.iface_mac
                } else {
                    mac
                },
                server_mac,
                addr,
                self.server_of(&c),
                68,
            ),
            (_, Exchange::Rebind) => (mac, MacAddr::BROADCAST, addr, Ipv4Addr::BROADCAST, 68),
            _ => (
                mac,
                MacAddr::BROADCAST,
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::BROADCAST,
                68,
            ),
        };
        let link = LinkMeta {
            dst: dst_mac,
            src: src_mac,
            vlans: self.vlans_of(g),
        };
        let udp = UdpMeta {
            src_ip,
            dst_ip,
            src_port,
            dst_port: 67,
            ttl: 64,
        };
        let hdr = frame::udp_headers_len(&link.vlans);
        let xid = self.codec.encode(g, c.epoch);
        let mut relay_info = [0u8; 96];
        let relay_len = if relayed {
            self.relay_info(g, &mut relay_info)
        } else {
            0
        };
        let mut client_id = [0u8; 36];
        let client_id_len = match &self.cfg.client_id_prefix {
            Some(p) => {
                client_id[..p.len()].copy_from_slice(p);
                client_id[p.len()..p.len() + 4].copy_from_slice(&g.to_be_bytes());
                p.len() + 4
            }
            None => 0,
        };
        let secs = if c.tries == 0 {
            0
        } else {
            ((now_us as u32).wrapping_sub(c.sent_us) / 1_000_000).min(u32::from(u16::MAX)) as u16
        };
        let body = &mut buf[hdr..];
        let limit = body.len();
        let payload_len = (|| {
            let mut w = DhcpWriter::new(body, limit, None).ok()?;
            w.set_op(Op::BootRequest);
            w.set_htype(HTYPE_ETHERNET);
            w.set_hlen(6).ok()?;
            w.set_hops(u8::from(relayed));
            w.set_xid(xid);
            w.set_secs(secs);
            let unicast = matches!(kind, Exchange::Renew | Exchange::Release);
            w.set_flags(if self.cfg.broadcast_flag && !unicast {
                FLAG_BROADCAST
            } else {
                0
            });
            if matches!(kind, Exchange::Renew | Exchange::Rebind | Exchange::Release) {
                w.set_ciaddr(addr);
            }
            if let (true, Some(r)) = (relayed, &self.cfg.relay) {
                w.set_giaddr(r.giaddr);
            }
            w.set_chaddr(&mac.0).ok()?;
            w.message_type(match kind {
                Exchange::Discover => MessageType::Discover,
                Exchange::Release => MessageType::Release,
                _ => MessageType::Request,
            })
            .ok()?;
            if matches!(kind, Exchange::Request | Exchange::Reboot) {
                w.option(OptionCode::REQUESTED_IP, &addr.octets()).ok()?;
            }
            if matches!(kind, Exchange::Request | Exchange::Release) {
                w.option(OptionCode::SERVER_ID, &self.server_of(&c).octets())
                    .ok()?;
            }
            if client_id_len > 0 {
                w.option(OptionCode::CLIENT_ID, &client_id[..client_id_len])
                    .ok()?;
            }
            if kind != Exchange::Release {
                w.option(OptionCode::PARAMETER_REQUEST_LIST, &PRL).ok()?;
            }
            if relay_len > 0 {
                w.option(OptionCode::RELAY_AGENT_INFO, &relay_info[..relay_len])
                    .ok()?;
            }
            Some(w.finish())
        })();
        // The buffer was checked against the largest message this fleet can build.
        let payload_len = payload_len.expect("request fits the frame buffer");
        self.ident = self.ident.wrapping_add(1);
        frame::write_udp_headers(buf, &link, &udp, self.ident, payload_len)
            .expect("headers fit the frame buffer")
    }

    /// Fires the timers due at `now`: in open and closed loop an unanswered exchange is
    /// dropped; in avalanche mode it is retransmitted, or given up after `max_tries`.
    pub fn handle_timeout(&mut self, now: Duration) {
        let now_us = now.as_micros() as u64;
        self.advance(now_us);
        let now_ms = (now_us / 1000) as u32;
        let now_s = (now_us / 1_000_000) as u32;
        let Fleet {
            wheel,
            clients,
            ready,
            stats,
            registry,
            cfg,
            inflight,
            ..
        } = self;
        wheel.expire(now_ms, |l| {
            let c = &mut clients[l as usize];
            let Some(kind) = c.phase.waiting() else {
                return;
            };
            let g = cfg.first_client + l;
            if cfg.load == Load::Avalanche && c.tries < cfg.backoff.max_tries {
                if c.flags & QUEUED == 0 {
                    c.flags |= QUEUED;
                    ready.push_back(l);
                }
                return;
            }
            stats.exchange_mut(kind).drops += 1;
            match c.phase {
                Phase::Requesting if cfg.load == Load::Avalanche => {
                    // RFC 2131 §4.4.1: no ACK after the retransmissions, back to INIT.
                    stats.restarts += 1;
                    c.phase = Phase::Selecting;
                    c.addr = 0;
                    c.epoch = c.epoch.wrapping_add(1);
                    c.tries = 0;
                    if c.flags & QUEUED == 0 {
                        c.flags |= QUEUED;
                        ready.push_back(l);
                    }
                }
                Phase::Selecting | Phase::Requesting => {
                    *inflight -= 1;
                    stats.dora_failed += 1;
                    if cfg.load == Load::Avalanche {
                        stats.gave_up += 1;
                        c.phase = Phase::GaveUp;
                    } else {
                        c.phase = Phase::Idle;
                    }
                    c.addr = 0;
                }
                _ => {
                    *inflight -= 1;
                    if registry.held(g).1 > now_s {
                        c.phase = Phase::Bound;
                    } else {
                        c.phase = Phase::Idle;
                        c.addr = 0;
                        registry.let_go(g);
                    }
                }
            }
        });
    }

    /// Takes a received frame: checks it and advances the exchange it answers.
    pub fn handle_frame(&mut self, now: Duration, frame: &[u8]) -> Verdict {
        let now_us = now.as_micros() as u64;
        self.advance(now_us);
        self.stats.frames_received += 1;
        let Ok(f) = frame::parse_udp_frame(frame) else {
            self.stats.not_for_us += 1;
            return Verdict::NotForUs;
        };
        if f.udp.src_port != 67 || !matches!(f.udp.dst_port, 67 | 68) {
            self.stats.not_for_us += 1;
            return Verdict::NotForUs;
        }
        let pkt = match DhcpPacket::new_checked(f.payload) {
            Ok(p) if p.op() == Op::BootRequest => {
                self.stats.not_for_us += 1;
                return Verdict::NotForUs;
            }
            Ok(p) => p,
            Err(_) => {
                self.violation(now_us, ViolationKind::Malformed, None, 0, 0, None);
                return Verdict::Rejected(ViolationKind::Malformed);
            }
        };
        let opts = match pkt.options() {
            Ok(o) => o,
            Err(_) => {
                let (xid, yiaddr) = (pkt.xid(), u32::from(pkt.yiaddr()));
                self.violation(now_us, ViolationKind::Malformed, None, xid, yiaddr, None);
                return Verdict::Rejected(ViolationKind::Malformed);
            }
        };
        let xid = pkt.xid();
        let yiaddr = u32::from(pkt.yiaddr());
        let total = self.cfg.total_clients;
        let (gx, epoch) = self.codec.decode(xid);
        let gc = if pkt.htype() == HTYPE_ETHERNET {
            client_of_mac(self.cfg.mac_base, total, pkt.chaddr())
        } else {
            None
        };
        let in_flight = |fleet: &Fleet, g: u32, e: u8| {
            fleet.owns(g) && {
                let c = &fleet.clients[(g - fleet.cfg.first_client) as usize];
                c.phase.waiting().is_some() && c.epoch == e
            }
        };
        let g = if gx < total && Some(gx) == gc {
            gx
        } else {
            let (kind, g) = if gx < total && in_flight(self, gx, epoch) {
                (ViolationKind::WrongChaddr, gx)
            } else if let Some(gc) = gc {
                (ViolationKind::WrongXid, gc)
            } else {
                self.stats.not_for_us += 1;
                return Verdict::NotForUs;
            };
            self.violation(now_us, kind, Some(g), xid, yiaddr, None);
            return Verdict::Rejected(kind);
        };
        if !self.owns(g) {
            self.stats.not_for_us += 1;
            return Verdict::NotForUs;
        }
        let l = g - self.cfg.first_client;
        if !in_flight(self, g, epoch) {
            self.stats.late += 1;
            return Verdict::Late;
        }
        let c = self.clients[l as usize];
        let Some(kind) = c.phase.waiting() else {
            unreachable!("in flight")
        };
        let ex = Some(kind.as_str());
        let want = if kind == Exchange::Discover {
            MessageType::Offer
        } else {
            MessageType::Ack
        };
        let msg = opts.message_type();
        let is_nak = msg == Some(MessageType::Nak) && kind != Exchange::Discover;
        if msg != Some(want) && !is_nak {
            let found = msg.map(|m| u32::from(u8::from(m)));
            self.violation_detail(
                now_us,
                ViolationKind::WrongMessageType,
                g,
                xid,
                yiaddr,
                ex,
                Detail {
                    expected: Some(u32::from(u8::from(want))),
                    found,
                    other_client: None,
                },
            );
            return Verdict::Rejected(ViolationKind::WrongMessageType);
        }

        // Checks that do not stop the exchange.
        let mut found = Found::new();
        match opts.server_id() {
            None => found.push(ViolationKind::MissingServerId, None, None),
            Some(s) => {
                if let Some(e) = self.cfg.expect_server_id {
                    if s != e {
                        found.push(
                            ViolationKind::WrongServerId,
                            Some(u32::from(e)),
                            Some(u32::from(s)),
                        );
                    }
                }
            }
        }
        let expected_vlans = self.vlans_of(g);
        if f.link.vlans != expected_vlans {
            let tag = |s: &VlanStack| s.tags().last().map(|t| u32::from(t.vid()));
            found.push(
                ViolationKind::WrongVlan,
                tag(&expected_vlans),
                tag(&f.link.vlans),
            );
        }
        if self.relayed(kind) {
            let giaddr = self.cfg.relay.as_ref().map_or(0, |r| u32::from(r.giaddr));
            if f.udp.dst_port != 67
                || u32::from(f.udp.dst_ip) != giaddr
                || u32::from(pkt.giaddr()) != giaddr
            {
                found.push(
                    ViolationKind::WrongDestination,
                    Some(giaddr),
                    Some(u32::from(f.udp.dst_ip)),
                );
            }
            let mut mine = [0u8; 96];
            let n = self.relay_info(g, &mut mine);
            let echoed = opts
                .get(OptionCode::RELAY_AGENT_INFO)
                .is_some_and(|v| v.len() == n && v.bytes().eq(mine[..n].iter().copied()));
            if !echoed {
                found.push(ViolationKind::RelayInfoNotEchoed, None, None);
            }
        } else if f.udp.dst_port != 68 {
            found.push(
                ViolationKind::WrongDestination,
                Some(68),
                Some(u32::from(f.udp.dst_port)),
            );
        }

        if is_nak {
            for &(k, d) in found.items() {
                self.violation_detail(now_us, k, g, xid, yiaddr, ex, d);
            }
            self.violation(now_us, ViolationKind::Nak, Some(g), xid, yiaddr, ex);
            self.wheel.cancel(l);
            self.stats.exchange_mut(kind).naks += 1;
            self.inflight -= 1;
            if kind == Exchange::Request {
                self.stats.dora_failed += 1;
            }
            let c = &mut self.clients[l as usize];
            c.phase = Phase::Idle;
            c.addr = 0;
            self.registry.let_go(g);
            return Verdict::Rejected(ViolationKind::Nak);
        }

        let lease = opts.lease_time_secs();
        match lease {
            None => found.push(ViolationKind::MissingLeaseTime, None, None),
            Some(t) if !self.cfg.lease_secs.contains(&t) => found.push(
                ViolationKind::LeaseTimeOutOfRange,
                Some(*self.cfg.lease_secs.start()),
                Some(t),
            ),
            Some(_) => {}
        }
        if yiaddr == 0 {
            found.push(ViolationKind::WrongYiaddr, None, Some(0));
            for &(k, d) in found.items() {
                self.violation_detail(now_us, k, g, xid, yiaddr, ex, d);
            }
            return Verdict::Rejected(ViolationKind::WrongYiaddr);
        }
        if kind != Exchange::Discover && yiaddr != c.addr {
            found.push(ViolationKind::WrongYiaddr, Some(c.addr), Some(yiaddr));
        }

        // The reply is accepted.
        self.wheel.cancel(l);
        let s = self.stats.exchange_mut(kind);
        s.replies += 1;
        s.latency_us
            .record(u64::from((now_us as u32).wrapping_sub(c.sent_us)));
        let now_s = (now_us / 1_000_000) as u32;
        if kind == Exchange::Discover {
            let server = opts
                .server_id()
                .or(self.cfg.server)
                .unwrap_or(Ipv4Addr::BROADCAST);
            let si = self.server_index(server);
            let c = &mut self.clients[l as usize];
            c.phase = Phase::Requesting;
            c.addr = yiaddr;
            c.server = si;
            c.epoch = c.epoch.wrapping_add(1);
            c.tries = 0;
            self.queue(l);
        } else {
            let lease_end = match lease {
                Some(u32::MAX) | None => INFINITE,
                Some(t) => now_s.saturating_add(t).min(INFINITE - 1),
            };
            match self.registry.claim(g, yiaddr, lease_end, now_s) {
                Claim::Clean => {}
                Claim::Duplicate(other) => found.push_detail(
                    ViolationKind::DuplicateAddress,
                    Detail {
                        expected: None,
                        found: Some(yiaddr),
                        other_client: Some(other),
                    },
                ),
                Claim::Unchecked => self.stats.unchecked_addresses += 1,
            }
            self.inflight -= 1;
            if kind == Exchange::Request {
                self.stats.dora_completed += 1;
            }
            let c = &mut self.clients[l as usize];
            c.phase = Phase::Bound;
            c.addr = yiaddr;
            if c.flags & EVER_BOUND == 0 {
                c.flags |= EVER_BOUND;
                self.stats.provisioned += 1;
                self.stats.provision_us.record(now_us);
            }
        }
        for &(k, d) in found.items() {
            self.violation_detail(now_us, k, g, xid, yiaddr, ex, d);
        }
        Verdict::Accepted {
            exchange: kind,
            violations: found.len as u8,
        }
    }

    fn violation(
        &mut self,
        now_us: u64,
        kind: ViolationKind,
        client: Option<u32>,
        xid: u32,
        yiaddr: u32,
        exchange: Option<&'static str>,
    ) {
        self.stats.violations.record(Violation {
            kind,
            at_us: now_us,
            client,
            xid,
            yiaddr: Ipv4Addr::from(yiaddr),
            exchange,
            expected: None,
            found: None,
            other_client: None,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn violation_detail(
        &mut self,
        now_us: u64,
        kind: ViolationKind,
        client: u32,
        xid: u32,
        yiaddr: u32,
        exchange: Option<&'static str>,
        d: Detail,
    ) {
        self.stats.violations.record(Violation {
            kind,
            at_us: now_us,
            client: Some(client),
            xid,
            yiaddr: Ipv4Addr::from(yiaddr),
            exchange,
            expected: d.expected,
            found: d.found,
            other_client: d.other_client,
        });
    }
}

//! One failover relationship's protocol endpoint: connection handshake, the server state
//! machine, keep-alive timers, and the flow of binding updates — sans-IO, like quinn-proto:
//! inputs are `handle_*(now, …)`, outputs are [`Endpoint::poll_transmit`],
//! [`Endpoint::poll_event`] and [`Endpoint::poll_timeout`].
//!
//! The endpoint knows nothing about lease tables. Bindings to tell the partner about come in
//! through [`Endpoint::queue_update`]; the partner's updates go out as
//! [`Event::PeerUpdate`] and their verdicts come back through [`Endpoint::handle_verdict`]
//! (only once applied *and durable*: draft-12 §5.2.1 forbids acknowledging earlier).
//!
//! Section numbers are draft-12's; "§F" points into failover-protocol.md.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::{
    hash::Hba,
    msg::{AckEntry, Body, Msg, PeerBinding},
    state::ServerState,
};
use crate::config::{FailoverRole, PartnerSoftware};
use crate::lease::{BindingState, ClientKey};

/// Protocol version (§12.20).
pub const PROTOCOL_VERSION: u8 = 1;
/// Largest clock difference accepted at connect time, seconds (ISC's and Windows' limit, §F1.9).
pub const MAX_SKEW_SECS: i64 = 60;
/// How long a fresh connection may take to complete CONNECT/CONNECTACK (ISC: 15 s).
pub const CONNECT_WAIT_MS: u64 = 15_000;
/// Reconnect back-off bounds.
const RECONNECT_MIN_MS: u64 = 1_000;
const RECONNECT_MAX_MS: u64 = 30_000;
/// Reject reasons used by the endpoint (§12.21).
pub mod reason {
    /// Time mismatch too great.
    pub const TIME_MISMATCH: u8 = 4;
    /// Invalid MCLT.
    pub const INVALID_MCLT: u8 = 5;
    /// Duplicate connection.
    pub const DUPLICATE_CONNECTION: u8 = 7;
    /// Invalid failover partner.
    pub const INVALID_PARTNER: u8 = 8;
    /// Protocol version mismatch.
    pub const VERSION_MISMATCH: u8 = 14;
    /// No traffic within sufficient time.
    pub const NO_TRAFFIC: u8 = 17;
    /// Hash bucket assignment conflict.
    pub const HBA_CONFLICT: u8 = 18;
    /// Message digest not configured (a digest arrived and we have no shared secret).
    pub const DIGEST_NOT_CONFIGURED: u8 = 13;
    /// Message digest failed to compare.
    pub const DIGEST_FAILED: u8 = 20;
    /// Missing message digest.
    pub const DIGEST_MISSING: u8 = 21;
    /// Unknown reason.
    pub const UNKNOWN: u8 = 6;
}

/// Static settings of an endpoint.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// relationship-name.
    pub name: String,
    /// Our role.
    pub role: FailoverRole,
    /// Our configured MCLT, seconds (the primary's rules; a secondary adopts it, §7.8.2).
    pub mclt: u32,
    /// The HBA the primary sends (buckets the primary serves).
    pub hba: Hba,
    /// max-unacked-bndupd we advertise.
    pub max_unacked: u32,
    /// receive-timer we advertise, seconds (our tReceive).
    pub receive_timer: u32,
    /// COMMUNICATIONS-INTERRUPTED → PARTNER-DOWN after this many seconds; `None` = never.
    pub switchover: Option<u32>,
    /// The partner's software (dialect).
    pub partner: PartnerSoftware,
    /// vendor-class-identifier we send.
    pub vendor: String,
    /// STARTUP lasts at most this long without hearing the partner, seconds.
    pub startup_secs: u32,
}

impl EndpointConfig {
    /// Bindings per BNDUPD the partner can take.
    pub fn batch(&self) -> usize {
        match self.partner {
            PartnerSoftware::IscDhcpd => 1,
            PartnerSoftware::Windows => 16,
            PartnerSoftware::Xdhcp => 16,
        }
    }
}

/// What the endpoint keeps across restarts (written by the caller to stable storage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persisted {
    /// Our state (never STARTUP).
    pub state: ServerState,
    /// When we entered it.
    pub stos: u32,
    /// The MCLT in force (a secondary's is the primary's).
    pub mclt: u32,
}

/// Current time: monotonic milliseconds for timers, wall-clock seconds for the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic milliseconds.
    pub mono_ms: u64,
    /// Seconds since 1970.
    pub wall: u32,
}

/// Something for the caller to do or know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Our state changed: persist it (with its start time) and tell the workers.
    StateChanged {
        /// New state.
        state: ServerState,
        /// Its start time.
        stos: u32,
        /// The state we left.
        from: ServerState,
    },
    /// The partner reported its state.
    PartnerState {
        /// The partner's state.
        state: ServerState,
        /// Its start time.
        stos: u32,
    },
    /// Open a connection to the partner.
    Connect,
    /// Close connection `link` (after sending what is queued).
    Close {
        /// Connection id.
        link: u64,
    },
    /// A binding update from the partner: apply it (or not) and, once what was decided is
    /// durable, call [`Endpoint::handle_verdict`] with the same `link`, `xid` and `index`.
    PeerUpdate {
        /// Connection it came on.
        link: u64,
        /// BNDUPD xid.
        xid: u32,
        /// Position in the BNDUPD.
        index: usize,
        /// The binding.
        binding: PeerBinding,
    },
    /// The partner answered one of our updates.
    Acked {
        /// What we had sent.
        binding: PeerBinding,
        /// Reject reason, `None` when accepted.
        reject: Option<u8>,
    },
    /// The partner asked for updates (UPDREQ: the ones it has not acknowledged; UPDREQALL:
    /// every binding). Queue them with [`Endpoint::queue_update`], then call
    /// [`Endpoint::updates_queued`].
    SendUpdates {
        /// UPDREQALL.
        all: bool,
    },
    /// The secondary asked for addresses (POOLREQ): rebalance, then call
    /// [`Endpoint::pool_response`].
    PoolRequest,
    /// Run pool balancing (the primary entered NORMAL).
    Rebalance,
    /// Something worth a log line.
    Note(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Receive = 0,
    Send,
    Startup,
    Switchover,
    Reconnect,
    ConnectWait,
    RecoverWait,
}
const TIMERS: usize = 7;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for CONNECT (secondary) or CONNECTACK (primary).
    Handshake,
    /// CONNECT/CONNECTACK done.
    Up,
}

#[derive(Debug)]
struct Link {
    id: u64,
    stage: Stage,
    /// We asked for updates on this link and await UPDDONE (xid).
    awaiting_upddone: Option<u32>,
    /// UPDDONE we owe: (request xid, serial the request covers).
    owe_upddone: Option<(u32, u64)>,
    /// Waiting for the caller to queue what an UPDREQ asked for (request xid).
    dumping: Option<u32>,
    /// Our wall clock when we sent our first message on this link (CONNECT, CONNECTACK).
    /// Everything the partner sends after its CONNECT comes after it has read that.
    first_sent: Option<u32>,
}

/// Incoming BNDUPD waiting for verdicts.
#[derive(Debug)]
struct Incoming {
    link: u64,
    entries: Vec<AckEntry>,
    /// What each binding told: its state and client, for [`Endpoint::supersede`].
    told: Vec<(BindingState, ClientKey)>,
    missing: usize,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Bindings sent in BNDUPDs.
    pub updates_sent: u64,
    /// Bindings the partner accepted.
    pub updates_acked: u64,
    /// Bindings the partner rejected.
    pub updates_rejected: u64,
    /// Bindings received.
    pub updates_received: u64,
    /// Connections established (CONNECT/CONNECTACK done).
    pub connections: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
}

/// The partner's clock offset is the largest seen over this many seconds.
const SKEW_WINDOW_SECS: u64 = 60;

/// How far the offset estimate moves before [`Endpoint::cltt_shift`] takes it as a new level
/// (a clock step): more than whole-second readings and a slow link move it by.
pub const SKEW_LEVEL_SECS: i64 = 3;

/// How much of the partner's clock offset a slow link may hide from its messages that
/// [`Endpoint::skew_bound`] makes up for, at most: the bound from messages stamped after ours
/// grows with the time since ours left, and beyond a few seconds of transit it only loosens.
pub const MAX_HIDDEN_TRANSIT_SECS: i64 = 5;

/// Seconds a wait for the partner's possible extension of a lease (MCLT past the latest
/// potential expiration known, §5.2.1) adds: the partner's potential expirations are moved
/// back onto our clock by [`Endpoint::skew_bound`], up to this much more than by the offset
/// its messages show, so that they cap our leases safely; the wait must not shrink by it.
pub const POT_SLACK_SECS: u32 = 1 + MAX_HIDDEN_TRANSIT_SECS as u32;

/// Adds `value` to the per-second samples (`pick` keeps one per second and chooses among
/// them), forgets those older than [`SKEW_WINDOW_SECS`], and returns the pick over the rest.
fn sample(
    samples: &mut VecDeque<(u64, i64)>,
    sec: u64,
    value: Option<i64>,
    pick: fn(i64, i64) -> i64,
) -> Option<i64> {
    if let Some(value) = value {
        match samples.back_mut() {
            Some((s, v)) if *s == sec => *v = pick(*v, value),
            _ => samples.push_back((sec, value)),
        }
    }
    while samples
        .front()
        .is_some_and(|(s, _)| *s + SKEW_WINDOW_SECS < sec)
    {
        samples.pop_front();
    }
    samples.iter().map(|(_, v)| *v).reduce(pick)
}

/// A failover endpoint.
#[derive(Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    state: ServerState,
    stos: u32,
    /// The state to resume after STARTUP.
    prev: Persisted,
    /// No state had ever been stored.
    first_run: bool,
    mclt: u32,
    hba: Hba,
    partner: Option<(ServerState, u32, bool)>,
    partner_down_since: u32,
    /// In PARTNER-DOWN: MCLT must pass after this time (wall clock) before our own free
    /// addresses may be handed out; 0: at once. See [`own_pool_since`](Self::own_pool_since).
    own_pool_since: u32,
    link: Option<Link>,
    timers: [Option<u64>; TIMERS],
    reconnect_ms: u64,
    xid: u32,
    peer_max_unacked: u32,
    peer_receive_timer: u32,
    /// Updates to send, by address; `order` keeps their first-queued order.
    pending: HashMap<std::net::Ipv4Addr, (u64, PeerBinding)>,
    order: VecDeque<std::net::Ipv4Addr>,
    in_flight: BTreeMap<u32, Vec<(u64, PeerBinding)>>,
    unacked_serials: BTreeSet<u64>,
    serial: u64,
    incoming: HashMap<u32, Incoming>,
    pool_req_xid: Option<u32>,
    out: VecDeque<Msg>,
    events: VecDeque<Event>,
    /// Clock offset partner − us, seconds: the largest seen in the last minute of messages.
    pub skew: i64,
    /// (monotonic second, largest offset seen in it), for [`skew`](Self::skew).
    skew_samples: VecDeque<(u64, i64)>,
    /// The offset estimate last taken as a new level (moved by more than
    /// [`SKEW_LEVEL_SECS`] from the one before), the level before it, and our wall clock when
    /// it was taken: see [`cltt_shift`](Self::cltt_shift).
    skew_level: (i64, i64, u32),
    /// Our wall clock when each CONNECT and BNDUPD still unanswered was sent, by xid: its
    /// answer bounds the offset from above ([`skew_bound`](Self::skew_bound)).
    sent_walls: BTreeMap<u32, u32>,
    /// (monotonic second, smallest upper bound of the offset a message received in it gave).
    bound_samples: VecDeque<(u64, i64)>,
    /// The smallest of those upper bounds over the last minute.
    bound: Option<i64>,
    /// Our wall clock minus our monotonic clock, milliseconds: the largest seen since our
    /// wall clock last stepped (whole-second wall readings fall up to 1 s below the truth).
    clock_base_ms: Option<i64>,
    /// Our wall clock stepped while connected: the connection is to be dropped at the next
    /// entry point ([`clock_checkpoint`](Self::clock_checkpoint)).
    clock_stepped: bool,
    /// The last time (wall clock) this server is known to have worked before this start: its
    /// latest journal record. 0: unknown.
    last_alive: u32,
    /// Kept in STARTUP after the startup time: down longer than MCLT, partner unreachable.
    held_in_startup: bool,
    /// The stored state is a clean SHUTDOWN (announced in NORMAL with every update
    /// acknowledged), and this run has gone no further than STARTUP -> RECOVER: RECOVER-WAIT
    /// is skipped when the partner took over in PARTNER-DOWN (ISC back-dates the same case).
    clean_stop: bool,
    /// SHUTDOWN announced: the partner's state no longer moves ours.
    stopping: bool,
    /// Counters.
    pub stats: EndpointStats,
}

impl Endpoint {
    /// A new endpoint in STARTUP. `persisted` is what was stored last time (`None` on the first
    /// run: the previous state is then RECOVER with no time of failure, so no MCLT wait).
    pub fn new(cfg: EndpointConfig, persisted: Option<Persisted>, now: Now) -> Endpoint {
        let first_run = persisted.is_none();
        let mut prev = persisted.unwrap_or(Persisted {
            state: ServerState::Recover,
            stos: 0,
            mclt: cfg.mclt,
        });
        // A clean SHUTDOWN is only ever recorded from NORMAL (`handle_shutdown`): resume as a
        // server that went down in NORMAL at that time.
        let clean_stop = prev.state == ServerState::Shutdown;
        if clean_stop {
            prev.state = ServerState::Normal;
        }
        let mclt = if cfg.role == FailoverRole::Primary {
            cfg.mclt
        } else {
            prev.mclt.max(1)
        };
        let mut e = Endpoint {
            hba: cfg.hba,
            mclt,
            cfg,
            state: ServerState::Startup,
            stos: now.wall,
            prev,
            first_run,
            partner: None,
            partner_down_since: if prev.state == ServerState::PartnerDown {
                prev.stos
            } else {
                0
            },
            own_pool_since: 0,
            link: None,
            timers: [None; TIMERS],
            reconnect_ms: RECONNECT_MIN_MS,
            xid: 0,
            peer_max_unacked: 1,
            peer_receive_timer: 30,
            pending: HashMap::new(),
            order: VecDeque::new(),
            in_flight: BTreeMap::new(),
            unacked_serials: BTreeSet::new(),
            serial: 0,
            incoming: HashMap::new(),
            pool_req_xid: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            skew: 0,
            skew_samples: VecDeque::new(),
            skew_level: (0, 0, 0),
            sent_walls: BTreeMap::new(),
            bound_samples: VecDeque::new(),
            bound: None,
            clock_base_ms: None,
            clock_stepped: false,
            last_alive: 0,
            held_in_startup: false,
            clean_stop,
            stopping: false,
            stats: EndpointStats::default(),
        };
        e.set_timer(Timer::Startup, now, u64::from(e.cfg.startup_secs) * 1000);
        // The first attempt fails when the partner, the link or our own address is not there
        // yet; the reconnect timer tries again until a connection is up.
        e.events.push_back(Event::Connect);
        e.set_timer(Timer::Reconnect, now, e.reconnect_ms);
        e
    }

    /// The last time this server is known to have worked before this start (its latest
    /// journal record), for the STARTUP decision.
    pub fn set_last_alive(&mut self, t: u32) {
        self.last_alive = t;
    }

    /// The relationship name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Our role.
    pub fn role(&self) -> FailoverRole {
        self.cfg.role
    }

    /// Settings.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// Our state and its start time.
    pub fn state(&self) -> (ServerState, u32) {
        (self.state, self.stos)
    }

    /// The partner's last reported state and its start time.
    pub fn partner_state(&self) -> Option<(ServerState, u32)> {
        self.partner.map(|(s, t, _)| (s, t))
    }

    /// Seconds that surely cover the partner's clock offset (partner − us): what its
    /// potential expirations are moved back by on our clock, since they cap our leases
    /// (draft-12 §5.10, §7.1.5). The largest offset seen, which transit can only make look
    /// smaller, plus the second that whole-second clocks can hide; on a slow link, the
    /// smallest bound that messages stamped after one of ours left give over the last minute
    /// (see [`handle_message`](Self::handle_message)); both moved at once by a step of our own
    /// clock (noticed against the monotonic clock).
    /// At most [`MAX_HIDDEN_TRANSIT_SECS`] above the offset seen + 1 s
    /// ([`POT_SLACK_SECS`] says why it matters).
    pub fn skew_bound(&self) -> i64 {
        let seen = self.skew + 1;
        self.bound
            .map_or(seen, |b| b.clamp(seen, seen + MAX_HIDDEN_TRANSIT_SECS))
    }

    /// How far to move the partner's client-last-transaction time `t` (its clock) back onto
    /// ours. A time stamped before a step of the partner's clock is off by the step, which no
    /// estimate made afterwards shows: moved later by it, an older RELEASED would end a later
    /// lease. So a partner's time is moved only earlier (by the estimate), unless the partner
    /// is surely behind and `t` falls after the estimate last changed level, on the old
    /// offset and on the new: then it is moved later by the upper bound of the offset
    /// ([`skew_bound`](Self::skew_bound)), never past the true time. Left on a lagging
    /// partner's clock, its later news of a client looked older than ours, and its RELEASED
    /// was refused (seed 0x4377866129ef5195).
    pub fn cltt_shift(&self, t: u32) -> i64 {
        let (level, before, since) = self.skew_level;
        let t = i64::from(t);
        let settled = (t - level).min(t - before) >= i64::from(since);
        let bound = self.skew_bound();
        if settled && bound < 0 {
            bound
        } else {
            self.skew.max(0)
        }
    }

    /// Takes the offset estimate as a new level when it moved by more than
    /// [`SKEW_LEVEL_SECS`] (a clock stepped, or the estimate started).
    fn track_skew(&mut self, now: Now) {
        let (level, _, _) = self.skew_level;
        if (self.skew - level).abs() > SKEW_LEVEL_SECS || self.skew_level.2 == 0 {
            self.skew_level = (self.skew, level, now.wall);
        }
    }

    /// The MCLT in force.
    pub fn mclt(&self) -> u32 {
        self.mclt
    }

    /// The HBA in force (buckets the primary serves).
    pub fn hba(&self) -> Hba {
        self.hba
    }

    /// When we entered PARTNER-DOWN (0 when not in it).
    pub fn partner_down_since(&self) -> u32 {
        if self.state == ServerState::PartnerDown {
            self.partner_down_since
        } else {
            0
        }
    }

    /// In PARTNER-DOWN, the time after which MCLT must pass before our own free addresses
    /// (FREE on the primary, BACKUP on the secondary) may be handed out; 0: at once.
    ///
    /// Failover-protocol.md §3.4 (draft-12 §9.4.2) lets a server in PARTNER-DOWN allocate
    /// from its own pool at once. That holds for a server that was in touch with its partner
    /// until the partner went down: the partner could not have used our free addresses.
    /// A server that enters PARTNER-DOWN straight from STARTUP, without having reached the
    /// partner since an outage longer than MCLT, cannot know that: while it was away the
    /// partner may have been declared PARTNER-DOWN itself and, after its MCLT wait, leased our
    /// free addresses (§3.4, second rule, seen from its side) before going down too
    /// (draft-12 §9.3 leaves what such a server does to the implementation). Its leases end
    /// at most MCLT after its last word to its clients, which came before we entered
    /// PARTNER-DOWN (the operator declares a partner down only while it is down), so our own
    /// free addresses get the same wait as the partner's. A server resuming PARTNER-DOWN after
    /// a short outage keeps the wait of the PARTNER-DOWN it resumes (nothing stored says
    /// whether that one had a wait; counting one is the safe side).
    pub fn own_pool_since(&self) -> u32 {
        self.own_pool_since
    }

    /// Down (or out of touch with the partner) longer than MCLT: since the latest of our last
    /// journal record and the start of the state we had, at `now`.
    fn long_down(&self, now: Now) -> bool {
        u64::from(now.wall) > u64::from(self.last_alive.max(self.prev.stos)) + u64::from(self.mclt)
    }

    /// What to persist now.
    pub fn persisted(&self) -> Persisted {
        let (state, stos) = if self.state == ServerState::Startup {
            (self.prev.state, self.prev.stos)
        } else {
            (self.state, self.stos)
        };
        Persisted {
            state,
            stos,
            mclt: self.mclt,
        }
    }

    /// True once CONNECT/CONNECTACK are done on the current connection.
    pub fn connected(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.stage == Stage::Up)
    }

    /// Id of the current connection.
    pub fn link_id(&self) -> Option<u64> {
        self.link.as_ref().map(|l| l.id)
    }

    /// Updates waiting to be sent, and sent but not yet acknowledged.
    pub fn backlog(&self) -> (usize, usize) {
        (
            self.order.len(),
            self.in_flight.values().map(Vec::len).sum(),
        )
    }

    // ---- outputs ----

    /// The next message to send on the current connection.
    pub fn poll_transmit(&mut self) -> Option<Msg> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called (monotonic ms).
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.iter().flatten().copied().min()
    }

    // ---- timers ----

    fn set_timer(&mut self, t: Timer, now: Now, after_ms: u64) {
        self.timers[t as usize] = Some(now.mono_ms + after_ms);
    }

    /// Starts the `state-switchover-interval` timer, when one is configured.
    fn arm_switchover(&mut self, now: Now) {
        if let Some(s) = self.cfg.switchover {
            self.set_timer(Timer::Switchover, now, u64::from(s) * 1000);
        }
    }

    fn stop_timer(&mut self, t: Timer) {
        self.timers[t as usize] = None;
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Now) {
        self.clock_checkpoint(now);
        for t in [
            Timer::Receive,
            Timer::Send,
            Timer::Startup,
            Timer::Switchover,
            Timer::Reconnect,
            Timer::ConnectWait,
            Timer::RecoverWait,
        ] {
            if self.timers[t as usize].is_some_and(|d| d <= now.mono_ms) {
                self.timers[t as usize] = None;
                self.on_timer(t, now);
            }
        }
    }

    fn on_timer(&mut self, t: Timer, now: Now) {
        match t {
            Timer::Receive => {
                self.note(format!(
                    "no message from the partner for {} s: closing the connection",
                    self.cfg.receive_timer
                ));
                self.disconnect(
                    now,
                    reason::NO_TRAFFIC,
                    "no traffic within the receive timer",
                );
            }
            Timer::Send => {
                if self.connected() {
                    self.send(now, Body::Contact);
                }
            }
            Timer::Startup => {
                if self.state == ServerState::Startup {
                    let next = if self.first_run {
                        // Never talked to this partner: stay silent until we do (a wiped
                        // journal looks the same, and guessing would risk duplicates).
                        ServerState::Recover
                    } else {
                        self.prev.state.after_comm_failure()
                    };
                    // Down longer than MCLT: the partner may have gone PARTNER-DOWN meanwhile
                    // and, after MCLT, handed out our free addresses (draft-12 §9.3 leaves
                    // this choice to the implementation). Serving from the old state could
                    // then give an address twice: keep silent until the partner is reached,
                    // or the operator says it is down.
                    let serving = matches!(
                        next,
                        ServerState::CommunicationsInterrupted | ServerState::ResolutionInterrupted
                    );
                    if serving && self.long_down(now) {
                        self.held_in_startup = true;
                        self.note(format!(
                            "partner not heard within the {} s startup time, and this server was down longer than MCLT ({} s): staying silent until the partner is reached or the operator declares it down",
                            self.cfg.startup_secs, self.mclt
                        ));
                        return;
                    }
                    self.note(format!(
                        "partner not heard within the {} s startup time: {}",
                        self.cfg.startup_secs,
                        next.name()
                    ));
                    self.set_state(now, next);
                }
            }
            Timer::Switchover => {
                if self.state == ServerState::CommunicationsInterrupted {
                    self.note("state switchover interval passed: PARTNER-DOWN".into());
                    self.set_state(now, ServerState::PartnerDown);
                }
            }
            Timer::Reconnect => {
                if self.link.is_none() {
                    self.events.push_back(Event::Connect);
                    self.set_timer(Timer::Reconnect, now, self.reconnect_ms);
                    self.reconnect_ms = (self.reconnect_ms * 2).min(RECONNECT_MAX_MS);
                }
            }
            Timer::ConnectWait => {
                if self
                    .link
                    .as_ref()
                    .is_some_and(|l| l.stage == Stage::Handshake)
                {
                    self.note("connection did not complete CONNECT/CONNECTACK in time".into());
                    self.drop_link(now);
                }
            }
            Timer::RecoverWait => {
                if self.state == ServerState::RecoverWait {
                    self.set_state(now, ServerState::RecoverDone);
                }
            }
        }
    }

    fn note(&mut self, s: String) {
        self.events.push_back(Event::Note(s));
    }

    // ---- connection ----

    /// A TCP connection to or from the partner is up. Returns false when one is already in
    /// use: the caller closes the new one.
    pub fn handle_link_up(&mut self, now: Now, link: u64) -> bool {
        if self.link.is_some() {
            return false;
        }
        // A step before this connection is no reason to drop it.
        self.observe_clock(now);
        self.clock_stepped = false;
        self.link = Some(Link {
            id: link,
            stage: Stage::Handshake,
            awaiting_upddone: None,
            owe_upddone: None,
            dumping: None,
            first_sent: None,
        });
        self.stop_timer(Timer::Reconnect);
        self.xid = 0;
        self.set_timer(Timer::ConnectWait, now, CONNECT_WAIT_MS);
        if self.cfg.role == FailoverRole::Primary {
            let body = Body::Connect {
                name: self.cfg.name.clone(),
                max_unacked: self.cfg.max_unacked,
                receive_timer: self.cfg.receive_timer,
                vendor: self.cfg.vendor.clone(),
                version: PROTOCOL_VERSION,
                mclt: self.mclt,
                hba: Some(self.hba),
            };
            self.send(now, body);
        }
        true
    }

    /// Connection `link` closed (by either side, or failed).
    pub fn handle_link_down(&mut self, now: Now, link: u64) {
        if self.link.as_ref().is_some_and(|l| l.id == link) {
            // The connection is gone: nothing queued for it can be sent any more.
            self.out.clear();
            self.lost_link(now);
        }
    }

    /// Forgets the current connection. Messages already queued stay queued: the caller sends
    /// them before acting on the [`Event::Close`] that follows.
    fn lost_link(&mut self, now: Now) {
        let was_up = self.connected();
        self.link = None;
        // Unacknowledged updates go out again on the next connection; verdicts owed on this
        // one are void (§7.2: never acknowledge on another connection).
        let flights: Vec<_> = std::mem::take(&mut self.in_flight)
            .into_values()
            .flatten()
            .collect();
        for (serial, b) in flights.into_iter().rev() {
            self.requeue_front(serial, b);
        }
        self.incoming.clear();
        self.sent_walls.clear();
        for t in [Timer::Receive, Timer::Send, Timer::ConnectWait] {
            self.stop_timer(t);
        }
        self.set_timer(Timer::Reconnect, now, self.reconnect_ms);
        if was_up || self.partner.is_some() {
            let next = self.state.after_comm_failure();
            if next != self.state {
                self.set_state(now, next);
            } else if was_up && self.state == ServerState::CommunicationsInterrupted {
                // The partner was reached and is lost again: the switchover interval counts
                // from this loss, not the first (seed 0x480560b3449c9f0e: a connection that
                // failed before the state exchange left the old timer running, and PARTNER-
                // DOWN came while the partner, met seconds before, still served).
                self.arm_switchover(now);
            }
        }
        self.partner = None;
    }

    fn drop_link(&mut self, now: Now) {
        if let Some(l) = &self.link {
            self.events.push_back(Event::Close { link: l.id });
        }
        self.lost_link(now);
    }

    /// A message on our connection failed authentication (draft-12 §8, MS-DHCPF §3.1.5): the
    /// connection is refused with DISCONNECT (`reason`) and closed. False when `link` is not
    /// this endpoint's connection (the driver then just closes it).
    pub fn refuse_link(&mut self, now: Now, link: u64, reason: u8, text: &str) -> bool {
        if self.link_id() != Some(link) {
            return false;
        }
        self.disconnect(now, reason, text);
        true
    }

    fn disconnect(&mut self, now: Now, reason: u8, text: &str) {
        if self.link.is_some() {
            self.send(
                now,
                Body::Disconnect {
                    reason,
                    message: text.into(),
                },
            );
            self.drop_link(now);
        }
    }

    fn send(&mut self, now: Now, body: Body) -> u32 {
        let xid = self.xid;
        self.xid = self.xid.wrapping_add(1);
        self.send_xid(now, xid, body);
        xid
    }

    fn send_xid(&mut self, now: Now, xid: u32, body: Body) {
        self.stats.messages_out += 1;
        // A step noticed only here drops the connection at the next entry point.
        self.observe_clock(now);
        if matches!(body, Body::Connect { .. } | Body::BndUpd(_)) {
            self.sent_walls.insert(xid, now.wall);
        }
        if let Some(l) = self.link.as_mut() {
            l.first_sent.get_or_insert(now.wall);
        }
        self.out.push_back(Msg {
            time: now.wall,
            xid,
            body,
        });
        if self.connected() {
            let every = u64::from(self.peer_receive_timer.max(3)) * 1000 / 3;
            self.set_timer(Timer::Send, now, every);
        }
    }

    /// Notices a step of our own wall clock (against the monotonic one) and moves what the
    /// offset estimates rest on with it: offsets to the partner grow by a step back, and our
    /// send times are on the new clock. Whole-second readings hide up to a second, so the
    /// correction errs by up to 2 s toward a larger offset (an earlier potential expiration).
    /// A step noticed while connected marks the connection for dropping
    /// ([`clock_checkpoint`](Self::clock_checkpoint)).
    fn observe_clock(&mut self, now: Now) {
        let base = i64::from(now.wall) * 1000 - i64::try_from(now.mono_ms).unwrap_or(i64::MAX);
        let Some(last) = self.clock_base_ms else {
            self.clock_base_ms = Some(base);
            return;
        };
        // Without a step, a reading lies within a second below the truth, and `last` at or
        // below it: they differ by less than a second.
        if (base - last).abs() <= 1000 {
            self.clock_base_ms = Some(last.max(base));
            return;
        }
        // The offset (partner − us) grows by at least this (a step back is positive).
        let grow = (1000 - (base - last)).div_euclid(1000)
            + i64::from((1000 - (base - last)).rem_euclid(1000) != 0);
        for (_, v) in self
            .skew_samples
            .iter_mut()
            .chain(self.bound_samples.iter_mut())
        {
            *v += grow;
        }
        self.skew += grow;
        self.track_skew(now);
        self.bound = self.bound.map(|b| b + grow);
        let moved = |w: u32| (i64::from(w) - grow).clamp(0, i64::from(u32::MAX)) as u32;
        for w in self.sent_walls.values_mut() {
            *w = moved(*w);
        }
        if let Some(w) = self.link.as_mut().and_then(|l| l.first_sent.as_mut()) {
            *w = moved(*w);
        }
        self.clock_base_ms = Some(base);
        self.note(format!(
            "our clock stepped {:+} s: the partner's clock offset is now taken as {} s",
            (base - last) / 1000,
            self.skew
        ));
        self.clock_stepped = self.link.is_some();
    }

    /// Run first by every entry point that may send: after a step of our own wall clock, the
    /// connection is dropped and made again. The partner bounds our clock offset by the
    /// answers it got over the last minute, and cannot tell a step of ours from transit: our
    /// messages stamped on the new clock but delayed (a partition holding the connection's
    /// data) would look as if the old offset still held, and our potential expirations, moved
    /// onto its clock by the stale bound, would let its leases run past MCLT (seed
    /// 0x4ea68fcd83809c6d: a step of +18 s during a 25 s partition, 17 s over). A new
    /// connection starts with a CONNECT stamped on the new clock, which shows the partner
    /// its bounds are stale before any update follows. Returns true when it dropped the
    /// connection.
    fn clock_checkpoint(&mut self, now: Now) -> bool {
        self.observe_clock(now);
        if !std::mem::take(&mut self.clock_stepped) || self.link.is_none() {
            return false;
        }
        self.note(
            "our clock stepped: reconnecting, so that the partner measures its offset again".into(),
        );
        self.disconnect(now, reason::UNKNOWN, "clock stepped");
        self.reconnect_ms = RECONNECT_MIN_MS;
        self.set_timer(Timer::Reconnect, now, RECONNECT_MIN_MS);
        true
    }

    // ---- messages ----

    /// A message arrived on connection `link`.
    pub fn handle_message(&mut self, now: Now, link: u64, msg: Msg) {
        if self.link.as_ref().is_none_or(|l| l.id != link) {
            return;
        }
        if self.clock_checkpoint(now) {
            return;
        }
        self.stats.messages_in += 1;
        self.set_timer(
            Timer::Receive,
            now,
            u64::from(self.cfg.receive_timer.max(1)) * 1000,
        );
        // Every message carries the sender's clock (§5.10). Transit only makes a message look
        // older, so the estimate is the largest offset seen over the last minute: a slow link
        // cannot make the partner's times look later than they are, and a clock step is
        // followed within the minute. (Our own clock was observed above.)
        if msg.time != 0 {
            let seen = i64::from(msg.time) - i64::from(now.wall);
            let sec = now.mono_ms / 1000;
            // An offset seen above a bound means the partner's clock stepped forward since the
            // bound was taken: the bounds of the minute are stale (seed 0x4c8e64912d4e2fce).
            if self.bound.is_some_and(|b| seen > b) {
                self.bound_samples.clear();
                self.bound = None;
            }
            self.skew = sample(&mut self.skew_samples, sec, Some(seen), i64::max).unwrap_or(seen);
            self.track_skew(now);
            // An answer was stamped after we sent what it answers, on a clock that cannot
            // have read more than its stamp + 1 then, while ours read at least what we sent
            // with: the offset is below the difference, however slow the link.
            let answer = matches!(msg.body, Body::ConnectAck { .. } | Body::BndAck(_));
            // The partner's CONNECT may be older than our link; the rest follow what we sent
            // first (the primary speaks after our CONNECTACK, the secondary after our CONNECT).
            let first = self
                .link
                .as_ref()
                .and_then(|l| l.first_sent)
                .filter(|_| !matches!(msg.body, Body::Connect { .. }));
            let bound = answer
                .then(|| self.sent_walls.remove(&msg.xid))
                .flatten()
                .or(first)
                .map(|sent| i64::from(msg.time) + 1 - i64::from(sent));
            self.bound = sample(&mut self.bound_samples, sec, bound, i64::min);
        }
        let stage = self.link.as_ref().map(|l| l.stage);
        match (stage, msg.body) {
            (
                Some(Stage::Handshake),
                Body::Connect {
                    name,
                    max_unacked,
                    receive_timer,
                    version,
                    mclt,
                    hba,
                    vendor,
                },
            ) if self.cfg.role == FailoverRole::Secondary => self.on_connect(
                now,
                msg.time,
                msg.xid,
                name,
                max_unacked,
                receive_timer,
                version,
                mclt,
                hba,
                vendor,
            ),
            (
                Some(Stage::Handshake),
                Body::ConnectAck {
                    name,
                    max_unacked,
                    receive_timer,
                    version,
                    reject,
                    vendor,
                },
            ) if self.cfg.role == FailoverRole::Primary => self.on_connect_ack(
                now,
                msg.time,
                name,
                max_unacked,
                receive_timer,
                version,
                reject,
                vendor,
            ),
            (Some(Stage::Handshake), Body::Disconnect { reason, message }) => {
                self.note(format!(
                    "partner refused the connection (reason {reason}): {message}"
                ));
                self.backoff_after_refusal();
                self.drop_link(now);
            }
            (Some(Stage::Handshake), Body::UnknownOptional(_) | Body::Vendor { .. }) => {}
            (Some(Stage::Handshake), other) => {
                self.note(format!(
                    "{} before the connection was set up: closing",
                    other.name()
                ));
                self.drop_link(now);
            }
            (Some(Stage::Up), body) => self.on_message_up(now, msg.time, msg.xid, body),
            (None, _) => {}
        }
    }

    /// The checks CONNECT and CONNECTACK share: protocol version, relationship name, clock
    /// skew (partner minus us, seconds). The refusal reason and text when one fails.
    fn check_hello(&self, skew: i64, version: u8, name: &str) -> Result<(), (u8, String)> {
        if version != PROTOCOL_VERSION {
            Err((
                reason::VERSION_MISMATCH,
                format!("protocol version {version} not supported"),
            ))
        } else if name != self.cfg.name {
            Err((
                reason::INVALID_PARTNER,
                format!("unknown failover relationship {name:?}"),
            ))
        } else if skew.abs() > MAX_SKEW_SECS {
            Err((reason::TIME_MISMATCH, format!("clocks differ by {skew} s")))
        } else {
            Ok(())
        }
    }

    /// Our CONNECTACK, accepting or (with `reject`) refusing the partner's CONNECT.
    fn connect_ack(&self, reject: Option<(u8, String)>) -> Body {
        Body::ConnectAck {
            name: self.cfg.name.clone(),
            max_unacked: self.cfg.max_unacked,
            receive_timer: self.cfg.receive_timer,
            vendor: self.cfg.vendor.clone(),
            version: PROTOCOL_VERSION,
            reject,
        }
    }

    fn backoff_after_refusal(&mut self) {
        // Draft: pause a minute or two after a refusal before trying again.
        self.reconnect_ms = RECONNECT_MAX_MS;
    }

    #[allow(clippy::too_many_arguments)]
    fn on_connect(
        &mut self,
        now: Now,
        time: u32,
        xid: u32,
        name: String,
        max_unacked: u32,
        receive_timer: u32,
        version: u8,
        mclt: u32,
        hba: Option<Hba>,
        vendor: String,
    ) {
        let skew = i64::from(time) - i64::from(now.wall);
        let refuse = if let Err(r) = self.check_hello(skew, version, &name) {
            Some(r)
        } else if mclt == 0 && self.cfg.partner != PartnerSoftware::Windows {
            Some((reason::INVALID_MCLT, "missing MCLT".into()))
        } else if hba.is_none() && self.cfg.partner != PartnerSoftware::Windows {
            Some((
                reason::HBA_CONFLICT,
                "missing hash bucket assignment".into(),
            ))
        } else {
            None
        };
        if let Some((code, text)) = refuse {
            self.note(format!("refusing CONNECT from {vendor}: {text}"));
            let ack = self.connect_ack(Some((code, text)));
            self.send_xid(now, xid, ack);
            self.drop_link(now);
            return;
        }
        self.skew = skew;
        self.track_skew(now);
        self.peer_max_unacked = max_unacked.max(1);
        self.peer_receive_timer = receive_timer.max(1);
        if self.cfg.partner != PartnerSoftware::Windows {
            // §7.8.2: the secondary adopts the primary's MCLT and HBA (Windows uses its own
            // configuration, §F2.2).
            if mclt != self.mclt {
                self.note(format!(
                    "adopting the primary's MCLT of {mclt} s (was {} s)",
                    self.mclt
                ));
                self.mclt = mclt;
            }
            if let Some(h) = hba {
                if h != self.hba {
                    self.note(format!(
                        "adopting the primary's hash bucket assignment ({} of 256 buckets to the primary)",
                        h.primary_count()
                    ));
                    self.hba = h;
                }
            }
        }
        let ack = self.connect_ack(None);
        self.send_xid(now, xid, ack);
        self.link_established(now);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_connect_ack(
        &mut self,
        now: Now,
        time: u32,
        name: String,
        max_unacked: u32,
        receive_timer: u32,
        version: u8,
        reject: Option<(u8, String)>,
        vendor: String,
    ) {
        if let Some((code, text)) = reject {
            self.note(format!(
                "partner ({vendor}) refused our CONNECT (reason {code}): {text}"
            ));
            self.backoff_after_refusal();
            self.drop_link(now);
            return;
        }
        let skew = i64::from(time) - i64::from(now.wall);
        if let Err((code, text)) = self.check_hello(skew, version, &name) {
            self.note(format!("CONNECTACK from {vendor} unacceptable: {text}"));
            self.backoff_after_refusal();
            self.disconnect(now, code, &text);
            return;
        }
        self.skew = skew;
        self.track_skew(now);
        self.peer_max_unacked = max_unacked.max(1);
        self.peer_receive_timer = receive_timer.max(1);
        self.link_established(now);
    }

    fn link_established(&mut self, now: Now) {
        if let Some(l) = self.link.as_mut() {
            l.stage = Stage::Up;
        }
        self.stats.connections += 1;
        self.reconnect_ms = RECONNECT_MIN_MS;
        self.stop_timer(Timer::ConnectWait);
        // STATE right after the handshake (§7.10); in STARTUP it carries the previous state
        // with the STARTUP flag, as ISC does.
        let (state, stos, startup) = if self.state == ServerState::Startup {
            (self.prev.state, self.prev.stos, true)
        } else {
            (self.state, self.stos, false)
        };
        self.send(now, Body::state(state, startup, stos));
        let every = u64::from(self.peer_receive_timer.max(3)) * 1000 / 3;
        self.set_timer(Timer::Send, now, every);
        self.set_timer(
            Timer::Receive,
            now,
            u64::from(self.cfg.receive_timer.max(1)) * 1000,
        );
    }

    fn on_message_up(&mut self, now: Now, _time: u32, xid: u32, body: Body) {
        match body {
            Body::State {
                state,
                startup,
                stos,
            } => self.on_state(now, state, startup, stos),
            Body::Contact => {}
            Body::Disconnect { reason, message } => {
                self.note(format!("partner disconnected (reason {reason}): {message}"));
                self.backoff_after_refusal();
                self.drop_link(now);
            }
            Body::BndUpd(bindings) => {
                let link = self.link.as_ref().map(|l| l.id).unwrap_or(0);
                self.stats.updates_received += bindings.len() as u64;
                let entries: Vec<AckEntry> = bindings
                    .iter()
                    .map(|b| AckEntry {
                        addr: b.addr,
                        reject: None,
                    })
                    .collect();
                if entries.is_empty() {
                    self.send_xid(now, xid, Body::BndAck(Vec::new()));
                    return;
                }
                let told = bindings.iter().map(|b| (b.state, b.client_key())).collect();
                self.incoming.insert(
                    xid,
                    Incoming {
                        link,
                        missing: entries.len(),
                        entries,
                        told,
                    },
                );
                for (index, binding) in bindings.into_iter().enumerate() {
                    self.events.push_back(Event::PeerUpdate {
                        link,
                        xid,
                        index,
                        binding,
                    });
                }
            }
            Body::BndAck(acks) => self.on_bndack(now, xid, acks),
            Body::UpdReq | Body::UpdReqAll => {
                let all = matches!(body, Body::UpdReqAll);
                if let Some(l) = self.link.as_mut() {
                    l.dumping = Some(xid);
                    l.owe_upddone = None;
                }
                self.events.push_back(Event::SendUpdates { all });
            }
            Body::UpdDone => self.on_upddone(now, xid),
            Body::PoolReq => {
                if self.cfg.role == FailoverRole::Primary {
                    self.pool_req_xid = Some(xid);
                    self.events.push_back(Event::PoolRequest);
                } else {
                    self.note("POOLREQ received by the secondary: ignored (§7.6)".into());
                }
            }
            Body::PoolResp { transferred } => {
                self.note(format!(
                    "partner transferred {transferred} address(es) in answer to POOLREQ"
                ));
            }
            Body::Connect { .. } => {
                // A second CONNECT on an established connection.
                let ack = self.connect_ack(Some((
                    reason::DUPLICATE_CONNECTION,
                    "already connected".into(),
                )));
                self.send_xid(now, xid, ack);
            }
            Body::ConnectAck { .. } => {}
            // xdhcp-private messages are the driver's business (scope replication).
            Body::UnknownOptional(_) | Body::Vendor { .. } => {}
            Body::UnknownMandatory(t) => {
                self.note(format!(
                    "unknown mandatory message type {t}: closing the connection"
                ));
                self.drop_link(now);
            }
        }
    }

    fn on_state(&mut self, now: Now, raw: u8, startup: bool, stos: u32) {
        let Some(ps) = ServerState::from_wire(raw) else {
            self.note(format!(
                "partner reported an unknown state {raw}: closing the connection"
            ));
            self.disconnect(now, reason::UNKNOWN, "unknown server state");
            return;
        };
        let changed = self.partner != Some((ps, stos, startup));
        self.partner = Some((ps, stos, startup));
        if changed {
            self.events
                .push_back(Event::PartnerState { state: ps, stos });
        }
        if self.stopping {
            return;
        }
        if self.state == ServerState::Startup {
            // Communications are OK: leave STARTUP (§9.3). A partner in PARTNER-DOWN since
            // after our last recorded operation has served for us: we recover from it, also
            // when it is itself starting up and reports the state it will resume (seed
            // 0x7a3eafa6edb6add5: both restarted, we took the COMMUNICATIONS-INTERRUPTED arc to
            // POTENTIAL-CONFLICT, the link failed, and RESOLUTION-INTERRUPTED served our own
            // pool, of which the partner had leased addresses). The same second counts as
            // after: a partner that went PARTNER-DOWN on our SHUTDOWN does so in the second we
            // stop, and RECOVER is the careful way out. After a clean SHUTDOWN (from NORMAL,
            // in touch) any PARTNER-DOWN began after it, whatever the partner's clock says.
            let took_over_after_us = self.clean_stop || stos >= self.last_alive.max(self.prev.stos);
            let next = if ps == ServerState::PartnerDown && (!startup || took_over_after_us) {
                ServerState::Recover
            } else {
                self.prev.state.after_comm_failure()
            };
            self.set_state(now, next);
        }
        if !startup {
            self.on_partner_state(now, ps);
        }
    }

    /// §9 transition table (failover-protocol.md §3.3), draft first, ISC where interop needs it.
    fn on_partner_state(&mut self, now: Now, p: ServerState) {
        use ServerState::*;
        let me = self.state;
        let next = match (me, p) {
            (Normal, Normal) => None,
            (Normal, PartnerDown | PotentialConflict | ResolutionInterrupted | ConflictDone) => {
                Some(PotentialConflict)
            }
            (Normal, Shutdown) => Some(PartnerDown),
            (Normal, Paused | Recover | RecoverWait) => Some(CommunicationsInterrupted),
            (Normal, _) => None,
            (CommunicationsInterrupted, Normal | CommunicationsInterrupted | RecoverDone) => {
                Some(Normal)
            }
            (
                CommunicationsInterrupted,
                PartnerDown | PotentialConflict | ResolutionInterrupted | ConflictDone,
            ) => Some(PotentialConflict),
            (CommunicationsInterrupted, Shutdown) => Some(PartnerDown),
            (CommunicationsInterrupted, _) => None,
            (PartnerDown, RecoverDone) => Some(Normal),
            (PartnerDown, Recover | RecoverWait | Paused | Shutdown | Startup) => None,
            (PartnerDown, _) => Some(PotentialConflict),
            (Recover, PotentialConflict | ResolutionInterrupted | ConflictDone) => {
                Some(PotentialConflict)
            }
            (Recover, Shutdown) => Some(PartnerDown),
            (Recover, _) => {
                self.request_updates(now, true);
                None
            }
            // NORMAL once the partner has answered an UPDREQ sent now (see `on_upddone`).
            (RecoverDone, Normal | RecoverDone) => {
                self.request_updates(now, false);
                None
            }
            (RecoverDone, _) => None,
            (ResolutionInterrupted, _) => Some(PotentialConflict),
            (PotentialConflict, ConflictDone) if self.cfg.role == FailoverRole::Secondary => {
                self.request_updates(now, false);
                None
            }
            (PotentialConflict, Shutdown) => Some(PartnerDown),
            (PotentialConflict, _) => None,
            (ConflictDone, Normal) => Some(Normal),
            (ConflictDone, _) => None,
            (RecoverWait, _) | (Startup, _) | (Paused, _) | (Shutdown, _) => None,
        };
        if let Some(n) = next {
            if n != me {
                self.set_state(now, n);
            }
        }
    }

    /// Sends UPDREQ or UPDREQALL once per connection.
    fn request_updates(&mut self, now: Now, all: bool) {
        let Some(l) = self.link.as_ref() else { return };
        if l.stage != Stage::Up || l.awaiting_upddone.is_some() {
            return;
        }
        let xid = self.send(now, if all { Body::UpdReqAll } else { Body::UpdReq });
        if let Some(l) = self.link.as_mut() {
            l.awaiting_upddone = Some(xid);
        }
    }

    fn on_upddone(&mut self, now: Now, xid: u32) {
        let Some(l) = self.link.as_mut() else { return };
        if l.awaiting_upddone != Some(xid) {
            self.note(format!("UPDDONE for xid {xid} we did not ask for: ignored"));
            return;
        }
        l.awaiting_upddone = None;
        use ServerState::*;
        match self.state {
            Recover => {
                // §9.6: wait MCLT after the time of failure; not on a first run, nor when the
                // partner is recovering too (ISC).
                let partner_recovering =
                    matches!(self.partner_state(), Some((Recover | RecoverDone, _)));
                let taken_over_after_clean_stop =
                    self.clean_stop && matches!(self.partner_state(), Some((PartnerDown, _)));
                if self.first_run
                    || partner_recovering
                    || taken_over_after_clean_stop
                    || u64::from(now.wall) >= self.recover_wait_until()
                {
                    self.set_state(now, RecoverDone);
                } else {
                    self.set_state(now, RecoverWait);
                }
            }
            PotentialConflict => {
                let next = if self.cfg.role == FailoverRole::Primary {
                    ConflictDone
                } else {
                    Normal
                };
                self.set_state(now, next);
            }
            // §9.7: RECOVER-DONE -> NORMAL when the partner is NORMAL or RECOVER-DONE. A partner
            // coming from PARTNER-DOWN may have leased our free addresses since it answered our
            // RECOVER (after a broken link, or beyond its window); its BNDUPDs for them queue
            // behind its STATE NORMAL. Its UPDDONE, asked for once it is out of PARTNER-DOWN,
            // comes after all of them are acknowledged.
            RecoverDone if matches!(self.partner, Some((Normal | RecoverDone, _, false))) => {
                self.set_state(now, Normal);
            }
            _ => {}
        }
    }

    /// When RECOVER-WAIT ends (§9.6.2): MCLT after the time of failure, taken as the start of
    /// the state stored before this run — for a server that went down in RECOVER-WAIT, the
    /// start of that RECOVER-WAIT, no earlier than the wait it was serving.
    fn recover_wait_until(&self) -> u64 {
        u64::from(self.prev.stos) + u64::from(self.mclt)
    }

    fn set_state(&mut self, now: Now, next: ServerState) {
        let from = self.state;
        if from == next {
            return;
        }
        self.state = next;
        self.stos = now.wall;
        if from == ServerState::Startup {
            self.stop_timer(Timer::Startup);
        }
        if !(from == ServerState::Startup && next == ServerState::Recover) {
            self.clean_stop = false;
        }
        self.events.push_back(Event::StateChanged {
            state: next,
            stos: now.wall,
            from,
        });
        if self.connected() {
            self.send(now, Body::state(next, false, now.wall));
        }
        self.stop_timer(Timer::Switchover);
        use ServerState::*;
        match next {
            CommunicationsInterrupted => {
                self.arm_switchover(now);
            }
            PartnerDown => {
                self.partner_down_since = now.wall;
                self.own_pool_since = match from {
                    Startup if self.long_down(now) => now.wall,
                    Startup => self.prev.stos,
                    _ => 0,
                };
            }
            Recover => self.request_updates(now, true),
            // On every entry, also when a restart in RECOVER-WAIT resumes it from STARTUP
            // (§9.6.2: "Upon entry to RECOVER-WAIT state the server MUST start a timer").
            RecoverWait => {
                let ms = self
                    .recover_wait_until()
                    .saturating_sub(u64::from(now.wall))
                    * 1000;
                self.set_timer(Timer::RecoverWait, now, ms);
            }
            // The primary asks at once; the secondary once the primary is CONFLICT-DONE.
            PotentialConflict
                if self.cfg.role == FailoverRole::Primary
                    || matches!(self.partner_state(), Some((ConflictDone, _))) =>
            {
                self.request_updates(now, false);
            }
            Normal => {
                if self.cfg.role == FailoverRole::Primary {
                    self.events.push_back(Event::Rebalance);
                } else if self.cfg.partner != PartnerSoftware::Windows && self.connected() {
                    self.send(now, Body::PoolReq);
                }
            }
            _ => {}
        }
        // A partner state seen while we were in STARTUP applies now.
        if from == Startup {
            if let Some((p, _, false)) = self.partner {
                self.on_partner_state(now, p);
            }
        }
        self.flush_updates(now);
    }

    /// Operator command: the partner is down (Windows' Set-DhcpServerv4Failover -PartnerDown).
    pub fn handle_partner_down(&mut self, now: Now) -> Result<(), &'static str> {
        use ServerState::*;
        match self.state {
            CommunicationsInterrupted | ResolutionInterrupted | Normal | PotentialConflict => {
                if self.connected() {
                    return Err("the partner is connected: it is not down");
                }
                self.set_state(now, PartnerDown);
                Ok(())
            }
            PartnerDown => Ok(()),
            Startup if self.held_in_startup && !self.connected() => {
                self.held_in_startup = false;
                self.set_state(now, PartnerDown);
                Ok(())
            }
            _ => Err("only from COMMUNICATIONS-INTERRUPTED or RESOLUTION-INTERRUPTED"),
        }
    }

    /// Live reconfiguration of a relationship that keeps its name and role. What was
    /// negotiated at CONNECT (MCLT, HBA, window, receive timer, dialect) is renegotiated by
    /// dropping the connection (the reconnect follows at once); the rest applies at once.
    pub fn reconfigure(&mut self, now: Now, cfg: EndpointConfig) {
        let renegotiate = cfg.mclt != self.cfg.mclt
            || cfg.hba != self.cfg.hba
            || cfg.max_unacked != self.cfg.max_unacked
            || cfg.receive_timer != self.cfg.receive_timer
            || cfg.partner != self.cfg.partner;
        self.cfg = cfg;
        if self.cfg.role == FailoverRole::Primary {
            self.mclt = self.cfg.mclt;
            self.hba = self.cfg.hba;
        }
        if renegotiate && self.link.is_some() {
            self.note("configuration changed: reconnecting to renegotiate".into());
            self.disconnect(now, reason::UNKNOWN, "configuration changed");
            self.reconnect_ms = RECONNECT_MIN_MS;
            self.set_timer(Timer::Reconnect, now, RECONNECT_MIN_MS);
        }
    }

    /// Orderly stop: tell the partner we are going (SHUTDOWN, §9.14). From NORMAL with every
    /// update acknowledged, SHUTDOWN is also our new state, to be persisted: the partner then
    /// knows every lease we granted, so after a restart that finds it in PARTNER-DOWN there is
    /// nothing to wait out in RECOVER-WAIT (as ISC back-dates it). Otherwise the stored state
    /// stays, and a restart waits as after a crash.
    pub fn handle_shutdown(&mut self, now: Now) {
        if !self.connected() {
            return;
        }
        self.stopping = true;
        if self.state == ServerState::Normal && self.backlog() == (0, 0) {
            self.set_state(now, ServerState::Shutdown);
        } else {
            self.send(now, Body::state(ServerState::Shutdown, false, now.wall));
        }
    }

    // ---- binding updates ----

    /// The status our latest update for `addr` carries, while the partner has not
    /// acknowledged it (queued or in flight).
    pub fn unacked_update(&self, addr: std::net::Ipv4Addr) -> Option<crate::lease::BindingState> {
        if let Some((_, b)) = self.pending.get(&addr) {
            return Some(b.state);
        }
        self.in_flight
            .values()
            .rev()
            .flat_map(|m| m.iter().rev())
            .find(|(_, b)| b.addr == addr)
            .map(|(_, b)| b.state)
    }

    /// Queues `b` for the partner (replacing a queued, unsent update of the same address).
    /// Call [`flush`](Self::flush) after queuing a batch: updates queued together share
    /// BNDUPDs.
    pub fn queue_update(&mut self, b: PeerBinding) {
        match self.pending.get_mut(&b.addr) {
            Some((_, old)) => *old = b,
            None => {
                self.serial += 1;
                self.unacked_serials.insert(self.serial);
                self.order.push_back(b.addr);
                self.pending.insert(b.addr, (self.serial, b));
            }
        }
    }

    /// Sends queued updates as far as the partner's window allows.
    pub fn flush(&mut self, now: Now) {
        self.clock_checkpoint(now);
        self.flush_updates(now);
    }

    fn requeue_front(&mut self, serial: u64, b: PeerBinding) {
        if self.pending.contains_key(&b.addr) {
            // A newer update for the address is queued: the old one is superseded.
            self.unacked_serials.remove(&serial);
            return;
        }
        self.order.push_front(b.addr);
        self.pending.insert(b.addr, (serial, b));
    }

    /// The caller has queued what the partner's UPDREQ/UPDREQALL asked for: UPDDONE follows
    /// once everything queued so far is acknowledged.
    pub fn updates_queued(&mut self, now: Now) {
        self.clock_checkpoint(now);
        let serial = self.serial;
        if let Some(l) = self.link.as_mut() {
            if let Some(xid) = l.dumping.take() {
                l.owe_upddone = Some((xid, serial));
            }
        }
        self.maybe_upddone(now);
        self.flush_updates(now);
    }

    fn maybe_upddone(&mut self, now: Now) {
        let Some((xid, serial)) = self.link.as_ref().and_then(|l| l.owe_upddone) else {
            return;
        };
        let done = self.unacked_serials.first().is_none_or(|&s| s > serial);
        if done {
            if let Some(l) = self.link.as_mut() {
                l.owe_upddone = None;
            }
            self.send_xid(now, xid, Body::UpdDone);
        }
    }

    fn flush_updates(&mut self, now: Now) {
        // Updates flow once both sides know each other's state.
        if !self.connected() || self.partner.is_none() || self.state == ServerState::Startup {
            return;
        }
        let batch = self.cfg.batch();
        while self.in_flight.len() < self.peer_max_unacked as usize && !self.order.is_empty() {
            let mut msg = Vec::with_capacity(batch);
            while msg.len() < batch {
                let Some(addr) = self.order.pop_front() else {
                    break;
                };
                if let Some((serial, b)) = self.pending.remove(&addr) {
                    msg.push((serial, b));
                }
            }
            if msg.is_empty() {
                break;
            }
            self.stats.updates_sent += msg.len() as u64;
            let body = Body::BndUpd(msg.iter().map(|(_, b)| b.clone()).collect());
            let xid = self.send(now, body);
            self.in_flight.insert(xid, msg);
        }
    }

    fn on_bndack(&mut self, now: Now, xid: u32, acks: Vec<AckEntry>) {
        let Some(sent) = self.in_flight.remove(&xid) else {
            self.note(format!("BNDACK for unknown xid {xid}: ignored"));
            return;
        };
        for (serial, b) in sent {
            self.unacked_serials.remove(&serial);
            let reject = acks
                .iter()
                .find(|a| a.addr == b.addr)
                .map(|a| a.reject)
                .unwrap_or(None);
            match reject {
                None => self.stats.updates_acked += 1,
                Some(_) => self.stats.updates_rejected += 1,
            }
            self.events.push_back(Event::Acked { binding: b, reject });
        }
        self.maybe_upddone(now);
        self.flush_updates(now);
    }

    /// The verdict for one binding of a partner's BNDUPD, once applied and durable.
    pub fn handle_verdict(
        &mut self,
        now: Now,
        link: u64,
        xid: u32,
        index: usize,
        reject: Option<u8>,
    ) {
        // No clock checkpoint here: dropping the connection now would lose the supersession
        // below, and a BNDACK carries no time to convert (a step is acted on at the next entry
        // point).
        if self.link.as_ref().is_none_or(|l| l.id != link) {
            return;
        }
        let Some(inc) = self.incoming.get_mut(&xid) else {
            return;
        };
        if inc.link != link {
            return;
        }
        let mut accepted = None;
        if let Some(e) = inc.entries.get_mut(index) {
            e.reject = reject;
            inc.missing = inc.missing.saturating_sub(1);
            if reject.is_none() {
                accepted = inc
                    .told
                    .get(index)
                    .map(|&(state, client)| (e.addr, state, client));
            }
        }
        if let Some((addr, state, client)) = accepted {
            self.supersede(addr, state, client);
        }
        let Some(inc) = self.incoming.get(&xid) else {
            return;
        };
        if inc.missing == 0 {
            if let Some(inc) = self.incoming.remove(&xid) {
                self.send_xid(now, xid, Body::BndAck(inc.entries));
            }
        }
    }

    /// The partner's update for `addr` (`state`, `client`) was accepted: our own update for the
    /// address, queued or in flight, is older news and is not sent (again) — unless both are
    /// the same client's lease, whose times the partner merges. Re-sent on the next connection,
    /// an EXPIRED the partner's BACKUP transfer had overtaken made the address the primary's
    /// FREE while the secondary leased it as its BACKUP (seed 0x18fe0b7af2682954).
    ///
    /// Run by [`handle_verdict`](Self::handle_verdict) for an accepted update; the driver
    /// runs it for one applied after the connection it came on was lost (no verdict then).
    pub fn supersede(&mut self, addr: std::net::Ipv4Addr, state: BindingState, client: ClientKey) {
        let kept = |b: &PeerBinding| {
            state == BindingState::Active
                && b.state == BindingState::Active
                && b.client_key() == client
        };
        if self.pending.get(&addr).is_some_and(|(_, b)| !kept(b)) {
            if let Some((serial, _)) = self.pending.remove(&addr) {
                self.unacked_serials.remove(&serial);
            }
        }
        for sent in self.in_flight.values_mut() {
            sent.retain(|(serial, b)| {
                let stale = b.addr == addr && !kept(b);
                if stale {
                    self.unacked_serials.remove(serial);
                }
                !stale
            });
        }
    }

    /// Answers a POOLREQ with how many addresses were moved.
    pub fn pool_response(&mut self, now: Now, transferred: u32) {
        self.clock_checkpoint(now);
        if let Some(xid) = self.pool_req_xid.take() {
            if self.connected() {
                self.send_xid(now, xid, Body::PoolResp { transferred });
            }
        }
    }
}

//! The invariant checkers. They stand outside the servers: they see what clients received,
//! what crossed the failover wire, and — for convergence and durability only — the servers'
//! binding tables, as an operator's `xdhcpctl` would. Each is plain data in, verdict out, so
//! that the unit tests below can feed them hand-built traces.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    net::Ipv4Addr,
};

use dhcp_core::{
    failover::{
        ServerState,
        msg::{Body, Msg},
    },
    lease::{BindingState, ClientKey},
};

/// Which invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Checker {
    /// No address held by two clients at once.
    Uniqueness,
    /// No lease longer than the MCLT rule allows.
    Mclt,
    /// After the heal, both servers NORMAL with the same ACTIVE bindings.
    Convergence,
    /// A lease a client holds survives its server's crash and restart.
    Durability,
    /// The simulation itself went wrong (a bound was hit): not a verdict on the servers.
    Harness,
}

impl Checker {
    /// Every checker that judges the servers.
    pub const ALL: [Checker; 4] = [
        Checker::Uniqueness,
        Checker::Mclt,
        Checker::Convergence,
        Checker::Durability,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Checker::Uniqueness => "uniqueness",
            Checker::Mclt => "mclt",
            Checker::Convergence => "convergence",
            Checker::Durability => "durability",
            Checker::Harness => "harness",
        }
    }
}

impl fmt::Display for Checker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which.
    pub checker: Checker,
    /// What was seen.
    pub detail: String,
}

fn fail<T>(checker: Checker, detail: String) -> Result<T, Violation> {
    Err(Violation { checker, detail })
}

// ---- uniqueness ----

/// A lease a client believes it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    /// Client number.
    pub client: u32,
    /// Until when (simulated ms, client's view: its request's send time plus the lease).
    pub end_ms: u64,
    /// The server that ACKed it.
    pub server: usize,
    /// When the ACK arrived.
    pub since_ms: u64,
}

/// At no instant may two clients hold an unexpired ACKed lease on one address.
///
/// A lease starts when its ACK reaches the client and ends at the client's own expiry, or
/// earlier when the client lets it go (RELEASE, DECLINE, a NAK, a reboot). A client that left
/// the network keeps its lease until it ends: the servers cannot know it left. `tol_ms` allows
/// for whole-second server clocks and clock offsets between the servers.
#[derive(Clone, Debug, Default)]
pub struct Uniqueness {
    tol_ms: u64,
    by_addr: BTreeMap<Ipv4Addr, Hold>,
}

impl Uniqueness {
    /// A checker allowing `tol_ms` of overlap.
    pub fn new(tol_ms: u64) -> Uniqueness {
        Uniqueness {
            tol_ms,
            by_addr: BTreeMap::new(),
        }
    }

    /// Changes the allowed overlap (a clock step widens it).
    pub fn set_tolerance(&mut self, tol_ms: u64) {
        self.tol_ms = tol_ms;
    }

    /// The holder of `addr` at `now_ms`, if any.
    pub fn holder(&self, addr: Ipv4Addr, now_ms: u64) -> Option<Hold> {
        self.by_addr
            .get(&addr)
            .copied()
            .filter(|h| h.end_ms > now_ms)
    }

    /// Client `h.client` received an ACK for `addr`.
    pub fn acquire(&mut self, now_ms: u64, addr: Ipv4Addr, h: Hold) -> Result<(), Violation> {
        if let Some(old) = self.by_addr.get(&addr) {
            if old.client != h.client && old.end_ms > now_ms + self.tol_ms {
                let old = *old;
                self.by_addr.insert(addr, h);
                return fail(
                    Checker::Uniqueness,
                    format!(
                        "{addr}: client {} got an ACK from node {} (lease for {} s) while client \
                         {} holds it for {} s more (ACKed by node {} at {} ms)",
                        h.client,
                        h.server,
                        h.end_ms.saturating_sub(now_ms) / 1000,
                        old.client,
                        (old.end_ms - now_ms) / 1000,
                        old.server,
                        old.since_ms,
                    ),
                );
            }
        }
        self.by_addr.insert(addr, h);
        Ok(())
    }

    /// Client `client` stopped using `addr`.
    pub fn release(&mut self, client: u32, addr: Ipv4Addr) {
        if self.by_addr.get(&addr).is_some_and(|h| h.client == client) {
            self.by_addr.remove(&addr);
        }
    }
}

// ---- MCLT ----

/// An ACK as it left a server, with what the MCLT checker needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckSeen {
    /// The server.
    pub server: usize,
    /// The client.
    pub client: u32,
    /// The address.
    pub addr: Ipv4Addr,
    /// The server's wall clock when it decided.
    pub now: u32,
    /// Lease granted, seconds.
    pub lease_secs: u32,
    /// The server's failover state when it decided.
    pub state: ServerState,
    /// The latest lease end the rule allowed at that moment ([`Mclt::bound`]).
    pub bound: u64,
    /// What the partner knew of the address then ([`Mclt::known`]).
    pub known: u32,
    /// The latest lease end the rule would allow if knowledge followed the client rather than
    /// the address ([`Mclt::client_bound`]); only to recognise [`KNOWN_BUGS`].
    pub client_bound: u64,
}

/// Production bugs the simulator found that are not fixed yet: (name, what happens). A
/// violation explained by one is counted under its name instead of failing the run, unless
/// the run is strict (`--strict`); anything else still fails. Remove an entry once dhcp-core is
/// fixed: the counts then drop to zero.
pub const KNOWN_BUGS: &[(&str, &str)] = &[
    // Fixed: "mclt-cap-follows-client" — the engine capped a lease by potential expirations
    // kept on the client's binding when the client moved to another address; they now stay
    // with the address (lease::Shard::let_go_previous).
];

/// A BNDUPD on the wire: (connection, sender, xid).
type UpdateId = (u64, usize, u32);
/// What one binding of a BNDUPD teaches: (address, client, potential expiration).
type Learnt = (Ipv4Addr, ClientKey, u32);

/// Every ACK's lease must end no later than MCLT after the latest potential expiration the
/// partner knows for the address, or after now (draft-12 §5.2.1, §7.1.5; failover-protocol.md
/// §4.2):
///
/// ```text
/// lease_end <= max(now, known) + MCLT
/// known = max over the address of
///   - potential-expiration (and lease-expiration) in a BNDUPD this server sent and the
///     partner accepted in its BNDACK (acked-potential-expiration-time), and
///   - the same in a BNDUPD the partner sent that reached this server (the partner must
///     remember every potential expiration it sent, acknowledged or not, §7.1.1).
/// ```
///
/// Knowledge is per address: it outlives the client that caused it, as it does in the
/// partner's PARTNER-DOWN wait (§5.2.1). A server in PARTNER-DOWN may give longer leases
/// (failover-protocol.md §3.1): those ACKs are not judged.
#[derive(Clone, Debug)]
pub struct Mclt {
    mclt: u32,
    known: [BTreeMap<Ipv4Addr, u32>; 2],
    /// The same knowledge by client instead of by address (for [`KNOWN_BUGS`] only).
    by_client: [BTreeMap<ClientKey, u32>; 2],
    /// BNDUPDs delivered and not yet answered.
    open: BTreeMap<UpdateId, Vec<Learnt>>,
}

impl Mclt {
    /// A checker for an MCLT of `mclt` seconds.
    pub fn new(mclt: u32) -> Mclt {
        Mclt {
            mclt,
            known: [BTreeMap::new(), BTreeMap::new()],
            by_client: [BTreeMap::new(), BTreeMap::new()],
            open: BTreeMap::new(),
        }
    }

    /// Failover message `msg` from server `from` reached its partner on connection `link`;
    /// `offset` is the receiver's wall clock now minus the sender's when it sent the message
    /// (times in the message are on the sender's clock as it was then, whatever step it took
    /// while the message was in flight; what the partner knows is judged on the granting
    /// server's).
    pub fn on_delivered(&mut self, from: usize, link: u64, msg: &Msg, offset: i64) {
        let to = 1 - from;
        match &msg.body {
            Body::BndUpd(bindings) => {
                let mut times = Vec::with_capacity(bindings.len());
                for b in bindings {
                    if b.state != BindingState::Active {
                        continue;
                    }
                    // On the sender's clock; the receiver knows it on its own.
                    let t = b.pot_exp.unwrap_or(0).max(b.lease_end.unwrap_or(0));
                    let mine = if t == 0 {
                        0
                    } else {
                        (i64::from(t) + offset).clamp(0, i64::from(u32::MAX)) as u32
                    };
                    let client = b.client_key();
                    self.learn(to, b.addr, client, mine);
                    // Kept on the sender's clock: its BNDACK teaches the sender.
                    times.push((b.addr, client, t));
                }
                self.open.insert((link, from, msg.xid), times);
            }
            Body::BndAck(acks) => {
                // Answers the BNDUPD the partner (`to`) sent on this connection.
                if let Some(times) = self.open.remove(&(link, to, msg.xid)) {
                    for (addr, client, t) in times {
                        if acks.iter().any(|a| a.addr == addr && a.reject.is_none()) {
                            self.learn(to, addr, client, t);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Connection `link` is gone: its unanswered BNDUPDs never will be.
    pub fn on_link_gone(&mut self, link: u64) {
        self.open.retain(|k, _| k.0 != link);
    }

    fn learn(&mut self, server: usize, addr: Ipv4Addr, client: ClientKey, t: u32) {
        let k = self.known[server].entry(addr).or_default();
        *k = (*k).max(t);
        let k = self.by_client[server].entry(client).or_default();
        *k = (*k).max(t);
    }

    /// The latest potential expiration of `addr` that server `server`'s partner knows.
    pub fn known(&self, server: usize, addr: Ipv4Addr) -> u32 {
        self.known[server].get(&addr).copied().unwrap_or(0)
    }

    /// The latest lease end server `server` may grant on `addr` at its wall time `now`.
    pub fn bound(&self, server: usize, addr: Ipv4Addr, now: u32) -> u64 {
        u64::from(now.max(self.known(server, addr))) + u64::from(self.mclt)
    }

    /// The latest lease end if knowledge were kept per client (see [`KNOWN_BUGS`]).
    pub fn client_bound(&self, server: usize, client: &ClientKey, now: u32) -> u64 {
        let k = self.by_client[server].get(client).copied().unwrap_or(0);
        u64::from(now.max(k)) + u64::from(self.mclt)
    }

    /// The known bug that explains violation-to-be `a`, if any.
    pub fn known_bug(&self, a: &AckSeen) -> Option<&'static str> {
        let end = u64::from(a.now) + u64::from(a.lease_secs);
        let explained = end > a.bound && end <= a.client_bound.max(a.bound);
        KNOWN_BUGS
            .iter()
            .find(|(name, _)| explained && *name == "mclt-cap-follows-client")
            .map(|(name, _)| *name)
    }

    /// Judges one ACK.
    pub fn check(&self, a: &AckSeen) -> Result<(), Violation> {
        if a.state == ServerState::PartnerDown {
            return Ok(());
        }
        let end = u64::from(a.now) + u64::from(a.lease_secs);
        if end > a.bound {
            return fail(
                Checker::Mclt,
                format!(
                    "node {} ({}) ACKed {} to client {} for {} s at {}, ending at {end}; the \
                     partner knows the address until {} (0: not at all), so the lease may end \
                     at max(now, that) + MCLT {} s = {}: {} s over",
                    a.server,
                    a.state.name(),
                    a.addr,
                    a.client,
                    a.lease_secs,
                    a.now,
                    a.known,
                    self.mclt,
                    a.bound,
                    end - a.bound,
                ),
            );
        }
        Ok(())
    }
}

// ---- durability ----

/// A lease as the client holds it, for comparing with a server's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldLease {
    /// Client number.
    pub client: u32,
    /// Client key as the server files it.
    pub key: ClientKey,
    /// The address.
    pub addr: Ipv4Addr,
    /// The lease end in the granting server's wall clock.
    pub server_end: u32,
}

/// Every lease a client holds that its server ACKed, and that has not ended by that server's
/// clock, is ACTIVE in the server's table (after a crash and restart: recovered from the
/// journal, since the ACK left only once its record was durable).
pub fn durability(
    server: usize,
    server_now: u32,
    leases: &[HeldLease],
    active: &BTreeSet<(Ipv4Addr, ClientKey)>,
    when: &str,
) -> Result<(), Violation> {
    let lost: Vec<String> = leases
        .iter()
        .filter(|l| l.server_end > server_now.saturating_add(1))
        .filter(|l| !active.contains(&(l.addr, l.key)))
        .map(|l| {
            format!(
                "client {} on {} ({} s left)",
                l.client,
                l.addr,
                l.server_end - server_now
            )
        })
        .collect();
    if lost.is_empty() {
        return Ok(());
    }
    fail(
        Checker::Durability,
        format!(
            "{when}: node {server} has no ACTIVE binding for {} lease(s) it ACKed: {}",
            lost.len(),
            lost.join(", ")
        ),
    )
}

// ---- convergence ----

/// What convergence compares on one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The server's failover state.
    pub state: ServerState,
    /// Updates queued and in flight to the partner.
    pub backlog: (usize, usize),
    /// ACTIVE bindings: (address, client).
    pub active: BTreeSet<(Ipv4Addr, ClientKey)>,
}

/// After the heal: both servers NORMAL, nothing left to tell each other, and the same ACTIVE
/// bindings. `name` turns a client key into something a reader can find in the trail.
pub fn convergence(t: &[Table; 2], name: &dyn Fn(&ClientKey) -> String) -> Result<(), Violation> {
    let mut problems = Vec::new();
    for (i, s) in t.iter().enumerate() {
        if s.state != ServerState::Normal {
            problems.push(format!("node {i} is {}", s.state.name()));
        }
        if s.backlog != (0, 0) {
            problems.push(format!(
                "node {i} has {} update(s) queued and {} unacknowledged",
                s.backlog.0, s.backlog.1
            ));
        }
    }
    let only = |a: &Table, b: &Table| -> Vec<String> {
        a.active
            .difference(&b.active)
            .map(|(addr, k)| format!("{addr}={}", name(k)))
            .collect()
    };
    for (i, v) in [only(&t[0], &t[1]), only(&t[1], &t[0])]
        .into_iter()
        .enumerate()
    {
        if !v.is_empty() {
            let n = v.len();
            let shown: Vec<String> = v.into_iter().take(12).collect();
            problems.push(format!(
                "{n} ACTIVE binding(s) only on node {i}: {}{}",
                shown.join(" "),
                if n > 12 { " ..." } else { "" }
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        fail(Checker::Convergence, problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use dhcp_core::{
        failover::msg::{AckEntry, PeerBinding},
        lease::HwAddr,
    };

    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 7);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 8);

    fn hold(client: u32, end_ms: u64) -> Hold {
        Hold {
            client,
            end_ms,
            server: 0,
            since_ms: 0,
        }
    }

    #[test]
    fn uniqueness_fails_when_a_second_client_gets_a_held_address() {
        let mut u = Uniqueness::new(1000);
        u.acquire(0, A, hold(1, 60_000)).unwrap();
        // The same client renewing, and another address, are fine.
        u.acquire(30_000, A, hold(1, 90_000)).unwrap();
        u.acquire(30_000, B, hold(2, 90_000)).unwrap();
        let v = u.acquire(40_000, A, hold(3, 100_000)).unwrap_err();
        assert_eq!(v.checker, Checker::Uniqueness);
        assert!(v.detail.contains("client 3") && v.detail.contains("client 1"));
    }

    #[test]
    fn uniqueness_allows_reuse_after_expiry_or_release() {
        let mut u = Uniqueness::new(1000);
        u.acquire(0, A, hold(1, 60_000)).unwrap();
        // Within the tolerance of the end: whole-second server clocks.
        u.acquire(59_500, A, hold(2, 120_000)).unwrap();
        u.release(1, A); // not the holder any more: no effect
        assert_eq!(u.holder(A, 60_000).map(|h| h.client), Some(2));
        u.release(2, A);
        assert_eq!(u.holder(A, 60_000), None);
        u.acquire(61_000, A, hold(3, 120_000)).unwrap();
    }

    fn active(addr: Ipv4Addr, lease_end: u32, pot: u32) -> PeerBinding {
        PeerBinding {
            addr,
            state: BindingState::Active,
            client_id: None,
            hw: Some(HwAddr::new(1, &[2, 0, 0, 0, 0, 1])),
            lease_end: Some(lease_end),
            pot_exp: Some(pot),
            stos: Some(0),
            cltt: Some(0),
            reserved: false,
            bootp: false,
        }
    }

    fn msg(xid: u32, body: Body) -> Msg {
        Msg { time: 0, xid, body }
    }

    fn ack(server: usize, addr: Ipv4Addr, now: u32, lease: u32, m: &Mclt) -> AckSeen {
        AckSeen {
            server,
            client: 1,
            addr,
            now,
            lease_secs: lease,
            state: ServerState::Normal,
            bound: m.bound(server, addr, now),
            known: m.known(server, addr),
            client_bound: m.client_bound(server, &ClientKey::from_hw(1, &[2, 0, 0, 0, 0, 1]), now),
        }
    }

    #[test]
    fn mclt_allows_only_mclt_for_an_address_the_partner_does_not_know() {
        let m = Mclt::new(60);
        m.check(&ack(0, A, 1000, 60, &m)).unwrap();
        let v = m.check(&ack(0, A, 1000, 3600, &m)).unwrap_err();
        assert_eq!(v.checker, Checker::Mclt);
        assert!(v.detail.contains("3540 s over"), "{}", v.detail);
        // In PARTNER-DOWN the draft lets a server give more.
        let pd = AckSeen {
            state: ServerState::PartnerDown,
            ..ack(0, A, 1000, 3600, &m)
        };
        m.check(&pd).unwrap();
    }

    #[test]
    fn mclt_counts_acknowledged_and_received_potential_expirations() {
        let mut m = Mclt::new(60);
        // Node 0 tells node 1 about A until 5000; until node 1 accepts, node 0 may not lean on it.
        m.on_delivered(0, 7, &msg(3, Body::BndUpd(vec![active(A, 1060, 5000)])), 0);
        m.check(&ack(0, A, 1000, 3600, &m)).unwrap_err();
        // ... but node 1 may: its partner sent that time and must remember it.
        m.check(&ack(1, A, 1000, 3600, &m)).unwrap();
        // A rejection teaches node 0 nothing; an acceptance does.
        m.on_delivered(
            1,
            7,
            &msg(
                3,
                Body::BndAck(vec![AckEntry {
                    addr: A,
                    reject: Some(15),
                }]),
            ),
            0,
        );
        m.check(&ack(0, A, 1000, 3600, &m)).unwrap_err();
        m.on_delivered(0, 7, &msg(4, Body::BndUpd(vec![active(A, 1060, 5000)])), 0);
        // An answer on another connection, or to another xid, does not count either.
        m.on_delivered(
            1,
            8,
            &msg(
                4,
                Body::BndAck(vec![AckEntry {
                    addr: A,
                    reject: None,
                }]),
            ),
            0,
        );
        m.on_delivered(
            1,
            7,
            &msg(
                5,
                Body::BndAck(vec![AckEntry {
                    addr: A,
                    reject: None,
                }]),
            ),
            0,
        );
        m.check(&ack(0, A, 1000, 3600, &m)).unwrap_err();
        m.on_delivered(
            1,
            7,
            &msg(
                4,
                Body::BndAck(vec![AckEntry {
                    addr: A,
                    reject: None,
                }]),
            ),
            0,
        );
        m.check(&ack(0, A, 1000, 3600, &m)).unwrap();
        m.check(&ack(0, A, 1000, 4060, &m)).unwrap();
        m.check(&ack(0, A, 1000, 4061, &m)).unwrap_err();
        // Knowledge is per address.
        m.check(&ack(0, B, 1000, 3600, &m)).unwrap_err();
        // Unanswered updates of a closed connection are forgotten.
        m.on_delivered(0, 9, &msg(1, Body::BndUpd(vec![active(B, 1060, 9000)])), 0);
        m.on_link_gone(9);
        m.on_delivered(
            1,
            9,
            &msg(
                1,
                Body::BndAck(vec![AckEntry {
                    addr: B,
                    reject: None,
                }]),
            ),
            0,
        );
        m.check(&ack(0, B, 1000, 3600, &m)).unwrap_err();
    }

    fn key(n: u8) -> ClientKey {
        ClientKey::from_hw(1, &[2, 0, 0, 0, 0, n])
    }

    #[test]
    fn durability_fails_when_an_acked_lease_is_missing_after_restart() {
        let leases = [
            HeldLease {
                client: 1,
                key: key(1),
                addr: A,
                server_end: 2000,
            },
            HeldLease {
                client: 2,
                key: key(2),
                addr: B,
                server_end: 1500,
            },
        ];
        let mut table = BTreeSet::from([(A, key(1))]);
        let v = durability(0, 1000, &leases, &table, "after restart").unwrap_err();
        assert_eq!(v.checker, Checker::Durability);
        assert!(v.detail.contains("client 2 on 10.0.1.8"), "{}", v.detail);
        // Ended by the server's clock: nothing to keep.
        durability(0, 1500, &leases, &table, "after restart").unwrap();
        table.insert((B, key(2)));
        durability(0, 1000, &leases, &table, "after restart").unwrap();
        // The right address for the wrong client is not the lease.
        let wrong = BTreeSet::from([(A, key(1)), (B, key(3))]);
        durability(0, 1000, &leases, &wrong, "after restart").unwrap_err();
    }

    #[test]
    fn convergence_needs_normal_empty_backlogs_and_equal_tables() {
        let name = |k: &ClientKey| format!("{:?}", k.data());
        let t = |state, backlog, set: &[(Ipv4Addr, u8)]| Table {
            state,
            backlog,
            active: set.iter().map(|(a, n)| (*a, key(*n))).collect(),
        };
        let good = [
            t(ServerState::Normal, (0, 0), &[(A, 1), (B, 2)]),
            t(ServerState::Normal, (0, 0), &[(A, 1), (B, 2)]),
        ];
        convergence(&good, &name).unwrap();
        let differ = [
            t(ServerState::Normal, (0, 0), &[(A, 1), (B, 2)]),
            t(ServerState::Normal, (0, 0), &[(A, 1), (B, 3)]),
        ];
        let v = convergence(&differ, &name).unwrap_err();
        assert_eq!(v.checker, Checker::Convergence);
        assert!(v.detail.contains("only on node 0") && v.detail.contains("only on node 1"));
        let busy = [
            t(ServerState::Normal, (0, 1), &[(A, 1)]),
            t(ServerState::RecoverWait, (0, 0), &[(A, 1)]),
        ];
        let v = convergence(&busy, &name).unwrap_err();
        assert!(v.detail.contains("recover-wait") && v.detail.contains("1 unacknowledged"));
    }
}

//! A DHCP client as RFC 2131 §4.4 describes it, sans-IO: it is woken by its own timer or by a
//! reply, and answers with messages to send, lease changes and its next wake-up.
//!
//! A client believes in a lease only once the ACK arrives, and counts it from the moment it
//! sent the request that was answered (§4.4.1). Beyond the RFC paths it sometimes releases,
//! declines, reboots (INIT-REBOOT) or leaves the network for a while.

use std::net::Ipv4Addr;

use dhcp_core::{
    engine::{LeaseGrant, MsgType},
    lease::ClientKey,
};

use crate::{rng::Rng, scenario::SERVER_ADDRS};

/// Chance, per lease, that the client leaves the network before renewing.
const P_LEAVE: f64 = 0.02;
/// Chance, per lease, that it releases the lease before renewing.
const P_RELEASE: f64 = 0.03;
/// Chance, per lease, that it reboots (INIT-REBOOT) before renewing.
const P_REBOOT: f64 = 0.02;
/// Chance that it declines a fresh lease (an ARP probe found the address in use).
const P_DECLINE: f64 = 0.01;
/// Chance that a client that left comes back.
const P_RETURN: f64 = 0.8;
/// How long a client collects OFFERs after the first one arrives.
const COLLECT_MS: u64 = 300;

/// A message from a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientMsg {
    /// Client number.
    pub client: u32,
    /// Type.
    pub kind: MsgType,
    /// Transaction.
    pub xid: u32,
    /// ciaddr.
    pub ciaddr: Ipv4Addr,
    /// Option 50.
    pub requested: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Seconds since the client began this attempt.
    pub secs: u16,
    /// When it was sent (simulated ms): the start of a lease it leads to.
    pub sent_at: u64,
}

/// A server's answer as the client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The server.
    pub from: usize,
    /// OFFER, ACK or NAK.
    pub kind: MsgType,
    /// Transaction.
    pub xid: u32,
    /// yiaddr.
    pub yiaddr: Ipv4Addr,
    /// Option 54.
    pub server_id: Ipv4Addr,
    /// Lease options.
    pub lease: Option<LeaseGrant>,
    /// When the client sent the request answered.
    pub req_sent_at: u64,
    /// The lease end in the server's clock (simulator bookkeeping, not on the wire).
    pub server_end: u32,
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Both servers hear it.
    Broadcast,
    /// Unicast to one server.
    Server(usize),
}

/// A lease the client holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Address.
    pub addr: Ipv4Addr,
    /// Server that ACKed it.
    pub server: usize,
    /// End (simulated ms).
    pub end_ms: u64,
    /// T1.
    pub t1_ms: u64,
    /// T2.
    pub t2_ms: u64,
    /// End in the server's clock.
    pub server_end: u32,
}

/// What a client did.
#[derive(Debug, Default)]
pub struct Effects {
    /// Messages to send.
    pub send: Vec<(Dest, ClientMsg)>,
    /// It now holds this lease (new or renewed).
    pub acquired: Option<Lease>,
    /// It stopped using this address, and why.
    pub dropped: Option<(Ipv4Addr, &'static str)>,
    /// It left the network (its lease, if any, stays valid until it ends).
    pub left: bool,
}

/// What a bound client will do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    Renew,
    Leave,
    Release,
    Reboot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not on the network (not yet arrived, or away).
    Off,
    /// DISCOVER sent, collecting OFFERs.
    Selecting,
    /// REQUEST sent to the chosen server.
    Requesting,
    Bound(Plan),
    Renewing,
    Rebinding,
    /// INIT-REBOOT: REQUEST for the address it had.
    Rebooting,
    /// After a DECLINE: waits before starting again (RFC 2131 §3.1: 10 s).
    Declined,
}

/// One client.
#[derive(Debug)]
pub struct Client {
    /// Number.
    pub id: u32,
    /// Hardware address.
    pub mac: [u8; 6],
    /// Option 61, when it sends one.
    pub client_id: Option<Vec<u8>>,
    /// The key servers file it under.
    pub key: ClientKey,
    state: State,
    xid: u32,
    xids: u32,
    /// Start of the current attempt (for `secs`) and the number of transmissions.
    began: u64,
    tries: u32,
    offers: Vec<(usize, Ipv4Addr)>,
    chosen: Option<(usize, Ipv4Addr)>,
    /// The lease in use.
    pub lease: Option<Lease>,
    last_addr: Option<Ipv4Addr>,
    /// Gone for good.
    pub gone: bool,
    /// When it next wants to be woken, and the generation of that wake-up.
    pub wake_at: Option<u64>,
    /// Bumped whenever the wake-up changes; stale timer events carry an old one.
    pub wake_gen: u64,
}

impl Client {
    /// Client number `id`; client 0 has a reservation by hardware address, client 1 one by
    /// client identifier, and a quarter of the others send a client identifier.
    pub fn new(id: u32, rng: &mut Rng) -> Client {
        let mac = [2, 0, 0, 0, (id >> 8) as u8, id as u8];
        let client_id = match id {
            0 => None,
            1 => Some(vec![0xff, 0, 0, 0, 1]),
            _ if rng.chance(0.25) => {
                let mut v = vec![1];
                v.extend_from_slice(&mac);
                Some(v)
            }
            _ => None,
        };
        let key = ClientKey::for_request(client_id.as_deref(), 1, &mac);
        Client {
            id,
            mac,
            client_id,
            key,
            state: State::Off,
            xid: 0,
            xids: 0,
            began: 0,
            tries: 0,
            offers: Vec::new(),
            chosen: None,
            lease: None,
            last_addr: None,
            gone: false,
            wake_at: None,
            wake_gen: 0,
        }
    }

    /// True while it is on the network.
    pub fn active(&self) -> bool {
        self.state != State::Off
    }

    fn wake(&mut self, at: u64) {
        self.wake_at = Some(at);
        self.wake_gen += 1;
    }

    fn msg(&self, now: u64, kind: MsgType) -> ClientMsg {
        ClientMsg {
            client: self.id,
            kind,
            xid: self.xid,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested: None,
            server_id: None,
            secs: ((now.saturating_sub(self.began)) / 1000).min(u64::from(u16::MAX)) as u16,
            sent_at: now,
        }
    }

    fn new_xid(&mut self, now: u64) {
        self.xids = self.xids.wrapping_add(1);
        self.xid = self.id << 16 | (self.xids & 0xffff);
        self.began = now;
        self.tries = 0;
    }

    /// RFC 2131 §4.1 back-off: 4, 8, 16, 32, 64 s, ±1 s.
    fn backoff(&self, rng: &mut Rng) -> u64 {
        let base = 4000u64 << self.tries.min(4);
        base - 1000 + rng.below(2001)
    }

    fn drop_lease(&mut self, why: &'static str, fx: &mut Effects) {
        if let Some(l) = self.lease.take() {
            self.last_addr = Some(l.addr);
            fx.dropped = Some((l.addr, why));
        }
    }

    fn discover(&mut self, now: u64, rng: &mut Rng, fx: &mut Effects) {
        self.new_xid(now);
        self.state = State::Selecting;
        self.offers.clear();
        self.send_discover(now, rng, fx);
    }

    /// Broadcasts `m` and waits the back-off for an answer.
    fn broadcast(&mut self, now: u64, m: ClientMsg, rng: &mut Rng, fx: &mut Effects) {
        fx.send.push((Dest::Broadcast, m));
        let wait = self.backoff(rng);
        self.tries += 1;
        self.wake(now + wait);
    }

    fn send_discover(&mut self, now: u64, rng: &mut Rng, fx: &mut Effects) {
        let mut m = self.msg(now, MsgType::Discover);
        m.requested = self.last_addr;
        self.broadcast(now, m, rng, fx);
    }

    fn request_chosen(&mut self, now: u64, rng: &mut Rng, fx: &mut Effects) {
        let Some((from, addr)) = self.chosen else {
            return;
        };
        let mut m = self.msg(now, MsgType::Request);
        m.requested = Some(addr);
        m.server_id = Some(SERVER_ADDRS[from]);
        self.broadcast(now, m, rng, fx);
    }

    /// INIT-REBOOT's REQUEST for the address it had.
    fn request_again(&mut self, now: u64, rng: &mut Rng, fx: &mut Effects) {
        let mut m = self.msg(now, MsgType::Request);
        m.requested = self.last_addr;
        self.broadcast(now, m, rng, fx);
    }

    fn renew(&mut self, now: u64, fx: &mut Effects) {
        let Some(l) = self.lease else { return };
        let mut m = self.msg(now, MsgType::Request);
        m.ciaddr = l.addr;
        let (dest, until) = match self.state {
            State::Renewing => (Dest::Server(l.server), l.t2_ms),
            _ => (Dest::Broadcast, l.end_ms),
        };
        fx.send.push((dest, m));
        // RFC 2131 §4.4.5: half the time left, here at least 2 s.
        let wait = (until.saturating_sub(now) / 2).max(2000);
        self.wake((now + wait).min(until));
    }

    fn reboot(&mut self, now: u64, rng: &mut Rng, fx: &mut Effects) {
        self.new_xid(now);
        self.state = State::Rebooting;
        self.request_again(now, rng, fx);
    }

    /// Puts the client on the network at `at` (first arrival).
    pub fn arrive(&mut self, at: u64) {
        self.state = State::Off;
        self.wake(at);
    }

    /// Its timer fired.
    pub fn handle_wake(&mut self, now: u64, rng: &mut Rng) -> Effects {
        let mut fx = Effects::default();
        self.wake_at = None;
        // A lease that ran out goes first, whatever the client was doing.
        if let Some(l) = self.lease {
            if now >= l.end_ms && self.state != State::Off {
                self.drop_lease("lease ended", &mut fx);
                self.discover(now, rng, &mut fx);
                return fx;
            }
        }
        match self.state {
            State::Off => {
                if self.gone {
                    return fx;
                }
                match self.lease {
                    // Back with a lease that has not ended: INIT-REBOOT.
                    Some(l) if l.end_ms > now => {
                        self.drop_lease("rebooting to confirm", &mut fx);
                        self.reboot(now, rng, &mut fx);
                    }
                    _ => {
                        self.lease = None;
                        self.discover(now, rng, &mut fx);
                    }
                }
            }
            State::Selecting => {
                if self.offers.is_empty() {
                    self.send_discover(now, rng, &mut fx);
                } else {
                    let (from, addr) = self.offers[rng.below(self.offers.len() as u64) as usize];
                    self.chosen = Some((from, addr));
                    self.state = State::Requesting;
                    self.tries = 0;
                    self.request_chosen(now, rng, &mut fx);
                }
            }
            State::Requesting => {
                if self.tries >= 3 {
                    self.discover(now, rng, &mut fx);
                } else {
                    self.request_chosen(now, rng, &mut fx);
                }
            }
            State::Bound(plan) => match plan {
                Plan::Renew => {
                    self.new_xid(now);
                    self.state = State::Renewing;
                    self.renew(now, &mut fx);
                }
                Plan::Leave => {
                    fx.left = true;
                    self.state = State::Off;
                    if rng.chance(P_RETURN) {
                        let away = rng.exp_ms(600_000);
                        self.wake(now + away);
                    } else {
                        self.gone = true;
                    }
                }
                Plan::Release => {
                    let l = self.lease.expect("bound with a lease");
                    self.new_xid(now);
                    let mut m = self.msg(now, MsgType::Release);
                    m.ciaddr = l.addr;
                    m.server_id = Some(SERVER_ADDRS[l.server]);
                    fx.send.push((Dest::Server(l.server), m));
                    self.drop_lease("released", &mut fx);
                    self.state = State::Off;
                    let away = rng.exp_ms(120_000);
                    self.wake(now + away);
                }
                Plan::Reboot => {
                    self.drop_lease("rebooting", &mut fx);
                    self.reboot(now, rng, &mut fx);
                }
            },
            State::Renewing => {
                let l = self.lease.expect("renewing with a lease");
                if now >= l.t2_ms {
                    self.new_xid(now);
                    self.state = State::Rebinding;
                }
                self.renew(now, &mut fx);
            }
            State::Rebinding => self.renew(now, &mut fx),
            State::Rebooting => {
                if self.tries >= 3 {
                    self.discover(now, rng, &mut fx);
                } else {
                    self.request_again(now, rng, &mut fx);
                }
            }
            State::Declined => self.discover(now, rng, &mut fx),
        }
        fx
    }

    fn bind(&mut self, now: u64, r: &Reply, rng: &mut Rng, fx: &mut Effects) {
        let Some(g) = r.lease else { return };
        let start = r.req_sent_at;
        let l = Lease {
            addr: r.yiaddr,
            server: r.from,
            end_ms: start + u64::from(g.lease_secs) * 1000,
            t1_ms: start + u64::from(g.t1_secs) * 1000,
            t2_ms: start + u64::from(g.t2_secs) * 1000,
            server_end: r.server_end,
        };
        if let Some(old) = self.lease {
            if old.addr != l.addr {
                self.drop_lease("moved to another address", fx);
            }
        }
        if l.end_ms <= now {
            // The ACK took longer than the lease: nothing to hold.
            self.lease = None;
            self.discover(now, rng, fx);
            return;
        }
        self.lease = Some(l);
        self.last_addr = Some(l.addr);
        fx.acquired = Some(l);
        let roll = rng.unit();
        let plan = if roll < P_LEAVE {
            Plan::Leave
        } else if roll < P_LEAVE + P_RELEASE {
            Plan::Release
        } else if roll < P_LEAVE + P_RELEASE + P_REBOOT {
            Plan::Reboot
        } else {
            Plan::Renew
        };
        self.state = State::Bound(plan);
        let t1 = l.t1_ms.max(now + 1);
        let at = match plan {
            Plan::Renew => t1,
            _ => now + rng.below(t1 - now) + 1,
        };
        self.wake(at);
    }

    /// A reply arrived.
    pub fn handle_reply(&mut self, now: u64, r: &Reply, rng: &mut Rng) -> Effects {
        let mut fx = Effects::default();
        if r.xid != self.xid {
            return fx;
        }
        match (self.state, r.kind) {
            (State::Selecting, MsgType::Offer) => {
                if self.offers.is_empty() {
                    self.wake(now + COLLECT_MS);
                }
                self.offers.push((r.from, r.yiaddr));
            }
            (State::Requesting, MsgType::Ack) => {
                if self.chosen != Some((r.from, r.yiaddr)) {
                    return fx;
                }
                if rng.chance(P_DECLINE) {
                    let mut m = self.msg(now, MsgType::Decline);
                    m.requested = Some(r.yiaddr);
                    m.server_id = Some(SERVER_ADDRS[r.from]);
                    fx.send.push((Dest::Broadcast, m));
                    // It never used the address: no lease to drop; start over in 10 s.
                    self.last_addr = None;
                    self.state = State::Declined;
                    self.wake(now + 10_000);
                    return fx;
                }
                self.bind(now, r, rng, &mut fx);
            }
            (State::Renewing | State::Rebinding | State::Rebooting, MsgType::Ack) => {
                let expected = match self.state {
                    State::Rebooting => self.last_addr,
                    _ => self.lease.map(|l| l.addr),
                };
                if expected == Some(r.yiaddr) {
                    self.bind(now, r, rng, &mut fx);
                }
            }
            (
                State::Requesting | State::Renewing | State::Rebinding | State::Rebooting,
                MsgType::Nak,
            ) => {
                if self.state == State::Requesting && self.chosen.map(|c| c.0) != Some(r.from) {
                    return fx;
                }
                self.drop_lease("NAK", &mut fx);
                self.last_addr = None;
                self.discover(now, rng, &mut fx);
            }
            _ => {}
        }
        fx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(secs: u32) -> LeaseGrant {
        LeaseGrant {
            lease_secs: secs,
            t1_secs: secs / 2,
            t2_secs: secs * 7 / 8,
        }
    }

    fn reply(from: usize, kind: MsgType, xid: u32, addr: Ipv4Addr, sent: u64) -> Reply {
        Reply {
            from,
            kind,
            xid,
            yiaddr: addr,
            server_id: SERVER_ADDRS[from],
            lease: (kind != MsgType::Nak).then(|| grant(100)),
            req_sent_at: sent,
            server_end: 0,
        }
    }

    #[test]
    fn dora_then_renew_at_t1_unicast_then_rebind_at_t2_broadcast() {
        let mut rng = Rng::new(3);
        let mut c = Client::new(5, &mut rng);
        c.arrive(0);
        let fx = c.handle_wake(0, &mut rng);
        let (d, m) = fx.send[0];
        assert_eq!((d, m.kind), (Dest::Broadcast, MsgType::Discover));
        let a = Ipv4Addr::new(10, 0, 1, 9);
        c.handle_reply(5, &reply(1, MsgType::Offer, m.xid, a, 0), &mut rng);
        assert_eq!(c.wake_at, Some(5 + COLLECT_MS));
        let fx = c.handle_wake(305, &mut rng);
        let (_, req) = fx.send[0];
        assert_eq!(req.server_id, Some(SERVER_ADDRS[1]));
        assert_eq!(req.requested, Some(a));
        // The lease counts from the request's send time, not the ACK's arrival.
        let fx = c.handle_reply(400, &reply(1, MsgType::Ack, req.xid, a, 305), &mut rng);
        let declined = fx.send.iter().any(|(_, m)| m.kind == MsgType::Decline);
        if declined {
            return; // 1 % of seeds: nothing more to see here.
        }
        let l = fx.acquired.expect("bound");
        assert_eq!((l.addr, l.end_ms, l.t1_ms), (a, 100_305, 50_305));
        // Whatever it planned, it acts before T1; make it renew for this test.
        c.state = State::Bound(Plan::Renew);
        let fx = c.handle_wake(50_305, &mut rng);
        assert_eq!(fx.send[0].0, Dest::Server(1));
        assert_eq!(fx.send[0].1.ciaddr, a);
        let fx = c.handle_wake(87_805, &mut rng);
        assert_eq!(fx.send[0].0, Dest::Broadcast, "rebinding");
        // The lease ends with no answer: the address is let go.
        let fx = c.handle_wake(100_305, &mut rng);
        assert_eq!(fx.dropped, Some((a, "lease ended")));
        assert_eq!(fx.send[0].1.kind, MsgType::Discover);
    }

    #[test]
    fn a_nak_while_renewing_drops_the_lease_and_replies_to_old_transactions_are_ignored() {
        let mut rng = Rng::new(4);
        let mut c = Client::new(7, &mut rng);
        let a = Ipv4Addr::new(10, 0, 1, 3);
        c.lease = Some(Lease {
            addr: a,
            server: 0,
            end_ms: 10_000,
            t1_ms: 5_000,
            t2_ms: 8_000,
            server_end: 0,
        });
        c.state = State::Bound(Plan::Renew);
        let fx = c.handle_wake(5_000, &mut rng);
        let xid = fx.send[0].1.xid;
        let fx = c.handle_reply(5_001, &reply(0, MsgType::Nak, xid ^ 1, a, 5_000), &mut rng);
        assert!(fx.dropped.is_none() && c.lease.is_some());
        let fx = c.handle_reply(5_001, &reply(0, MsgType::Nak, xid, a, 5_000), &mut rng);
        assert_eq!(fx.dropped, Some((a, "NAK")));
        assert!(c.lease.is_none());
    }
}

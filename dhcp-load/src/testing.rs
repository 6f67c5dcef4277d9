//! Test support: a small in-process DHCP server that can be told to misbehave, and a simulated
//! link with a virtual clock that drives a fleet against it.
//!
//! Not the project's server: just enough RFC 2131 (allocate from a range, one binding per
//! client, reply addressing of §4.1, option 82 echo, VLAN tags kept) to show that the fleet
//! passes a correct server and catches a wrong one. It allocates freely; it is for tests.

use std::{collections::HashMap, collections::VecDeque, net::Ipv4Addr, time::Duration};

use dhcp_wire::{
    dhcp::{DhcpPacket, DhcpWriter, FLAG_BROADCAST, MessageType, Op, OptionCode},
    frame::{self, LinkMeta, MacAddr, UdpMeta},
};

use crate::{fleet::Fleet, rng::Rng};

/// A deliberate fault of the [`FakeServer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// None: a correct server.
    None,
    /// Every client is offered and acknowledged the first address of the range (on every
    /// reply, whatever `misbehave_every` says).
    SameAddressForAll,
    /// Replies carry the request's xid plus one.
    WrongXid,
    /// Replies carry another hardware address (last byte flipped).
    WrongChaddr,
    /// No option 51 in OFFERs and ACKs.
    NoLeaseTime,
    /// Option 54 names another server.
    WrongServerId,
    /// Option 82 is not echoed.
    NoRelayEcho,
    /// Every REQUEST is answered with a NAK.
    NakRequests,
    /// A REQUEST is answered with an OFFER.
    OfferForAck,
}

/// A minimal DHCP server over frames (see the module documentation).
#[derive(Debug)]
pub struct FakeServer {
    /// Address and server identifier.
    pub ip: Ipv4Addr,
    /// Hardware address (source of replies).
    pub mac: MacAddr,
    /// Lease time given.
    pub lease_secs: u32,
    /// The fault, applied to every `misbehave_every`-th reply (1: all).
    pub misbehave: Misbehaviour,
    /// See `misbehave`.
    pub misbehave_every: u32,
    pool_start: u32,
    pool_len: u32,
    next: u32,
    bindings: HashMap<Vec<u8>, u32>,
    replies: u32,
    /// Requests answered.
    pub answered: u64,
}

impl FakeServer {
    /// A correct server at `ip` handing out `pool_len` addresses from `pool_start`.
    pub fn new(ip: Ipv4Addr, mac: MacAddr, pool_start: Ipv4Addr, pool_len: u32) -> Self {
        FakeServer {
            ip,
            mac,
            lease_secs: 3600,
            misbehave: Misbehaviour::None,
            misbehave_every: 1,
            pool_start: u32::from(pool_start),
            pool_len,
            next: 0,
            bindings: HashMap::new(),
            replies: 0,
            answered: 0,
        }
    }

    /// The same server with a fault.
    pub fn misbehaving(mut self, m: Misbehaviour) -> Self {
        self.misbehave = m;
        self
    }

    /// Bindings held.
    pub fn bindings(&self) -> usize {
        self.bindings.len()
    }

    fn allocate(&mut self, key: &[u8]) -> Option<u32> {
        if self.misbehave == Misbehaviour::SameAddressForAll {
            return Some(self.pool_start);
        }
        if let Some(a) = self.bindings.get(key) {
            return Some(*a);
        }
        if self.next >= self.pool_len {
            return None;
        }
        let a = self.pool_start + self.next;
        self.next += 1;
        self.bindings.insert(key.to_vec(), a);
        Some(a)
    }

    /// Answers one request frame into `out`; `None` for frames it does not answer.
    pub fn handle(&mut self, request: &[u8], out: &mut [u8]) -> Option<usize> {
        let f = frame::parse_udp_frame(request).ok()?;
        if f.udp.dst_port != 67 {
            return None;
        }
        let req = DhcpPacket::new_checked(f.payload).ok()?;
        if req.op() != Op::BootRequest {
            return None;
        }
        let opts = req.options().ok()?;
        let key: Vec<u8> = match opts.client_id() {
            Some(id) => id.bytes().collect(),
            None => req.chaddr().to_vec(),
        };
        let msg = opts.message_type()?;
        let (reply_type, yiaddr) = match msg {
            MessageType::Discover => (MessageType::Offer, self.allocate(&key)?),
            MessageType::Request => {
                let bound = self.allocate(&key)?;
                let asked = opts
                    .requested_ip()
                    .map(u32::from)
                    .unwrap_or(u32::from(req.ciaddr()));
                if asked == bound {
                    (MessageType::Ack, bound)
                } else {
                    (MessageType::Nak, 0)
                }
            }
            MessageType::Release => {
                self.bindings.remove(&key);
                return None;
            }
            _ => return None,
        };
        self.replies += 1;
        let fault = if self.misbehave_every > 0 && self.replies.is_multiple_of(self.misbehave_every)
        {
            self.misbehave
        } else {
            Misbehaviour::None
        };
        let (reply_type, yiaddr) = match (fault, reply_type) {
            (Misbehaviour::NakRequests, MessageType::Ack) => (MessageType::Nak, 0),
            (Misbehaviour::OfferForAck, MessageType::Ack) => (MessageType::Offer, yiaddr),
            _ => (reply_type, yiaddr),
        };
        self.answered += 1;

        // RFC 2131 §4.1 addressing.
        let giaddr = req.giaddr();
        let (dst_mac, dst_ip, dst_port) = if !giaddr.is_unspecified() {
            (f.link.src, giaddr, 67)
        } else if reply_type == MessageType::Nak {
            (MacAddr::BROADCAST, Ipv4Addr::BROADCAST, 68)
        } else if !req.ciaddr().is_unspecified() {
            (f.link.src, req.ciaddr(), 68)
        } else if req.flags() & FLAG_BROADCAST != 0 {
            (MacAddr::BROADCAST, Ipv4Addr::BROADCAST, 68)
        } else {
            let mut m = [0u8; 6];
            m.copy_from_slice(req.chaddr().get(..6)?);
            (MacAddr(m), Ipv4Addr::from(yiaddr), 68)
        };
        let link = LinkMeta {
            dst: dst_mac,
            src: self.mac,
            vlans: f.link.vlans,
        };
        let hdr = frame::udp_headers_len(&link.vlans);
        let body = out.get_mut(hdr..)?;
        let limit = body.len().min(548);
        let mut w = DhcpWriter::new(body, limit, None).ok()?;
        w.set_reply_header(&req);
        if fault == Misbehaviour::WrongXid {
            w.set_xid(req.xid().wrapping_add(1));
        }
        if fault == Misbehaviour::WrongChaddr {
            let mut c = req.chaddr_field();
            c[5] ^= 0x80;
            w.set_chaddr(&c[..6]).ok()?;
        }
        if reply_type != MessageType::Nak {
            w.set_yiaddr(Ipv4Addr::from(yiaddr));
            if msg == MessageType::Request {
                w.set_ciaddr(req.ciaddr());
            }
        }
        w.message_type(reply_type).ok()?;
        let sid = if fault == Misbehaviour::WrongServerId {
            Ipv4Addr::new(192, 0, 2, 99)
        } else {
            self.ip
        };
        w.option(OptionCode::SERVER_ID, &sid.octets()).ok()?;
        if reply_type != MessageType::Nak && fault != Misbehaviour::NoLeaseTime {
            w.option(OptionCode::LEASE_TIME, &self.lease_secs.to_be_bytes())
                .ok()?;
        }
        if fault != Misbehaviour::NoRelayEcho {
            if let Some(v) = opts.get(OptionCode::RELAY_AGENT_INFO) {
                w.copy_option(&v).ok()?;
            }
        }
        let n = w.finish();
        let udp = UdpMeta {
            src_ip: self.ip,
            dst_ip,
            src_port: 67,
            dst_port,
            ttl: 64,
        };
        frame::write_udp_headers(out, &link, &udp, 0, n).ok()
    }
}

/// A two-way link with a fixed one-way delay and seeded random loss, and a virtual clock.
#[derive(Debug)]
pub struct SimLink {
    /// Virtual time since the run's origin.
    pub now: Duration,
    /// One-way delay.
    pub delay: Duration,
    /// Probability that a frame is lost, each way.
    pub loss: f64,
    /// Clock step when nothing is due sooner.
    pub step: Duration,
    rng: Rng,
    to_server: VecDeque<(Duration, Vec<u8>)>,
    to_client: VecDeque<(Duration, Vec<u8>)>,
    /// Frames lost so far.
    pub lost: u64,
}

impl SimLink {
    /// A lossless link with a 50 µs delay and 100 µs steps.
    pub fn new(seed: u64) -> Self {
        SimLink {
            now: Duration::ZERO,
            delay: Duration::from_micros(50),
            loss: 0.0,
            step: Duration::from_micros(100),
            rng: Rng::new(seed),
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            lost: 0,
        }
    }

    fn keep(&mut self) -> bool {
        if self.loss > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < self.loss {
            self.lost += 1;
            return false;
        }
        true
    }

    /// Runs `fleet` against `server` until `until` (virtual) or until the fleet is done and
    /// the link is empty. `per_step` bounds the frames the fleet sends per clock step.
    pub fn run(
        &mut self,
        fleet: &mut Fleet,
        server: &mut FakeServer,
        until: Duration,
        per_step: usize,
    ) {
        let mut buf = vec![0u8; 2048];
        let mut out = vec![0u8; 2048];
        while self.now < until {
            fleet.handle_timeout(self.now);
            for _ in 0..per_step {
                let Some(n) = fleet.poll_transmit(self.now, &mut buf) else {
                    break;
                };
                if self.keep() {
                    self.to_server
                        .push_back((self.now + self.delay, buf[..n].to_vec()));
                }
            }
            while self.to_server.front().is_some_and(|(t, _)| *t <= self.now) {
                let Some((t, f)) = self.to_server.pop_front() else {
                    break;
                };
                if let Some(n) = server.handle(&f, &mut out) {
                    if self.keep() {
                        self.to_client
                            .push_back((t + self.delay, out[..n].to_vec()));
                    }
                }
            }
            while self.to_client.front().is_some_and(|(t, _)| *t <= self.now) {
                let Some((_, f)) = self.to_client.pop_front() else {
                    break;
                };
                fleet.handle_frame(self.now, &f);
            }
            if fleet.is_done() && self.to_server.is_empty() && self.to_client.is_empty() {
                break;
            }
            self.now += self.step;
        }
    }
}

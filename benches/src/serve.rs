//! The end-to-end engine cases: client messages served to a [`Lab`] the way a worker serves
//! datagrams, in chunks of up to [`CHUNK`] whose set-up and tidy-up are untimed. Every case
//! checks afterwards that each message got the answer it should have (an OFFER or ACK for the
//! right address, or the expected silent drop), so a bench that stopped exercising its path
//! fails instead of measuring something else.
//!
//! The wall-clock second moves on by one per chunk. New clients use up binding slots and pool
//! addresses; when the lab's headroom is gone it is rebuilt, untimed.

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use dhcp_core::engine::{DropReason, MsgType, Outcome, Request};

use crate::{
    drive::{CHUNK, build_lab},
    lab::{Batch, IFACE, Lab, LabSize, Msg, client_id, lease_addr, lease_binding, mac},
};

/// What a message got, checked after the timed loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Got {
    /// OFFER, ACK or NAK, and its yiaddr.
    Reply(MsgType, Ipv4Addr),
    /// No reply.
    Drop(DropReason),
    /// Not parsed, or forwarded.
    Other,
}

/// A lab, a batch of messages and what they got: the state of the end-to-end cases.
#[derive(Debug)]
pub struct EngineRun {
    /// The table and engine.
    pub lab: Lab,
    batch: Batch,
    got: Vec<Got>,
    ids: Vec<u32>,
    addrs: Vec<Ipv4Addr>,
}

impl EngineRun {
    /// Builds the lab.
    pub fn new(size: LabSize) -> EngineRun {
        EngineRun {
            lab: build_lab(size),
            batch: Batch::with_capacity(CHUNK),
            got: Vec::with_capacity(CHUNK),
            ids: Vec::with_capacity(CHUNK),
            addrs: Vec::with_capacity(CHUNK),
        }
    }

    /// Serves the batch, timed, recording what each message got.
    fn serve(&mut self) -> Duration {
        self.got.clear();
        let t = Instant::now();
        for i in 0..self.batch.len() {
            let g = match self.lab.serve(self.batch.get(i)) {
                Some(Outcome::Reply(r)) => Got::Reply(r.msg_type, r.yiaddr),
                Some(Outcome::Drop(d)) => Got::Drop(d),
                _ => Got::Other,
            };
            self.got.push(g);
        }
        t.elapsed()
    }

    /// Asserts every message got `want` (`None` in the address: any).
    fn expect(&self, what: &str, want: impl Fn(usize, Got) -> bool) {
        for (i, g) in self.got.iter().enumerate() {
            assert!(want(i, *g), "{what}: message {i} got {g:?}");
        }
    }

    /// A DISCOVER from each of `n` new clients, in the batch (their ids in `ids`).
    fn new_discovers(&mut self, n: usize) {
        self.lab.ensure_room(n);
        self.ids.clear();
        self.batch.clear();
        for _ in 0..n {
            let id = self.lab.new_client();
            self.ids.push(id);
            self.batch.push(id, Msg::Discover);
        }
    }

    /// `n` new clients, each with an OFFER (untimed); their addresses in `addrs`.
    fn offered(&mut self, n: usize) {
        self.new_discovers(n);
        self.serve();
        self.collect_offers();
    }

    fn collect_offers(&mut self) {
        self.expect("discover", |_, g| {
            matches!(g, Got::Reply(MsgType::Offer, _))
        });
        self.addrs.clear();
        for g in &self.got {
            if let Got::Reply(_, a) = g {
                self.addrs.push(*a);
            }
        }
    }

    /// Sends, untimed, `msg(addr)` from every client in `ids`.
    fn send_each(&mut self, msg: fn(Ipv4Addr) -> Msg) {
        self.batch.clear();
        for (&id, &a) in self.ids.iter().zip(&self.addrs) {
            self.batch.push(id, msg(a));
        }
    }

    fn release_all(&mut self) {
        self.send_each(Msg::Release);
        self.serve();
        self.expect("release", |_, g| {
            g == Got::Drop(DropReason::NoReplyExpected)
        });
    }

    fn prefilled_batch(&mut self, n: usize, msg: fn(Ipv4Addr) -> Msg) {
        self.lab.now += 1;
        self.ids.clear();
        self.ids.extend(self.lab.prefilled(n));
        self.addrs.clear();
        self.addrs.extend(self.ids.iter().map(|&id| lease_addr(id)));
        self.send_each(msg);
    }

    /// A prefilled client renews (REQUEST in RENEWING → ACK).
    pub fn renewing(&mut self, n: usize) -> Duration {
        self.prefilled_batch(n, Msg::Renewing);
        let d = self.serve();
        let addrs = &self.addrs;
        self.expect("renewing", |i, g| g == Got::Reply(MsgType::Ack, addrs[i]));
        d
    }

    /// A prefilled client sends DHCPINFORM (→ ACK without lease).
    pub fn inform(&mut self, n: usize) -> Duration {
        self.prefilled_batch(n, Msg::Inform);
        let d = self.serve();
        self.expect("inform", |_, g| matches!(g, Got::Reply(MsgType::Ack, _)));
        d
    }

    /// A prefilled client releases its lease (no reply); re-leased untimed.
    pub fn release(&mut self, n: usize) -> Duration {
        self.prefilled_batch(n, Msg::Release);
        let d = self.serve();
        self.expect("release", |_, g| {
            g == Got::Drop(DropReason::NoReplyExpected)
        });
        let now = self.lab.now;
        for i in 0..self.ids.len() {
            let id = self.ids[i];
            let b = lease_binding(id);
            assert!(self.lab.shard_of(id).restore(&b, now), "re-leasing {id}");
        }
        d
    }

    /// A new client's DISCOVER (→ OFFER); released untimed.
    pub fn discover(&mut self, n: usize) -> Duration {
        self.lab.now += 1;
        self.new_discovers(n);
        let d = self.serve();
        self.collect_offers();
        self.release_all();
        d
    }

    /// A new client with an OFFER (untimed) takes it (REQUEST in SELECTING → ACK).
    pub fn selecting(&mut self, n: usize) -> Duration {
        self.lab.now += 1;
        self.offered(n);
        self.send_each(Msg::Selecting);
        let d = self.serve();
        let addrs = &self.addrs;
        self.expect("selecting", |i, g| g == Got::Reply(MsgType::Ack, addrs[i]));
        self.release_all();
        d
    }

    /// A new client with an ACKed lease (untimed DORA) declines it (no reply).
    pub fn decline(&mut self, n: usize) -> Duration {
        self.lab.now += 1;
        self.offered(n);
        self.send_each(Msg::Selecting);
        self.serve();
        self.send_each(Msg::Decline);
        let d = self.serve();
        self.expect("decline", |_, g| {
            g == Got::Drop(DropReason::NoReplyExpected)
        });
        self.lab.quarantined += n as u32;
        d
    }

    /// As [`renewing`](Self::renewing), but only `Engine::handle`: the [`Request`] is built
    /// directly, as `emit::request` would read it, and no reply is written.
    pub fn handle_renewing(&mut self, n: usize) -> Duration {
        self.lab.now += 1;
        self.ids.clear();
        self.ids.extend(self.lab.prefilled(n));
        let macs: Vec<[u8; 6]> = self.ids.iter().map(|&id| mac(id)).collect();
        let cids: Vec<[u8; 7]> = self.ids.iter().map(|&id| client_id(id)).collect();
        self.got.clear();
        let now = self.lab.now;
        let t = Instant::now();
        for (j, &id) in self.ids.iter().enumerate() {
            let req = Request {
                msg_type: MsgType::Request,
                xid: id,
                broadcast: false,
                secs: 0,
                htype: 1,
                chaddr: &macs[j],
                ciaddr: lease_addr(id),
                giaddr: Ipv4Addr::UNSPECIFIED,
                client_id: Some(&cids[j]),
                requested_ip: None,
                server_id: None,
                lease_time: None,
                vendor_class: None,
                relay: None,
                subnet_selection: None,
                iface_addr: IFACE,
            };
            let g = match self.lab.engine.handle(now, &req) {
                Outcome::Reply(r) => Got::Reply(r.msg_type, r.yiaddr),
                Outcome::Drop(d) => Got::Drop(d),
                Outcome::Forward(_) => Got::Other,
            };
            self.lab.engine.journal().clear();
            self.got.push(g);
        }
        let d = t.elapsed();
        let ids = &self.ids;
        self.expect("handle renewing", |i, g| {
            g == Got::Reply(MsgType::Ack, lease_addr(ids[i]))
        });
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case still gets the answers it checks for (the benches themselves are not run
    /// by `cargo test`).
    #[test]
    fn every_case_runs_on_a_small_table() {
        let mut run = EngineRun::new(LabSize::new(10_000, 10_000));
        let cases: [fn(&mut EngineRun, usize) -> Duration; 7] = [
            EngineRun::renewing,
            EngineRun::handle_renewing,
            EngineRun::inform,
            EngineRun::release,
            EngineRun::discover,
            EngineRun::selecting,
            EngineRun::decline,
        ];
        for case in cases {
            for _ in 0..3 {
                case(&mut run, 100);
            }
        }
    }
}

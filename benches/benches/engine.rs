//! `Engine::handle` per message type, end to end as a worker runs it: the datagram is parsed
//! (`new_checked`, `options()`, `emit::request`), decided, and the reply written
//! (`emit::write_reply`), on tables holding 1 M and 4 M ACTIVE leases.
//!
//! One iteration is one client message. What each one is (see docs/PERFORMANCE-MICRO.md):
//! - `request_renewing`: a prefilled client renews its lease (ACK);
//! - `inform`: a prefilled client sends DHCPINFORM (ACK without lease);
//! - `release`: a prefilled client releases its address (no reply); the lease is restored,
//!   untimed, after each chunk of 1024;
//! - `discover_new`: a client never seen before gets an OFFER (binding created, address taken
//!   from the free list); released untimed afterwards;
//! - `request_selecting`: a new client that got an OFFER (untimed) takes it (ACK);
//! - `decline`: a new client holding an ACKed lease (untimed DORA) declines it.
//!
//! New clients use up binding slots; when the headroom is gone the table is rebuilt untimed.
//! The wall-clock second moves on by one per chunk of 1024 messages.
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dhcp_core::engine::{DropReason, MsgType, Outcome};
use xdhcp_benches::{
    drive::{CHUNK, Case, build_lab, table_groups},
    lab::{Batch, Lab, LabSize, Msg, lease_addr},
};

/// What a message got, checked after the timed loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Got {
    Reply(MsgType, std::net::Ipv4Addr),
    Drop(DropReason),
    Other,
}

struct Run {
    lab: Lab,
    batch: Batch,
    got: Vec<Got>,
    ids: Vec<u32>,
    addrs: Vec<std::net::Ipv4Addr>,
}

impl Run {
    fn new(size: LabSize) -> Run {
        Run {
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
    fn send_each(&mut self, msg: fn(std::net::Ipv4Addr) -> Msg) {
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

    fn prefilled_batch(&mut self, n: usize, msg: fn(std::net::Ipv4Addr) -> Msg) {
        self.lab.now += 1;
        self.ids.clear();
        self.ids.extend(self.lab.prefilled(n));
        self.addrs.clear();
        self.addrs.extend(self.ids.iter().map(|&id| lease_addr(id)));
        self.send_each(msg);
    }

    fn renewing(&mut self, n: usize) -> Duration {
        self.prefilled_batch(n, Msg::Renewing);
        let d = self.serve();
        let addrs = &self.addrs;
        self.expect("renewing", |i, g| g == Got::Reply(MsgType::Ack, addrs[i]));
        d
    }

    fn inform(&mut self, n: usize) -> Duration {
        self.prefilled_batch(n, Msg::Inform);
        let d = self.serve();
        self.expect("inform", |_, g| matches!(g, Got::Reply(MsgType::Ack, _)));
        d
    }

    fn release(&mut self, n: usize) -> Duration {
        self.prefilled_batch(n, Msg::Release);
        let d = self.serve();
        self.expect("release", |_, g| {
            g == Got::Drop(DropReason::NoReplyExpected)
        });
        let now = self.lab.now;
        for i in 0..self.ids.len() {
            let id = self.ids[i];
            let b = xdhcp_benches::lab::lease_binding(id);
            assert!(self.lab.shard_of(id).restore(&b, now), "re-leasing {id}");
        }
        d
    }

    fn discover(&mut self, n: usize) -> Duration {
        self.lab.now += 1;
        self.new_discovers(n);
        let d = self.serve();
        self.collect_offers();
        self.release_all();
        d
    }

    fn selecting(&mut self, n: usize) -> Duration {
        self.lab.now += 1;
        self.offered(n);
        self.send_each(Msg::Selecting);
        let d = self.serve();
        let addrs = &self.addrs;
        self.expect("selecting", |i, g| g == Got::Reply(MsgType::Ack, addrs[i]));
        self.release_all();
        d
    }

    fn decline(&mut self, n: usize) -> Duration {
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
}

fn engine(c: &mut Criterion) {
    let sizes = [
        ("1M", LabSize::new(1_000_000, 2_000_000)),
        ("4M", LabSize::new(4_000_000, 2_000_000)),
    ];
    let cases: [(&str, Case<Run>); 6] = [
        ("request_renewing", Run::renewing),
        ("inform", Run::inform),
        ("release", Run::release),
        ("discover_new", Run::discover),
        ("request_selecting", Run::selecting),
        ("decline", Run::decline),
    ];
    table_groups(c, "engine", &sizes, Run::new, &cases);
}

criterion_group!(benches, engine);
criterion_main!(benches);

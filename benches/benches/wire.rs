//! Wire formats, one message per iteration:
//! - `frame`: Ethernet/IPv4/UDP parse and header emit (with IPv4 and UDP checksums) for a
//!   DISCOVER-sized frame;
//! - `dhcp/parse`: real client and relay messages (dhcp-wire's captured fixtures) through
//!   `DhcpPacket::new_checked` and `options()` (`index/…`), and on through `emit::request`,
//!   which reads every field and option the engine looks at (`request/…`);
//! - `dhcp/emit`: the reply to each of them written by `emit::write_reply` — an OFFER to a
//!   DISCOVER, an ACK to a REQUEST — with the options of a typical access subnet (router, DNS,
//!   domain, MTU, NTP, lease times) in the client's parameter-request-list order, option 82
//!   echoed for the relayed ones.
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use dhcp_core::engine::{
    LeaseGrant, MsgType, ReplyPlan, destination,
    emit::{self, Scratch},
};
use dhcp_wire::{dhcp::DhcpPacket, frame};
use xdhcp_benches::{
    discover_sized_frame,
    fixtures::{self, CLIENT_MESSAGES},
    lab::{IFACE, Lab, LabSize},
};

fn wire(c: &mut Criterion) {
    let f = discover_sized_frame();
    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_udp_frame/342B", |b| {
        b.iter(|| frame::parse_udp_frame(black_box(&f)).map(|p| p.payload.len()))
    });
    let parsed = frame::parse_udp_frame(&f).expect("valid");
    let (link, udp) = (parsed.link, parsed.udp);
    let payload_len = parsed.payload.len();
    let mut out = f.clone();
    g.bench_function("write_udp_headers/342B", |b| {
        b.iter(|| frame::write_udp_headers(black_box(&mut out), &link, &udp, 7, payload_len))
    });
    g.finish();
}

fn dhcp_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("dhcp/parse");
    g.throughput(Throughput::Elements(1));
    let mut scratch = Box::<Scratch>::default();
    for name in CLIENT_MESSAGES {
        let msg = fixtures::load(name);
        g.bench_function(format!("index/{name}"), |b| {
            b.iter(|| {
                let pkt = DhcpPacket::new_checked(black_box(&msg[..])).ok()?;
                let opts = pkt.options().ok()?;
                Some(opts.len())
            })
        });
        g.bench_function(format!("request/{name}"), |b| {
            b.iter(|| {
                let Ok(pkt) = DhcpPacket::new_checked(black_box(&msg[..])) else {
                    return;
                };
                let Ok(opts) = pkt.options() else { return };
                if let Ok(req) = emit::request(&pkt, &opts, IFACE, &mut scratch) {
                    black_box(&req);
                }
            })
        });
    }
    g.finish();
}

fn dhcp_emit(c: &mut Criterion) {
    // Only the compiled configuration is used; the table stays empty.
    let lab = Lab::new(LabSize::new(0, 1024));
    let mut g = c.benchmark_group("dhcp/emit");
    g.throughput(Throughput::Elements(1));
    let mut scratch = Box::<Scratch>::default();
    let mut out = [0u8; 1500];
    for name in CLIENT_MESSAGES {
        let msg = fixtures::load(name);
        let pkt = DhcpPacket::new_checked(&msg[..]).expect("fixture parses");
        let opts = pkt.options().expect("fixture options parse");
        let req = emit::request(&pkt, &opts, IFACE, &mut scratch).expect("fixture is a request");
        let msg_type = match req.msg_type {
            MsgType::Discover => MsgType::Offer,
            _ => MsgType::Ack,
        };
        let yiaddr = Ipv4Addr::new(10, 0, 7, 42);
        let reply = ReplyPlan {
            msg_type,
            yiaddr,
            ciaddr: req.ciaddr,
            server_id: IFACE,
            lease: Some(LeaseGrant {
                lease_secs: 86_400,
                t1_secs: 43_200,
                t2_secs: 75_600,
            }),
            subnet: Some(0),
            reservation: None,
            vendor: None,
            message: None,
            echo_relay_info: req.relay.is_some(),
            dest: destination(&req, msg_type, yiaddr),
            durable_after: None,
        };
        let kind = if msg_type == MsgType::Offer {
            "offer"
        } else {
            "ack"
        };
        let n = emit::write_reply(&lab.plan, &pkt, &opts, &reply, &mut out).expect("reply fits");
        eprintln!("dhcp/emit/{kind}/{name}: {n}-byte reply");
        g.bench_function(format!("{kind}/{name}"), |b| {
            b.iter(|| {
                emit::write_reply(&lab.plan, &pkt, black_box(&opts), &reply, &mut out)
                    .map(|n| out[n - 1])
            })
        });
    }
    g.finish();
}

criterion_group!(benches, wire, dhcp_parse, dhcp_emit);
criterion_main!(benches);

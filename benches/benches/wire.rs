//! Frame parse and header emit (with IPv4 and UDP checksums) for a DISCOVER-sized frame.
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use dhcp_wire::frame;
use xdhcp_benches::discover_sized_frame;

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

criterion_group!(benches, wire);
criterion_main!(benches);

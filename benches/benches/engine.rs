//! `Engine::handle` per message type, end to end as a worker runs it: the datagram is parsed
//! (`new_checked`, `options()`, `emit::request`), decided, and the reply written
//! (`emit::write_reply`), on tables holding 1 M and 4 M ACTIVE leases.
//!
//! One iteration is one client message. What each one is (see docs/PERFORMANCE-MICRO.md):
//! - `request_renewing`: a prefilled client renews its lease (ACK);
//! - `handle_only/request_renewing`: the same, `Engine::handle` alone (no parse, no reply);
//! - `inform`: a prefilled client sends DHCPINFORM (ACK without lease);
//! - `release`: a prefilled client releases its address (no reply); the lease is restored,
//!   untimed, after each chunk of 1024;
//! - `discover_new`: a client never seen before gets an OFFER (binding created, address taken
//!   from the free list); released untimed afterwards;
//! - `request_selecting`: a new client that got an OFFER (untimed) takes it (ACK);
//! - `decline`: a new client holding an ACKed lease (untimed DORA) declines it.
//!
//! The cases live in `xdhcp_benches::serve`, shared with the `lease-scale` measurement.
use criterion::{Criterion, criterion_group, criterion_main};
use xdhcp_benches::{
    drive::{Case, table_groups},
    lab::LabSize,
    serve::EngineRun,
};

fn engine(c: &mut Criterion) {
    let sizes = [
        ("1M", LabSize::new(1_000_000, 2_000_000)),
        ("4M", LabSize::new(4_000_000, 2_000_000)),
    ];
    let cases: [(&str, Case<EngineRun>); 7] = [
        ("request_renewing", EngineRun::renewing),
        ("handle_only/request_renewing", EngineRun::handle_renewing),
        ("inform", EngineRun::inform),
        ("release", EngineRun::release),
        ("discover_new", EngineRun::discover),
        ("request_selecting", EngineRun::selecting),
        ("decline", EngineRun::decline),
    ];
    table_groups(c, "engine", &sizes, EngineRun::new, &cases);
}

criterion_group!(benches, engine);
criterion_main!(benches);

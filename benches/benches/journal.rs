//! The lease journal: record encoding and decoding, scanning and replaying at recovery, and
//! appending with group commit through the writer thread (`dhcp_user::journal::Journal`).
//!
//! `group_commit/durable/B`: one iteration is a batch of B binding changes pushed by one worker
//! (`WorkerJournal::push`), then waited for until the writer reports them durable (the worker
//! is woken through its eventfd, as the daemon's are). The writer appends whatever is queued
//! with one `write` and one `fdatasync`; a batch that arrives while it syncs goes out with the
//! next sync, so the fdatasync calls per batch are printed after each case. The journal lives
//! in a fresh directory under `std::env::temp_dir()` (`TMPDIR`, else /tmp) that is removed at
//! the end.
use std::{
    os::fd::AsRawFd,
    path::PathBuf,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use criterion::{BatchSize, Criterion, Throughput, black_box, criterion_group, criterion_main};
use dhcp_core::{
    config::JournalSync,
    engine::JournalEntry,
    journal::{self, FileKind, RECORD_LEN, Replay},
};
use dhcp_user::{
    journal::{Journal, WriterConfig, recover},
    notify::{Notify, poll_any},
};
use xdhcp_benches::lab::lease_binding;

fn records(c: &mut Criterion) {
    let mut g = c.benchmark_group("journal/record");
    g.throughput(Throughput::Elements(1));
    let b = lease_binding(12_345);
    let mut rec = [0u8; RECORD_LEN];
    g.bench_function("encode", |bch| {
        bch.iter(|| {
            journal::encode_record(black_box(77), black_box(&b), &mut rec);
            rec[0]
        })
    });
    journal::encode_record(77, &b, &mut rec);
    g.bench_function("decode", |bch| {
        bch.iter(|| journal::decode_record(black_box(&rec)))
    });
    g.finish();

    // Recovery's inner loops over a file of 100 000 records for distinct addresses.
    const N: u32 = 100_000;
    let mut file = journal::encode_header(FileKind::Log).to_vec();
    for id in 0..N {
        journal::encode_record(u64::from(id) + 1, &lease_binding(id), &mut rec);
        file.extend_from_slice(&rec);
    }
    let decoded: Vec<_> = (0..N)
        .map(|id| (u64::from(id) + 1, lease_binding(id)))
        .collect();
    let mut g = c.benchmark_group("journal/recovery");
    g.throughput(Throughput::Elements(u64::from(N)));
    g.sample_size(20);
    g.bench_function("scan/100k", |bch| {
        bch.iter(|| {
            let mut ends = 0u64;
            let end = journal::scan(black_box(&file), |_, b| ends += u64::from(b.lease_end));
            (end.records, ends)
        })
    });
    g.bench_function("replay_apply/100k", |bch| {
        bch.iter_batched(
            Replay::default,
            |mut r| {
                for &(s, b) in &decoded {
                    r.apply(s, b);
                }
                r
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn scratch_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("xdhcp-bench-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn group_commit(c: &mut Criterion) {
    let dir = scratch_dir();
    let rec = recover(&dir).expect("empty journal directory");
    let notify = Notify::new().expect("eventfd");
    let j = Journal::start(
        WriterConfig {
            dir: dir.clone(),
            sync: JournalSync::Durable,
            flush_interval: Duration::from_millis(5),
            compact_after_bytes: u64::MAX,
        },
        vec![notify.clone()],
        rec.next_segment,
        rec.replay.max_seq,
    )
    .expect("journal writer");
    let w = j.worker(0);
    let mut seq = 0u64;
    let mut g = c.benchmark_group("journal/group_commit");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    for batch in [1u64, 64, 1024] {
        g.throughput(Throughput::Elements(batch));
        let (records0, syncs0) = (
            j.stats.records.load(Ordering::Relaxed),
            j.stats.syncs.load(Ordering::Relaxed),
        );
        let mut batches = 0u64;
        g.bench_function(format!("durable/{batch}"), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    for _ in 0..batch {
                        seq += 1;
                        let e = JournalEntry {
                            seq,
                            binding: lease_binding((seq % 1_000_000) as u32),
                            from_peer: false,
                        };
                        while !w.push(e) {
                            std::thread::yield_now();
                        }
                    }
                    while w.durable() < seq {
                        poll_any(&[notify.as_raw_fd()], 100).expect("poll");
                        notify.clear();
                    }
                }
                batches += iters;
                t.elapsed()
            })
        });
        let records = j.stats.records.load(Ordering::Relaxed) - records0;
        let syncs = j.stats.syncs.load(Ordering::Relaxed) - syncs0;
        eprintln!(
            "group_commit/durable/{batch}: {batches} batches, {records} records, {syncs} fdatasync \
             ({:.2} per batch, {:.1} records per fdatasync)",
            syncs as f64 / batches.max(1) as f64,
            records as f64 / syncs.max(1) as f64,
        );
    }
    g.finish();
    let us = j.stats.sync_micros.load(Ordering::Relaxed);
    let n = j.stats.syncs.load(Ordering::Relaxed);
    eprintln!(
        "fdatasync: {n} calls, mean {:.0} µs, slowest {} µs ({})",
        us as f64 / n.max(1) as f64,
        j.stats.sync_max_micros.load(Ordering::Relaxed),
        dir.display()
    );
    j.shutdown().expect("journal shutdown");
    std::fs::remove_dir_all(&dir).expect("removing the scratch journal");
}

criterion_group!(benches, records, group_commit);
criterion_main!(benches);

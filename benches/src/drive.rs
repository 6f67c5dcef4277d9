//! Running a lab-based case under criterion: iterations in chunks with untimed set-up and
//! tidy-up around each timed part, and one benchmark group per table size.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

use crate::lab::{Lab, LabSize};

/// Iterations per timed part.
pub const CHUNK: usize = 1024;

/// One chunk of a case: prepares, times and tidies up `n` iterations; returns the timed part.
pub type Case<R> = fn(&mut R, usize) -> Duration;

/// Runs `iters` iterations of `f` in chunks of [`CHUNK`], summing the timed parts.
pub fn chunked<R>(run: &mut R, iters: u64, f: Case<R>) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        total += f(run, n);
        left -= n as u64;
    }
    total
}

/// Builds a lab, saying how long that took.
pub fn build_lab(size: LabSize) -> Lab {
    let t = Instant::now();
    let lab = Lab::new(size);
    eprintln!(
        "table of {} leases built in {:.2} s",
        size.leases,
        t.elapsed().as_secs_f64()
    );
    lab
}

/// For each (name, size): builds the run state with `make`, then benchmarks every case in the
/// group `{prefix}/{name}`, one element per iteration.
pub fn table_groups<R>(
    c: &mut Criterion,
    prefix: &str,
    sizes: &[(&str, LabSize)],
    make: fn(LabSize) -> R,
    cases: &[(&str, Case<R>)],
) {
    for &(name, size) in sizes {
        let mut run = make(size);
        let mut g = c.benchmark_group(format!("{prefix}/{name}"));
        g.throughput(Throughput::Elements(1));
        g.sample_size(20);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        for &(case, f) in cases {
            g.bench_function(case, |b| b.iter_custom(|iters| chunked(&mut run, iters, f)));
        }
        g.finish();
    }
}

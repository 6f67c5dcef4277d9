//! Lease tables at scale, measured by hand (figures in docs/PERFORMANCE-MICRO.md):
//!
//! ```text
//! cargo run --release -p xdhcp-benches --bin lease-scale -- memory       [--leases N]
//! cargo run --release -p xdhcp-benches --bin lease-scale -- request-path [--rounds R]
//! cargo run --release -p xdhcp-benches --bin lease-scale -- startup      [--leases N]
//!                                         [--dir DIR] [--workers W] [--cold]
//! ```
//!
//! - `memory`: bytes per binding in the shards (`Shard::memory_bytes`: slab, free slab list,
//!   client index, free lists, wheel) and in the address space, with N leases (default 4 M) in
//!   a pool of 1.25 N addresses, for two binding capacities: the table's own size, and the size
//!   `xdhcpd` gives each shard at start-up; cross-checked with VmRSS.
//! - `request-path`: mean time per message of `Engine::handle` (alone and end to end, parse to
//!   reply) for lease renewals and new clients' DISCOVERs, at 10 k, 1 M and 4 M leases.
//! - `startup`: writes a journal of N bindings through `Journal` into DIR (default: a fresh
//!   directory under the temp dir, removed afterwards), then times each phase of what
//!   `Server::start` does with it: recovery, engines, restoring, free lists. `--cold` drops the
//!   journal's pages from the page cache first (`posix_fadvise(DONTNEED)`, this file only).

use std::{
    collections::HashMap,
    fs,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use dhcp_core::{
    config::JournalSync,
    engine::{Engine, JournalEntry, Plan},
    journal::{self, Replay},
    lease::{AddressSpace, Binding, wheel::WHEEL_SLOTS},
};
use dhcp_user::{
    journal::{Journal, WriterConfig, recover},
    notify::Notify,
};
use xdhcp_benches::{
    drive::CHUNK,
    lab::{IFACE, LabSize, NOW, SHARDS, config, lease_binding, prefill},
    serve::EngineRun,
};

/// Resident and peak resident set of this process, in bytes (VmRSS, VmHWM).
fn rss() -> (u64, u64) {
    let status = fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

struct Args {
    command: String,
    leases: u32,
    rounds: usize,
    dir: Option<PathBuf>,
    workers: usize,
    cold: bool,
}

fn args() -> Args {
    let mut a = Args {
        command: String::new(),
        leases: 4_000_000,
        rounds: 5,
        dir: None,
        workers: 2,
        cold: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .unwrap_or_else(|| panic!("{arg} needs a value ({what})"))
        };
        match arg.as_str() {
            "--leases" => a.leases = value("a count").parse().expect("--leases: a count"),
            "--rounds" => a.rounds = value("a count").parse().expect("--rounds: a count"),
            "--workers" => a.workers = value("a count").parse().expect("--workers: a count"),
            "--dir" => a.dir = Some(PathBuf::from(value("a directory"))),
            "--cold" => a.cold = true,
            c if a.command.is_empty() && !c.starts_with('-') => a.command = c.to_owned(),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn main() {
    let a = args();
    match a.command.as_str() {
        "memory" => memory(a.leases),
        "request-path" => request_path(a.rounds),
        "startup" => startup(&a),
        _ => {
            eprintln!("usage: lease-scale memory|request-path|startup [options] (see the source)");
            std::process::exit(2);
        }
    }
}

/// The binding capacity `Server::start` gives each shard when the journal holds `replayed`
/// bindings and the configuration `addresses` addresses.
fn daemon_capacity(addresses: usize, replayed: usize, shards: u16) -> usize {
    (addresses * 2 / usize::from(shards)).max(1024) + replayed / usize::from(shards)
}

fn memory(leases: u32) {
    let pool = leases + leases / 4;
    println!(
        "memory: {leases} leases, pool of {pool} addresses, {SHARDS} shards, \
         size_of::<Binding>() = {} bytes",
        size_of::<Binding>()
    );
    for (name, per_shard) in [
        ("table-sized", LabSize::new(leases, 0).capacity_per_shard()),
        (
            "xdhcpd start-up sizing",
            daemon_capacity(pool as usize, leases as usize, SHARDS),
        ),
    ] {
        let (r0, _) = rss();
        let cfg = config(pool);
        let space = Arc::new(AddressSpace::new(&cfg));
        let plan = Arc::new(Plan::new(cfg, space.clone(), vec![IFACE]));
        let (r1, _) = rss();
        let owned: Vec<u16> = (0..SHARDS).collect();
        let mut engine = Engine::new(plan.clone(), &owned, per_shard, NOW);
        let (r2, _) = rss();
        prefill(&plan, std::slice::from_mut(&mut engine), leases);
        for s in engine.shards_mut() {
            s.rebuild_free_lists(SHARDS);
        }
        let (r3, _) = rss();
        let shards = engine.shards();
        let held: usize = shards.iter().map(|s| s.memory_bytes()).sum();
        let cap: usize = shards.iter().map(|s| s.capacity()).sum();
        let n = shards.len();
        // Parts as `Shard::memory_bytes` adds them (dhcp-core/src/lease/shard.rs, index.rs);
        // the free lists are what is left.
        let slab = cap * size_of::<Binding>();
        let free_slab = cap * 4;
        let index: usize = shards
            .iter()
            .map(|s| (s.capacity().max(4) * 2).next_power_of_two() * 4)
            .sum();
        let wheel = n * WHEEL_SLOTS as usize * 4;
        let free_lists = held - slab - free_slab - index - wheel;
        let space_bytes = space.len() * 8;
        let per = |b: usize| b as f64 / f64::from(leases);
        println!("\n{name}: {per_shard} bindings per shard ({cap} in all)");
        println!("  part                         MiB   bytes/lease");
        for (part, b) in [
            ("slab (Binding)", slab),
            ("free slab list", free_slab),
            ("client index", index),
            ("free lists", free_lists),
            ("expiry wheel", wheel),
            ("shards (memory_bytes)", held),
            ("address space slots", space_bytes),
            ("shards + space", held + space_bytes),
        ] {
            println!("  {part:<24} {:>9.1} {:>10.1}", mib(b as u64), per(b));
        }
        println!(
            "  VmRSS: +{:.1} MiB space and plan, +{:.1} MiB engine, +{:.1} MiB filled \
             = {:.1} MiB, {:.1} bytes/lease",
            mib(r1 - r0),
            mib(r2 - r1),
            mib(r3.saturating_sub(r2)),
            mib(r3 - r0),
            (r3 - r0) as f64 / f64::from(leases)
        );
    }
}

/// Mean nanoseconds per message of `case` over `rounds` rounds of `chunks` chunks:
/// (median, fastest, slowest) round.
fn per_message(
    run: &mut EngineRun,
    rounds: usize,
    chunks: usize,
    case: fn(&mut EngineRun, usize) -> Duration,
) -> (f64, f64, f64) {
    let mut means: Vec<f64> = (0..rounds)
        .map(|_| {
            let total: Duration = (0..chunks).map(|_| case(run, CHUNK)).sum();
            total.as_nanos() as f64 / (chunks * CHUNK) as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    (means[rounds / 2], means[0], means[rounds - 1])
}

fn request_path(rounds: usize) {
    let rounds = rounds.max(1);
    println!(
        "request path: ns per message, median of {rounds} rounds (fastest-slowest); \
         a round is 200 x {CHUNK} renewals or 40 x {CHUNK} new clients"
    );
    println!("  leases    handle renew   end-to-end renew   end-to-end discover (new client)");
    for leases in [10_000u32, 1_000_000, 4_000_000] {
        let mut run = EngineRun::new(LabSize::new(leases, 0));
        let h = per_message(&mut run, rounds, 200, EngineRun::handle_renewing);
        let e = per_message(&mut run, rounds, 200, EngineRun::renewing);
        drop(run);
        let mut run = EngineRun::new(LabSize::new(leases, 300_000));
        let d = per_message(&mut run, rounds, 40, EngineRun::discover);
        drop(run);
        let f = |(m, lo, hi): (f64, f64, f64)| format!("{m:>6.0} ({lo:.0}-{hi:.0})");
        println!("  {leases:>8}  {}   {}     {}", f(h), f(e), f(d));
    }
}

/// A step that visits every number below `n` once when taken modulo `n`.
fn coprime_stride(n: u64) -> u64 {
    let gcd = |mut a: u64, mut b: u64| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let mut p = 2_654_435_761u64;
    while gcd(p, n.max(1)) != 1 {
        p += 2;
    }
    p
}

/// Drops `dir`'s files from the page cache (clean pages only; the files were synced).
fn drop_cached(dir: &Path) {
    for e in fs::read_dir(dir).expect("listing the journal directory") {
        let p = e.expect("listing the journal directory").path();
        let f = fs::File::open(&p).expect("opening a journal file");
        // Safety: plain posix_fadvise(2) on a descriptor we hold open.
        let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0, "posix_fadvise on {}", p.display());
    }
}

/// One engine per worker, owning the shards `Server::start` gives it (shard modulo workers),
/// each with room for `per_shard` bindings.
fn worker_engines(plan: &Arc<Plan>, workers: usize, per_shard: usize) -> Vec<Engine> {
    (0..workers)
        .map(|w| {
            let owned: Vec<u16> = (0..plan.shard_count)
                .filter(|s| usize::from(*s) % workers == w)
                .collect();
            Engine::new(plan.clone(), &owned, per_shard, NOW)
        })
        .collect()
}

/// Prints one start-up phase: its time and the resident set after it.
fn phase(name: &str, t: Instant, total: &mut Duration) {
    let d = t.elapsed();
    *total += d;
    let (rss, hwm) = rss();
    println!(
        "  {name:<34} {:>8.3} s   VmRSS {:>7.1} MiB   VmHWM {:>7.1} MiB",
        d.as_secs_f64(),
        mib(rss),
        mib(hwm)
    );
}

fn startup(a: &Args) {
    let leases = a.leases;
    let (dir, ours) = match &a.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("xdhcp-lease-scale-{}", std::process::id())),
            true,
        ),
    };
    fs::create_dir_all(&dir).expect("creating the journal directory");
    assert!(
        fs::read_dir(&dir).expect("listing").next().is_none(),
        "{} is not empty",
        dir.display()
    );

    // The journal a server with `leases` bindings leaves behind: one record each.
    let t = Instant::now();
    let rec = recover(&dir).expect("empty journal");
    let j = Journal::start(
        WriterConfig {
            dir: dir.clone(),
            sync: JournalSync::Background,
            flush_interval: Duration::from_millis(5),
            compact_after_bytes: u64::MAX,
        },
        vec![Notify::new().expect("eventfd")],
        rec.next_segment,
        0,
    )
    .expect("journal writer");
    let w = j.worker(0);
    // In no particular address order, as a running server's log is.
    let stride = coprime_stride(u64::from(leases));
    for j in 0..u64::from(leases) {
        let id = (j * stride % u64::from(leases)) as u32;
        let e = JournalEntry {
            seq: j + 1,
            binding: lease_binding(id),
            from_peer: false,
        };
        while !w.push(e) {
            std::thread::yield_now();
        }
    }
    j.shutdown().expect("journal shutdown");
    let bytes: u64 = fs::read_dir(&dir)
        .expect("listing")
        .map(|e| e.expect("listing").metadata().expect("stat").len())
        .sum();
    println!(
        "journal: {leases} records, {:.1} MiB in {}, written in {:.2} s (background sync)",
        mib(bytes),
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    if a.cold {
        drop_cached(&dir);
        println!("journal pages dropped from the page cache");
    }

    // What Server::start does (dhcp-user/src/server.rs), phase by phase.
    let workers = a.workers.max(1);
    let (r0, _) = rss();
    println!(
        "start-up, {workers} workers, {SHARDS} shards (VmRSS before: {:.1} MiB):",
        mib(r0)
    );
    let mut total = Duration::ZERO;
    let t = Instant::now();
    let pool = leases + leases / 4;
    let cfg = config(pool);
    let space = Arc::new(AddressSpace::new(&cfg));
    let total_addresses = space.len();
    let plan = Arc::new(Plan::new(cfg, space, vec![IFACE]));
    phase("address space + plan", t, &mut total);

    let t = Instant::now();
    let rec = recover(&dir).expect("recovering the journal");
    phase("recover (read, scan, replay)", t, &mut total);

    let t = Instant::now();
    let shard_count = plan.shard_count;
    let per_shard = daemon_capacity(total_addresses, rec.replay.len(), shard_count);
    let mut engines = worker_engines(&plan, workers, per_shard);
    phase(
        &format!("Engine::new ({per_shard} per shard)"),
        t,
        &mut total,
    );

    let t = Instant::now();
    let replayed = rec.replay.len();
    let bindings = rec.replay.into_bindings();
    phase("Replay::into_bindings (sort)", t, &mut total);

    let t = Instant::now();
    let mut restored = 0u64;
    for (_, b) in &bindings {
        let shard = plan.shard_of(&b.key);
        let w = usize::from(shard) % workers;
        if engines[w]
            .shard_mut(shard)
            .is_some_and(|s| s.restore(b, NOW))
        {
            restored += 1;
        }
    }
    drop(bindings);
    phase("Shard::restore", t, &mut total);

    let t = Instant::now();
    for e in &mut engines {
        for s in e.shards_mut() {
            s.rebuild_free_lists(shard_count);
        }
    }
    phase("rebuild_free_lists", t, &mut total);
    println!(
        "  total {:.3} s: {replayed} replayed, {restored} restored, {} files, recover() says {:.3} s",
        total.as_secs_f64(),
        rec.files,
        rec.elapsed.as_secs_f64()
    );
    drop(engines);

    // Where recover() spends its time: the same file read, scanned, and replayed apart.
    if a.cold {
        drop_cached(&dir);
    }
    let files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("listing")
        .map(|e| e.expect("listing").path())
        .collect();
    let t = Instant::now();
    let contents: Vec<Vec<u8>> = files
        .iter()
        .map(|p| fs::read(p).expect("reading"))
        .collect();
    let read = t.elapsed();
    let t = Instant::now();
    let mut records = 0u64;
    for c in &contents {
        records += journal::scan(c, |_, _| {}).records;
    }
    let scan = t.elapsed();
    let t = Instant::now();
    let mut replay = Replay::default();
    for c in &contents {
        journal::scan(c, |s, b| replay.apply(s, b));
    }
    let scan_replay = t.elapsed();
    println!(
        "recover() apart: read {:.3} s, scan (decode + CRC) {:.3} s, scan + Replay::apply {:.3} s \
         ({records} records, {} addresses)",
        read.as_secs_f64(),
        scan.as_secs_f64(),
        scan_replay.as_secs_f64(),
        replay.len()
    );

    // What other ways of doing the slow steps would take, on the same records (not what
    // xdhcpd does today; see docs/PERFORMANCE-MICRO.md).
    drop(replay);
    let t = Instant::now();
    let mut map: HashMap<u32, (u64, Binding)> = HashMap::with_capacity(records as usize);
    for c in &contents {
        journal::scan(c, |s, b| {
            let e = map.entry(u32::from(b.addr)).or_insert((s, b));
            if e.0 <= s {
                *e = (s, b);
            }
        });
    }
    let presized = t.elapsed();
    drop(map);
    // Latest record per address straight into an array indexed by address-space slot: no
    // hashing, and walking it gives address order without a sort. Then the restore order by
    // sequence number, so that a client's latest record is the one restored last.
    let t = Instant::now();
    let space = plan.space.clone();
    let mut slots: Vec<(u64, Binding)> = vec![(0, lease_binding(0)); space.len()];
    let mut elsewhere = 0u64;
    for c in &contents {
        journal::scan(c, |s, b| match space.slot_of(b.addr) {
            Some(id) => {
                let e = &mut slots[id.0 as usize];
                if e.0 <= s {
                    *e = (s, b);
                }
            }
            None => elsewhere += 1,
        });
    }
    let slot_array = t.elapsed();
    let t = Instant::now();
    let mut order: Vec<(u64, u32)> = slots
        .iter()
        .enumerate()
        .filter(|(_, (s, _))| *s > 0)
        .map(|(i, (s, _))| (*s, i as u32))
        .collect();
    order.sort_unstable();
    let by_seq = t.elapsed();
    assert_eq!(order.len() as u64 + elsewhere, records);
    drop(order);
    drop(slots);
    // Latest record per address by sorting 8-byte keys (address, record number) instead of
    // hashing or moving 104-byte records; only the winners are decoded again.
    let t = Instant::now();
    let mut keys: Vec<u64> = Vec::with_capacity(records as usize);
    let mut starts = Vec::with_capacity(contents.len());
    for c in &contents {
        starts.push(keys.len() as u64);
        let base = keys.len() as u64;
        let mut i = 0u64;
        journal::scan(c, |_, b| {
            keys.push(u64::from(u32::from(b.addr)) << 32 | (base + i));
            i += 1;
        });
    }
    keys.sort_unstable();
    let mut latest: Vec<(u64, Binding)> = Vec::with_capacity(keys.len());
    for (i, &k) in keys.iter().enumerate() {
        if keys.get(i + 1).is_some_and(|&n| n >> 32 == k >> 32) {
            continue;
        }
        let n = k & 0xffff_ffff;
        let f = starts.partition_point(|&s| s <= n) - 1;
        let at = journal::HEADER_LEN + (n - starts[f]) as usize * journal::RECORD_LEN;
        if let Ok(r) = journal::decode_record(&contents[f][at..]) {
            latest.push(r);
        }
    }
    let key_sort = t.elapsed();
    assert_eq!(latest.len() as u64 + elsewhere, records);
    drop((keys, latest));
    drop(contents);
    let t = Instant::now();
    let tight = LabSize::new(leases, 0).capacity_per_shard();
    let engines = worker_engines(&plan, workers, tight);
    let engines_tight = t.elapsed();
    drop(engines);
    println!("alternatives (same records; not what xdhcpd does today):");
    println!(
        "  replay into a HashMap pre-sized to the record count       {:>7.3} s",
        presized.as_secs_f64()
    );
    println!(
        "  replay into an array indexed by address slot (address order) {:>4.3} s",
        slot_array.as_secs_f64()
    );
    println!(
        "  then (sequence, slot) pairs sorted for a by-sequence restore  {:>4.3} s",
        by_seq.as_secs_f64()
    );
    println!(
        "  replay by sorting (address, record number) keys, winners decoded {:.3} s",
        key_sort.as_secs_f64()
    );
    println!(
        "  Engine::new at the table's size ({tight} per shard)      {:>7.3} s",
        engines_tight.as_secs_f64()
    );
    if ours {
        fs::remove_dir_all(&dir).expect("removing the journal directory");
    }
}

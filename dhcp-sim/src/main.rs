//! `dhcp-sim`: runs seeds of the failover simulation and reports what the checkers found.
//!
//! ```text
//! dhcp-sim --seed 0x1234 [--verbose]   replay one seed (every event printed with --verbose)
//! dhcp-sim --fixed                     the fixed seed set CI runs
//! dhcp-sim --seeds N | --time SECS     random seeds: N of them, or for a bounded wall time
//! ```
//!
//! Exits non-zero when any checker fires; each failure prints the command that replays it.

use std::{
    collections::BTreeMap,
    hash::{BuildHasher, Hasher},
    process::ExitCode,
    time::{Duration, Instant},
};

use dhcp_sim::{FIXED_SEEDS, KNOWN_FAILING, Options, Report, check::Checker, run};

const USAGE: &str =
    "usage: dhcp-sim [--seed S | --fixed | --seeds N | --time SECS] [--verbose] [--trail N]
  --seed S      run one seed (decimal or 0x hex) and print its scenario
  --fixed       run the fixed seed set (the known-failing seeds are listed, not run)
  --seeds N     run N random seeds
  --time SECS   run random seeds until SECS of wall time have passed (default: 60)
  --verbose     print every event as it happens
  --trail N     events shown before a failure (default: 60)
  --strict      fail on violations a known, unfixed production bug explains (see check::KNOWN_BUGS)
  --wild-clocks also step a server's clock by more than CONNECT's one-minute tolerance (outside
                what the protocol can keep correct; not part of the CI gate)
  --clean-stops make half of the crashes clean stops (SHUTDOWN, journal synced); random runs
                use it for every other seed, and a failure's replay command says so";

/// Failures reported in full (scenario, detail, trail); later ones get one line each.
const FULL_REPORTS: usize = 3;
/// Seeds listed per checker in the summary.
const LISTED: usize = 12;

enum Which {
    One(u64),
    Fixed,
    Random { count: Option<u64>, time: Duration },
}

fn parse_seed(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

struct Args {
    which: Which,
    verbose: bool,
    trail: usize,
    strict: bool,
    wild_clocks: bool,
    clean_stops: bool,
}

fn parse() -> Result<Args, String> {
    let mut which = None;
    let mut count = None;
    let mut time = None;
    let mut verbose = false;
    let mut trail = 60;
    let mut strict = false;
    let mut wild_clocks = false;
    let mut clean_stops = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--seed" => {
                let v = value("--seed")?;
                which = Some(Which::One(
                    parse_seed(&v).ok_or(format!("--seed {v}: not a number"))?,
                ));
            }
            "--fixed" => which = Some(Which::Fixed),
            "--seeds" => {
                let v = value("--seeds")?;
                count = Some(
                    v.parse()
                        .map_err(|_| format!("--seeds {v}: not a number"))?,
                );
            }
            "--time" => {
                let v = value("--time")?;
                time = Some(v.parse().map_err(|_| format!("--time {v}: not a number"))?);
            }
            "--trail" => {
                let v = value("--trail")?;
                trail = v
                    .parse()
                    .map_err(|_| format!("--trail {v}: not a number"))?;
            }
            "--verbose" | "-v" => verbose = true,
            "--strict" => strict = true,
            "--wild-clocks" => wild_clocks = true,
            "--clean-stops" => clean_stops = true,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let which = match which {
        Some(w) => w,
        None => Which::Random {
            count,
            time: Duration::from_secs(time.unwrap_or(if count.is_some() {
                u64::MAX / 4
            } else {
                60
            })),
        },
    };
    Ok(Args {
        which,
        verbose,
        trail,
        strict,
        wild_clocks,
        clean_stops,
    })
}

/// Seeds for random runs: from the process's hash keys (the one place this binary asks the
/// operating system for randomness; each seed then replays on its own).
fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish()
}

#[derive(Default)]
struct Totals {
    seeds: u64,
    events: u64,
    sim_ms: u64,
    acks: u64,
    failover_messages: u64,
    faults: BTreeMap<&'static str, u64>,
    known: BTreeMap<&'static str, (u64, u64)>,
    fired: BTreeMap<Checker, Vec<u64>>,
}

impl Totals {
    fn add(&mut self, r: &Report) {
        self.seeds += 1;
        self.events += r.events;
        self.sim_ms += r.sim_ms;
        self.acks += r.acks;
        self.failover_messages += r.failover_messages;
        for (k, n) in &r.faults {
            *self.faults.entry(k).or_default() += n;
        }
        for (k, n) in &r.known_bugs {
            let e = self.known.entry(k).or_default();
            e.0 += 1;
            e.1 += n;
        }
        if let Some(f) = &r.failure {
            self.fired
                .entry(f.violation.checker)
                .or_default()
                .push(r.scenario.seed);
        }
    }
}

fn print_failure(r: &Report) {
    let Some(f) = &r.failure else { return };
    println!(
        "\nFAILED seed {:#x}: checker `{}` at {:.3} s",
        r.scenario.seed,
        f.violation.checker,
        f.at_ms as f64 / 1000.0
    );
    println!("{}", r.scenario);
    println!("  {}", f.violation.detail);
    println!("last {} events:", f.trail.len());
    for l in &f.trail {
        println!("  {l}");
    }
    println!("replay: {}\n", r.replay_command());
}

fn main() -> ExitCode {
    let Args {
        which,
        verbose,
        trail,
        strict,
        wild_clocks,
        clean_stops,
    } = match parse() {
        Ok(v) => v,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("dhcp-sim: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let per_seed = verbose || matches!(which, Which::Fixed);
    let started = Instant::now();
    let mut totals = Totals::default();
    let one = |seed: u64, clean_stops: bool, totals: &mut Totals| {
        let opts = Options {
            seed,
            verbose,
            trail,
            strict,
            wild_clocks,
            clean_stops,
        };
        let r = run(&opts);
        totals.add(&r);
        if per_seed {
            let faults: Vec<String> = r.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!(
                "seed {seed:#x}: {}, {} events, {} s simulated, faults: {}",
                if r.passed() { "ok" } else { "FAILED" },
                r.events,
                r.sim_ms / 1000,
                faults.join(", ")
            );
        }
        if let Some(f) = &r.failure {
            let n: usize = totals.fired.values().map(Vec::len).sum();
            if n <= FULL_REPORTS {
                print_failure(&r);
            } else {
                println!(
                    "FAILED seed {seed:#x}: checker `{}`; replay: {}",
                    f.violation.checker,
                    r.replay_command()
                );
            }
        }
    };
    match which {
        Which::One(seed) => {
            if !verbose {
                println!("{}", dhcp_sim::scenario::Scenario::new(seed));
            }
            one(seed, clean_stops, &mut totals);
        }
        Which::Fixed => {
            for seed in FIXED_SEEDS {
                one(seed, clean_stops, &mut totals);
            }
            for (seed, checker, why) in KNOWN_FAILING {
                println!(
                    "seed {seed:#x}: not run, fails `{checker}` on a known production bug: {why}"
                );
            }
        }
        Which::Random { count, time } => {
            let mut n = 0;
            while started.elapsed() < time && count.is_none_or(|c| n < c) {
                one(random_seed(), clean_stops || n % 2 == 1, &mut totals);
                n += 1;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "dhcp-sim: {} seed(s), {} events, {:.0} s simulated, {} ACKs, {} failover messages in {:.1} s ({:.0} events/s)",
        totals.seeds,
        totals.events,
        totals.sim_ms as f64 / 1000.0,
        totals.acks,
        totals.failover_messages,
        secs,
        totals.events as f64 / secs.max(1e-9),
    );
    let faults: Vec<String> = totals
        .faults
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!("faults injected: {}", faults.join(", "));
    for c in Checker::ALL {
        match totals.fired.get(&c) {
            None => println!("checker {c}: ok"),
            Some(seeds) => {
                let list: Vec<String> = seeds
                    .iter()
                    .take(LISTED)
                    .map(|s| format!("{s:#x}"))
                    .collect();
                println!(
                    "checker {c}: FAILED for {} seed(s): {}{}",
                    seeds.len(),
                    list.join(" "),
                    if seeds.len() > LISTED { " ..." } else { "" }
                );
            }
        }
    }
    for (bug, (seeds, n)) in &totals.known {
        println!(
            "known bug {bug}: {n} violation(s) in {seeds} seed(s), counted, not failed (--strict fails them)"
        );
    }
    if let Some(seeds) = totals.fired.get(&Checker::Harness) {
        println!("simulator errors for seed(s) {seeds:x?}");
    }
    if totals.fired.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

//! `cargo xtask bench`: xdhcpd against Kea and ISC dhcpd under the same load, in one run.
//!
//! Builds in release, creates a netns lab (`bench::lab`), and measures each row with
//! dhcp-load pinned to CPU 0 and the server pinned to CPU 1: the highest rate whose DORAs drop
//! at most 2.5 % within 1 s (`--find-max`, ISC's method for Kea's published figures), then a
//! fixed-rate run at that rate (CPU from /proc deltas, latency) and one at half of it
//! (latency). Also the raw ceiling of the lab: the frames/s a trivial in-kernel XDP_TX program
//! (`xdp-echo bounce`) sends back on the server's veth, flooded with 342-byte UDP/67 frames by
//! `xdp-echo flood`; next to it, as a second line, the same flood echoed through an AF_XDP
//! socket in user space (`xdp-echo echo`, the ceiling of the runs recorded before). Then
//! perfdhcp against xdhcpd as a third-party cross-check, and an avalanche. Prints one table and
//! a PASS/MISS line per target of issue 6, with the gap. Every figure comes from this run; a
//! row that could not be measured says why.

mod json;
mod lab;
mod servers;

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use self::{
    json::Json,
    lab::{CpuSample, Daemon, GEN_CPU, GEN_IF, GEN_IP, GEN_NS, GIADDR, Lab, SERVER_IP, SRV_CPU},
    servers::{Bins, Kind, Server},
};
use crate::sh::{Cmd, is_root, workspace_root};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// A few seconds per row (smoke test); the figures are then rough.
    #[arg(long)]
    quick: bool,
    /// Only these rows: ceiling, xdhcpd-xdp, xdhcpd-socket, xdhcpd-failover, kea, isc-dhcpd,
    /// perfdhcp, avalanche (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also write every figure as one JSON object to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Do not profile xdhcpd with perf after its measurements (full runs profile by default).
    #[arg(long)]
    no_profile: bool,
    /// Measure this xdhcpd binary instead of the workspace's release build.
    #[arg(long)]
    xdhcpd: Option<PathBuf>,
    /// Clients of the xdhcpd avalanche (default 1,000,000; --quick 20,000).
    #[arg(long)]
    avalanche_clients: Option<u32>,
}

/// Rows in the order they run: the ceiling on a quiet lab first, Kea next to xdhcpd (rates
/// drift on shared machines, so the figures compared most are measured closest in time).
const ROWS: [&str; 8] = [
    "ceiling",
    "xdhcpd-xdp",
    "kea",
    "xdhcpd-socket",
    "xdhcpd-failover",
    "isc-dhcpd",
    "perfdhcp",
    "avalanche",
];

/// How long and how hard: full or quick.
struct Plan {
    quick: bool,
    clients: u32,
    step_secs: f64,
    max_steps: u32,
    precision: f64,
    fixed_secs: f64,
    ceiling_secs: f64,
    perfdhcp_secs: u32,
    avalanche_clients: u32,
    avalanche_secs: f64,
    profile_secs: f64,
    profile: bool,
}

impl Plan {
    fn new(a: &BenchArgs) -> Plan {
        if a.quick {
            Plan {
                quick: true,
                clients: 50_000,
                step_secs: 1.0,
                max_steps: 5,
                precision: 0.25,
                fixed_secs: 1.5,
                ceiling_secs: 2.0,
                perfdhcp_secs: 2,
                avalanche_clients: a.avalanche_clients.unwrap_or(20_000),
                avalanche_secs: 40.0,
                profile_secs: 3.0,
                profile: false,
            }
        } else {
            Plan {
                quick: false,
                clients: 250_000,
                step_secs: 3.0,
                max_steps: 12,
                precision: 0.05,
                fixed_secs: 5.0,
                ceiling_secs: 5.0,
                perfdhcp_secs: 10,
                avalanche_clients: a.avalanche_clients.unwrap_or(1_000_000),
                avalanche_secs: 180.0,
                profile_secs: 5.0,
                profile: !a.no_profile,
            }
        }
    }
}

/// Client hardware-address bases: each phase of a row has its own clients, so every run
/// makes new bindings rather than renewing the previous run's.
const MAC_PROBE: &str = "02:b0:00:00:00:00";
const MAC_FIND_MAX: &str = "02:b1:00:00:00:00";
const MAC_AT_MAX: &str = "02:b2:00:00:00:00";
const MAC_AT_HALF: &str = "02:b3:00:00:00:00";
const MAC_PROFILE: &str = "02:b4:00:00:00:00";
const MAC_CROSS: &str = "02:b5:00:00:00:00";
const MAC_AVALANCHE: &str = "02:b6:00:00:00:00";

/// The frame length of the ceiling: dhcp-load's relayed DISCOVER (300-byte BOOTP minimum
/// plus Ethernet, IPv4 and UDP headers); xdhcpd's OFFER and ACK are of the same order.
const FRAME_LEN: usize = 342;

/// Highest rate of the perfdhcp cross-check.
const PERFDHCP_RATE_CAP: f64 = 10_000.0;

#[derive(Clone, Copy, Debug, Default)]
struct Lat {
    p50: f64,
    p99: f64,
    p999: f64,
}

impl Lat {
    fn of(report: &Json, exchange: &str) -> Option<Lat> {
        let e = report
            .arr("exchanges")
            .iter()
            .find(|e| e.str("exchange") == Some(exchange))?;
        Some(Lat {
            p50: e.num("latency_us.p50")?,
            p99: e.num("latency_us.p99")?,
            p999: e.num("latency_us.p999")?,
        })
    }

    fn cell(l: Option<Lat>) -> String {
        l.map_or("—".into(), |l| {
            format!("{} / {} / {}", us(l.p50), us(l.p99), us(l.p999))
        })
    }

    fn json(l: Option<Lat>) -> Json {
        l.map_or(Json::Null, |l| {
            Json::obj([
                ("p50_us", Json::Num(l.p50)),
                ("p99_us", Json::Num(l.p99)),
                ("p999_us", Json::Num(l.p999)),
            ])
        })
    }
}

/// A fixed-rate run.
#[derive(Clone, Debug, Default)]
struct Fixed {
    rate: f64,
    completed_per_sec: f64,
    drop_pct: f64,
    completed: f64,
    discover: Option<Lat>,
    request: Option<Lat>,
    /// CPU seconds over the run: CPUs 0 and 1 together, the server process(es), the load
    /// generator, processes outside the lab.
    cpu_cores: f64,
    cpu_server: f64,
    cpu_generator: f64,
    cpu_others: f64,
    /// Of `cpu_cores`: irq and softirq time.
    cpu_softirq: f64,
    /// Seconds between the two CPU samples.
    wall_secs: f64,
    violations: f64,
}

/// Above this share of the two cores taken by processes outside the lab, a measurement is
/// flagged as perturbed.
const NEIGHBOUR_WARN: f64 = 0.05;

/// The share of the two lab cores that processes outside the lab took.
fn neighbour_share(cpu_others: f64, wall_secs: f64) -> f64 {
    cpu_others / (2.0 * wall_secs.max(1e-9))
}

impl Fixed {
    fn neighbours(&self) -> f64 {
        neighbour_share(self.cpu_others, self.wall_secs)
    }

    fn per_k(&self, cpu: f64) -> Option<f64> {
        (self.completed > 0.0).then(|| cpu / self.completed * 1000.0)
    }

    fn json(&self) -> Json {
        Json::obj([
            ("rate", Json::Num(self.rate)),
            ("completed_per_sec", Json::Num(self.completed_per_sec)),
            ("drop_pct", Json::Num(self.drop_pct)),
            ("dora_completed", Json::Num(self.completed)),
            ("discover_offer", Lat::json(self.discover)),
            ("request_ack", Lat::json(self.request)),
            ("cpu_secs_both_cores", Json::Num(self.cpu_cores)),
            ("cpu_secs_server", Json::Num(self.cpu_server)),
            ("cpu_secs_generator", Json::Num(self.cpu_generator)),
            ("cpu_secs_softirq", Json::Num(self.cpu_softirq)),
            ("cpu_secs_outside_the_lab", Json::Num(self.cpu_others)),
            ("wall_secs", Json::Num(self.wall_secs)),
            (
                "cpu_secs_per_1k_both_cores",
                Json::opt(self.per_k(self.cpu_cores)),
            ),
            (
                "cpu_secs_per_1k_server",
                Json::opt(self.per_k(self.cpu_server)),
            ),
            ("violations", Json::Num(self.violations)),
        ])
    }
}

#[derive(Debug, Default)]
struct Row {
    name: &'static str,
    label: &'static str,
    /// DORAs/s completed at the highest passing `--find-max` step, and the rate offered there.
    max: Option<f64>,
    offered_max: Option<f64>,
    end: Option<String>,
    steps: Vec<Json>,
    /// Share of the two cores processes outside the lab took during the search.
    find_max_neighbours: Option<f64>,
    at_max: Option<Fixed>,
    at_half: Option<Fixed>,
    violations: f64,
    plane: Option<String>,
    summary: Option<String>,
    profile: Option<String>,
    /// Why the row is incomplete, if it is.
    error: Option<String>,
}

/// What sends the flood's frames back on the server's veth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Bouncer {
    /// `xdp-echo bounce`: `xdhcp_bounce` returns each frame with `XDP_TX`, no user space on
    /// the path. The lab's ceiling, the one the ratios are to (issue 6).
    #[default]
    XdpTx,
    /// `xdp-echo echo`: the steering program hands each frame to an AF_XDP socket and a
    /// user-space loop writes it back through the TX ring. The ceiling of the runs in
    /// PERFORMANCE.md before the XDP_TX bounce; kept as a second figure.
    AfXdpEcho,
}

impl Bouncer {
    /// In the order they are measured.
    const ALL: [Bouncer; 2] = [Bouncer::XdpTx, Bouncer::AfXdpEcho];

    /// The xdp-echo mode.
    fn mode(self) -> &'static str {
        match self {
            Bouncer::XdpTx => "bounce",
            Bouncer::AfXdpEcho => "echo",
        }
    }

    /// The table's row label, and the name of the measurement in neighbour shares.
    fn label(self) -> &'static str {
        match self {
            Bouncer::XdpTx => "lab ceiling: XDP_TX bounce in the kernel",
            Bouncer::AfXdpEcho => "AF_XDP echo through user space",
        }
    }

    fn measurement(self) -> &'static str {
        match self {
            Bouncer::XdpTx => "ceiling",
            Bouncer::AfXdpEcho => "AF_XDP echo",
        }
    }

    /// The keys of the server side's `done` line: frames it took in, frames it sent back.
    fn keys(self) -> (&'static str, &'static str) {
        match self {
            Bouncer::XdpTx => ("bounced", "bounced"),
            Bouncer::AfXdpEcho => ("rx", "tx"),
        }
    }
}

#[derive(Debug, Default)]
struct Ceiling {
    /// "start" or "end" of the run.
    when: &'static str,
    via: Bouncer,
    sent_per_sec: f64,
    server_rx_per_sec: f64,
    server_tx_per_sec: f64,
    /// Frames back at the generator (its AF_XDP socket, steered on UDP/68).
    echoes_per_sec: f64,
    /// Busy CPU seconds of the generator's and the server's core during the flood.
    cpu_gen: f64,
    cpu_srv: f64,
    /// CPU seconds of processes outside the lab during the flood, and the flood's seconds.
    cpu_others: f64,
    wall_secs: f64,
}

impl Ceiling {
    /// DORA equivalents: a DORA is two frames in and two out, a bounce one and one.
    fn dora_equivalent(&self) -> f64 {
        self.server_tx_per_sec / 2.0
    }
}

#[derive(Debug, Default)]
struct Avalanche {
    server: &'static str,
    clients: f64,
    provisioned: f64,
    all_bound_secs: f64,
    retransmissions: f64,
    bound_p50_ms: f64,
    bound_p99_ms: f64,
    cpu_cores: f64,
    /// Share of the two cores processes outside the lab took.
    neighbours: f64,
    violations: f64,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct CrossCheck {
    rate: f64,
    secs: u32,
    perfdhcp: String,
    /// perfdhcp's "Rate" (exchanges over the period plus its 1 s exit wait).
    perfdhcp_rate: Option<f64>,
    /// ACKs perfdhcp received.
    perfdhcp_completed: Option<f64>,
    /// Replies the generator namespace's kernel dropped because perfdhcp's socket buffer was
    /// full (UdpRcvbufErrors over its run).
    rcvbuf_errors: Option<u64>,
    /// xdhcpd's counters at stop (perfdhcp, then dhcp-load, and one probe DORA).
    server: Option<String>,
    dhcp_load: Option<Fixed>,
    error: Option<String>,
}

#[derive(Default)]
struct Results {
    /// Measured at the start and, after other rows, again at the end: the XDP_TX bounce (the
    /// ceiling) and the AF_XDP echo, each `Err` naming what failed.
    ceilings: Vec<Result<Ceiling, String>>,
    rows: Vec<Row>,
    cross: Option<CrossCheck>,
    avalanche: Vec<Avalanche>,
}

impl Results {
    /// The higher of the XDP_TX bounce ceilings measured (the harder bar).
    fn ceiling(&self) -> Option<&Ceiling> {
        self.ceilings
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .filter(|c| c.via == Bouncer::XdpTx)
            .max_by(|a, b| a.server_tx_per_sec.total_cmp(&b.server_tx_per_sec))
    }

    fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    fn max(&self, name: &str) -> Option<f64> {
        self.row(name).and_then(|r| r.max)
    }
}

struct Bench {
    plan: Plan,
    lab: Lab,
    bins: Bins,
    dir: PathBuf,
}

pub fn run(a: BenchArgs) -> Result<()> {
    if !is_root() {
        bail!("the benchmark needs root (network namespaces, XDP): run `sudo cargo xtask bench`");
    }
    for o in &a.only {
        if !ROWS.contains(&o.as_str()) {
            bail!("--only: unknown row {o:?}; rows are {}", ROWS.join(", "));
        }
    }
    let t0 = Instant::now();
    let plan = Plan::new(&a);
    let wanted = |r: &str| a.only.is_empty() || a.only.iter().any(|o| o == r);

    crate::setup::run()?;
    if plan.profile && !Cmd::new("perf").arg("--version").probe() {
        // Best effort: without perf the run says so where the profile would be.
        let _ = Cmd::new("apt-get")
            .args([
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "linux-perf",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run();
    }
    crate::cargo()
        .args(["build", "--locked", "--release"])
        .args(["--package", "dhcp-user", "--package", "dhcp-load"])
        .args(["--package", "xdhcp-tests"])
        .args(["--bin", "xdhcpd", "--bin", "dhcp-load", "--bin", "xdp-echo"])
        .run()?;
    let release = workspace_root().join("target/release");
    let bins = Bins {
        xdhcpd: a
            .xdhcpd
            .clone()
            .map_or_else(|| release.join("xdhcpd"), |p| absolute(&p)),
        dhcp_load: release.join("dhcp-load"),
        xdp_echo: release.join("xdp-echo"),
    };
    let dir = workspace_root().join("target/bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    let header = machine_header(&plan, &bins);
    println!("\n{header}");
    let b = Bench {
        plan,
        lab: Lab::new()?,
        bins,
        dir,
    };
    let mut res = Results::default();
    let t_measure = Instant::now();
    for row in ROWS.iter().filter(|r| wanted(r)) {
        println!(
            "\n==> {row} (t = {:.0} s, load average {})",
            t_measure.elapsed().as_secs_f64(),
            lab::loadavg()
        );
        match *row {
            "ceiling" => res.ceilings.extend(b.ceilings("start")),
            "perfdhcp" => res.cross = Some(b.cross_check(res.max("xdhcpd-xdp"))),
            "avalanche" => {
                res.avalanche = b.avalanches(res.max("xdhcpd-xdp"), res.max("kea"));
            }
            name => {
                let kind = Kind::ALL
                    .into_iter()
                    .find(|k| k.name() == name)
                    .expect("every server row has a kind");
                let r = b.server_row(kind);
                print_row_detail(&r);
                res.rows.push(r);
            }
        }
    }
    if wanted("ceiling") && a.only.len() != 1 {
        println!(
            "\n==> ceiling again (t = {:.0} s)",
            t_measure.elapsed().as_secs_f64()
        );
        res.ceilings.extend(b.ceilings("end"));
    }
    let measured = t_measure.elapsed();
    drop(b);

    let report = render(&res, &header);
    println!("\n{report}");
    println!(
        "measured in {:.0} s ({:.0} s with setup and build); logs and raw reports in target/bench/",
        measured.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    if let Some(path) = &a.json {
        std::fs::write(path, to_json(&res, &header).render() + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("JSON: {}", path.display());
    }
    // A missed target is a result; a row that could not run, or a reply that broke a rule,
    // is a failure of the run.
    let failed: Vec<String> = failures(&res);
    if !failed.is_empty() {
        bail!("the benchmark ran, but: {}", failed.join("; "));
    }
    Ok(())
}

/// Rows that did not run and checks that failed.
fn failures(res: &Results) -> Vec<String> {
    let mut v = Vec::new();
    for c in &res.ceilings {
        if let Err(e) = c {
            v.push(e.clone());
        }
    }
    for r in &res.rows {
        if let Some(e) = &r.error {
            v.push(format!("{}: {}", r.name, e.lines().next().unwrap_or("")));
        }
        if r.violations > 0.0 {
            v.push(format!(
                "{}: {} replies failed dhcp-load's checks",
                r.name, r.violations
            ));
        }
    }
    if let Some(c) = &res.cross {
        if let Some(e) = &c.error {
            v.push(format!("perfdhcp: {}", e.lines().next().unwrap_or("")));
        }
        if c.dhcp_load.as_ref().is_some_and(|f| f.violations > 0.0) {
            v.push("perfdhcp row: dhcp-load's checks failed".into());
        }
    }
    for a in &res.avalanche {
        if let Some(e) = &a.error {
            v.push(format!(
                "avalanche {}: {}",
                a.server,
                e.lines().next().unwrap_or("")
            ));
        }
        if a.violations > 0.0 {
            v.push(format!(
                "avalanche {}: {} replies failed dhcp-load's checks",
                a.server, a.violations
            ));
        }
    }
    v
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        std::env::current_dir().map_or(p.to_owned(), |d| d.join(p))
    }
}

fn machine_header(plan: &Plan, bins: &Bins) -> String {
    let sh = |prog: &str, args: &[&str]| {
        Cmd::new(prog)
            .args(args)
            .output_text()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let mut h = String::new();
    let _ = writeln!(
        h,
        "date {}; {} CPUs ({model}); kernel {}; {}",
        sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        sh("nproc", &[]),
        sh("uname", &["-r"]),
        if plan.quick {
            "QUICK run: short steps, rough figures"
        } else {
            "full run"
        }
    );
    let _ = writeln!(
        h,
        "lab: veth pair (1 queue each) between netns {GEN_NS} (dhcp-load, CPU {GEN_CPU}) and the \
         server's netns (CPU {SRV_CPU}); relayed clients 10.96.0.0/12 via giaddr {GIADDR}"
    );
    let _ = write!(
        h,
        "load: {} clients a phase, find-max steps of {} s (≤ 2.5 % DORAs dropped within 1 s), \
         fixed runs of {} s; ISC dhcpd {} clients a phase (its pool is smaller); xdhcpd = {}",
        thousands(f64::from(plan.clients)),
        plan.step_secs,
        plan.fixed_secs,
        thousands(f64::from(Kind::Isc.clients(plan.clients))),
        bins.xdhcpd.display()
    );
    h
}

impl Bench {
    fn row_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Arguments every dhcp-load run shares.
    fn load_args(&self) -> Vec<String> {
        [
            "--interface",
            GEN_IF,
            "--server",
            SERVER_IP,
            "--server-mac",
            &self.lab.server_mac,
            "--relay",
            GIADDR,
            "--cpus",
            &GEN_CPU.to_string(),
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Runs dhcp-load (pinned to the generator's CPU) with `extra` arguments; its JSON report
    /// is kept in `dir/<tag>.json`. A failed check (exit 1) is a result, not an error.
    fn load(&self, dir: &Path, tag: &str, extra: &[String], limit: f64) -> Result<Json> {
        let mut cmd = self
            .lab
            .command(GEN_NS, Some(GEN_CPU), &self.bins.dhcp_load);
        cmd.args(self.load_args()).args(extra);
        let out = dir.join(format!("{tag}.json"));
        let err = dir.join(format!("{tag}.stderr"));
        let code = lab::run_bounded(cmd, &out, &err, Duration::from_secs_f64(limit))
            .with_context(|| format!("dhcp-load {tag}"))?;
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        match code {
            Some(0 | 1 | 3) => Json::parse(text.trim())
                .with_context(|| format!("dhcp-load {tag}: reading {}", out.display())),
            other => bail!(
                "dhcp-load {tag} failed (exit {other:?}): {}",
                std::fs::read_to_string(&err).unwrap_or_default().trim()
            ),
        }
    }

    /// One DORA, retried until the server answers (bounded).
    fn probe(&self, server: &mut Server, dir: &Path) -> Result<()> {
        let until = Instant::now() + Duration::from_secs(30);
        let args = strings(&[
            "--clients",
            "1",
            "--count",
            "1",
            "--rate",
            "50",
            "--duration",
            "1",
            "--mac-base",
            MAC_PROBE,
        ]);
        loop {
            server.check_alive()?;
            let answered = self
                .load(dir, "probe", &args, 20.0)
                .is_ok_and(|r| r.num("dora_completed").unwrap_or(0.0) >= 1.0);
            if answered {
                return Ok(());
            }
            if Instant::now() > until {
                bail!("the server did not complete a probe DORA within 30 s");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn server_row(&self, kind: Kind) -> Row {
        let mut row = Row {
            name: kind.name(),
            label: kind.label(),
            ..Row::default()
        };
        if let Err(e) = self.measure(kind, &mut row) {
            println!("    {}: {e:#}", kind.name());
            row.error = Some(format!("{e:#}"));
        }
        row
    }

    fn measure(&self, kind: Kind, row: &mut Row) -> Result<()> {
        if kind == Kind::Kea && !Cmd::new("kea-dhcp4").arg("-v").probe() {
            bail!("kea-dhcp4 is not installed and `cargo xtask setup` did not install it");
        }
        let dir = self.row_dir(kind.name());
        let mut server = servers::start(kind, &self.lab, &self.bins, &dir)?;
        row.plane = server.plane_note();
        self.probe(&mut server, &dir)?;
        let p = &self.plan;
        let n = kind.clients(p.clients);
        let clients = n.to_string();
        let before = CpuSample::take(&[], &[])?;
        let t = Instant::now();
        let fm = self.load(
            &dir,
            "find-max",
            &strings(&[
                "--clients",
                &clients,
                "--mac-base",
                MAC_FIND_MAX,
                "--find-max",
                "--rate",
                &kind.start_rate().to_string(),
                "--step-secs",
                &p.step_secs.to_string(),
                "--max-steps",
                &p.max_steps.to_string(),
                "--precision",
                &p.precision.to_string(),
            ]),
            f64::from(p.max_steps) * (p.step_secs + 3.0) + 30.0,
        )?;
        row.find_max_neighbours = Some(neighbour_share(
            before.until(&CpuSample::take(&[], &[])?).others,
            t.elapsed().as_secs_f64(),
        ));
        row.violations += fm.num("violations.total").unwrap_or(0.0);
        row.max = fm.num("find_max.completed_per_sec");
        row.offered_max = fm.num("find_max.max_rate");
        row.end = fm.str("find_max.end").map(str::to_owned);
        row.steps = fm.arr("find_max.steps").to_vec();
        server.check_alive()?;
        let Some(rate) = row.offered_max else {
            bail!(
                "no find-max step passed (even {} DORA/s)",
                kind.start_rate()
            );
        };
        let at_max = self.fixed(&mut server, &dir, "at-max", rate, MAC_AT_MAX, n)?;
        row.violations += at_max.violations;
        row.at_max = Some(at_max);
        let at_half = self.fixed(&mut server, &dir, "at-half", rate / 2.0, MAC_AT_HALF, n)?;
        row.violations += at_half.violations;
        row.at_half = Some(at_half);
        if p.profile && kind.is_xdhcpd() {
            row.profile = Some(
                self.profile(&mut server, &dir, rate)
                    .unwrap_or_else(|e| format!("no profile: {e:#}")),
            );
        }
        server.check_alive()?;
        row.summary = server.stop();
        Ok(())
    }

    /// A fixed-rate run of `fixed_secs` with CPU sampled around it.
    fn fixed(
        &self,
        server: &mut Server,
        dir: &Path,
        tag: &str,
        rate: f64,
        mac: &str,
        clients: u32,
    ) -> Result<Fixed> {
        let p = &self.plan;
        let pids = server.pids();
        let before = CpuSample::take(&[GEN_CPU, SRV_CPU], &pids)?;
        let t = Instant::now();
        let r = self.load(
            dir,
            tag,
            &strings(&[
                "--clients",
                &clients.to_string(),
                "--mac-base",
                mac,
                "--rate",
                &format!("{rate:.0}"),
                "--duration",
                &p.fixed_secs.to_string(),
            ]),
            p.fixed_secs + 30.0,
        )?;
        let after = CpuSample::take(&[GEN_CPU, SRV_CPU], &pids)?;
        let wall_secs = t.elapsed().as_secs_f64();
        server.check_alive()?;
        let cpu = before.until(&after);
        Ok(Fixed {
            rate,
            completed_per_sec: r.num("completed_per_sec").unwrap_or(0.0),
            drop_pct: r.num("drop_pct").unwrap_or(100.0),
            completed: r.num("dora_completed").unwrap_or(0.0),
            discover: Lat::of(&r, "discover"),
            request: Lat::of(&r, "request"),
            cpu_cores: cpu.cores,
            cpu_server: cpu.procs,
            cpu_generator: cpu.children,
            cpu_others: cpu.others,
            cpu_softirq: cpu.softirq,
            wall_secs,
            violations: r.num("violations.total").unwrap_or(0.0),
        })
    }

    /// perf on both CPUs while dhcp-load offers `rate` (an extra run after the measured ones,
    /// so the sampling does not touch the figures). Returns the top symbols: of the server
    /// process, and of everything on both cores.
    fn profile(&self, server: &mut Server, dir: &Path, rate: f64) -> Result<String> {
        if !Cmd::new("perf").arg("--version").probe() {
            bail!("perf is not installed (apt-get install linux-perf)");
        }
        let p = &self.plan;
        let mut cmd = self
            .lab
            .command(GEN_NS, Some(GEN_CPU), &self.bins.dhcp_load);
        cmd.args(self.load_args()).args(strings(&[
            "--clients",
            &p.clients.to_string(),
            "--mac-base",
            MAC_PROFILE,
            "--rate",
            &format!("{rate:.0}"),
            "--duration",
            &(p.profile_secs + 2.0).to_string(),
        ]));
        let mut load = Daemon::spawn("dhcp-load (profiled)", cmd, &dir.join("profile-load.log"))?;
        std::thread::sleep(Duration::from_millis(1000));
        let data = dir.join("perf.data");
        let rec = Cmd::new("perf")
            .args(["record", "-a", "-g", "-C", "0,1", "-o"])
            .arg(&data)
            .args(["--", "sleep", &p.profile_secs.to_string()])
            .output_text();
        load.wait(Duration::from_secs_f64(p.profile_secs + 20.0));
        rec.context("perf record")?;
        server.check_alive()?;
        let report = |extra: &[&str]| -> Result<String> {
            let text = Cmd::new("perf")
                .args(["report", "-i"])
                .arg(&data)
                .args([
                    "--stdio",
                    "--no-children",
                    "-g",
                    "none",
                    "--percent-limit",
                    "0.8",
                ])
                .args(extra)
                .output_text()?;
            Ok(text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .take(18)
                .map(|l| format!("    {}", l.trim_end()))
                .collect::<Vec<_>>()
                .join("\n"))
        };
        let pid = server.pids()[0].to_string();
        let threads = report(&["--sort", "comm"])?;
        let own = report(&["--pid", &pid, "--percentage", "relative", "--sort", "sym"])?;
        let all = report(&["--sort", "comm,dso,sym"])?;
        let text = format!(
            "perf record -a -g -C 0,1 for {} s at {} DORA/s offered\n  \
             both cores by thread (swapper = idle):\n{threads}\n  \
             server process (pid {pid}), share of its own samples:\n{own}\n  \
             both cores, share of all samples:\n{all}",
            p.profile_secs,
            thousands(rate)
        );
        std::fs::write(dir.join("profile.txt"), &text)?;
        Ok(text)
    }

    /// The XDP_TX bounce (the ceiling), then the AF_XDP echo; an `Err` names which failed.
    fn ceilings(&self, when: &'static str) -> Vec<Result<Ceiling, String>> {
        Bouncer::ALL
            .into_iter()
            .map(|via| {
                self.ceiling(when, via)
                    .map_err(|e| format!("{}: {e:#}", via.label()))
            })
            .collect()
    }

    /// frames/s that `via` sends back on the server's veth (xdp-echo pinned to CPU 1), flooded
    /// by xdp-echo (CPU 0) with frames the size of a DISCOVER. On veth the receiving side's XDP
    /// program runs on the sender's CPU: the XDP_TX bounce runs entirely on CPU 0.
    fn ceiling(&self, when: &'static str, via: Bouncer) -> Result<Ceiling> {
        let dir = self.row_dir(&format!("ceiling-{when}"));
        std::fs::create_dir_all(&dir)?;
        let secs = self.plan.ceiling_secs;
        let mode = via.mode();
        let mut cmd = self
            .lab
            .command(lab::SRV_NS, Some(SRV_CPU), &self.bins.xdp_echo);
        cmd.args([mode, "--interface", lab::SRV_IF, "--seconds"])
            .arg((secs + 4.0).to_string());
        let name = format!("xdp-echo {mode}");
        let mut server = Daemon::spawn(&name, cmd, &dir.join(format!("{mode}.log")))?;
        let until = Instant::now() + Duration::from_secs(10);
        while !server.log_text().contains("ready") {
            server.check_alive()?;
            if Instant::now() > until {
                bail!("{name} did not attach within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut cmd = self.lab.command(GEN_NS, Some(GEN_CPU), &self.bins.xdp_echo);
        cmd.args(["flood", "--interface", GEN_IF, "--dst-mac"])
            .arg(&self.lab.server_mac)
            .args(["--src-ip", GEN_IP, "--dst-ip", SERVER_IP, "--seconds"])
            .arg(secs.to_string())
            .args(["--frame-len", &FRAME_LEN.to_string()]);
        let out = dir.join(format!("flood-{mode}.log"));
        let sample = || -> Result<[CpuSample; 2]> {
            Ok([
                CpuSample::take(&[GEN_CPU], &[])?,
                CpuSample::take(&[SRV_CPU], &[])?,
            ])
        };
        let before = sample()?;
        let t = Instant::now();
        let code = lab::run_bounded(
            cmd,
            &out,
            &dir.join(format!("flood-{mode}.stderr")),
            Duration::from_secs_f64(secs + 20.0),
        )?;
        if code != Some(0) {
            bail!("xdp-echo flood failed (exit {code:?})");
        }
        let after = sample()?;
        let wall_secs = t.elapsed().as_secs_f64();
        let (gen_cpu, srv_cpu) = (before[0].until(&after[0]), before[1].until(&after[1]));
        server.wait(Duration::from_secs_f64(secs + 15.0));
        let flood = std::fs::read_to_string(&out)?;
        let server_log = server.log_text();
        let kv = |text: &str, key: &str| -> Option<f64> {
            text.lines()
                .filter(|l| l.starts_with("done"))
                .flat_map(str::split_whitespace)
                .find_map(|w| w.strip_prefix(&format!("{key}=")))
                .and_then(|v| v.parse().ok())
        };
        let flood_secs = kv(&flood, "seconds").context("no result line from xdp-echo flood")?;
        let (rx_key, tx_key) = via.keys();
        let c = Ceiling {
            when,
            via,
            cpu_gen: gen_cpu.cores,
            cpu_srv: srv_cpu.cores,
            // Both samples see every process outside the lab: one count.
            cpu_others: gen_cpu.others,
            wall_secs,
            sent_per_sec: kv(&flood, "sent_per_sec").unwrap_or(0.0),
            echoes_per_sec: kv(&flood, "echoes_per_sec").unwrap_or(0.0),
            server_rx_per_sec: kv(&server_log, rx_key)
                .with_context(|| format!("no result line from {name}"))?
                / flood_secs,
            server_tx_per_sec: kv(&server_log, tx_key).unwrap_or(0.0) / flood_secs,
        };
        println!(
            "    {}, {FRAME_LEN}-byte frames: sent {:.0}/s, the server took in {:.0}/s and sent \
             back {:.0}/s, {:.0}/s came back to the generator; CPU {GEN_CPU} busy {:.0} %, CPU \
             {SRV_CPU} (xdp-echo {mode}) busy {:.0} % (with any neighbours; on veth the receiving \
             side's XDP runs on the sender's CPU); processes outside the lab took {:.0} % of the \
             two cores",
            via.label(),
            c.sent_per_sec,
            c.server_rx_per_sec,
            c.server_tx_per_sec,
            c.echoes_per_sec,
            c.cpu_gen / wall_secs * 100.0,
            c.cpu_srv / wall_secs * 100.0,
            neighbour_share(c.cpu_others, c.wall_secs) * 100.0
        );
        if c.server_tx_per_sec >= 0.99 * c.sent_per_sec {
            println!(
                "    the server sent back all the generator sent: the flood is the limit, and the \
                 figure a lower bound of what the server side could send back"
            );
        }
        Ok(c)
    }

    /// perfdhcp (kernel-socket relay from the giaddr) against xdhcpd on the XDP path, then
    /// dhcp-load at the same rate against the same server.
    fn cross_check(&self, xdp_max: Option<f64>) -> CrossCheck {
        // perfdhcp saturates its own core at 10,000-30,000 DORA/s on these machines: stay
        // below that, so that its drops are the server's.
        let rate = xdp_max
            .map_or(10_000.0, |m| (m / 2.0).min(PERFDHCP_RATE_CAP))
            .round();
        let mut c = CrossCheck {
            rate,
            secs: self.plan.perfdhcp_secs,
            ..CrossCheck::default()
        };
        if let Err(e) = self.cross_check_inner(&mut c) {
            println!("    perfdhcp: {e:#}");
            c.error = Some(format!("{e:#}"));
        }
        c
    }

    fn cross_check_inner(&self, c: &mut CrossCheck) -> Result<()> {
        let dir = self.row_dir("perfdhcp");
        let mut server = servers::start(Kind::Xdp, &self.lab, &self.bins, &dir)?;
        self.probe(&mut server, &dir)?;
        let mut cmd = self.lab.command(GEN_NS, Some(GEN_CPU), "perfdhcp");
        cmd.args(["-4", "-l", GIADDR, "-R"])
            .arg(self.plan.clients.to_string())
            .args(["-r", &format!("{:.0}", c.rate), "-p", &c.secs.to_string()])
            // Collect the replies still in flight for 1 s after the period (like dhcp-load's
            // drain) instead of counting them as drops.
            .args(["-W", "1000000"])
            .arg(SERVER_IP);
        let out = dir.join("perfdhcp.txt");
        let rcvbuf_before = lab::udp_counter(GEN_NS, "RcvbufErrors")?;
        let code = lab::run_bounded(
            cmd,
            &out,
            &dir.join("perfdhcp.stderr"),
            Duration::from_secs(u64::from(c.secs) + 30),
        )?;
        let text = std::fs::read_to_string(&out)?;
        c.rcvbuf_errors = Some(lab::udp_counter(GEN_NS, "RcvbufErrors")? - rcvbuf_before);
        // Exit 3: ran, but some exchanges did not complete; that is a figure, not a failure.
        if !matches!(code, Some(0 | 3)) {
            bail!(
                "perfdhcp failed (exit {code:?}): {}",
                std::fs::read_to_string(dir.join("perfdhcp.stderr")).unwrap_or_default()
            );
        }
        c.perfdhcp_rate = text
            .lines()
            .find_map(|l| l.strip_prefix("Rate: "))
            .and_then(|r| r.split_whitespace().next()?.parse().ok());
        c.perfdhcp = summarize_perfdhcp(&text);
        c.perfdhcp_completed = text
            .split("***Statistics for: REQUEST-ACK***")
            .nth(1)
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.trim().strip_prefix("received packets:"))?
                    .trim()
                    .parse()
                    .ok()
            });
        println!("    perfdhcp at {:.0}/s:\n{}", c.rate, c.perfdhcp);
        c.dhcp_load = Some(self.fixed(
            &mut server,
            &dir,
            "dhcp-load",
            c.rate,
            MAC_CROSS,
            self.plan.clients,
        )?);
        c.server = server.stop();
        Ok(())
    }

    /// xdhcpd's avalanche, then Kea's scaled to what it can finish.
    fn avalanches(&self, xdp_max: Option<f64>, kea_max: Option<f64>) -> Vec<Avalanche> {
        let n = self.plan.avalanche_clients;
        let kea_n = match (xdp_max, kea_max) {
            (Some(x), Some(k)) if x > 0.0 => (f64::from(n) * k / x).round() as u32,
            _ => n / 50,
        }
        .clamp(1_000, 200_000);
        [(Kind::Xdp, n), (Kind::Kea, kea_n)]
            .into_iter()
            .map(|(kind, clients)| {
                let mut a = Avalanche {
                    server: kind.name(),
                    clients: f64::from(clients),
                    ..Avalanche::default()
                };
                if let Err(e) = self.avalanche(kind, clients, &mut a) {
                    println!("    {}: {e:#}", kind.name());
                    a.error = Some(format!("{e:#}"));
                }
                a
            })
            .collect()
    }

    fn avalanche(&self, kind: Kind, clients: u32, a: &mut Avalanche) -> Result<()> {
        let dir = self.row_dir(&format!("avalanche-{}", kind.name()));
        let mut server = servers::start(kind, &self.lab, &self.bins, &dir)?;
        self.probe(&mut server, &dir)?;
        let secs = self.plan.avalanche_secs;
        let before = CpuSample::take(&[GEN_CPU, SRV_CPU], &[])?;
        let t = Instant::now();
        let r = self.load(
            &dir,
            "avalanche",
            &strings(&[
                "--mode",
                "avalanche",
                "--clients",
                &clients.to_string(),
                "--mac-base",
                MAC_AVALANCHE,
                "--duration",
                &secs.to_string(),
            ]),
            secs + 120.0,
        )?;
        let after = CpuSample::take(&[GEN_CPU, SRV_CPU], &[])?;
        let cpu = before.until(&after);
        a.cpu_cores = cpu.cores;
        a.neighbours = neighbour_share(cpu.others, t.elapsed().as_secs_f64());
        a.provisioned = r.num("avalanche.provisioned").unwrap_or(0.0);
        a.all_bound_secs = r.num("avalanche.all_bound_secs").unwrap_or(0.0);
        a.retransmissions = r.num("avalanche.retransmissions").unwrap_or(0.0);
        a.bound_p50_ms = r.num("avalanche.bound_p50_ms").unwrap_or(0.0);
        a.bound_p99_ms = r.num("avalanche.bound_p99_ms").unwrap_or(0.0);
        a.violations = r.num("violations.total").unwrap_or(0.0);
        println!(
            "    {}: {} of {} clients bound, last after {:.1} s, {} retransmissions",
            kind.name(),
            thousands(a.provisioned),
            thousands(a.clients),
            a.all_bound_secs,
            thousands(a.retransmissions)
        );
        server.check_alive()?;
        server.stop();
        Ok(())
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// perfdhcp's final report, the lines that carry figures.
fn summarize_perfdhcp(text: &str) -> String {
    let keep = [
        "Rate:",
        "***",
        "sent packets:",
        "received packets:",
        "drops:",
        "drops ratio:",
        "min delay:",
        "avg delay:",
        "max delay:",
    ];
    text.lines()
        .map(str::trim)
        .filter(|l| keep.iter().any(|k| l.starts_with(k)))
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn print_row_detail(r: &Row) {
    if let Some(p) = &r.plane {
        println!("    data plane: {p}");
    }
    for s in &r.steps {
        println!(
            "    step: target {:>8} offered {:>8} completed {:>8} drop {:>6.2} % {}",
            thousands(s.num("target").unwrap_or(0.0)),
            thousands(s.num("offered").unwrap_or(0.0)),
            thousands(s.num("completed").unwrap_or(0.0)),
            s.num("drop_pct").unwrap_or(0.0),
            if s.at("passed") == Some(&Json::Bool(true)) {
                "pass"
            } else {
                "FAIL"
            }
        );
    }
    for (what, f) in [("at max", &r.at_max), ("at half", &r.at_half)] {
        if let Some(f) = f {
            println!(
                "    {what}: {} DORA/s offered, {} completed/s, drop {:.2} %, D→O {}, R→A {} µs, \
                 CPU {:.2} s both cores (irq+softirq {:.2} s): server {:.2} s, generator {:.2} s; \
                 processes outside the lab {:.2} s",
                thousands(f.rate),
                thousands(f.completed_per_sec),
                f.drop_pct,
                Lat::cell(f.discover),
                Lat::cell(f.request),
                f.cpu_cores,
                f.cpu_softirq,
                f.cpu_server,
                f.cpu_generator,
                f.cpu_others
            );
        }
    }
    if r.violations > 0.0 {
        println!(
            "    CHECK FAILURES: {} replies broke a rule (see target/bench/{}/*.json)",
            r.violations, r.name
        );
    }
    if let Some(s) = &r.summary {
        println!("    server at stop: {s}");
    }
    if let Some(p) = &r.profile {
        println!("    {}", p.replace('\n', "\n    "));
    }
}

fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn us(x: f64) -> String {
    thousands(x)
}

fn ratio(x: Option<f64>) -> String {
    match x {
        Some(r) if r.is_finite() && r >= 10.0 => format!("{r:.0}×"),
        Some(r) if r.is_finite() => format!("{r:.2}×"),
        _ => "—".into(),
    }
}

fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The table, the targets and the cross-checks.
fn render(res: &Results, header: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{header}\n");
    let ceil_dora = res.ceiling().map(Ceiling::dora_equivalent);
    let kea = res.row("kea");
    let kea_max = kea.and_then(|r| r.max);
    let cpu = |r: &Row, server: bool| {
        r.at_max
            .as_ref()
            .and_then(|f| f.per_k(if server { f.cpu_server } else { f.cpu_cores }))
    };
    let kea_cpu = kea.map(|k| (cpu(k, false), cpu(k, true)));
    let _ = writeln!(
        o,
        "| row | DORA/s at ≤ 2.5 % drop | × Kea | of ceiling | DISCOVER→OFFER µs p50 / p99 / p99.9 | \
         REQUEST→ACK µs p50 / p99 / p99.9 | CPU s per 1,000 leases, both cores | Kea ÷ this | \
         CPU s per 1,000 leases, server process | Kea ÷ this |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in &res.ceilings {
        match c {
            Ok(c) => {
                let _ = writeln!(
                    o,
                    "| {} ({} of run), {FRAME_LEN}-byte frames | {} frames/s sent back ({} back at the generator) = {} DORA-equivalents/s | {} | {:.0} % | | | | | | |",
                    c.via.label(),
                    c.when,
                    thousands(c.server_tx_per_sec),
                    thousands(c.echoes_per_sec),
                    thousands(c.dora_equivalent()),
                    ratio(div(Some(c.dora_equivalent()), kea_max)),
                    div(Some(c.dora_equivalent()), ceil_dora).unwrap_or(0.0) * 100.0,
                );
            }
            Err(e) => {
                let _ = writeln!(
                    o,
                    "| {} | not measured | | | | | | | | |",
                    e.replace(['\n', '|'], " ")
                );
            }
        }
    }
    for r in &res.rows {
        let half = r.at_half.as_ref();
        let name = format!("{} ({})", r.name, r.label);
        if r.max.is_none() {
            let _ = writeln!(
                o,
                "| {name} | not measured: {} | | | | | | | | |",
                r.error
                    .as_deref()
                    .unwrap_or("no result")
                    .replace(['\n', '|'], " ")
            );
            continue;
        }
        let (c_all, c_srv) = (cpu(r, false), cpu(r, true));
        let _ = writeln!(
            o,
            "| {name} | {}{} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(r.max.unwrap_or(0.0)),
            if r.violations > 0.0 {
                format!(" ({} CHECK FAILURES)", r.violations)
            } else {
                String::new()
            },
            ratio(div(r.max, kea_max)),
            div(r.max, ceil_dora).map_or("—".into(), |x| format!("{:.1} %", x * 100.0)),
            Lat::cell(half.and_then(|f| f.discover)),
            Lat::cell(half.and_then(|f| f.request)),
            c_all.map_or("—".into(), |x| format!("{x:.3}")),
            ratio(div(kea_cpu.and_then(|k| k.0), c_all)),
            c_srv.map_or("—".into(), |x| format!("{x:.3}")),
            ratio(div(kea_cpu.and_then(|k| k.1), c_srv)),
        );
    }
    let _ = writeln!(
        o,
        "\nDORA/s: completed at the highest passing find-max step. Latency: a fixed run at half \
         that rate. CPU: a fixed run at that rate, /proc/stat busy time of CPUs 0 and 1 (the \
         generator's and the server's: on veth the receiver's XDP runs on the sender's CPU), \
         and /proc/<pid>/stat of the server (with failover: both servers). Ceiling: the \
         frames/s an in-kernel XDP_TX program (xdp-echo bounce) sends back on the server's veth, \
         flooded by xdp-echo flood; on veth that program runs on the generator's CPU, so the \
         bounce measures one core's veth path and no server process. A DORA is two frames in \
         and two out, a bounce one and one; ratios are to the higher XDP_TX ceiling. The AF_XDP \
         echo line is the same flood sent back through an AF_XDP socket by user space on CPU \
         {SRV_CPU} (the ceiling of runs recorded before the XDP_TX bounce)."
    );
    if res.rows.iter().any(|r| r.name == "xdhcpd-failover") {
        let _ = writeln!(
            o,
            "Failover: the partner runs in a third namespace over its own veth, pinned to the \
             generator's CPU {GEN_CPU} (there is no third core); the primary answers every client \
             (load-balance-percent 100, as behind a relay with one helper address) and sends a \
             lazy binding update for every lease."
        );
        if let (Some(on), Some(off)) = (res.max("xdhcpd-failover"), res.max("xdhcpd-xdp")) {
            let _ = writeln!(
                o,
                "Failover on vs off (both AF_XDP, durable journal): {} vs {} DORA/s = {:.0} %.",
                thousands(on),
                thousands(off),
                on / off * 100.0
            );
        }
    }

    let (shares, perturbed) = neighbours(res);
    if !shares.is_empty() {
        let _ = writeln!(
            o,
            "Neighbours (this machine is shared): share of the two lab cores taken by processes \
             outside the lab — {}.",
            shares.join(", ")
        );
    }
    if !perturbed.is_empty() {
        let _ = writeln!(
            o,
            "WARNING: above {:.0} % during {}: those figures, and the ratios built on them, \
             measured the neighbours too; rerun when the machine is quiet.",
            NEIGHBOUR_WARN * 100.0,
            perturbed.join(", ")
        );
    }
    let _ = writeln!(o, "\nTargets (issue 6):");
    for line in targets(res, ceil_dora) {
        let _ = writeln!(o, "{line}");
    }
    if let Some(c) = &res.cross {
        let _ = writeln!(
            o,
            "\nperfdhcp cross-check (xdhcpd-xdp, relay from {GIADDR}, {} s at {} DORA/s):",
            c.secs,
            thousands(c.rate)
        );
        match &c.error {
            Some(e) => {
                let _ = writeln!(o, "  not measured: {e}");
            }
            None => {
                let _ = writeln!(o, "{}", c.perfdhcp);
                if let Some(n) = c.perfdhcp_completed {
                    let _ = writeln!(
                        o,
                        "  perfdhcp completed {} DORAs = {} a second of its {} s period (its \
                         \"Rate\" also counts the 1 s it waits for late replies)",
                        thousands(n),
                        thousands(n / f64::from(c.secs)),
                        c.secs
                    );
                }
                if let Some(n) = c.rcvbuf_errors {
                    let _ = writeln!(
                        o,
                        "  replies dropped by the kernel at perfdhcp's full socket buffer \
                         (UdpRcvbufErrors in its namespace): {}",
                        thousands(n as f64)
                    );
                }
                if let Some(s) = &c.server {
                    let _ = writeln!(o, "  server counters (perfdhcp + dhcp-load + probe): {s}");
                }
                if let Some(f) = &c.dhcp_load {
                    let _ = writeln!(
                        o,
                        "  dhcp-load at the same rate: {} completed/s, drop {:.2} %, D→O {} µs, R→A {} µs",
                        thousands(f.completed_per_sec),
                        f.drop_pct,
                        Lat::cell(f.discover),
                        Lat::cell(f.request)
                    );
                }
            }
        }
    }
    if !res.avalanche.is_empty() {
        let _ = writeln!(
            o,
            "\nAvalanche (all clients at once, RFC 2131 back-off 4 s, 8 s, … ±1 s):"
        );
        for a in &res.avalanche {
            match &a.error {
                Some(e) => {
                    let _ = writeln!(
                        o,
                        "  {}: {} clients: not measured: {e}",
                        a.server,
                        thousands(a.clients)
                    );
                }
                None => {
                    let _ = writeln!(
                        o,
                        "  {}: {} of {} clients bound; last after {:.1} s ({} clients/s); bound p50 {:.1} s, p99 {:.1} s; {} retransmissions; CPU {:.1} s both cores{}",
                        a.server,
                        thousands(a.provisioned),
                        thousands(a.clients),
                        a.all_bound_secs,
                        thousands(a.provisioned / a.all_bound_secs.max(1e-9)),
                        a.bound_p50_ms / 1000.0,
                        a.bound_p99_ms / 1000.0,
                        thousands(a.retransmissions),
                        a.cpu_cores,
                        if a.violations > 0.0 {
                            format!("; {} CHECK FAILURES", a.violations)
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
    }
    o
}

/// Each measurement's neighbour share ("kea at max 31 %"), and those above the warning bound.
fn neighbours(res: &Results) -> (Vec<String>, Vec<String>) {
    let all = neighbour_shares(res);
    let shares = all
        .iter()
        .map(|(w, x)| format!("{w} {:.0} %", x * 100.0))
        .collect();
    let perturbed = all
        .iter()
        .filter(|(_, x)| *x > NEIGHBOUR_WARN)
        .map(|(w, x)| format!("{w} ({:.0} %)", x * 100.0))
        .collect();
    (shares, perturbed)
}

/// (measurement, share of the two cores taken by processes outside the lab).
fn neighbour_shares(res: &Results) -> Vec<(String, f64)> {
    let mut all = Vec::new();
    for c in res.ceilings.iter().flatten() {
        all.push((
            format!("{} at {}", c.via.measurement(), c.when),
            neighbour_share(c.cpu_others, c.wall_secs),
        ));
    }
    for r in &res.rows {
        if let Some(x) = r.find_max_neighbours {
            all.push((format!("{} find-max", r.name), x));
        }
        for (what, f) in [("at max", &r.at_max), ("at half", &r.at_half)] {
            if let Some(f) = f {
                all.push((format!("{} {what}", r.name), f.neighbours()));
            }
        }
    }
    for a in res.avalanche.iter().filter(|a| a.error.is_none()) {
        all.push((format!("avalanche {}", a.server), a.neighbours));
    }
    all
}

/// One PASS/MISS line per target, with the measured gap; an unmeasured target is a MISS.
fn targets(res: &Results, ceil_dora: Option<f64>) -> Vec<String> {
    let mut v = Vec::new();
    let kea_max = res.max("kea");
    let shares = neighbour_shares(res);
    // `deps`: the measurements the verdict rests on; the perturbed ones are named.
    let mut line = |ok: Option<bool>, what: &str, detail: String, deps: &[&str]| {
        let tag = match ok {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "MISS (not measured)",
        };
        let perturbed: Vec<String> = shares
            .iter()
            .filter(|(k, x)| deps.contains(&k.as_str()) && *x > NEIGHBOUR_WARN)
            .map(|(k, x)| format!("{k} {:.0} %", x * 100.0))
            .collect();
        let note = if perturbed.is_empty() {
            String::new()
        } else {
            format!(
                " [perturbed by processes outside the lab: {}]",
                perturbed.join(", ")
            )
        };
        v.push(format!("  {tag:<20} {what}: {detail}{note}"));
    };
    for (row, need) in [("xdhcpd-xdp", 100.0), ("xdhcpd-failover", 50.0)] {
        let r = div(res.max(row), kea_max);
        line(
            r.map(|r| r >= need),
            &format!("{row} ≥ {need:.0}× Kea's DORA/s"),
            match r {
                Some(r) => format!(
                    "{} vs {} DORA/s = {r:.2}× ({:.1}× short of {need:.0}×)",
                    thousands(res.max(row).unwrap_or(0.0)),
                    thousands(kea_max.unwrap_or(0.0)),
                    (need / r).max(1.0)
                ),
                None => format!("needs both {row} and kea measured"),
            },
            &[&format!("{row} find-max"), "kea find-max"],
        );
    }
    let share = div(res.max("xdhcpd-xdp"), ceil_dora);
    line(
        share.map(|s| s >= 0.5),
        "xdhcpd-xdp ≥ 50 % of the lab's ceiling (in-kernel XDP_TX bounce)",
        match share {
            Some(s) => format!(
                "{} DORA/s = {:.1} % of {} DORA-equivalents/s bounced with XDP_TX",
                thousands(res.max("xdhcpd-xdp").unwrap_or(0.0)),
                s * 100.0,
                thousands(ceil_dora.unwrap_or(0.0))
            ),
            None => "needs the ceiling and xdhcpd-xdp measured".into(),
        },
        &["xdhcpd-xdp find-max", "ceiling at start", "ceiling at end"],
    );
    let half = res.row("xdhcpd-xdp").and_then(|r| r.at_half.as_ref());
    let p99 = half.and_then(|f| f.discover).map(|l| l.p99);
    line(
        p99.map(|p| p < 250.0),
        "xdhcpd-xdp p99 DISCOVER→OFFER < 250 µs at half the maximum rate",
        match (p99, half) {
            (Some(p), Some(f)) => format!(
                "p99 {} µs at {} DORA/s{}",
                us(p),
                thousands(f.rate),
                if p >= 250.0 {
                    format!(" ({:.1}× the bound)", p / 250.0)
                } else {
                    String::new()
                }
            ),
            _ => "needs xdhcpd-xdp measured".into(),
        },
        &["xdhcpd-xdp at half"],
    );
    let cpu_of = |name: &str| {
        res.row(name)
            .and_then(|r| r.at_max.as_ref())
            .and_then(|f| f.per_k(f.cpu_cores))
    };
    let lower = div(cpu_of("kea"), cpu_of("xdhcpd-xdp"));
    line(
        lower.map(|l| l >= 50.0),
        "xdhcpd-xdp CPU per DORA (both cores) ≥ 50× lower than Kea's",
        match lower {
            Some(l) => format!(
                "{:.3} vs {:.3} CPU s per 1,000 = {l:.1}× lower{}",
                cpu_of("xdhcpd-xdp").unwrap_or(0.0),
                cpu_of("kea").unwrap_or(0.0),
                if l < 50.0 {
                    format!(" ({:.1}× short of 50×)", 50.0 / l)
                } else {
                    String::new()
                }
            ),
            None => "needs both xdhcpd-xdp and kea measured".into(),
        },
        &["xdhcpd-xdp at max", "kea at max"],
    );
    let x = res.avalanche.iter().find(|a| a.server == "xdhcpd-xdp");
    let k = res.avalanche.iter().find(|a| a.server == "kea");
    let all = x.map(|a| a.error.is_none() && a.clients >= 1e6 && a.provisioned >= a.clients);
    line(
        all,
        "1,000,000-client avalanche all provisioned (time next to Kea's scaled avalanche)",
        match x {
            Some(a) if a.error.is_none() => format!(
                "{} of {} bound in {:.1} s ({} clients/s){}; Kea: {}",
                thousands(a.provisioned),
                thousands(a.clients),
                a.all_bound_secs,
                thousands(a.provisioned / a.all_bound_secs.max(1e-9)),
                if a.clients < 1e6 {
                    " — fewer than 1,000,000 clients in this run"
                } else {
                    ""
                },
                match k {
                    Some(k) if k.error.is_none() => format!(
                        "{} of {} bound in {:.1} s ({} clients/s)",
                        thousands(k.provisioned),
                        thousands(k.clients),
                        k.all_bound_secs,
                        thousands(k.provisioned / k.all_bound_secs.max(1e-9))
                    ),
                    Some(k) => format!("not measured ({})", k.error.as_deref().unwrap_or("")),
                    None => "not run".into(),
                }
            ),
            Some(a) => format!("not measured: {}", a.error.as_deref().unwrap_or("")),
            None => "avalanche not run".into(),
        },
        &["avalanche xdhcpd-xdp", "avalanche kea"],
    );
    v
}

fn to_json(res: &Results, header: &str) -> Json {
    let rows = res
        .rows
        .iter()
        .map(|r| {
            Json::obj([
                ("row", Json::text(r.name)),
                ("label", Json::text(r.label)),
                ("dora_per_sec", Json::opt(r.max)),
                ("offered_at_max", Json::opt(r.offered_max)),
                ("search_end", Json::maybe(r.end.as_deref())),
                ("steps", Json::Arr(r.steps.clone())),
                ("at_max", r.at_max.as_ref().map_or(Json::Null, Fixed::json)),
                (
                    "at_half",
                    r.at_half.as_ref().map_or(Json::Null, Fixed::json),
                ),
                ("violations", Json::Num(r.violations)),
                ("plane", Json::maybe(r.plane.as_deref())),
                ("server_summary", Json::maybe(r.summary.as_deref())),
                ("profile", Json::maybe(r.profile.as_deref())),
                ("error", Json::maybe(r.error.as_deref())),
            ])
        })
        .collect();
    let ceilings = res
        .ceilings
        .iter()
        .map(|c| match c {
            Ok(c) => Json::obj([
                ("when", Json::text(c.when)),
                ("via", Json::text(c.via.mode())),
                ("ceiling", Json::Bool(c.via == Bouncer::XdpTx)),
                ("frame_len", Json::Num(FRAME_LEN as f64)),
                ("sent_per_sec", Json::Num(c.sent_per_sec)),
                ("server_rx_per_sec", Json::Num(c.server_rx_per_sec)),
                ("server_tx_per_sec", Json::Num(c.server_tx_per_sec)),
                ("echoes_per_sec", Json::Num(c.echoes_per_sec)),
                ("dora_equivalent_per_sec", Json::Num(c.dora_equivalent())),
                ("cpu_secs_generator_core", Json::Num(c.cpu_gen)),
                ("cpu_secs_server_core", Json::Num(c.cpu_srv)),
                ("cpu_secs_outside_the_lab", Json::Num(c.cpu_others)),
                ("wall_secs", Json::Num(c.wall_secs)),
            ]),
            Err(e) => Json::obj([("error", Json::text(e.clone()))]),
        })
        .collect();
    let cross = res.cross.as_ref().map_or(Json::Null, |c| {
        Json::obj([
            ("rate", Json::Num(c.rate)),
            ("seconds", Json::Num(f64::from(c.secs))),
            ("perfdhcp_rate", Json::opt(c.perfdhcp_rate)),
            ("perfdhcp_completed", Json::opt(c.perfdhcp_completed)),
            (
                "perfdhcp_rcvbuf_errors",
                Json::opt(c.rcvbuf_errors.map(|n| n as f64)),
            ),
            ("server_counters", Json::maybe(c.server.as_deref())),
            ("perfdhcp_report", Json::text(c.perfdhcp.clone())),
            (
                "dhcp_load",
                c.dhcp_load.as_ref().map_or(Json::Null, Fixed::json),
            ),
            ("error", Json::maybe(c.error.as_deref())),
        ])
    });
    let avalanche = res
        .avalanche
        .iter()
        .map(|a| {
            Json::obj([
                ("server", Json::text(a.server)),
                ("clients", Json::Num(a.clients)),
                ("provisioned", Json::Num(a.provisioned)),
                ("all_bound_secs", Json::Num(a.all_bound_secs)),
                ("bound_p50_ms", Json::Num(a.bound_p50_ms)),
                ("bound_p99_ms", Json::Num(a.bound_p99_ms)),
                ("retransmissions", Json::Num(a.retransmissions)),
                ("cpu_secs_both_cores", Json::Num(a.cpu_cores)),
                ("violations", Json::Num(a.violations)),
                ("error", Json::maybe(a.error.as_deref())),
            ])
        })
        .collect();
    let ceil_dora = res.ceiling().map(Ceiling::dora_equivalent);
    Json::obj([
        ("tool", Json::text("cargo xtask bench")),
        ("header", Json::text(header)),
        ("ceilings", Json::Arr(ceilings)),
        ("rows", Json::Arr(rows)),
        ("perfdhcp", cross),
        ("avalanche", Json::Arr(avalanche)),
        (
            "neighbours",
            Json::Arr(
                neighbour_shares(res)
                    .into_iter()
                    .map(|(k, x)| {
                        Json::obj([
                            ("measurement", Json::text(k)),
                            ("share_of_two_cores", Json::Num(x)),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "targets",
            Json::Arr(
                targets(res, ceil_dora)
                    .into_iter()
                    .map(|t| Json::text(t.trim()))
                    .collect(),
            ),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(-45000.0), "-45,000");
    }

    #[test]
    fn the_ceiling_is_the_xdp_tx_bounce_even_below_the_af_xdp_echo() {
        let c = |via, when, frames| {
            Ok(Ceiling {
                when,
                via,
                server_tx_per_sec: frames,
                ..Ceiling::default()
            })
        };
        let res = Results {
            ceilings: vec![
                c(Bouncer::XdpTx, "start", 400_000.0),
                c(Bouncer::AfXdpEcho, "start", 900_000.0),
                c(Bouncer::XdpTx, "end", 500_000.0),
                Err("AF_XDP echo through user space: failed".into()),
            ],
            ..Results::default()
        };
        let ceiling = res.ceiling().expect("a ceiling");
        assert_eq!((ceiling.via, ceiling.when), (Bouncer::XdpTx, "end"));
        assert_eq!(ceiling.dora_equivalent(), 250_000.0);
        let table = render(&res, "");
        assert!(
            table.contains("| lab ceiling: XDP_TX bounce in the kernel (end of run)"),
            "{table}"
        );
        assert!(table.contains("| AF_XDP echo through user space (start of run)"));
        assert!(
            table.contains("| 180 % |"),
            "the echo's share of the ceiling: {table}"
        );
    }

    #[test]
    fn a_missing_measurement_is_a_miss() {
        let res = Results::default();
        let lines = targets(&res, None);
        assert_eq!(lines.len(), 6);
        assert!(lines.iter().all(|l| l.contains("MISS")), "{lines:#?}");
    }

    #[test]
    fn targets_report_the_gap() {
        let row = |name, max, cpu_cores| Row {
            name,
            max: Some(max),
            at_max: Some(Fixed {
                completed: 1000.0,
                cpu_cores,
                ..Fixed::default()
            }),
            at_half: Some(Fixed {
                rate: max / 2.0,
                discover: Some(Lat {
                    p50: 100.0,
                    p99: 500.0,
                    p999: 900.0,
                }),
                ..Fixed::default()
            }),
            ..Row::default()
        };
        let res = Results {
            rows: vec![row("xdhcpd-xdp", 40_000.0, 0.5), row("kea", 10_000.0, 5.0)],
            ..Results::default()
        };
        let lines = targets(&res, Some(100_000.0));
        assert!(
            lines[0].contains("MISS")
                && lines[0].contains("4.00×")
                && lines[0].contains("25.0× short")
        );
        assert!(lines[2].contains("MISS") && lines[2].contains("40.0 %"));
        assert!(lines[3].contains("MISS") && lines[3].contains("2.0× the bound"));
        assert!(lines[4].contains("10.0× lower"));
        assert!(!lines[4].contains("perturbed"));
    }

    #[test]
    fn a_verdict_names_the_perturbed_measurements_it_rests_on() {
        let fixed = |cpu_others| Fixed {
            completed: 1000.0,
            cpu_cores: 1.0,
            cpu_others,
            wall_secs: 5.0,
            ..Fixed::default()
        };
        let row = |name, others| Row {
            name,
            max: Some(1000.0),
            find_max_neighbours: Some(0.0),
            at_max: Some(fixed(others)),
            ..Row::default()
        };
        let res = Results {
            rows: vec![row("xdhcpd-xdp", 0.1), row("kea", 2.0)],
            ..Results::default()
        };
        let lines = targets(&res, None);
        assert!(lines[4].contains("perturbed") && lines[4].contains("kea at max 20 %"));
        assert!(!lines[4].contains("xdhcpd-xdp at max"), "{}", lines[4]);
        assert!(!lines[0].contains("perturbed"));
    }
}

//! dhcp-load: DHCPv4 load generator over AF_XDP (or AF_PACKET) that checks every reply.
//!
//! Exit status: 0 when every reply passed the checks; 1 when a check failed; 2 when the run
//! could not be set up; 3 when the run was clean but incomplete (drops above
//! `--max-drop-pct`, or avalanche clients left unbound).

mod io;
mod net;
mod runner;

use std::{
    net::Ipv4Addr,
    process::ExitCode,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use dhcp_load::{
    config::{Backoff, FleetConfig, Load, Relay, Vlans},
    fleet::{Fleet, MIN_FRAME_BUFFER},
    registry::Registry,
    report::{FindMaxReport, Report, RunInfo},
    search::RateSearch,
    stats::Stats,
};
use dhcp_user::{
    io::xdp::{XdpPlane, XdpPlaneConfig, rx_queue_count},
    signals,
    steer::AttachMode,
    xsk::{BindMode, XskConfig},
};
use dhcp_wire::frame::MacAddr;

use crate::{
    io::{FrameIo, PacketIo, XdpIo},
    runner::{Shared, Worker},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Fixed offered rate (`--rate`), unanswered exchanges dropped after `--drop-timeout`.
    Open,
    /// As fast as answers come, at most `--window` exchanges in flight.
    Closed,
    /// All clients start at once and retransmit with the RFC 2131 back-off.
    Avalanche,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// AF_XDP: XDP steering of UDP/67 and UDP/68 plus one AF_XDP socket per thread/queue.
    Xdp,
    /// A raw AF_PACKET socket per thread (any interface, slower).
    Packet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Attach {
    Auto,
    Native,
    Skb,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Bind {
    Auto,
    ZeroCopy,
    Copy,
}

/// DHCPv4 load generator: simulates many clients (DORA, renew, rebind, INIT-REBOOT, release;
/// directly or as a relay; with VLAN tags) and checks every reply the server sends.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Interface to send on (the server is at the other end of its link).
    #[arg(long)]
    interface: String,
    /// Server address: destination of relayed and unicast (renew, release) requests, and the
    /// server identifier expected in replies unless `--server-id` or `--any-server-id`.
    #[arg(long)]
    server: Option<Ipv4Addr>,
    /// Server hardware address (default: resolved by ARP on the interface).
    #[arg(long)]
    server_mac: Option<String>,
    /// Server identifier (option 54) every reply must carry.
    #[arg(long)]
    server_id: Option<Ipv4Addr>,
    /// Accept any server identifier.
    #[arg(long, conflicts_with = "server_id")]
    any_server_id: bool,

    /// Distinct simulated clients.
    #[arg(long, default_value_t = 10_000)]
    clients: u32,
    /// Hardware address of client 0; client i has this plus i.
    #[arg(long, default_value = "02:d1:00:00:00:00")]
    mac_base: String,
    /// Send option 61: this prefix followed by the client index as 4 bytes (`0x..` for hex).
    #[arg(long)]
    client_id_prefix: Option<String>,

    /// How DORAs are started.
    #[arg(long, value_enum, default_value = "open")]
    mode: Mode,
    /// Open loop: DORAs started per second (also the first rate of `--find-max`).
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,
    /// Closed loop: exchanges in flight.
    #[arg(long, default_value_t = 256)]
    window: u32,
    /// Seconds of sending (avalanche: at most this long).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after starting this many DORAs.
    #[arg(long)]
    count: Option<u64>,
    /// Seconds after which an unanswered exchange is a drop (open and closed loop).
    #[arg(long, default_value_t = 1.0)]
    drop_timeout: f64,

    /// Renewals per second (unicast REQUEST with ciaddr) among bound clients.
    #[arg(long, default_value_t = 0.0)]
    renew_rate: f64,
    /// Rebinds per second (broadcast or relayed REQUEST with ciaddr).
    #[arg(long, default_value_t = 0.0)]
    rebind_rate: f64,
    /// INIT-REBOOTs per second (REQUEST with requested address, no server id).
    #[arg(long, default_value_t = 0.0)]
    reboot_rate: f64,
    /// RELEASEs per second.
    #[arg(long, default_value_t = 0.0)]
    release_rate: f64,
    /// At the end, release every bound client.
    #[arg(long)]
    release: bool,

    /// Act as a relay agent with this giaddr: requests from giaddr:67 to the server, hops 1,
    /// option 82.
    #[arg(long)]
    relay: Option<Ipv4Addr>,
    /// Relay: agent circuit id prefix (followed by the client index).
    #[arg(long, default_value = "circuit-")]
    circuit_id_prefix: String,
    /// Relay: agent remote id prefix (followed by the client index).
    #[arg(long, default_value = "remote-")]
    remote_id_prefix: String,
    /// 802.1Q tag (customer VLAN) of client 0.
    #[arg(long)]
    vlan: Option<u16>,
    /// Spread clients over this many consecutive customer VLANs from `--vlan`.
    #[arg(long, default_value_t = 1)]
    vlan_count: u16,
    /// Outer 802.1ad tag (service VLAN): QinQ with `--vlan`.
    #[arg(long)]
    svlan: Option<u16>,
    /// Set the BROADCAST flag in requests.
    #[arg(long)]
    broadcast: bool,

    /// Smallest lease time accepted, seconds.
    #[arg(long, default_value_t = 1)]
    lease_min: u32,
    /// Largest lease time accepted, seconds (0xffffffff is infinite).
    #[arg(long, default_value_t = u32::MAX)]
    lease_max: u32,
    /// Avalanche: multiply the RFC 2131 back-off (4 s, 8 s, ... 64 s, ±1 s) by this.
    #[arg(long, default_value_t = 1.0)]
    backoff_scale: f64,
    /// Avalanche: transmissions of one message before giving up on it.
    #[arg(long, default_value_t = 8)]
    max_tries: u8,

    /// Step the offered rate to find the highest one whose drops stay within
    /// `--max-drop-pct` (default 2.5 %) within the drop timeout.
    #[arg(long)]
    find_max: bool,
    /// Drop bound of `--find-max`; for plain runs, exit 3 when exceeded.
    #[arg(long)]
    max_drop_pct: Option<f64>,
    /// Seconds per `--find-max` step.
    #[arg(long, default_value_t = 2.0)]
    step_secs: f64,
    /// Most `--find-max` steps.
    #[arg(long, default_value_t = 14)]
    max_steps: usize,
    /// `--find-max` stops when the passing and failing rates are this close (relative).
    #[arg(long, default_value_t = 0.05)]
    precision: f64,

    /// Frame I/O.
    #[arg(long, value_enum, default_value = "xdp")]
    backend: Backend,
    /// Sending threads, each with its own clients and socket (AF_XDP: one queue each).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Pin thread i to the i-th CPU of this list (e.g. `0,1`).
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<usize>,
    /// XDP attach mode.
    #[arg(long, value_enum, default_value = "auto")]
    attach: Attach,
    /// AF_XDP bind mode.
    #[arg(long, value_enum, default_value = "auto")]
    bind: Bind,

    /// Print one JSON object instead of the text report.
    #[arg(long)]
    json: bool,
    /// Print a line of counters every second (stderr).
    #[arg(long)]
    progress: bool,
    /// Seed of transaction ids and back-off jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dhcp-load: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn parse_prefix(s: &str) -> anyhow::Result<Vec<u8>> {
    match s.strip_prefix("0x") {
        Some(hex) => {
            anyhow::ensure!(hex.len() % 2 == 0, "hex prefix {s:?} has an odd length");
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).context("hex prefix"))
                .collect()
        }
        None => Ok(s.as_bytes().to_vec()),
    }
}

/// The configuration of thread `t` of `threads`.
fn fleet_config(
    args: &Args,
    base: &FleetConfig,
    t: usize,
    threads: usize,
) -> anyhow::Result<FleetConfig> {
    let n = args.clients;
    let per = n / threads as u32;
    let first = per * t as u32;
    let count = if t + 1 == threads { n - first } else { per };
    anyhow::ensure!(count > 0, "{threads} threads for {n} clients");
    let share = f64::from(count) / f64::from(n);
    let mut c = base.clone();
    c.first_client = first;
    c.clients = count;
    c.load = match args.mode {
        Mode::Open => Load::Open {
            rate: args.rate * share,
        },
        Mode::Closed => Load::Closed {
            window: ((f64::from(args.window) * share).round() as u32).max(1),
        },
        Mode::Avalanche => Load::Avalanche,
    };
    // Split exactly: every thread its share rounded down, the last one the remainder.
    c.dora_limit = args.count.map(|k| {
        let each = (k as f64 * f64::from(per) / f64::from(n)) as u64;
        if t + 1 == threads {
            k - each * (threads as u64 - 1)
        } else {
            each
        }
    });
    c.renew_rate = args.renew_rate * share;
    c.rebind_rate = args.rebind_rate * share;
    c.reboot_rate = args.reboot_rate * share;
    c.release_rate = args.release_rate * share;
    c.seed = args.seed.wrapping_add(t as u64);
    Ok(c)
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    signals::install_handlers()?;
    anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
    anyhow::ensure!(args.duration > 0.0, "--duration must be positive");
    let ifindex = dhcp_user::steer::ifindex(&args.interface)
        .with_context(|| format!("interface {}", args.interface))?;
    let iface_mac = dhcp_user::io::interface_mac(&args.interface)
        .with_context(|| format!("reading the MAC address of {}", args.interface))?;
    let mac_base = net::parse_mac(&args.mac_base).map_err(anyhow::Error::msg)?;
    let needs_server_mac =
        args.relay.is_some() || args.renew_rate > 0.0 || args.release_rate > 0.0 || args.release;
    let server_mac: Option<MacAddr> = match (&args.server_mac, args.server) {
        (Some(m), _) => Some(net::parse_mac(m).map_err(anyhow::Error::msg)?),
        (None, Some(ip)) => match net::resolve_mac(&args.interface, ip, Duration::from_secs(2)) {
            Ok(m) => Some(m),
            Err(e) if needs_server_mac => return Err(e.into()),
            Err(_) => None,
        },
        (None, None) => None,
    };
    if needs_server_mac && args.server.is_none() {
        bail!("--relay, renew and release need --server");
    }

    let mut base = FleetConfig::new(args.clients);
    base.total_clients = args.clients;
    base.mac_base = mac_base;
    base.client_id_prefix = args
        .client_id_prefix
        .as_deref()
        .map(parse_prefix)
        .transpose()?;
    base.drop_timeout = Duration::from_secs_f64(args.drop_timeout);
    base.backoff = Backoff {
        scale: args.backoff_scale,
        max_tries: args.max_tries,
    };
    base.iface_mac = iface_mac;
    base.server = args.server;
    base.server_mac = server_mac;
    base.expect_server_id = if args.any_server_id {
        None
    } else {
        args.server_id.or(args.server)
    };
    base.lease_secs = args.lease_min..=args.lease_max;
    base.relay = args.relay.map(|giaddr| Relay {
        giaddr,
        circuit_id_prefix: args.circuit_id_prefix.as_bytes().to_vec(),
        remote_id_prefix: args.remote_id_prefix.as_bytes().to_vec(),
    });
    base.vlans = Vlans {
        outer: args.svlan,
        inner: args.vlan,
        inner_count: args.vlan_count,
    };
    base.broadcast_flag = args.broadcast;
    base.xid_key = (args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32;
    let threads = args.threads;
    let configs: Vec<FleetConfig> = (0..threads)
        .map(|t| fleet_config(args, &base, t, threads))
        .collect::<anyhow::Result<_>>()?;
    for c in &configs {
        c.validate().context("configuration")?;
    }

    // Ports.
    let mut plane = None;
    let ports: Vec<Box<dyn FrameIo>> = match args.backend {
        Backend::Xdp => {
            let queues = rx_queue_count(&args.interface).unwrap_or(1) as usize;
            if queues < threads {
                bail!(
                    "{} has {queues} queue(s): AF_XDP needs one per thread; use --threads {queues} or --backend packet",
                    args.interface
                );
            }
            let p = XdpPlane::open(&XdpPlaneConfig {
                interface: args.interface.clone(),
                queues: (0..threads as u32).collect(),
                attach: match args.attach {
                    Attach::Auto => AttachMode::Auto,
                    Attach::Native => AttachMode::Native,
                    Attach::Skb => AttachMode::Skb,
                },
                xsk: XskConfig {
                    frame_count: 8192,
                    frame_size: 2048,
                    rx_size: 4096,
                    tx_size: 4096,
                    fill_size: 4096,
                    comp_size: 4096,
                    tx_reserve: 4096,
                    bind_mode: match args.bind {
                        Bind::Auto => BindMode::Auto,
                        Bind::ZeroCopy => BindMode::ZeroCopy,
                        Bind::Copy => BindMode::Copy,
                    },
                    need_wakeup: true,
                },
                pin_dir: None,
                // Relayed replies come to port 67, direct ones to port 68.
                ports: (67, 68),
            })
            .with_context(|| format!("attaching XDP and AF_XDP to {}", args.interface))?;
            let XdpPlane {
                steering, ports, ..
            } = p;
            plane = Some(steering);
            ports
                .into_iter()
                .map(|p| Box::new(XdpIo::new(p)) as Box<dyn FrameIo>)
                .collect()
        }
        Backend::Packet => (0..threads)
            .map(|_| {
                PacketIo::open(ifindex)
                    .map(|p| Box::new(p) as Box<dyn FrameIo>)
                    .context("opening an AF_PACKET socket")
            })
            .collect::<anyhow::Result<_>>()?,
    };

    let registry = Arc::new(Registry::new(args.clients));
    let fleets: Vec<Fleet> = configs
        .into_iter()
        .map(|c| Fleet::with_registry(c, registry.clone()))
        .collect::<Result<_, _>>()?;
    let bytes_per_client = (fleets.iter().map(Fleet::memory_bytes).sum::<usize>()
        + registry.memory_bytes()) as f64
        / f64::from(args.clients);
    let shared = Arc::new(Shared::new(
        threads,
        args.clients / threads as u32,
        args.backend == Backend::Xdp,
    ));
    let origin = Instant::now();
    shared
        .control
        .rate_milli
        .store(per_thread_milli(args.rate, threads), Ordering::Release);
    let handles: Vec<_> = fleets
        .into_iter()
        .zip(ports)
        .enumerate()
        .map(|(id, (fleet, io))| {
            let w = Worker {
                id,
                fleet,
                io,
                shared: shared.clone(),
                origin,
                cpu: (!args.cpus.is_empty()).then(|| args.cpus[id % args.cpus.len()]),
            };
            std::thread::Builder::new()
                .name(format!("dhcp-load-{id}"))
                .spawn(move || w.run())
        })
        .collect::<Result<_, _>>()?;
    // Let every thread publish before the first change.
    shared.change(|_| {});

    let outcome = if args.find_max {
        find_max(args, &shared)
    } else {
        plain(args, &shared)
    };
    shared.control.stop.store(true, Ordering::Release);
    let mut stats = Stats::default();
    let mut io_total = Default::default();
    for h in handles {
        match h.join() {
            Ok(p) => {
                stats.add(&p.stats);
                runner::add_io(&mut io_total, &p.io);
            }
            Err(_) => bail!("a generator thread panicked"),
        }
    }
    drop(plane);
    let (duration_secs, search) = outcome?;
    let mut run = RunInfo {
        mode: format!("{:?}", args.mode).to_lowercase(),
        backend: format!("{:?}", args.backend).to_lowercase(),
        interface: args.interface.clone(),
        threads: threads as u32,
        clients: args.clients,
        target_rate: (args.mode == Mode::Open && !args.find_max).then_some(args.rate),
        window: (args.mode == Mode::Closed).then_some(args.window),
        relay: args.relay,
        vlans: [args.svlan, args.vlan].into_iter().flatten().collect(),
        duration_secs,
        elapsed_secs: origin.elapsed().as_secs_f64(),
        bytes_per_client: (bytes_per_client * 10.0).round() / 10.0,
    };
    run.elapsed_secs = (run.elapsed_secs * 1000.0).round() / 1000.0;
    let mut report = Report::new(run, &stats, io_total, mac_base);
    if let Some(s) = search {
        let best = s.best();
        report.find_max = Some(FindMaxReport {
            max_rate: best.map(|b| b.offered),
            completed_per_sec: best.map(|b| b.completed),
            drop_pct: best.map(|b| b.drop_pct),
            max_drop_pct: args.max_drop_pct.unwrap_or(2.5),
            end: s.end(),
            steps: s.steps().to_vec(),
        });
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    if !report.ok {
        return Ok(ExitCode::from(1));
    }
    let incomplete = match (&report.avalanche, args.max_drop_pct) {
        (Some(a), _) => a.provisioned < a.clients,
        (None, Some(max)) if !args.find_max => report.drop_pct > max,
        _ => false,
    };
    Ok(if incomplete {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn per_thread_milli(rate: f64, threads: usize) -> u64 {
    (rate * 1000.0 / threads as f64).max(0.0) as u64
}

/// Sleeps in small steps until `secs` pass, a signal arrives, or `done` says so; prints
/// progress lines when asked. Returns the seconds actually spent.
fn sleep_while(
    args: &Args,
    shared: &Shared,
    secs: f64,
    mut done: impl FnMut(&runner::Published, bool) -> bool,
) -> f64 {
    let start = Instant::now();
    let mut last_line = Instant::now();
    let mut last = shared.snapshot().0;
    while start.elapsed().as_secs_f64() < secs && !signals::stop_requested() {
        std::thread::sleep(Duration::from_millis(10));
        let (snap, all_done) = shared.snapshot();
        if done(&snap, all_done) {
            break;
        }
        if args.progress && last_line.elapsed() >= Duration::from_secs(1) {
            let d = snap.stats.since(&last.stats);
            let dt = last_line.elapsed().as_secs_f64();
            eprintln!(
                "t={:>6.1}s started {:>8.0}/s completed {:>8.0}/s failed {:>6} inflight {:>6} violations {}",
                start.elapsed().as_secs_f64(),
                d.dora_started as f64 / dt,
                d.dora_completed as f64 / dt,
                d.dora_failed,
                snap.inflight,
                snap.stats.violations.total()
            );
            last = snap;
            last_line = Instant::now();
        }
    }
    start.elapsed().as_secs_f64()
}

/// Stops starting and waits until nothing is in flight (bounded by the drop timeout).
fn drain(args: &Args, shared: &Shared) {
    shared.change(|c| c.starting.store(false, Ordering::Release));
    let bound = if args.mode == Mode::Avalanche {
        0.0
    } else {
        args.drop_timeout + 0.3
    };
    sleep_while(args, shared, bound, |s, _| s.inflight == 0);
}

fn plain(args: &Args, shared: &Shared) -> anyhow::Result<(f64, Option<RateSearch>)> {
    shared.change(|c| {
        c.rate_milli
            .store(per_thread_milli(args.rate, args.threads), Ordering::Release);
        c.starting.store(true, Ordering::Release);
    });
    let secs = sleep_while(args, shared, args.duration, |_, all_done| all_done);
    drain(args, shared);
    if args.release {
        shared.change(|c| c.release_all.store(true, Ordering::Release));
        std::thread::sleep(Duration::from_millis(300));
        shared.change(|c| c.release_all.store(false, Ordering::Release));
    }
    Ok((secs, None))
}

fn find_max(args: &Args, shared: &Shared) -> anyhow::Result<(f64, Option<RateSearch>)> {
    anyhow::ensure!(
        args.mode == Mode::Open,
        "--find-max steps the open-loop rate: use --mode open"
    );
    let mut search = RateSearch::new(
        args.rate,
        args.max_drop_pct.unwrap_or(2.5),
        args.precision,
        args.max_steps,
    );
    let mut before = shared.snapshot().0.stats;
    let mut total_secs = 0.0;
    while let Some(rate) = search.next_rate() {
        if signals::stop_requested() {
            break;
        }
        shared.change(|c| {
            c.rate_milli
                .store(per_thread_milli(rate, args.threads), Ordering::Release);
            c.starting.store(true, Ordering::Release);
        });
        let secs = sleep_while(args, shared, args.step_secs, |_, _| false);
        total_secs += secs;
        drain(args, shared);
        let after = shared.snapshot().0.stats;
        let d = after.since(&before);
        before = after;
        search.record(
            d.dora_started as f64 / secs,
            d.dora_completed as f64 / secs,
            d.dora_drop_pct(),
        );
        if args.progress {
            eprintln!(
                "step target {rate:.0}/s: offered {:.0}/s completed {:.0}/s drop {:.2} %",
                d.dora_started as f64 / secs,
                d.dora_completed as f64 / secs,
                d.dora_drop_pct()
            );
        }
    }
    Ok((total_secs, Some(search)))
}

const _: () = assert!(MIN_FRAME_BUFFER <= 2048);

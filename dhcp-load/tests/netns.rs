//! `dhcp-load` end to end in a network-namespace lab (needs root): against the real `xdhcpd`
//! on its AF_XDP path every client is provisioned and every reply passes; against a small
//! responder that hands one address to everybody (or answers with a wrong xid) `dhcp-load`
//! names the fault and exits non-zero.
//!
//! Privileged: without root each test says so and returns. As root, build the daemon first
//! (`cargo build -p dhcp-user --bins`; `cargo xtask test` does) and run
//! `cargo test -p dhcp-load --test netns`.
//! Every run is bounded in time and client count, and the lab's namespaces are deleted on drop.

use std::{
    io::Read,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use dhcp_load::testing::{FakeServer, Misbehaviour};
use xdhcp_tests::{frames::PacketSocket, netns::VethLab, require_root};

const DHCP_LOAD: &str = env!("CARGO_BIN_EXE_dhcp-load");

/// `xdhcpd` and `xdhcpctl`, built next to `dhcp-load` (`cargo build -p dhcp-user`).
fn sibling(name: &str) -> PathBuf {
    let p = Path::new(DHCP_LOAD).with_file_name(name);
    assert!(
        p.exists(),
        "{} not found: build it first with `cargo build -p dhcp-user`",
        p.display()
    );
    p
}

/// Waits for `child` at most `limit`, killing it when the time is up.
fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("waiting") {
            return st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let st = child.wait().expect("reaping");
            panic!("process ran over {limit:?}: {st}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs dhcp-load in the lab's peer namespace with `args` (JSON output) and returns its exit
/// code and report.
fn dhcp_load(lab: &VethLab, args: &[&str], limit: Duration) -> (i32, serde_json::Value, String) {
    let mut child = lab
        .peer
        .command(DHCP_LOAD)
        .args(["--interface", &lab.peer_if, "--json"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting dhcp-load");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let st = wait_bounded(&mut child, limit);
    let stdout = reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("dhcp-load printed no JSON ({e}); status {st}\nstdout: {stdout}\nstderr: {stderr}")
    });
    (st.code().unwrap_or(-1), json, stderr)
}

/// An xdhcpd in the server namespace, stopped (SIGTERM) on drop.
struct Daemon {
    child: Child,
    dir: PathBuf,
}

const TWO_SUBNETS: &str = r#"[[subnet]]
id = 1
network = "10.77.0.0/16"
pools = ["10.77.1.0-10.77.255.250"]
[[subnet]]
id = 2
network = "10.78.0.0/16"
pools = ["10.78.0.10-10.78.255.250"]
"#;

/// The bearer token of the daemons' control API.
const TOKEN: &str = "dhcp-load-netns-token-0123456789";

impl Daemon {
    fn start(lab: &VethLab, tag: &str) -> Daemon {
        Daemon::start_with(lab, tag, TWO_SUBNETS)
    }

    /// The daemon's configuration: the lab's `[server]` and `[control]` (socket and token in
    /// the daemon's directory) tables followed by `rest`.
    fn config(lab: &VethLab, dir: &Path, rest: &str) -> String {
        format!(
            r#"[server]
interfaces = [{{ name = "{iface}", address = "10.77.0.1" }}]
backend = "xdp"
workers = 1
state-dir = "{state}"
[server.xdp]
pin-dir = ""
[server.journal]
sync = "durable"
[control]
socket = "{sock}"
token-file = "{token}"
{rest}"#,
            iface = lab.server_if,
            state = dir.join("state").display(),
            sock = dir.join("control.sock").display(),
            token = dir.join("token").display(),
        )
    }

    fn start_with(lab: &VethLab, tag: &str, rest: &str) -> Daemon {
        let dir = std::env::temp_dir().join(format!("dhcp-load-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).expect("state dir");
        std::fs::write(dir.join("token"), format!("{TOKEN}\n")).expect("token file");
        let cfg = dir.join("xdhcpd.toml");
        std::fs::write(&cfg, Daemon::config(lab, &dir, rest)).expect("writing the config");
        let log = std::fs::File::create(dir.join("xdhcpd.log")).expect("log file");
        let child = lab
            .server
            .command(sibling("xdhcpd"))
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting xdhcpd");
        let d = Daemon { child, dir };
        let end = Instant::now() + Duration::from_secs(10);
        while !d.log().contains("xdhcpd serving") {
            assert!(Instant::now() < end, "xdhcpd did not start:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// Writes `rest` as the new configuration (same `[server]` and `[control]`).
    fn rewrite(&self, lab: &VethLab, rest: &str) {
        std::fs::write(
            self.dir.join("xdhcpd.toml"),
            Daemon::config(lab, &self.dir, rest),
        )
        .expect("writing the config");
    }

    /// The log lines of finished reloads so far.
    fn reloads(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("configuration reloaded"))
            .map(str::to_owned)
            .collect()
    }

    /// SIGHUP and wait for the daemon to log the reload; returns its log line.
    fn sighup(&self) -> String {
        let before = self.reloads().len();
        // Safety: signalling our own child by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGHUP) };
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(l) = self.reloads().get(before) {
                return l.clone();
            }
            assert!(Instant::now() < end, "no reload logged:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// xdhcpctl against this daemon: (success, stdout, stderr).
    fn ctl(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(sibling("xdhcpctl"))
            .arg("--socket")
            .arg(self.dir.join("control.sock"))
            .arg("--token-file")
            .arg(self.dir.join("token"))
            .args(args)
            .output()
            .expect("xdhcpctl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("xdhcpd.log")).unwrap_or_default()
    }

    /// Stops the daemon and returns the active bindings of its journal: (address, MAC).
    fn stop_and_dump(mut self) -> Vec<(String, String)> {
        self.terminate();
        let out = Command::new(sibling("xdhcpctl"))
            .args(["journal-dump", "--json", "--state", "active", "--state-dir"])
            .arg(self.dir.join("state"))
            .output()
            .expect("xdhcpctl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                (
                    v["address"].as_str().unwrap_or_default().to_string(),
                    v["hw-address"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    fn terminate(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // Safety: signalling our own child by its pid.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            wait_bounded(&mut self.child, Duration::from_secs(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Distinct hardware addresses and distinct addresses among active bindings (address, MAC).
fn distinct(bound: &[(String, String)]) -> (usize, usize) {
    let macs: std::collections::HashSet<_> = bound.iter().map(|b| &b.1).collect();
    let addrs: std::collections::HashSet<_> = bound.iter().map(|b| &b.0).collect();
    (macs.len(), addrs.len())
}

fn violations(report: &serde_json::Value) -> u64 {
    report["violations"]["total"]
        .as_u64()
        .expect("violations.total")
}

#[test]
fn five_thousand_relayed_clients_through_xdhcpd_on_af_xdp() {
    require_root!();
    let lab = VethLab::new("dl", 1).expect("lab");
    let daemon = Daemon::start(&lab, "relay");
    let (code, r, stderr) = dhcp_load(
        &lab,
        &[
            "--server",
            "10.77.0.1",
            "--relay",
            "10.78.0.1",
            "--clients",
            "5000",
            "--count",
            "5000",
            "--mode",
            "closed",
            "--window",
            "128",
            "--duration",
            "20",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(violations(&r), 0, "{r:#}\n{stderr}");
    assert_eq!(code, 0, "{r:#}\n{stderr}");
    assert_eq!(r["dora_completed"], 5000, "{r:#}");
    assert_eq!(r["dora_failed"], 0, "{r:#}");
    assert_eq!(r["io"]["rx_kernel_drops"], 0, "{r:#}");
    // The server's journal agrees: 5,000 clients, 5,000 distinct addresses.
    let bound = daemon.stop_and_dump();
    let (macs, addrs) = distinct(&bound);
    assert_eq!(
        (macs, addrs),
        (5000, 5000),
        "distinct clients and addresses"
    );
    assert!(bound.iter().all(|(a, _)| a.starts_with("10.78.")));
}

#[test]
fn direct_clients_renew_rebind_reboot_and_release_through_xdhcpd() {
    require_root!();
    let lab = VethLab::new("dd", 1).expect("lab");
    let daemon = Daemon::start(&lab, "direct");
    let (code, r, stderr) = dhcp_load(
        &lab,
        &[
            "--server",
            "10.77.0.1",
            "--clients",
            "2000",
            "--count",
            "2000",
            "--rate",
            "2000",
            "--duration",
            "3",
            "--renew-rate",
            "300",
            "--rebind-rate",
            "200",
            "--reboot-rate",
            "200",
            "--release",
            "--vlan",
            "100",
            "--vlan-count",
            "4",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(violations(&r), 0, "{r:#}\n{stderr}");
    assert_eq!(code, 0, "{r:#}\n{stderr}");
    assert_eq!(r["dora_completed"], 2000, "{r:#}");
    let ex = r["exchanges"].as_array().expect("exchanges");
    for kind in ["renew", "rebind", "reboot", "release"] {
        let e = ex
            .iter()
            .find(|e| e["exchange"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {r:#}"));
        assert!(e["sent"].as_u64().unwrap_or(0) > 0, "{kind}: {e:#}");
        assert_eq!(e["drops"], 0, "{kind}: {e:#}");
    }
    // Everything was released at the end.
    let bound = daemon.stop_and_dump();
    assert!(bound.is_empty(), "still active: {}", bound.len());
}

/// Serves DHCP on the lab's server interface with the fake server until `stop`.
fn respond(lab: &VethLab, fault: Misbehaviour, stop: &AtomicBool) {
    lab.server.run(|| {
        let mac = dhcp_user::io::interface_mac(&lab.server_if).expect("server MAC");
        let sock = PacketSocket::open(&lab.server_if).expect("packet socket");
        let mut srv = FakeServer::new(
            Ipv4Addr::new(10, 77, 0, 1),
            mac,
            Ipv4Addr::new(10, 77, 1, 0),
            10_000,
        )
        .misbehaving(fault);
        let mut out = vec![0u8; 2048];
        let end = Instant::now() + Duration::from_secs(30);
        while !stop.load(Ordering::Acquire) && Instant::now() < end {
            let frame = sock
                .recv_matching(Duration::from_millis(50), |f| {
                    dhcp_wire::frame::parse_udp_frame(f).is_ok_and(|u| u.udp.dst_port == 67)
                })
                .expect("receiving");
            if let Some(f) = frame {
                if let Some(n) = srv.handle(&f, &mut out) {
                    sock.send(&out[..n]).expect("sending");
                }
            }
        }
    });
}

/// Runs 200 clients against a responder with `fault`; returns dhcp-load's exit code and report.
fn against_faulty_responder(tag: &str, fault: Misbehaviour) -> (i32, serde_json::Value) {
    let lab = VethLab::new(tag, 1).expect("lab");
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let responder = s.spawn(|| respond(&lab, fault, &stop));
        std::thread::sleep(Duration::from_millis(200));
        let (code, r, _) = dhcp_load(
            &lab,
            &[
                "--server",
                "10.77.0.1",
                "--clients",
                "200",
                "--count",
                "200",
                "--rate",
                "500",
                "--duration",
                "3",
            ],
            Duration::from_secs(20),
        );
        stop.store(true, Ordering::Release);
        responder.join().expect("responder");
        (code, r)
    })
}

#[test]
fn a_responder_giving_one_address_to_everybody_is_reported() {
    require_root!();
    let (code, r) = against_faulty_responder("dx", Misbehaviour::SameAddressForAll);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["ok"], false);
    assert_eq!(
        r["violations"]["by_kind"]["duplicate_address"], 199,
        "{r:#}"
    );
    let first = &r["violations"]["first"][0];
    assert_eq!(first["kind"], "duplicate_address", "{r:#}");
    assert_eq!(first["yiaddr"], "10.77.1.0");
}

#[test]
fn a_responder_with_wrong_xids_is_reported() {
    require_root!();
    let (code, r) = against_faulty_responder("dw", Misbehaviour::WrongXid);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["violations"]["by_kind"]["wrong_xid"], 200, "{r:#}");
    assert_eq!(r["dora_completed"], 0);
}

/// Subnet 2 (the relayed clients') with two pools, a DNS server, and `more` appended.
fn reload_config(pools: &str, dns: &str, more: &str) -> String {
    format!(
        r#"[[subnet]]
id = 1
network = "10.77.0.0/16"
pools = ["10.77.1.0-10.77.255.250"]
[[subnet]]
id = 2
network = "10.78.0.0/16"
pools = [{pools}]
dns-servers = ["{dns}"]
{more}"#
    )
}

const POOL_A: &str = "\"10.78.0.10-10.78.127.255\"";
const POOL_B: &str = "\"10.78.128.0-10.78.255.250\"";
const SUBNET_3: &str = r#"[[subnet]]
id = 3
network = "10.79.0.0/16"
pools = ["10.79.0.10-10.79.255.250"]
"#;
const SPARE_RELATIONSHIP: &str = r#"[[failover]]
name = "spare"
role = "primary"
partner = "10.77.0.99"
local-address = "10.77.0.1"
shared-secret = "reload-under-load-secret"
mclt = "60s"
load-balance-percent = 50
subnets = [3]
"#;

fn in_pool_a(addr: &str) -> bool {
    let a: Ipv4Addr = addr.parse().expect("address");
    let o = a.octets();
    o[0] == 10 && o[1] == 78 && o[2] < 128
}

/// Issue: "no packet dropped and no lease lost across a reload under load". dhcp-load offers
/// 1,000 relayed DORAs per second with renewals while the configuration is reloaded five
/// times (SIGHUP and the API): a subnet added and its options changed, a pool holding leases
/// removed, a failover relationship added, a broken file refused. Every exchange is answered
/// and checked (the only NAKs allowed are for offers of the removed pool outstanding at its
/// removal), and every lease granted before or during the reloads is still bound at the end,
/// the removed pool's included.
#[test]
fn reloads_under_load_drop_nothing_and_keep_every_lease() {
    require_root!();
    let lab = VethLab::new("dr", 1).expect("lab");
    let daemon = Daemon::start_with(
        &lab,
        "reload",
        &reload_config(&format!("{POOL_A}, {POOL_B}"), "10.78.0.1", ""),
    );
    // 600 clients bound before the reloads, about half of them in pool A.
    let (code, r, stderr) = dhcp_load(
        &lab,
        &[
            "--server",
            "10.77.0.1",
            "--relay",
            "10.78.0.1",
            "--mac-base",
            "02:d1:00:00:00:00",
            "--clients",
            "600",
            "--count",
            "600",
            "--mode",
            "closed",
            "--window",
            "64",
            "--duration",
            "10",
        ],
        Duration::from_secs(20),
    );
    assert_eq!((code, violations(&r)), (0, 0), "{r:#}\n{stderr}");
    assert_eq!(r["dora_completed"], 600, "{r:#}");

    // The load: 12,000 more clients at 1,000 DORA/s plus 200 renewals/s, for 12 s.
    let started = Instant::now();
    let mut removal = (Duration::ZERO, Duration::ZERO);
    let load = std::thread::scope(|s| {
        let load = s.spawn(|| {
            dhcp_load(
                &lab,
                &[
                    "--server",
                    "10.77.0.1",
                    "--relay",
                    "10.78.0.1",
                    "--mac-base",
                    "02:d2:00:00:00:00",
                    "--clients",
                    "12000",
                    "--count",
                    "12000",
                    "--mode",
                    "open",
                    "--rate",
                    "1000",
                    "--renew-rate",
                    "200",
                    "--duration",
                    "12",
                ],
                Duration::from_secs(30),
            )
        });
        std::thread::sleep(Duration::from_secs(2));
        // 1. SIGHUP: a subnet added, subnet 2's DNS server changed.
        daemon.rewrite(
            &lab,
            &reload_config(&format!("{POOL_A}, {POOL_B}"), "10.78.0.53", SUBNET_3),
        );
        let line = daemon.sighup();
        assert!(line.contains("subnets=\"2 -> 3\""), "{line}");
        std::thread::sleep(Duration::from_secs(2));
        // 2. The API: pool A removed; its leases are kept.
        daemon.rewrite(&lab, &reload_config(POOL_B, "10.78.0.53", SUBNET_3));
        removal.0 = started.elapsed();
        let (good, out, err) = daemon.ctl(&["config-reload"]);
        removal.1 = started.elapsed();
        assert!(good, "{out}\n{err}");
        let line = daemon.reloads().pop().expect("reload logged");
        let kept: u64 = line
            .split("leases_kept_outside_pools=")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no leases_kept_outside_pools in {line}"));
        assert!(kept > 0, "pool A held leases: {line}");
        std::thread::sleep(Duration::from_secs(2));
        // 3. SIGHUP: a failover relationship added (for the new subnet; its partner is away).
        daemon.rewrite(
            &lab,
            &format!(
                "{}{SPARE_RELATIONSHIP}",
                reload_config(POOL_B, "10.78.0.53", SUBNET_3)
            ),
        );
        let line = daemon.sighup();
        assert!(line.contains("relationships=\"0 -> 1\""), "{line}");
        std::thread::sleep(Duration::from_secs(2));
        // 4. The API: a broken file (pool outside its subnet) is refused, the running one stays.
        daemon.rewrite(
            &lab,
            &reload_config("\"10.99.0.1-10.99.0.9\"", "10.78.0.53", SUBNET_3),
        );
        let (good, out, err) = daemon.ctl(&["config-reload"]);
        assert!(
            !good && err.contains("422") && err.contains("pools"),
            "{out}\n{err}"
        );
        // 5. SIGHUP: the good file back.
        daemon.rewrite(
            &lab,
            &format!(
                "{}{SPARE_RELATIONSHIP}",
                reload_config(POOL_B, "10.78.0.53", SUBNET_3)
            ),
        );
        daemon.sighup();
        load.join().expect("load thread")
    });
    let (code, r, stderr) = load;
    // An OFFER of a pool-A address still outstanding when the pool went is withdrawn: the
    // client's REQUEST gets a NAK (it starts again with a DISCOVER). That may happen only to
    // exchanges in flight across the removal, and is the only complaint allowed.
    let naks = r["violations"]["by_kind"]["nak"].as_u64().unwrap_or(0);
    assert_eq!(violations(&r), naks, "{r:#}\n{stderr}");
    assert!(naks <= 50, "{naks} NAKs: {r:#}");
    let window = (removal.0.as_millis() as f64 - 500.0)..(removal.1.as_millis() as f64 + 1500.0);
    for v in r["violations"]["first"]
        .as_array()
        .expect("violations.first")
    {
        let at = v["at_ms"].as_f64().expect("at_ms");
        assert!(
            window.contains(&at),
            "a NAK at {at} ms, outside the pool removal {window:?}: {v:#}"
        );
    }
    assert_eq!(code, if naks == 0 { 0 } else { 1 }, "{r:#}\n{stderr}");
    // Started: 12,000 unless the generator itself fell behind (its `starts_missed`).
    let begun = r["dora_started"].as_u64().expect("dora_started");
    assert!(begun >= 11_000, "{r:#}");
    assert_eq!(r["dora_completed"].as_u64(), Some(begun - naks), "{r:#}");
    assert_eq!(r["dora_failed"].as_u64(), Some(naks), "{r:#}");
    assert_eq!(r["io"]["rx_kernel_drops"], 0, "{r:#}");
    let ex = r["exchanges"].as_array().expect("exchanges");
    for e in ex {
        assert_eq!(e["drops"], 0, "{e:#}");
    }
    assert!(
        ex.iter()
            .any(|e| e["exchange"] == "renew" && e["sent"].as_u64() > Some(0)),
        "{r:#}"
    );
    // Four reloads applied (the refused one changed nothing).
    assert_eq!(daemon.reloads().len(), 4, "{}", daemon.log());

    // No lease lost: every client that completed a DORA is bound, to distinct addresses, pool A's included.
    let bound = daemon.stop_and_dump();
    let (macs, addrs) = distinct(&bound);
    let want = (600 + begun - naks) as usize;
    assert_eq!(
        (macs, addrs),
        (want, want),
        "distinct clients and addresses bound at the end"
    );
    let early_in_a = bound
        .iter()
        .filter(|(a, m)| m.starts_with("02:d1:") && in_pool_a(a))
        .count();
    assert!(early_in_a > 0, "leases of the removed pool are kept");
}

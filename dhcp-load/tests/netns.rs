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

impl Daemon {
    fn start(lab: &VethLab, tag: &str) -> Daemon {
        let dir = std::env::temp_dir().join(format!("dhcp-load-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).expect("state dir");
        let config = format!(
            r#"[server]
interfaces = [{{ name = "{iface}", address = "10.77.0.1" }}]
backend = "xdp"
workers = 1
state-dir = "{state}"
[server.xdp]
pin-dir = ""
[server.journal]
sync = "durable"
[[subnet]]
id = 1
network = "10.77.0.0/16"
pools = ["10.77.1.0-10.77.255.250"]
[[subnet]]
id = 2
network = "10.78.0.0/16"
pools = ["10.78.0.10-10.78.255.250"]
"#,
            iface = lab.server_if,
            state = dir.join("state").display()
        );
        let cfg = dir.join("xdhcpd.toml");
        std::fs::write(&cfg, config).expect("writing the config");
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
    let macs: std::collections::HashSet<_> = bound.iter().map(|b| &b.1).collect();
    let addrs: std::collections::HashSet<_> = bound.iter().map(|b| &b.0).collect();
    assert_eq!(macs.len(), 5000);
    assert_eq!(addrs.len(), 5000);
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

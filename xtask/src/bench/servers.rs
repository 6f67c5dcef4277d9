//! The servers the benchmark compares, their configurations and how each is started.
//!
//! Every server gets the same two subnets: the lab link 10.77.0.0/24 (where its interface
//! lives) and the relayed 10.96.0.0/12 with one pool of 1,048,561 addresses, enough for the
//! million-client avalanche. Each row starts from an empty lease database.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::lab::{
    Daemon, FO_PARTNER_IP, FO_PRIMARY_IP, GEN_CPU, Lab, PART_IF, PART_NS, SERVER_IP, SRV_CPU,
    SRV_IF, SRV_NS,
};

/// The relayed pool (inside 10.96.0.0/12, the giaddr 10.96.0.1 left out).
pub const POOL_FIRST: &str = "10.96.0.10";
pub const POOL_LAST: &str = "10.111.255.250";
/// ISC dhcpd 4.4 gets a smaller pool: its time per DORA grows with the pool (quick runs
/// here: about 2,000 DORA/s with 8,000 addresses, 190 with 65,000, 46 with 262,000), so a
/// /12 pool would measure that rather than its request path. 65,521 addresses, and
/// `ISC_CLIENTS` clients a phase so that the row's four phases fit.
const ISC_POOL_LAST: &str = "10.96.255.250";
pub const ISC_CLIENTS: u32 = 15_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// xdhcpd on the AF_XDP path, durable journal (ACK after fsync).
    Xdp,
    /// xdhcpd on its kernel UDP socket backend, durable journal.
    Socket,
    /// xdhcpd on the AF_XDP path with a failover partner (load balance, lazy updates).
    Failover,
    /// kea-dhcp4, memfile lease database with persistence.
    Kea,
    /// ISC dhcpd 4.4 (leases file, fsync per commit).
    Isc,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Xdp,
        Kind::Socket,
        Kind::Failover,
        Kind::Kea,
        Kind::Isc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Xdp => "xdhcpd-xdp",
            Kind::Socket => "xdhcpd-socket",
            Kind::Failover => "xdhcpd-failover",
            Kind::Kea => "kea",
            Kind::Isc => "isc-dhcpd",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Xdp => "xdhcpd, AF_XDP, durable journal",
            Kind::Socket => "xdhcpd, UDP socket, durable journal",
            Kind::Failover => "xdhcpd, AF_XDP, durable, failover partner",
            Kind::Kea => "kea-dhcp4 2.2, memfile persist",
            Kind::Isc => "ISC dhcpd 4.4",
        }
    }

    /// First rate of `--find-max` (it doubles from here until a step fails, then bisects).
    pub fn start_rate(self) -> f64 {
        match self {
            Kind::Xdp | Kind::Socket | Kind::Failover => 10_000.0,
            Kind::Kea => 2_000.0,
            Kind::Isc => 250.0,
        }
    }

    /// Clients a phase: the plan's, or fewer where the server's pool is smaller.
    pub fn clients(self, planned: u32) -> u32 {
        match self {
            Kind::Isc => planned.min(ISC_CLIENTS),
            _ => planned,
        }
    }

    pub fn is_xdhcpd(self) -> bool {
        matches!(self, Kind::Xdp | Kind::Socket | Kind::Failover)
    }
}

/// A started server: `daemons[0]` answers the clients; a failover partner follows.
pub struct Server {
    pub daemons: Vec<Daemon>,
}

impl Server {
    pub fn pids(&self) -> Vec<u32> {
        self.daemons.iter().map(Daemon::pid).collect()
    }

    pub fn check_alive(&mut self) -> Result<()> {
        self.daemons.iter_mut().try_for_each(Daemon::check_alive)
    }

    /// Stops every daemon (SIGTERM, a clean exit awaited) and returns xdhcpd's summary
    /// lines ("xdhcpd stopped received=…"), the partner's after the server's.
    pub fn stop(mut self) -> Option<String> {
        for d in self.daemons.iter_mut().rev() {
            d.stop(Duration::from_secs(15));
        }
        let lines: Vec<String> = self
            .daemons
            .iter()
            .filter_map(|d| {
                let log = d.log_text();
                let l = log.lines().rev().find(|l| l.contains("xdhcpd stopped"))?;
                Some(format!(
                    "{}: {}",
                    d.name,
                    &l[l.find("received=").unwrap_or(0)..]
                ))
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("; "))
    }

    /// Lines of the server's log that say how its data plane came up.
    pub fn plane_note(&self) -> Option<String> {
        let log = self.daemons.first()?.log_text();
        log.lines()
            .find(|l| l.contains("XDP program attached") || l.contains("serving on a UDP"))
            .map(|l| l[l.find("interface").unwrap_or(0)..].to_owned())
    }
}

/// The control API's Unix socket goes in the row's directory (the default is under /run,
/// outside the lab) and no token file is read (the bench changes nothing through the API);
/// its TCP listener stays on the namespace's own loopback, as deployed.
fn xdhcpd_config(
    backend: &str,
    interface: (&str, &str),
    state: &Path,
    control: &Path,
    failover: &str,
) -> String {
    format!(
        r#"# Written by cargo xtask bench.
[server]
interfaces = [{{ name = "{ifname}", address = "{addr}" }}]
backend = "{backend}"
workers = 1
state-dir = "{state}"

[server.xdp]
pin-dir = ""

[server.journal]
sync = "durable"

[[subnet]]
id = 1
network = "10.77.0.0/24"
pools = ["10.77.0.100-10.77.0.200"]

[[subnet]]
id = 2
network = "10.96.0.0/12"
pools = ["{POOL_FIRST}-{POOL_LAST}"]
{failover}
[control]
socket = "{control}"
token-file = ""
"#,
        ifname = interface.0,
        addr = interface.1,
        state = state.display(),
        control = control.display(),
    )
}

/// The `[[failover]]` table of one side. The primary answers every client (its share is
/// 100 %): the generator relays to one server only, as a relay configured with a single
/// helper address does, and every lease still crosses the failover link as a binding update.
fn failover_table(primary: bool) -> String {
    let (role, local, partner, share) = if primary {
        ("primary", FO_PRIMARY_IP, FO_PARTNER_IP, 100)
    } else {
        ("secondary", FO_PARTNER_IP, FO_PRIMARY_IP, 0)
    };
    format!(
        r#"
[[failover]]
name = "bench-pair"
role = "{role}"
partner = "{partner}"
local-address = "{local}"
load-balance-percent = {share}
mclt = "1h"
shared-secret = "xtask-bench-shared-secret-0123456789"
subnets = [2]
"#
    )
}

fn kea_config(dir: &Path) -> String {
    format!(
        r#"{{
  "Dhcp4": {{
    "interfaces-config": {{ "interfaces": ["{SRV_IF}/{SERVER_IP}"], "dhcp-socket-type": "udp" }},
    "lease-database": {{
      "type": "memfile", "persist": true, "lfc-interval": 0,
      "name": "{leases}"
    }},
    "valid-lifetime": 14400,
    "subnet4": [
      {{ "id": 1, "subnet": "10.77.0.0/24", "pools": [{{ "pool": "10.77.0.100 - 10.77.0.200" }}] }},
      {{ "id": 2, "subnet": "10.96.0.0/12", "pools": [{{ "pool": "{POOL_FIRST} - {POOL_LAST}" }}] }}
    ],
    "loggers": [{{
      "name": "kea-dhcp4", "severity": "WARN",
      "output_options": [{{ "output": "stdout" }}]
    }}]
  }}
}}
"#,
        leases = dir.join("kea-leases4.csv").display(),
    )
}

fn isc_config() -> String {
    format!(
        r#"# Written by cargo xtask bench.
authoritative;
ddns-update-style none;
# Kea and xdhcpd do not ping an address before offering it; neither does dhcpd here.
ping-check false;
default-lease-time 14400;
max-lease-time 86400;
subnet 10.77.0.0 netmask 255.255.255.0 {{
  range 10.77.0.100 10.77.0.200;
}}
subnet 10.96.0.0 netmask 255.240.0.0 {{
  range {POOL_FIRST} {ISC_POOL_LAST};
}}
"#
    )
}

/// Where the binaries are.
pub struct Bins {
    pub xdhcpd: PathBuf,
    pub dhcp_load: PathBuf,
    pub xdp_echo: PathBuf,
}

/// Starts `kind` in the lab with an empty lease database under `dir`, and waits until its
/// log says it serves (xdhcpd: and, with failover, until both partners are in NORMAL). The
/// caller then probes it with one real DORA.
pub fn start(kind: Kind, lab: &Lab, bins: &Bins, dir: &Path) -> Result<Server> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let mut daemons = Vec::new();
    match kind {
        Kind::Xdp | Kind::Socket | Kind::Failover => {
            if kind == Kind::Failover {
                // No third core: the partner shares the generator's core (see the report).
                let state = dir.join("partner-state");
                let cfg = xdhcpd_config(
                    "socket",
                    (PART_IF, FO_PARTNER_IP),
                    &state,
                    &dir.join("partner-control.sock"),
                    &failover_table(false),
                );
                daemons.push(xdhcpd(lab, bins, PART_NS, GEN_CPU, dir, "partner", &cfg)?);
            }
            let backend = if kind == Kind::Socket {
                "socket"
            } else {
                "xdp"
            };
            let fo = if kind == Kind::Failover {
                failover_table(true)
            } else {
                String::new()
            };
            let cfg = xdhcpd_config(
                backend,
                (SRV_IF, SERVER_IP),
                &dir.join("state"),
                &dir.join("control.sock"),
                &fo,
            );
            daemons.insert(0, xdhcpd(lab, bins, SRV_NS, SRV_CPU, dir, "xdhcpd", &cfg)?);
            for d in &mut daemons {
                wait_log(d, Duration::from_secs(30), |l| l.contains("xdhcpd serving"))?;
            }
            if kind == Kind::Failover {
                for d in &mut daemons {
                    wait_log(d, Duration::from_secs(30), |log| {
                        failover_state(log, "bench-pair").as_deref() == Some("normal")
                    })
                    .context(
                        "the failover pair did not reach NORMAL (does this xdhcpd run the \
                         failover control plane?)",
                    )?;
                }
            }
        }
        Kind::Kea => {
            let conf = dir.join("kea-dhcp4.json");
            std::fs::write(&conf, kea_config(dir))?;
            let mut cmd = lab.command(SRV_NS, Some(SRV_CPU), "kea-dhcp4");
            cmd.arg("-c")
                .arg(&conf)
                .env("KEA_PIDFILE_DIR", dir)
                .env("KEA_LOCKFILE_DIR", dir);
            daemons.push(Daemon::spawn("kea-dhcp4", cmd, &dir.join("kea.log"))?);
        }
        Kind::Isc => {
            let conf = dir.join("dhcpd.conf");
            std::fs::write(&conf, isc_config())?;
            let leases = dir.join("dhcpd.leases");
            std::fs::write(&leases, "")?;
            let mut cmd = lab.command(SRV_NS, Some(SRV_CPU), "dhcpd");
            cmd.args(["-4", "-f", "-cf"])
                .arg(&conf)
                .arg("-lf")
                .arg(&leases)
                .arg("-pf")
                .arg(dir.join("dhcpd.pid"))
                .arg(SRV_IF);
            daemons.push(Daemon::spawn("dhcpd", cmd, &dir.join("dhcpd.log"))?);
        }
    }
    let mut s = Server { daemons };
    std::thread::sleep(Duration::from_millis(300));
    s.check_alive()?;
    Ok(s)
}

fn xdhcpd(
    lab: &Lab,
    bins: &Bins,
    ns: &str,
    cpu: u32,
    dir: &Path,
    name: &str,
    cfg: &str,
) -> Result<Daemon> {
    let conf = dir.join(format!("{name}.toml"));
    std::fs::write(&conf, cfg)?;
    let mut cmd = lab.command(ns, Some(cpu), &bins.xdhcpd);
    cmd.arg("--config").arg(&conf).env("XDHCP_LOG", "info");
    Daemon::spawn(name, cmd, &dir.join(format!("{name}.log")))
}

/// Waits until `ok(log)` holds for the daemon's log; fails if it exits or time runs out.
fn wait_log(d: &mut Daemon, limit: Duration, ok: impl Fn(&str) -> bool) -> Result<()> {
    let until = Instant::now() + limit;
    loop {
        d.check_alive()?;
        if ok(&d.log_text()) {
            return Ok(());
        }
        if Instant::now() > until {
            bail!(
                "{}: not ready after {:.0} s; end of {}:\n{}",
                d.name,
                limit.as_secs_f64(),
                d.log.display(),
                d.log_tail(10)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The latest failover state xdhcpd logged for relationship `rel`
/// (`failover <rel>: <from> -> <to>`).
fn failover_state(log: &str, rel: &str) -> Option<String> {
    let needle = format!("failover {rel}: ");
    log.lines().rev().find_map(|l| {
        let rest = &l[l.find(&needle)? + needle.len()..];
        let (_, to) = rest.split_once(" -> ")?;
        Some(to.split_whitespace().next()?.trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_state_is_the_latest_transition() {
        let log = "x INFO failover bench-pair: startup -> recover\n\
                   x INFO failover other: recover -> normal\n\
                   x INFO failover bench-pair: recover-done -> normal\n";
        assert_eq!(failover_state(log, "bench-pair").as_deref(), Some("normal"));
        assert_eq!(failover_state("nothing", "bench-pair"), None);
    }
}

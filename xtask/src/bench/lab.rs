//! The benchmark's network-namespace lab, its processes and CPU accounting.
//!
//! Three namespaces: the load generator (`xdb-gen`), the server under test (`xdb-srv`) and a
//! failover partner (`xdb-part`). gen and srv share one veth pair (one queue each, so one
//! AF_XDP socket sees everything); srv and part a second one, the failover link. Relayed
//! clients live in 10.96.0.0/12 behind the relay address 10.96.0.1 on the generator side, so
//! a million clients cost no ARP.
//!
//! Cleanup: namespaces and every process started in them go on drop; a leftover of an
//! interrupted run (Ctrl-C reaches the whole process group, so the daemons stop with the
//! xtask, but the namespaces stay) is removed first.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::sh::Cmd;

pub const GEN_NS: &str = "xdb-gen";
pub const SRV_NS: &str = "xdb-srv";
pub const PART_NS: &str = "xdb-part";
pub const GEN_IF: &str = "veth-gen";
pub const SRV_IF: &str = "veth-srv";
pub const FO_IF: &str = "veth-fo";
pub const PART_IF: &str = "veth-fop";
pub const SERVER_IP: &str = "10.77.0.1";
pub const GEN_IP: &str = "10.77.0.2";
pub const GIADDR: &str = "10.96.0.1";
pub const RELAY_NET: &str = "10.96.0.0/12";
pub const FO_PRIMARY_IP: &str = "10.88.0.1";
pub const FO_PARTNER_IP: &str = "10.88.0.2";

/// The generator's core and the server's core.
pub const GEN_CPU: u32 = 0;
pub const SRV_CPU: u32 = 1;

fn ip(args: &[&str]) -> Result<()> {
    Cmd::new("ip").args(args).output_text().map(drop)
}

/// Kills every process in namespace `ns` and deletes it; quiet when it does not exist.
fn remove_ns(ns: &str) {
    if let Ok(pids) = Cmd::new("ip").args(["netns", "pids", ns]).output_text() {
        for pid in pids.split_whitespace() {
            let _ = Cmd::new("kill").args(["-KILL", pid]).probe();
        }
    }
    let _ = Cmd::new("ip").args(["netns", "del", ns]).probe();
}

pub struct Lab {
    made: Vec<&'static str>,
    pub server_mac: String,
}

impl Lab {
    pub fn new() -> Result<Lab> {
        for ns in [GEN_NS, SRV_NS, PART_NS] {
            remove_ns(ns);
        }
        let mut lab = Lab {
            made: Vec::new(),
            server_mac: String::new(),
        };
        for ns in [GEN_NS, SRV_NS, PART_NS] {
            ip(&["netns", "add", ns])?;
            lab.made.push(ns);
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let pair = |a_ns: &str, a: &str, b_ns: &str, b: &str| {
            ip(&[
                "-n",
                a_ns,
                "link",
                "add",
                a,
                "numrxqueues",
                "1",
                "numtxqueues",
                "1",
                "type",
                "veth",
                "peer",
                "name",
                b,
                "numrxqueues",
                "1",
                "numtxqueues",
                "1",
                "netns",
                b_ns,
            ])
        };
        pair(SRV_NS, SRV_IF, GEN_NS, GEN_IF)?;
        pair(SRV_NS, FO_IF, PART_NS, PART_IF)?;
        for (ns, dev, addr) in [
            (SRV_NS, SRV_IF, format!("{SERVER_IP}/24")),
            (GEN_NS, GEN_IF, format!("{GEN_IP}/24")),
            // perfdhcp, a kernel-socket relay, sends from the giaddr.
            (GEN_NS, GEN_IF, format!("{GIADDR}/12")),
            (SRV_NS, FO_IF, format!("{FO_PRIMARY_IP}/30")),
            (PART_NS, PART_IF, format!("{FO_PARTNER_IP}/30")),
        ] {
            ip(&["-n", ns, "addr", "add", &addr, "dev", dev])?;
        }
        for (ns, dev) in [
            (SRV_NS, SRV_IF),
            (GEN_NS, GEN_IF),
            (SRV_NS, FO_IF),
            (PART_NS, PART_IF),
        ] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        // Kernel-socket servers answer the relay through the routing table.
        ip(&["-n", SRV_NS, "route", "add", RELAY_NET, "via", GEN_IP])?;
        let out = Cmd::new("ip")
            .args(["-n", SRV_NS, "link", "show", SRV_IF])
            .output_text()?;
        lab.server_mac = out
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .context("no MAC address on the server veth")?
            .to_owned();
        Ok(lab)
    }

    /// `ip netns exec <ns> taskset -c <cpu> <program>`.
    pub fn command(&self, ns: &str, cpu: Option<u32>, program: impl AsRef<Path>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]);
        if let Some(cpu) = cpu {
            c.args(["taskset", "-c", &cpu.to_string()]);
        }
        c.arg(program.as_ref());
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.made.drain(..).rev() {
            remove_ns(ns);
        }
    }
}

/// A started process with its output in a log file; stopped (TERM, then KILL) on drop.
/// `ip netns exec` and `taskset` exec the program, so the child's pid is the program's.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Daemon> {
        let f = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f);
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        Ok(Daemon {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The exit status when the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let t = self.log_text();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Fails when the process has exited, naming its status and the end of its log.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(st) = self.exited() {
            bail!(
                "{} exited ({st}); end of {}:\n{}",
                self.name,
                self.log.display(),
                self.log_tail(15)
            );
        }
        Ok(())
    }

    /// Waits up to `limit` for the process to end by itself, then stops it.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(st) = self.exited() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop(Duration::from_secs(3))
    }

    /// SIGTERM, up to `grace` for a clean exit, then SIGKILL. Returns how it ended.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        let _ = Cmd::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .probe();
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// Runs `cmd` to completion with stdout to `out` and stderr to `err`, killing it after
/// `limit`. Returns the exit code (None when killed by a signal or by the limit).
pub fn run_bounded(
    mut cmd: Command,
    out: &Path,
    err: &Path,
    limit: Duration,
) -> Result<Option<i32>> {
    cmd.stdin(Stdio::null())
        .stdout(File::create(out)?)
        .stderr(File::create(err)?);
    let mut child = cmd.spawn().context("starting a load run")?;
    let until = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(st.code());
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "killed after {:.0} s (its bound); stderr in {}",
                limit.as_secs_f64(),
                err.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CPU time at one instant, in jiffies: some CPUs' busy time, some processes', this
/// process's reaped children's (the load generator of a run), and the neighbours' — processes
/// outside the lab's namespaces, other than kernel threads and the xtask: on a shared machine
/// they take the same cores.
#[derive(Clone, Debug, Default)]
pub struct CpuSample {
    pub busy: u64,
    /// Of `busy`: irq and softirq time (on veth, the packet path of both sides).
    pub softirq: u64,
    pub procs: Vec<u64>,
    pub children: u64,
    others: Vec<(u32, u64)>,
}

/// CPU seconds between two samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuDelta {
    /// Busy time of the CPUs (user, nice, system, irq, softirq).
    pub cores: f64,
    /// Of which irq and softirq.
    pub softirq: f64,
    /// The processes, summed.
    pub procs: f64,
    /// Children reaped in between (the load generator).
    pub children: f64,
    /// Processes outside the lab (a lower bound: one that started and ended in between is
    /// not seen).
    pub others: f64,
}

/// Jiffies per second (USER_HZ): 100 on every Linux architecture we build for.
pub const CLK_TCK: f64 = 100.0;

impl CpuSample {
    /// `cpus`' busy time from /proc/stat (user, nice, system, irq, softirq — not idle,
    /// iowait or steal) and `pids`' utime + stime from /proc/<pid>/stat (all threads).
    pub fn take(cpus: &[u32], pids: &[u32]) -> Result<CpuSample> {
        let stat = std::fs::read_to_string("/proc/stat")?;
        let mut busy = 0;
        let mut softirq = 0;
        for cpu in cpus {
            let tag = format!("cpu{cpu}");
            let line = stat
                .lines()
                .find(|l| l.split_whitespace().next() == Some(tag.as_str()))
                .with_context(|| format!("no {tag} in /proc/stat"))?;
            let f: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            // user nice system idle iowait irq softirq steal ...
            let sum = |idx: &[usize]| -> u64 {
                idx.iter().map(|i| f.get(*i).copied().unwrap_or(0)).sum()
            };
            busy += sum(&[0, 1, 2, 5, 6]);
            softirq += sum(&[5, 6]);
        }
        let procs = pids
            .iter()
            .map(|pid| stat_fields(&pid.to_string()).map(|f| f[0] + f[1]))
            .collect::<Result<_>>()?;
        let children = stat_fields("self").map(|f| f[2] + f[3])?;
        Ok(CpuSample {
            busy,
            softirq,
            procs,
            children,
            others: neighbours(),
        })
    }

    pub fn until(&self, later: &CpuSample) -> CpuDelta {
        let d = |a: u64, b: u64| b.saturating_sub(a) as f64 / CLK_TCK;
        let procs = later
            .procs
            .iter()
            .zip(&self.procs)
            .map(|(b, a)| d(*a, *b))
            .sum();
        let others = later
            .others
            .iter()
            .map(|(pid, t)| {
                let before = self
                    .others
                    .iter()
                    .find(|(p, _)| p == pid)
                    .map_or(0, |(_, t)| *t);
                d(before, *t)
            })
            .sum();
        CpuDelta {
            cores: d(self.busy, later.busy),
            softirq: d(self.softirq, later.softirq),
            procs,
            children: d(self.children, later.children),
            others,
        }
    }
}

/// utime, stime, cutime, cstime of /proc/<pid>/stat.
fn stat_fields(pid: &str) -> Result<[u64; 4]> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name in parentheses start at field 3 (state); utime is 14.
    let rest = &s[s.rfind(')').context("malformed stat")? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| -> u64 { f.get(i - 3).and_then(|x| x.parse().ok()).unwrap_or(0) };
    Ok([get(14), get(15), get(16), get(17)])
}

/// (pid, utime + stime) of every user-space process outside the lab namespaces, other than
/// this one.
fn neighbours() -> Vec<(u32, u64)> {
    let lab: Vec<String> = [GEN_NS, SRV_NS, PART_NS]
        .iter()
        .filter_map(|ns| std::fs::metadata(format!("/run/netns/{ns}")).ok())
        .map(|m| format!("net:[{}]", std::os::unix::fs::MetadataExt::ino(&m)))
        .collect();
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            // Kernel threads have no command line.
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
        })
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|l| !lab.iter().any(|n| l.to_str() == Some(n)))
        })
        .filter_map(|pid| {
            Some((
                pid,
                stat_fields(&pid.to_string()).ok().map(|f| f[0] + f[1])?,
            ))
        })
        .collect()
}

/// A counter of the `Udp:` lines of /proc/net/snmp in namespace `ns` (e.g. "RcvbufErrors":
/// datagrams the kernel dropped because a socket's receive buffer was full).
pub fn udp_counter(ns: &str, name: &str) -> Result<u64> {
    let snmp = Cmd::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/snmp"])
        .output_text()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        bail!("no Udp lines in /proc/net/snmp of {ns}");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .with_context(|| format!("no Udp {name} in /proc/net/snmp of {ns}"))
}

/// The 1-minute load average (a noisy neighbour shows here).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

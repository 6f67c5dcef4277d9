//! Network-namespace lab for privileged tests: RAII guards that create namespaces and veth
//! pairs, clean up leftovers of earlier (crashed) runs first, and remove everything on drop —
//! including when a test panics.
//!
//! Names carry the creating process id (`xdt<pid>-<tag>`): a namespace whose process is gone is
//! a leftover and [`sweep_stale`] deletes it, while concurrent test processes keep theirs.

use std::{
    ffi::OsStr,
    fs::File,
    io,
    os::fd::AsRawFd,
    path::Path,
    process::{Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

const PREFIX: &str = "xdt";
const NETNS_DIR: &str = "/var/run/netns";

/// True when running as root; privileged tests print why they skip otherwise.
pub fn is_root() -> bool {
    // Safety: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Skips the calling test (returns from it) unless running as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::netns::is_root() {
            eprintln!("SKIPPED: this test needs root (network namespaces, XDP); run it through `cargo xtask test`");
            return;
        }
    };
}

fn run(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

/// Runs `ip` with `args`, failing with its stderr.
pub fn ip<I, S>(args: I) -> io::Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(Command::new("ip").args(args))
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Deletes namespaces left by test processes that no longer exist.
pub fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('-') else {
            continue;
        };
        if let Ok(pid) = pid.parse::<u32>() {
            if !pid_alive(pid) {
                let _ = ip(["netns", "del", &name]);
            }
        }
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates a fresh namespace (after sweeping stale ones) with its loopback up.
    pub fn new(tag: &str) -> io::Result<Self> {
        sweep_stale();
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{tag}{n}", std::process::id());
        // Same name from an earlier run of this very pid (pid reuse): remove first.
        let _ = ip(["netns", "del", &name]);
        ip(["netns", "add", &name])?;
        let ns = NetNs { name };
        ns.ip(["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip` inside the namespace.
    pub fn ip<I, S>(&self, args: I) -> io::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// A command that runs `program` inside the namespace (not started).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `program args` inside the namespace and waits, failing on a non-zero exit.
    pub fn exec<I, S>(&self, program: &str, args: I) -> io::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(self.command(program).args(args))
    }

    /// Moves the calling thread into the namespace until the guard drops.
    pub fn enter(&self) -> io::Result<EnterGuard> {
        let original = File::open("/proc/thread-self/ns/net")?;
        let target = File::open(Path::new(NETNS_DIR).join(&self.name))?;
        setns(&target)?;
        Ok(EnterGuard { original })
    }

    /// Runs `f` on a new thread inside the namespace and returns its result.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                let _g = self.enter().expect("entering the namespace");
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = ip(["netns", "del", &self.name]) {
            eprintln!("netns cleanup: {e}");
        }
    }
}

fn setns(f: &File) -> io::Result<()> {
    // Safety: setns on a namespace file we hold open; affects only the calling thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Returns the thread to its original namespace on drop.
#[derive(Debug)]
pub struct EnterGuard {
    original: File,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        if let Err(e) = setns(&self.original) {
            // A thread stuck in a deleted namespace would poison later tests on it.
            panic!("returning to the original network namespace: {e}");
        }
    }
}

/// Two namespaces joined by a veth pair with IPv4 addresses: the usual server/peer lab.
#[derive(Debug)]
pub struct VethLab {
    /// The server side.
    pub server: NetNs,
    /// The client/peer side.
    pub peer: NetNs,
    /// Interface name in `server`.
    pub server_if: String,
    /// Interface name in `peer`.
    pub peer_if: String,
    /// Server address.
    pub server_ip: std::net::Ipv4Addr,
    /// Peer address.
    pub peer_ip: std::net::Ipv4Addr,
}

impl VethLab {
    /// Creates `server` and `peer` namespaces joined by `veth-srv`/`veth-peer` with
    /// 10.77.0.1/24 and 10.77.0.2/24, both up, each side with `queues` RX and TX queues (native
    /// XDP on veth needs at least as many RX queues as the peer has TX queues).
    pub fn new(tag: &str, queues: u32) -> io::Result<Self> {
        Self::with_queues(tag, queues, queues)
    }

    /// Like [`new`](Self::new) with separate queue counts for the server and the peer side.
    pub fn with_queues(tag: &str, server_queues: u32, peer_queues: u32) -> io::Result<Self> {
        let server = NetNs::new(&format!("{tag}s"))?;
        let peer = NetNs::new(&format!("{tag}p"))?;
        let (sq, pq) = (server_queues.to_string(), peer_queues.to_string());
        server.ip([
            "link",
            "add",
            "veth-srv",
            "numrxqueues",
            &sq,
            "numtxqueues",
            &sq,
            "type",
            "veth",
            "peer",
            "name",
            "veth-peer",
            "numrxqueues",
            &pq,
            "numtxqueues",
            &pq,
            "netns",
            peer.name(),
        ])?;
        server.ip(["addr", "add", "10.77.0.1/24", "dev", "veth-srv"])?;
        peer.ip(["addr", "add", "10.77.0.2/24", "dev", "veth-peer"])?;
        server.ip(["link", "set", "veth-srv", "up"])?;
        peer.ip(["link", "set", "veth-peer", "up"])?;
        Ok(VethLab {
            server,
            peer,
            server_if: "veth-srv".into(),
            peer_if: "veth-peer".into(),
            server_ip: std::net::Ipv4Addr::new(10, 77, 0, 1),
            peer_ip: std::net::Ipv4Addr::new(10, 77, 0, 2),
        })
    }

    /// The XDP attachment of the server interface as `ip -d link` shows it — the mode word
    /// ("xdp" native, "xdpgeneric" SKB) and the program line — or `None` when nothing is attached.
    pub fn server_xdp_state(&self) -> io::Result<Option<String>> {
        let out = self
            .server
            .ip(["-d", "link", "show", "dev", &self.server_if])?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mode = text
            .split_whitespace()
            .find(|w| w.starts_with("xdp"))
            .map(str::to_owned);
        let prog = text
            .lines()
            .find(|l| l.trim_start().starts_with("prog/xdp"))
            .map(|l| l.trim().to_owned());
        Ok(match (mode, prog) {
            (None, None) => None,
            (m, p) => Some(format!(
                "{} {}",
                m.unwrap_or_default(),
                p.unwrap_or_default()
            )),
        })
    }
}

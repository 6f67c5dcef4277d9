//! A failover lab in network namespaces: two servers (`a`, the primary, and `b`) on one client
//! LAN, joined by a separate failover link, and client namespaces on the LAN.
//!
//! - LAN 10.78.0.0/24: a bridge in a switch namespace; server `a` is 10.78.0.1, `b` is
//!   10.78.0.2, clients get .100–.199.
//! - Failover link 10.79.0.0/24: a veth pair straight between the servers (a = .1, b = .2), so
//!   that cutting it (`cut_link`) leaves the clients' access alone.
//!
//! Each server is an `xdhcpd` (or ISC dhcpd for interop tests) with its own state directory
//! and log; the journal is read back with `xdhcpctl journal-dump`.

use std::{
    fs,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use crate::{
    lab::{Lease, bin},
    netns::NetNs,
};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// LAN prefix.
pub const LAN: [u8; 3] = [10, 78, 0];
/// Failover link prefix.
pub const FO: [u8; 3] = [10, 79, 0];

/// One server of the pair.
#[derive(Debug)]
pub struct Server {
    /// Its namespace.
    pub ns: NetNs,
    /// Name used in logs ("a"/"b").
    pub name: &'static str,
    /// LAN interface name.
    pub lan_if: String,
    /// LAN address.
    pub lan_ip: Ipv4Addr,
    /// Failover-link interface name.
    pub fo_if: String,
    /// Failover-link address.
    pub fo_ip: Ipv4Addr,
    /// Scratch directory (config, state, log).
    pub dir: PathBuf,
    daemon: Option<Child>,
}

/// A client namespace on the LAN.
#[derive(Debug)]
pub struct Client {
    /// Its namespace.
    pub ns: NetNs,
    /// Interface name.
    pub ifname: String,
}

/// The lab.
#[derive(Debug)]
pub struct FailoverLab {
    /// The switch namespace (bridge `br0`).
    pub sw: NetNs,
    /// The two servers: `a` (index 0) and `b`.
    pub servers: [Server; 2],
    /// Client namespaces.
    pub clients: Vec<Client>,
    /// Scratch directory, removed on drop.
    pub dir: PathBuf,
}

fn addr(p: [u8; 3], host: u8) -> Ipv4Addr {
    Ipv4Addr::new(p[0], p[1], p[2], host)
}

impl FailoverLab {
    /// Builds the namespaces, the bridge, the failover link and `clients` client namespaces.
    pub fn new(tag: &str, clients: usize) -> std::io::Result<FailoverLab> {
        let sw = NetNs::new(&format!("{tag}w"))?;
        let dir =
            std::env::temp_dir().join(format!("xdhcp-folab-{}-{}", std::process::id(), sw.name()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        sw.ip(["link", "add", "br0", "type", "bridge"])?;
        sw.ip(["link", "set", "br0", "up"])?;
        let mut servers = Vec::new();
        for (i, name) in ["a", "b"].into_iter().enumerate() {
            let ns = NetNs::new(&format!("{tag}{name}"))?;
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let lan_if = format!("lan{name}");
            let port = format!("p{name}{n}");
            ns.ip([
                "link",
                "add",
                &lan_if,
                "numrxqueues",
                "1",
                "numtxqueues",
                "1",
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "numrxqueues",
                "1",
                "numtxqueues",
                "1",
                "netns",
                sw.name(),
            ])?;
            sw.ip(["link", "set", &port, "master", "br0", "up"])?;
            let lan_ip = addr(LAN, i as u8 + 1);
            ns.ip(["addr", "add", &format!("{lan_ip}/24"), "dev", &lan_if])?;
            ns.ip(["link", "set", &lan_if, "up"])?;
            let sdir = dir.join(name);
            fs::create_dir_all(&sdir)?;
            servers.push(Server {
                ns,
                name,
                lan_if,
                lan_ip,
                fo_if: format!("fo{name}"),
                fo_ip: addr(FO, i as u8 + 1),
                dir: sdir,
                daemon: None,
            });
        }
        // The failover link.
        let (a, b) = (&servers[0], &servers[1]);
        a.ns.ip([
            "link",
            "add",
            &a.fo_if,
            "type",
            "veth",
            "peer",
            "name",
            &b.fo_if,
            "netns",
            b.ns.name(),
        ])?;
        for s in [a, b] {
            s.ns.ip(["addr", "add", &format!("{}/24", s.fo_ip), "dev", &s.fo_if])?;
            s.ns.ip(["link", "set", &s.fo_if, "up"])?;
        }
        let mut cs = Vec::new();
        for i in 0..clients {
            let ns = NetNs::new(&format!("{tag}c{i}"))?;
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let ifname = format!("fc{n}");
            let port = format!("pc{n}");
            ns.ip([
                "link",
                "add",
                &ifname,
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                sw.name(),
            ])?;
            sw.ip(["link", "set", &port, "master", "br0", "up"])?;
            ns.ip(["link", "set", &ifname, "up"])?;
            cs.push(Client { ns, ifname });
        }
        let [a, b]: [Server; 2] = servers
            .try_into()
            .map_err(|_| std::io::Error::other("two servers"))?;
        Ok(FailoverLab {
            sw,
            servers: [a, b],
            clients: cs,
            dir,
        })
    }

    /// An xdhcpd config for server `i` sharing the LAN subnet in relationship "lab-pair".
    /// `mode` is the failover table's mode lines (e.g. `load-balance-percent = 50`; `{sr}`
    /// becomes `active` for the primary and `standby` for the secondary), `extra` more
    /// `[[failover]]` keys; `lease` the subnet's lease table.
    pub fn xdhcpd_config(
        &self,
        i: usize,
        backend: &str,
        mode: &str,
        extra: &str,
        lease: &str,
    ) -> String {
        let me = &self.servers[i];
        let other = &self.servers[1 - i];
        let role = if mode.contains("hot-standby") {
            ""
        } else if i == 0 {
            "role = \"primary\""
        } else {
            "role = \"secondary\""
        };
        let mode = mode.replace("{sr}", if i == 0 { "active" } else { "standby" });
        format!(
            r#"[server]
interfaces = [{{ name = "{lan_if}", address = "{lan_ip}" }}]
backend = "{backend}"
workers = 2
state-dir = "{state}"

[server.xdp]
pin-dir = ""

[[subnet]]
id = 1
network = "{l0}.{l1}.{l2}.0/24"
pools = ["{l0}.{l1}.{l2}.100-{l0}.{l1}.{l2}.199"]
routers = ["{l0}.{l1}.{l2}.1"]
dns-servers = ["{l0}.{l1}.{l2}.1"]
lease = {lease}

[[failover]]
name = "lab-pair"
{role}
partner = "{partner}"
local-address = "{local}"
shared-secret = "lab-secret-0123456789"
subnets = [1]
{mode}
{extra}
"#,
            lan_if = me.lan_if,
            lan_ip = me.lan_ip,
            state = me.state_dir().display(),
            l0 = LAN[0],
            l1 = LAN[1],
            l2 = LAN[2],
            partner = other.fo_ip,
            local = me.fo_ip,
        )
    }

    /// Takes the failover link down (both ends).
    pub fn cut_link(&self) -> std::io::Result<()> {
        for s in &self.servers {
            s.ns.ip(["link", "set", &s.fo_if, "down"])?;
        }
        Ok(())
    }

    /// Brings the failover link back.
    pub fn heal_link(&self) -> std::io::Result<()> {
        for s in &self.servers {
            s.ns.ip(["link", "set", &s.fo_if, "up"])?;
        }
        Ok(())
    }

    /// Unexpired active leases on both servers (from their journals): (address, client) per
    /// server.
    pub fn active(&self) -> std::io::Result<[Vec<(Ipv4Addr, String)>; 2]> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let f = |s: &Server| -> std::io::Result<Vec<(Ipv4Addr, String)>> {
            let mut v: Vec<_> = s
                .leases()?
                .into_iter()
                .filter(|l| l.state == "active" && l.lease_end > now)
                .map(|l| (l.address, l.client))
                .collect();
            v.sort();
            Ok(v)
        };
        Ok([f(&self.servers[0])?, f(&self.servers[1])?])
    }

    /// Panics when an address is active for two different clients across both journals.
    pub fn assert_unique(&self) -> std::io::Result<usize> {
        let [a, b] = self.active()?;
        let mut by: std::collections::HashMap<Ipv4Addr, String> = Default::default();
        for (addr, client) in a.iter().chain(&b) {
            if let Some(c) = by.insert(*addr, client.clone()) {
                assert_eq!(
                    &c, client,
                    "{addr} is active for two clients: {c} and {client}"
                );
            }
        }
        // And no client holds two addresses.
        let mut clients: std::collections::HashMap<&str, Ipv4Addr> = Default::default();
        for (addr, client) in a.iter().chain(&b) {
            if let Some(x) = clients.insert(client, *addr) {
                assert_eq!(x, *addr, "client {client} holds {x} and {addr}");
            }
        }
        Ok(by.len())
    }
}

impl Drop for FailoverLab {
    fn drop(&mut self) {
        for s in &mut self.servers {
            s.kill();
        }
        if std::env::var_os("XDHCP_KEEP_LAB").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("lab kept in {}", self.dir.display());
        }
    }
}

impl Server {
    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The daemon's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("daemon.log")
    }

    /// The log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts xdhcpd with `config`; waits until it serves.
    pub fn start(&mut self, config: &str) -> std::io::Result<()> {
        let path = self.dir.join("xdhcpd.toml");
        fs::write(&path, config)?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let before = self.log().matches("xdhcpd serving").count();
        let child = self
            .ns
            .command(bin("xdhcpd"))
            .arg("--config")
            .arg(&path)
            .env("XDHCP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.daemon = Some(child);
        let t = Instant::now();
        loop {
            let text = self.log();
            if text.matches("xdhcpd serving").count() > before {
                return Ok(());
            }
            if let Some(c) = self.daemon.as_mut() {
                if let Some(st) = c.try_wait()? {
                    return Err(std::io::Error::other(format!(
                        "xdhcpd {} exited with {st}:\n{text}",
                        self.name
                    )));
                }
            }
            if t.elapsed() > Duration::from_secs(20) {
                return Err(std::io::Error::other(format!(
                    "xdhcpd {} did not start:\n{text}",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts an arbitrary daemon command (ISC dhcpd) with output to the log.
    pub fn start_command(&mut self, mut cmd: Command) -> std::io::Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let log2 = log.try_clone()?;
        self.daemon = Some(cmd.stdout(log2).stderr(log).spawn()?);
        Ok(())
    }

    /// True while the daemon runs.
    pub fn running(&mut self) -> bool {
        self.daemon
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends `sig` and waits for the exit (15 s at most).
    pub fn stop_with(&mut self, sig: libc::c_int) -> std::io::Result<()> {
        if let Some(mut c) = self.daemon.take() {
            // Safety: kill(2) on our own child.
            unsafe { libc::kill(c.id() as i32, sig) };
            let t = Instant::now();
            while c.try_wait()?.is_none() {
                if t.elapsed() > Duration::from_secs(15) {
                    let _ = c.kill();
                    let _ = c.wait();
                    return Err(std::io::Error::other(format!(
                        "{} did not stop within 15 s",
                        self.name
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The latest failover state this xdhcpd logged for `rel` ("normal", "partner-down", …).
    pub fn fo_state(&self, rel: &str) -> Option<String> {
        let needle = format!("failover {rel}: ");
        self.log().lines().rev().find_map(|l| {
            let at = l.find(&needle)?;
            let rest = &l[at + needle.len()..];
            let (_, to) = rest.split_once(" -> ")?;
            Some(to.split_whitespace().next()?.trim_matches('"').to_owned())
        })
    }

    /// Waits until `fo_state(rel)` is `state`.
    pub fn wait_fo_state(&self, rel: &str, state: &str, timeout: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if self.fo_state(rel).as_deref() == Some(state) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// The journal's bindings (read-only dump).
    pub fn leases(&self) -> std::io::Result<Vec<Lease>> {
        crate::lab::journal_leases(&self.state_dir())
    }
}

/// Waits until `f` is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Path helper for configs.
pub fn display(p: &Path) -> String {
    p.display().to_string()
}

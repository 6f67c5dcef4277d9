//! A failover lab in network namespaces: two servers (`a`, the primary, and `b`) on one client
//! LAN, joined by a separate failover link, and client namespaces on the LAN.
//!
//! - LAN 10.78.0.0/24: a bridge in a switch namespace; server `a` is 10.78.0.1, `b` is
//!   10.78.0.2, clients get .100–.199.
//! - Failover link 10.79.0.0/24: a veth pair straight between the servers (a = .1, b = .2), so
//!   that cutting it (`cut_link`) leaves the clients' access alone.
//!
//! Each server is an `xdhcpd` (or ISC dhcpd for interop tests) with its own state directory
//! and log; the journal is read back with `xdhcpctl journal-dump`. A server may have a spare
//! host (`spare_host`): a cluster's passive node, on the LAN, sharing its state directory.

use std::{
    fs,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use crate::{
    lab::{Background, Lease, bin},
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
    /// The state directory (in `dir`, or another host's on a cluster's spare host).
    state: PathBuf,
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
    /// The relationship's shared secret (`None` toward ISC dhcpd, which has none).
    pub secret: Option<String>,
}

fn addr(p: [u8; 3], host: u8) -> Ipv4Addr {
    Ipv4Addr::new(p[0], p[1], p[2], host)
}

/// The MAC address of `ifname` in `ns`.
fn mac_of(ns: &NetNs, ifname: &str) -> std::io::Result<[u8; 6]> {
    let out = ns.ip(["-br", "link", "show", ifname])?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .split(':');
    let mut mac = [0u8; 6];
    for m in &mut mac {
        *m = parts
            .next()
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .ok_or_else(|| std::io::Error::other(format!("no MAC address in {text:?}")))?;
    }
    Ok(mac)
}

/// A server's LAN interface `lan_if` in `ns`, up, with its peer on the bridge (one queue each
/// way, which native XDP on veth needs).
fn lan_port(sw: &NetNs, ns: &NetNs, lan_if: &str, name: &str) -> std::io::Result<()> {
    let port = format!("p{name}{}", NEXT.fetch_add(1, Ordering::Relaxed));
    ns.ip([
        "link",
        "add",
        lan_if,
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
    ns.ip(["link", "set", lan_if, "up"])?;
    Ok(())
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
            let lan_if = format!("lan{name}");
            lan_port(&sw, &ns, &lan_if, name)?;
            let lan_ip = addr(LAN, i as u8 + 1);
            ns.ip(["addr", "add", &format!("{lan_ip}/24"), "dev", &lan_if])?;
            let sdir = dir.join(name);
            fs::create_dir_all(&sdir)?;
            servers.push(Server {
                ns,
                name,
                lan_if,
                lan_ip,
                fo_if: format!("fo{name}"),
                fo_ip: addr(FO, i as u8 + 1),
                state: sdir.join("state"),
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
            secret: Some("lab-secret-0123456789".into()),
        })
    }

    /// An xdhcpd config for server `i` sharing the LAN subnet in relationship "lab-pair".
    /// It ends with its `[control]` table (the control socket in the server's directory, so
    /// nothing is created outside the lab), to which a caller may append keys.
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
{secret}
subnets = [1]
{mode}
{extra}

[control]
socket = "{control}"
"#,
            control = me.control_socket().display(),
            lan_if = me.lan_if,
            lan_ip = me.lan_ip,
            state = me.state_dir().display(),
            l0 = LAN[0],
            l1 = LAN[1],
            l2 = LAN[2],
            partner = other.fo_ip,
            local = me.fo_ip,
            secret = match &self.secret {
                Some(s) => format!("shared-secret = \"{s}\""),
                None => String::new(),
            },
        )
    }

    /// An ISC dhcpd 4.4 config for server `i` in the same relationship (`split 128`, MCLT
    /// `mclt` on the primary), serving the LAN.
    pub fn dhcpd_config(&self, i: usize, mclt: u32) -> String {
        let me = &self.servers[i];
        let other = &self.servers[1 - i];
        let role = if i == 0 {
            format!("primary;\n  mclt {mclt};\n  split 128;")
        } else {
            "secondary;".to_owned()
        };
        format!(
            r#"authoritative;
ddns-update-style none;
default-lease-time 40;
max-lease-time 40;
min-lease-time 10;
failover peer "lab-pair" {{
  {role}
  address {local};
  port 647;
  peer address {partner};
  peer port 647;
  max-response-delay 30;
  max-unacked-updates 10;
  load balance max seconds 3;
}}
subnet {l0}.{l1}.{l2}.0 netmask 255.255.255.0 {{
  option routers {l0}.{l1}.{l2}.1;
  pool {{
    failover peer "lab-pair";
    deny dynamic bootp clients;
    range {l0}.{l1}.{l2}.100 {l0}.{l1}.{l2}.199;
  }}
}}
"#,
            local = me.fo_ip,
            partner = other.fo_ip,
            l0 = LAN[0],
            l1 = LAN[1],
            l2 = LAN[2],
        )
    }

    /// A second host for server `i`, as the passive node of a cluster whose floating address
    /// is server `i`'s: a namespace on the LAN with an interface of the same name as server
    /// `i`'s (so that the same configuration file fits) and no address, its own scratch
    /// directory for its config and log, and server `i`'s state directory, as on storage both
    /// hosts share. It is not on the failover link: a clustered relationship runs where its
    /// floating address is. `lan_ip` and `fo_ip` are server `i`'s, which this host holds only
    /// once the test moves them here.
    pub fn spare_host(&self, i: usize, name: &'static str) -> std::io::Result<Server> {
        let of = &self.servers[i];
        let ns = NetNs::new(name)?;
        lan_port(&self.sw, &ns, &of.lan_if, name)?;
        let dir = self.dir.join(name);
        fs::create_dir_all(&dir)?;
        Ok(Server {
            ns,
            name,
            lan_if: of.lan_if.clone(),
            lan_ip: of.lan_ip,
            fo_if: String::new(),
            fo_ip: of.fo_ip,
            dir,
            state: of.state.clone(),
            daemon: None,
        })
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

    /// Starts xdhcpd on both servers with `config(lab, i)` and waits (40 s at most each) until
    /// both report relationship `rel` in NORMAL; panics with the logs otherwise.
    pub fn start_pair_normal(&mut self, rel: &str, config: impl Fn(&FailoverLab, usize) -> String) {
        for i in 0..2 {
            let cfg = config(self, i);
            self.servers[i]
                .start(&cfg)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for s in &self.servers {
            assert!(
                s.wait_fo_state(rel, "normal", Duration::from_secs(40)),
                "{} never reached NORMAL:\n{}",
                s.name,
                s.log()
            );
        }
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

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Server {
    /// The daemon's control API socket.
    pub fn control_socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.state.clone()
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

    /// Starts ISC dhcpd with `config` on the LAN interface (foreground, own lease and pid
    /// files in the server's directory).
    pub fn start_dhcpd(&mut self, config: &str) -> std::io::Result<()> {
        let conf = self.dir.join("dhcpd.conf");
        fs::write(&conf, config)?;
        let leases = self.dhcpd_leases_path();
        if !leases.exists() {
            fs::write(&leases, "")?;
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let log2 = log.try_clone()?;
        let mut cmd = self.ns.command("dhcpd");
        cmd.args(["-4", "-d", "-f", "-cf"])
            .arg(&conf)
            .arg("-lf")
            .arg(&leases)
            .arg("-pf")
            .arg(self.dir.join("dhcpd.pid"))
            .arg(&self.lan_if);
        self.daemon = Some(cmd.stdin(Stdio::null()).stdout(log2).stderr(log).spawn()?);
        Ok(())
    }

    /// ISC dhcpd's lease file.
    pub fn dhcpd_leases_path(&self) -> PathBuf {
        self.dir.join("dhcpd.leases")
    }

    /// ISC dhcpd's lease file, latest block per address: (address, binding state).
    pub fn dhcpd_leases(&self) -> Vec<(Ipv4Addr, String)> {
        let text = fs::read_to_string(self.dhcpd_leases_path()).unwrap_or_default();
        let mut latest: std::collections::BTreeMap<Ipv4Addr, String> = Default::default();
        let mut cur: Option<Ipv4Addr> = None;
        for line in text.lines() {
            let l = line.trim();
            if let Some(rest) = l.strip_prefix("lease ") {
                cur = rest.trim_end_matches('{').trim().parse().ok();
            } else if let (Some(a), Some(st)) = (cur, l.strip_prefix("binding state ")) {
                latest.insert(a, st.trim_end_matches(';').to_owned());
            } else if l == "}" {
                cur = None;
            }
        }
        latest.into_iter().collect()
    }

    /// How many times ISC dhcpd logged that it moved to `state` ("normal", …).
    pub fn dhcpd_moves_to(&self, state: &str) -> usize {
        let needle = format!(" to {state}");
        self.log()
            .lines()
            .filter(|l| l.contains("I move from") && l.trim_end().ends_with(&needle))
            .count()
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

    /// Sends a gratuitous ARP for `ip` from the LAN interface, so that the LAN's neighbour
    /// caches find `ip` at this host — what a cluster manager does after it moves an address
    /// here (Pacemaker's IPaddr2 runs send_arp).
    pub fn announce(&self, ip: Ipv4Addr) -> std::io::Result<()> {
        let frame = crate::frames::arp_announcement(mac_of(&self.ns, &self.lan_if)?, ip);
        self.ns
            .run(|| crate::frames::PacketSocket::open(&self.lan_if).and_then(|s| s.send(&frame)))
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

/// A udhcpc in client namespace `i`, logging `<event> <ip> <serverid>` to a file.
pub struct Udhcpc {
    events: PathBuf,
    _bg: Background,
    /// The client's MAC address.
    pub mac: [u8; 6],
}

impl Udhcpc {
    /// Starts it.
    pub fn start(lab: &FailoverLab, i: usize) -> Udhcpc {
        let c = &lab.clients[i];
        let events = lab.dir.join(format!("c{i}.events"));
        let hook = lab.dir.join(format!("c{i}.sh"));
        fs::write(
            &hook,
            format!(
                "#!/bin/sh\necho \"$1 $ip $serverid\" >> '{}'\ncase \"$1\" in bound|renew) ip addr replace \"$ip/24\" dev \"$interface\" ;; esac\nexit 0\n",
                events.display()
            ),
        )
        .unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&hook)
            .status()
            .unwrap();
        let mac = mac_of(&c.ns, &c.ifname).unwrap();
        let mut cmd = c.ns.command("udhcpc");
        cmd.args([
            "-i", &c.ifname, "-f", "-t", "20", "-T", "1", "-A", "1", "-s",
        ])
        .arg(&hook);
        Udhcpc {
            events,
            _bg: Background::spawn(&format!("udhcpc{i}"), cmd).unwrap(),
            mac,
        }
    }

    /// (event, ip, server id) lines so far.
    pub fn events(&self) -> Vec<(String, Ipv4Addr, Ipv4Addr)> {
        fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let ev = it.next()?.to_owned();
                let ip = it.next()?.parse().ok()?;
                let sid = it.next()?.parse().ok()?;
                Some((ev, ip, sid))
            })
            .collect()
    }

    /// The latest event.
    pub fn last(&self) -> Option<(String, Ipv4Addr, Ipv4Addr)> {
        self.events().pop()
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

//! A DHCP lab in network namespaces: one server namespace running `xdhcpd`, client namespaces
//! joined to it by veth pairs (one subnet per link), real clients (dhclient, udhcpc, dhcpcd,
//! perfdhcp) run inside them, and the journal read back with `xdhcpctl journal-dump`.
//!
//! Link `i` (0-based) is 10.77.(i+1).0/24: the server side `s<i>` is .1, the client side in
//! its own namespace. Scripts the clients run are written by the lab and only log events
//! and set addresses inside the client namespace; nothing outside the namespaces changes.

use std::{
    fs,
    io::{self, Read},
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use std::sync::atomic::{AtomicU32, Ordering};

use crate::netns::NetNs;

static NEXT_IF: AtomicU32 = AtomicU32::new(0);

/// Path of a workspace binary: `$XDHCP_BIN_DIR/<name>` or `target/debug/<name>`.
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("XDHCP_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug"));
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: build it first (`cargo build -p dhcp-user --bins`, which `cargo xtask test` does)",
        p.display()
    );
    p
}

/// A client link.
#[derive(Debug)]
pub struct Link {
    /// The client namespace.
    pub ns: NetNs,
    /// Interface name inside it.
    pub ifname: String,
    /// Server-side interface name.
    pub server_if: String,
    /// Server address on the link.
    pub server_ip: Ipv4Addr,
    /// The link's /24.
    pub network: Ipv4Addr,
}

/// The lab.
#[derive(Debug)]
pub struct DhcpLab {
    /// Server namespace.
    pub server: NetNs,
    /// Client links.
    pub links: Vec<Link>,
    /// Scratch directory (config, state, logs, scripts), removed on drop.
    pub dir: PathBuf,
    daemon: Option<Child>,
    daemon_log: PathBuf,
}

/// One row of `xdhcpctl journal-dump --json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Address.
    pub address: Ipv4Addr,
    /// Binding state name.
    pub state: String,
    /// Hardware address.
    pub hw: String,
    /// Client key ("id:…" or "hw:…").
    pub client: String,
    /// Subnet id.
    pub subnet: u32,
    /// Lease end, seconds since 1970.
    pub lease_end: u64,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let k = format!("\"{key}\":");
    let rest = &line[line.find(&k)? + k.len()..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ',', '}'])?;
    Some(&rest[..end])
}

impl DhcpLab {
    /// Creates the server namespace and `links` client links.
    pub fn new(tag: &str, links: usize) -> io::Result<DhcpLab> {
        let server = NetNs::new(&format!("{tag}s"))?;
        let dir = std::env::temp_dir().join(format!(
            "xdhcp-lab-{}-{}",
            std::process::id(),
            server.name()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let mut v = Vec::new();
        for i in 0..links {
            let ns = NetNs::new(&format!("{tag}c{i}"))?;
            let sif = format!("s{i}");
            // Client interface names are unique in the process: dhcpcd keeps its control
            // socket and pid file under /run by interface name.
            let cif = format!("cl{}", NEXT_IF.fetch_add(1, Ordering::Relaxed));
            server.ip([
                "link",
                "add",
                &sif,
                "numrxqueues",
                "1",
                "numtxqueues",
                "1",
                "type",
                "veth",
                "peer",
                "name",
                &cif,
                "numrxqueues",
                "1",
                "numtxqueues",
                "1",
                "netns",
                ns.name(),
            ])?;
            let net = Ipv4Addr::new(10, 77, i as u8 + 1, 0);
            let sip = Ipv4Addr::new(10, 77, i as u8 + 1, 1);
            server.ip(["addr", "add", &format!("{sip}/24"), "dev", &sif])?;
            server.ip(["link", "set", &sif, "up"])?;
            ns.ip(["link", "set", &cif, "up"])?;
            v.push(Link {
                ns,
                ifname: cif,
                server_if: sif,
                server_ip: sip,
                network: net,
            });
        }
        let daemon_log = dir.join("xdhcpd.log");
        Ok(DhcpLab {
            server,
            links: v,
            dir,
            daemon: None,
            daemon_log,
        })
    }

    /// The state directory of the daemon.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// A config serving every link: subnet `i+1` = link `i`, pool .100–.199, with `extra`
    /// appended to `[server]` and `subnet_extra` to every subnet.
    pub fn config(&self, backend: &str, server_extra: &str, subnet_extra: &str) -> String {
        self.config_with(backend, server_extra, subnet_extra, "")
    }

    /// The daemon's control API socket, unless a config's tail names another.
    pub fn control_socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    /// [`config`](Self::config) plus `tail` (more `[[subnet]]` tables) at the end. Unless the
    /// tail has a `[control]` table, one is added that puts the control socket in the lab's
    /// directory (the default, under /run, is outside the lab).
    pub fn config_with(
        &self,
        backend: &str,
        server_extra: &str,
        subnet_extra: &str,
        tail: &str,
    ) -> String {
        let mut ifaces = Vec::new();
        let mut subnets = String::new();
        for (i, l) in self.links.iter().enumerate() {
            ifaces.push(format!(
                "{{ name = \"{}\", address = \"{}\" }}",
                l.server_if, l.server_ip
            ));
            let n = l.network.octets();
            subnets.push_str(&format!(
                "\n[[subnet]]\nid = {id}\nnetwork = \"{a}.{b}.{c}.0/24\"\npools = [\"{a}.{b}.{c}.100-{a}.{b}.{c}.199\"]\nrouters = [\"{sip}\"]\ndns-servers = [\"{sip}\"]\ndomain-name = \"lab.example\"\n{subnet_extra}\n",
                id = i + 1,
                a = n[0],
                b = n[1],
                c = n[2],
                sip = l.server_ip,
            ));
        }
        let control = if tail.contains("[control]") {
            String::new()
        } else {
            format!(
                "\n[control]\nsocket = \"{}\"\n",
                self.control_socket().display()
            )
        };
        format!(
            "[server]\ninterfaces = [{}]\nbackend = \"{backend}\"\nworkers = 2\nstate-dir = \"{}\"\ndecline-quarantine = 600\n{server_extra}\n[server.xdp]\npin-dir = \"\"\n{subnets}\n{tail}{control}",
            ifaces.join(", "),
            self.state_dir().display(),
        )
    }

    /// Writes `config` and starts xdhcpd in the server namespace; waits until it serves.
    pub fn start(&mut self, config: &str) -> io::Result<()> {
        let path = self.dir.join("xdhcpd.toml");
        fs::write(&path, config)?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.daemon_log)?;
        let before = self
            .log()
            .unwrap_or_default()
            .matches("xdhcpd serving")
            .count();
        let child = self
            .server
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
            let text = fs::read_to_string(&self.daemon_log).unwrap_or_default();
            if text.matches("xdhcpd serving").count() > before {
                return Ok(());
            }
            if let Some(c) = self.daemon.as_mut() {
                if let Some(st) = c.try_wait()? {
                    return Err(io::Error::other(format!(
                        "xdhcpd exited with {st}:\n{text}"
                    )));
                }
            }
            if t.elapsed() > Duration::from_secs(20) {
                return Err(io::Error::other(format!("xdhcpd did not start:\n{text}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `sig` to the daemon and waits for it to exit; returns the log so far.
    pub fn stop_with(&mut self, sig: libc::c_int) -> io::Result<String> {
        if let Some(mut c) = self.daemon.take() {
            // Safety: kill(2) on our own child.
            unsafe { libc::kill(c.id() as i32, sig) };
            let t = Instant::now();
            while c.try_wait()?.is_none() {
                if t.elapsed() > Duration::from_secs(15) {
                    let _ = c.kill();
                    let _ = c.wait();
                    return Err(io::Error::other("xdhcpd did not stop within 15 s"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.log()
    }

    /// Stops the daemon cleanly (SIGTERM).
    pub fn stop(&mut self) -> io::Result<String> {
        self.stop_with(libc::SIGTERM)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> io::Result<String> {
        match fs::read_to_string(&self.daemon_log) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            r => r,
        }
    }

    /// The bindings in the journal (read-only dump).
    pub fn leases(&self) -> io::Result<Vec<Lease>> {
        journal_leases(&self.state_dir())
    }

    /// Writes an executable client hook script that logs `<reason> <address>` lines to
    /// `<name>.events` and, for the states that carry an address, puts it on the interface.
    /// `addr_var` names the variable holding the address in that client's hook environment.
    pub fn hook(
        &self,
        name: &str,
        reason_var: &str,
        addr_var: &str,
        mask_var: &str,
        configure: bool,
    ) -> io::Result<PathBuf> {
        let events = self.dir.join(format!("{name}.events"));
        let path = self.dir.join(format!("{name}.sh"));
        let set = if configure {
            format!(
                "case \"${reason_var}\" in bound|renew|BOUND|RENEW|REBIND|REBOOT) [ -n \"${addr_var}\" ] && ip addr replace \"${addr_var}/${{{mask_var}:-24}}\" dev \"$interface\" ;; esac\n"
            )
        } else {
            String::new()
        };
        fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"${reason_var} ${addr_var}\" >> '{}'\n{set}exit 0\n",
                events.display()
            ),
        )?;
        Command::new("chmod").arg("+x").arg(&path).status()?;
        Ok(path)
    }

    /// Events logged by hook `name` so far.
    pub fn events(&self, name: &str) -> Vec<String> {
        fs::read_to_string(self.dir.join(format!("{name}.events")))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until hook `name` logged an event starting with `prefix` (case-insensitive).
    pub fn wait_event(&self, name: &str, prefix: &str, timeout: Duration) -> Option<String> {
        let t = Instant::now();
        let p = prefix.to_ascii_lowercase();
        while t.elapsed() < timeout {
            if let Some(e) = self
                .events(name)
                .into_iter()
                .find(|e| e.to_ascii_lowercase().starts_with(&p))
            {
                return Some(e);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for DhcpLab {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A background command in a namespace, killed on drop; its output is collected.
#[derive(Debug)]
pub struct Background {
    child: Child,
    name: String,
}

impl Background {
    /// Starts `cmd` with stdout and stderr captured.
    pub fn spawn(name: &str, mut cmd: Command) -> io::Result<Background> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        Ok(Background {
            child,
            name: name.to_owned(),
        })
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal.
    pub fn signal(&self, sig: libc::c_int) {
        // Safety: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits up to `timeout` for the process to exit by itself; kills it otherwise. Returns
    /// (exited by itself, stdout + stderr).
    pub fn finish(mut self, timeout: Duration) -> (bool, String) {
        let t = Instant::now();
        let mut exited = false;
        while t.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !exited {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut out);
        }
        (exited, format!("--- {} ---\n{out}", self.name))
    }
}

/// The bindings in the journal in `state_dir` (`xdhcpctl journal-dump --json`, read-only).
pub fn journal_leases(state_dir: &Path) -> io::Result<Vec<Lease>> {
    let out = Command::new(bin("xdhcpctl"))
        .args(["journal-dump", "--json", "--state-dir"])
        .arg(state_dir)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            Some(Lease {
                address: field(l, "address")?.parse().ok()?,
                state: field(l, "state")?.to_owned(),
                hw: field(l, "hw-address")?.to_owned(),
                client: field(l, "client")?.to_owned(),
                subnet: field(l, "subnet-id")?.parse().ok()?,
                lease_end: field(l, "lease-end")?.parse().ok()?,
            })
        })
        .collect())
}

/// Runs `cmd` to completion, killing it after `timeout`; returns (finished in time, output).
pub fn run_for(name: &str, cmd: Command, timeout: Duration) -> io::Result<(bool, String)> {
    Ok(Background::spawn(name, cmd)?.finish(timeout))
}

//! Running commands, and a two-namespace veth lab for the benchmark tasks.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

/// The workspace root (parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// True when running as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command builder that echoes what it runs and fails with context.
pub struct Cmd {
    inner: Command,
    show: String,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let show = program.as_ref().to_string_lossy().into_owned();
        Cmd {
            inner: Command::new(program),
            show,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.show.push(' ');
        self.show.push_str(&a.as_ref().to_string_lossy());
        self.inner.arg(a);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Self {
        self.inner.env(k, v);
        self
    }

    pub fn env_remove(mut self, k: &str) -> Self {
        self.inner.env_remove(k);
        self
    }

    pub fn dir(mut self, d: impl AsRef<Path>) -> Self {
        self.inner.current_dir(d);
        self
    }

    /// Runs with inherited stdio; fails on a non-zero exit.
    pub fn run(mut self) -> Result<()> {
        println!("$ {}", self.show);
        let st = self
            .inner
            .status()
            .with_context(|| format!("starting `{}`", self.show))?;
        if !st.success() {
            bail!("`{}` failed: {st}", self.show);
        }
        Ok(())
    }

    /// Runs quietly; true on a zero exit (for probes).
    pub fn probe(mut self) -> bool {
        self.inner
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Runs and returns stdout; fails on a non-zero exit, with stderr in the error.
    pub fn output_text(mut self) -> Result<String> {
        let out = self
            .inner
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("starting `{}`", self.show))?;
        if !out.status.success() {
            bail!(
                "`{}` failed ({}): {}",
                self.show,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts with stdout captured.
    pub fn spawn_piped(mut self) -> Result<Running> {
        let child = self
            .inner
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting `{}`", self.show))?;
        Ok(Running {
            child,
            show: self.show,
        })
    }
}

/// A started command.
pub struct Running {
    child: Child,
    show: String,
}

impl Running {
    /// Waits and returns stdout; fails on a non-zero exit.
    pub fn wait_text(self) -> Result<String> {
        let out = self.child.wait_with_output()?;
        if !out.status.success() {
            bail!("`{}` failed: {}", self.show, out.status);
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Two namespaces `<tag>-srv` and `<tag>-peer` joined by veth-srv/veth-peer (10.77.0.1/24 and
/// 10.77.0.2/24, two queues each). Removed on drop; a leftover of the same name is removed first.
pub struct Lab {
    server: String,
    peer: String,
}

fn ip<I, S>(args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Cmd::new("ip").args(args).output_text()
}

impl Lab {
    pub fn new(tag: &str) -> Result<Self> {
        let server = format!("xdx-{tag}-srv");
        let peer = format!("xdx-{tag}-peer");
        for n in [&server, &peer] {
            let _ = Cmd::new("ip").args(["netns", "del", n]).probe();
        }
        ip(["netns", "add", &server])?;
        let lab = Lab {
            server: server.clone(),
            peer: peer.clone(),
        };
        ip(["netns", "add", &peer])?;
        ip([
            "-n",
            &server,
            "link",
            "add",
            "veth-srv",
            "numrxqueues",
            "2",
            "numtxqueues",
            "2",
            "type",
            "veth",
            "peer",
            "name",
            "veth-peer",
            "numrxqueues",
            "2",
            "numtxqueues",
            "2",
            "netns",
            &peer,
        ])?;
        ip([
            "-n",
            &server,
            "addr",
            "add",
            "10.77.0.1/24",
            "dev",
            "veth-srv",
        ])?;
        ip([
            "-n",
            &peer,
            "addr",
            "add",
            "10.77.0.2/24",
            "dev",
            "veth-peer",
        ])?;
        for (ns, dev) in [
            (&server, "veth-srv"),
            (&peer, "veth-peer"),
            (&server, "lo"),
            (&peer, "lo"),
        ] {
            ip(["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(lab)
    }

    pub fn server_mac(&self) -> Result<String> {
        let out = ip(["-n", &self.server, "link", "show", "veth-srv"])?;
        out.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .map(str::to_owned)
            .context("no MAC address on veth-srv")
    }

    pub fn server_cmd(&self, program: &str) -> Cmd {
        Cmd::new("ip").args(["netns", "exec", &self.server, program])
    }

    pub fn peer_cmd(&self, program: &str) -> Cmd {
        Cmd::new("ip").args(["netns", "exec", &self.peer, program])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in [&self.server, &self.peer] {
            let _ = Cmd::new("ip").args(["netns", "del", n]).probe();
        }
    }
}

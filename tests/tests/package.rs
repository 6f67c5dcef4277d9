//! The Debian package on this machine: `dpkg -i` of the .deb that `cargo xtask package` builds,
//! the installed `xdhcpd.service` started by a real systemd inside the lab's server namespace,
//! the daemon's capability sets read from `/proc`, a DHCP client served, then `dpkg --purge`.
//! Needs root; changes the real machine while it runs and leaves it as it found it.
//!
//! PID 1 here need not be systemd (containers, CI). The test boots `/lib/systemd/systemd` as
//! PID 1 of new PID, mount, UTS and cgroup namespaces inside the server network namespace
//! (`ip netns exec … unshare …`). In that mount namespace `/run`, `/tmp` and `/var/tmp` are fresh
//! tmpfs (so the unit's PrivateTmp= leaves nothing behind on the host), bpffs is
//! mounted at `/sys/fs/bpf` with mode 0700 (as systemd does at boot on a host), the lab's
//! configuration is bind-mounted over `/etc/xdhcp/xdhcpd.toml`, and the unit search path
//! (`SYSTEMD_UNIT_PATH`) holds only a link to the installed unit file, journald, and empty
//! stand-ins for the targets the unit orders itself after — so nothing else on the machine
//! starts. systemd itself applies the unit: user, capabilities, sandbox, directories.
//!
//! The .deb: `$XDHCP_DEB` when set, otherwise built here with `cargo xtask package --fast`
//! (incremental after the first release build; cargo-deb comes from `cargo xtask setup`).
//!
//! Idempotent: a marker file records an installation made by this test, so a run killed half-way
//! is cleaned up by the next; a package, state or configuration that the test did not install is
//! never touched (the test then skips and says why).

use std::{
    collections::BTreeSet,
    fs, io,
    net::Ipv4Addr,
    os::unix::{fs::MetadataExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use xdhcp_tests::{
    lab::{DhcpLab, run_for},
    netns::NetNs,
    require_root,
};

const PACKAGE: &str = "xdhcp";
const USER: &str = "_xdhcp";
const UNIT_FILE: &str = "/usr/lib/systemd/system/xdhcpd.service";
const CONFIG: &str = "/etc/xdhcp/xdhcpd.toml";
const STATE_DIR: &str = "/var/lib/xdhcp";
/// Records that this test installed the package, and whether it created the user.
const MARKER: &str = "/var/tmp/xdhcp-package-test.marker";

/// The capabilities the issue allows the service, and no other.
const ALLOWED: [&str; 4] = [
    "CAP_BPF",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_NET_BIND_SERVICE",
];

fn cap_number(name: &str) -> u32 {
    match name {
        "CAP_NET_BIND_SERVICE" => 10,
        "CAP_NET_ADMIN" => 12,
        "CAP_NET_RAW" => 13,
        "CAP_IPC_LOCK" => 14,
        "CAP_SYS_ADMIN" => 21,
        "CAP_PERFMON" => 38,
        "CAP_BPF" => 39,
        other => panic!("capability {other} has no number in this test"),
    }
}

fn mask<'a>(caps: impl IntoIterator<Item = &'a str>) -> u64 {
    caps.into_iter().fold(0, |m, c| m | 1u64 << cap_number(c))
}

fn run(cmd: &mut Command) -> io::Result<Output> {
    cmd.stdin(Stdio::null()).output()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a command that must succeed; returns its stdout.
fn must(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let o = run(cmd).unwrap_or_else(|e| panic!("starting {shown}: {e}"));
    assert!(
        o.status.success(),
        "{shown} failed ({}): {}",
        o.status,
        text(&o)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn dpkg_status() -> String {
    run(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Status}", PACKAGE]))
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn user_exists() -> bool {
    run(Command::new("getent").args(["passwd", USER])).is_ok_and(|o| o.status.success())
}

/// `passwd` fields of the service user.
fn user_entry() -> Vec<String> {
    must(Command::new("getent").args(["passwd", USER]))
        .trim()
        .split(':')
        .map(str::to_owned)
        .collect()
}

fn purge() {
    match run(Command::new("dpkg")
        .args(["--purge", PACKAGE])
        .env("DEBIAN_FRONTEND", "noninteractive"))
    {
        Ok(o) if o.status.success() => {}
        Ok(o) => eprintln!("package test cleanup: dpkg --purge: {}", text(&o)),
        Err(e) => eprintln!("package test cleanup: dpkg --purge: {e}"),
    }
}

/// Purges the package and removes what this test created, when dropped.
struct Installed {
    user_created: bool,
}

impl Installed {
    fn install(deb: &Path) -> Installed {
        let user_created = !user_exists();
        fs::write(MARKER, format!("user-created={user_created}\n")).expect("writing the marker");
        let guard = Installed { user_created };
        let out = must(
            Command::new("dpkg")
                .arg("--install")
                .arg(deb)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        );
        println!("dpkg --install {}:\n{}", deb.display(), out.trim());
        guard
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        purge();
        if self.user_created && user_exists() {
            // Debian keeps system users on purge; this one exists only because the test did.
            if let Err(e) = run(Command::new("userdel").arg(USER)) {
                eprintln!("package test cleanup: userdel {USER}: {e}");
            }
        }
        let _ = fs::remove_file(MARKER);
    }
}

/// Cleans up after a killed run of this test; `Err(reason)` when the machine holds an xdhcp
/// installation, state or configuration that this test did not make.
fn preflight() -> Result<(), String> {
    if let Ok(marker) = fs::read_to_string(MARKER) {
        println!(
            "cleaning up after an interrupted run ({MARKER}: {})",
            marker.trim()
        );
        purge();
        if marker.contains("user-created=true") && user_exists() {
            let _ = run(Command::new("userdel").arg(USER));
        }
        let _ = fs::remove_file(MARKER);
    }
    let status = dpkg_status();
    if !status.is_empty() && status != "not-installed" {
        return Err(format!(
            "package {PACKAGE} is on this machine ({status}) and was not installed by this test"
        ));
    }
    for p in [STATE_DIR, "/etc/xdhcp"] {
        if Path::new(p).exists() {
            return Err(format!(
                "{p} exists and is not this test's: the package would take it over and purge it"
            ));
        }
    }
    Ok(())
}

/// The .deb under test: `$XDHCP_DEB`, or built by `cargo xtask package --fast`.
fn locate_deb() -> PathBuf {
    if let Some(p) = std::env::var_os("XDHCP_DEB") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let t = Instant::now();
    let out = Command::new("cargo")
        .args(["xtask", "package", "--fast"])
        .current_dir(&root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("starting `cargo xtask package` (or set XDHCP_DEB)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "`cargo xtask package --fast` failed ({}); cargo-deb comes from `cargo xtask setup`:\n{stdout}",
        out.status
    );
    let deb = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("package: "))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no `package:` line from cargo xtask package:\n{stdout}"));
    println!(
        "built {} in {:.1} s",
        deb.display(),
        t.elapsed().as_secs_f64()
    );
    deb
}

/// Values of `key=` in a unit file, systemd style: lines add up, an empty value resets.
fn unit_list(unit: &str, key: &str) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for line in unit.lines().map(str::trim) {
        let Some(v) = line.strip_prefix(key).and_then(|r| r.strip_prefix('=')) else {
            continue;
        };
        if v.trim().is_empty() {
            set.clear();
        }
        set.extend(v.split_whitespace().map(str::to_owned));
    }
    set
}

fn unit_value<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines()
        .map(str::trim)
        .rev()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Where this process's cgroup v2 directory is, if cgroup2 is mounted.
fn own_cgroup2() -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next()? == "cgroup2").then(|| pre.split_whitespace().nth(4))?
    })?;
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(Path::new(mount).join(path.trim_start_matches('/')))
}

/// Removes `dir` and the cgroups below it, waiting for their processes to be gone.
fn remove_cgroup_tree(dir: &Path) {
    fn dirs(d: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = fs::read_dir(d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs(&e.path(), out);
                }
            }
        }
        out.push(d.to_owned());
    }
    let t = Instant::now();
    loop {
        let mut all = Vec::new();
        dirs(dir, &mut all);
        let failed = all.iter().filter(|d| fs::remove_dir(d).is_err()).count();
        if !dir.exists() || t.elapsed() > Duration::from_secs(10) {
            if dir.exists() {
                eprintln!(
                    "package test cleanup: {} not removed ({failed} left)",
                    dir.display()
                );
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A systemd booted as PID 1 of its own namespaces inside `ns`; killed on drop.
struct Systemd {
    child: Child,
    /// systemd's pid as this process sees it.
    pid: u32,
    cgroup: PathBuf,
}

/// Runs inside the new mount/PID namespace and becomes systemd. `$1` is the configuration to
/// serve at /etc/xdhcp/xdhcpd.toml.
const BOOT_SCRIPT: &str = r#"set -e
mount -t tmpfs -o mode=0755 tmpfs /run
units=/run/xdt/units
mkdir -p "$units" /run/xdt/none /run/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\n' > /run/systemd/journald.conf.d/xdt.conf
for f in xdhcpd.service systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket; do
    if [ -e "/usr/lib/systemd/system/$f" ]; then ln -s "/usr/lib/systemd/system/$f" "$units/$f"; fi
done
printf '[Unit]\nDescription=xdhcp package test\nDefaultDependencies=no\nWants=systemd-journald.socket systemd-journald.service\n' > "$units/xdt.target"
for t in sysinit basic network network-online; do
    printf '[Unit]\nDescription=stand-in for %s.target\nDefaultDependencies=no\n' "$t" > "$units/$t.target"
done
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf -o mode=0700 bpf /sys/fs/bpf
mount --bind "$1" /etc/xdhcp/xdhcpd.toml
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
exec env -i container=xdhcp-package-test SYSTEMD_UNIT_PATH="$units" \
    SYSTEMD_GENERATOR_PATH=/run/xdt/none SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/xdt/none \
    SYSTEMD_PROC_CMDLINE= /lib/systemd/systemd --system --unit=xdt.target --log-target=journal
"#;

impl Systemd {
    fn boot(ns: &NetNs, dir: &Path, config: &Path) -> Systemd {
        let base = own_cgroup2().expect("cgroup2 is not mounted; systemd needs it");
        // Leftovers of killed runs (their pids are gone).
        if let Ok(rd) = fs::read_dir(&base) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name
                    .strip_prefix("xdt")
                    .and_then(|r| r.strip_suffix("-pkg"))
                {
                    if !Path::new("/proc").join(pid).exists() {
                        remove_cgroup_tree(&e.path());
                    }
                }
            }
        }
        let cgroup = base.join(format!("xdt{}-pkg", std::process::id()));
        fs::create_dir_all(&cgroup).expect("creating the test cgroup");
        let script = dir.join("boot.sh");
        fs::write(&script, BOOT_SCRIPT).unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "echo $$ > '{}/cgroup.procs' && exec ip netns exec '{}' unshare --pid --fork --mount --uts --cgroup --mount-proc --kill-child sh '{}' '{}'",
                cgroup.display(),
                ns.name(),
                script.display(),
                config.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("boot.log")).unwrap());
        // Safety: prctl in the forked child before exec; async-signal-safe. If this test dies,
        // unshare dies, and unshare's --kill-child takes systemd with it.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("starting unshare");
        let unshare = child.id();
        let t = Instant::now();
        let pid = loop {
            let children = fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
                .unwrap_or_default();
            let sd = children.split_whitespace().find(|p| {
                fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "systemd")
            });
            if let Some(p) = sd {
                break p.parse().unwrap();
            }
            if let Ok(Some(st)) = child.try_wait() {
                let err = fs::read_to_string(dir.join("boot.log")).unwrap_or_default();
                panic!("the systemd boot script exited with {st}: {err}");
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "systemd did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let sd = Systemd { child, pid, cgroup };
        let t = Instant::now();
        loop {
            let state = sd.ctl(&["is-system-running"]);
            let state = String::from_utf8_lossy(&state.stdout).trim().to_owned();
            if state == "running" || state == "degraded" {
                println!(
                    "systemd booted as PID 1 in {:.1} s ({state})",
                    t.elapsed().as_secs_f64()
                );
                return sd;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "systemd did not come up (state {state:?})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A command run inside systemd's namespaces.
    fn inside(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args([
            "-t",
            &self.pid.to_string(),
            "-m",
            "-u",
            "-p",
            "-n",
            "-C",
            "--",
            program,
        ]);
        c
    }

    fn ctl(&self, args: &[&str]) -> Output {
        run(self.inside("systemctl").args(args)).expect("running systemctl")
    }

    /// `systemctl args`, which must succeed.
    fn ctl_ok(&self, args: &[&str]) {
        let o = self.ctl(args);
        assert!(
            o.status.success(),
            "systemctl {args:?}: {}\n{}",
            text(&o),
            self.journal()
        );
    }

    fn show(&self, property: &str) -> String {
        let o = self.ctl(&["show", "-p", property, "--value", "xdhcpd.service"]);
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    }

    /// The service's journal (messages only).
    fn journal(&self) -> String {
        run(self
            .inside("journalctl")
            .args(["-u", "xdhcpd.service", "-o", "cat", "--no-pager"]))
        .map(|o| text(&o))
        .unwrap_or_default()
    }

    /// Waits until the journal holds `count` lines containing `needle`; `Err(journal)` when the
    /// daemon reported an error first (or on timeout).
    fn wait_journal(&self, needle: &str, count: usize, errors_before: usize) -> Result<(), String> {
        let t = Instant::now();
        loop {
            let j = self.journal();
            if j.matches(needle).count() >= count {
                return Ok(());
            }
            if j.matches("xdhcpd: ").count() > errors_before
                || t.elapsed() > Duration::from_secs(20)
            {
                return Err(j);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `cat` of a file inside the namespaces (systemd's /proc, the private bpffs).
    fn read(&self, path: &str) -> String {
        must(self.inside("cat").arg(path))
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        // SIGKILL from outside its PID namespace ends systemd and with it every process there.
        // Safety: kill(2) on a pid this test started.
        unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
        remove_cgroup_tree(&self.cgroup);
    }
}

/// The capability sets and identity of every thread of the service's main process.
struct ProcCaps {
    uid: u32,
    threads: Vec<[u64; 5]>,
    no_new_privs: bool,
    seccomp: String,
    memlock: String,
}

const CAP_KEYS: [&str; 5] = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];

fn status_caps(status: &str) -> [u64; 5] {
    CAP_KEYS.map(|k| {
        let v = status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .unwrap_or_else(|| panic!("{k} missing from /proc status"));
        u64::from_str_radix(v.trim(), 16).unwrap()
    })
}

fn proc_caps(sd: &Systemd, pid: &str) -> ProcCaps {
    let status = sd.read(&format!("/proc/{pid}/status"));
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let tasks = must(sd.inside("ls").arg(format!("/proc/{pid}/task")));
    let threads = tasks
        .split_whitespace()
        .map(|t| status_caps(&sd.read(&format!("/proc/{pid}/task/{t}/status"))))
        .collect();
    let limits = sd.read(&format!("/proc/{pid}/limits"));
    ProcCaps {
        uid: field("Uid")
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap(),
        threads,
        no_new_privs: field("NoNewPrivs") == "1",
        seccomp: field("Seccomp"),
        memlock: limits
            .lines()
            .find(|l| l.starts_with("Max locked memory"))
            .map(|l| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
    }
}

/// Asserts that every thread of the running service holds exactly `expected` in its permitted,
/// effective, bounding, ambient and inheritable sets, as the service user; prints the evidence.
fn assert_caps(sd: &Systemd, expected: u64, uid: u32, what: &str) {
    let pid = sd.show("MainPID");
    assert_ne!(pid, "0", "{what}: no main process\n{}", sd.journal());
    let p = proc_caps(sd, &pid);
    println!(
        "{what}: MainPID {pid} uid {} ({} threads) NoNewPrivs {} Seccomp {} memlock {}",
        p.uid,
        p.threads.len(),
        u8::from(p.no_new_privs),
        p.seccomp,
        p.memlock
    );
    for (k, v) in CAP_KEYS.iter().zip(p.threads[0]) {
        println!("  {k}: {v:016x}");
    }
    assert_eq!(p.uid, uid, "{what}: not running as {USER}");
    assert!(p.no_new_privs, "{what}: NoNewPrivs not set");
    assert_eq!(p.seccomp, "2", "{what}: no seccomp filter");
    for (i, t) in p.threads.iter().enumerate() {
        for (k, v) in CAP_KEYS.iter().zip(t) {
            assert_eq!(
                *v, expected,
                "{what}: thread {i} {k} {v:016x}, expected {expected:016x}"
            );
        }
    }
}

/// udhcpc in the client namespace until it is bound; returns the address.
fn serve_client(lab: &DhcpLab, name: &str) -> Ipv4Addr {
    let link = &lab.links[0];
    let hook = lab.hook(name, "1", "ip", "mask", false).unwrap();
    let mut c = link.ns.command("udhcpc");
    c.args([
        "-i",
        &link.ifname,
        "-f",
        "-q",
        "-n",
        "-t",
        "5",
        "-T",
        "1",
        "-A",
        "1",
        "-s",
    ])
    .arg(&hook);
    let (done, out) = run_for(name, c, Duration::from_secs(20)).unwrap();
    let ev = lab
        .wait_event(name, "bound", Duration::from_secs(1))
        .unwrap_or_else(|| panic!("{name}: no lease (finished: {done})\n{out}"));
    let addr: Ipv4Addr = ev.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(&addr.octets()[..3], &link.network.octets()[..3], "{ev}");
    addr
}

/// The lab's configuration with the packaged service's paths: the journal in the unit's
/// StateDirectory and pins where the unit binds /sys/fs/bpf/xdhcp.
fn service_config(lab: &DhcpLab, backend: &str, frames_per_queue: Option<u32>) -> String {
    let lab_cfg = lab.config(backend, "", "");
    let state = format!("state-dir = \"{}\"", lab.state_dir().display());
    assert!(
        lab_cfg.contains(&state) && lab_cfg.contains("pin-dir = \"\""),
        "{lab_cfg}"
    );
    let xdp = match frames_per_queue {
        Some(n) => format!("pin-dir = \"/run/xdhcp/bpf\"\nframes-per-queue = {n}"),
        None => "pin-dir = \"/run/xdhcp/bpf\"".to_owned(),
    };
    lab_cfg
        .replace(&state, &format!("state-dir = \"{STATE_DIR}\""))
        .replace("pin-dir = \"\"", &xdp)
}

/// The hard RLIMIT_MEMLOCK of this process, `None` when unlimited. systemd cannot raise a
/// service above it without CAP_SYS_RESOURCE, whatever LimitMEMLOCK= says.
fn memlock_hard_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))?;
    line.split_whitespace().nth(4)?.parse().ok()
}

fn journal_has_lease(addr: Ipv4Addr) -> bool {
    let dump = must(Command::new("/usr/bin/xdhcpctl").args([
        "journal-dump",
        "--json",
        "--state-dir",
        STATE_DIR,
    ]));
    dump.lines()
        .any(|l| l.contains(&format!("\"address\":\"{addr}\"")) && l.contains("\"active\""))
}

/// What `dpkg --install` must have left: files, a conffile, the user, a disabled service and a
/// configuration that serves nothing. Returns the service user's uid.
fn check_installation() -> u32 {
    assert_eq!(dpkg_status(), "installed");
    for p in ["/usr/sbin/xdhcpd", "/usr/bin/xdhcpctl", UNIT_FILE, CONFIG] {
        assert!(Path::new(p).exists(), "{p} not installed");
    }
    let conffiles = must(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", PACKAGE]));
    assert!(
        conffiles.contains(CONFIG),
        "{CONFIG} is not a conffile: {conffiles}"
    );
    let user = user_entry();
    let uid: u32 = user[2].parse().unwrap();
    assert_ne!(uid, 0);
    assert_eq!(user[6], "/usr/sbin/nologin", "{user:?}");
    assert!(
        !Path::new("/etc/systemd/system/multi-user.target.wants/xdhcpd.service").exists(),
        "the package enabled the service"
    );
    // The shipped configuration serves nothing: it names no interface and says so.
    let check =
        run(Command::new("/usr/sbin/xdhcpd").args(["--config", CONFIG, "--check"])).unwrap();
    assert!(
        !check.status.success(),
        "the default configuration passes --check"
    );
    assert!(
        text(&check).contains("server.interfaces"),
        "{}",
        text(&check)
    );
    uid
}

/// The socket backend (UDP 67 with CAP_NET_BIND_SERVICE) under the unit as installed: the
/// four capabilities exactly, a lease, a reload that keeps the process, a clean stop.
fn socket_backend(sd: &Systemd, lab: &DhcpLab, uid: u32, four: u64) {
    sd.ctl_ok(&["start", "xdhcpd.service"]);
    sd.wait_journal("xdhcpd serving", 1, 0)
        .unwrap_or_else(|j| panic!("xdhcpd (socket backend) did not start:\n{j}"));
    assert_caps(sd, four, uid, "socket backend");
    let addr = serve_client(lab, "udhcpc-socket");
    println!("socket backend: udhcpc bound {addr}");
    let pid = sd.show("MainPID");
    sd.ctl_ok(&["reload", "xdhcpd.service"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sd.show("ActiveState"), "active", "{}", sd.journal());
    assert_eq!(sd.show("MainPID"), pid, "reload restarted the daemon");
    sd.ctl_ok(&["stop", "xdhcpd.service"]);
    assert!(sd.journal().contains("xdhcpd stopped"), "{}", sd.journal());
    let state = fs::metadata(STATE_DIR).unwrap();
    assert_eq!(state.uid(), uid, "{STATE_DIR} not owned by {USER}");
    assert!(journal_has_lease(addr), "{addr} not in the journal");
}

/// The XDP backend under the unit: program loaded and attached, AF_XDP sockets, the link pinned
/// in bpffs as the service user, a lease, a crash that systemd restarts and whose pinned link
/// the next run takes over, a clean stop that detaches and unpins.
fn xdp_backend(sd: &Systemd, lab: &DhcpLab, config: &Path, uid: u32, four: u64) {
    let frames = memlock_hard_limit().map(|limit| {
        println!(
            "note: this machine caps RLIMIT_MEMLOCK at {limit} bytes (hard) and nothing here \
             holds CAP_SYS_RESOURCE, so LimitMEMLOCK=infinity is clamped to it: 1024 UMEM frames"
        );
        1024
    });
    // Truncated in place: the bind mount over /etc/xdhcp/xdhcpd.toml follows the inode.
    fs::write(config, service_config(lab, "xdp", frames)).unwrap();
    let errors = sd.journal().matches("xdhcpd: ").count();
    let serving = sd.journal().matches("xdhcpd serving").count();
    sd.ctl_ok(&["start", "xdhcpd.service"]);
    // With exactly the four capabilities: no CAP_PERFMON for the verifier (dhcp-ebpf keeps to
    // what it allows without; tests/tests/xdp_capabilities.rs goes through every decision).
    sd.wait_journal("xdhcpd serving", serving + 1, errors)
        .unwrap_or_else(|j| panic!("xdhcpd (XDP backend) did not start:\n{j}"));
    assert_caps(sd, four, uid, "XDP backend");
    let ifname = &lab.links[0].server_if;
    let pin_path = format!("/sys/fs/bpf/xdhcp/link-{ifname}");
    let link_state = text(
        &lab.server
            .ip(["-d", "link", "show", "dev", ifname])
            .unwrap(),
    );
    // Loaded by the service user. It has no name here: aya learns whether the kernel takes
    // program names by loading a tracepoint program, which needs CAP_PERFMON.
    let prog = link_state
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("prog/xdp"))
        .unwrap_or_else(|| panic!("no XDP program on {ifname}: {link_state}"));
    if prog.contains("created_by_uid") {
        assert!(
            prog.contains(&format!("created_by_uid {uid} ")),
            "not loaded by {USER}: {prog}"
        );
    }
    let pin = must(sd.inside("stat").args(["-c", "%U %a", &pin_path]));
    assert_eq!(pin.trim(), format!("{USER} 600"), "the pinned link");
    let addr = serve_client(lab, "udhcpc-xdp");
    println!(
        "XDP backend: {prog}; udhcpc bound {addr}; link pinned at {pin_path} ({})",
        pin.trim()
    );

    // A crash: Restart=on-failure starts it again, and the new run, still unprivileged, takes
    // over the pinned link the dead one left attached.
    let pid = sd.show("MainPID");
    must(sd.inside("kill").args(["-KILL", &pid]));
    sd.wait_journal("replaced_leftover=true", 1, usize::MAX)
        .unwrap_or_else(|j| panic!("no restart taking over the pinned link:\n{j}"));
    sd.wait_journal("xdhcpd serving", serving + 2, usize::MAX)
        .unwrap_or_else(|j| panic!("no restart after SIGKILL:\n{j}"));
    assert_caps(sd, four, uid, "XDP backend after a crash");

    sd.ctl_ok(&["stop", "xdhcpd.service"]);
    let link_state = text(
        &lab.server
            .ip(["-d", "link", "show", "dev", ifname])
            .unwrap(),
    );
    assert!(
        !link_state.contains("prog/xdp"),
        "XDP left attached: {link_state}"
    );
    let pins = must(sd.inside("ls").arg("/sys/fs/bpf/xdhcp"));
    assert!(pins.trim().is_empty(), "pins left: {pins}");
    assert!(journal_has_lease(addr), "{addr} not in the journal");
}

#[test]
fn the_debian_package_installs_and_its_unit_serves_with_only_four_capabilities() {
    require_root!();
    let t0 = Instant::now();
    if !Path::new("/lib/systemd/systemd").exists() {
        eprintln!("SKIPPED: /lib/systemd/systemd is missing; the test boots it to run the unit");
        return;
    }
    if let Err(why) = preflight() {
        eprintln!("SKIPPED: {why}; not touching it");
        return;
    }
    let deb = locate_deb();

    let installed = Installed::install(&deb);
    let uid = check_installation();

    // ---- the unit file lists exactly the allowed capabilities ----
    let unit = fs::read_to_string(UNIT_FILE).unwrap();
    let allowed: BTreeSet<String> = ALLOWED.iter().map(|s| s.to_string()).collect();
    assert_eq!(unit_list(&unit, "AmbientCapabilities"), allowed);
    assert_eq!(unit_list(&unit, "CapabilityBoundingSet"), allowed);
    assert_eq!(unit_value(&unit, "User"), Some(USER));
    assert_eq!(unit_value(&unit, "NoNewPrivileges"), Some("yes"));
    let four = mask(ALLOWED);
    println!("unit {UNIT_FILE}: capabilities {ALLOWED:?} = mask {four:016x}");

    // ---- systemd in the lab's server namespace ----
    let lab = DhcpLab::new("pkg", 1).expect("lab");
    let config = lab.dir.join("xdhcpd.toml");
    fs::write(&config, service_config(&lab, "socket", None)).unwrap();
    let sd = Systemd::boot(&lab.server, &lab.dir, &config);

    socket_backend(&sd, &lab, uid, four);
    xdp_backend(&sd, &lab, &config, uid, four);
    // systemd and its namespaces go before the package they run.
    drop(sd);
    drop(lab);

    // ---- purge: nothing of the package, its state or (if the test made it) its user remains ----
    let user_created = installed.user_created;
    drop(installed);
    let status = dpkg_status();
    assert!(
        status.is_empty() || status == "not-installed",
        "after purge: {status}"
    );
    for p in [
        "/usr/sbin/xdhcpd",
        UNIT_FILE,
        CONFIG,
        "/etc/xdhcp",
        STATE_DIR,
        MARKER,
    ] {
        assert!(!Path::new(p).exists(), "{p} left after purge");
    }
    assert_eq!(user_exists(), !user_created);
    println!("package test done in {:.1} s", t0.elapsed().as_secs_f64());
}

//! The XDP program with the capabilities the packaged service has and no others: CAP_BPF,
//! CAP_NET_ADMIN and CAP_NET_RAW (CAP_NET_BIND_SERVICE plays no part in XDP), and in particular
//! neither CAP_PERFMON nor CAP_SYS_ADMIN. Without CAP_PERFMON the verifier also checks the program
//! against speculative execution and rewrites parts of it, so both what loads and what it then
//! decides are tested here:
//!
//! - xdhcpd with the XDP backend runs as a user of its own holding only those capabilities in
//!   every set (`setpriv`, as systemd does for the unit) and serves udhcpc: the XDP backend
//!   hears only what the program steers into its AF_XDP socket;
//! - a thread whose capability sets are cut down to the same three loads the program, attaches
//!   it to a veth with an AF_XDP socket, and runs every kind of decision through
//!   `BPF_PROG_TEST_RUN`.
//!
//! Needs root (to create the namespaces and hand out the capabilities) and the daemon binaries
//! (`$XDHCP_BIN_DIR`, see `xdhcp_tests::lab::bin`).

use std::{
    fs,
    net::Ipv4Addr,
    os::fd::AsRawFd as _,
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use dhcp_common::SteerStat;
use dhcp_user::{
    io::xdp::{XdpPlane, XdpPlaneConfig},
    steer::{AttachMode, action},
    xsk::XskConfig,
};
use dhcp_wire::frame::VlanTag;
use xdhcp_tests::{
    frames::{self, TPID_8021AD, TPID_8021Q},
    lab::{DhcpLab, bin, run_for},
    netns::VethLab,
    require_root,
};

/// The capabilities XDP needs, as `setpriv` names them and by number.
const CAPS: [(&str, u32); 3] = [("net_admin", 12), ("net_raw", 13), ("bpf", 39)];
const CAP_PERFMON: u32 = 38;
const CAP_SYS_ADMIN: u32 = 21;

fn caps_mask() -> u64 {
    CAPS.iter().fold(0, |m, (_, n)| m | 1 << n)
}

/// The capability sets in a `/proc/.../status`, in the order Inh, Prm, Eff, Bnd, Amb.
fn cap_sets(status: &str) -> [u64; 5] {
    ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map(|key| {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {key} in:\n{status}"));
        u64::from_str_radix(line.trim(), 16).unwrap()
    })
}

/// Kills the daemon if the test fails half-way.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the daemon's log says `what`; panics with the log if it exits or takes too long.
fn wait_log(daemon: &mut Reaped, log: &Path, what: &str) -> String {
    let t = Instant::now();
    loop {
        let text = fs::read_to_string(log).unwrap_or_default();
        if text.contains(what) {
            return text;
        }
        if let Some(st) = daemon.0.try_wait().unwrap() {
            panic!("xdhcpd exited ({st}) before {what:?}:\n{text}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no {what:?} from xdhcpd:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The XDP program attached to `ifname` in the server namespace, as `ip -d link` shows it.
fn xdp_prog(lab: &DhcpLab, ifname: &str) -> Option<String> {
    let out = lab
        .server
        .ip(["-d", "link", "show", "dev", ifname])
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.trim_start().starts_with("prog/xdp"))
        .map(|l| l.trim().to_owned())
}

/// udhcpc on link 0 until it is bound; returns the address.
fn lease(lab: &DhcpLab) -> Ipv4Addr {
    let link = &lab.links[0];
    let hook = lab.hook("udhcpc", "1", "ip", "mask", false).unwrap();
    let mut c = link.ns.command("udhcpc");
    c.args(["-i", &link.ifname, "-f", "-q", "-n"])
        .args(["-t", "5", "-T", "1", "-A", "1", "-s"])
        .arg(&hook);
    let (done, out) = run_for("udhcpc", c, Duration::from_secs(20)).unwrap();
    let ev = lab
        .wait_event("udhcpc", "bound", Duration::from_secs(1))
        .unwrap_or_else(|| panic!("no lease (udhcpc finished: {done})\n{out}"));
    ev.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn xdhcpd_serves_over_xdp_as_an_unprivileged_user_with_three_capabilities() {
    require_root!();
    let lab = DhcpLab::new("caps", 1).expect("lab");
    // A uid of its own, as the service has: the UMEM is charged to the user's RLIMIT_MEMLOCK
    // (there is no CAP_IPC_LOCK), and no other process shares that account.
    let uid = 3_000_000_000 + std::process::id() % 1_000_000;
    let state = lab.state_dir();
    fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(uid), Some(uid)).unwrap();
    // 1024 frames (2 MiB of UMEM) fit below the usual RLIMIT_MEMLOCK of 8 MiB.
    let config = lab
        .config("xdp", "", "")
        .replace("pin-dir = \"\"", "pin-dir = \"\"\nframes-per-queue = 1024");
    let config_path = lab.dir.join("xdhcpd-caps.toml");
    fs::write(&config_path, config).unwrap();
    let log_path = lab.dir.join("xdhcpd-caps.log");
    let log = fs::File::create(&log_path).unwrap();

    let uid_arg = uid.to_string();
    let list = CAPS
        .iter()
        .fold("-all".to_owned(), |l, (name, _)| l + ",+" + name);
    let daemon = lab
        .server
        .command("setpriv")
        .args(["--reuid", &uid_arg, "--regid", &uid_arg, "--clear-groups"])
        .args([
            "--no-new-privs",
            "--inh-caps",
            &list,
            "--ambient-caps",
            &list,
        ])
        .args(["--bounding-set", &list, "--"])
        .arg(bin("xdhcpd"))
        .arg("--config")
        .arg(&config_path)
        .env("XDHCP_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting xdhcpd under setpriv (util-linux)");
    // `ip netns exec` and `setpriv` exec in place: the child's pid is the daemon's.
    let pid = daemon.id();
    let mut daemon = Reaped(daemon);
    wait_log(&mut daemon, &log_path, "xdhcpd serving");

    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Name:\txdhcpd"), "{status}");
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uids.split_whitespace().skip(1).all(|u| u == uid_arg),
        "{uids}"
    );
    let sets = cap_sets(&status);
    assert_eq!(
        sets,
        [caps_mask(); 5],
        "CapInh, CapPrm, CapEff, CapBnd, CapAmb"
    );
    assert_eq!(sets[2] & (1 << CAP_PERFMON | 1 << CAP_SYS_ADMIN), 0);
    println!(
        "xdhcpd (pid {pid}, uid {uid}): CapInh = CapPrm = CapEff = CapBnd = CapAmb = {:016x} {:?}",
        sets[2],
        CAPS.map(|(name, _)| name)
    );
    let ifname = &lab.links[0].server_if;
    let prog = xdp_prog(&lab, ifname).unwrap_or_else(|| panic!("no XDP program on {ifname}"));
    println!("{ifname}: {prog}");

    let addr = lease(&lab);
    // Safety: kill(2) on our own child, not yet waited for.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    let text = wait_log(&mut daemon, &log_path, "xdhcpd stopped");
    let exit = daemon.0.wait().unwrap();
    assert!(exit.success(), "xdhcpd exit {exit}:\n{text}");
    let stopped = text.lines().find(|l| l.contains("xdhcpd stopped")).unwrap();
    println!("udhcpc bound {addr}; {}", stopped.trim());
    assert_eq!(xdp_prog(&lab, ifname), None, "XDP program left attached");
}

/// Cuts the calling thread's capability sets (bounding, ambient, then effective, permitted and
/// inheritable) down to `keep`. Capabilities are per thread; the rest of the process keeps its own.
fn restrict_thread_caps(keep: u64) {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for cap in (0..=last).filter(|c| keep & 1 << c == 0) {
        // Safety: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        assert_eq!(rc, 0, "dropping capability {cap} from the bounding set");
    }
    // Safety: as above.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    assert_eq!(rc, 0, "clearing the ambient set");

    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0, // the calling thread
    };
    let half = |shift: u32| Data {
        effective: (keep >> shift) as u32,
        permitted: (keep >> shift) as u32,
        inheritable: 0,
    };
    let data = [half(0), half(32)];
    // Safety: capset(2) with a version-3 header and the two data words that version reads.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

/// Moves the calling thread into the namespace for good (returning would need CAP_SYS_ADMIN).
fn enter_for_good(netns: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{netns}")).unwrap();
    // Safety: setns on a namespace file held open for the call; affects the calling thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

const Q: VlanTag = VlanTag {
    tpid: TPID_8021Q,
    tci: 100,
};
const AD: VlanTag = VlanTag {
    tpid: TPID_8021AD,
    tci: 200,
};

fn udp_to(port: u16) -> Vec<u8> {
    frames::udp_frame(
        &[],
        (Ipv4Addr::new(10, 0, 0, 2), 40000),
        (Ipv4Addr::new(10, 0, 0, 1), port),
        b"payload",
    )
}

/// One frame of every kind the program tells apart, with the queue it arrives on (the socket is
/// on queue 0), the action and the counter it must bump.
fn decision_table() -> Vec<(&'static str, Vec<u8>, u32, u32, SteerStat)> {
    use SteerStat::*;
    use action::{PASS, REDIRECT};
    let dhcp = frames::dhcp_frame(&[], &[0; 300]);
    let l3 = frames::l3_offset(0);
    let mut fragment = dhcp.clone();
    fragment[l3 + 6] = 0x20;
    frames::fix_ipv4_checksum(&mut fragment, l3);
    let mut three_tags = frames::dhcp_frame(&[AD, Q], &[0; 64]);
    three_tags.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    let mut tcp = udp_to(67);
    tcp[l3 + 9] = 6;
    frames::fix_ipv4_checksum(&mut tcp, l3);
    let mut ihl4 = dhcp.clone();
    ihl4[l3] = 0x44;
    let options = frames::with_ipv4_options(&dhcp, 40);
    let tagged = frames::dhcp_frame(&[Q], &[0; 64]);
    vec![
        ("untagged UDP/67", dhcp.clone(), 0, REDIRECT, Redirected),
        ("untagged UDP/67, queue 1", dhcp.clone(), 1, PASS, NoSocket),
        ("802.1Q UDP/67", tagged.clone(), 0, REDIRECT, Redirected),
        (
            "QinQ UDP/67",
            frames::dhcp_frame(&[AD, Q], &[0; 300]),
            0,
            REDIRECT,
            Redirected,
        ),
        (
            "IPv4 options UDP/67",
            frames::with_ipv4_options(&dhcp, 8),
            0,
            REDIRECT,
            Redirected,
        ),
        (
            "IPv4 max options UDP/67",
            options.clone(),
            0,
            REDIRECT,
            Redirected,
        ),
        (
            "IPv4 options UDP/68",
            frames::with_ipv4_options(&udp_to(68), 8),
            0,
            PASS,
            OtherPort,
        ),
        (
            "IPv4 options cut",
            options[..14 + 40].to_vec(),
            0,
            PASS,
            Truncated,
        ),
        ("three VLAN tags", three_tags, 0, PASS, TooManyTags),
        ("fragment", fragment, 0, PASS, Fragment),
        (
            "ARP",
            frames::arp_request(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1)),
            0,
            PASS,
            NotIpv4,
        ),
        ("IPv6", frames::ipv6_frame(), 0, PASS, NotIpv4),
        ("TCP to 67", tcp, 0, PASS, NotUdp),
        ("UDP/68", udp_to(68), 0, PASS, OtherPort),
        (
            "Ethernet header only",
            dhcp[..14].to_vec(),
            0,
            PASS,
            Truncated,
        ),
        (
            "IPv4 header cut",
            dhcp[..14 + 12].to_vec(),
            0,
            PASS,
            Truncated,
        ),
        (
            "UDP header cut",
            dhcp[..14 + 20 + 4].to_vec(),
            0,
            PASS,
            Truncated,
        ),
        ("802.1Q tag cut", tagged[..16].to_vec(), 0, PASS, Truncated),
        ("IPv4 IHL 4", ihl4, 0, PASS, Truncated),
    ]
}

#[test]
fn every_decision_is_the_same_when_loaded_without_cap_perfmon() {
    require_root!();
    let lab = VethLab::new("capt", 2).expect("lab");
    let netns = lab.server.name().to_owned();
    let server_if = lab.server_if.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_for_good(&netns);
            restrict_thread_caps(caps_mask());
            let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
            let sets = cap_sets(&status);
            assert_eq!(sets, [0, caps_mask(), caps_mask(), caps_mask(), 0]);
            println!("thread CapEff {:016x}", sets[2]);

            // The daemon's own path: load, attach, bind and register a socket on queue 0.
            let mut plane = XdpPlane::open(&XdpPlaneConfig {
                interface: server_if.clone(),
                queues: vec![0],
                attach: AttachMode::Auto,
                // Sized as xdhcpd sizes a queue (half the frames for TX), and small: without
                // CAP_IPC_LOCK the UMEM counts against RLIMIT_MEMLOCK.
                xsk: XskConfig {
                    frame_count: 256,
                    tx_reserve: 128,
                    ..XskConfig::default()
                },
                pin_dir: None,
                ports: (67, 0),
            })
            .expect("opening the XDP plane without CAP_PERFMON");
            let steering = &mut plane.steering;
            let ifindex = dhcp_user::steer::ifindex(&server_if).unwrap();
            for (name, frame, queue, want, stat) in decision_table() {
                let before = steering.stats().unwrap();
                let got = steering
                    .test_run(&frame, Some((ifindex, queue)))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let after = steering.stats().unwrap();
                assert_eq!(got, want, "{name}: action");
                for st in SteerStat::ALL {
                    let i = st.index() as usize;
                    assert_eq!(
                        after[i] - before[i],
                        u64::from(st == stat),
                        "{name}: counter {}",
                        st.name()
                    );
                }
                println!(
                    "without CAP_PERFMON: {name:<26} -> action {got}, {}",
                    stat.name()
                );
            }
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
    });
}

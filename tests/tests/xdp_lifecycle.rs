//! Attach/detach life cycle of the XDP program in a process: a clean detach on SIGINT and
//! SIGTERM, a program left attached by a killed process found and replaced at the next start,
//! and the generic (SKB) fallback when the driver refuses native mode; and `xdp-echo bounce`,
//! the bench's in-kernel ceiling, end to end. Needs root.

use std::{
    io::{BufRead, BufReader},
    net::{SocketAddrV4, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Stdio},
    time::Duration,
};

use dhcp_user::{
    io::{
        interface_mac,
        xdp::{XdpPlane, XdpPlaneConfig},
    },
    steer::{AttachMode, Steering},
    xsk::XskConfig,
};
use xdhcp_tests::{
    frames::{self, PacketSocket},
    netns::VethLab,
    require_root,
};

const ECHO: &str = env!("CARGO_BIN_EXE_xdp-echo");

/// A private bpffs mount for pinned links, unmounted on drop.
struct BpfFs(PathBuf);

impl BpfFs {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("xdt-bpffs-{}-{tag}", std::process::id()));
        let _ = Command::new("umount")
            .arg(&dir)
            .stderr(Stdio::null())
            .status();
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "mounting bpffs at {}", dir.display());
        BpfFs(dir)
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

struct Echo {
    child: Child,
    out: BufReader<ChildStdout>,
    ready: String,
}

impl Echo {
    fn start(lab: &VethLab, pin_dir: &Path) -> Echo {
        let mut cmd = lab.server.command(ECHO);
        cmd.args(["echo", "--interface", &lab.server_if, "--pin-dir"])
            .arg(pin_dir);
        Echo::spawn(cmd)
    }

    /// Starts `cmd` (an xdp-echo mode) and waits for its `ready` line.
    fn spawn(mut cmd: Command) -> Echo {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("start xdp-echo");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut ready = String::new();
        out.read_line(&mut ready).unwrap();
        assert!(ready.starts_with("ready"), "xdp-echo said {ready:?}");
        Echo { child, out, ready }
    }

    fn signal(&self, sig: libc::c_int) {
        // Safety: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0);
    }

    fn wait_output(mut self) -> (std::process::ExitStatus, String) {
        let mut rest = String::new();
        for line in (&mut self.out).lines() {
            rest.push_str(&line.unwrap());
            rest.push('\n');
        }
        (self.child.wait().unwrap(), rest)
    }
}

fn echo_roundtrip(lab: &VethLab) {
    lab.peer.run(|| {
        let s = UdpSocket::bind((lab.peer_ip, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        for _ in 0..10 {
            s.send_to(b"hello", SocketAddrV4::new(lab.server_ip, 67))
                .unwrap();
            let mut b = [0u8; 64];
            if let Ok((n, _)) = s.recv_from(&mut b) {
                assert_eq!(&b[..n], b"hello");
                return;
            }
        }
        panic!("no echo through the AF_XDP socket");
    });
}

fn clean_detach_on(sig: libc::c_int, tag: &str) {
    let lab = VethLab::new(tag, 1).expect("lab");
    let fs = BpfFs::new(tag);
    let pin = fs.0.join(format!("link-{}", lab.server_if));
    let echo = Echo::start(&lab, &fs.0);
    assert!(
        lab.server_xdp_state().unwrap().is_some(),
        "program attached"
    );
    assert!(pin.exists(), "link pinned at {}", pin.display());
    echo_roundtrip(&lab);
    echo.signal(sig);
    let (status, out) = echo.wait_output();
    assert!(status.success(), "xdp-echo exit {status}: {out}");
    assert!(out.contains("detached"), "{out}");
    assert!(out.contains("frames_accounted=true"), "{out}");
    assert_eq!(
        lab.server_xdp_state().unwrap(),
        None,
        "program still attached after signal {sig}"
    );
    assert!(!pin.exists(), "pin left behind");
    println!("signal {sig}: clean detach; {}", out.trim());
}

#[test]
fn sigterm_detaches_cleanly() {
    require_root!();
    clean_detach_on(libc::SIGTERM, "term");
}

#[test]
fn sigint_detaches_cleanly() {
    require_root!();
    clean_detach_on(libc::SIGINT, "int");
}

#[test]
fn a_program_left_by_a_killed_run_is_replaced_at_the_next_start() {
    require_root!();
    let lab = VethLab::new("crash", 1).expect("lab");
    let fs = BpfFs::new("crash");
    let pin = fs.0.join(format!("link-{}", lab.server_if));

    let first = Echo::start(&lab, &fs.0);
    assert!(
        first.ready.contains("replaced_leftover=false"),
        "{}",
        first.ready
    );
    first.signal(libc::SIGKILL);
    let (status, _) = first.wait_output();
    assert!(!status.success());
    // The pinned link outlives the process: the program is still attached.
    let left = lab.server_xdp_state().unwrap();
    assert!(
        left.is_some(),
        "a killed run leaves its pinned program attached"
    );
    assert!(pin.exists());

    let second = Echo::start(&lab, &fs.0);
    assert!(
        second.ready.contains("replaced_leftover=true"),
        "{}",
        second.ready
    );
    let now = lab.server_xdp_state().unwrap();
    assert!(now.is_some());
    assert_ne!(left, now, "the leftover program was replaced by a new one");
    echo_roundtrip(&lab);
    second.signal(libc::SIGTERM);
    let (status, out) = second.wait_output();
    assert!(status.success(), "{out}");
    assert_eq!(lab.server_xdp_state().unwrap(), None);
    println!("leftover {left:?} replaced by {now:?}, then detached");
}

#[test]
fn native_refusal_falls_back_to_skb_mode() {
    require_root!();
    // veth refuses native XDP when the peer has more TX queues than we have RX queues.
    let lab = VethLab::with_queues("skb", 1, 2).expect("lab");
    lab.server.run(|| {
        let cfg = XdpPlaneConfig {
            interface: lab.server_if.clone(),
            queues: vec![0],
            attach: AttachMode::Auto,
            xsk: XskConfig::default(),
            pin_dir: None,
            ports: (67, 0),
        };
        let plane = XdpPlane::open(&cfg).expect("auto mode falls back");
        assert_eq!(plane.attach.mode, "skb");
        let why = plane
            .attach
            .fallback_reason
            .clone()
            .expect("reason recorded");
        println!("native refused ({why}); attached in skb mode");
        let state = lab.server_xdp_state().unwrap().expect("attached");
        assert!(state.contains("xdpgeneric"), "{state}");
        let native_only = XdpPlane::open(&XdpPlaneConfig {
            attach: AttachMode::Native,
            ..cfg
        });
        assert!(native_only.is_err(), "native-only must fail here");
        let mut plane = plane;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            s.spawn(|| {
                echo_roundtrip(&lab);
                tx.send(()).unwrap();
            });
            let port = &mut plane.ports[0];
            while rx.try_recv().is_err() {
                use dhcp_user::io::PacketIo;
                port.service(64, |dg, buf| {
                    buf[..dg.payload.len()].copy_from_slice(dg.payload);
                    Some(dhcp_user::io::Reply {
                        len: dg.payload.len(),
                        src_ip: *dg.dst.ip(),
                        src_port: 67,
                        dst: dg.src,
                        l2: dhcp_user::io::L2Dest::Sender,
                    })
                })
                .unwrap();
                port.wait(Duration::from_millis(10)).unwrap();
            }
        });
    });
}

/// `xdp-echo bounce` attaches natively and sends a UDP/67 datagram back from the kernel: a UDP
/// socket in the peer namespace gets it only if the frame came back with its MACs, addresses and
/// ports swapped and its checksums valid (nothing in the server namespace listens on 67). It
/// counts what it bounced and detaches on SIGTERM.
#[test]
fn bounce_mode_sends_udp67_back_and_detaches() {
    require_root!();
    let lab = VethLab::new("bnc", 1).expect("lab");
    let server_mac = lab
        .server
        .run(|| interface_mac(&lab.server_if))
        .expect("server MAC");
    let mut cmd = lab.server.command(ECHO);
    cmd.args(["bounce", "--interface", &lab.server_if, "--seconds", "30"]);
    let bounce = Echo::spawn(cmd);
    assert!(bounce.ready.contains("attach=native"), "{}", bounce.ready);
    let state = lab.server_xdp_state().unwrap().expect("attached");
    assert!(state.starts_with("xdp "), "native mode: {state}");
    lab.peer.run(|| {
        // veth hands an XDP_TX frame over only to a peer with NAPI on, which a native XDP
        // program switches on (the bench's generator has one; `ethtool -K gro on` would do too,
        // and there is no ethtool here). The steering program on a port nobody sends to passes
        // everything to the peer's kernel.
        let mut napi = Steering::load(9, 0).expect("load");
        napi.attach(&lab.peer_if, AttachMode::Native, None)
            .expect("attach on the peer");
        // Sent raw, with both checksums computed: a datagram from a UDP socket would leave
        // with a partial checksum (veth offloads it), which the bounce carries back as it is
        // and the receiving stack then rejects.
        let port = 40067;
        let s = UdpSocket::bind((lab.peer_ip, port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let raw = PacketSocket::open(&lab.peer_if).expect("packet socket");
        let peer_mac = interface_mac(&lab.peer_if).expect("peer MAC");
        let request = frames::with_macs(
            frames::udp_frame(&[], (lab.peer_ip, port), (lab.server_ip, 67), b"bounce"),
            server_mac,
            peer_mac,
        );
        let got = (0..10).find_map(|_| {
            raw.send(&request).expect("send");
            let mut b = [0u8; 64];
            s.recv_from(&mut b)
                .ok()
                .map(|(n, from)| (b[..n].to_vec(), from))
        });
        let (payload, from) = got.expect("no bounce came back");
        assert_eq!(payload, b"bounce");
        assert_eq!(from, SocketAddrV4::new(lab.server_ip, 67).into());
        napi.detach().expect("detach on the peer");
    });
    bounce.signal(libc::SIGTERM);
    let (status, out) = bounce.wait_output();
    assert!(status.success(), "xdp-echo bounce exit {status}: {out}");
    let bounced: u64 = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("bounced="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no bounced= in {out:?}"));
    assert!(bounced >= 1, "{out}");
    assert!(out.contains("detached"), "{out}");
    assert_eq!(lab.server_xdp_state().unwrap(), None, "still attached");
    println!("xdp-echo bounce: {}", out.trim());
}

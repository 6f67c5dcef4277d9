//! Data-plane diagnostic: `echo` attaches the steering program to an interface and bounces
//! every steered UDP datagram back to its sender through the AF_XDP TX ring; `bounce` attaches
//! the in-kernel `XDP_TX` bounce instead (no user space on the path); `flood` blasts UDP/67
//! frames out of an interface through AF_XDP and counts the echoes coming back.
//!
//! Used by the privileged tests (detach on SIGTERM, crash leftovers), by `cargo xtask
//! plane-bench` to measure the raw AF_XDP receive and echo rates on a veth pair, and by `cargo
//! xtask bench` for the lab's ceiling (`bounce`, and `echo` as a second figure).

use std::{
    net::Ipv4Addr,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use dhcp_common::BOUNCE_PROGRAM_NAME;
use dhcp_user::{
    bounce::Bounce,
    io::{
        L2Dest, PacketIo, Reply,
        xdp::{XdpPlane, XdpPlaneConfig},
    },
    signals,
    steer::AttachMode,
    xsk::{BindMode, XskConfig},
};
use dhcp_wire::frame::{self, LinkMeta, MacAddr, UdpMeta, VlanStack};

#[derive(Parser)]
#[command(about = "AF_XDP data-plane echo, XDP_TX bounce and flood diagnostic")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Attach {
    Auto,
    Native,
    Skb,
}

#[derive(Clone, Copy, ValueEnum)]
enum Bind {
    Auto,
    ZeroCopy,
    Copy,
}

#[derive(clap::Args)]
struct Common {
    /// Interface to attach to.
    #[arg(long)]
    interface: String,
    /// XDP attach mode.
    #[arg(long, value_enum, default_value = "auto")]
    attach: Attach,
    /// AF_XDP bind mode.
    #[arg(long, value_enum, default_value = "auto")]
    bind: Bind,
    /// bpffs directory to pin the XDP link in.
    #[arg(long)]
    pin_dir: Option<PathBuf>,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long)]
    seconds: Option<f64>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Echo every steered datagram back to its sender.
    Echo {
        #[command(flatten)]
        common: Common,
        /// UDP port to steer and echo.
        #[arg(long, default_value_t = 67)]
        port: u16,
    },
    /// Bounce every UDP/67 frame back in the kernel (XDP_TX, native mode) and count them.
    Bounce {
        /// Interface to attach to.
        #[arg(long)]
        interface: String,
        /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
        #[arg(long)]
        seconds: Option<f64>,
    },
    /// Send UDP/67 frames as fast as the TX ring takes them and count echoes (UDP/68).
    Flood {
        #[command(flatten)]
        common: Common,
        /// Destination MAC address (the echoing side's interface).
        #[arg(long)]
        dst_mac: String,
        /// Source IPv4 address.
        #[arg(long)]
        src_ip: Ipv4Addr,
        /// Destination IPv4 address.
        #[arg(long)]
        dst_ip: Ipv4Addr,
        /// Frame length in bytes (342 is a typical DHCPDISCOVER).
        #[arg(long, default_value_t = 342)]
        frame_len: usize,
        /// Stop after sending this many frames.
        #[arg(long, default_value_t = 10_000_000)]
        count: u64,
    },
}

fn plane_config(c: &Common, ports: (u16, u16)) -> XdpPlaneConfig {
    XdpPlaneConfig {
        interface: c.interface.clone(),
        queues: vec![0],
        attach: match c.attach {
            Attach::Auto => AttachMode::Auto,
            Attach::Native => AttachMode::Native,
            Attach::Skb => AttachMode::Skb,
        },
        xsk: XskConfig {
            bind_mode: match c.bind {
                Bind::Auto => BindMode::Auto,
                Bind::ZeroCopy => BindMode::ZeroCopy,
                Bind::Copy => BindMode::Copy,
            },
            ..XskConfig::default()
        },
        pin_dir: c.pin_dir.clone(),
        ports,
    }
}

fn parse_mac(s: &str) -> anyhow::Result<MacAddr> {
    let mut m = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    anyhow::ensure!(
        parts.len() == 6,
        "MAC address {s:?} needs six colon-separated bytes"
    );
    for (d, p) in m.iter_mut().zip(parts) {
        *d = u8::from_str_radix(p, 16).with_context(|| format!("MAC address {s:?}"))?;
    }
    Ok(MacAddr(m))
}

fn main() -> anyhow::Result<()> {
    signals::install_handlers()?;
    match Cli::parse().cmd {
        Cmd::Echo { common, port } => echo(&common, port),
        Cmd::Bounce { interface, seconds } => bounce(&interface, seconds),
        Cmd::Flood {
            common,
            dst_mac,
            src_ip,
            dst_ip,
            frame_len,
            count,
        } => flood(
            &common,
            parse_mac(&dst_mac)?,
            src_ip,
            dst_ip,
            frame_len,
            count,
        ),
    }
}

fn deadline(c: &Common) -> Option<Instant> {
    after(c.seconds)
}

fn after(seconds: Option<f64>) -> Option<Instant> {
    seconds.map(|s| Instant::now() + Duration::from_secs_f64(s))
}

fn bounce(interface: &str, seconds: Option<f64>) -> anyhow::Result<()> {
    let mut b = Bounce::load()?;
    b.attach_native(interface)?;
    println!("ready attach=native program={BOUNCE_PROGRAM_NAME}");
    let end = after(seconds);
    let start = Instant::now();
    // Nothing to do here: the kernel bounces. Bounded sleeps until the deadline or a signal.
    while !signals::stop_requested() && end.is_none_or(|e| Instant::now() < e) {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "done seconds={:.3} bounced={}",
        start.elapsed().as_secs_f64(),
        b.bounced()?
    );
    b.detach()?;
    println!("detached");
    Ok(())
}

fn echo(c: &Common, port: u16) -> anyhow::Result<()> {
    let mut plane = XdpPlane::open(&plane_config(c, (port, 0)))?;
    let mut p = plane.ports.remove(0);
    println!(
        "ready attach={} bind={} replaced_leftover={}",
        plane.attach.mode,
        p.socket().mode().as_str(),
        plane.attach.replaced_leftover
    );
    let end = deadline(c);
    let start = Instant::now();
    while !signals::stop_requested() && end.is_none_or(|e| Instant::now() < e) {
        let n = p.service(64, |dg, buf| {
            let len = dg.payload.len().min(buf.len());
            buf[..len].copy_from_slice(&dg.payload[..len]);
            Some(Reply {
                len,
                src_ip: *dg.dst.ip(),
                src_port: dg.dst.port(),
                dst: dg.src,
                l2: L2Dest::Sender,
            })
        })?;
        if n == 0 {
            p.wait(Duration::from_millis(50))?;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let k = p.counters();
    let stats = plane.steering.stats()?;
    println!(
        "done seconds={secs:.3} rx={} tx={} tx_dropped={} malformed={} steer_redirected={} frames_accounted={}",
        k.rx_datagrams,
        k.tx_replies,
        k.tx_dropped,
        k.rx_malformed,
        stats[0],
        settle(&mut p)
    );
    drop(p);
    plane.steering.detach()?;
    println!("detached");
    Ok(())
}

/// Reaps completions until every UMEM frame is accounted for (bounded wait).
fn settle(p: &mut dhcp_user::io::xdp::XdpPort) -> bool {
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        p.socket_mut().complete();
        if p.socket().frames_accounted() || Instant::now() > until {
            return p.socket().frames_accounted();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn flood(
    c: &Common,
    dst_mac: MacAddr,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    frame_len: usize,
    count: u64,
) -> anyhow::Result<()> {
    // Echoes come back to UDP/68: steer that port into our socket.
    let mut plane = XdpPlane::open(&plane_config(c, (68, 0)))?;
    let mut p = plane.ports.remove(0);
    let src_mac = dhcp_user::io::interface_mac(&c.interface)?;
    let link = LinkMeta {
        dst: dst_mac,
        src: src_mac,
        vlans: VlanStack::untagged(),
    };
    let udp = UdpMeta {
        src_ip,
        dst_ip,
        src_port: 68,
        dst_port: 67,
        ttl: 64,
    };
    let hdr = frame::udp_headers_len(&link.vlans);
    anyhow::ensure!(
        frame_len > hdr && frame_len <= 1514,
        "frame length {frame_len} out of range"
    );
    let mut template = vec![0u8; frame_len];
    let n = frame::write_udp_headers(&mut template, &link, &udp, 1, frame_len - hdr)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    template.truncate(n);
    println!(
        "ready attach={} bind={}",
        plane.attach.mode,
        p.socket().mode().as_str()
    );

    let end = deadline(c);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut echoes = 0u64;
    while sent < count && !signals::stop_requested() && end.is_none_or(|e| Instant::now() < e) {
        let sock = p.socket_mut();
        sock.complete();
        for _ in 0..64 {
            if sent >= count {
                break;
            }
            let Some(tx) = sock.alloc_tx() else { break };
            sock.tx_bytes(tx)[..template.len()].copy_from_slice(&template);
            if sock.transmit(tx, template.len() as u32) {
                sent += 1;
            } else {
                break;
            }
        }
        sock.flush_tx();
        echoes += p.service(64, |_, _| None)? as u64;
    }
    let send_secs = start.elapsed().as_secs_f64();
    // Collect echoes still in flight.
    let drain_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < drain_until {
        let n = p.service(64, |_, _| None)? as u64;
        echoes += n;
        if n == 0 {
            p.wait(Duration::from_millis(20))?;
        }
    }
    let st = p.socket().statistics()?;
    println!(
        "done seconds={send_secs:.3} sent={sent} sent_per_sec={:.0} echoes={echoes} echoes_per_sec={:.0} rx_ring_full={} rx_fill_empty={}",
        sent as f64 / send_secs,
        echoes as f64 / send_secs,
        st.rx_ring_full,
        st.rx_fill_ring_empty_descs
    );
    Ok(())
}

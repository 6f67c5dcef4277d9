//! The AF_XDP backend: frames from an [`XskSocket`], replies written in place into TX frames.

use std::{io, net::SocketAddrV4, path::PathBuf, time::Duration};

use dhcp_wire::frame::{self, LinkMeta, MacAddr, UdpMeta};

use super::{Datagram, DatagramMeta, IoCounters, L2Dest, PacketIo};
use crate::{
    steer::{AttachMode, AttachReport, SteerError, Steering},
    xsk::{RxFrame, TxFrame, XskConfig, XskError, XskSocket},
};

/// Most frames taken from the RX ring per [`PacketIo::service`] call.
pub const MAX_BATCH: usize = 64;

/// TTL of replies.
const REPLY_TTL: u8 = 64;

/// One AF_XDP socket serving datagrams.
#[derive(Debug)]
pub struct XdpPort {
    sock: XskSocket,
    mac: MacAddr,
    batch: [RxFrame; MAX_BATCH],
    ident: u16,
    counters: IoCounters,
}

impl XdpPort {
    /// Wraps a bound socket; `mac` is the interface's address, used as the reply source.
    pub fn new(sock: XskSocket, mac: MacAddr) -> Self {
        XdpPort {
            sock,
            mac,
            batch: [RxFrame { addr: 0, len: 0 }; MAX_BATCH],
            ident: 0,
            counters: IoCounters::default(),
        }
    }

    /// The underlying socket (statistics, frame census).
    pub fn socket(&self) -> &XskSocket {
        &self.sock
    }

    /// Mutable access to the underlying socket.
    pub fn socket_mut(&mut self) -> &mut XskSocket {
        &mut self.sock
    }
}

impl XdpPort {
    /// Writes the headers of a reply whose payload is already in `tx` and queues the frame.
    fn finish_reply(&mut self, tx: TxFrame, meta: &DatagramMeta, reply: &super::Reply) {
        let dst_mac = match reply.l2 {
            L2Dest::Broadcast => MacAddr::BROADCAST,
            L2Dest::Sender => meta.src_mac.unwrap_or(MacAddr::BROADCAST),
            L2Dest::Mac(m) => m,
        };
        let link = LinkMeta {
            dst: dst_mac,
            src: self.mac,
            vlans: meta.vlans,
        };
        let udp = UdpMeta {
            src_ip: reply.src_ip,
            dst_ip: *reply.dst.ip(),
            src_port: reply.src_port,
            dst_port: reply.dst.port(),
            ttl: REPLY_TTL,
        };
        self.ident = self.ident.wrapping_add(1);
        let tx_bytes = self.sock.tx_bytes(tx);
        match frame::write_udp_headers(tx_bytes, &link, &udp, self.ident, reply.len) {
            Ok(len) => {
                if self.sock.transmit(tx, len as u32) {
                    self.counters.tx_replies += 1;
                } else {
                    self.counters.tx_dropped += 1;
                }
            }
            Err(_) => {
                self.sock.free_tx(tx);
                self.counters.tx_dropped += 1;
            }
        }
    }
}

impl PacketIo for XdpPort {
    fn backend(&self) -> &'static str {
        "af_xdp"
    }

    fn service<F>(&mut self, budget: usize, mut handler: F) -> io::Result<usize>
    where
        F: FnMut(&Datagram<'_>, &mut [u8]) -> Option<super::Reply>,
    {
        // Take no more requests than can be answered now: the rest wait in the RX ring
        // rather than being decided and then lost for want of a TX frame.
        let room = self.sock.tx_room();
        let want = budget.min(MAX_BATCH).min(room);
        let n = self.sock.recv(&mut self.batch[..want]);
        let ifindex = self.sock.ifindex();
        for i in 0..n {
            let rx = self.batch[i];
            let Some(tx) = self.sock.alloc_tx() else {
                self.counters.tx_dropped += 1;
                continue;
            };
            let (rx_bytes, tx_bytes) = self.sock.rx_and_tx(&rx, tx);
            let parsed = match frame::parse_udp_frame(rx_bytes) {
                Ok(f) => f,
                Err(_) => {
                    self.counters.rx_malformed += 1;
                    self.sock.free_tx(tx);
                    continue;
                }
            };
            self.counters.rx_datagrams += 1;
            let hdr = frame::udp_headers_len(&parsed.link.vlans);
            let dg = Datagram {
                payload: parsed.payload,
                src: SocketAddrV4::new(parsed.udp.src_ip, parsed.udp.src_port),
                dst: SocketAddrV4::new(parsed.udp.dst_ip, parsed.udp.dst_port),
                ifindex,
                src_mac: Some(parsed.link.src),
                vlans: parsed.link.vlans,
            };
            let Some(body) = tx_bytes.get_mut(hdr..) else {
                self.sock.free_tx(tx);
                self.counters.tx_dropped += 1;
                continue;
            };
            let Some(reply) = handler(&dg, body) else {
                self.sock.free_tx(tx);
                continue;
            };
            let meta = dg.meta();
            self.finish_reply(tx, &meta, &reply);
        }
        if n > 0 {
            self.sock.recycle(&self.batch[..n]);
            self.sock.flush_tx();
        }
        self.sock.wake_rx_if_needed();
        Ok(n)
    }

    fn send_with<F>(&mut self, meta: &DatagramMeta, build: F) -> bool
    where
        F: FnOnce(&mut [u8]) -> Option<super::Reply>,
    {
        let Some(tx) = self.sock.alloc_tx() else {
            self.counters.tx_dropped += 1;
            return false;
        };
        let hdr = frame::udp_headers_len(&meta.vlans);
        let reply = match self.sock.tx_bytes(tx).get_mut(hdr..) {
            Some(body) => build(body),
            None => None,
        };
        match reply {
            Some(r) => {
                let before = self.counters.tx_replies;
                self.finish_reply(tx, meta, &r);
                self.counters.tx_replies > before
            }
            None => {
                self.sock.free_tx(tx);
                false
            }
        }
    }

    fn flush(&mut self) {
        self.sock.flush_tx();
    }

    fn tx_room(&mut self) -> usize {
        self.sock.tx_room()
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        self.sock.complete();
        self.sock.wake_rx_if_needed();
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        self.sock.poll_rx(ms)
    }

    fn counters(&self) -> IoCounters {
        self.counters
    }

    fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.sock.as_raw_fd()
    }
}

/// Everything needed to serve one interface through AF_XDP.
#[derive(Clone, Debug)]
pub struct XdpPlaneConfig {
    /// Interface to attach to.
    pub interface: String,
    /// RX queues to bind a socket to; empty means every RX queue of the interface.
    pub queues: Vec<u32>,
    /// XDP attach mode preference.
    pub attach: AttachMode,
    /// UMEM and ring sizes, zero-copy preference.
    pub xsk: XskConfig,
    /// bpffs directory for the pinned link (crash leftovers are found and replaced there).
    pub pin_dir: Option<PathBuf>,
    /// UDP destination ports to steer (second one 0 for none).
    pub ports: (u16, u16),
}

/// Why the AF_XDP plane could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PlaneError {
    /// Loading or attaching the program.
    #[error(transparent)]
    Steer(#[from] SteerError),
    /// Creating or binding a socket.
    #[error(transparent)]
    Xsk(#[from] XskError),
    /// Reading the interface's address or queue count.
    #[error("interface {interface}: {what}: {source}")]
    Interface {
        /// Interface.
        interface: String,
        /// What was being read.
        what: &'static str,
        /// OS error.
        source: io::Error,
    },
}

/// The attached program and one port per queue. Dropping it detaches the program.
#[derive(Debug)]
pub struct XdpPlane {
    /// The program, its maps and its attachment.
    pub steering: Steering,
    /// One port per queue, to be moved to worker threads.
    pub ports: Vec<XdpPort>,
    /// How the program was attached.
    pub attach: AttachReport,
}

impl XdpPlane {
    /// Loads and attaches the program, then binds and registers one socket per queue. Sockets
    /// are registered only after all are bound, so a failure leaves steering untouched (and
    /// the program detached again when the partial plane drops).
    pub fn open(cfg: &XdpPlaneConfig) -> Result<Self, PlaneError> {
        let ifindex = crate::steer::ifindex(&cfg.interface)?;
        let mac = super::interface_mac(&cfg.interface).map_err(|source| PlaneError::Interface {
            interface: cfg.interface.clone(),
            what: "reading the MAC address",
            source,
        })?;
        let queues = if cfg.queues.is_empty() {
            let n = rx_queue_count(&cfg.interface).map_err(|source| PlaneError::Interface {
                interface: cfg.interface.clone(),
                what: "reading the RX queue count",
                source,
            })?;
            (0..n).collect()
        } else {
            cfg.queues.clone()
        };
        let mut steering = Steering::load(cfg.ports.0, cfg.ports.1)?;
        let attach = steering.attach(&cfg.interface, cfg.attach, cfg.pin_dir.as_deref())?;
        let mut ports = Vec::with_capacity(queues.len());
        for &q in &queues {
            let sock = XskSocket::bind(ifindex, q, &cfg.xsk)?;
            ports.push(XdpPort::new(sock, mac));
        }
        for p in &ports {
            steering.register(p.socket().queue(), p.socket())?;
        }
        Ok(XdpPlane {
            steering,
            ports,
            attach,
        })
    }
}

/// Number of RX queues of `ifname` (ETHTOOL_GCHANNELS; 1 when the driver does not say).
pub fn rx_queue_count(ifname: &str) -> io::Result<u32> {
    #[repr(C)]
    struct EthtoolChannels {
        cmd: u32,
        max_rx: u32,
        max_tx: u32,
        max_other: u32,
        max_combined: u32,
        rx_count: u32,
        tx_count: u32,
        other_count: u32,
        combined_count: u32,
    }
    const ETHTOOL_GCHANNELS: u32 = 0x3c;
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        max_rx: 0,
        max_tx: 0,
        max_other: 0,
        max_combined: 0,
        rx_count: 0,
        tx_count: 0,
        other_count: 0,
        combined_count: 0,
    };
    // Safety: plain socket(2) call; closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: zeroed ifreq; name bounded by the check below.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if ifname.len() >= req.ifr_name.len() {
        // Safety: closing our descriptor.
        unsafe { libc::close(fd) };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.as_bytes()) {
        *d = *s as libc::c_char;
    }
    req.ifr_ifru.ifru_data = (&mut ch as *mut EthtoolChannels).cast();
    // Safety: SIOCETHTOOL with a live ethtool_channels buffer.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCETHTOOL, &mut req) };
    let err = io::Error::last_os_error();
    // Safety: closing our descriptor.
    unsafe { libc::close(fd) };
    if rc != 0 {
        if err.raw_os_error() == Some(libc::EOPNOTSUPP) {
            return Ok(1);
        }
        return Err(err);
    }
    Ok((ch.rx_count + ch.combined_count).max(1))
}

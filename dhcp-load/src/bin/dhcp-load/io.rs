//! Frame I/O for the generator threads: AF_XDP through the project's own `XskSocket` (the XDP
//! steering program sends UDP/67 and UDP/68 to it), or a raw AF_PACKET socket as a fallback.
//!
//! Both move whole Ethernet frames in batches: `send` lends transmit buffers to a filler (the
//! fleet's `poll_transmit`) and puts the filled ones on the wire with one kick, `recv` hands
//! each received frame to a handler and returns the buffers.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::Duration,
};

use dhcp_load::report::IoReport;
use dhcp_user::{
    io::xdp::XdpPort,
    xsk::{RxFrame, XskSocket},
};

/// Frames per batch.
pub const BATCH: usize = 64;
/// Bytes per packet-socket buffer (and the AF_XDP frame size).
const BUF: usize = 2048;
/// Room kept in front of a received AF_PACKET frame to put back a VLAN tag the kernel took out.
const HEADROOM: usize = 4;

/// A batched frame port.
pub trait FrameIo: Send {
    /// Lends up to `max` transmit buffers to `fill`, which writes a frame and returns its
    /// length (or `None`: nothing more to send), and transmits them. Returns frames sent.
    fn send(&mut self, max: usize, fill: &mut dyn FnMut(&mut [u8]) -> Option<usize>) -> usize;
    /// Hands up to `max` received frames to `handle`. Returns frames received.
    fn recv(&mut self, max: usize, handle: &mut dyn FnMut(&[u8])) -> usize;
    /// Blocks up to `timeout` for a frame to arrive.
    fn wait(&mut self, timeout: Duration);
    /// Counters.
    fn counters(&self) -> IoReport;
}

/// One AF_XDP socket (one queue of the interface).
pub struct XdpIo {
    port: XdpPort,
    batch: [RxFrame; BATCH],
    counters: IoReport,
}

impl XdpIo {
    /// Wraps a port of an attached plane.
    pub fn new(port: XdpPort) -> Self {
        XdpIo {
            port,
            batch: [RxFrame { addr: 0, len: 0 }; BATCH],
            counters: IoReport::default(),
        }
    }

    fn kick(sock: &XskSocket) {
        // Safety: a zero-length non-blocking sendto on our own AF_XDP socket is the documented
        // TX wake-up; it reads no memory.
        unsafe {
            libc::sendto(
                sock.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            );
        }
    }
}

/// Descriptors the kernel's copy-mode transmit takes per wake-up (TX_BATCH_SIZE in
/// net/xdp/xsk.c): a longer TX ring needs more kicks, or it stalls once no frame is free.
const KERNEL_TX_BATCH: u32 = 32;

impl FrameIo for XdpIo {
    fn send(&mut self, max: usize, fill: &mut dyn FnMut(&mut [u8]) -> Option<usize>) -> usize {
        let sock = self.port.socket_mut();
        sock.complete();
        let mut n = 0;
        while n < max {
            let Some(tx) = sock.alloc_tx() else {
                self.counters.tx_no_buffer += 1;
                break;
            };
            let Some(len) = fill(sock.tx_bytes(tx)) else {
                sock.free_tx(tx);
                break;
            };
            if sock.transmit(tx, len as u32) {
                n += 1;
            } else {
                self.counters.tx_errors += 1;
                break;
            }
        }
        sock.flush_tx();
        // Copy mode sends at most 32 descriptors per wake-up; keep kicking while the ring
        // holds more, a few times per call (what is left goes with the next call).
        for _ in 0..(4 * BATCH as u32 / KERNEL_TX_BATCH) {
            if sock.frame_census()[4] == 0 {
                break;
            }
            Self::kick(sock);
            sock.complete();
        }
        self.counters.tx_frames += n as u64;
        n
    }

    fn recv(&mut self, max: usize, handle: &mut dyn FnMut(&[u8])) -> usize {
        let sock = self.port.socket_mut();
        let n = sock.recv(&mut self.batch[..max.min(BATCH)]);
        for f in &self.batch[..n] {
            handle(sock.rx_bytes(f));
        }
        if n > 0 {
            sock.recycle(&self.batch[..n]);
        }
        sock.wake_rx_if_needed();
        self.counters.rx_frames += n as u64;
        n
    }

    fn wait(&mut self, timeout: Duration) {
        let sock = self.port.socket_mut();
        sock.complete();
        sock.wake_rx_if_needed();
        // The RX ring was empty at the last `recv`; POLLIN is level-triggered on it.
        wait_readable(sock.as_raw_fd(), timeout);
    }

    fn counters(&self) -> IoReport {
        let mut c = self.counters.clone();
        if let Ok(st) = self.port.socket().statistics() {
            c.rx_kernel_drops = st.rx_dropped + st.rx_ring_full;
        }
        c
    }
}

/// A raw AF_PACKET socket bound to the interface: sends with `sendmmsg`, receives every frame
/// arriving on the interface with `recvmmsg` (the model ignores what is not a reply), its own
/// transmissions excluded.
pub struct PacketIo {
    fd: OwnedFd,
    tx: Box<[[u8; BUF]]>,
    rx: Box<[[u8; BUF + HEADROOM]]>,
    cmsg: Box<[[u64; 8]]>,
    counters: IoReport,
}

fn setsockopt_int(fd: &OwnedFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // Safety: an int option, pointer and length describe `value`.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl PacketIo {
    /// Opens and binds a packet socket on `ifindex`.
    pub fn open(ifindex: u32) -> io::Result<Self> {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // Safety: plain socket(2) call.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                i32::from(proto),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // Safety: a fresh descriptor that we own from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Our own frames would come back as PACKET_OUTGOING; VLAN tags the kernel moves into
        // metadata come back through PACKET_AUXDATA.
        setsockopt_int(&fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)?;
        setsockopt_int(&fd, libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)?;
        let _ = setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 64 << 20);
        let _ = setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 16 << 20);
        let _ = setsockopt_int(&fd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, 1);
        // Safety: zeroed sockaddr_ll with the fields bind needs.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = proto;
        sa.sll_ifindex = ifindex as i32;
        // Safety: pointer and length describe `sa`.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketIo {
            fd,
            tx: vec![[0u8; BUF]; BATCH].into_boxed_slice(),
            rx: vec![[0u8; BUF + HEADROOM]; BATCH].into_boxed_slice(),
            cmsg: vec![[0u64; 8]; BATCH].into_boxed_slice(),
            counters: IoReport::default(),
        })
    }
}

impl FrameIo for PacketIo {
    fn send(&mut self, max: usize, fill: &mut dyn FnMut(&mut [u8]) -> Option<usize>) -> usize {
        let mut lens = [0usize; BATCH];
        let mut n = 0;
        while n < max.min(BATCH) {
            match fill(&mut self.tx[n]) {
                Some(len) => {
                    lens[n] = len;
                    n += 1;
                }
                None => break,
            }
        }
        if n == 0 {
            return 0;
        }
        // Safety: zeroed iovec/mmsghdr arrays, filled below to point into `self.tx`, which
        // outlives the call.
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        // Safety: as above.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            iov[i] = libc::iovec {
                iov_base: self.tx[i].as_mut_ptr().cast(),
                iov_len: lens[i],
            };
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        let mut sent = 0;
        while sent < n {
            // Safety: `msgs[sent..n]` point at live buffers; the socket is bound, so no address.
            let rc = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    msgs[sent..].as_mut_ptr(),
                    (n - sent) as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if rc <= 0 {
                // The model counts them as sent: they show up as drops, and here.
                self.counters.tx_errors += (n - sent) as u64;
                break;
            }
            sent += rc as usize;
        }
        self.counters.tx_frames += sent as u64;
        n
    }

    fn recv(&mut self, max: usize, handle: &mut dyn FnMut(&[u8])) -> usize {
        let want = max.min(BATCH);
        // Safety: zeroed iovec/mmsghdr arrays pointing into `self.rx` and `self.cmsg`.
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        // Safety: as above.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..want {
            iov[i] = libc::iovec {
                iov_base: self.rx[i][HEADROOM..].as_mut_ptr().cast(),
                iov_len: BUF,
            };
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = self.cmsg[i].as_mut_ptr().cast();
            msgs[i].msg_hdr.msg_controllen = std::mem::size_of::<[u64; 8]>();
        }
        // Safety: arrays as set up above; non-blocking.
        let rc = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                want as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc <= 0 {
            return 0;
        }
        let n = rc as usize;
        for (i, msg) in msgs.iter().enumerate().take(n) {
            let len = (msg.msg_len as usize).min(BUF);
            let tag = vlan_of(&msg.msg_hdr);
            let buf = &mut self.rx[i];
            let frame = match tag {
                Some((tpid, tci)) if len >= 12 => {
                    // Put the tag back where it was on the wire: after the two addresses.
                    buf.copy_within(HEADROOM..HEADROOM + 12, 0);
                    buf[12..14].copy_from_slice(&tpid.to_be_bytes());
                    buf[14..16].copy_from_slice(&tci.to_be_bytes());
                    &buf[..len + HEADROOM]
                }
                _ => &buf[HEADROOM..HEADROOM + len],
            };
            handle(frame);
        }
        self.counters.rx_frames += n as u64;
        n
    }

    fn wait(&mut self, timeout: Duration) {
        wait_readable(self.fd.as_raw_fd(), timeout);
    }

    fn counters(&self) -> IoReport {
        let mut c = self.counters.clone();
        // Safety: zeroed tpacket_stats filled by getsockopt (reading also resets the kernel
        // counter, so it is read once, at the end).
        let mut st: libc::tpacket_stats = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // Safety: buffer and length describe `st`.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            c.rx_kernel_drops = u64::from(st.tp_drops);
        }
        c
    }
}

/// Blocks until `fd` is readable or `timeout` (microsecond precision, at most 1 s) passes.
fn wait_readable(fd: i32, timeout: Duration) {
    let timeout = timeout.min(Duration::from_secs(1));
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // Safety: one valid pollfd, a valid timespec, no signal mask change.
    unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
}

/// The VLAN tag the kernel stripped from a received frame, from its PACKET_AUXDATA message.
fn vlan_of(hdr: &libc::msghdr) -> Option<(u16, u16)> {
    // Safety: walking the control messages the kernel wrote into our buffer, with the libc
    // helpers that bound every step by msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == libc::PACKET_AUXDATA {
                let aux: libc::tpacket_auxdata =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                    let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                        aux.tp_vlan_tpid
                    } else {
                        0x8100
                    };
                    return Some((tpid, aux.tp_vlan_tci));
                }
                return None;
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    None
}

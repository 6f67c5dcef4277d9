//! The datagram interface the server runs on.
//!
//! The engine sees [`Datagram`]s and answers with a [`Reply`] written into a buffer the backend
//! lends it; it never learns whether the bytes came through AF_XDP ([`xdp::XdpPort`]) or a
//! kernel UDP socket ([`udp::UdpPort`]).

use std::{
    io,
    net::{Ipv4Addr, SocketAddrV4},
    time::Duration,
};

use dhcp_wire::frame::{MacAddr, VlanStack};

pub mod udp;
pub mod xdp;

/// One received UDP datagram.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// The UDP payload.
    pub payload: &'a [u8],
    /// IPv4 source address and UDP source port.
    pub src: SocketAddrV4,
    /// IPv4 destination address and UDP destination port.
    pub dst: SocketAddrV4,
    /// Interface it arrived on.
    pub ifindex: u32,
    /// Source MAC address, when the backend sees frames (AF_XDP).
    pub src_mac: Option<MacAddr>,
    /// VLAN tags of the frame (AF_XDP only; replies carry the same tags).
    pub vlans: VlanStack,
}

impl Datagram<'_> {
    /// Everything but the payload: enough to address a reply later.
    pub fn meta(&self) -> DatagramMeta {
        DatagramMeta {
            src: self.src,
            dst: self.dst,
            ifindex: self.ifindex,
            src_mac: self.src_mac,
            vlans: self.vlans,
        }
    }
}

/// The addressing facts of a received datagram, kept to send its reply later (after the
/// journal made the binding durable, or from another worker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatagramMeta {
    /// IPv4 source address and UDP source port.
    pub src: SocketAddrV4,
    /// IPv4 destination address and UDP destination port.
    pub dst: SocketAddrV4,
    /// Interface it arrived on.
    pub ifindex: u32,
    /// Source MAC address (AF_XDP only).
    pub src_mac: Option<MacAddr>,
    /// VLAN tags (AF_XDP only).
    pub vlans: VlanStack,
}

/// Link-layer destination of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L2Dest {
    /// ff:ff:ff:ff:ff:ff (with IPv4 destination 255.255.255.255).
    Broadcast,
    /// The MAC address the request came from (the client itself, or its relay).
    Sender,
    /// A given MAC address: unicast to a client that has no IPv4 address yet (RFC 2131 §4.1,
    /// "unicast to the client's hardware address and yiaddr"). A kernel socket cannot address a
    /// frame without ARP, so the socket backend broadcasts such replies instead.
    Mac(MacAddr),
}

/// The addressing of a reply whose payload the handler wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Payload length written at the start of the lent buffer.
    pub len: usize,
    /// IPv4 source address (the server's address on that link).
    pub src_ip: Ipv4Addr,
    /// UDP source port.
    pub src_port: u16,
    /// IPv4 destination and UDP destination port.
    pub dst: SocketAddrV4,
    /// Link-layer destination.
    pub l2: L2Dest,
}

/// Counters every backend keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// Datagrams handed to the handler.
    pub rx_datagrams: u64,
    /// Frames that were not a usable IPv4/UDP datagram (AF_XDP only).
    pub rx_malformed: u64,
    /// Replies sent (queued on the TX ring, or accepted by the kernel).
    pub tx_replies: u64,
    /// Replies lost: no free TX frame, full TX ring, or a send error.
    pub tx_dropped: u64,
}

/// A source of datagrams and a sink for replies.
pub trait PacketIo {
    /// "af_xdp" or "udp_socket", for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Receives up to `budget` datagrams without blocking, calls `handler` for each with a
    /// buffer for the reply payload, and sends the replies it returns. Returns the number of
    /// datagrams received.
    fn service<F>(&mut self, budget: usize, handler: F) -> io::Result<usize>
    where
        F: FnMut(&Datagram<'_>, &mut [u8]) -> Option<Reply>;

    /// Sends one reply to the sender described by `meta`, outside [`service`](Self::service):
    /// `build` writes the payload into the lent buffer and returns its addressing. Returns
    /// false when the reply could not be queued (counted in `tx_dropped`). Call
    /// [`flush`](Self::flush) after a batch of these.
    fn send_with<F>(&mut self, meta: &DatagramMeta, build: F) -> bool
    where
        F: FnOnce(&mut [u8]) -> Option<Reply>;

    /// Pushes out replies queued by [`send_with`](Self::send_with).
    fn flush(&mut self);

    /// How many replies [`send_with`](Self::send_with) can queue now without a loss.
    fn tx_room(&mut self) -> usize;

    /// Blocks up to `timeout` for something to receive; `true` when there is.
    fn wait(&mut self, timeout: Duration) -> io::Result<bool>;

    /// The backend's counters.
    fn counters(&self) -> IoCounters;

    /// The descriptor that becomes readable when datagrams arrive (for `poll` over several
    /// ports).
    fn fd(&self) -> std::os::fd::RawFd;
}

/// MAC address of `ifname` in the calling thread's network namespace.
pub fn interface_mac(ifname: &str) -> io::Result<MacAddr> {
    // Safety: plain socket(2) call; the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: zeroed ifreq, name copied with a terminating NUL (bounded below).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = ifname.as_bytes();
    if name.len() >= req.ifr_name.len() {
        // Safety: closing the descriptor we opened.
        unsafe { libc::close(fd) };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {ifname:?} too long"),
        ));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    // Safety: SIOCGIFHWADDR fills `req`; fd is a valid socket.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut req) };
    let err = io::Error::last_os_error();
    // Safety: closing the descriptor we opened.
    unsafe { libc::close(fd) };
    if rc != 0 {
        return Err(err);
    }
    // Safety: after SIOCGIFHWADDR the union holds a sockaddr with the hardware address.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(MacAddr(mac))
}

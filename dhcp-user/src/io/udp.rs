//! The kernel-socket backend: a plain UDP socket on port 67, for hosts or NICs without XDP.
//!
//! `IP_PKTINFO` tells which interface and destination address each datagram arrived with, and
//! sets the source address of each reply. A kernel socket cannot send to a MAC address without
//! ARP, so replies the engine wants unicast to a client's hardware address ([`L2Dest::Mac`]) are
//! broadcast instead — every DHCP client accepts a broadcast reply.

use std::{
    io,
    mem::{size_of, zeroed},
    net::{Ipv4Addr, SocketAddrV4},
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    time::Duration,
};

use dhcp_wire::frame::VlanStack;

use super::{Datagram, DatagramMeta, IoCounters, L2Dest, PacketIo, Reply};

/// Largest datagram accepted (one Ethernet MTU of payload; larger ones are truncated and
/// counted as malformed).
const BUF_LEN: usize = 1500;

/// What one `recvmsg` delivered.
struct Received {
    len: usize,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    ifindex: u32,
    truncated: bool,
}

/// A UDP socket serving datagrams.
#[derive(Debug)]
pub struct UdpPort {
    fd: OwnedFd,
    rx: Box<[u8; BUF_LEN]>,
    tx: Box<[u8; BUF_LEN]>,
    counters: IoCounters,
}

fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(())
    }
}

pub(crate) fn set_int(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
    what: &str,
) -> io::Result<()> {
    // Safety: pointer and length describe `v`.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    check(rc, what)
}

impl UdpPort {
    /// Binds `0.0.0.0:port`, restricted to `interface` when given (SO_BINDTODEVICE).
    pub fn bind(port: u16, interface: Option<&str>) -> io::Result<Self> {
        // Safety: plain socket(2) call.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        check(raw, "socket")?;
        // Safety: fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        set_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, "SO_REUSEADDR")?;
        set_int(raw, libc::SOL_SOCKET, libc::SO_BROADCAST, 1, "SO_BROADCAST")?;
        set_int(raw, libc::IPPROTO_IP, libc::IP_PKTINFO, 1, "IP_PKTINFO")?;
        if let Some(ifname) = interface {
            // Safety: pointer and length describe the name bytes.
            let rc = unsafe {
                libc::setsockopt(
                    raw,
                    libc::SOL_SOCKET,
                    libc::SO_BINDTODEVICE,
                    ifname.as_ptr().cast(),
                    ifname.len() as libc::socklen_t,
                )
            };
            check(rc, &format!("SO_BINDTODEVICE {ifname}"))?;
        }
        let sa = sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        // Safety: pointer and length describe `sa`.
        let rc = unsafe {
            libc::bind(
                raw,
                (&sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        check(rc, &format!("bind 0.0.0.0:{port}"))?;
        Ok(UdpPort {
            fd,
            rx: Box::new([0; BUF_LEN]),
            tx: Box::new([0; BUF_LEN]),
            counters: IoCounters::default(),
        })
    }

    /// The bound local address.
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        // Safety: zeroed sockaddr_in filled by getsockname.
        let mut sa: libc::sockaddr_in = unsafe { zeroed() };
        let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // Safety: buffer and length describe `sa`.
        let rc = unsafe {
            libc::getsockname(
                self.fd.as_raw_fd(),
                (&mut sa as *mut libc::sockaddr_in).cast(),
                &mut len,
            )
        };
        check(rc, "getsockname")?;
        Ok(from_sockaddr_in(&sa))
    }

    /// One non-blocking receive into `self.rx`.
    fn recv_one(&mut self) -> io::Result<Option<Received>> {
        // Safety: zeroed plain-old-data structs used as recvmsg buffers.
        let mut src: libc::sockaddr_in = unsafe { zeroed() };
        let mut cmsg_buf = [0u64; 16];
        let mut iov = libc::iovec {
            iov_base: self.rx.as_mut_ptr().cast(),
            iov_len: BUF_LEN,
        };
        // Safety: zeroed msghdr, fields set below.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut src as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg_buf.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 16]>();
        // Safety: msg points at live buffers of the stated sizes.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let truncated = msg.msg_flags & libc::MSG_TRUNC != 0;
        let mut dst = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, self.local_port());
        let mut ifindex = 0;
        // Safety: walking the control messages the kernel wrote into `cmsg_buf`.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                    let info = libc::CMSG_DATA(c)
                        .cast::<libc::in_pktinfo>()
                        .read_unaligned();
                    ifindex = info.ipi_ifindex as u32;
                    dst.set_ip(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(Some(Received {
            len: n as usize,
            src: from_sockaddr_in(&src),
            dst,
            ifindex,
            truncated,
        }))
    }

    fn local_port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    fn send(&mut self, reply: &Reply, ifindex: u32) -> io::Result<()> {
        let dst = match reply.l2 {
            L2Dest::Mac(_) => SocketAddrV4::new(Ipv4Addr::BROADCAST, reply.dst.port()),
            L2Dest::Broadcast | L2Dest::Sender => reply.dst,
        };
        let sa = sockaddr_in(dst);
        let mut iov = libc::iovec {
            iov_base: self.tx.as_mut_ptr().cast(),
            iov_len: reply.len.min(BUF_LEN),
        };
        let mut cmsg_buf = [0u64; 8];
        // Safety: zeroed msghdr, fields set below.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&sa as *const libc::sockaddr_in).cast_mut().cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg_buf.as_mut_ptr().cast();
        // Safety: CMSG_SPACE is a pure size computation.
        msg.msg_controllen =
            unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) } as usize;
        // Safety: the control buffer is large enough for one in_pktinfo message (64 bytes).
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::IPPROTO_IP;
            (*c).cmsg_type = libc::IP_PKTINFO;
            (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize;
            let info = libc::in_pktinfo {
                ipi_ifindex: ifindex as libc::c_int,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(reply.src_ip).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            libc::CMSG_DATA(c)
                .cast::<libc::in_pktinfo>()
                .write_unaligned(info);
        }
        // Safety: msg points at live buffers of the stated sizes.
        let rc = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, libc::MSG_DONTWAIT) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    // Safety: zeroed plain-old-data struct.
    let mut sa: libc::sockaddr_in = unsafe { zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = a.port().to_be();
    sa.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    sa
}

fn from_sockaddr_in(sa: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
        u16::from_be(sa.sin_port),
    )
}

impl PacketIo for UdpPort {
    fn backend(&self) -> &'static str {
        "udp_socket"
    }

    fn service<F>(&mut self, budget: usize, mut handler: F) -> io::Result<usize>
    where
        F: FnMut(&Datagram<'_>, &mut [u8]) -> Option<Reply>,
    {
        let mut received = 0;
        while received < budget {
            let Some(Received {
                len,
                src,
                dst,
                ifindex,
                truncated,
            }) = self.recv_one()?
            else {
                break;
            };
            received += 1;
            if truncated {
                self.counters.rx_malformed += 1;
                continue;
            }
            self.counters.rx_datagrams += 1;
            let dg = Datagram {
                payload: &self.rx[..len],
                src,
                dst,
                ifindex,
                src_mac: None,
                vlans: VlanStack::untagged(),
            };
            let reply = handler(&dg, &mut self.tx[..]);
            if let Some(reply) = reply {
                match self.send(&reply, ifindex) {
                    Ok(()) => self.counters.tx_replies += 1,
                    Err(e) => {
                        self.counters.tx_dropped += 1;
                        tracing::debug!(error = %e, dst = %reply.dst, "UDP reply not sent");
                    }
                }
            }
        }
        Ok(received)
    }

    fn send_with<F>(&mut self, meta: &DatagramMeta, build: F) -> bool
    where
        F: FnOnce(&mut [u8]) -> Option<Reply>,
    {
        let Some(reply) = build(&mut self.tx[..]) else {
            return false;
        };
        match self.send(&reply, meta.ifindex) {
            Ok(()) => {
                self.counters.tx_replies += 1;
                true
            }
            Err(e) => {
                self.counters.tx_dropped += 1;
                tracing::debug!(error = %e, dst = %reply.dst, "UDP reply not sent");
                false
            }
        }
    }

    fn flush(&mut self) {}

    fn tx_room(&mut self) -> usize {
        // The kernel queues (or drops and counts) each send itself.
        usize::MAX
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // Safety: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(rc > 0)
    }

    fn counters(&self) -> IoCounters {
        self.counters
    }

    fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loopback round trip: the socket backend hands the handler the datagram with its real
    /// source and destination, and the reply reaches the sender. Needs no privileges.
    #[test]
    fn loopback_echo() {
        let mut port = UdpPort::bind(0, None).expect("bind");
        let server = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port.local_addr().unwrap().port());
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.send_to(b"ping", server).unwrap();
        assert!(port.wait(Duration::from_secs(5)).unwrap());
        let mut seen = None;
        let n = port
            .service(8, |dg, buf| {
                seen = Some((dg.payload.to_vec(), dg.src, dg.dst));
                buf[..4].copy_from_slice(b"pong");
                Some(Reply {
                    len: 4,
                    src_ip: Ipv4Addr::LOCALHOST,
                    src_port: server.port(),
                    dst: dg.src,
                    l2: L2Dest::Sender,
                })
            })
            .unwrap();
        assert_eq!(n, 1);
        let (payload, src, dst) = seen.unwrap();
        assert_eq!(payload, b"ping");
        assert_eq!(
            src,
            match client.local_addr().unwrap() {
                std::net::SocketAddr::V4(a) => a,
                other => panic!("{other}"),
            }
        );
        assert_eq!(*dst.ip(), Ipv4Addr::LOCALHOST);
        let mut buf = [0u8; 16];
        let (len, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"pong");
        assert_eq!(from, std::net::SocketAddr::V4(server));
        assert_eq!(port.counters().tx_replies, 1);
    }
}

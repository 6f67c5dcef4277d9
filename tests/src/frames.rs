//! Crafted frames and a raw `AF_PACKET` socket to inject and capture them.

use std::{
    io,
    net::Ipv4Addr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use dhcp_wire::frame::{self, LinkMeta, MacAddr, UdpMeta, VlanStack, VlanTag};

/// 802.1Q TPID.
pub const TPID_8021Q: u16 = 0x8100;
/// 802.1ad (QinQ outer) TPID.
pub const TPID_8021AD: u16 = 0x88a8;

/// Source MAC of crafted frames.
pub const PEER_MAC: MacAddr = MacAddr([0x02, 0x77, 0, 0, 0, 2]);

/// An Ethernet/VLAN/IPv4/UDP frame with valid checksums.
pub fn udp_frame(
    vlans: &[VlanTag],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> Vec<u8> {
    let link = LinkMeta {
        dst: MacAddr::BROADCAST,
        src: PEER_MAC,
        vlans: VlanStack::from_tags(vlans).expect("at most two tags"),
    };
    let udp = UdpMeta {
        src_ip: src.0,
        dst_ip: dst.0,
        src_port: src.1,
        dst_port: dst.1,
        ttl: 64,
    };
    let hdr = frame::udp_headers_len(&link.vlans);
    let mut buf = vec![0u8; hdr + payload.len()];
    buf[hdr..].copy_from_slice(payload);
    let n = frame::write_udp_headers(&mut buf, &link, &udp, 1, payload.len()).expect("fits");
    buf.truncate(n);
    buf
}

/// `frame` with its Ethernet destination and source replaced.
pub fn with_macs(mut frame: Vec<u8>, dst: MacAddr, src: MacAddr) -> Vec<u8> {
    frame[..6].copy_from_slice(&dst.0);
    frame[6..12].copy_from_slice(&src.0);
    frame
}

/// A DHCP-port frame (68 -> 67) from 0.0.0.0 to broadcast with `payload`.
pub fn dhcp_frame(vlans: &[VlanTag], payload: &[u8]) -> Vec<u8> {
    udp_frame(
        vlans,
        (Ipv4Addr::UNSPECIFIED, 68),
        (Ipv4Addr::BROADCAST, 67),
        payload,
    )
}

/// Offset of the IPv4 header in a frame with `tags` VLAN tags.
pub fn l3_offset(tags: usize) -> usize {
    frame::ETH_HLEN + tags * frame::VLAN_HLEN
}

/// Recomputes the IPv4 header checksum of a frame after a test edited the header.
pub fn fix_ipv4_checksum(frame: &mut [u8], l3: usize) {
    let ihl = usize::from(frame[l3] & 0x0f) * 4;
    frame[l3 + 10] = 0;
    frame[l3 + 11] = 0;
    let c = dhcp_wire::checksum::checksum(&frame[l3..l3 + ihl]);
    frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

/// Inserts `extra` bytes of IPv4 options (NOPs ending in EOL) into an untagged frame.
pub fn with_ipv4_options(frame: &[u8], extra: usize) -> Vec<u8> {
    assert!(extra.is_multiple_of(4) && extra <= 40);
    let l3 = frame::ETH_HLEN;
    let mut out = Vec::with_capacity(frame.len() + extra);
    out.extend_from_slice(&frame[..l3 + 20]);
    let mut opts = vec![1u8; extra]; // NOP
    if let Some(last) = opts.last_mut() {
        *last = 0; // EOL
    }
    out.extend_from_slice(&opts);
    out.extend_from_slice(&frame[l3 + 20..]);
    out[l3] = 0x40 | ((20 + extra) / 4) as u8;
    let total = u16::from_be_bytes([out[l3 + 2], out[l3 + 3]]) + extra as u16;
    out[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
    fix_ipv4_checksum(&mut out, l3);
    out
}

/// An ARP request (who-has `target` tell `sender`).
pub fn arp_request(sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    broadcast_arp_request(PEER_MAC, sender, target)
}

/// A gratuitous ARP, the announcement of RFC 5227 §2.3: who-has `ip` tell `ip` at `mac`. The
/// LAN's neighbour caches that hold `ip` take `mac` for it.
pub fn arp_announcement(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    broadcast_arp_request(MacAddr(mac), ip, ip)
}

fn broadcast_arp_request(mac: MacAddr, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&MacAddr::BROADCAST.0);
    f.extend_from_slice(&mac.0);
    f.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    f.extend_from_slice(&mac.0);
    f.extend_from_slice(&sender.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

/// A minimal IPv6 frame (header only, UDP next header).
pub fn ipv6_frame() -> Vec<u8> {
    let mut f = Vec::with_capacity(62);
    f.extend_from_slice(&MacAddr::BROADCAST.0);
    f.extend_from_slice(&PEER_MAC.0);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 8, 17, 64]);
    f.extend_from_slice(&[0; 32]);
    f.extend_from_slice(&[0, 68, 0, 67, 0, 8, 0, 0]);
    f
}

/// A raw packet socket bound to one interface of the calling thread's namespace.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    /// Opens an `AF_PACKET`/`SOCK_RAW` socket on `ifname` receiving every protocol.
    pub fn open(ifname: &str) -> io::Result<Self> {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // Safety: plain socket(2) call.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(proto),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // Safety: fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let ifindex = dhcp_user::steer::ifindex(ifname).map_err(io::Error::other)? as i32;
        // Safety: zeroed sockaddr_ll with the fields bind needs.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = proto;
        sa.sll_ifindex = ifindex;
        // Safety: pointer and length describe `sa`.
        let rc = unsafe {
            libc::bind(
                raw,
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketSocket { fd, ifindex })
    }

    /// Sends one frame as is.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // Safety: zeroed sockaddr_ll with the fields sendto needs.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_ifindex = self.ifindex;
        sa.sll_halen = 6;
        // Safety: buffer and address are valid for the call.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receives frames until `accept` returns true for one or `timeout` passes. Only frames
    /// arriving on the wire (not our own transmissions) are offered.
    pub fn recv_matching(
        &self,
        timeout: Duration,
        mut accept: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // Safety: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
            if rc <= 0 {
                continue;
            }
            // Safety: zeroed sockaddr_ll filled by recvfrom.
            let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut salen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // Safety: buffer and address are valid for the call.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut sa as *mut libc::sockaddr_ll).cast(),
                    &mut salen,
                )
            };
            if n < 0 {
                continue;
            }
            if sa.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let f = &buf[..n as usize];
            if accept(f) {
                return Ok(Some(f.to_vec()));
            }
        }
    }
}

/// The frames of a classic pcap file (microsecond or nanosecond, either byte order), Ethernet
/// link type assumed; malformed tails are ignored.
pub fn pcap_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if bytes.len() < 24 {
        return out;
    }
    let magic = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        _ => return out,
    };
    let rd = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = rd(&bytes[at + 8..at + 12]) as usize;
        let start = at + 16;
        let Some(frame) = bytes.get(start..start + incl) else {
            break;
        };
        out.push(frame.to_vec());
        at = start + incl;
    }
    out
}

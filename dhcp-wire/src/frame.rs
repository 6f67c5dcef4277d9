//! Ethernet (untagged, 802.1Q, QinQ) + IPv4 + UDP: parsing a received frame down to its UDP
//! payload, and writing the headers of a reply frame around a payload already in place.
//!
//! Both directions work on borrowed buffers and never allocate. Every length is checked once,
//! up front, so no accessor below can panic.

use core::net::Ipv4Addr;

use crate::checksum;

/// Ethernet header length without tags.
pub const ETH_HLEN: usize = 14;
/// Length of one VLAN tag.
pub const VLAN_HLEN: usize = 4;
/// IPv4 header length without options.
pub const IPV4_HLEN: usize = 20;
/// UDP header length.
pub const UDP_HLEN: usize = 8;
/// Most VLAN tags we look through (802.1Q or QinQ).
pub const MAX_VLAN_TAGS: usize = 2;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPPROTO_UDP: u8 = 17;

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// True for a group (multicast or broadcast) address.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl core::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// One VLAN tag as it appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct VlanTag {
    /// Tag protocol identifier: 0x8100 (802.1Q) or 0x88a8 (802.1ad outer tag).
    pub tpid: u16,
    /// Tag control information: PCP, DEI and the 12-bit VLAN id.
    pub tci: u16,
}

impl VlanTag {
    /// The 12-bit VLAN identifier.
    pub fn vid(&self) -> u16 {
        self.tci & 0x0fff
    }
}

/// The VLAN tags of a frame, outermost first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct VlanStack {
    len: u8,
    tags: [VlanTag; MAX_VLAN_TAGS],
}

impl VlanStack {
    /// No tags.
    pub const fn untagged() -> Self {
        VlanStack {
            len: 0,
            tags: [VlanTag { tpid: 0, tci: 0 }; MAX_VLAN_TAGS],
        }
    }

    /// Builds a stack from outermost-first tags; `None` when there are too many.
    pub fn from_tags(tags: &[VlanTag]) -> Option<Self> {
        if tags.len() > MAX_VLAN_TAGS {
            return None;
        }
        let mut s = Self::untagged();
        s.tags[..tags.len()].copy_from_slice(tags);
        s.len = tags.len() as u8;
        Some(s)
    }

    /// The tags, outermost first.
    pub fn tags(&self) -> &[VlanTag] {
        &self.tags[..usize::from(self.len)]
    }

    /// Bytes the tags take in the frame.
    pub fn wire_len(&self) -> usize {
        usize::from(self.len) * VLAN_HLEN
    }

    fn push(&mut self, tag: VlanTag) -> bool {
        let i = usize::from(self.len);
        if i >= MAX_VLAN_TAGS {
            return false;
        }
        self.tags[i] = tag;
        self.len += 1;
        true
    }
}

/// Why a received frame is not an IPv4/UDP datagram we can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameError {
    /// Shorter than the headers it announces.
    Truncated,
    /// More than [`MAX_VLAN_TAGS`] tags.
    TooManyVlanTags,
    /// Not IPv4 (after any VLAN tags).
    NotIpv4,
    /// IPv4 header length below 20, total length below the header, or a bad header checksum.
    BadIpv4Header,
    /// An IPv4 fragment.
    Fragment,
    /// IPv4 but not UDP.
    NotUdp,
    /// UDP length below 8 or beyond the IPv4 payload.
    BadUdpLength,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FrameError::Truncated => "frame truncated",
            FrameError::TooManyVlanTags => "too many VLAN tags",
            FrameError::NotIpv4 => "not IPv4",
            FrameError::BadIpv4Header => "bad IPv4 header",
            FrameError::Fragment => "IPv4 fragment",
            FrameError::NotUdp => "not UDP",
            FrameError::BadUdpLength => "bad UDP length",
        })
    }
}

/// Link-layer facts of a frame that a reply needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct LinkMeta {
    /// Destination MAC address.
    pub dst: MacAddr,
    /// Source MAC address.
    pub src: MacAddr,
    /// VLAN tags, outermost first.
    pub vlans: VlanStack,
}

/// Addressing of an IPv4/UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpMeta {
    /// IPv4 source address.
    pub src_ip: Ipv4Addr,
    /// IPv4 destination address.
    pub dst_ip: Ipv4Addr,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// IPv4 time to live.
    pub ttl: u8,
}

/// A received IPv4/UDP frame, split into its headers' facts and its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpFrame<'a> {
    /// Ethernet addresses and VLAN tags.
    pub link: LinkMeta,
    /// IP addresses and UDP ports.
    pub udp: UdpMeta,
    /// The UDP payload (exactly UDP length - 8 bytes; Ethernet padding excluded).
    pub payload: &'a [u8],
    /// Offset of the payload within the frame.
    pub payload_offset: usize,
}

fn be16(b: &[u8], at: usize) -> Result<u16, FrameError> {
    match b.get(at..at + 2) {
        Some(s) => Ok(u16::from_be_bytes([s[0], s[1]])),
        None => Err(FrameError::Truncated),
    }
}

fn mac(b: &[u8], at: usize) -> Result<MacAddr, FrameError> {
    let s = b.get(at..at + 6).ok_or(FrameError::Truncated)?;
    let mut m = [0u8; 6];
    m.copy_from_slice(s);
    Ok(MacAddr(m))
}

/// Parses an Ethernet frame carrying IPv4/UDP.
///
/// The IPv4 header checksum is verified. The UDP checksum is not: frames that a local socket
/// sends through a veth pair arrive with checksum offload still pending, and a DHCP server must
/// answer those too (the kernel's own UDP path accepts them for the same reason).
pub fn parse_udp_frame(frame: &[u8]) -> Result<UdpFrame<'_>, FrameError> {
    let dst = mac(frame, 0)?;
    let src = mac(frame, 6)?;
    let mut ethertype = be16(frame, 12)?;
    let mut l3 = ETH_HLEN;
    let mut vlans = VlanStack::untagged();
    while ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        let tag = VlanTag {
            tpid: ethertype,
            tci: be16(frame, l3)?,
        };
        if !vlans.push(tag) {
            return Err(FrameError::TooManyVlanTags);
        }
        ethertype = be16(frame, l3 + 2)?;
        l3 += VLAN_HLEN;
    }
    if ethertype != ETH_P_IP {
        return Err(FrameError::NotIpv4);
    }
    let ip = frame.get(l3..).ok_or(FrameError::Truncated)?;
    if ip.len() < IPV4_HLEN {
        return Err(FrameError::Truncated);
    }
    if ip[0] >> 4 != 4 {
        return Err(FrameError::NotIpv4);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ihl < IPV4_HLEN || total_len < ihl {
        return Err(FrameError::BadIpv4Header);
    }
    if ip.len() < total_len {
        return Err(FrameError::Truncated);
    }
    if checksum::checksum(&ip[..ihl]) != 0 {
        return Err(FrameError::BadIpv4Header);
    }
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
        return Err(FrameError::Fragment);
    }
    if ip[9] != IPPROTO_UDP {
        return Err(FrameError::NotUdp);
    }
    let ttl = ip[8];
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let udp = &ip[ihl..total_len];
    if udp.len() < UDP_HLEN {
        return Err(FrameError::BadUdpLength);
    }
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if udp_len < UDP_HLEN || udp_len > udp.len() {
        return Err(FrameError::BadUdpLength);
    }
    let payload_offset = l3 + ihl + UDP_HLEN;
    Ok(UdpFrame {
        link: LinkMeta { dst, src, vlans },
        udp: UdpMeta {
            src_ip,
            dst_ip,
            src_port: u16::from_be_bytes([udp[0], udp[1]]),
            dst_port: u16::from_be_bytes([udp[2], udp[3]]),
            ttl,
        },
        payload: &udp[UDP_HLEN..udp_len],
        payload_offset,
    })
}

/// Length of the Ethernet + VLAN + IPv4 (no options) + UDP headers written by
/// [`write_udp_headers`]: the offset at which the payload must be placed.
pub fn udp_headers_len(vlans: &VlanStack) -> usize {
    ETH_HLEN + vlans.wire_len() + IPV4_HLEN + UDP_HLEN
}

/// Why headers could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmitError {
    /// The buffer cannot hold the headers plus the payload.
    BufferTooSmall,
    /// The payload does not fit in one IPv4 datagram.
    PayloadTooLarge,
}

/// Writes Ethernet, VLAN, IPv4 and UDP headers in front of a payload of `payload_len` bytes that
/// the caller has already placed at `buf[udp_headers_len(&link.vlans)..]`. Computes the IPv4 and
/// UDP checksums. Returns the frame length.
pub fn write_udp_headers(
    buf: &mut [u8],
    link: &LinkMeta,
    udp: &UdpMeta,
    ident: u16,
    payload_len: usize,
) -> Result<usize, EmitError> {
    let hdr = udp_headers_len(&link.vlans);
    let udp_len = UDP_HLEN + payload_len;
    let ip_len = IPV4_HLEN + udp_len;
    if ip_len > usize::from(u16::MAX) {
        return Err(EmitError::PayloadTooLarge);
    }
    let frame_len = hdr + payload_len;
    if buf.len() < frame_len {
        return Err(EmitError::BufferTooSmall);
    }
    let buf = &mut buf[..frame_len];
    buf[0..6].copy_from_slice(&link.dst.0);
    buf[6..12].copy_from_slice(&link.src.0);
    let mut at = 12;
    for tag in link.vlans.tags() {
        buf[at..at + 2].copy_from_slice(&tag.tpid.to_be_bytes());
        buf[at + 2..at + 4].copy_from_slice(&tag.tci.to_be_bytes());
        at += VLAN_HLEN;
    }
    buf[at..at + 2].copy_from_slice(&ETH_P_IP.to_be_bytes());
    let l3 = at + 2;

    let src = udp.src_ip.octets();
    let dst = udp.dst_ip.octets();
    {
        let ip = &mut buf[l3..l3 + IPV4_HLEN];
        ip[0] = 0x45;
        ip[1] = 0; // DSCP/ECN
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&ident.to_be_bytes());
        ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF, no fragment
        ip[8] = udp.ttl;
        ip[9] = IPPROTO_UDP;
        ip[10..12].copy_from_slice(&[0, 0]);
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let c = checksum::checksum(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let l4 = l3 + IPV4_HLEN;
    {
        let u = &mut buf[l4..];
        u[0..2].copy_from_slice(&udp.src_port.to_be_bytes());
        u[2..4].copy_from_slice(&udp.dst_port.to_be_bytes());
        u[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        u[6..8].copy_from_slice(&[0, 0]);
        let sum = checksum::pseudo_header_sum(src, dst, udp_len as u16);
        let mut c = checksum::finish(checksum::accumulate(sum, u));
        if c == 0 {
            // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
            c = 0xffff;
        }
        u[6..8].copy_from_slice(&c.to_be_bytes());
    }
    Ok(frame_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(vlans: &[VlanTag]) -> (LinkMeta, UdpMeta) {
        (
            LinkMeta {
                dst: MacAddr([0x02, 0, 0, 0, 0, 1]),
                src: MacAddr([0x02, 0, 0, 0, 0, 2]),
                vlans: VlanStack::from_tags(vlans).unwrap(),
            },
            UdpMeta {
                src_ip: Ipv4Addr::new(10, 0, 0, 1),
                dst_ip: Ipv4Addr::new(10, 0, 0, 2),
                src_port: 68,
                dst_port: 67,
                ttl: 64,
            },
        )
    }

    fn build(vlans: &[VlanTag], payload: &[u8]) -> ([u8; 512], usize) {
        let (link, udp) = meta(vlans);
        let mut buf = [0u8; 512];
        let off = udp_headers_len(&link.vlans);
        buf[off..off + payload.len()].copy_from_slice(payload);
        let n = write_udp_headers(&mut buf, &link, &udp, 7, payload.len()).unwrap();
        (buf, n)
    }

    #[test]
    fn round_trip_untagged_dot1q_and_qinq() {
        let q = VlanTag {
            tpid: ETH_P_8021Q,
            tci: 100,
        };
        let ad = VlanTag {
            tpid: ETH_P_8021AD,
            tci: 0x2000 | 7,
        };
        for tags in [&[][..], &[q][..], &[ad, q][..], &[q, q][..]] {
            let payload = b"hello dhcp";
            let (buf, n) = build(tags, payload);
            let f = parse_udp_frame(&buf[..n]).unwrap();
            let (link, udp) = meta(tags);
            assert_eq!(f.link, link);
            assert_eq!(f.udp, udp);
            assert_eq!(f.payload, payload);
            assert_eq!(f.payload_offset, udp_headers_len(&link.vlans));
            // UDP checksum over pseudo-header + segment verifies to zero.
            let l4 = f.payload_offset - UDP_HLEN;
            let seg = &buf[l4..n];
            let sum = checksum::pseudo_header_sum(
                udp.src_ip.octets(),
                udp.dst_ip.octets(),
                seg.len() as u16,
            );
            assert_eq!(checksum::finish(checksum::accumulate(sum, seg)), 0);
        }
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let (mut buf, n) = build(&[], b"x");
        // Pad to the 60-byte Ethernet minimum with junk.
        for b in &mut buf[n..60] {
            *b = 0xee;
        }
        let f = parse_udp_frame(&buf[..60]).unwrap();
        assert_eq!(f.payload, b"x");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let (buf, n) = build(
            &[VlanTag {
                tpid: ETH_P_8021Q,
                tci: 5,
            }],
            b"abcdef",
        );
        for len in 0..n {
            assert!(parse_udp_frame(&buf[..len]).is_err(), "len {len}");
        }
        assert!(parse_udp_frame(&buf[..n]).is_ok());
    }

    #[test]
    fn rejects_bad_headers() {
        let (buf, n) = build(&[], b"abcdef");
        let mut b = buf;
        b[14] = 0x44; // IHL 4
        assert_eq!(parse_udp_frame(&b[..n]), Err(FrameError::BadIpv4Header));
        let mut b = buf;
        b[14 + 8] ^= 1; // TTL flipped: checksum no longer matches
        assert_eq!(parse_udp_frame(&b[..n]), Err(FrameError::BadIpv4Header));
        let mut b = buf;
        b[12] = 0x86;
        b[13] = 0xdd;
        assert_eq!(parse_udp_frame(&b[..n]), Err(FrameError::NotIpv4));
        let mut b = buf;
        b[14 + 6] = 0x20; // MF set
        fix_ip_checksum(&mut b);
        assert_eq!(parse_udp_frame(&b[..n]), Err(FrameError::Fragment));
        let mut b = buf;
        b[14 + 9] = 6;
        fix_ip_checksum(&mut b);
        assert_eq!(parse_udp_frame(&b[..n]), Err(FrameError::NotUdp));
        let mut b = buf;
        b[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(parse_udp_frame(&b[..n]), Err(FrameError::BadUdpLength));
        let mut b = buf;
        b[12] = 0x81;
        b[13] = 0x00;
        // Three nested tags.
        let mut t = [0u8; 64];
        t[..12].copy_from_slice(&b[..12]);
        for i in 0..3 {
            t[12 + i * 4..14 + i * 4].copy_from_slice(&[0x81, 0x00]);
        }
        assert_eq!(parse_udp_frame(&t), Err(FrameError::TooManyVlanTags));
    }

    fn fix_ip_checksum(b: &mut [u8]) {
        b[24] = 0;
        b[25] = 0;
        let c = checksum::checksum(&b[14..34]);
        b[24..26].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn ipv4_options_are_skipped() {
        // Hand-build a frame with a 24-byte IPv4 header (one 4-byte option: NOP NOP NOP EOL).
        let mut b = [0u8; 14 + 24 + 8 + 3];
        b[12..14].copy_from_slice(&[0x08, 0x00]);
        b[14] = 0x46;
        let total = (24 + 8 + 3) as u16;
        b[16..18].copy_from_slice(&total.to_be_bytes());
        b[22] = 64;
        b[23] = 17;
        b[34..38].copy_from_slice(&[1, 1, 1, 0]);
        fix_ip_checksum_ihl(&mut b, 24);
        b[38..40].copy_from_slice(&68u16.to_be_bytes());
        b[40..42].copy_from_slice(&67u16.to_be_bytes());
        b[42..44].copy_from_slice(&11u16.to_be_bytes());
        b[46..49].copy_from_slice(b"abc");
        let f = parse_udp_frame(&b).unwrap();
        assert_eq!(f.payload, b"abc");
        assert_eq!(f.udp.dst_port, 67);
        assert_eq!(f.payload_offset, 46);
    }

    fn fix_ip_checksum_ihl(b: &mut [u8], ihl: usize) {
        b[24] = 0;
        b[25] = 0;
        let c = checksum::checksum(&b[14..14 + ihl]);
        b[24..26].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn emit_refuses_small_buffers() {
        let (link, udp) = meta(&[]);
        let mut small = [0u8; 40];
        assert_eq!(
            write_udp_headers(&mut small, &link, &udp, 0, 10),
            Err(EmitError::BufferTooSmall)
        );
    }
}

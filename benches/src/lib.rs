//! Criterion benchmarks live in `benches/`, the by-hand measurements in `src/bin/`; this
//! library holds what they share: inputs, a prefilled lease table, fixtures.

pub mod drive;
pub mod fixtures;
pub mod lab;
pub mod serve;

use dhcp_wire::frame::{self, LinkMeta, MacAddr, UdpMeta, VlanStack};

/// A 342-byte untagged UDP/67 frame (the size of a typical DHCPDISCOVER).
pub fn discover_sized_frame() -> Vec<u8> {
    let link = LinkMeta {
        dst: MacAddr::BROADCAST,
        src: MacAddr([2, 0, 0, 0, 0, 1]),
        vlans: VlanStack::untagged(),
    };
    let udp = UdpMeta {
        src_ip: core::net::Ipv4Addr::UNSPECIFIED,
        dst_ip: core::net::Ipv4Addr::BROADCAST,
        src_port: 68,
        dst_port: 67,
        ttl: 64,
    };
    let hdr = frame::udp_headers_len(&link.vlans);
    let mut buf = vec![0u8; 342];
    frame::write_udp_headers(&mut buf, &link, &udp, 1, 342 - hdr).expect("fits");
    buf
}

//! Messages captured from real clients, ISC dhcrelay and ISC dhcpd (see fixtures/README.md):
//! each parses, agrees with dhcproto, and survives a copy through our writer unchanged.

mod support;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use dhcp_wire::dhcp::{DhcpPacket, DhcpWriter, MessageType, Op, OptionCode};
use support::{Model, assert_agrees_with_dhcproto};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    files
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_fixture_agrees_with_dhcproto() {
    let files = fixtures();
    assert!(files.len() >= 12, "fixtures missing: {files:?}");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        println!("{}", path.display());
        assert_agrees_with_dhcproto(&bytes);
    }
}

/// Re-emitting a captured message through the writer (header set field by field, options
/// copied) gives back the same message.
#[test]
fn every_fixture_survives_our_writer() {
    for path in fixtures() {
        let bytes = std::fs::read(&path).unwrap();
        let req = DhcpPacket::new_checked(&bytes[..]).unwrap();
        let idx = req.options().unwrap();
        let mut buf = [0u8; 1500];
        let mut w = DhcpWriter::new(&mut buf, 1500, None).unwrap();
        w.set_reply_header(&req);
        w.set_op(req.op());
        w.set_hops(req.hops());
        w.set_secs(req.secs());
        w.set_ciaddr(req.ciaddr());
        w.set_yiaddr(req.yiaddr());
        w.set_siaddr(req.siaddr());
        w.set_sname(req.sname()).unwrap();
        w.set_file(req.file()).unwrap();
        for opt in idx.iter() {
            w.copy_option(&opt).unwrap();
        }
        let len = w.finish();
        let original = Model::parse(&bytes).unwrap();
        assert_eq!(
            Model::parse(&buf[..len]).unwrap(),
            original,
            "{}",
            path.display()
        );
        // The captures are ordinary messages: same options, same END, same padding.
        assert_eq!(&buf[..len], &bytes[..], "{}", path.display());
    }
}

#[test]
fn dhclient_discover() {
    let bytes = fixture("dhclient-discover.bin");
    let p = DhcpPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(p.op(), Op::BootRequest);
    assert_eq!(p.htype(), 1);
    assert_eq!(p.chaddr(), &[2, 0, 0, 0, 0x0a, 1]);
    let idx = p.options().unwrap();
    assert_eq!(idx.message_type(), Some(MessageType::Discover));
    let prl: Vec<u8> = idx.parameter_request_list().unwrap().bytes().collect();
    assert!(prl.contains(&1) && prl.contains(&3) && prl.contains(&6));
    assert_eq!(idx.server_id(), None);
}

#[test]
fn dhclient_request_names_the_offer() {
    let offer = fixture("dhcpd-offer.bin");
    let offer = DhcpPacket::new_checked(&offer[..]).unwrap();
    let oidx = offer.options().unwrap();
    assert_eq!(offer.op(), Op::BootReply);
    assert_eq!(oidx.message_type(), Some(MessageType::Offer));
    assert_eq!(oidx.server_id(), Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(oidx.lease_time_secs(), Some(600));

    let bytes = fixture("dhclient-request.bin");
    let p = DhcpPacket::new_checked(&bytes[..]).unwrap();
    let idx = p.options().unwrap();
    assert_eq!(idx.message_type(), Some(MessageType::Request));
    assert_eq!(idx.server_id(), oidx.server_id());
    assert_eq!(idx.requested_ip(), Some(offer.yiaddr()));
    assert_eq!(p.xid(), offer.xid());
}

#[test]
fn udhcpc_sends_vendor_class_client_id_and_max_size() {
    let bytes = fixture("udhcpc-discover.bin");
    let p = DhcpPacket::new_checked(&bytes[..]).unwrap();
    let idx = p.options().unwrap();
    assert_eq!(idx.message_type(), Some(MessageType::Discover));
    assert!(idx.vendor_class().unwrap().eq_bytes(b"udhcp 1.35.0"));
    assert!(idx.hostname().unwrap().eq_bytes(b"fixture-host"));
    // Client id: hardware type 1 and the MAC (RFC 2132 section 9.14).
    assert!(idx.client_id().unwrap().eq_bytes(&[1, 2, 0, 0, 0, 0x0a, 1]));
    assert_eq!(idx.max_message_size(), Some(576));
}

#[test]
fn dhcpcd_sends_a_duid_client_id_and_rapid_commit() {
    let bytes = fixture("dhcpcd-discover.bin");
    let p = DhcpPacket::new_checked(&bytes[..]).unwrap();
    let idx = p.options().unwrap();
    assert_eq!(idx.message_type(), Some(MessageType::Discover));
    // RFC 4361: type 255, IAID, DUID.
    let id = idx.client_id().unwrap();
    assert_eq!(id.as_slice().unwrap()[0], 255);
    assert!(idx.get(OptionCode::RAPID_COMMIT).unwrap().is_empty());
    assert!(idx.max_message_size().is_some());
}

#[test]
fn dhcrelay_adds_giaddr_hops_and_option_82() {
    for name in ["dhcrelay-discover.bin", "dhcrelay-request.bin"] {
        let bytes = fixture(name);
        let p = DhcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.hops(), 1);
        assert_eq!(p.giaddr(), Ipv4Addr::new(192, 0, 2, 1));
        let idx = p.options().unwrap();
        let info = idx.relay_agent_info().unwrap();
        // ISC dhcrelay -a: the circuit id is the downstream interface name.
        assert_eq!(info.circuit_id(), Some(&b"xwr-rd"[..]));
        assert_eq!(info.remote_id(), None);
    }
    // ISC dhcpd echoes option 82 in its replies to the relay (RFC 3046 section 2.2).
    let request = fixture("dhcrelay-request.bin");
    let request = DhcpPacket::new_checked(&request[..]).unwrap();
    let ridx = request.options().unwrap();
    let ack = fixture("dhcpd-relayed-ack.bin");
    let ack = DhcpPacket::new_checked(&ack[..]).unwrap();
    let aidx = ack.options().unwrap();
    assert_eq!(aidx.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.giaddr(), Ipv4Addr::new(192, 0, 2, 1));
    let sent = ridx.get(OptionCode::RELAY_AGENT_INFO).unwrap();
    let echoed = aidx.get(OptionCode::RELAY_AGENT_INFO).unwrap();
    assert!(echoed.eq_bytes(sent.as_slice().unwrap()));
}

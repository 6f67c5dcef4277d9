//! dhcproto as an independent oracle: what we write, it reads the same; what it writes, we
//! read the same.

mod support;

use dhcproto::{Decodable, Encodable, v4};
use proptest::prelude::*;
use support::{Model, assert_agrees_with_dhcproto, dhcproto_options, header};

const BIG: usize = 8192;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Our writer's output, decoded by dhcproto, matches our model field by field and option by
    /// option (long values split into fragments included).
    #[test]
    fn dhcproto_reads_what_we_write(mut m in header(), options in dhcproto_options(600)) {
        m.options = options;
        let mut buf = vec![0u8; BIG];
        let (len, skipped) = m.emit(&mut buf, BIG, None).unwrap();
        prop_assert!(skipped.is_empty());
        let bytes = &buf[..len];
        assert_agrees_with_dhcproto(bytes);
        // And dhcproto's reading equals the model itself.
        let theirs = v4::Message::from_bytes(bytes).unwrap();
        prop_assert_eq!(theirs.xid(), m.xid);
        prop_assert_eq!(theirs.opts().iter().count(), m.options.len());
        for (code, value) in &m.options {
            let opt = theirs.opts().get(v4::OptionCode::from(*code)).unwrap();
            prop_assert_eq!(&support::dhcproto_value(opt), value, "option {}", code);
        }
    }

    /// A message built and encoded by dhcproto, parsed by us, gives the same values.
    #[test]
    fn we_read_what_dhcproto_writes(m in header(), options in dhcproto_options(600)) {
        let mut msg = v4::Message::new_with_id(
            m.xid, m.ciaddr, m.yiaddr, m.siaddr, m.giaddr, &m.chaddr[..usize::from(m.hlen)],
        );
        msg.set_opcode(match m.op {
            dhcp_wire::dhcp::Op::BootRequest => v4::Opcode::BootRequest,
            dhcp_wire::dhcp::Op::BootReply => v4::Opcode::BootReply,
        });
        msg.set_htype(v4::HType::from(m.htype))
            .set_hops(m.hops)
            .set_secs(m.secs)
            .set_flags(v4::Flags::new(m.flags));
        // dhcproto writes names up to a NUL; give it names without one.
        let sname: Vec<u8> = m.sname.iter().copied().filter(|&b| b != 0).take(63).collect();
        let file: Vec<u8> = m.file.iter().copied().filter(|&b| b != 0).take(127).collect();
        msg.set_sname(&sname).set_fname(&file);
        for (code, value) in &options {
            // Let dhcproto type the option from its wire form, as it would on receipt.
            let mut wire = Vec::new();
            for chunk in value.chunks(255).chain(value.is_empty().then_some(&[][..])) {
                wire.push(*code);
                wire.push(chunk.len() as u8);
                wire.extend_from_slice(chunk);
            }
            let opt = v4::DhcpOption::from_bytes(&wire).unwrap();
            msg.opts_mut().insert(opt);
        }
        let bytes = msg.to_vec().unwrap();
        assert_agrees_with_dhcproto(&bytes);
        let ours = Model::parse(&bytes).unwrap();
        prop_assert_eq!(ours.xid, m.xid);
        // dhcproto 0.14 drops empty opaque values when encoding; everything else is there with
        // the value it was built from.
        for (code, value) in options.iter().filter(|(c, v)| !v.is_empty() || *c == 80) {
            let got = ours.options.iter().find(|(c, _)| c == code).map(|(_, v)| v);
            prop_assert_eq!(got, Some(value), "option {}", code);
        }
    }
}

/// A hand-written cross-check of the typed helpers on a typical server reply.
#[test]
fn dhcproto_reads_a_typical_ack() {
    use dhcp_wire::dhcp::{DhcpWriter, MessageType, OptionCode};
    use std::net::Ipv4Addr;

    let mut buf = [0u8; 1500];
    let mut w = DhcpWriter::new(&mut buf, 548, None).unwrap();
    w.set_xid(7);
    w.set_hlen(6).unwrap();
    w.set_htype(1);
    w.set_chaddr(&[2, 0, 0, 0, 0, 7]).unwrap();
    w.set_yiaddr(Ipv4Addr::new(192, 0, 2, 10));
    w.message_type(MessageType::Ack).unwrap();
    w.option(OptionCode::SERVER_ID, &[192, 0, 2, 1]).unwrap();
    w.option(OptionCode::LEASE_TIME, &3600u32.to_be_bytes())
        .unwrap();
    w.option_ipv4s(OptionCode::ROUTER, &[Ipv4Addr::new(192, 0, 2, 1)])
        .unwrap();
    w.option(OptionCode::DOMAIN_NAME, b"example.test").unwrap();
    let len = w.finish();
    assert_agrees_with_dhcproto(&buf[..len]);
    let theirs = v4::Message::from_bytes(&buf[..len]).unwrap();
    assert_eq!(theirs.opts().msg_type(), Some(v4::MessageType::Ack));
    assert_eq!(
        theirs.opts().get(v4::OptionCode::Router),
        Some(&v4::DhcpOption::Router(vec![Ipv4Addr::new(192, 0, 2, 1)]))
    );
    assert_eq!(
        theirs.opts().get(v4::OptionCode::DomainName),
        Some(&v4::DhcpOption::DomainName("example.test".into()))
    );
}

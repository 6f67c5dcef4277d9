//! Shared by the DHCP integration tests: a Vec-based model of a message, proptest strategies
//! for it, and the comparison against dhcproto.
// Each test crate uses part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use dhcp_wire::dhcp::{
    DhcpError, DhcpPacket, DhcpWriter, Op, OptionCode, OptionIndex, Overload, WriteError,
};
use dhcproto::{Decodable, Encodable, v4};
use proptest::prelude::*;

/// A DHCP message as plain owned data: what `emit` writes and `parse` reads back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    pub op: Op,
    pub htype: u8,
    pub hlen: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    pub sname: Vec<u8>,
    pub file: Vec<u8>,
    /// Distinct codes, in first-appearance order, values concatenated.
    pub options: Vec<(u8, Vec<u8>)>,
}

impl Model {
    /// Writes the message with our writer; options that do not fit are skipped and returned.
    pub fn emit(
        &self,
        buf: &mut [u8],
        limit: usize,
        overload: Option<Overload>,
    ) -> Result<(usize, Vec<u8>), WriteError> {
        let mut w = DhcpWriter::new(buf, limit, overload)?;
        w.set_op(self.op);
        w.set_htype(self.htype);
        w.set_hlen(self.hlen)?;
        w.set_hops(self.hops);
        w.set_xid(self.xid);
        w.set_secs(self.secs);
        w.set_flags(self.flags);
        w.set_ciaddr(self.ciaddr);
        w.set_yiaddr(self.yiaddr);
        w.set_siaddr(self.siaddr);
        w.set_giaddr(self.giaddr);
        w.set_chaddr(&self.chaddr)?;
        if !overload.is_some_and(Overload::sname) {
            w.set_sname(&self.sname)?;
        }
        if !overload.is_some_and(Overload::file) {
            w.set_file(&self.file)?;
        }
        let mut skipped = Vec::new();
        for (code, value) in &self.options {
            match w.option(OptionCode(*code), value) {
                Ok(()) => {}
                Err(WriteError::NoSpace) => skipped.push(*code),
                Err(e) => return Err(e),
            }
        }
        Ok((w.finish(), skipped))
    }

    /// Reads a message with our parser.
    pub fn parse(bytes: &[u8]) -> Result<Model, DhcpError> {
        let p = DhcpPacket::new_checked(bytes)?;
        let idx = p.options()?;
        Ok(Model {
            op: p.op(),
            htype: p.htype(),
            hlen: p.hlen(),
            hops: p.hops(),
            xid: p.xid(),
            secs: p.secs(),
            flags: p.flags(),
            ciaddr: p.ciaddr(),
            yiaddr: p.yiaddr(),
            siaddr: p.siaddr(),
            giaddr: p.giaddr(),
            chaddr: p.chaddr_field(),
            sname: trim_zeros(p.sname()),
            file: trim_zeros(p.file()),
            options: options_of(&idx),
        })
    }
}

/// A name field as the model keeps it: without the zero padding.
pub fn trim_zeros(field: &[u8]) -> Vec<u8> {
    let end = field.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    field[..end].to_vec()
}

/// Every option of an index, values concatenated, in first-appearance order.
pub fn options_of(idx: &OptionIndex<'_>) -> Vec<(u8, Vec<u8>)> {
    idx.iter()
        .map(|v| (v.code().0, v.bytes().collect()))
        .collect()
}

/// Reads everything an index offers (what the fuzz target does): must never panic.
pub fn touch_everything(bytes: &[u8]) {
    let Ok(p) = DhcpPacket::new_checked(bytes) else {
        return;
    };
    let _ = (
        p.op(),
        p.htype(),
        p.hops(),
        p.xid(),
        p.secs(),
        p.broadcast(),
    );
    let _ = (p.ciaddr(), p.yiaddr(), p.siaddr(), p.giaddr(), p.chaddr());
    let _ = (p.sname(), p.file(), p.options_field());
    let Ok(idx) = p.options() else {
        return;
    };
    let mut scratch = [0u8; 1024];
    for v in idx.iter() {
        let _ = (
            v.len(),
            v.as_slice(),
            v.fragment_count(),
            v.copy_to(&mut scratch),
        );
        assert_eq!(v.iter_fragments().map(<[u8]>::len).sum::<usize>(), v.len());
        assert_eq!(v.bytes().count(), v.len());
        assert!(idx.get(v.code()).is_some());
    }
    let _ = (
        idx.message_type(),
        idx.requested_ip(),
        idx.lease_time_secs(),
    );
    let _ = (idx.server_id(), idx.max_message_size(), idx.reply_limit());
    let _ = (idx.client_id(), idx.vendor_class(), idx.hostname());
    let _ = (idx.subnet_selection(), idx.overload());
    if let Some(prl) = idx.parameter_request_list() {
        let _ = prl.bytes().count();
    }
    if let Some(info) = idx.relay_agent_info() {
        let _ = (info.circuit_id(), info.remote_id(), info.iter().count());
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// Header fields with empty options.
pub fn header() -> impl Strategy<Value = Model> {
    (
        (any::<bool>(), any::<u8>(), 0..=16u8, any::<u8>()),
        (any::<u32>(), any::<u16>(), any::<u16>()),
        (ipv4(), ipv4(), ipv4(), ipv4()),
        any::<[u8; 16]>(),
        // Names are kept without trailing zeros, like `Model::parse` reads them.
        prop::collection::vec(any::<u8>(), 0..=64).prop_map(|v| trim_zeros(&v)),
        prop::collection::vec(any::<u8>(), 0..=128).prop_map(|v| trim_zeros(&v)),
    )
        .prop_map(
            |((reply, htype, hlen, hops), (xid, secs, flags), addrs, chaddr, sname, file)| Model {
                op: if reply {
                    Op::BootReply
                } else {
                    Op::BootRequest
                },
                htype,
                hlen,
                hops,
                xid,
                secs,
                flags,
                ciaddr: addrs.0,
                yiaddr: addrs.1,
                siaddr: addrs.2,
                giaddr: addrs.3,
                chaddr,
                sname,
                file,
                options: Vec::new(),
            },
        )
}

/// Values mostly short, sometimes long enough to need two or three fragments.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 250..600),
    ]
}

/// Keeps the first of each code, like a parser concatenating fragments would see them.
fn dedup(options: Vec<(u8, Vec<u8>)>) -> Vec<(u8, Vec<u8>)> {
    let mut seen = [false; 256];
    options
        .into_iter()
        .filter(|(c, _)| !std::mem::replace(&mut seen[usize::from(*c)], true))
        .collect()
}

/// Any code the writer accepts (not pad, end or overload), any value.
pub fn any_options() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    let code = (1..=254u8).prop_filter("overload is the writer's", |&c| c != 52);
    prop::collection::vec((code, value()), 0..12).prop_map(dedup)
}

/// A whole message with arbitrary options.
pub fn model() -> impl Strategy<Value = Model> {
    (header(), any_options()).prop_map(|(mut m, options)| {
        m.options = options;
        m
    })
}

/// Codes dhcproto does not know, so it keeps their bytes as they are.
pub fn dhcproto_unknown_code() -> impl Strategy<Value = u8> {
    (1..=254u8).prop_filter("dhcproto knows it", |&c| {
        matches!(v4::OptionCode::from(c), v4::OptionCode::Unknown(_))
    })
}

/// Options whose values dhcproto decodes into a type and encodes back to the same bytes:
/// well-formed values of known codes, plus unknown codes with up to `unknown_max` bytes.
pub fn dhcproto_options(unknown_max: usize) -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    let addrs = |max: usize| prop::collection::vec(any::<[u8; 4]>(), 1..max);
    let flat = |v: Vec<[u8; 4]>| v.concat();
    let text = |max: usize| prop::collection::vec(0x20..0x7fu8, 1..max);
    let bytes = |max: usize| prop::collection::vec(any::<u8>(), 0..max);
    let one = prop_oneof![
        // One address.
        (
            prop::sample::select(vec![1u8, 16, 28, 50, 54, 118]),
            any::<[u8; 4]>()
        )
            .prop_map(|(c, a)| (c, a.to_vec())),
        // Address lists, up to 150 addresses: 600 bytes, three fragments.
        (
            prop::sample::select(vec![3u8, 4, 5, 6, 7, 41, 42, 44]),
            addrs(150).prop_map(flat)
        ),
        // Address pairs.
        (prop::sample::select(vec![21u8, 33]), addrs(20)).prop_map(|(c, mut v)| {
            if v.len() % 2 == 1 {
                v.pop();
            }
            if v.is_empty() {
                v = vec![[0; 4]; 2];
            }
            (c, v.concat())
        }),
        // Not 37: dhcproto 0.14 decodes it as option 23 (DefaultIpTtl).
        (Just(23u8), any::<u8>()).prop_map(|(c, v)| (c, vec![v])),
        (prop::sample::select(vec![13u8, 22, 26, 57]), any::<u16>())
            .prop_map(|(c, v)| (c, v.to_be_bytes().to_vec())),
        (
            prop::sample::select(vec![2u8, 35, 51, 58, 59]),
            any::<u32>()
        )
            .prop_map(|(c, v)| (c, v.to_be_bytes().to_vec())),
        (Just(19u8), 0..=1u8).prop_map(|(c, v)| (c, vec![v])),
        (1..=8u8).prop_map(|t| (53u8, vec![t])),
        (prop::sample::select(vec![12u8, 15, 17, 40, 56]), text(300)),
        (
            prop::sample::select(vec![43u8, 60, 61, 66, 67, 77]),
            bytes(300)
        ),
        (Just(55u8), prop::collection::vec(any::<u8>(), 1..60)),
        Just((80u8, Vec::new())),
        // Relay agent information: circuit id then remote id, as dhcproto orders them.
        (bytes(40), bytes(40)).prop_map(|(circuit, remote)| {
            let mut v = vec![1, circuit.len() as u8];
            v.extend(circuit);
            v.extend([2, remote.len() as u8]);
            v.extend(remote);
            (82u8, v)
        }),
        (
            dhcproto_unknown_code(),
            prop::collection::vec(any::<u8>(), 0..=unknown_max)
        ),
    ];
    prop::collection::vec(one, 0..12).prop_map(dedup)
}

// ---------------------------------------------------------------------------------------------
// dhcproto as an oracle

/// The value bytes dhcproto holds for an option: its own encoding with the fragments joined.
pub fn dhcproto_value(opt: &v4::DhcpOption) -> Vec<u8> {
    if let v4::DhcpOption::Unknown(u) = opt {
        // dhcproto cannot re-encode unknown values over 255 bytes; its data is what it read.
        return u.data().to_vec();
    }
    let wire = opt.to_vec().expect("dhcproto encodes what it decoded");
    let mut value = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let len = usize::from(wire[at + 1]);
        value.extend_from_slice(&wire[at + 2..at + 2 + len]);
        at += 2 + len;
    }
    value
}

/// dhcproto's reading of a name field: up to and including the first NUL, `None` when the
/// field starts with NUL or has none.
fn dhcproto_name(field: &[u8]) -> Option<Vec<u8>> {
    match field.iter().position(|&b| b == 0) {
        Some(0) | None => None,
        Some(n) => Some(field[..=n].to_vec()),
    }
}

/// Decodes `bytes` with both parsers and checks that they agree on every header field and
/// every option value. Panics (a test failure) where they do not.
pub fn assert_agrees_with_dhcproto(bytes: &[u8]) {
    let ours = DhcpPacket::new_checked(bytes).expect("our parser accepts it");
    let idx = ours.options().expect("our index accepts it");
    let theirs = v4::Message::from_bytes(bytes).expect("dhcproto decodes it");

    assert_eq!(u8::from(theirs.opcode()), ours.op().to_u8(), "op");
    assert_eq!(u8::from(theirs.htype()), ours.htype(), "htype");
    assert_eq!(theirs.hlen(), ours.hlen(), "hlen");
    assert_eq!(theirs.hops(), ours.hops(), "hops");
    assert_eq!(theirs.xid(), ours.xid(), "xid");
    assert_eq!(theirs.secs(), ours.secs(), "secs");
    assert_eq!(u16::from(theirs.flags()), ours.flags(), "flags");
    assert_eq!(theirs.flags().broadcast(), ours.broadcast(), "broadcast");
    assert_eq!(theirs.ciaddr(), ours.ciaddr(), "ciaddr");
    assert_eq!(theirs.yiaddr(), ours.yiaddr(), "yiaddr");
    assert_eq!(theirs.siaddr(), ours.siaddr(), "siaddr");
    assert_eq!(theirs.giaddr(), ours.giaddr(), "giaddr");
    assert_eq!(theirs.chaddr(), ours.chaddr(), "chaddr");
    // dhcproto does not implement overload: compare the names only where they are names.
    if idx.overload().is_none() {
        assert_eq!(
            theirs.sname().map(<[u8]>::to_vec),
            dhcproto_name(ours.sname()),
            "sname"
        );
        assert_eq!(
            theirs.fname().map(<[u8]>::to_vec),
            dhcproto_name(ours.file()),
            "file"
        );
    }

    let theirs_opts: BTreeMap<u8, Vec<u8>> = theirs
        .opts()
        .iter()
        .map(|(code, opt)| (u8::from(*code), dhcproto_value(opt)))
        .collect();
    let ours_opts: BTreeMap<u8, Vec<u8>> = options_of(&idx).into_iter().collect();
    assert_eq!(ours_opts, theirs_opts, "options");

    // Typed helpers against dhcproto's typed view.
    let o = theirs.opts();
    assert_eq!(
        idx.message_type().map(u8::from),
        o.msg_type().map(u8::from),
        "message type"
    );
    if let Some(v4::DhcpOption::RequestedIpAddress(ip)) = o.get(v4::OptionCode::RequestedIpAddress)
    {
        assert_eq!(idx.requested_ip(), Some(*ip));
    }
    if let Some(v4::DhcpOption::ServerIdentifier(ip)) = o.get(v4::OptionCode::ServerIdentifier) {
        assert_eq!(idx.server_id(), Some(*ip));
    }
    if let Some(v4::DhcpOption::AddressLeaseTime(t)) = o.get(v4::OptionCode::AddressLeaseTime) {
        assert_eq!(idx.lease_time_secs(), Some(*t));
    }
    if let Some(v4::DhcpOption::MaxMessageSize(m)) = o.get(v4::OptionCode::MaxMessageSize) {
        assert_eq!(idx.max_message_size(), Some(*m).filter(|&m| m >= 576));
    }
    if let Some(v4::DhcpOption::ClientIdentifier(id)) = o.get(v4::OptionCode::ClientIdentifier) {
        assert!(idx.client_id().unwrap().eq_bytes(id));
    }
    if let Some(v4::DhcpOption::ParameterRequestList(codes)) =
        o.get(v4::OptionCode::ParameterRequestList)
    {
        let prl: Vec<u8> = idx.parameter_request_list().unwrap().bytes().collect();
        assert_eq!(prl, codes.iter().map(|&c| u8::from(c)).collect::<Vec<_>>());
    }
    if let Some(v4::DhcpOption::RelayAgentInformation(info)) =
        o.get(v4::OptionCode::RelayAgentInformation)
    {
        let ours = idx.relay_agent_info().expect("well-formed option 82");
        for (code, sub) in info.iter() {
            let want = dhcproto_relay_sub_value(sub);
            assert_eq!(
                ours.get(u8::from(*code)),
                Some(&want[..]),
                "sub-option {code:?}"
            );
        }
    }
}

fn dhcproto_relay_sub_value(sub: &v4::relay::RelayInfo) -> Vec<u8> {
    let wire = sub.to_vec().expect("dhcproto encodes what it decoded");
    wire[2..].to_vec()
}

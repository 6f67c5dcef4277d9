//! Between the wire and the engine: a [`Request`] read out of a parsed message, and a
//! [`ReplyPlan`] written as a DHCP message in place.
//!
//! Options are written in the client's parameter-request-list order (RFC 2132 §9.8 leaves the
//! order to the server; clients such as Windows and some embedded stacks behave better when
//! it is kept), after the ones every reply carries (53, 54, the client identifier when the
//! client sent one (RFC 6842), then 51/58/59). The subnet mask is always sent. Relay agent
//! information is echoed unchanged as the last option (RFC 3046 §2.2). A NAK carries only 53,
//! 54, 61 and 56 (RFC 2131 table 3, as updated by RFC 6842).

use std::net::Ipv4Addr;

use dhcp_wire::dhcp::{
    DhcpError, DhcpPacket, DhcpWriter, MessageType, Op, OptionCode, OptionIndex, Overload,
    RelayAgentInfo, WriteError,
};

use super::{
    plan::Plan,
    types::{DropReason, MsgType, RelayInfo, ReplyPlan, Request},
};

/// Scratch space for options that arrived split over several fragments (RFC 3396) and must be
/// read as one slice.
#[derive(Debug)]
pub struct Scratch {
    client_id: [u8; 1024],
    relay: [u8; 1024],
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            client_id: [0; 1024],
            relay: [0; 1024],
        }
    }
}

/// Why a datagram is not a request the engine can look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Malformed message.
    Malformed(DhcpError),
    /// A BOOTREPLY, or a BOOTP request without a DHCP message type.
    NotDhcpRequest,
}

impl RequestError {
    /// The engine drop reason this counts as.
    pub fn drop_reason(self) -> DropReason {
        match self {
            RequestError::Malformed(_) => DropReason::ParseFailed,
            RequestError::NotDhcpRequest => DropReason::UnexpectedType,
        }
    }
}

/// Reads the request out of a parsed message. `iface_addr` is the server's address on the
/// receiving interface.
pub fn request<'a, T: AsRef<[u8]>>(
    pkt: &'a DhcpPacket<T>,
    opts: &'a OptionIndex<'a>,
    iface_addr: Ipv4Addr,
    scratch: &'a mut Scratch,
) -> Result<Request<'a>, RequestError> {
    if pkt.op() != Op::BootRequest {
        return Err(RequestError::NotDhcpRequest);
    }
    let msg_type = match opts.message_type() {
        Some(t) => MsgType::from_u8(u8::from(t)),
        None => return Err(RequestError::NotDhcpRequest),
    };
    let Scratch {
        client_id: cid_buf,
        relay: relay_buf,
    } = scratch;
    let client_id = opts.client_id().and_then(|v| match v.as_slice() {
        Some(s) => Some(s),
        None => v.copy_to(&mut cid_buf[..]).map(|n| &cid_buf[..n]),
    });
    let relay = opts.get(OptionCode::RELAY_AGENT_INFO).map(|v| {
        let bytes = match v.as_slice() {
            Some(s) => Some(s),
            None => v.copy_to(&mut relay_buf[..]).map(|n| &relay_buf[..n]),
        };
        match bytes.and_then(RelayAgentInfo::new_checked) {
            Some(r) => RelayInfo {
                circuit_id: r.circuit_id(),
                remote_id: r.remote_id(),
            },
            // Present but unreadable: still echoed, just not usable for reservations.
            None => RelayInfo::default(),
        }
    });
    Ok(Request {
        msg_type,
        xid: pkt.xid(),
        broadcast: pkt.broadcast(),
        secs: pkt.secs(),
        htype: pkt.htype(),
        chaddr: pkt.chaddr(),
        ciaddr: pkt.ciaddr(),
        giaddr: pkt.giaddr(),
        client_id,
        requested_ip: opts.requested_ip(),
        server_id: opts.server_id(),
        lease_time: opts.lease_time_secs(),
        vendor_class: opts.vendor_class().and_then(|v| v.as_slice()),
        relay,
        subnet_selection: opts.subnet_selection(),
        iface_addr,
    })
}

/// Options sent when the client has no parameter request list.
const DEFAULT_PRL: &[u8] = &[1, 3, 6, 15, 26, 42, 121];

/// Writes the reply described by `r` to the request `pkt` into `buf`; returns its length.
pub fn write_reply<T: AsRef<[u8]>>(
    plan: &Plan,
    pkt: &DhcpPacket<T>,
    opts: &OptionIndex<'_>,
    r: &ReplyPlan,
    buf: &mut [u8],
) -> Result<usize, WriteError> {
    let limit = opts.reply_limit();
    let mut w = DhcpWriter::new(buf, limit, Some(Overload::Both))?;
    w.set_reply_header(pkt);
    w.set_yiaddr(r.yiaddr);
    w.set_ciaddr(r.ciaddr);
    if r.dest.set_broadcast_flag {
        w.set_broadcast(true);
    }
    w.message_type(MessageType::from(r.msg_type.to_u8()))?;
    w.option(OptionCode::SERVER_ID, &r.server_id.octets())?;
    // RFC 6842: the client identifier comes back in OFFER, ACK and NAK.
    if let Some(id) = opts.client_id() {
        w.copy_option(&id)?;
    }
    if r.msg_type == MsgType::Nak {
        if let Some(m) = r.message {
            w.option(OptionCode::MESSAGE, m.as_bytes())?;
        }
        echo_relay(&mut w, opts, r)?;
        return Ok(w.finish());
    }
    if let Some(l) = r.lease {
        w.option(OptionCode::LEASE_TIME, &l.lease_secs.to_be_bytes())?;
        w.option(OptionCode::RENEWAL_TIME, &l.t1_secs.to_be_bytes())?;
        w.option(OptionCode::REBINDING_TIME, &l.t2_secs.to_be_bytes())?;
    }
    if let Some(si) = r.subnet {
        let mut written = [false; 256];
        let prl = opts.parameter_request_list();
        let requested: &mut dyn Iterator<Item = u8> = match &prl {
            Some(v) => &mut v.bytes(),
            None => &mut DEFAULT_PRL.iter().copied(),
        };
        for code in requested {
            if !written[usize::from(code)] {
                written[usize::from(code)] = true;
                subnet_option(&mut w, plan, si, r, code)?;
            }
        }
        if !written[1] {
            subnet_option(&mut w, plan, si, r, 1)?;
        }
    }
    echo_relay(&mut w, opts, r)?;
    Ok(w.finish())
}

fn echo_relay(
    w: &mut DhcpWriter<'_>,
    opts: &OptionIndex<'_>,
    r: &ReplyPlan,
) -> Result<(), WriteError> {
    if r.echo_relay_info {
        if let Some(v) = opts.get(OptionCode::RELAY_AGENT_INFO) {
            w.copy_option(&v)?;
        }
    }
    Ok(())
}

/// Writes option `code` of subnet `si` if the subnet has a value for it.
fn subnet_option(
    w: &mut DhcpWriter<'_>,
    plan: &Plan,
    si: usize,
    r: &ReplyPlan,
    code: u8,
) -> Result<(), WriteError> {
    let s = plan.subnet(si);
    let o = &s.options;
    match code {
        1 => w.option(OptionCode(1), &s.network.mask().octets()),
        3 if !o.routers.is_empty() => w.option_ipv4s(OptionCode(3), &o.routers),
        6 if !o.dns_servers.is_empty() => w.option_ipv4s(OptionCode(6), &o.dns_servers),
        12 => match r
            .reservation
            .and_then(|(rs, ri)| plan.subnet(rs).reservations[ri].hostname.as_deref())
        {
            Some(h) => w.option(OptionCode(12), h.as_bytes()),
            None => Ok(()),
        },
        15 => match &o.domain_name {
            Some(d) => w.option(OptionCode(15), d.as_bytes()),
            None => Ok(()),
        },
        26 => match o.mtu {
            Some(m) => w.option(OptionCode(26), &m.to_be_bytes()),
            None => Ok(()),
        },
        28 => w.option(OptionCode(28), &s.network.broadcast().octets()),
        42 if !o.ntp_servers.is_empty() => w.option_ipv4s(OptionCode(42), &o.ntp_servers),
        43 => match r.vendor {
            Some((vs, vi)) => w.option(
                OptionCode(43),
                &plan.subnet(vs).vendor_classes[vi].option_43,
            ),
            None => Ok(()),
        },
        121 if !o.classless_static_routes.is_empty() => {
            let mut v = [0u8; 255 * 4];
            let n = classless_routes(&mut v, o);
            w.option(OptionCode(121), &v[..n])
        }
        c => match o.extra.iter().find(|(code, _)| *code == c) {
            Some((code, value)) => w.option(OptionCode(*code), value),
            None => Ok(()),
        },
    }
}

/// RFC 3442 encoding: per route the prefix length, the significant octets of the destination,
/// then the router. Clients that accept option 121 ignore option 3 (RFC 3442 §2), so the first
/// configured router is added as the default route unless the list has one.
fn classless_routes(out: &mut [u8], o: &crate::config::SubnetOptions) -> usize {
    let mut n = 0;
    let mut put = |dest: Ipv4Addr, prefix: u8, gw: Ipv4Addr, out: &mut [u8]| {
        let sig = usize::from(prefix).div_ceil(8);
        let need = 1 + sig + 4;
        if n + need > out.len() {
            return;
        }
        out[n] = prefix;
        out[n + 1..n + 1 + sig].copy_from_slice(&dest.octets()[..sig]);
        out[n + 1 + sig..n + need].copy_from_slice(&gw.octets());
        n += need;
    };
    for r in &o.classless_static_routes {
        put(r.destination.addr, r.destination.prefix, r.gateway, out);
    }
    let has_default = o
        .classless_static_routes
        .iter()
        .any(|r| r.destination.prefix == 0);
    if let (false, Some(gw)) = (has_default, o.routers.first()) {
        put(Ipv4Addr::UNSPECIFIED, 0, *gw, out);
    }
    n
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dhcp_wire::dhcp::{DhcpWriter, Op};

    use super::*;
    use crate::{
        engine::{Engine, Outcome},
        lease::AddressSpace,
        testing::test_config,
    };

    const IFACE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    /// A client message built with our own writer (as BOOTREQUEST).
    fn client_msg(t: u8, mac: [u8; 6], extra: &[(u8, &[u8])]) -> Vec<u8> {
        let mut buf = vec![0u8; 1500];
        let mut w = DhcpWriter::new(&mut buf, 1500, None).unwrap();
        w.set_op(Op::BootRequest);
        w.set_htype(1);
        w.set_hlen(6).unwrap();
        w.set_xid(0xdead_beef);
        w.set_chaddr(&mac).unwrap();
        w.option(OptionCode::MESSAGE_TYPE, &[t]).unwrap();
        for (c, v) in extra {
            w.option(OptionCode(*c), v).unwrap();
        }
        let n = w.finish();
        buf.truncate(n);
        buf
    }

    fn setup() -> (Arc<Plan>, Engine) {
        let cfg = test_config();
        let space = Arc::new(AddressSpace::new(&cfg));
        let plan = Arc::new(Plan::new(cfg, space, vec![IFACE]));
        let e = Engine::new(plan.clone(), &[0, 1], 256, 1_700_000_000);
        (plan, e)
    }

    /// Runs one message through parse → engine → emit, returning the reply bytes.
    fn roundtrip(plan: &Plan, e: &mut Engine, msg: &[u8]) -> Option<Vec<u8>> {
        let pkt = DhcpPacket::new_checked(msg).unwrap();
        let opts = pkt.options().unwrap();
        let mut scratch = Scratch::default();
        let req = request(&pkt, &opts, IFACE, &mut scratch).unwrap();
        match e.handle(1_700_000_000, &req) {
            Outcome::Reply(r) => {
                let mut out = vec![0u8; 1500];
                let n = write_reply(plan, &pkt, &opts, &r, &mut out).unwrap();
                out.truncate(n);
                Some(out)
            }
            _ => None,
        }
    }

    #[test]
    fn offer_carries_options_in_request_order_and_echoes_relay_info() {
        let (plan, mut e) = setup();
        let prl: &[u8] = &[6, 3, 1, 15, 121, 43, 26, 42];
        let relay: &[u8] = &[1, 6, b'p', b'o', b'r', b't', b'-', b'3', 2, 2, b'r', b'1'];
        let msg = client_msg(
            1,
            [2, 0, 0, 0, 0, 5],
            &[(55, prl), (60, b"MSFT 5.0"), (82, relay)],
        );
        let out = roundtrip(&plan, &mut e, &msg).expect("offer");
        let pkt = DhcpPacket::new_checked(&out[..]).unwrap();
        assert_eq!(pkt.op(), Op::BootReply);
        assert_eq!(pkt.xid(), 0xdead_beef);
        assert_eq!(pkt.chaddr(), &[2, 0, 0, 0, 0, 5]);
        let opts = pkt.options().unwrap();
        let codes: Vec<u8> = opts.iter().map(|v| v.code().0).collect();
        assert_eq!(
            codes,
            vec![53, 54, 51, 58, 59, 6, 3, 1, 15, 121, 43, 26, 42, 82]
        );
        assert_eq!(opts.server_id(), Some(IFACE));
        assert_eq!(
            opts.get(OptionCode(1)).unwrap().as_slice(),
            Some(&[255, 255, 255, 0][..])
        );
        assert_eq!(opts.get(OptionCode(82)).unwrap().as_slice(), Some(relay));
        // 192.168.0.0/16 via 10.0.0.2, then the default route via the router.
        assert_eq!(
            opts.get(OptionCode(121)).unwrap().as_slice(),
            Some(&[16, 192, 168, 10, 0, 0, 2, 0, 10, 0, 0, 1][..])
        );
        assert_eq!(
            opts.get(OptionCode(43)).unwrap().as_slice(),
            Some(&[1, 4, 0, 0, 0, 1][..])
        );
        assert!(pkt.yiaddr() >= Ipv4Addr::new(10, 0, 0, 100));
        assert!(out.len() >= 300, "BOOTP minimum");
    }

    #[test]
    fn nak_has_only_type_server_id_and_message() {
        let (plan, mut e) = setup();
        let msg = client_msg(3, [2, 0, 0, 0, 0, 6], &[(50, &[192, 168, 1, 1])]);
        let out = roundtrip(&plan, &mut e, &msg).expect("nak");
        let pkt = DhcpPacket::new_checked(&out[..]).unwrap();
        let opts = pkt.options().unwrap();
        let codes: Vec<u8> = opts.iter().map(|v| v.code().0).collect();
        assert_eq!(codes, vec![53, 54, 56]);
        assert_eq!(opts.message_type(), Some(MessageType::Nak));
        assert_eq!(pkt.yiaddr(), Ipv4Addr::UNSPECIFIED);
    }

    #[test]
    fn a_split_client_id_is_joined() {
        let (plan, mut e) = setup();
        let long_id = [7u8; 300];
        let msg = client_msg(1, [2, 0, 0, 0, 0, 7], &[(61, &long_id)]);
        let a = roundtrip(&plan, &mut e, &msg).unwrap();
        // Same client id from another MAC: same client, same offer.
        let msg2 = client_msg(1, [2, 0, 0, 0, 0, 8], &[(61, &long_id)]);
        let b = roundtrip(&plan, &mut e, &msg2).unwrap();
        let ya = DhcpPacket::new_checked(&a[..]).unwrap().yiaddr();
        let yb = DhcpPacket::new_checked(&b[..]).unwrap().yiaddr();
        assert_eq!(ya, yb);
    }

    #[test]
    fn replies_respect_the_client_size_limit() {
        let (plan, mut e) = setup();
        // Ask for everything the subnet has with the minimum 576-byte limit.
        let prl: Vec<u8> = (1..=254).collect();
        let msg = client_msg(
            1,
            [2, 0, 0, 0, 0, 9],
            &[(55, &prl), (57, &576u16.to_be_bytes())],
        );
        let out = roundtrip(&plan, &mut e, &msg).unwrap();
        assert!(out.len() <= 576 - 28, "{}", out.len());
    }

    #[test]
    fn bootreplies_and_bootp_are_not_requests() {
        let mut m = client_msg(1, [2, 0, 0, 0, 0, 1], &[]);
        m[0] = 2;
        let pkt = DhcpPacket::new_checked(&m[..]).unwrap();
        let opts = pkt.options().unwrap();
        assert_eq!(
            request(&pkt, &opts, IFACE, &mut Scratch::default()).unwrap_err(),
            RequestError::NotDhcpRequest
        );
        // BOOTP: no option 53.
        let mut buf = vec![0u8; 300];
        let mut w = DhcpWriter::new(&mut buf, 300, None).unwrap();
        w.set_op(Op::BootRequest);
        let n = w.finish();
        let pkt = DhcpPacket::new_checked(&buf[..n]).unwrap();
        let opts = pkt.options().unwrap();
        assert_eq!(
            request(&pkt, &opts, IFACE, &mut Scratch::default())
                .unwrap_err()
                .drop_reason(),
            DropReason::UnexpectedType
        );
    }
}

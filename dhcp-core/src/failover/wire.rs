//! Between the endpoint's [`Msg`] and bytes: `dhcp_wire::failover` does the encoding; this
//! picks the dialect and parsing strictness for the partner's software, signs and verifies
//! message digests, and maps values both ways.

use dhcp_wire::failover as fw;
use fw::{
    BindingRepr, BindingStatus, BndAckRepr, BndUpdRepr, ConnectAckRepr, ConnectRepr, ContactRepr,
    Dialect, DigestKey, DisconnectRepr, FailoverMessage, HardwareAddress, Header, IpFlags, Message,
    ParseOptions, PoolReqRepr, PoolRespRepr, ServerFlags, StateRepr, UpdDoneRepr, UpdReqAllRepr,
    UpdReqRepr, WireFlags, WireStatus,
};

use super::{
    hash::Hba,
    msg::{AckEntry, Body, Msg, PeerBinding},
};
use crate::{
    config::PartnerSoftware,
    lease::{BindingState, HwAddr},
};

/// How to speak to one partner.
#[derive(Clone, Copy, Debug)]
pub struct Profile<'a> {
    /// Parsing strictness and dialect.
    pub parse: ParseOptions,
    /// Binding-status / IP-flags dialect we send.
    pub dialect: Dialect,
    /// Shared secret: every message signed and every message must verify.
    pub key: Option<DigestKey<'a>>,
}

impl<'a> Profile<'a> {
    /// The profile for a partner running `software`, with an optional shared secret.
    pub fn new(software: PartnerSoftware, secret: Option<&'a [u8]>) -> Profile<'a> {
        let (parse, dialect) = match software {
            PartnerSoftware::IscDhcpd => (ParseOptions::ISC, Dialect::Draft),
            PartnerSoftware::Windows => (ParseOptions::MICROSOFT, Dialect::Microsoft),
            PartnerSoftware::Xdhcp => (ParseOptions::DRAFT, Dialect::Draft),
        };
        Profile {
            parse,
            dialect,
            key: secret.map(DigestKey::hmac_sha256),
        }
    }
}

/// Why received bytes are not a message the endpoint can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Malformed, or its digest failed.
    #[error("{0}")]
    Wire(fw::FailoverError),
    /// A binding-status this build cannot map to a binding state.
    #[error("binding-status value {0} not understood")]
    Status(u8),
}

fn state_to_wire(s: BindingState) -> BindingStatus {
    match s {
        BindingState::Free | BindingState::Offered => BindingStatus::Free,
        BindingState::Active => BindingStatus::Active,
        BindingState::Expired => BindingStatus::Expired,
        BindingState::Released => BindingStatus::Released,
        BindingState::Abandoned => BindingStatus::Abandoned,
        BindingState::Reset => BindingStatus::Reset,
        BindingState::Backup => BindingStatus::Backup,
    }
}

fn state_from_wire(s: BindingStatus) -> Option<BindingState> {
    Some(match s {
        BindingStatus::Free => BindingState::Free,
        BindingStatus::Active => BindingState::Active,
        BindingStatus::Expired => BindingState::Expired,
        BindingStatus::Released => BindingState::Released,
        BindingStatus::Abandoned => BindingState::Abandoned,
        BindingStatus::Reset => BindingState::Reset,
        BindingStatus::Backup => BindingState::Backup,
        BindingStatus::Unknown(_) => return None,
    })
}

/// Encodes `msg` into `buf` (at most 2048 bytes); returns the length.
pub fn encode(msg: &Msg, p: &Profile<'_>, buf: &mut [u8]) -> Result<usize, fw::EmitError> {
    let h = Header {
        time: msg.time,
        xid: msg.xid,
    };
    macro_rules! out {
        ($repr:expr) => {
            match &p.key {
                Some(k) => $repr.emit_signed(buf, k),
                None => $repr.emit(buf),
            }
        };
    }
    match &msg.body {
        Body::PoolReq => out!(PoolReqRepr::new(h)),
        Body::PoolResp { transferred } => out!(PoolRespRepr {
            addresses_transferred: Some(*transferred),
            ..PoolRespRepr::new(h)
        }),
        Body::Contact => out!(ContactRepr::new(h)),
        Body::UpdReq => out!(UpdReqRepr::new(h)),
        Body::UpdReqAll => out!(UpdReqAllRepr::new(h)),
        Body::UpdDone => out!(UpdDoneRepr::new(h)),
        Body::State {
            state,
            startup,
            stos,
        } => out!(StateRepr {
            server_state: Some(fw::ServerState::from_wire(*state)),
            server_flags: Some(ServerFlags(if *startup { ServerFlags::STARTUP } else { 0 })),
            start_time_of_state: Some(*stos),
            ..StateRepr::new(h)
        }),
        Body::Disconnect { reason, message } => out!(DisconnectRepr {
            reject_reason: Some(fw::RejectReason::from_wire(*reason)),
            message: Some(message.as_bytes()),
            ..DisconnectRepr::new(h)
        }),
        Body::Connect {
            name,
            max_unacked,
            receive_timer,
            vendor,
            version,
            mclt,
            hba,
        } => out!(ConnectRepr {
            relationship_name: Some(name.as_bytes()),
            max_unacked_bndupd: Some(*max_unacked),
            receive_timer: Some(*receive_timer),
            vendor_class_identifier: Some(vendor.as_bytes()),
            protocol_version: Some(*version),
            tls_request: Some(0),
            mclt: Some(*mclt),
            hash_bucket_assignment: hba.map(|h| h.0),
            ..ConnectRepr::new(h)
        }),
        Body::ConnectAck {
            name,
            max_unacked,
            receive_timer,
            vendor,
            version,
            reject,
        } => {
            let accept = reject.is_none();
            out!(ConnectAckRepr {
                relationship_name: Some(name.as_bytes()),
                max_unacked_bndupd: accept.then_some(*max_unacked),
                receive_timer: accept.then_some(*receive_timer),
                vendor_class_identifier: accept.then_some(vendor.as_bytes()),
                protocol_version: Some(*version),
                tls_reply: accept.then_some(0),
                reject_reason: reject
                    .as_ref()
                    .map(|(r, _)| fw::RejectReason::from_wire(*r)),
                message: reject.as_ref().map(|(_, m)| m.as_bytes()),
                ..ConnectAckRepr::new(h)
            })
        }
        Body::BndUpd(bindings) => {
            let reprs: Vec<BindingRepr<'_>> = bindings
                .iter()
                .map(|b| binding_repr(b, p.dialect))
                .collect();
            let m = BndUpdRepr::new(h, p.dialect, &reprs);
            out!(m)
        }
        Body::BndAck(acks) => {
            let reprs: Vec<BindingRepr<'_>> = acks
                .iter()
                .map(|a| BindingRepr {
                    reject_reason: a.reject.map(fw::RejectReason::from_wire),
                    ..BindingRepr::new(a.addr)
                })
                .collect();
            let m = BndAckRepr::new(h, p.dialect, &reprs);
            out!(m)
        }
        Body::Vendor { code, payload } => {
            let mut w = fw::MessageWriter::new(buf, fw::MessageType::Unknown(*code), h)?;
            if let Some(k) = &p.key {
                w.reserve_digest(k.digest_type)?;
            }
            w.option(fw::OptionCode(super::msg::VENDOR_DATA_OPTION), payload)?;
            match &p.key {
                Some(k) => w.finish_signed(k),
                None => Ok(w.finish()),
            }
        }
        Body::UnknownMandatory(_) | Body::UnknownOptional(_) => Err(fw::EmitError::NoBinding),
    }
}

fn binding_repr(b: &PeerBinding, dialect: Dialect) -> BindingRepr<'_> {
    let mut flags = 0u16;
    if b.reserved {
        flags |= IpFlags::RESERVED;
    }
    if b.bootp {
        flags |= IpFlags::BOOTP;
    }
    BindingRepr {
        status: Some(match dialect {
            Dialect::Draft => WireStatus::Draft(state_to_wire(b.state)),
            // The Microsoft byte encodes the address state differently (MS-DHCPF §3.1.4.2);
            // its mapping is not verifiable here, so the draft value is sent.
            Dialect::Microsoft => {
                WireStatus::decode(state_to_wire(b.state).to_wire(), Dialect::Microsoft)
            }
        }),
        client_identifier: b.client_id.as_deref(),
        client_hardware_address: b.hw.as_ref().map(|h| HardwareAddress {
            htype: h.htype,
            chaddr: h.bytes(),
        }),
        lease_expiration_time: b.lease_end,
        potential_expiration_time: b.pot_exp,
        start_time_of_state: b.stos,
        client_last_transaction_time: b.cltt,
        ip_flags: (flags != 0).then(|| WireFlags::decode(flags, dialect)),
        ..BindingRepr::new(b.addr)
    }
}

fn peer_binding(r: &BindingRepr<'_>) -> Result<PeerBinding, DecodeError> {
    let status = match r.status {
        Some(WireStatus::Draft(s)) => s,
        Some(WireStatus::Microsoft(m)) => BindingStatus::from_wire(m.0),
        None => return Err(DecodeError::Status(0)),
    };
    let state = state_from_wire(status).ok_or(DecodeError::Status(status.to_wire()))?;
    let flags = match r.ip_flags {
        Some(f) => f.to_wire(),
        None => 0,
    };
    Ok(PeerBinding {
        addr: r.address,
        state,
        client_id: r.client_identifier.map(<[u8]>::to_vec),
        hw: r
            .client_hardware_address
            .map(|h| HwAddr::new(h.htype, h.chaddr)),
        lease_end: r.lease_expiration_time,
        pot_exp: r.potential_expiration_time,
        stos: r.start_time_of_state,
        cltt: r.client_last_transaction_time,
        reserved: flags & IpFlags::RESERVED != 0,
        bootp: flags & IpFlags::BOOTP != 0,
    })
}

fn text(b: Option<&[u8]>) -> String {
    String::from_utf8_lossy(b.unwrap_or_default()).into_owned()
}

/// Decodes one whole message (cut from the stream with `dhcp_wire::failover::frame_len`).
pub fn decode(bytes: &[u8], p: &Profile<'_>) -> Result<Msg, DecodeError> {
    let m = FailoverMessage::new_checked(bytes).map_err(DecodeError::Wire)?;
    fw::digest::verify(&m, p.key.as_ref()).map_err(DecodeError::Wire)?;
    let parsed = Message::parse_with(&m, p.parse).map_err(DecodeError::Wire)?;
    let h = parsed.header();
    let body = match parsed {
        Message::PoolReq(_) => Body::PoolReq,
        Message::PoolResp(r) => Body::PoolResp {
            transferred: r.addresses_transferred.unwrap_or(0),
        },
        Message::Contact(_) => Body::Contact,
        Message::UpdReq(_) => Body::UpdReq,
        Message::UpdReqAll(_) => Body::UpdReqAll,
        Message::UpdDone(_) => Body::UpdDone,
        Message::State(s) => Body::State {
            state: s.server_state.map(|v| v.to_wire()).unwrap_or(0),
            startup: s.server_flags.is_some_and(|f| f.startup()),
            stos: s.start_time_of_state.unwrap_or(0),
        },
        Message::Disconnect(d) => Body::Disconnect {
            reason: d.reject_reason.map(|r| r.to_wire()).unwrap_or(6),
            message: text(d.message),
        },
        Message::Connect(c) => Body::Connect {
            name: text(c.relationship_name),
            max_unacked: c.max_unacked_bndupd.unwrap_or(1),
            receive_timer: c.receive_timer.unwrap_or(60),
            vendor: text(c.vendor_class_identifier),
            version: c.protocol_version.unwrap_or(0),
            mclt: c.mclt.unwrap_or(0),
            hba: c.hash_bucket_assignment.map(Hba),
        },
        Message::ConnectAck(c) => Body::ConnectAck {
            name: text(c.relationship_name),
            max_unacked: c.max_unacked_bndupd.unwrap_or(1),
            receive_timer: c.receive_timer.unwrap_or(60),
            vendor: text(c.vendor_class_identifier),
            version: c.protocol_version.unwrap_or(0),
            reject: c.reject_reason.map(|r| (r.to_wire(), text(c.message))),
        },
        Message::BndUpd(u) => Body::BndUpd(
            u.bindings
                .iter()
                .map(|b| peer_binding(&b))
                .collect::<Result<_, _>>()?,
        ),
        Message::BndAck(a) => Body::BndAck(
            a.bindings
                .iter()
                .map(|b| AckEntry {
                    addr: b.address,
                    reject: b.reject_reason.map(|r| r.to_wire()),
                })
                .collect(),
        ),
        Message::Unknown(u) => {
            let t = u.code;
            let data = u
                .options
                .get(fw::OptionCode(super::msg::VENDOR_DATA_OPTION));
            if matches!(
                t,
                super::msg::VENDOR_SCOPES | super::msg::VENDOR_SCOPES_RESULT
            ) && data.is_some()
            {
                Body::Vendor {
                    code: t,
                    payload: data.unwrap_or_default().to_vec(),
                }
            } else if t < 128 {
                Body::UnknownMandatory(t)
            } else {
                Body::UnknownOptional(t)
            }
        }
    };
    Ok(Msg {
        time: h.time,
        xid: h.xid,
        body,
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn roundtrip(body: Body, p: &Profile<'_>) -> Msg {
        let m = Msg {
            time: 1_700_000_000,
            xid: 7,
            body,
        };
        let mut buf = [0u8; 2048];
        let n = encode(&m, p, &mut buf).unwrap();
        let back = decode(&buf[..n], p).unwrap();
        assert_eq!(back, m);
        back
    }

    fn binding(i: u8) -> PeerBinding {
        PeerBinding {
            addr: Ipv4Addr::new(10, 0, 0, i),
            state: BindingState::Active,
            client_id: Some(vec![1, 2, 0, 0, 0, 0, i]),
            hw: Some(HwAddr::new(1, &[2, 0, 0, 0, 0, i])),
            lease_end: Some(1_700_003_600),
            pot_exp: Some(1_700_007_200),
            stos: Some(1_700_000_000),
            cltt: Some(1_700_000_000),
            reserved: i.is_multiple_of(2),
            bootp: false,
        }
    }

    #[test]
    fn every_message_round_trips() {
        for p in [
            Profile::new(PartnerSoftware::Xdhcp, None),
            Profile::new(
                PartnerSoftware::Xdhcp,
                Some(b"a shared secret of enough length"),
            ),
        ] {
            roundtrip(Body::PoolReq, &p);
            roundtrip(Body::PoolResp { transferred: 9 }, &p);
            roundtrip(Body::Contact, &p);
            roundtrip(Body::UpdReq, &p);
            roundtrip(Body::UpdReqAll, &p);
            roundtrip(Body::UpdDone, &p);
            roundtrip(
                Body::State {
                    state: 2,
                    startup: true,
                    stos: 5,
                },
                &p,
            );
            roundtrip(
                Body::Disconnect {
                    reason: 17,
                    message: "quiet".into(),
                },
                &p,
            );
            roundtrip(
                Body::Connect {
                    name: "pair".into(),
                    max_unacked: 10,
                    receive_timer: 30,
                    vendor: "xdhcp".into(),
                    version: 1,
                    mclt: 3600,
                    hba: Some(Hba::split(128)),
                },
                &p,
            );
            roundtrip(
                Body::ConnectAck {
                    name: "pair".into(),
                    max_unacked: 10,
                    receive_timer: 30,
                    vendor: "xdhcp".into(),
                    version: 1,
                    reject: None,
                },
                &p,
            );
            roundtrip(Body::BndUpd((1..=12).map(binding).collect()), &p);
            roundtrip(
                Body::BndAck(vec![
                    AckEntry {
                        addr: Ipv4Addr::new(10, 0, 0, 1),
                        reject: None,
                    },
                    AckEntry {
                        addr: Ipv4Addr::new(10, 0, 0, 2),
                        reject: Some(15),
                    },
                ]),
                &p,
            );
        }
    }

    #[test]
    fn a_wrong_or_missing_digest_is_refused() {
        let signed = Profile::new(
            PartnerSoftware::Xdhcp,
            Some(b"a shared secret of enough length"),
        );
        let other = Profile::new(
            PartnerSoftware::Xdhcp,
            Some(b"another secret of enough length!"),
        );
        let none = Profile::new(PartnerSoftware::Xdhcp, None);
        let m = Msg {
            time: 1,
            xid: 2,
            body: Body::Contact,
        };
        let mut buf = [0u8; 256];
        let n = encode(&m, &signed, &mut buf).unwrap();
        assert!(decode(&buf[..n], &other).is_err());
        assert!(
            decode(&buf[..n], &none).is_err(),
            "a digest we do not expect is refused"
        );
        let n = encode(&m, &none, &mut buf).unwrap();
        assert!(
            decode(&buf[..n], &signed).is_err(),
            "a missing digest is refused"
        );
    }

    #[test]
    fn xdhcp_private_messages_round_trip_signed_and_tampering_is_refused() {
        let key = Profile::new(
            PartnerSoftware::Xdhcp,
            Some(b"a shared secret of enough length"),
        );
        let payload: Vec<u8> = (0..1800u32).map(|i| (i % 251) as u8).collect();
        let body = Body::Vendor {
            code: super::super::msg::VENDOR_SCOPES,
            payload: payload.clone(),
        };
        roundtrip(body.clone(), &key);
        let m = Msg {
            time: 5,
            xid: 6,
            body,
        };
        let mut buf = [0u8; 2048];
        let n = encode(&m, &key, &mut buf).unwrap();
        buf[n - 1] ^= 1;
        assert!(
            decode(&buf[..n], &key).is_err(),
            "a changed byte fails the digest"
        );
        // An unknown optional type stays unknown.
        let other = Msg {
            time: 5,
            xid: 6,
            body: Body::Vendor {
                code: 222,
                payload: vec![1],
            },
        };
        let n = encode(&other, &key, &mut buf).unwrap();
        assert_eq!(
            decode(&buf[..n], &key).unwrap().body,
            Body::UnknownOptional(222)
        );
    }

    #[test]
    fn isc_strictness_refuses_batches() {
        let draft = Profile::new(PartnerSoftware::Xdhcp, None);
        let isc = Profile::new(PartnerSoftware::IscDhcpd, None);
        let m = Msg {
            time: 1,
            xid: 2,
            body: Body::BndUpd(vec![binding(1), binding(2)]),
        };
        let mut buf = [0u8; 2048];
        let n = encode(&m, &draft, &mut buf).unwrap();
        assert!(decode(&buf[..n], &isc).is_err());
        assert!(decode(&buf[..n], &draft).is_ok());
    }

    #[test]
    fn isc_fixtures_decode() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../dhcp-wire/tests/fixtures/failover");
        let isc = Profile::new(PartnerSoftware::IscDhcpd, None);
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "bin") {
                let bytes = std::fs::read(&p).unwrap();
                let m = decode(&bytes, &isc).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert!(
                    !matches!(m.body, Body::UnknownMandatory(_)),
                    "{}",
                    p.display()
                );
                n += 1;
            }
        }
        assert!(n >= 5, "only {n} fixtures");
    }
}

//! Property tests of the failover codec: `parse(emit(x)) == x` for every message kind and
//! policy, batches included, signed and unsigned; whatever bytes arrive, nothing panics; and
//! whatever we parse, we can emit and parse again to the same thing.
//!
//! Strategies build reprs over leaked buffers (`&'static [u8]`): a few hundred bytes per case,
//! for the life of the test process.

use std::net::Ipv4Addr;

use dhcp_wire::failover::{
    BatchLimit, BatchWriter, BindingRepr, BndAckRepr, BndUpdRepr, ConnectAckRepr, ConnectRepr,
    ContactRepr, Dialect, DigestKey, DisconnectRepr, FailoverMessage, HardwareAddress, Header,
    Message, MsScopeIds, OptionList, ParseOptions, PoolReqRepr, PoolRespRepr, RejectReason,
    ServerFlags, ServerState, StateRepr, UpdDoneRepr, UpdReqAllRepr, UpdReqRepr, WireFlags,
    WireStatus, digest,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

fn bytes(max: usize) -> impl Strategy<Value = &'static [u8]> {
    vec(any::<u8>(), 0..=max).prop_map(leak)
}

fn header() -> impl Strategy<Value = Header> {
    (any::<u32>(), any::<u32>()).prop_map(|(time, xid)| Header { time, xid })
}

/// Raw options from `codes` (all of which accept any length), or unknown codes, encoded and
/// checked.
fn others(codes: &'static [u16], max: usize) -> impl Strategy<Value = OptionList<'static>> {
    let code = prop_oneof![prop::sample::select(codes), 42u16..=u16::MAX];
    vec((code, vec(any::<u8>(), 0..=12)), 0..=max).prop_map(|opts| {
        let mut tlv = Vec::new();
        for (code, value) in opts {
            tlv.extend_from_slice(&code.to_be_bytes());
            tlv.extend_from_slice(&(value.len() as u16).to_be_bytes());
            tlv.extend_from_slice(&value);
        }
        OptionList::new(leak(tlv)).unwrap()
    })
}

/// Untyped in every control message, any length.
const CONTROL_OTHERS: &[u16] = &[29, 31, 32];
/// Untyped in a binding, any length (client options, vendor, Microsoft strings).
const BINDING_OTHERS: &[u16] = &[7, 8, 29, 31, 32, 35, 37, 38, 40];

fn sendable_state() -> impl Strategy<Value = ServerState> {
    prop::sample::select(vec![
        ServerState::Normal,
        ServerState::CommunicationsInterrupted,
        ServerState::PartnerDown,
        ServerState::PotentialConflict,
        ServerState::Recover,
        ServerState::Paused,
        ServerState::Shutdown,
        ServerState::RecoverDone,
        ServerState::ResolutionInterrupted,
        ServerState::ConflictDone,
        ServerState::RecoverWait,
    ])
}

fn reject() -> impl Strategy<Value = RejectReason> {
    any::<u8>().prop_map(RejectReason::from_wire)
}

fn binding(dialect: Dialect) -> impl Strategy<Value = BindingRepr<'static>> {
    let ids = (
        any::<[u8; 4]>(),
        prop::option::of(any::<u8>()),
        prop::option::of(bytes(20)),
        prop::option::of((any::<u8>(), bytes(16))),
        prop::option::of(any::<u16>()),
    );
    let times = prop::array::uniform4(prop::option::of(any::<u32>()));
    let ack = (
        prop::option::of(reject()),
        prop::option::of(bytes(30)),
        others(BINDING_OTHERS, 3),
    );
    (ids, times, ack).prop_map(
        move |((addr, status, cid, hw, flags), t, (rr, msg, others))| BindingRepr {
            address: Ipv4Addr::from(addr),
            status: status.map(|s| WireStatus::decode(s, dialect)),
            client_identifier: cid,
            client_hardware_address: hw.map(|(htype, chaddr)| HardwareAddress { htype, chaddr }),
            lease_expiration_time: t[0],
            potential_expiration_time: t[1],
            start_time_of_state: t[2],
            client_last_transaction_time: t[3],
            ip_flags: flags.map(|f| WireFlags::decode(f, dialect)),
            reject_reason: rr,
            message: msg,
            others,
        },
    )
}

fn dialect() -> impl Strategy<Value = Dialect> {
    prop_oneof![Just(Dialect::Draft), Just(Dialect::Microsoft)]
}

fn batch() -> impl Strategy<Value = (Dialect, &'static [BindingRepr<'static>])> {
    dialect().prop_flat_map(|d| {
        vec(binding(d), 1..=8).prop_map(move |v| {
            let s: &'static [BindingRepr<'static>] = Box::leak(v.into_boxed_slice());
            (d, s)
        })
    })
}

/// Message-level options of a BNDUPD/BNDACK: unknown codes and vendor-specific-options.
fn globals() -> impl Strategy<Value = OptionList<'static>> {
    others(&[29], 2)
}

fn control_message() -> impl Strategy<Value = Message<'static>> {
    let o = || others(CONTROL_OTHERS, 3);
    let u32o = || prop::option::of(any::<u32>());
    let u8o = || prop::option::of(any::<u8>());
    let text = || prop::option::of(bytes(40));
    prop_oneof![
        (header(), o()).prop_map(|(h, others)| Message::PoolReq(PoolReqRepr {
            others,
            ..PoolReqRepr::new(h)
        })),
        (header(), u32o(), o()).prop_map(|(h, n, others)| Message::PoolResp(PoolRespRepr {
            addresses_transferred: n,
            others,
            ..PoolRespRepr::new(h)
        })),
        (
            header(),
            (text(), u32o(), u32o(), text(), u8o()),
            (u8o(), u32o(), prop::option::of(any::<[u8; 32]>()), u8o()),
            o()
        )
            .prop_map(
                |(h, (name, win, timer, vendor, ver), (tls, mclt, hba, dsp), others)| {
                    Message::Connect(ConnectRepr {
                        header: h,
                        relationship_name: name,
                        max_unacked_bndupd: win,
                        receive_timer: timer,
                        vendor_class_identifier: vendor,
                        protocol_version: ver,
                        tls_request: tls,
                        mclt,
                        hash_bucket_assignment: hba,
                        delayed_service_parameter: dsp,
                        others,
                    })
                }
            ),
        (
            header(),
            (text(), u32o(), u32o(), text(), u8o()),
            (u8o(), prop::option::of(reject()), text()),
            o()
        )
            .prop_map(
                |(h, (name, win, timer, vendor, ver), (tls, rr, msg), others)| {
                    Message::ConnectAck(ConnectAckRepr {
                        header: h,
                        relationship_name: name,
                        max_unacked_bndupd: win,
                        receive_timer: timer,
                        vendor_class_identifier: vendor,
                        protocol_version: ver,
                        tls_reply: tls,
                        reject_reason: rr,
                        message: msg,
                        others,
                    })
                }
            ),
        (header(), o()).prop_map(|(h, others)| Message::UpdReqAll(UpdReqAllRepr {
            others,
            ..UpdReqAllRepr::new(h)
        })),
        (header(), o()).prop_map(|(h, others)| Message::UpdDone(UpdDoneRepr {
            others,
            ..UpdDoneRepr::new(h)
        })),
        (header(), prop::option::of(vec(any::<[u8; 4]>(), 0..8)), o()).prop_map(
            |(h, ids, others)| Message::UpdReq(UpdReqRepr {
                ms_scope_ids: ids.map(|ids| MsScopeIds::from_bytes(leak(ids.concat())).unwrap()),
                others,
                ..UpdReqRepr::new(h)
            })
        ),
        (
            header(),
            prop::option::of(sendable_state()),
            u8o(),
            u32o(),
            o()
        )
            .prop_map(|(h, state, flags, stos, others)| Message::State(StateRepr {
                header: h,
                server_state: state,
                server_flags: flags.map(ServerFlags),
                start_time_of_state: stos,
                others,
            })),
        (header(), o()).prop_map(|(h, others)| Message::Contact(ContactRepr {
            others,
            ..ContactRepr::new(h)
        })),
        (header(), prop::option::of(reject()), text(), o()).prop_map(|(h, rr, msg, others)| {
            Message::Disconnect(DisconnectRepr {
                header: h,
                reject_reason: rr,
                message: msg,
                others,
            })
        }),
    ]
}

fn batch_message() -> impl Strategy<Value = Message<'static>> {
    (header(), batch(), globals(), any::<bool>()).prop_map(|(h, (d, list), globals, upd)| {
        if upd {
            Message::BndUpd(BndUpdRepr {
                globals,
                ..BndUpdRepr::new(h, d, list)
            })
        } else {
            Message::BndAck(BndAckRepr {
                globals,
                ..BndAckRepr::new(h, d, list)
            })
        }
    })
}

fn any_message() -> impl Strategy<Value = Message<'static>> {
    prop_oneof![control_message(), batch_message()]
}

fn opts_for(m: &Message<'_>) -> ParseOptions {
    match m {
        Message::BndUpd(r) if r.dialect == Dialect::Microsoft => ParseOptions::MICROSOFT,
        Message::BndAck(r) if r.dialect == Dialect::Microsoft => ParseOptions::MICROSOFT,
        _ => ParseOptions::DRAFT,
    }
}

const KEY: DigestKey<'static> = DigestKey {
    digest_type: dhcp_wire::failover::DigestType::HmacSha256,
    secret: b"a shared secret",
};

proptest! {
    #[test]
    fn every_message_round_trips(m in any_message()) {
        let opts = opts_for(&m);
        let mut buf = [0u8; 2048];
        let n = m.emit(&mut buf).unwrap();
        prop_assert_eq!(n, m.buffer_len());
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        prop_assert_eq!(msg.message_type(), m.message_type());
        prop_assert_eq!(msg.header(), m.header());
        prop_assert_eq!(Message::parse_with(&msg, opts).unwrap(), m);
        prop_assert_eq!(digest::verify(&msg, None), Ok(()));

        // Signed: one option more, first; verifies; parses to the same repr.
        let mut signed = [0u8; 2048];
        let s = m.emit_signed(&mut signed, &KEY).unwrap();
        prop_assert_eq!(s, n + 4 + 33);
        let smsg = FailoverMessage::new_checked(&signed[..s]).unwrap();
        prop_assert_eq!(digest::verify(&smsg, Some(&KEY)), Ok(()));
        prop_assert_eq!(Message::parse_with(&smsg, opts).unwrap(), m);
        let wrong = DigestKey { secret: b"another secret", ..KEY };
        prop_assert_eq!(
            digest::verify(&smsg, Some(&wrong)),
            Err(dhcp_wire::failover::FailoverError::DigestMismatch)
        );
    }

    /// A batch written binding by binding reads back as the same bindings, in order, up to
    /// the limit; what did not fit is reported, not half-written.
    #[test]
    fn batch_writer_round_trips(h in header(), (d, list) in batch(), max in 1usize..=8, ack in any::<bool>()) {
        let limit = BatchLimit { max_bindings: max, ..BatchLimit::DRAFT };
        let mut buf = [0u8; 2048];
        let mut w = if ack {
            BatchWriter::bnd_ack(&mut buf, h, d, limit).unwrap()
        } else {
            BatchWriter::bnd_upd(&mut buf, h, d, limit).unwrap()
        };
        let mut written = 0;
        for b in list {
            match w.push(b) {
                Ok(()) => written += 1,
                Err(dhcp_wire::failover::EmitError::BatchFull) => break,
                Err(e) => panic!("{e}"),
            }
        }
        prop_assert_eq!(written, list.len().min(max));
        let n = w.finish().unwrap();
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        let opts = ParseOptions { dialect: d, ..ParseOptions::DRAFT };
        let parsed = Message::parse_with(&msg, opts).unwrap();
        let expected = if ack {
            Message::BndAck(BndAckRepr::new(h, d, &list[..written]))
        } else {
            Message::BndUpd(BndUpdRepr::new(h, d, &list[..written]))
        };
        prop_assert_eq!(parsed, expected);
        if written == 1 {
            let isc = ParseOptions { dialect: d, ..ParseOptions::ISC };
            prop_assert!(Message::parse_with(&msg, isc).is_ok());
        }
    }

    /// Arbitrary bytes: every entry point returns, none panics.
    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..2100)) {
        exercise(&data);
    }

    /// Bytes that pass the header checks more often: a valid length field and offset 12.
    #[test]
    fn framed_garbage_never_panics(body in vec(any::<u8>(), 0..600), t in any::<u8>()) {
        let mut data = Vec::with_capacity(12 + body.len());
        data.extend_from_slice(&((12 + body.len()) as u16).to_be_bytes());
        data.extend_from_slice(&[t, 12, 0, 0, 0, 1, 0, 0, 0, 2]);
        data.extend_from_slice(&body);
        exercise(&data);
    }

    /// A valid message with some bytes changed.
    #[test]
    fn mutated_messages_never_panic(
        m in any_message(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        sign in any::<bool>(),
    ) {
        let mut buf = [0u8; 2048];
        let n = if sign { m.emit_signed(&mut buf, &KEY).unwrap() } else { m.emit(&mut buf).unwrap() };
        let mut data = buf[..n].to_vec();
        for (at, byte) in flips {
            let i = at.index(data.len());
            data[i] = byte;
        }
        exercise(&data);
    }
}

/// Runs every reader over `data`; whatever parses must re-emit and parse to itself.
fn exercise(data: &[u8]) {
    let _ = dhcp_wire::failover::frame_len(data);
    let Ok(msg) = FailoverMessage::new_checked(data) else {
        return;
    };
    let _ = (
        msg.length(),
        msg.message_type(),
        msg.payload_offset(),
        msg.header(),
    );
    for o in msg.options() {
        let _ = (o.code.info(), o.code.allows_len(o.value.len()));
    }
    let _ = digest::verify(&msg, None);
    let _ = digest::verify(&msg, Some(&KEY));
    for opts in [
        ParseOptions::DRAFT,
        ParseOptions::ISC,
        ParseOptions::MICROSOFT,
        ParseOptions::LENIENT,
    ] {
        let Ok(m) = Message::parse_with(&msg, opts) else {
            continue;
        };
        if let Message::BndUpd(BndUpdRepr { bindings, .. })
        | Message::BndAck(BndAckRepr { bindings, .. }) = &m
        {
            for b in bindings.iter() {
                assert!(b.others.iter().all(|o| o.code.0 != 2));
            }
        }
        let mut out = [0u8; 2048];
        match m.emit(&mut out) {
            Ok(n) => {
                let again = FailoverMessage::new_checked(&out[..n]).unwrap();
                assert_eq!(Message::parse_with(&again, opts).unwrap(), m);
            }
            // A received STARTUP or unknown state is read but never sent.
            Err(dhcp_wire::failover::EmitError::UnsendableState { .. }) => {}
            Err(e) => panic!("parsed {m:?} but cannot emit it: {e}"),
        }
    }
}

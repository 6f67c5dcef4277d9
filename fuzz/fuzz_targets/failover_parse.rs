//! Any bytes as a failover message: frame, check, read every option, verify a digest, parse
//! with every policy; whatever parses must emit (unless it carries a state we never send),
//! parse back to itself, survive signing, and its bindings must go through the batch writer
//! and read back the same. Must never panic.
#![no_main]

use dhcp_wire::failover::{
    BatchLimit, BatchWriter, BndAckRepr, BndUpdRepr, DigestKey, DigestType, EmitError,
    FailoverMessage, Message, MessageType, ParseOptions, digest, frame_len,
};
use libfuzzer_sys::fuzz_target;

const KEY: DigestKey<'static> = DigestKey {
    digest_type: DigestType::HmacSha256,
    secret: b"fuzz secret",
};

const POLICIES: [ParseOptions; 4] = [
    ParseOptions::DRAFT,
    ParseOptions::ISC,
    ParseOptions::MICROSOFT,
    ParseOptions::LENIENT,
];

fuzz_target!(|data: &[u8]| {
    let _ = frame_len(data);
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
        let _ = (
            o.code.info(),
            o.code.check_len(o.value.len()),
            o.code.is_per_binding(),
        );
    }
    let _ = digest::verify(&msg, None);
    let _ = digest::verify(&msg, Some(&KEY));
    for opts in POLICIES {
        if let Ok(m) = Message::parse_with(&msg, opts) {
            check(&m, opts);
        }
    }
});

fn check(m: &Message<'_>, opts: ParseOptions) {
    let mut out = [0u8; 2048];
    let n = match m.emit(&mut out) {
        Ok(n) => n,
        Err(EmitError::UnsendableState { .. }) => return,
        Err(e) => panic!("parsed {m:?} but cannot emit it: {e}"),
    };
    assert_eq!(n, m.buffer_len());
    let again = FailoverMessage::new_checked(&out[..n]).expect("emitted message fails its check");
    assert_eq!(
        &Message::parse_with(&again, opts).expect("emitted message fails to parse"),
        m
    );

    // Signed, when it still fits in 2048 bytes.
    let mut signed = [0u8; 2048];
    match m.emit_signed(&mut signed, &KEY) {
        Ok(s) => {
            let smsg = FailoverMessage::new_checked(&signed[..s]).unwrap();
            assert_eq!(digest::verify(&smsg, Some(&KEY)), Ok(()));
            assert_eq!(&Message::parse_with(&smsg, opts).unwrap(), m);
        }
        Err(EmitError::TooLong { .. }) => assert!(n + 37 > 2048),
        Err(e) => panic!("cannot sign {m:?}: {e}"),
    }

    // The bindings, one by one through the batch writer.
    let (msg_type, header, dialect, bindings) = match m {
        Message::BndUpd(BndUpdRepr {
            header,
            dialect,
            bindings,
            ..
        }) => (MessageType::BndUpd, *header, *dialect, bindings),
        Message::BndAck(BndAckRepr {
            header,
            dialect,
            bindings,
            ..
        }) => (MessageType::BndAck, *header, *dialect, bindings),
        _ => return,
    };
    let mut buf = [0u8; 2048];
    let mut w = if msg_type == MessageType::BndUpd {
        BatchWriter::bnd_upd(&mut buf, header, dialect, BatchLimit::DRAFT)
    } else {
        BatchWriter::bnd_ack(&mut buf, header, dialect, BatchLimit::DRAFT)
    }
    .unwrap();
    for b in bindings.iter() {
        assert!(b.others.iter().all(|o| o.code.0 != 2 && o.code.0 != 17));
        w.push(&b)
            .expect("a parsed binding does not fit where it came from");
    }
    let n = w.finish().unwrap();
    let written = FailoverMessage::new_checked(&buf[..n]).unwrap();
    let back = Message::parse_with(&written, opts).unwrap();
    let back_bindings = match &back {
        Message::BndUpd(r) => r.bindings,
        Message::BndAck(r) => r.bindings,
        _ => unreachable!(),
    };
    assert_eq!(&back_bindings, bindings);
}

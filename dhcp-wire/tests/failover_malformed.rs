//! Every kind of malformed failover message gives its own error value: header, framing,
//! option lengths (every fixed-size option of the table, both ways), repeats, binding layout,
//! batches, and types.

use dhcp_wire::failover::{
    BndAckRepr, BndUpdRepr, ConnectRepr, FailoverError, FailoverMessage, Length, Message,
    MessageType, OPTIONS, OptionCode, ParseOptions, StateRepr,
};

/// A well-framed message of `msg_type` with these options, payload offset 12.
fn build(msg_type: u8, options: &[(u16, &[u8])]) -> Vec<u8> {
    let mut b = vec![0, 0, msg_type, 12, 0x6b, 9, 0xc5, 0x94, 0, 0, 0, 1];
    for (code, value) in options {
        b.extend_from_slice(&code.to_be_bytes());
        b.extend_from_slice(&(value.len() as u16).to_be_bytes());
        b.extend_from_slice(value);
    }
    let len = b.len() as u16;
    b[..2].copy_from_slice(&len.to_be_bytes());
    b
}

fn parse_with(bytes: &[u8], opts: ParseOptions) -> Result<MessageType, FailoverError> {
    let msg = FailoverMessage::new_checked(bytes)?;
    Message::parse_with(&msg, opts).map(|m| m.message_type())
}

fn parse(bytes: &[u8]) -> Result<MessageType, FailoverError> {
    parse_with(bytes, ParseOptions::DRAFT)
}

/// A value of the right length for `code` (1 byte where any length goes).
fn good_value(code: OptionCode) -> Vec<u8> {
    match code.info().map(|i| i.length) {
        Some(Length::Fixed(n)) => vec![1; n as usize],
        Some(Length::AtLeast(n)) => vec![2; n.max(1) as usize],
        Some(Length::MultipleOf(n)) => vec![3; n as usize],
        _ => vec![4],
    }
}

const ADDR: &[u8] = &[192, 0, 2, 1];

#[test]
fn header_errors() {
    for len in 0..12 {
        let b = vec![0u8; len];
        assert_eq!(
            parse(&b),
            Err(FailoverError::Truncated { len }),
            "{len} bytes"
        );
    }
    let mut b = build(11, &[]);
    b[1] = 11;
    assert_eq!(parse(&b), Err(FailoverError::LengthTooSmall { length: 11 }));
    b[1] = 0;
    assert_eq!(parse(&b), Err(FailoverError::LengthTooSmall { length: 0 }));

    let mut big = build(3, &[(99, &[0; 2037])]);
    assert_eq!(big.len(), 2053);
    assert_eq!(
        parse(&big),
        Err(FailoverError::LengthTooLarge { length: 2053 })
    );
    big[..2].copy_from_slice(&0xffffu16.to_be_bytes());
    assert_eq!(
        parse(&big),
        Err(FailoverError::LengthTooLarge { length: 0xffff })
    );
    // Exactly 2048 is fine.
    let max = build(11, &[(99, &[0; 2032])]);
    assert_eq!(max.len(), 2048);
    assert_eq!(parse(&max), Ok(MessageType::Contact));

    // Length field shorter and longer than the buffer.
    let mut b = build(11, &[(99, &[7])]);
    b[1] -= 1;
    assert_eq!(
        parse(&b),
        Err(FailoverError::LengthMismatch {
            length: 16,
            buffer: 17
        })
    );
    b[1] += 2;
    assert_eq!(
        parse(&b),
        Err(FailoverError::LengthMismatch {
            length: 18,
            buffer: 17
        })
    );

    // Payload offset below 12 (the draft's 8 included) and past the end.
    for offset in [0u8, 8, 11] {
        let mut b = build(11, &[]);
        b[3] = offset;
        assert_eq!(
            parse(&b),
            Err(FailoverError::BadPayloadOffset { offset, length: 12 })
        );
    }
    let mut b = build(11, &[(99, &[1, 2])]);
    b[3] = 19;
    assert_eq!(
        parse(&b),
        Err(FailoverError::BadPayloadOffset {
            offset: 19,
            length: 18
        })
    );
    // Offset at the very end: no options, fine.
    b[3] = 18;
    assert_eq!(parse(&b), Ok(MessageType::Contact));
}

#[test]
fn framing_errors() {
    // Cut inside the option code, inside the length, inside the value.
    let whole = build(11, &[(99, &[1, 2, 3])]);
    for cut in [13, 15, 18] {
        let mut b = whole[..cut].to_vec();
        b[..2].copy_from_slice(&(cut as u16).to_be_bytes());
        assert_eq!(
            parse(&b),
            Err(FailoverError::OptionOverrun { at: 12 }),
            "cut {cut}"
        );
    }
    // A second option runs past the end.
    let mut b = build(11, &[(99, &[1]), (98, &[1, 2])]);
    let n = b.len();
    b[n - 3] = 9; // its length low byte
    assert_eq!(parse(&b), Err(FailoverError::OptionOverrun { at: 17 }));
}

/// Every option of the table with a length its rule refuses, in a message that uses it (after
/// an assigned-IP-address where it belongs to a binding), and in a CONTACT: refused by name.
#[test]
fn every_length_rule_is_enforced() {
    let mut checked = 0;
    for info in OPTIONS {
        let bad: Vec<usize> = match info.length {
            Length::Fixed(n) => [n.checked_sub(1), Some(n + 1)]
                .into_iter()
                .flatten()
                .map(usize::from)
                .collect(),
            Length::AtLeast(n) if n > 0 => vec![usize::from(n - 1)],
            Length::MultipleOf(n) => vec![usize::from(n - 1), usize::from(n + 1)],
            _ => continue,
        };
        let used_in = MessageType::ALL
            .into_iter()
            .find(|t| info.used_in.contains(*t))
            .unwrap();
        for len in bad {
            let value = vec![0u8; len];
            let expected = Err(FailoverError::BadOptionLength {
                code: info.code,
                length: len as u16,
            });
            let mut opts: Vec<(u16, &[u8])> = Vec::new();
            if matches!(used_in, MessageType::BndUpd | MessageType::BndAck)
                && info.code != OptionCode::ASSIGNED_IP_ADDRESS
            {
                opts.push((2, ADDR));
            }
            opts.push((info.code.0, &value));
            let b = build(used_in.to_wire(), &opts);
            assert_eq!(parse(&b), expected, "{} len {len} in {used_in}", info.code);
            let b = build(11, &[(info.code.0, &value)]);
            assert_eq!(parse(&b), expected, "{} len {len} in CONTACT", info.code);
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked}");
    // The cases the notes single out: IP-flags of 1 byte (the draft's figure), a short HBA.
    let b = build(3, &[(2, ADDR), (12, &[1])]);
    assert_eq!(
        parse(&b),
        Err(FailoverError::BadOptionLength {
            code: OptionCode::IP_FLAGS,
            length: 1
        })
    );
    let b = build(5, &[(11, &[0xff; 16])]);
    assert_eq!(
        parse(&b),
        Err(FailoverError::BadOptionLength {
            code: OptionCode::HASH_BUCKET_ASSIGNMENT,
            length: 16
        })
    );
}

/// Each typed option of each control message, twice.
#[test]
fn repeated_typed_options() {
    let typed: &[(u8, &[u16])] = &[
        (2, &[1]),
        (5, &[22, 14, 19, 28, 20, 27, 15, 11, 10]),
        (6, &[22, 14, 19, 28, 20, 26, 21, 16]),
        (9, &[30]),
        (10, &[24, 23, 25]),
        (12, &[21, 16]),
    ];
    for &(msg_type, codes) in typed {
        for &code in codes {
            let mut value = good_value(OptionCode(code));
            if code == 24 {
                value = vec![2]; // a sendable state
            }
            let b = build(msg_type, &[(code, &value), (code, &value)]);
            assert_eq!(
                parse(&b),
                Err(FailoverError::DuplicateOption {
                    code: OptionCode(code)
                }),
                "{code} in type {msg_type}"
            );
            assert_eq!(
                parse_with(&b, ParseOptions::LENIENT),
                Ok(MessageType::from_wire(msg_type))
            );
            let once = build(msg_type, &[(code, &value)]);
            assert_eq!(parse(&once), Ok(MessageType::from_wire(msg_type)));
        }
    }
    // Options kept raw may repeat.
    let b = build(10, &[(29, &[1]), (29, &[2]), (4242, &[]), (4242, &[])]);
    assert_eq!(parse(&b), Ok(MessageType::State));
}

#[test]
fn repeats_in_a_binding() {
    for code in [3u16, 4, 5, 6, 12, 13, 16, 18, 21, 25] {
        let value = good_value(OptionCode(code));
        for msg_type in [3u8, 4] {
            let b = build(msg_type, &[(2, ADDR), (code, &value), (code, &value)]);
            assert_eq!(
                parse(&b),
                Err(FailoverError::DuplicateOption {
                    code: OptionCode(code)
                }),
                "{code}"
            );
            // The same option once in each of two bindings is no repeat.
            let b = build(
                msg_type,
                &[(2, ADDR), (code, &value), (2, ADDR), (code, &value)],
            );
            assert_eq!(parse(&b), Ok(MessageType::from_wire(msg_type)), "{code}");
        }
    }
}

#[test]
fn binding_layout_errors() {
    // Every per-binding option before the first assigned-IP-address.
    for info in OPTIONS.iter().filter(|i| i.per_binding) {
        if info.code == OptionCode::ASSIGNED_IP_ADDRESS {
            continue;
        }
        let value = good_value(info.code);
        for msg_type in [3u8, 4] {
            let b = build(msg_type, &[(info.code.0, &value), (2, ADDR)]);
            assert_eq!(
                parse(&b),
                Err(FailoverError::OptionBeforeFirstBinding { code: info.code }),
                "{}",
                info.code
            );
        }
    }
    // Message-level and unknown options may come first.
    let b = build(3, &[(28, b"v"), (4242, &[1]), (2, ADDR), (3, &[2])]);
    let msg = FailoverMessage::new_checked(&b[..]).unwrap();
    let upd = BndUpdRepr::parse(&msg).unwrap();
    assert_eq!(upd.globals.len(), 2);
    assert_eq!(upd.bindings.len(), 1);
    // No binding at all.
    for msg_type in [3u8, 4] {
        assert_eq!(parse(&build(msg_type, &[])), Err(FailoverError::NoBinding));
        assert_eq!(
            parse(&build(msg_type, &[(28, b"v")])),
            Err(FailoverError::NoBinding)
        );
    }
}

#[test]
fn batches_under_each_policy() {
    let b = build(3, &[(2, ADDR), (3, &[2]), (2, &[192, 0, 2, 2]), (3, &[7])]);
    assert_eq!(parse(&b), Ok(MessageType::BndUpd));
    assert_eq!(
        parse_with(&b, ParseOptions::MICROSOFT),
        Ok(MessageType::BndUpd)
    );
    assert_eq!(
        parse_with(&b, ParseOptions::ISC),
        Err(FailoverError::BatchNotAllowed)
    );
    let ack = build(4, &[(2, ADDR), (2, &[192, 0, 2, 2]), (21, &[15])]);
    assert_eq!(
        parse_with(&ack, ParseOptions::ISC),
        Err(FailoverError::BatchNotAllowed)
    );
    let msg = FailoverMessage::new_checked(&ack[..]).unwrap();
    let parsed = BndAckRepr::parse(&msg).unwrap();
    let reasons: Vec<_> = parsed
        .bindings
        .iter()
        .map(|b| b.reject_reason.map(|r| r.to_wire()))
        .collect();
    assert_eq!(reasons, [None, Some(15)]);
}

#[test]
fn wrong_message_types() {
    let state = build(10, &[(24, &[2])]);
    let msg = FailoverMessage::new_checked(&state[..]).unwrap();
    assert_eq!(
        ConnectRepr::parse(&msg),
        Err(FailoverError::WrongMessageType {
            expected: MessageType::Connect,
            found: MessageType::State
        })
    );
    assert_eq!(
        BndUpdRepr::parse(&msg),
        Err(FailoverError::WrongMessageType {
            expected: MessageType::BndUpd,
            found: MessageType::State
        })
    );
    assert!(StateRepr::parse(&msg).is_ok());
}

/// Types without a repr are kept, options unjudged, and written back as they came.
#[test]
fn unknown_types_are_kept() {
    for (code, mandatory) in [
        (0u8, true),
        (13, true),
        (127, true),
        (128, false),
        (255, false),
    ] {
        let b = build(code, &[(11, &[0xff; 8]), (4242, &[1])]);
        let msg = FailoverMessage::new_checked(&b[..]).unwrap();
        let m = Message::parse(&msg).unwrap();
        assert_eq!(m.message_type(), MessageType::Unknown(code));
        assert_eq!(m.message_type().is_mandatory(), mandatory);
        let mut out = [0u8; 64];
        let n = m.emit(&mut out).unwrap();
        assert_eq!(&out[..n], &b[..]);
    }
}

#[test]
fn every_error_has_a_name_and_a_text() {
    let errors = [
        FailoverError::Truncated { len: 3 },
        FailoverError::LengthTooSmall { length: 3 },
        FailoverError::LengthTooLarge { length: 3000 },
        FailoverError::LengthMismatch {
            length: 20,
            buffer: 19,
        },
        FailoverError::BadPayloadOffset {
            offset: 8,
            length: 12,
        },
        FailoverError::OptionOverrun { at: 12 },
        FailoverError::BadOptionLength {
            code: OptionCode::IP_FLAGS,
            length: 1,
        },
        FailoverError::DuplicateOption {
            code: OptionCode::ASSIGNED_IP_ADDRESS,
        },
        FailoverError::WrongMessageType {
            expected: MessageType::Connect,
            found: MessageType::Unknown(99),
        },
        FailoverError::OptionBeforeFirstBinding {
            code: OptionCode::BINDING_STATUS,
        },
        FailoverError::NoBinding,
        FailoverError::BatchNotAllowed,
        FailoverError::DigestMissing,
        FailoverError::DigestNotConfigured,
        FailoverError::DigestUnsupported { digest_type: 1 },
        FailoverError::DigestMismatch,
    ];
    let mut names: Vec<&str> = errors.iter().map(|e| e.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), errors.len());
    for e in errors {
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(
        FailoverError::BadOptionLength {
            code: OptionCode::IP_FLAGS,
            length: 1
        }
        .to_string(),
        "failover option IP-flags(12) has a bad length 1"
    );
    assert_eq!(
        FailoverError::DigestMismatch
            .reject_reason()
            .map(|r| r.to_wire()),
        Some(20)
    );
    assert_eq!(FailoverError::NoBinding.reject_reason(), None);
}

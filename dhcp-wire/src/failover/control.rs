//! Reprs of the messages that carry no bindings: connection set-up and teardown, state, keep-
//! alive, pool and update requests. Each types the options its message uses (every one
//! optional: whether a message is complete is the endpoint's judgement, with its own reject
//! reason) and keeps the rest in `others`.
//!
//! Fields are emitted in declaration order, which is ISC dhcpd 4.4.3's order
//! (`dhcp_failover_send_connect` and friends), so that a message ISC sent re-emits to the same
//! bytes; `others` follow.

use super::error::{EmitError, FailoverError};
use super::message::{FailoverMessage, Header, MessageType};
use super::option::{CodeSet, OptionCode, OptionList};
use super::repr::{Body, ParseOptions, check_message, decode_into, field_len, repr_methods};
use super::value::{Dialect, MsScopeIds, RejectReason, ServerFlags, ServerState};
use super::writer::MessageWriter;

/// Declares a control-message repr: the struct, `new`, `parse_with`, [`Body`] and the shared
/// methods, from one list of typed fields.
macro_rules! control_message {
    ($(#[$doc:meta])* $repr:ident = $msg:ident {
        $( $(#[$fdoc:meta])* $field:ident : $ty:ty = $code:ident, )*
    }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $repr<'a> {
            /// Time and xid.
            pub header: Header,
            $( $(#[$fdoc])* pub $field: Option<$ty>, )*
            /// Every other option, in wire order (a message-digest excluded).
            pub others: OptionList<'a>,
        }

        impl<'a> $repr<'a> {
            /// The message type.
            pub const MESSAGE_TYPE: MessageType = MessageType::$msg;
            /// Options written from typed fields, and the digest: never in `others`.
            const TYPED: CodeSet = CodeSet::of(&[$(OptionCode::$code,)* OptionCode::MESSAGE_DIGEST]);

            /// A message without options.
            pub fn new(header: Header) -> Self {
                $repr {
                    header,
                    $( $field: None, )*
                    others: OptionList::EMPTY,
                }
            }

            /// Reads a checked message: [`FailoverError::WrongMessageType`] for another type,
            /// [`FailoverError::BadOptionLength`] for a known option of the wrong length
            /// anywhere, [`FailoverError::DuplicateOption`] for a repeated typed option under
            /// [`Duplicates::Reject`](super::Duplicates::Reject).
            pub fn parse_with<T: AsRef<[u8]>>(
                msg: &'a FailoverMessage<T>,
                opts: ParseOptions,
            ) -> Result<Self, FailoverError> {
                check_message(msg, Self::MESSAGE_TYPE)?;
                #[allow(unused_mut)]
                let mut repr = $repr::new(msg.header());
                repr.others = OptionList::hiding(msg.options_bytes(), Self::TYPED);
                control_message!(@read repr, msg, opts, $($field = $code),*);
                Ok(repr)
            }
        }

        impl Body for $repr<'_> {
            fn message_type(&self) -> MessageType {
                Self::MESSAGE_TYPE
            }

            fn header(&self) -> Header {
                self.header
            }

            fn options_len(&self) -> usize {
                0 $( + field_len(&self.$field) )* + self.others.wire_len()
            }

            fn write_options(&self, w: &mut MessageWriter<'_>) -> Result<(), EmitError> {
                $( w.opt_field(OptionCode::$code, &self.$field, Dialect::Draft)?; )*
                w.list(&self.others, Self::TYPED)
            }
        }

        repr_methods!($repr);
    };
    (@read $repr:ident, $msg:ident, $opts:ident, ) => {
        let _ = $opts;
    };
    (@read $repr:ident, $msg:ident, $opts:ident, $($field:ident = $code:ident),+) => {
        for o in $msg.options() {
            match o.code {
                $( OptionCode::$code => decode_into(&mut $repr.$field, o, $opts)?, )+
                _ => {}
            }
        }
    };
}

control_message! {
    /// POOLREQ (type 1, draft §7.6): the secondary asks the primary for BACKUP addresses. No
    /// options. Windows drops it.
    PoolReqRepr = PoolReq {}
}

control_message! {
    /// POOLRESP (type 2, draft §7.7): the primary's answer, with the request's xid.
    PoolRespRepr = PoolResp {
        /// addresses-transferred (1): how many addresses were given.
        addresses_transferred: u32 = ADDRESSES_TRANSFERRED,
    }
}

control_message! {
    /// CONNECT (type 5, draft §7.8; notes §2.1): the first message on a connection, primary
    /// to secondary. ISC as secondary rejects one without relationship-name (8), MCLT (5) or
    /// a 32-byte hash-bucket-assignment (18).
    ConnectRepr = Connect {
        /// relationship-name (22): matched byte for byte.
        relationship_name: &'a [u8] = RELATIONSHIP_NAME,
        /// max-unacked-bndupd (14): how many BNDUPDs the sender accepts unacknowledged.
        max_unacked_bndupd: u32 = MAX_UNACKED_BNDUPD,
        /// receive-timer (19): the sender's tReceive, seconds.
        receive_timer: u32 = RECEIVE_TIMER,
        /// vendor-class-identifier (28).
        vendor_class_identifier: &'a [u8] = VENDOR_CLASS_IDENTIFIER,
        /// protocol-version (20): 1.
        protocol_version: u8 = PROTOCOL_VERSION,
        /// TLS-request (27): 0 none, 1 wanted, 2 required.
        tls_request: u8 = TLS_REQUEST,
        /// MCLT (15), seconds: authoritative for the relationship.
        mclt: u32 = MCLT,
        /// hash-bucket-assignment (11): set bits are the primary's buckets (ISC's convention).
        hash_bucket_assignment: [u8; 32] = HASH_BUCKET_ASSIGNMENT,
        /// delayed-service-parameter (10), seconds.
        delayed_service_parameter: u8 = DELAYED_SERVICE_PARAMETER,
    }
}

control_message! {
    /// CONNECTACK (type 6, draft §7.9; notes §2.3), with the CONNECT's xid. Accepting: the
    /// secondary's parameters. Rejecting: relationship-name, protocol-version, reject-reason
    /// and message.
    ConnectAckRepr = ConnectAck {
        /// relationship-name (22).
        relationship_name: &'a [u8] = RELATIONSHIP_NAME,
        /// max-unacked-bndupd (14).
        max_unacked_bndupd: u32 = MAX_UNACKED_BNDUPD,
        /// receive-timer (19).
        receive_timer: u32 = RECEIVE_TIMER,
        /// vendor-class-identifier (28).
        vendor_class_identifier: &'a [u8] = VENDOR_CLASS_IDENTIFIER,
        /// protocol-version (20).
        protocol_version: u8 = PROTOCOL_VERSION,
        /// TLS-reply (26): only when the CONNECT had TLS-request.
        tls_reply: u8 = TLS_REPLY,
        /// reject-reason (21): present means rejected.
        reject_reason: RejectReason = REJECT_REASON,
        /// message (16): text for the reject.
        message: &'a [u8] = MESSAGE,
    }
}

control_message! {
    /// UPDREQALL (type 7, draft §7.4): "send me every binding". No options.
    UpdReqAllRepr = UpdReqAll {}
}

control_message! {
    /// UPDDONE (type 8, draft §7.5), with the UPDREQ/UPDREQALL's xid. No options.
    UpdDoneRepr = UpdDone {}
}

control_message! {
    /// UPDREQ (type 9, draft §7.3): "send me what I have not acknowledged". Windows may limit
    /// it to some scopes with option 30.
    UpdReqRepr = UpdReq {
        /// Microsoft scope-id list (30).
        ms_scope_ids: MsScopeIds<'a> = MS_SCOPE_ID_LIST,
    }
}

control_message! {
    /// STATE (type 10, draft §7.10; notes §2.4). Emitting refuses server-state STARTUP and
    /// unknown values ([`EmitError::UnsendableState`]); a server in STARTUP sends its previous
    /// state with the STARTUP flag.
    StateRepr = State {
        /// server-state (24).
        server_state: ServerState = SERVER_STATE,
        /// server-flags (23).
        server_flags: ServerFlags = SERVER_FLAGS,
        /// start-time-of-state (25).
        start_time_of_state: u32 = START_TIME_OF_STATE,
    }
}

control_message! {
    /// CONTACT (type 11, draft §7.11): keep-alive. No options.
    ContactRepr = Contact {}
}

control_message! {
    /// DISCONNECT (type 12, draft §7.12): the last message before an intentional close.
    DisconnectRepr = Disconnect {
        /// reject-reason (21), required by the draft.
        reject_reason: RejectReason = REJECT_REASON,
        /// message (16).
        message: &'a [u8] = MESSAGE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::EmitError;
    use crate::failover::repr::Duplicates;

    const H: Header = Header {
        time: 0x6b09_c594,
        xid: 0,
    };

    #[test]
    fn connect_round_trips_in_isc_order() {
        let mut hba = [0u8; 32];
        hba[..16].fill(0xff);
        let c = ConnectRepr {
            relationship_name: Some(b"fo-test"),
            max_unacked_bndupd: Some(10),
            receive_timer: Some(30),
            vendor_class_identifier: Some(b"isc-4.4.3-P1"),
            protocol_version: Some(1),
            tls_request: Some(0),
            mclt: Some(600),
            hash_bucket_assignment: Some(hba),
            ..ConnectRepr::new(H)
        };
        assert_eq!(c.buffer_len(), 109);
        let mut buf = [0u8; 256];
        let n = c.emit(&mut buf).unwrap();
        let bytes = &buf[..n];
        assert_eq!(
            &bytes[..16],
            &[0, 109, 5, 12, 0x6b, 9, 0xc5, 0x94, 0, 0, 0, 0, 0, 22, 0, 7]
        );
        let msg = FailoverMessage::new_checked(bytes).unwrap();
        assert_eq!(ConnectRepr::parse(&msg).unwrap(), c);
    }

    #[test]
    fn state_refuses_startup_and_unknown() {
        let mut s = StateRepr::new(H);
        s.server_state = Some(ServerState::Startup);
        let mut buf = [0u8; 64];
        assert_eq!(
            s.emit(&mut buf),
            Err(EmitError::UnsendableState { value: 1 })
        );
        s.server_state = Some(ServerState::Unknown(77));
        assert_eq!(
            s.emit(&mut buf),
            Err(EmitError::UnsendableState { value: 77 })
        );
        s.server_state = Some(ServerState::RecoverWait);
        s.server_flags = Some(ServerFlags(ServerFlags::STARTUP));
        s.start_time_of_state = Some(7);
        let n = s.emit(&mut buf).unwrap();
        assert_eq!(&buf[12..17], &[0, 24, 0, 1, 254]);
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(StateRepr::parse(&msg).unwrap(), s);
    }

    #[test]
    fn parses_what_it_would_not_send() {
        // A peer's STATE(STARTUP) is read, not refused: the endpoint decides.
        let bytes = [0, 17, 10, 12, 0, 0, 0, 0, 0, 0, 0, 1, 0, 24, 0, 1, 1];
        let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
        let s = StateRepr::parse(&msg).unwrap();
        assert_eq!(s.server_state, Some(ServerState::Startup));
    }

    #[test]
    fn others_keep_unknown_and_unused_options() {
        let mut buf = [0u8; 64];
        let mut w = MessageWriter::new(&mut buf, MessageType::Disconnect, H).unwrap();
        w.option_u8(OptionCode::REJECT_REASON, 17).unwrap();
        w.option(OptionCode(300), b"x").unwrap();
        w.option_u32(OptionCode::MCLT, 5).unwrap();
        let n = w.finish();
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        let d = DisconnectRepr::parse(&msg).unwrap();
        assert_eq!(d.reject_reason, Some(RejectReason::NoTraffic));
        assert_eq!(d.message, None);
        let others: [(u16, usize); 2] = [(300, 1), (15, 4)];
        assert!(
            d.others
                .iter()
                .map(|o| (o.code.0, o.value.len()))
                .eq(others)
        );
        let mut again = [0u8; 64];
        let m = d.emit(&mut again).unwrap();
        assert_eq!(&again[..m], &buf[..n]);
    }

    #[test]
    fn duplicates_follow_the_policy() {
        let bytes = [
            0, 22, 12, 12, 0, 0, 0, 0, 0, 0, 0, 1, 0, 21, 0, 1, 4, 0, 21, 0, 1, 6,
        ];
        let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            DisconnectRepr::parse(&msg),
            Err(FailoverError::DuplicateOption {
                code: OptionCode::REJECT_REASON
            })
        );
        let lenient = ParseOptions {
            duplicates: Duplicates::FirstWins,
            ..ParseOptions::DRAFT
        };
        let d = DisconnectRepr::parse_with(&msg, lenient).unwrap();
        assert_eq!(d.reject_reason, Some(RejectReason::TimeMismatch));
        assert!(d.others.is_empty());
    }

    #[test]
    fn typed_codes_in_others_are_refused() {
        let raw = [0, 21, 0, 1, 4];
        let mut d = DisconnectRepr::new(H);
        d.others = OptionList::new(&raw).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            d.emit(&mut buf),
            Err(EmitError::ReservedOption {
                code: OptionCode::REJECT_REASON
            })
        );
    }

    #[test]
    fn wrong_type_and_bad_lengths() {
        let bytes = [0, 12, 11, 12, 0, 0, 0, 0, 0, 0, 0, 1];
        let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            StateRepr::parse(&msg),
            Err(FailoverError::WrongMessageType {
                expected: MessageType::State,
                found: MessageType::Contact
            })
        );
        // An MCLT of 3 bytes inside a CONTACT: known option, wrong length, refused anywhere.
        let bytes = [0, 19, 11, 12, 0, 0, 0, 0, 0, 0, 0, 1, 0, 15, 0, 3, 0, 0, 1];
        let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            ContactRepr::parse(&msg),
            Err(FailoverError::BadOptionLength {
                code: OptionCode::MCLT,
                length: 3
            })
        );
    }
}

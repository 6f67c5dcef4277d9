//! The two error types of the failover codec: [`FailoverError`] for what was received,
//! [`EmitError`] for what we were asked to send.

use core::fmt;

use super::message::MessageType;
use super::option::OptionCode;
use super::value::RejectReason;

/// Why received bytes are not a failover message we accept. Closed and `Copy`; every variant
/// says what was wrong and with what, so that the endpoint can log it and count it
/// ([`FailoverError::as_str`] is a stable metric name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailoverError {
    /// Fewer than the 12 bytes of the header (draft §6.1).
    Truncated {
        /// Bytes there were.
        len: usize,
    },
    /// The message-length field is below 12: it cannot even cover the header.
    LengthTooSmall {
        /// The field's value.
        length: u16,
    },
    /// The message-length field is above 2048, the draft §6.1 maximum (ISC drops the session).
    LengthTooLarge {
        /// The field's value.
        length: u16,
    },
    /// The message-length field disagrees with the buffer the message was handed in.
    LengthMismatch {
        /// The field's value.
        length: u16,
        /// The buffer's length.
        buffer: usize,
    },
    /// The payload offset is below 12 (it would point into the header) or past the end.
    BadPayloadOffset {
        /// The field's value.
        offset: u8,
        /// The message length.
        length: u16,
    },
    /// An option's 4-byte code/length header, or its value, runs past the end of the message.
    OptionOverrun {
        /// Offset of the option from the start of the message.
        at: u16,
    },
    /// A known option whose length breaks the table ([`super::OPTIONS`]): a fixed-size option
    /// of another size, a list of the wrong granularity, or one too short.
    BadOptionLength {
        /// The option.
        code: OptionCode,
        /// Its length on the wire.
        length: u16,
    },
    /// An option that a message (or, in BNDUPD/BNDACK, one binding) may carry once appeared
    /// again, under [`Duplicates::Reject`](super::Duplicates::Reject).
    DuplicateOption {
        /// The option.
        code: OptionCode,
    },
    /// A message of one type handed to the parser of another.
    WrongMessageType {
        /// What the parser reads.
        expected: MessageType,
        /// What the message is.
        found: MessageType,
    },
    /// In a BNDUPD or BNDACK, an option that belongs to a binding came before the first
    /// assigned-IP-address, so it belongs to no binding (draft §6.3).
    OptionBeforeFirstBinding {
        /// The option.
        code: OptionCode,
    },
    /// A BNDUPD or BNDACK without any assigned-IP-address.
    NoBinding,
    /// A second assigned-IP-address under [`Batching::Reject`](super::Batching::Reject), the
    /// way ISC dhcpd 4.4.3 sees a batch ("duplicate option").
    BatchNotAllowed,
    /// A shared secret is configured but the message has no message-digest option (reject
    /// reason 21).
    DigestMissing,
    /// No shared secret is configured but the message carries a message-digest (reject
    /// reason 13).
    DigestNotConfigured,
    /// The message-digest's type byte names an algorithm we do not compute, or not the one
    /// configured (reject reason 12).
    DigestUnsupported {
        /// The type byte.
        digest_type: u8,
    },
    /// The message-digest does not match (reject reason 20).
    DigestMismatch,
}

impl FailoverError {
    /// A short stable name for metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailoverError::Truncated { .. } => "truncated",
            FailoverError::LengthTooSmall { .. } => "length_too_small",
            FailoverError::LengthTooLarge { .. } => "length_too_large",
            FailoverError::LengthMismatch { .. } => "length_mismatch",
            FailoverError::BadPayloadOffset { .. } => "bad_payload_offset",
            FailoverError::OptionOverrun { .. } => "option_overrun",
            FailoverError::BadOptionLength { .. } => "bad_option_length",
            FailoverError::DuplicateOption { .. } => "duplicate_option",
            FailoverError::WrongMessageType { .. } => "wrong_message_type",
            FailoverError::OptionBeforeFirstBinding { .. } => "option_before_first_binding",
            FailoverError::NoBinding => "no_binding",
            FailoverError::BatchNotAllowed => "batch_not_allowed",
            FailoverError::DigestMissing => "digest_missing",
            FailoverError::DigestNotConfigured => "digest_not_configured",
            FailoverError::DigestUnsupported { .. } => "digest_unsupported",
            FailoverError::DigestMismatch => "digest_mismatch",
        }
    }

    /// The reject reason (draft §12.21) that names this failure where the draft has one: the
    /// digest failures of §11.1. Everything else is a malformed message, which the draft
    /// answers by closing the connection, not with a reason.
    pub fn reject_reason(&self) -> Option<RejectReason> {
        match self {
            FailoverError::DigestMissing => Some(RejectReason::MissingDigest),
            FailoverError::DigestNotConfigured => Some(RejectReason::DigestNotConfigured),
            FailoverError::DigestUnsupported { .. } => Some(RejectReason::DigestNotSupported),
            FailoverError::DigestMismatch => Some(RejectReason::DigestFailedToCompare),
            _ => None,
        }
    }
}

impl fmt::Display for FailoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FailoverError::Truncated { len } => {
                write!(
                    f,
                    "failover message of {len} bytes, shorter than its 12-byte header"
                )
            }
            FailoverError::LengthTooSmall { length } => {
                write!(f, "failover message length {length} below 12")
            }
            FailoverError::LengthTooLarge { length } => {
                write!(f, "failover message length {length} above 2048")
            }
            FailoverError::LengthMismatch { length, buffer } => write!(
                f,
                "failover message length {length} but {buffer} bytes were received"
            ),
            FailoverError::BadPayloadOffset { offset, length } => {
                write!(f, "failover payload offset {offset} outside 12..={length}")
            }
            FailoverError::OptionOverrun { at } => {
                write!(
                    f,
                    "failover option at byte {at} runs past the end of the message"
                )
            }
            FailoverError::BadOptionLength { code, length } => {
                write!(f, "failover option {code} has a bad length {length}")
            }
            FailoverError::DuplicateOption { code } => {
                write!(f, "failover option {code} appears twice")
            }
            FailoverError::WrongMessageType { expected, found } => {
                write!(f, "expected a {expected} message, got {found}")
            }
            FailoverError::OptionBeforeFirstBinding { code } => write!(
                f,
                "failover option {code} before the first assigned-IP-address"
            ),
            FailoverError::NoBinding => f.write_str("binding message without assigned-IP-address"),
            FailoverError::BatchNotAllowed => {
                f.write_str("several bindings in one message, and batches are refused")
            }
            FailoverError::DigestMissing => f.write_str("message-digest missing"),
            FailoverError::DigestNotConfigured => {
                f.write_str("message-digest received but no shared secret is configured")
            }
            FailoverError::DigestUnsupported { digest_type } => {
                write!(f, "message-digest type {digest_type} not supported")
            }
            FailoverError::DigestMismatch => f.write_str("message-digest does not match"),
        }
    }
}

impl core::error::Error for FailoverError {}

/// Why a message could not be written. Nothing is half-written: on error the caller's buffer
/// may hold scratch bytes, but a writer's message is as it was before the failing call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmitError {
    /// The caller's buffer is too small.
    BufferTooSmall {
        /// Bytes the message needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// The message would be longer than 2048 bytes (draft §6.1) or the writer's limit.
    TooLong {
        /// Bytes the message needs.
        needed: usize,
        /// The limit.
        limit: usize,
    },
    /// A known option with a value the table does not allow (see
    /// [`FailoverError::BadOptionLength`]): we never send what we would refuse.
    BadOptionLength {
        /// The option.
        code: OptionCode,
        /// The value's length.
        length: usize,
    },
    /// A raw option list (`others`, `globals`) carries a code the message writes from a typed
    /// field, or the message-digest: sending it would duplicate that field.
    ReservedOption {
        /// The option.
        code: OptionCode,
    },
    /// A server-state that must not be sent: STARTUP (shown by the STARTUP flag instead,
    /// draft §12.24) or a value outside table 1.6 (ISC goes to SHUTDOWN on it).
    UnsendableState {
        /// The wire value.
        value: u8,
    },
    /// A binding's status or IP-flags are of another [`Dialect`](super::Dialect) than the
    /// message's.
    DialectMismatch,
    /// The batch is full: as many bindings as its limit allows, or no room for this one.
    /// The message so far is intact and can be finished.
    BatchFull,
    /// A BNDUPD or BNDACK without a binding.
    NoBinding,
    /// The message-digest can only be reserved as the first option (draft §11.1).
    DigestNotFirst,
    /// Signing was asked for but no message-digest option was reserved.
    DigestNotReserved,
    /// A message-digest type we cannot compute (HMAC-MD5, or unknown).
    DigestUnsupported {
        /// The type byte.
        digest_type: u8,
    },
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EmitError::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "failover message needs {needed} bytes, buffer has {available}"
                )
            }
            EmitError::TooLong { needed, limit } => {
                write!(
                    f,
                    "failover message of {needed} bytes exceeds the limit of {limit}"
                )
            }
            EmitError::BadOptionLength { code, length } => {
                write!(f, "failover option {code} cannot have length {length}")
            }
            EmitError::ReservedOption { code } => write!(
                f,
                "failover option {code} is written from its typed field, not from a raw list"
            ),
            EmitError::UnsendableState { value } => {
                write!(f, "server state {value} must not be sent")
            }
            EmitError::DialectMismatch => {
                f.write_str("binding status or IP-flags of another dialect than the message")
            }
            EmitError::BatchFull => f.write_str("binding batch is full"),
            EmitError::NoBinding => f.write_str("binding message without a binding"),
            EmitError::DigestNotFirst => {
                f.write_str("message-digest must be reserved before any other option")
            }
            EmitError::DigestNotReserved => f.write_str("no message-digest option to sign"),
            EmitError::DigestUnsupported { digest_type } => {
                write!(f, "message-digest type {digest_type} cannot be computed")
            }
        }
    }
}

impl core::error::Error for EmitError {}

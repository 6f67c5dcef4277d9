//! What every message repr shares: the parse policy, the emit plumbing, and [`Message`], the
//! dispatch over all kinds.

use super::binding::{BndAckRepr, BndUpdRepr};
use super::control::{
    ConnectAckRepr, ConnectRepr, ContactRepr, DisconnectRepr, PoolReqRepr, PoolRespRepr, StateRepr,
    UpdDoneRepr, UpdReqAllRepr, UpdReqRepr,
};
use super::digest::DigestKey;
use super::error::{EmitError, FailoverError};
use super::message::{FailoverMessage, HEADER_LEN, Header, MessageType};
use super::option::{CodeSet, FailoverOption, OptionCode, OptionList};
use super::typed::Field;
use super::value::Dialect;
use super::writer::MessageWriter;

/// What to do when an option a repr reads into a typed field appears twice in its scope (the
/// message, or one binding of a BNDUPD/BNDACK). Options kept raw may repeat freely: a repeat
/// matters only where it would make a field ambiguous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Duplicates {
    /// [`FailoverError::DuplicateOption`]: draft §6.2 ("an option appearing twice is an
    /// error") and ISC dhcpd.
    #[default]
    Reject,
    /// The first occurrence is the value, later ones are dropped.
    FirstWins,
}

/// Whether a BNDUPD/BNDACK may hold several bindings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Batching {
    /// Draft §6.3: every implementation MUST accept batches.
    #[default]
    Accept,
    /// A second binding is [`FailoverError::BatchNotAllowed`], as ISC dhcpd 4.4.3 reacts
    /// (it sees a duplicate assigned-IP-address and drops the session). For simulating an
    /// ISC peer, or for refusing what we would never get from one.
    Reject,
}

/// How the reprs read a message: the peer's dialect and how strict to be. The endpoint picks
/// one per relationship.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ParseOptions {
    /// How binding-status and IP-flags are read.
    pub dialect: Dialect,
    /// Repeated typed options.
    pub duplicates: Duplicates,
    /// Several bindings in one BNDUPD/BNDACK.
    pub batching: Batching,
}

impl ParseOptions {
    /// Draft-12: draft dialect, repeats refused, batches accepted. The default.
    pub const DRAFT: ParseOptions = ParseOptions {
        dialect: Dialect::Draft,
        duplicates: Duplicates::Reject,
        batching: Batching::Accept,
    };
    /// As strict as ISC dhcpd 4.4.3: no repeats, no batches.
    pub const ISC: ParseOptions = ParseOptions {
        dialect: Dialect::Draft,
        duplicates: Duplicates::Reject,
        batching: Batching::Reject,
    };
    /// A Windows peer: Microsoft dialect, repeats refused, batches (of up to 16) accepted.
    pub const MICROSOFT: ParseOptions = ParseOptions {
        dialect: Dialect::Microsoft,
        duplicates: Duplicates::Reject,
        batching: Batching::Accept,
    };
    /// Draft dialect, first of repeated options wins, batches accepted.
    pub const LENIENT: ParseOptions = ParseOptions {
        dialect: Dialect::Draft,
        duplicates: Duplicates::FirstWins,
        batching: Batching::Accept,
    };
}

/// The part of emitting that differs between kinds.
pub(crate) trait Body {
    fn message_type(&self) -> MessageType;
    fn header(&self) -> Header;
    fn options_len(&self) -> usize;
    fn write_options(&self, w: &mut MessageWriter<'_>) -> Result<(), EmitError>;
}

/// Writes a whole message, signed when a key is given.
pub(crate) fn emit_body<B: Body>(
    body: &B,
    buf: &mut [u8],
    key: Option<&DigestKey<'_>>,
) -> Result<usize, EmitError> {
    let mut w = MessageWriter::new(buf, body.message_type(), body.header())?;
    if let Some(key) = key {
        w.reserve_digest(key.digest_type)?;
    }
    body.write_options(&mut w)?;
    match key {
        Some(key) => w.finish_signed(key),
        None => Ok(w.finish()),
    }
}

/// Checks the type, and every known option's length wherever it is (a known option of the
/// wrong length means a broken peer, typed field or not).
pub(crate) fn check_message<T: AsRef<[u8]>>(
    msg: &FailoverMessage<T>,
    expected: MessageType,
) -> Result<(), FailoverError> {
    let found = msg.message_type();
    if found != expected {
        return Err(FailoverError::WrongMessageType { expected, found });
    }
    for o in msg.options() {
        o.code.check_len(o.value.len())?;
    }
    Ok(())
}

/// Reads an option into a typed field, minding repeats.
pub(crate) fn decode_into<'a, F: Field<'a>>(
    slot: &mut Option<F>,
    o: FailoverOption<'a>,
    opts: ParseOptions,
) -> Result<(), FailoverError> {
    let value = F::decode(o.value, opts.dialect).ok_or(FailoverError::BadOptionLength {
        code: o.code,
        length: u16::try_from(o.value.len()).unwrap_or(u16::MAX),
    })?;
    if slot.is_none() {
        *slot = Some(value);
        Ok(())
    } else {
        match opts.duplicates {
            Duplicates::Reject => Err(FailoverError::DuplicateOption { code: o.code }),
            Duplicates::FirstWins => Ok(()),
        }
    }
}

/// Wire bytes of an optional typed field.
pub(crate) fn field_len<'a, F: Field<'a>>(value: &Option<F>) -> usize {
    value.as_ref().map_or(0, |v| 4 + v.wire_len())
}

/// `parse`, `buffer_len`, `emit` and `emit_signed` for a repr that has `parse_with` and
/// implements [`Body`].
macro_rules! repr_methods {
    ($repr:ident) => {
        impl<'a> $repr<'a> {
            /// Reads a checked message with [`ParseOptions::DRAFT`].
            pub fn parse<T: AsRef<[u8]>>(
                msg: &'a $crate::failover::FailoverMessage<T>,
            ) -> Result<Self, $crate::failover::FailoverError> {
                Self::parse_with(msg, $crate::failover::ParseOptions::DRAFT)
            }

            /// Bytes [`emit`](Self::emit) writes; signing adds
            /// [`DigestType::option_len`](crate::failover::DigestType::option_len).
            pub fn buffer_len(&self) -> usize {
                $crate::failover::HEADER_LEN + $crate::failover::repr::Body::options_len(self)
            }

            /// Writes the message into `buf`; returns its length.
            pub fn emit(&self, buf: &mut [u8]) -> Result<usize, $crate::failover::EmitError> {
                $crate::failover::repr::emit_body(self, buf, None)
            }

            /// Writes the message with a message-digest (first option) computed with `key`.
            pub fn emit_signed(
                &self,
                buf: &mut [u8],
                key: &$crate::failover::DigestKey<'_>,
            ) -> Result<usize, $crate::failover::EmitError> {
                $crate::failover::repr::emit_body(self, buf, Some(key))
            }
        }
    };
}
pub(crate) use repr_methods;

/// A message of a type no repr reads (0, 13–255), kept raw. Draft §6.1: below 128 the
/// endpoint closes the connection, from 128 it ignores the message. Its options mean nothing
/// to us, so they are judged neither when read (no length rules) nor when written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownRepr<'a> {
    /// The type code.
    pub code: u8,
    /// Time and xid.
    pub header: Header,
    /// The options, in wire order (any message-digest hidden).
    pub options: OptionList<'a>,
}

/// Every message kind, for a receiver that does not know what comes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// POOLREQ (1).
    PoolReq(PoolReqRepr<'a>),
    /// POOLRESP (2).
    PoolResp(PoolRespRepr<'a>),
    /// BNDUPD (3).
    BndUpd(BndUpdRepr<'a>),
    /// BNDACK (4).
    BndAck(BndAckRepr<'a>),
    /// CONNECT (5).
    Connect(ConnectRepr<'a>),
    /// CONNECTACK (6).
    ConnectAck(ConnectAckRepr<'a>),
    /// UPDREQALL (7).
    UpdReqAll(UpdReqAllRepr<'a>),
    /// UPDDONE (8).
    UpdDone(UpdDoneRepr<'a>),
    /// UPDREQ (9).
    UpdReq(UpdReqRepr<'a>),
    /// STATE (10).
    State(StateRepr<'a>),
    /// CONTACT (11).
    Contact(ContactRepr<'a>),
    /// DISCONNECT (12).
    Disconnect(DisconnectRepr<'a>),
    /// Any other type.
    Unknown(UnknownRepr<'a>),
}

/// Applies one expression to the repr inside any known variant.
macro_rules! each_kind {
    ($msg:expr, $r:ident => $e:expr, $u:ident => $ue:expr) => {
        match $msg {
            Message::PoolReq($r) => $e,
            Message::PoolResp($r) => $e,
            Message::BndUpd($r) => $e,
            Message::BndAck($r) => $e,
            Message::Connect($r) => $e,
            Message::ConnectAck($r) => $e,
            Message::UpdReqAll($r) => $e,
            Message::UpdDone($r) => $e,
            Message::UpdReq($r) => $e,
            Message::State($r) => $e,
            Message::Contact($r) => $e,
            Message::Disconnect($r) => $e,
            Message::Unknown($u) => $ue,
        }
    };
}

impl<'a> Message<'a> {
    /// Reads a checked message with [`ParseOptions::DRAFT`].
    pub fn parse<T: AsRef<[u8]>>(msg: &'a FailoverMessage<T>) -> Result<Self, FailoverError> {
        Self::parse_with(msg, ParseOptions::DRAFT)
    }

    /// Reads a checked message with the repr of its type.
    pub fn parse_with<T: AsRef<[u8]>>(
        msg: &'a FailoverMessage<T>,
        opts: ParseOptions,
    ) -> Result<Self, FailoverError> {
        Ok(match msg.message_type() {
            MessageType::PoolReq => Message::PoolReq(PoolReqRepr::parse_with(msg, opts)?),
            MessageType::PoolResp => Message::PoolResp(PoolRespRepr::parse_with(msg, opts)?),
            MessageType::BndUpd => Message::BndUpd(BndUpdRepr::parse_with(msg, opts)?),
            MessageType::BndAck => Message::BndAck(BndAckRepr::parse_with(msg, opts)?),
            MessageType::Connect => Message::Connect(ConnectRepr::parse_with(msg, opts)?),
            MessageType::ConnectAck => Message::ConnectAck(ConnectAckRepr::parse_with(msg, opts)?),
            MessageType::UpdReqAll => Message::UpdReqAll(UpdReqAllRepr::parse_with(msg, opts)?),
            MessageType::UpdDone => Message::UpdDone(UpdDoneRepr::parse_with(msg, opts)?),
            MessageType::UpdReq => Message::UpdReq(UpdReqRepr::parse_with(msg, opts)?),
            MessageType::State => Message::State(StateRepr::parse_with(msg, opts)?),
            MessageType::Contact => Message::Contact(ContactRepr::parse_with(msg, opts)?),
            MessageType::Disconnect => Message::Disconnect(DisconnectRepr::parse_with(msg, opts)?),
            MessageType::Unknown(code) => Message::Unknown(UnknownRepr {
                code,
                header: msg.header(),
                options: OptionList::hiding(
                    msg.options_bytes(),
                    CodeSet::EMPTY.with(OptionCode::MESSAGE_DIGEST),
                ),
            }),
        })
    }

    /// The message type.
    pub fn message_type(&self) -> MessageType {
        each_kind!(self, r => Body::message_type(r), u => MessageType::Unknown(u.code))
    }

    /// Time and xid.
    pub fn header(&self) -> Header {
        each_kind!(self, r => r.header, u => u.header)
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        each_kind!(self, r => r.buffer_len(), u => HEADER_LEN + u.options.wire_len())
    }

    /// Writes the message; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.emit_with(buf, None)
    }

    /// Writes the message with a message-digest computed with `key`.
    pub fn emit_signed(&self, buf: &mut [u8], key: &DigestKey<'_>) -> Result<usize, EmitError> {
        self.emit_with(buf, Some(key))
    }

    fn emit_with(&self, buf: &mut [u8], key: Option<&DigestKey<'_>>) -> Result<usize, EmitError> {
        each_kind!(self, r => emit_body(r, buf, key), u => emit_body(u, buf, key))
    }
}

impl Body for UnknownRepr<'_> {
    fn message_type(&self) -> MessageType {
        MessageType::from_wire(self.code)
    }

    fn header(&self) -> Header {
        self.header
    }

    fn options_len(&self) -> usize {
        self.options.wire_len()
    }

    fn write_options(&self, w: &mut MessageWriter<'_>) -> Result<(), EmitError> {
        w.opaque_list(&self.options)
    }
}

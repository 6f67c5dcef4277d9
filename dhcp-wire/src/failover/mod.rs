//! The DHCPv4 failover protocol's messages (draft-ietf-dhc-failover-12 §6, §12, with the
//! Microsoft extension [MS-DHCPF] §2), as ISC dhcpd 4.4.3 and Windows Server speak them. The
//! protocol facts and every place the sources disagree are in `failover-protocol.md` (the
//! "notes"); section numbers below are the draft's unless said otherwise.
//!
//! # Layers
//!
//! 1. [`FailoverMessage::new_checked`] takes a buffer holding exactly one message (use
//!    [`frame_len`] to cut it from the TCP stream) and checks the 12-byte header — length
//!    12..=2048 and equal to the buffer, payload offset 12..=length — and that every option's
//!    code/length/value lies inside the message. After that no accessor panics and
//!    [`FailoverMessage::options`] yields every option, known or not.
//! 2. [`digest::verify`] checks the message-digest, when the relationship has a shared secret
//!    (and refuses one when it has none).
//! 3. A repr reads the message into typed fields: [`Message::parse_with`] for whatever
//!    arrives, or one kind's `parse_with` (e.g. [`ConnectRepr::parse_with`]). Every known
//!    option anywhere must obey its length rule ([`OPTIONS`]); repeats and batches follow
//!    [`ParseOptions`]; options a repr does not type are kept, in order, in an
//!    [`OptionList`]. BNDUPD and BNDACK hold one or more [`BindingRepr`]s ([`Bindings`]).
//! 4. A repr writes itself: `buffer_len`, `emit`, `emit_signed`. Typed fields go first in ISC's
//!    order, so a message ISC sent re-emits byte for byte. [`BatchWriter`] builds a
//!    BNDUPD/BNDACK binding by binding up to a [`BatchLimit`] (one for ISC). What we emit, we
//!    also accept: the writers refuse known options of a wrong length, a typed option repeated
//!    through a raw list, STARTUP or unknown server states, and a binding of another dialect.
//!
//! Nothing allocates; every error is a value ([`FailoverError`] when reading, [`EmitError`]
//! when writing), never a panic.
//!
//! # Example
//!
//! ```
//! use dhcp_wire::failover::*;
//!
//! // Receiving: cut one message from the stream, check it, verify, read it as ISC would.
//! let stream: &[u8] = &[0, 12, 11, 12, 0x6b, 9, 0xc5, 0x94, 0, 0, 0, 19, /* next… */ 0];
//! let len = frame_len(stream)?.expect("the length field has arrived");
//! let msg = FailoverMessage::new_checked(&stream[..len])?;
//! digest::verify(&msg, None)?;
//! match Message::parse_with(&msg, ParseOptions::ISC)? {
//!     Message::Contact(c) => assert_eq!(c.header.xid, 19),
//!     other => panic!("unexpected {other:?}"),
//! }
//!
//! // Sending: a BNDUPD to an ISC peer holds one binding.
//! let mut buf = [0u8; MAX_MESSAGE_LEN];
//! let header = Header { time: 0x6b09_c594, xid: 7 };
//! let mut batch = BatchWriter::bnd_upd(&mut buf, header, Dialect::Draft, BatchLimit::ISC)?;
//! let backup = BindingRepr {
//!     status: Some(BindingStatus::Backup.into()),
//!     lease_expiration_time: Some(0),
//!     ..BindingRepr::new([192, 0, 2, 100].into())
//! };
//! batch.push(&backup)?;
//! assert_eq!(batch.push(&backup), Err(EmitError::BatchFull));
//! let n = batch.finish()?;
//! assert_eq!(n, 12 + 8 + 5 + 8);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! # What the codec does not judge
//!
//! Whether a message is complete (CONNECT without MCLT, BNDUPD without binding-status), xid
//! matching, clock skew, and what an unknown message type means are the endpoint's: each has
//! its own reject reason or connection rule, which only the endpoint knows how to apply.

pub mod binding;
pub mod control;
pub mod digest;
mod error;
mod message;
mod option;
pub(crate) mod repr;
mod typed;
mod value;
mod writer;

pub use binding::{
    BatchLimit, BatchWriter, BindingIter, BindingRepr, Bindings, BndAckRepr, BndUpdRepr,
};
pub use control::{
    ConnectAckRepr, ConnectRepr, ContactRepr, DisconnectRepr, PoolReqRepr, PoolRespRepr, StateRepr,
    UpdDoneRepr, UpdReqAllRepr, UpdReqRepr,
};
pub use digest::{DigestKey, DigestType};
pub use error::{EmitError, FailoverError};
pub use message::{
    FailoverMessage, HEADER_LEN, Header, MAX_MESSAGE_LEN, MessageType, PAYLOAD_OFFSET, field,
    frame_len,
};
pub use option::{
    FailoverOption, Format, Length, OPTIONS, OptionCode, OptionInfo, OptionIter, OptionList, Usage,
};
pub use repr::{Batching, Duplicates, Message, ParseOptions, UnknownRepr};
pub use value::{
    BindingStatus, Dialect, HardwareAddress, IpFlags, MsAddressState, MsBindingStatus, MsIpFlags,
    MsRecordKind, MsRedistribution, MsScopeIds, RejectReason, ServerFlags, ServerState, WireFlags,
    WireStatus,
};
pub use writer::MessageWriter;

//! BNDUPD and BNDACK (draft §7.1, §7.2, §6.3): messages that carry one or more bindings.
//!
//! # Layout
//!
//! Options before the first assigned-IP-address belong to the message (`globals`: draft §6.3's
//! "non-IP address / non-client specific options first"); an option the table marks per-binding
//! there is [`FailoverError::OptionBeforeFirstBinding`]. Each assigned-IP-address (option 2)
//! opens a binding that runs until the next one or the end of the message. The message-digest
//! belongs to the message wherever it is (draft §6.3 draws it trailing).
//!
//! # Reading
//!
//! `parse_with` checks every binding once (lengths, repeats, the batch policy); then
//! [`Bindings::iter`] yields them in wire order as [`BindingRepr`]s, without allocating.
//!
//! # Writing
//!
//! [`BatchWriter`] appends bindings to a BNDUPD or BNDACK until its [`BatchLimit`] — one binding
//! for ISC dhcpd (which drops the session on a batch), sixteen for Windows (which ignores the
//! rest), as many as fit in 2048 bytes for the draft — and reports [`EmitError::BatchFull`]
//! with the message so far intact. The reprs' `emit` writes a whole message from a slice.

use core::fmt;
use core::net::Ipv4Addr;

use super::digest::{DigestKey, DigestType};
use super::error::{EmitError, FailoverError};
use super::message::{FailoverMessage, Header, MAX_MESSAGE_LEN, MessageType};
use super::option::{CodeSet, OPTIONS, OptionCode, OptionIter, OptionList};
use super::repr::{
    Batching, Body, ParseOptions, check_message, decode_into, field_len, repr_methods,
};
use super::value::{Dialect, HardwareAddress, RejectReason, WireFlags, WireStatus};
use super::writer::MessageWriter;

/// Codes a [`BindingRepr`] writes from typed fields, and the digest: never in its `others`.
const BINDING_TYPED: CodeSet = CodeSet::of(&[
    OptionCode::ASSIGNED_IP_ADDRESS,
    OptionCode::BINDING_STATUS,
    OptionCode::CLIENT_IDENTIFIER,
    OptionCode::CLIENT_HARDWARE_ADDRESS,
    OptionCode::LEASE_EXPIRATION_TIME,
    OptionCode::POTENTIAL_EXPIRATION_TIME,
    OptionCode::START_TIME_OF_STATE,
    OptionCode::CLIENT_LAST_TRANSACTION_TIME,
    OptionCode::IP_FLAGS,
    OptionCode::REJECT_REASON,
    OptionCode::MESSAGE,
    OptionCode::MESSAGE_DIGEST,
]);

/// Codes that may not be message-level options of a BNDUPD/BNDACK: the table's per-binding
/// codes, and the digest (written by the writer).
const NOT_GLOBAL: CodeSet = {
    let mut set = CodeSet::EMPTY.with(OptionCode::MESSAGE_DIGEST);
    let mut i = 0;
    while i < OPTIONS.len() {
        if OPTIONS[i].per_binding {
            set = set.with(OPTIONS[i].code);
        }
        i += 1;
    }
    set
};

/// One binding of a BNDUPD or BNDACK (draft §7.1 table 7.1-1, §7.2): everything about one
/// address. Every field but the address is optional; what a status requires is the endpoint's
/// judgement (ISC rejects an update without binding-status, or ACTIVE/EXPIRED/RELEASED without
/// client-hardware-address, with reason 3). Fields are emitted in declaration order — ISC's
/// order — then `others`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingRepr<'a> {
    /// assigned-IP-address (2): the address, and the start of the binding.
    pub address: Ipv4Addr,
    /// binding-status (3), in the message's dialect.
    pub status: Option<WireStatus>,
    /// client-identifier (4): the client's DHCP option 61, raw (type byte included).
    pub client_identifier: Option<&'a [u8]>,
    /// client-hardware-address (5).
    pub client_hardware_address: Option<HardwareAddress<'a>>,
    /// lease-expiration-time (13): lease end told to the client. ISC always sends it, 0 for
    /// an address never leased.
    pub lease_expiration_time: Option<u32>,
    /// potential-expiration-time (18). ISC always sends it.
    pub potential_expiration_time: Option<u32>,
    /// start-time-of-state (25) of the binding.
    pub start_time_of_state: Option<u32>,
    /// client-last-transaction-time (6).
    pub client_last_transaction_time: Option<u32>,
    /// IP-flags (12), in the message's dialect. ISC sends it only when non-zero.
    pub ip_flags: Option<WireFlags>,
    /// reject-reason (21): in a BNDACK, this binding was refused.
    pub reject_reason: Option<RejectReason>,
    /// message (16): text for the reject.
    pub message: Option<&'a [u8]>,
    /// Every other option of this binding, in wire order: client request/reply options, DDNS,
    /// Microsoft 31–41, unknown codes.
    pub others: OptionList<'a>,
}

impl<'a> BindingRepr<'a> {
    /// A binding with only its address.
    pub fn new(address: Ipv4Addr) -> Self {
        BindingRepr {
            address,
            status: None,
            client_identifier: None,
            client_hardware_address: None,
            lease_expiration_time: None,
            potential_expiration_time: None,
            start_time_of_state: None,
            client_last_transaction_time: None,
            ip_flags: None,
            reject_reason: None,
            message: None,
            others: OptionList::EMPTY,
        }
    }

    /// Reads one binding: `region` starts with its assigned-IP-address and holds no other.
    fn parse_region(region: &'a [u8], opts: ParseOptions) -> Result<Self, FailoverError> {
        let mut options = OptionIter::new(region);
        let mut address = None;
        if let Some(first) = options.next() {
            decode_into(&mut address, first, opts)?;
        }
        let Some(address) = address else {
            return Err(FailoverError::NoBinding);
        };
        let mut b = BindingRepr::new(address);
        b.others = OptionList::hiding(region, BINDING_TYPED);
        for o in options {
            match o.code {
                OptionCode::BINDING_STATUS => decode_into(&mut b.status, o, opts)?,
                OptionCode::CLIENT_IDENTIFIER => decode_into(&mut b.client_identifier, o, opts)?,
                OptionCode::CLIENT_HARDWARE_ADDRESS => {
                    decode_into(&mut b.client_hardware_address, o, opts)?
                }
                OptionCode::LEASE_EXPIRATION_TIME => {
                    decode_into(&mut b.lease_expiration_time, o, opts)?
                }
                OptionCode::POTENTIAL_EXPIRATION_TIME => {
                    decode_into(&mut b.potential_expiration_time, o, opts)?
                }
                OptionCode::START_TIME_OF_STATE => {
                    decode_into(&mut b.start_time_of_state, o, opts)?
                }
                OptionCode::CLIENT_LAST_TRANSACTION_TIME => {
                    decode_into(&mut b.client_last_transaction_time, o, opts)?
                }
                OptionCode::IP_FLAGS => decode_into(&mut b.ip_flags, o, opts)?,
                OptionCode::REJECT_REASON => decode_into(&mut b.reject_reason, o, opts)?,
                OptionCode::MESSAGE => decode_into(&mut b.message, o, opts)?,
                _ => {}
            }
        }
        Ok(b)
    }

    /// Bytes the binding takes in a message.
    pub fn buffer_len(&self) -> usize {
        8 + field_len(&self.status)
            + field_len(&self.client_identifier)
            + field_len(&self.client_hardware_address)
            + field_len(&self.lease_expiration_time)
            + field_len(&self.potential_expiration_time)
            + field_len(&self.start_time_of_state)
            + field_len(&self.client_last_transaction_time)
            + field_len(&self.ip_flags)
            + field_len(&self.reject_reason)
            + field_len(&self.message)
            + self.others.wire_len()
    }

    /// Appends the binding; on error the writer is as it was.
    fn write(&self, w: &mut MessageWriter<'_>, dialect: Dialect) -> Result<(), EmitError> {
        let mark = w.mark();
        let result = self.write_fields(w, dialect);
        if result.is_err() {
            w.truncate(mark);
        }
        result
    }

    fn write_fields(&self, w: &mut MessageWriter<'_>, d: Dialect) -> Result<(), EmitError> {
        w.field(OptionCode::ASSIGNED_IP_ADDRESS, &self.address, d)?;
        w.opt_field(OptionCode::BINDING_STATUS, &self.status, d)?;
        w.opt_field(OptionCode::CLIENT_IDENTIFIER, &self.client_identifier, d)?;
        w.opt_field(
            OptionCode::CLIENT_HARDWARE_ADDRESS,
            &self.client_hardware_address,
            d,
        )?;
        w.opt_field(
            OptionCode::LEASE_EXPIRATION_TIME,
            &self.lease_expiration_time,
            d,
        )?;
        w.opt_field(
            OptionCode::POTENTIAL_EXPIRATION_TIME,
            &self.potential_expiration_time,
            d,
        )?;
        w.opt_field(
            OptionCode::START_TIME_OF_STATE,
            &self.start_time_of_state,
            d,
        )?;
        w.opt_field(
            OptionCode::CLIENT_LAST_TRANSACTION_TIME,
            &self.client_last_transaction_time,
            d,
        )?;
        w.opt_field(OptionCode::IP_FLAGS, &self.ip_flags, d)?;
        w.opt_field(OptionCode::REJECT_REASON, &self.reject_reason, d)?;
        w.opt_field(OptionCode::MESSAGE, &self.message, d)?;
        w.list(&self.others, BINDING_TYPED)
    }
}

/// Splits the options from the first assigned-IP-address on into one slice per binding.
#[derive(Clone, Debug)]
struct Regions<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Regions<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.bytes.get(self.at..).filter(|r| !r.is_empty())?;
        let mut options = OptionIter::new(rest);
        options.next()?;
        let mut end = options.offset();
        for o in options.by_ref() {
            if o.code == OptionCode::ASSIGNED_IP_ADDRESS {
                break;
            }
            end += o.wire_len();
        }
        self.at += end;
        rest.get(..end)
    }
}

#[derive(Clone, Copy)]
enum Source<'a> {
    /// The checked options of a received message, from the first assigned-IP-address on.
    Wire {
        region: &'a [u8],
        opts: ParseOptions,
    },
    /// Bindings the caller built.
    Slice(&'a [BindingRepr<'a>]),
}

/// The bindings of a BNDUPD/BNDACK: borrowed from the received message, or a slice of reprs to
/// send. Two are equal when they yield equal bindings in the same order.
#[derive(Clone, Copy)]
pub struct Bindings<'a>(Source<'a>);

impl<'a> Bindings<'a> {
    /// Bindings to send.
    pub fn from_slice(bindings: &'a [BindingRepr<'a>]) -> Bindings<'a> {
        Bindings(Source::Slice(bindings))
    }

    /// The bindings in order.
    pub fn iter(&self) -> BindingIter<'a> {
        BindingIter(match self.0 {
            Source::Wire { region, opts } => IterSource::Wire(
                Regions {
                    bytes: region,
                    at: 0,
                },
                opts,
            ),
            Source::Slice(s) => IterSource::Slice(s.iter()),
        })
    }

    /// How many.
    pub fn len(&self) -> usize {
        match self.0 {
            Source::Wire { region, .. } => Regions {
                bytes: region,
                at: 0,
            }
            .count(),
            Source::Slice(s) => s.len(),
        }
    }

    /// True when there are none (never, for a parsed message).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for Bindings<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Bindings<'_> {}

impl fmt::Debug for Bindings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &Bindings<'a> {
    type Item = BindingRepr<'a>;
    type IntoIter = BindingIter<'a>;

    fn into_iter(self) -> BindingIter<'a> {
        self.iter()
    }
}

#[derive(Clone, Debug)]
enum IterSource<'a> {
    Wire(Regions<'a>, ParseOptions),
    Slice(core::slice::Iter<'a, BindingRepr<'a>>),
}

/// Iterator over [`Bindings`].
#[derive(Clone, Debug)]
pub struct BindingIter<'a>(IterSource<'a>);

impl<'a> Iterator for BindingIter<'a> {
    type Item = BindingRepr<'a>;

    fn next(&mut self) -> Option<BindingRepr<'a>> {
        match &mut self.0 {
            // Every region was parsed once by `parse_with`, so this cannot fail; if it did,
            // the iteration ends rather than panics.
            IterSource::Wire(regions, opts) => {
                BindingRepr::parse_region(regions.next()?, *opts).ok()
            }
            IterSource::Slice(s) => s.next().copied(),
        }
    }
}

/// Reads the layout of a BNDUPD/BNDACK: its globals and the bindings' region.
fn parse_batch<'a, T: AsRef<[u8]>>(
    msg: &'a FailoverMessage<T>,
    expected: MessageType,
    opts: ParseOptions,
) -> Result<(OptionList<'a>, Bindings<'a>), FailoverError> {
    check_message(msg, expected)?;
    let bytes = msg.options_bytes();
    let mut options = OptionIter::new(bytes);
    let first = loop {
        let at = options.offset();
        let Some(o) = options.next() else {
            return Err(FailoverError::NoBinding);
        };
        if o.code == OptionCode::ASSIGNED_IP_ADDRESS {
            break at;
        }
        if o.code.is_per_binding() {
            return Err(FailoverError::OptionBeforeFirstBinding { code: o.code });
        }
    };
    let (head, region) = bytes.split_at(first);
    let mut count = 0usize;
    for r in (Regions {
        bytes: region,
        at: 0,
    }) {
        count += 1;
        if count > 1 && opts.batching == Batching::Reject {
            return Err(FailoverError::BatchNotAllowed);
        }
        BindingRepr::parse_region(r, opts)?;
    }
    let globals = OptionList::hiding(head, CodeSet::EMPTY.with(OptionCode::MESSAGE_DIGEST));
    Ok((globals, Bindings(Source::Wire { region, opts })))
}

/// Declares BNDUPD and BNDACK, which differ only in their type.
macro_rules! batch_message {
    ($(#[$doc:meta])* $repr:ident = $msg:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $repr<'a> {
            /// Time and xid.
            pub header: Header,
            /// How the bindings' status and IP-flags are encoded.
            pub dialect: Dialect,
            /// Message-level options before the first binding (a message-digest excluded).
            pub globals: OptionList<'a>,
            /// The bindings, at least one.
            pub bindings: Bindings<'a>,
        }

        impl<'a> $repr<'a> {
            /// The message type.
            pub const MESSAGE_TYPE: MessageType = MessageType::$msg;

            /// A message of `bindings`, without globals.
            pub fn new(header: Header, dialect: Dialect, bindings: &'a [BindingRepr<'a>]) -> Self {
                $repr {
                    header,
                    dialect,
                    globals: OptionList::EMPTY,
                    bindings: Bindings::from_slice(bindings),
                }
            }

            /// Reads a checked message: besides the errors of every repr,
            /// [`FailoverError::NoBinding`], [`FailoverError::OptionBeforeFirstBinding`],
            /// and [`FailoverError::BatchNotAllowed`] under [`Batching::Reject`]. Repeats are
            /// judged per binding.
            pub fn parse_with<T: AsRef<[u8]>>(
                msg: &'a FailoverMessage<T>,
                opts: ParseOptions,
            ) -> Result<Self, FailoverError> {
                let (globals, bindings) = parse_batch(msg, Self::MESSAGE_TYPE, opts)?;
                Ok($repr {
                    header: msg.header(),
                    dialect: opts.dialect,
                    globals,
                    bindings,
                })
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
                self.globals.wire_len() + self.bindings.iter().map(|b| b.buffer_len()).sum::<usize>()
            }

            fn write_options(&self, w: &mut MessageWriter<'_>) -> Result<(), EmitError> {
                w.list(&self.globals, NOT_GLOBAL)?;
                let mut any = false;
                for b in self.bindings.iter() {
                    b.write(w, self.dialect)?;
                    any = true;
                }
                if any { Ok(()) } else { Err(EmitError::NoBinding) }
            }
        }

        repr_methods!($repr);
    };
}

batch_message! {
    /// BNDUPD (type 3, draft §7.1; notes §5.1): binding changes, one or more.
    BndUpdRepr = BndUpd
}

batch_message! {
    /// BNDACK (type 4, draft §7.2; notes §5.4), with the BNDUPD's xid: every binding of the
    /// BNDUPD by address, each with a reject-reason when refused. ISC 4.4.3 matches it to its
    /// BNDUPD by xid and reads only the first binding; echo nothing but the address (an echoed
    /// client-identifier makes ISC record a potential-expiration of 0, a bug in its
    /// `FTO_`/`FTB_` test).
    BndAckRepr = BndAck
}

/// How many bindings one BNDUPD/BNDACK may hold, and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchLimit {
    /// Most bindings per message.
    pub max_bindings: usize,
    /// Longest message, at most 2048.
    pub max_len: usize,
}

impl BatchLimit {
    /// ISC dhcpd 4.4.3: one binding per message (a second assigned-IP-address is a
    /// "duplicate option" and drops the session).
    pub const ISC: BatchLimit = BatchLimit {
        max_bindings: 1,
        max_len: MAX_MESSAGE_LEN,
    };
    /// Windows: at most 16 ([MS-DHCPF] §3.1.4.2; further bindings are ignored).
    pub const MICROSOFT: BatchLimit = BatchLimit {
        max_bindings: 16,
        max_len: MAX_MESSAGE_LEN,
    };
    /// Draft-12: as many as fit in 2048 bytes.
    pub const DRAFT: BatchLimit = BatchLimit {
        max_bindings: usize::MAX,
        max_len: MAX_MESSAGE_LEN,
    };
}

/// Builds a BNDUPD or BNDACK in place, one binding at a time, up to a [`BatchLimit`].
#[derive(Debug)]
pub struct BatchWriter<'b> {
    w: MessageWriter<'b>,
    dialect: Dialect,
    limit: BatchLimit,
    count: usize,
}

impl<'b> BatchWriter<'b> {
    /// Starts a BNDUPD.
    pub fn bnd_upd(
        buf: &'b mut [u8],
        header: Header,
        dialect: Dialect,
        limit: BatchLimit,
    ) -> Result<BatchWriter<'b>, EmitError> {
        BatchWriter::new(buf, MessageType::BndUpd, header, dialect, limit)
    }

    /// Starts a BNDACK (give it the BNDUPD's xid).
    pub fn bnd_ack(
        buf: &'b mut [u8],
        header: Header,
        dialect: Dialect,
        limit: BatchLimit,
    ) -> Result<BatchWriter<'b>, EmitError> {
        BatchWriter::new(buf, MessageType::BndAck, header, dialect, limit)
    }

    fn new(
        buf: &'b mut [u8],
        msg_type: MessageType,
        header: Header,
        dialect: Dialect,
        limit: BatchLimit,
    ) -> Result<BatchWriter<'b>, EmitError> {
        let mut w = MessageWriter::new(buf, msg_type, header)?;
        w.limit_to(limit.max_len);
        Ok(BatchWriter {
            w,
            dialect,
            limit,
            count: 0,
        })
    }

    /// Reserves the message-digest (before any binding), for
    /// [`finish_signed`](BatchWriter::finish_signed).
    pub fn reserve_digest(&mut self, digest_type: DigestType) -> Result<(), EmitError> {
        self.w.reserve_digest(digest_type)
    }

    /// Appends a binding. [`EmitError::BatchFull`] when the limit's count is reached or the
    /// binding does not fit in the rest of the message (a binding that does not fit even in
    /// an empty message gets the size error itself); on any error the message is as it was.
    pub fn push(&mut self, binding: &BindingRepr<'_>) -> Result<(), EmitError> {
        if self.count >= self.limit.max_bindings {
            return Err(EmitError::BatchFull);
        }
        match binding.write(&mut self.w, self.dialect) {
            Ok(()) => {
                self.count += 1;
                Ok(())
            }
            Err(EmitError::TooLong { .. } | EmitError::BufferTooSmall { .. }) if self.count > 0 => {
                Err(EmitError::BatchFull)
            }
            Err(e) => Err(e),
        }
    }

    /// Bindings written so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// True when no binding has been written.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes written so far.
    pub fn message_len(&self) -> usize {
        self.w.message_len()
    }

    /// Finishes the message; [`EmitError::NoBinding`] if it has none.
    pub fn finish(self) -> Result<usize, EmitError> {
        if self.count == 0 {
            return Err(EmitError::NoBinding);
        }
        Ok(self.w.finish())
    }

    /// Finishes and signs the message (see [`reserve_digest`](BatchWriter::reserve_digest)).
    pub fn finish_signed(self, key: &DigestKey<'_>) -> Result<usize, EmitError> {
        if self.count == 0 {
            return Err(EmitError::NoBinding);
        }
        self.w.finish_signed(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::repr::Duplicates;
    use crate::failover::value::{BindingStatus, IpFlags, MsBindingStatus};

    const H: Header = Header { time: 100, xid: 6 };

    fn addr(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, last)
    }

    fn backup(last: u8) -> BindingRepr<'static> {
        BindingRepr {
            status: Some(WireStatus::Draft(BindingStatus::Backup)),
            lease_expiration_time: Some(0),
            potential_expiration_time: Some(100),
            start_time_of_state: Some(100),
            ..BindingRepr::new(addr(last))
        }
    }

    #[test]
    fn a_batch_round_trips() {
        let active = BindingRepr {
            status: Some(WireStatus::Draft(BindingStatus::Active)),
            client_identifier: Some(&[1, 2, 0, 0, 0, 0, 1]),
            client_hardware_address: Some(HardwareAddress {
                htype: 1,
                chaddr: &[2, 0, 0, 0, 0, 1],
            }),
            client_last_transaction_time: Some(99),
            ip_flags: Some(WireFlags::Draft(IpFlags(IpFlags::RESERVED))),
            ..backup(101)
        };
        let list = [backup(100), active, backup(102)];
        let upd = BndUpdRepr::new(H, Dialect::Draft, &list);
        let mut buf = [0u8; 512];
        let n = upd.emit(&mut buf).unwrap();
        assert_eq!(n, upd.buffer_len());
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        let back = BndUpdRepr::parse(&msg).unwrap();
        assert_eq!(back, upd);
        assert_eq!(back.bindings.len(), 3);
        assert!(
            back.bindings
                .iter()
                .map(|b| b.address)
                .eq([addr(100), addr(101), addr(102)])
        );
        // ISC's strictness refuses the batch.
        assert_eq!(
            BndUpdRepr::parse_with(&msg, ParseOptions::ISC),
            Err(FailoverError::BatchNotAllowed)
        );
        // The first binding alone is fine for ISC.
        let one = BndUpdRepr::new(H, Dialect::Draft, &list[..1]);
        let n = one.emit(&mut buf).unwrap();
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            BndUpdRepr::parse_with(&msg, ParseOptions::ISC).unwrap(),
            one
        );
    }

    #[test]
    fn layout_errors() {
        let mut buf = [0u8; 128];
        // Binding-status before any address.
        let mut w = MessageWriter::new(&mut buf, MessageType::BndUpd, H).unwrap();
        w.option_u8(OptionCode::BINDING_STATUS, 2).unwrap();
        w.option_ipv4(OptionCode::ASSIGNED_IP_ADDRESS, addr(1))
            .unwrap();
        let n = w.finish();
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            BndUpdRepr::parse(&msg),
            Err(FailoverError::OptionBeforeFirstBinding {
                code: OptionCode::BINDING_STATUS
            })
        );
        // No address at all, only a global.
        let mut w = MessageWriter::new(&mut buf, MessageType::BndAck, H).unwrap();
        w.option(OptionCode::VENDOR_CLASS_IDENTIFIER, b"x").unwrap();
        let n = w.finish();
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(BndAckRepr::parse(&msg), Err(FailoverError::NoBinding));
        // An empty BNDUPD.
        let w = MessageWriter::new(&mut buf, MessageType::BndUpd, H).unwrap();
        let n = w.finish();
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(BndUpdRepr::parse(&msg), Err(FailoverError::NoBinding));
    }

    #[test]
    fn globals_and_repeats() {
        let mut buf = [0u8; 128];
        let mut w = MessageWriter::new(&mut buf, MessageType::BndUpd, H).unwrap();
        w.option(OptionCode::VENDOR_CLASS_IDENTIFIER, b"v").unwrap();
        w.option_ipv4(OptionCode::ASSIGNED_IP_ADDRESS, addr(1))
            .unwrap();
        w.option_u8(OptionCode::BINDING_STATUS, 2).unwrap();
        w.option_u8(OptionCode::BINDING_STATUS, 3).unwrap();
        w.option_ipv4(OptionCode::ASSIGNED_IP_ADDRESS, addr(2))
            .unwrap();
        w.option_u8(OptionCode::BINDING_STATUS, 3).unwrap();
        let n = w.finish();
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            BndUpdRepr::parse(&msg),
            Err(FailoverError::DuplicateOption {
                code: OptionCode::BINDING_STATUS
            })
        );
        let opts = ParseOptions {
            duplicates: Duplicates::FirstWins,
            ..ParseOptions::DRAFT
        };
        let upd = BndUpdRepr::parse_with(&msg, opts).unwrap();
        assert_eq!(
            upd.globals.get(OptionCode::VENDOR_CLASS_IDENTIFIER),
            Some(&b"v"[..])
        );
        let statuses: [Option<u8>; 2] = [Some(2), Some(3)];
        assert!(
            upd.bindings
                .iter()
                .map(|b| b.status.map(|s| s.to_wire()))
                .eq(statuses)
        );
        // The same status in two different bindings is no repeat.
        assert!(upd.bindings.iter().all(|b| b.others.is_empty()));
    }

    #[test]
    fn dialects_are_not_mixed() {
        let ms = BindingRepr {
            status: Some(WireStatus::Microsoft(MsBindingStatus(1))),
            ..BindingRepr::new(addr(1))
        };
        let list = [ms];
        let mut buf = [0u8; 128];
        let draft = BndUpdRepr::new(H, Dialect::Draft, &list);
        assert_eq!(draft.emit(&mut buf), Err(EmitError::DialectMismatch));
        let good = BndUpdRepr::new(H, Dialect::Microsoft, &list);
        let n = good.emit(&mut buf).unwrap();
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            BndUpdRepr::parse_with(&msg, ParseOptions::MICROSOFT).unwrap(),
            good
        );
        let as_draft = BndUpdRepr::parse(&msg).unwrap();
        assert_eq!(
            as_draft.bindings.iter().next().unwrap().status,
            Some(WireStatus::Draft(BindingStatus::Free))
        );
        let mut w = BatchWriter::bnd_upd(&mut buf, H, Dialect::Draft, BatchLimit::DRAFT).unwrap();
        assert_eq!(w.push(&ms), Err(EmitError::DialectMismatch));
        assert_eq!(w.message_len(), 12);
    }

    #[test]
    fn batch_writer_keeps_to_its_limits() {
        let mut buf = [0u8; 2048];
        let mut w = BatchWriter::bnd_upd(&mut buf, H, Dialect::Draft, BatchLimit::ISC).unwrap();
        assert!(w.is_empty());
        w.push(&backup(1)).unwrap();
        assert_eq!(w.push(&backup(2)), Err(EmitError::BatchFull));
        let n = w.finish().unwrap();
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            BndUpdRepr::parse_with(&msg, ParseOptions::ISC)
                .unwrap()
                .bindings
                .len(),
            1
        );

        let mut w =
            BatchWriter::bnd_upd(&mut buf, H, Dialect::Microsoft, BatchLimit::MICROSOFT).unwrap();
        let b = BindingRepr::new(addr(9));
        for _ in 0..16 {
            w.push(&b).unwrap();
        }
        assert_eq!(w.push(&b), Err(EmitError::BatchFull));
        assert_eq!(w.count(), 16);

        // Size: 8 + 5 + 8 + 8 + 8 = 37 bytes per backup binding; 2036 / 37 = 55 fit.
        let mut w = BatchWriter::bnd_upd(&mut buf, H, Dialect::Draft, BatchLimit::DRAFT).unwrap();
        while w.push(&backup(3)).is_ok() {}
        assert_eq!(w.count(), 55);
        let n = w.finish().unwrap();
        assert_eq!(n, 12 + 55 * 37);
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(BndUpdRepr::parse(&msg).unwrap().bindings.len(), 55);
    }

    #[test]
    fn batch_writer_edge_cases() {
        let mut buf = [0u8; 27];
        let w = BatchWriter::bnd_ack(&mut buf, H, Dialect::Draft, BatchLimit::DRAFT).unwrap();
        assert_eq!(w.finish(), Err(EmitError::NoBinding));
        // A binding larger than the whole buffer gets the size error, not BatchFull.
        let mut w = BatchWriter::bnd_ack(&mut buf, H, Dialect::Draft, BatchLimit::DRAFT).unwrap();
        assert!(matches!(
            w.push(&backup(1)),
            Err(EmitError::BufferTooSmall { .. })
        ));
        w.push(&BindingRepr::new(addr(1))).unwrap();
        assert_eq!(
            w.push(&BindingRepr::new(addr(2))),
            Err(EmitError::BatchFull)
        );
        assert_eq!(w.finish(), Ok(20));
    }

    #[test]
    fn signed_batches() {
        let key = DigestKey::hmac_sha256(b"k");
        let mut buf = [0u8; 256];
        let mut w = BatchWriter::bnd_upd(&mut buf, H, Dialect::Draft, BatchLimit::DRAFT).unwrap();
        w.reserve_digest(DigestType::HmacSha256).unwrap();
        w.push(&backup(1)).unwrap();
        w.push(&backup(2)).unwrap();
        let n = w.finish_signed(&key).unwrap();
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(crate::failover::digest::verify(&msg, Some(&key)), Ok(()));
        // The digest is neither a global nor part of a binding.
        let upd = BndUpdRepr::parse(&msg).unwrap();
        assert!(upd.globals.is_empty());
        let list = [backup(1), backup(2)];
        assert_eq!(upd, BndUpdRepr::new(H, Dialect::Draft, &list));
        let mut again = [0u8; 256];
        assert_eq!(upd.emit_signed(&mut again, &key), Ok(n));
        assert_eq!(&again[..n], &buf[..n]);
    }

    #[test]
    fn globals_may_not_hold_binding_options() {
        let raw = [0, 3, 0, 1, 2];
        let list = [backup(1)];
        let mut upd = BndUpdRepr::new(H, Dialect::Draft, &list);
        upd.globals = OptionList::new(&raw).unwrap();
        let mut buf = [0u8; 128];
        assert_eq!(
            upd.emit(&mut buf),
            Err(EmitError::ReservedOption {
                code: OptionCode::BINDING_STATUS
            })
        );
        let empty = BndUpdRepr::new(H, Dialect::Draft, &[]);
        assert_eq!(empty.emit(&mut buf), Err(EmitError::NoBinding));
    }
}

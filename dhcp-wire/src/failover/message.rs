//! The 12-byte message header (draft §6.1) and the checked view of one whole message.

use core::fmt;
use core::ops::Range;

use super::error::FailoverError;
use super::option::{OptionCode, OptionIter, check_tlvs};

/// Byte ranges of the header fields, all big-endian.
pub mod field {
    use core::ops::Range;

    /// Message length, header included.
    pub const LENGTH: Range<usize> = 0..2;
    /// Message type.
    pub const TYPE: usize = 2;
    /// Payload offset: bytes from the start of the message to the first option.
    pub const PAYLOAD_OFFSET: usize = 3;
    /// Sender's clock, seconds since 1970, unsigned.
    pub const TIME: Range<usize> = 4..8;
    /// Transaction id.
    pub const XID: Range<usize> = 8..12;
}

/// Length of the header: 2 + 1 + 1 + 4 + 4. Draft-12 §6.1 says the payload offset is 8, which
/// contradicts its own layout; ISC writes 12, and an 8 makes ISC drop the session.
pub const HEADER_LEN: usize = 12;
/// Longest message (draft §6.1; ISC drops the session above it).
pub const MAX_MESSAGE_LEN: usize = 2048;
/// The payload offset we write. On receipt any offset from 12 to the message length is
/// honoured (bytes between the header and the offset are skipped), below 12 is malformed.
pub const PAYLOAD_OFFSET: u8 = 12;

/// Message type (draft §6.1, table 1.4 of the notes). Every `u8` is representable: codes
/// without a name are kept as `Unknown`, so that the endpoint can apply the draft's rule —
/// an unknown type below 128 closes the connection, 128 and up is ignored
/// ([`MessageType::is_mandatory`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 1: POOLREQ, the secondary asks for BACKUP addresses (draft §7.6).
    PoolReq,
    /// 2: POOLRESP, how many were given (draft §7.7).
    PoolResp,
    /// 3: BNDUPD, binding change(s) (draft §7.1).
    BndUpd,
    /// 4: BNDACK, accept/reject per binding (draft §7.2).
    BndAck,
    /// 5: CONNECT, primary opens the session (draft §7.8).
    Connect,
    /// 6: CONNECTACK, secondary accepts or rejects it (draft §7.9).
    ConnectAck,
    /// 7: UPDREQALL, "send me every binding" (draft §7.4).
    UpdReqAll,
    /// 8: UPDDONE, the requested updates are all sent and acked (draft §7.5).
    UpdDone,
    /// 9: UPDREQ, "send me what I have not acked" (draft §7.3).
    UpdReq,
    /// 10: STATE, the sender's failover state (draft §7.10).
    State,
    /// 11: CONTACT, keep-alive (draft §7.11).
    Contact,
    /// 12: DISCONNECT, last message before a close (draft §7.12).
    Disconnect,
    /// Any other code (0, 13..=255).
    Unknown(u8),
}

impl MessageType {
    /// The twelve known types, in code order.
    pub const ALL: [MessageType; 12] = [
        MessageType::PoolReq,
        MessageType::PoolResp,
        MessageType::BndUpd,
        MessageType::BndAck,
        MessageType::Connect,
        MessageType::ConnectAck,
        MessageType::UpdReqAll,
        MessageType::UpdDone,
        MessageType::UpdReq,
        MessageType::State,
        MessageType::Contact,
        MessageType::Disconnect,
    ];

    /// From the wire value.
    pub const fn from_wire(code: u8) -> MessageType {
        match code {
            1 => MessageType::PoolReq,
            2 => MessageType::PoolResp,
            3 => MessageType::BndUpd,
            4 => MessageType::BndAck,
            5 => MessageType::Connect,
            6 => MessageType::ConnectAck,
            7 => MessageType::UpdReqAll,
            8 => MessageType::UpdDone,
            9 => MessageType::UpdReq,
            10 => MessageType::State,
            11 => MessageType::Contact,
            12 => MessageType::Disconnect,
            other => MessageType::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn to_wire(self) -> u8 {
        match self {
            MessageType::PoolReq => 1,
            MessageType::PoolResp => 2,
            MessageType::BndUpd => 3,
            MessageType::BndAck => 4,
            MessageType::Connect => 5,
            MessageType::ConnectAck => 6,
            MessageType::UpdReqAll => 7,
            MessageType::UpdDone => 8,
            MessageType::UpdReq => 9,
            MessageType::State => 10,
            MessageType::Contact => 11,
            MessageType::Disconnect => 12,
            MessageType::Unknown(code) => code,
        }
    }

    /// Draft §6.1: types 0–127 are mandatory — a receiver that does not know one MUST close
    /// the connection; 128–255 are optional and an unknown one is ignored. (ISC 4.4.3 is
    /// laxer: an unknown type is fatal only when the message carries an option.)
    pub const fn is_mandatory(self) -> bool {
        self.to_wire() < 128
    }

    /// The draft's name (`BNDUPD`), or `UNKNOWN` for a code without one.
    pub const fn name(self) -> &'static str {
        match self {
            MessageType::PoolReq => "POOLREQ",
            MessageType::PoolResp => "POOLRESP",
            MessageType::BndUpd => "BNDUPD",
            MessageType::BndAck => "BNDACK",
            MessageType::Connect => "CONNECT",
            MessageType::ConnectAck => "CONNECTACK",
            MessageType::UpdReqAll => "UPDREQALL",
            MessageType::UpdDone => "UPDDONE",
            MessageType::UpdReq => "UPDREQ",
            MessageType::State => "STATE",
            MessageType::Contact => "CONTACT",
            MessageType::Disconnect => "DISCONNECT",
            MessageType::Unknown(_) => "UNKNOWN",
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageType::Unknown(code) => write!(f, "type-{code}"),
            known => f.write_str(known.name()),
        }
    }
}

/// The header fields a message repr chooses: the sender's clock and the transaction id. The
/// length and payload offset are computed on emit, the type comes from the repr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Header {
    /// Sender's wall clock, seconds since 1970 (unsigned; wraps in 2106).
    pub time: u32,
    /// Transaction id. Replies (POOLRESP, BNDACK, CONNECTACK, UPDDONE) copy the request's.
    pub xid: u32,
}

/// The length of the next message in a TCP byte stream, from its first bytes: `Ok(None)`
/// until the 2-byte length field has arrived, then the whole message's length. A length
/// outside 12..=2048 is an error, and the draft's answer to it is closing the connection,
/// since the stream cannot be re-synchronised.
pub fn frame_len(stream: &[u8]) -> Result<Option<usize>, FailoverError> {
    let Some(&[hi, lo]) = stream.get(field::LENGTH) else {
        return Ok(None);
    };
    let length = u16::from_be_bytes([hi, lo]);
    check_length_field(length)?;
    Ok(Some(usize::from(length)))
}

fn check_length_field(length: u16) -> Result<(), FailoverError> {
    if usize::from(length) < HEADER_LEN {
        return Err(FailoverError::LengthTooSmall { length });
    }
    if usize::from(length) > MAX_MESSAGE_LEN {
        return Err(FailoverError::LengthTooLarge { length });
    }
    Ok(())
}

/// One failover message in a buffer that holds exactly it. [`FailoverMessage::new_checked`]
/// checks the header and the option framing once (every option's 4-byte header and value lie
/// inside the message); after that no accessor can panic and [`FailoverMessage::options`]
/// cannot stop early. Option contents (lengths of known options, duplicates, batches) are
/// judged by the typed reprs, which is where a policy applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailoverMessage<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FailoverMessage<T> {
    /// Checks, in order: at least 12 bytes; length field within 12..=2048; length field equal
    /// to the buffer's length; payload offset within 12..=length; the options between the
    /// offset and the end framed without overrun.
    pub fn new_checked(buffer: T) -> Result<Self, FailoverError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(FailoverError::Truncated { len: b.len() });
        }
        let length = u16::from_be_bytes([b[0], b[1]]);
        check_length_field(length)?;
        if usize::from(length) != b.len() {
            return Err(FailoverError::LengthMismatch {
                length,
                buffer: b.len(),
            });
        }
        let offset = b[field::PAYLOAD_OFFSET];
        if usize::from(offset) < HEADER_LEN || offset as u16 > length {
            return Err(FailoverError::BadPayloadOffset { offset, length });
        }
        check_tlvs(&b[usize::from(offset)..], usize::from(offset))?;
        Ok(FailoverMessage { buffer })
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn array<const N: usize>(&self, range: Range<usize>) -> [u8; N] {
        self.buffer
            .as_ref()
            .get(range)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .unwrap_or([0; N])
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    /// Message length, header included (equal to the buffer's length).
    pub fn length(&self) -> u16 {
        u16::from_be_bytes(self.array(field::LENGTH))
    }

    /// Message type.
    pub fn message_type(&self) -> MessageType {
        MessageType::from_wire(self.byte(field::TYPE))
    }

    /// Payload offset as received (12 from every sender we know).
    pub fn payload_offset(&self) -> u8 {
        self.byte(field::PAYLOAD_OFFSET)
    }

    /// Sender's clock.
    pub fn time(&self) -> u32 {
        u32::from_be_bytes(self.array(field::TIME))
    }

    /// Transaction id.
    pub fn xid(&self) -> u32 {
        u32::from_be_bytes(self.array(field::XID))
    }

    /// Time and xid together.
    pub fn header(&self) -> Header {
        Header {
            time: self.time(),
            xid: self.xid(),
        }
    }

    /// The option bytes: from the payload offset to the end.
    pub fn options_bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(usize::from(self.payload_offset())..).unwrap_or(&[])
    }

    /// Every option in wire order, known or not, repeated or not.
    pub fn options(&self) -> OptionIter<'_> {
        OptionIter::new(self.options_bytes())
    }

    /// The value of the first option with this code.
    pub fn option(&self, code: OptionCode) -> Option<&[u8]> {
        self.options().find(|o| o.code == code).map(|o| o.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(bytes: &[u8]) -> Result<FailoverMessage<&[u8]>, FailoverError> {
        FailoverMessage::new_checked(bytes)
    }

    #[test]
    fn reads_the_header() {
        let b = [0, 16, 11, 12, 0x6b, 9, 0xc5, 0x94, 0, 0, 0, 7, 0, 99, 0, 0];
        let m = msg(&b).unwrap();
        assert_eq!(m.length(), 16);
        assert_eq!(m.message_type(), MessageType::Contact);
        assert_eq!(m.payload_offset(), 12);
        assert_eq!(m.time(), 0x6b09_c594);
        assert_eq!(m.xid(), 7);
        assert_eq!(m.option(OptionCode(99)), Some(&[][..]));
        assert_eq!(m.options().count(), 1);
    }

    #[test]
    fn refuses_bad_headers() {
        assert_eq!(
            msg(&[0, 12, 11, 12]).unwrap_err(),
            FailoverError::Truncated { len: 4 }
        );
        let mut b = [0u8; 12];
        b[1] = 11;
        b[3] = 12;
        assert_eq!(
            msg(&b).unwrap_err(),
            FailoverError::LengthTooSmall { length: 11 }
        );
        b[1] = 13;
        assert_eq!(
            msg(&b).unwrap_err(),
            FailoverError::LengthMismatch {
                length: 13,
                buffer: 12
            }
        );
        b[1] = 12;
        b[3] = 8;
        assert_eq!(
            msg(&b).unwrap_err(),
            FailoverError::BadPayloadOffset {
                offset: 8,
                length: 12
            }
        );
        b[3] = 13;
        assert!(matches!(
            msg(&b).unwrap_err(),
            FailoverError::BadPayloadOffset { offset: 13, .. }
        ));
        b[3] = 12;
        assert!(msg(&b).is_ok());
        let mut big = [0u8; 2049];
        big[0] = 0x08;
        big[1] = 0x01;
        assert_eq!(
            msg(&big).unwrap_err(),
            FailoverError::LengthTooLarge { length: 2049 }
        );
    }

    #[test]
    fn honours_a_larger_payload_offset() {
        // Offset 14: two header-extension bytes that look like an option but are skipped.
        let b = [
            0, 18, 11, 14, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 99, 0, 0,
        ];
        let m = msg(&b).unwrap();
        assert_eq!(m.options().count(), 1);
        assert_eq!(m.options().next().unwrap().code, OptionCode(99));
    }

    #[test]
    fn option_overruns_are_caught() {
        // Option header cut after the code.
        let b = [0, 14, 11, 12, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(
            msg(&b).unwrap_err(),
            FailoverError::OptionOverrun { at: 12 }
        );
        // Value one byte longer than what is left.
        let b = [0, 17, 11, 12, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 2, 9];
        assert_eq!(
            msg(&b).unwrap_err(),
            FailoverError::OptionOverrun { at: 12 }
        );
    }

    #[test]
    fn frames_a_stream() {
        assert_eq!(frame_len(&[]), Ok(None));
        assert_eq!(frame_len(&[0]), Ok(None));
        assert_eq!(frame_len(&[0, 109, 5]), Ok(Some(109)));
        assert_eq!(
            frame_len(&[0, 3]),
            Err(FailoverError::LengthTooSmall { length: 3 })
        );
        assert_eq!(
            frame_len(&[0x10, 0]),
            Err(FailoverError::LengthTooLarge { length: 4096 })
        );
    }

    #[test]
    fn message_types_round_trip() {
        for code in 0..=255u8 {
            let t = MessageType::from_wire(code);
            assert_eq!(t.to_wire(), code);
            assert_eq!(t.is_mandatory(), code < 128);
            assert_eq!(
                matches!(t, MessageType::Unknown(_)),
                !(1..=12).contains(&code)
            );
        }
        assert_eq!(MessageType::ALL.len(), 12);
    }
}

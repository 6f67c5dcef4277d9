//! [`MessageWriter`]: builds one failover message in the caller's buffer, option by option.
//! The reprs and the batch writer use it; it is public for tests and tools that need to craft
//! a message no repr would (an interop probe, a malformed case).

use core::net::Ipv4Addr;

use super::digest::{self, DigestKey, DigestType};
use super::error::EmitError;
use super::message::{HEADER_LEN, Header, MAX_MESSAGE_LEN, MessageType, PAYLOAD_OFFSET, field};
use super::option::{CodeSet, OPTION_HEADER_LEN, OptionCode, OptionList};
use super::typed::Field;
use super::value::Dialect;

/// Writes a message: header first, then options in call order, then
/// [`finish`](MessageWriter::finish) fills in the length (or
/// [`finish_signed`](MessageWriter::finish_signed) also the digest). A call that fails leaves
/// the message as it was.
#[derive(Debug)]
pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    limit: usize,
    /// Where the digest option starts and its type, once reserved.
    digest: Option<(usize, DigestType)>,
}

impl<'b> MessageWriter<'b> {
    /// Starts a message of `msg_type` with payload offset 12. The message may grow to 2048
    /// bytes or the buffer's length, whichever is smaller.
    pub fn new(
        buf: &'b mut [u8],
        msg_type: MessageType,
        header: Header,
    ) -> Result<MessageWriter<'b>, EmitError> {
        let available = buf.len();
        let Some(head) = buf.get_mut(..HEADER_LEN) else {
            return Err(EmitError::BufferTooSmall {
                needed: HEADER_LEN,
                available,
            });
        };
        head.fill(0);
        head[field::TYPE] = msg_type.to_wire();
        head[field::PAYLOAD_OFFSET] = PAYLOAD_OFFSET;
        head[field::TIME].copy_from_slice(&header.time.to_be_bytes());
        head[field::XID].copy_from_slice(&header.xid.to_be_bytes());
        let limit = buf.len().min(MAX_MESSAGE_LEN);
        Ok(MessageWriter {
            buf,
            len: HEADER_LEN,
            limit,
            digest: None,
        })
    }

    /// Lowers the size limit (never above 2048 or the buffer).
    pub fn limit_to(&mut self, limit: usize) {
        self.limit = self.limit.min(limit).max(self.len);
    }

    /// Bytes written so far, header included.
    pub fn message_len(&self) -> usize {
        self.len
    }

    /// Bytes still free under the limit.
    pub fn room(&self) -> usize {
        self.limit - self.len
    }

    /// Reserves the message-digest option (draft §11.1: the first option) with a zeroed
    /// digest of `digest_type`'s size, to be computed by
    /// [`finish_signed`](MessageWriter::finish_signed).
    pub fn reserve_digest(&mut self, digest_type: DigestType) -> Result<(), EmitError> {
        if self.len != HEADER_LEN || self.digest.is_some() {
            return Err(EmitError::DigestNotFirst);
        }
        let digest_len = digest_type
            .digest_len()
            .ok_or(EmitError::DigestUnsupported {
                digest_type: digest_type.to_wire(),
            })?;
        let at = self.len;
        let value = self.reserve(OptionCode::MESSAGE_DIGEST, 1 + digest_len)?;
        value.fill(0);
        value[0] = digest_type.to_wire();
        self.digest = Some((at, digest_type));
        Ok(())
    }

    /// Appends a raw option. Known codes must obey their length rule; the digest goes through
    /// [`reserve_digest`](MessageWriter::reserve_digest).
    pub fn option(&mut self, code: OptionCode, value: &[u8]) -> Result<(), EmitError> {
        if code == OptionCode::MESSAGE_DIGEST {
            return Err(EmitError::ReservedOption { code });
        }
        if !code.allows_len(value.len()) {
            return Err(EmitError::BadOptionLength {
                code,
                length: value.len(),
            });
        }
        self.reserve(code, value.len())?.copy_from_slice(value);
        Ok(())
    }

    /// Appends a 1-byte option.
    pub fn option_u8(&mut self, code: OptionCode, value: u8) -> Result<(), EmitError> {
        self.option(code, &[value])
    }

    /// Appends a 2-byte option.
    pub fn option_u16(&mut self, code: OptionCode, value: u16) -> Result<(), EmitError> {
        self.option(code, &value.to_be_bytes())
    }

    /// Appends a 4-byte option (counts, durations, times).
    pub fn option_u32(&mut self, code: OptionCode, value: u32) -> Result<(), EmitError> {
        self.option(code, &value.to_be_bytes())
    }

    /// Appends an IPv4 address option.
    pub fn option_ipv4(&mut self, code: OptionCode, value: Ipv4Addr) -> Result<(), EmitError> {
        self.option(code, &value.octets())
    }

    /// Makes room for an option of `len` value bytes and writes its code/length header;
    /// returns the value bytes.
    fn reserve(&mut self, code: OptionCode, len: usize) -> Result<&mut [u8], EmitError> {
        let needed = self.len + OPTION_HEADER_LEN + len;
        if needed > self.limit {
            return Err(if needed > MAX_MESSAGE_LEN || self.limit < self.buf.len() {
                EmitError::TooLong {
                    needed,
                    limit: self.limit,
                }
            } else {
                EmitError::BufferTooSmall {
                    needed,
                    available: self.buf.len(),
                }
            });
        }
        let wire_len = u16::try_from(len).map_err(|_| EmitError::TooLong {
            needed,
            limit: self.limit,
        })?;
        let at = self.len;
        let out = self
            .buf
            .get_mut(at..needed)
            .ok_or(EmitError::BufferTooSmall {
                needed,
                available: 0,
            })?;
        out[..2].copy_from_slice(&code.0.to_be_bytes());
        out[2..4].copy_from_slice(&wire_len.to_be_bytes());
        self.len = needed;
        Ok(&mut out[OPTION_HEADER_LEN..])
    }

    /// Appends a typed field.
    pub(crate) fn field<'a, F: Field<'a>>(
        &mut self,
        code: OptionCode,
        value: &F,
        dialect: Dialect,
    ) -> Result<(), EmitError> {
        value.check(code, dialect)?;
        let out = self.reserve(code, value.wire_len())?;
        value.encode(out);
        Ok(())
    }

    /// Appends a typed field when present.
    pub(crate) fn opt_field<'a, F: Field<'a>>(
        &mut self,
        code: OptionCode,
        value: &Option<F>,
        dialect: Dialect,
    ) -> Result<(), EmitError> {
        match value {
            Some(v) => self.field(code, v, dialect),
            None => Ok(()),
        }
    }

    /// Appends a raw list, refusing codes the caller writes from typed fields.
    pub(crate) fn list(&mut self, list: &OptionList<'_>, typed: CodeSet) -> Result<(), EmitError> {
        let start = self.len;
        for o in list.iter() {
            let res = if typed.contains(o.code) {
                Err(EmitError::ReservedOption { code: o.code })
            } else {
                self.option(o.code, o.value)
            };
            if let Err(e) = res {
                self.len = start;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Appends a list as it is, without judging known codes' lengths: for a message of an
    /// unknown type, whose options mean nothing to us (see `UnknownRepr`).
    pub(crate) fn opaque_list(&mut self, list: &OptionList<'_>) -> Result<(), EmitError> {
        let start = self.len;
        for o in list.iter() {
            if o.code == OptionCode::MESSAGE_DIGEST {
                self.len = start;
                return Err(EmitError::ReservedOption { code: o.code });
            }
            match self.reserve(o.code, o.value.len()) {
                Ok(out) => out.copy_from_slice(o.value),
                Err(e) => {
                    self.len = start;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Current length, to roll back to with [`MessageWriter::truncate`].
    pub(crate) fn mark(&self) -> usize {
        self.len
    }

    /// Forgets everything written after `mark`.
    pub(crate) fn truncate(&mut self, mark: usize) {
        if mark >= HEADER_LEN && mark <= self.len && self.digest.is_none_or(|(at, _)| mark > at) {
            self.len = mark;
        }
    }

    fn write_length(&mut self) -> usize {
        let len = self.len;
        if let (Ok(l), Some(dst)) = (u16::try_from(len), self.buf.get_mut(field::LENGTH)) {
            dst.copy_from_slice(&l.to_be_bytes());
        }
        len
    }

    /// Writes the length field and returns the message length. A reserved digest stays zero.
    pub fn finish(mut self) -> usize {
        self.write_length()
    }

    /// Writes the length field, then computes the digest reserved by
    /// [`reserve_digest`](MessageWriter::reserve_digest) with `key` (see
    /// [`digest`](super::digest) for the covered bytes).
    pub fn finish_signed(mut self, key: &DigestKey<'_>) -> Result<usize, EmitError> {
        let Some((at, digest_type)) = self.digest else {
            return Err(EmitError::DigestNotReserved);
        };
        if digest_type != key.digest_type {
            return Err(EmitError::DigestUnsupported {
                digest_type: digest_type.to_wire(),
            });
        }
        let len = self.write_length();
        let message = self.buf.get_mut(..len).unwrap_or(&mut []);
        digest::sign_at(message, at, key)?;
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::message::FailoverMessage;

    const H: Header = Header {
        time: 0x6b09_c594,
        xid: 3,
    };

    #[test]
    fn writes_header_and_options() {
        let mut buf = [0xeeu8; 64];
        let mut w = MessageWriter::new(&mut buf, MessageType::PoolResp, H).unwrap();
        w.option_u32(OptionCode::ADDRESSES_TRANSFERRED, 4).unwrap();
        let n = w.finish();
        assert_eq!(
            &buf[..n],
            &[
                0, 20, 2, 12, 0x6b, 9, 0xc5, 0x94, 0, 0, 0, 3, 0, 1, 0, 4, 0, 0, 0, 4
            ]
        );
        let m = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            m.option(OptionCode::ADDRESSES_TRANSFERRED),
            Some(&[0u8, 0, 0, 4][..])
        );
    }

    #[test]
    fn refuses_what_it_should() {
        let mut small = [0u8; 11];
        assert_eq!(
            MessageWriter::new(&mut small, MessageType::Contact, H).unwrap_err(),
            EmitError::BufferTooSmall {
                needed: 12,
                available: 11
            }
        );
        let mut buf = [0u8; 20];
        let mut w = MessageWriter::new(&mut buf, MessageType::State, H).unwrap();
        assert_eq!(
            w.option(OptionCode::IP_FLAGS, &[1]),
            Err(EmitError::BadOptionLength {
                code: OptionCode::IP_FLAGS,
                length: 1
            })
        );
        assert_eq!(
            w.option(OptionCode::MESSAGE_DIGEST, &[2]),
            Err(EmitError::ReservedOption {
                code: OptionCode::MESSAGE_DIGEST
            })
        );
        w.option_u8(OptionCode::SERVER_STATE, 2).unwrap();
        assert_eq!(
            w.option(OptionCode(99), &[0; 4]),
            Err(EmitError::BufferTooSmall {
                needed: 25,
                available: 20
            })
        );
        // Nothing of the refused option stays behind.
        assert_eq!(w.message_len(), 17);
        assert_eq!(w.room(), 3);
        assert_eq!(
            w.reserve_digest(DigestType::HmacSha256),
            Err(EmitError::DigestNotFirst)
        );
        assert_eq!(w.finish(), 17);
    }

    #[test]
    fn keeps_to_2048_and_to_a_lower_limit() {
        let mut buf = [0u8; 4096];
        let mut w = MessageWriter::new(&mut buf, MessageType::BndUpd, H).unwrap();
        let big = [0u8; 2032];
        w.option(OptionCode(99), &big).unwrap();
        assert_eq!(w.message_len(), 2048);
        assert_eq!(
            w.option(OptionCode(99), &[]),
            Err(EmitError::TooLong {
                needed: 2052,
                limit: 2048
            })
        );
        let mut buf = [0u8; 100];
        let mut w = MessageWriter::new(&mut buf, MessageType::BndUpd, H).unwrap();
        w.limit_to(20);
        assert_eq!(
            w.option(OptionCode(99), &[0; 5]),
            Err(EmitError::TooLong {
                needed: 21,
                limit: 20
            })
        );
    }

    #[test]
    fn rolls_back_to_a_mark() {
        let mut buf = [0u8; 64];
        let mut w = MessageWriter::new(&mut buf, MessageType::BndUpd, H).unwrap();
        w.reserve_digest(DigestType::HmacSha256).unwrap();
        let digest_end = w.mark();
        w.option_u8(OptionCode(99), 1).unwrap();
        w.truncate(HEADER_LEN); // would cut into the digest: ignored
        assert_eq!(w.message_len(), digest_end + 5);
        w.truncate(digest_end);
        assert_eq!(w.message_len(), digest_end);
    }

    #[test]
    fn signing_needs_a_reserved_digest_of_the_key_type() {
        let key = DigestKey::hmac_sha256(b"secret");
        let mut buf = [0u8; 64];
        let w = MessageWriter::new(&mut buf, MessageType::Contact, H).unwrap();
        assert_eq!(w.finish_signed(&key), Err(EmitError::DigestNotReserved));
        let mut w = MessageWriter::new(&mut buf, MessageType::Contact, H).unwrap();
        assert_eq!(
            w.reserve_digest(DigestType::HmacMd5),
            Ok(()),
            "MD5 can be reserved (the draft's type byte), just not computed"
        );
        assert_eq!(
            w.finish_signed(&key),
            Err(EmitError::DigestUnsupported { digest_type: 1 })
        );
        let mut w = MessageWriter::new(&mut buf, MessageType::Contact, H).unwrap();
        assert_eq!(
            w.reserve_digest(DigestType::Unknown(9)),
            Err(EmitError::DigestUnsupported { digest_type: 9 })
        );
    }
}

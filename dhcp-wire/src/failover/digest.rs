//! The message-digest option (code 17; draft §11.1, §12.17; [MS-DHCPF] §2.2).
//!
//! # Layout and position
//!
//! Value: one type byte, then the digest. Type 1 is the draft's HMAC-MD5 (16 bytes), which we
//! recognise but do not compute. Windows computes HMAC-SHA256 by default and publishes neither
//! its type byte nor the option's position; we send type **2** (our assignment, the draft
//! defines no other value) with the 32-byte HMAC-SHA256. [`MessageWriter`] puts the option
//! **first**, as draft §11.1 and §12.17 require (the §6.3 schematic draws it last);
//! [`verify`] accepts it anywhere, so long as there is exactly one.
//!
//! # Covered bytes
//!
//! The HMAC key is the shared secret. The data is the whole message as sent — all `length`
//! bytes from the length field to the end of the last option, header (length, type, payload
//! offset, time, xid) and any bytes between the header and the payload offset included —
//! with the digest bytes of option 17 (the value after its type byte) replaced by zeros. The
//! option's code, length and type byte are covered as sent. The secret is not appended to the
//! data: draft §11.1's "the entire message concatenated with the shared secret" describes the
//! keyed hash, and HMAC already mixes the key in twice.
//!
//! # Use
//!
//! Sending: every repr has `emit_signed`, and [`MessageWriter::reserve_digest`] +
//! [`MessageWriter::finish_signed`] do the same by hand. Receiving: call [`verify`] on every
//! message before parsing it, with the configured key or `None`; its errors map to the draft's
//! reject reasons through [`FailoverError::reject_reason`]. ISC 4.4.3 never sends the option
//! and ignores it on receipt, so no authenticated mode is interoperable with ISC.
//!
//! [`MessageWriter`]: super::MessageWriter
//! [`MessageWriter::reserve_digest`]: super::MessageWriter::reserve_digest
//! [`MessageWriter::finish_signed`]: super::MessageWriter::finish_signed

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::error::{EmitError, FailoverError};
use super::message::FailoverMessage;
use super::option::{OPTION_HEADER_LEN, OptionCode, OptionIter};

/// The digest type byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestType {
    /// 1: HMAC-MD5, 16 bytes (draft §12.17). Recognised, not computed.
    HmacMd5,
    /// 2 (our assignment): HMAC-SHA256, 32 bytes, as Windows computes it.
    HmacSha256,
    /// Any other value.
    Unknown(u8),
}

impl DigestType {
    /// From the type byte.
    pub const fn from_wire(v: u8) -> DigestType {
        match v {
            1 => DigestType::HmacMd5,
            2 => DigestType::HmacSha256,
            other => DigestType::Unknown(other),
        }
    }

    /// The type byte.
    pub const fn to_wire(self) -> u8 {
        match self {
            DigestType::HmacMd5 => 1,
            DigestType::HmacSha256 => 2,
            DigestType::Unknown(v) => v,
        }
    }

    /// Digest bytes after the type byte, for the known types.
    pub const fn digest_len(self) -> Option<usize> {
        match self {
            DigestType::HmacMd5 => Some(16),
            DigestType::HmacSha256 => Some(32),
            DigestType::Unknown(_) => None,
        }
    }

    /// Bytes the whole option takes in a message: code, length, type byte and digest (37 for
    /// HMAC-SHA256).
    pub const fn option_len(self) -> Option<usize> {
        match self.digest_len() {
            Some(n) => Some(OPTION_HEADER_LEN + 1 + n),
            None => None,
        }
    }
}

/// A relationship's shared secret and the digest computed with it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DigestKey<'k> {
    /// The digest type sent and required.
    pub digest_type: DigestType,
    /// The shared secret (the HMAC key).
    pub secret: &'k [u8],
}

impl<'k> DigestKey<'k> {
    /// HMAC-SHA256 with `secret`.
    pub fn hmac_sha256(secret: &'k [u8]) -> DigestKey<'k> {
        DigestKey {
            digest_type: DigestType::HmacSha256,
            secret,
        }
    }
}

impl core::fmt::Debug for DigestKey<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DigestKey")
            .field("digest_type", &self.digest_type)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// HMAC-SHA256 of `message` with `message[zeroed]` read as zeros.
fn hmac_sha256(secret: &[u8], message: &[u8], zeroed: core::ops::Range<usize>) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => <Hmac<Sha256> as KeyInit>::new(&Default::default()),
    };
    let (before, rest) = message.split_at(zeroed.start.min(message.len()));
    let after = rest.get(zeroed.len()..).unwrap_or(&[]);
    mac.update(before);
    let zeros = [0u8; 64];
    let mut left = zeroed.len();
    while left > 0 {
        let n = left.min(zeros.len());
        mac.update(&zeros[..n]);
        left -= n;
    }
    mac.update(after);
    mac
}

/// Finds the one digest option of a checked message: its offset in the message.
fn find(message: &[u8], payload_offset: usize) -> Result<Option<usize>, FailoverError> {
    let options = message.get(payload_offset..).unwrap_or(&[]);
    let mut it = OptionIter::new(options);
    let mut found = None;
    loop {
        let at = payload_offset + it.offset();
        let Some(o) = it.next() else { break };
        if o.code == OptionCode::MESSAGE_DIGEST {
            if found.is_some() {
                return Err(FailoverError::DuplicateOption { code: o.code });
            }
            found = Some(at);
        }
    }
    Ok(found)
}

/// The digest bytes (after the type byte) of the option at `at`, checked against `key`.
fn digest_range(
    message: &[u8],
    at: usize,
    key: &DigestKey<'_>,
) -> Result<core::ops::Range<usize>, FailoverError> {
    let value_start = at + OPTION_HEADER_LEN;
    let len_bytes = message.get(at + 2..value_start).unwrap_or(&[0, 0]);
    let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
    let type_byte = message.get(value_start).copied().unwrap_or(0);
    if type_byte != key.digest_type.to_wire() || key.digest_type != DigestType::HmacSha256 {
        return Err(FailoverError::DigestUnsupported {
            digest_type: type_byte,
        });
    }
    if Some(len) != key.digest_type.digest_len().map(|n| n + 1) {
        return Err(FailoverError::BadOptionLength {
            code: OptionCode::MESSAGE_DIGEST,
            length: len as u16,
        });
    }
    Ok(value_start + 1..value_start + len)
}

/// Checks a received message's digest against the configured key (`None`: no shared secret).
/// Errors: [`FailoverError::DigestMissing`], [`FailoverError::DigestNotConfigured`],
/// [`FailoverError::DigestUnsupported`] (type byte not the key's), a wrong length
/// ([`FailoverError::BadOptionLength`]), two digests ([`FailoverError::DuplicateOption`]),
/// [`FailoverError::DigestMismatch`]. The comparison is constant-time.
pub fn verify<T: AsRef<[u8]>>(
    msg: &FailoverMessage<T>,
    key: Option<&DigestKey<'_>>,
) -> Result<(), FailoverError> {
    let message = msg.as_bytes();
    let found = find(message, usize::from(msg.payload_offset()))?;
    let (at, key) = match (found, key) {
        (None, None) => return Ok(()),
        (None, Some(_)) => return Err(FailoverError::DigestMissing),
        (Some(_), None) => return Err(FailoverError::DigestNotConfigured),
        (Some(at), Some(key)) => (at, key),
    };
    let range = digest_range(message, at, key)?;
    let received = message.get(range.clone()).unwrap_or(&[]);
    hmac_sha256(key.secret, message, range)
        .verify_slice(received)
        .map_err(|_| FailoverError::DigestMismatch)
}

/// Signs a complete message in place: finds its one message-digest option, which must
/// already have the key's type byte and length, and writes the digest into it.
pub fn sign(message: &mut [u8], key: &DigestKey<'_>) -> Result<(), EmitError> {
    let unsupported = EmitError::DigestUnsupported {
        digest_type: key.digest_type.to_wire(),
    };
    let at = {
        let msg =
            FailoverMessage::new_checked(&*message).map_err(|_| EmitError::DigestNotReserved)?;
        match find(message, usize::from(msg.payload_offset())) {
            Ok(Some(at)) => at,
            _ => return Err(EmitError::DigestNotReserved),
        }
    };
    sign_at(message, at, key).map_err(|_| unsupported)
}

/// Signs a message whose digest option starts at `at`.
pub(crate) fn sign_at(message: &mut [u8], at: usize, key: &DigestKey<'_>) -> Result<(), EmitError> {
    let range = digest_range(message, at, key).map_err(|_| EmitError::DigestUnsupported {
        digest_type: key.digest_type.to_wire(),
    })?;
    let tag = hmac_sha256(key.secret, message, range.clone())
        .finalize()
        .into_bytes();
    if let Some(dst) = message.get_mut(range) {
        dst.copy_from_slice(&tag);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::message::{Header, MessageType};
    use crate::failover::writer::MessageWriter;

    const H: Header = Header { time: 1, xid: 2 };

    fn signed(buf: &mut [u8], secret: &[u8]) -> usize {
        let mut w = MessageWriter::new(buf, MessageType::State, H).unwrap();
        w.reserve_digest(DigestType::HmacSha256).unwrap();
        w.option_u8(OptionCode::SERVER_STATE, 2).unwrap();
        w.finish_signed(&DigestKey::hmac_sha256(secret)).unwrap()
    }

    /// RFC 4231 test case 2 pins our HMAC-SHA256 to the standard.
    #[test]
    fn hmac_is_the_standard_one() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?", 0..0);
        let tag = mac.finalize().into_bytes();
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let mut hex = [0u8; 64];
        for (i, b) in tag.iter().enumerate() {
            let digits = b"0123456789abcdef";
            hex[2 * i] = digits[usize::from(b >> 4)];
            hex[2 * i + 1] = digits[usize::from(b & 15)];
        }
        assert_eq!(&hex[..], expected.as_bytes());
    }

    #[test]
    fn covers_the_whole_message_with_the_digest_zeroed() {
        let mut buf = [0u8; 128];
        let n = signed(&mut buf, b"s3cret");
        assert_eq!(DigestType::HmacSha256.option_len(), Some(37));
        assert_eq!(DigestType::Unknown(3).option_len(), None);
        assert_eq!(n, 12 + 37 + 5);
        // The digest option is first, type 2.
        assert_eq!(&buf[12..17], &[0, 17, 0, 33, 2]);
        // Recompute by hand: zero the 32 digest bytes, HMAC everything.
        let mut copy = buf;
        copy[17..49].fill(0);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"s3cret").unwrap();
        mac.update(&copy[..n]);
        assert_eq!(&mac.finalize().into_bytes()[..], &buf[17..49]);
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            verify(&msg, Some(&DigestKey::hmac_sha256(b"s3cret"))),
            Ok(())
        );
    }

    #[test]
    fn every_failure_is_named() {
        let mut buf = [0u8; 128];
        let n = signed(&mut buf, b"s3cret");
        let key = DigestKey::hmac_sha256(b"s3cret");
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            verify(&msg, Some(&DigestKey::hmac_sha256(b"other"))),
            Err(FailoverError::DigestMismatch)
        );
        assert_eq!(verify(&msg, None), Err(FailoverError::DigestNotConfigured));
        let md5 = DigestKey {
            digest_type: DigestType::HmacMd5,
            secret: b"s3cret",
        };
        assert_eq!(
            verify(&msg, Some(&md5)),
            Err(FailoverError::DigestUnsupported { digest_type: 2 })
        );
        // Any covered byte changed: the time field.
        let mut tampered = buf;
        tampered[7] ^= 1;
        let msg = FailoverMessage::new_checked(&tampered[..n]).unwrap();
        assert_eq!(verify(&msg, Some(&key)), Err(FailoverError::DigestMismatch));
        // No digest at all.
        let mut plain = [0u8; 32];
        let w = MessageWriter::new(&mut plain, MessageType::Contact, H).unwrap();
        let m = w.finish();
        let msg = FailoverMessage::new_checked(&plain[..m]).unwrap();
        assert_eq!(verify(&msg, Some(&key)), Err(FailoverError::DigestMissing));
        assert_eq!(verify(&msg, None), Ok(()));
    }

    #[test]
    fn a_digest_last_or_twice() {
        let key = DigestKey::hmac_sha256(b"k");
        // Digest placed last by hand, then signed with `sign`.
        let mut buf = [0u8; 128];
        let mut w = MessageWriter::new(&mut buf, MessageType::Contact, H).unwrap();
        w.option_u8(OptionCode(99), 7).unwrap();
        let at = w.message_len();
        let n = w.finish();
        let mut digest = [0u8; 37];
        digest[..5].copy_from_slice(&[0, 17, 0, 33, 2]);
        buf[at..at + 37].copy_from_slice(&digest);
        let n = n + 37;
        buf[..2].copy_from_slice(&(n as u16).to_be_bytes());
        sign(&mut buf[..n], &key).unwrap();
        let msg = FailoverMessage::new_checked(&buf[..n]).unwrap();
        assert_eq!(verify(&msg, Some(&key)), Ok(()));
        // A second digest option.
        buf[n..n + 37].copy_from_slice(&digest);
        let m = n + 37;
        buf[..2].copy_from_slice(&(m as u16).to_be_bytes());
        let msg = FailoverMessage::new_checked(&buf[..m]).unwrap();
        assert_eq!(
            verify(&msg, Some(&key)),
            Err(FailoverError::DuplicateOption {
                code: OptionCode::MESSAGE_DIGEST
            })
        );
        assert_eq!(sign(&mut buf[..m], &key), Err(EmitError::DigestNotReserved));
    }

    #[test]
    fn a_short_digest_is_a_bad_length() {
        let key = DigestKey::hmac_sha256(b"k");
        let mut buf = [0u8; 64];
        let w = MessageWriter::new(&mut buf, MessageType::Contact, H).unwrap();
        let n = w.finish();
        buf[n..n + 6].copy_from_slice(&[0, 17, 0, 2, 2, 0]);
        let m = n + 6;
        buf[..2].copy_from_slice(&(m as u16).to_be_bytes());
        let msg = FailoverMessage::new_checked(&buf[..m]).unwrap();
        assert_eq!(
            verify(&msg, Some(&key)),
            Err(FailoverError::BadOptionLength {
                code: OptionCode::MESSAGE_DIGEST,
                length: 2
            })
        );
    }

    #[test]
    fn the_key_is_not_printed() {
        extern crate std;
        let s = std::format!("{:?}", DigestKey::hmac_sha256(b"hunter2"));
        assert!(!s.contains("hunter2"));
    }
}

//! How each typed option value is read from and written to an option's value bytes. One
//! implementation per value type, shared by every repr, so that a type is encoded the same way
//! wherever it appears.

use core::net::Ipv4Addr;

use super::error::EmitError;
use super::option::OptionCode;
use super::value::{
    Dialect, HardwareAddress, MsScopeIds, RejectReason, ServerFlags, ServerState, WireFlags,
    WireStatus,
};

/// A value that can be a typed field of a repr.
pub(crate) trait Field<'a>: Sized {
    /// Reads the value; `None` when the bytes cannot be this type (wrong length). The
    /// dialect matters only to binding-status and IP-flags.
    fn decode(value: &'a [u8], dialect: Dialect) -> Option<Self>;

    /// Bytes of the encoded value.
    fn wire_len(&self) -> usize;

    /// Writes the value into exactly `wire_len()` bytes.
    fn encode(&self, out: &mut [u8]);

    /// Refuses values that must not be sent under `code` in a message of `dialect`.
    fn check(&self, code: OptionCode, dialect: Dialect) -> Result<(), EmitError> {
        let _ = dialect;
        if code.allows_len(self.wire_len()) {
            Ok(())
        } else {
            Err(EmitError::BadOptionLength {
                code,
                length: self.wire_len(),
            })
        }
    }
}

fn array<const N: usize>(value: &[u8]) -> Option<[u8; N]> {
    <[u8; N]>::try_from(value).ok()
}

fn put(out: &mut [u8], bytes: &[u8]) {
    if let Some(dst) = out.get_mut(..bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

impl Field<'_> for u8 {
    fn decode(value: &[u8], _: Dialect) -> Option<Self> {
        array::<1>(value).map(|[b]| b)
    }
    fn wire_len(&self) -> usize {
        1
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, &[*self]);
    }
}

impl Field<'_> for u32 {
    fn decode(value: &[u8], _: Dialect) -> Option<Self> {
        array(value).map(u32::from_be_bytes)
    }
    fn wire_len(&self) -> usize {
        4
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, &self.to_be_bytes());
    }
}

impl Field<'_> for Ipv4Addr {
    fn decode(value: &[u8], _: Dialect) -> Option<Self> {
        array::<4>(value).map(Ipv4Addr::from)
    }
    fn wire_len(&self) -> usize {
        4
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, &self.octets());
    }
}

impl<'a> Field<'a> for &'a [u8] {
    fn decode(value: &'a [u8], _: Dialect) -> Option<Self> {
        Some(value)
    }
    fn wire_len(&self) -> usize {
        self.len()
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, self);
    }
}

impl Field<'_> for [u8; 32] {
    fn decode(value: &[u8], _: Dialect) -> Option<Self> {
        array(value)
    }
    fn wire_len(&self) -> usize {
        32
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, self);
    }
}

impl Field<'_> for ServerState {
    fn decode(value: &[u8], d: Dialect) -> Option<Self> {
        u8::decode(value, d).map(ServerState::from_wire)
    }
    fn wire_len(&self) -> usize {
        1
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, &[self.to_wire()]);
    }
    fn check(&self, _: OptionCode, _: Dialect) -> Result<(), EmitError> {
        if self.is_sendable() {
            Ok(())
        } else {
            Err(EmitError::UnsendableState {
                value: self.to_wire(),
            })
        }
    }
}

impl Field<'_> for ServerFlags {
    fn decode(value: &[u8], d: Dialect) -> Option<Self> {
        u8::decode(value, d).map(ServerFlags)
    }
    fn wire_len(&self) -> usize {
        1
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, &[self.0]);
    }
}

impl Field<'_> for RejectReason {
    fn decode(value: &[u8], d: Dialect) -> Option<Self> {
        u8::decode(value, d).map(RejectReason::from_wire)
    }
    fn wire_len(&self) -> usize {
        1
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, &[self.to_wire()]);
    }
}

impl Field<'_> for WireStatus {
    fn decode(value: &[u8], d: Dialect) -> Option<Self> {
        u8::decode(value, d).map(|v| WireStatus::decode(v, d))
    }
    fn wire_len(&self) -> usize {
        1
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, &[self.to_wire()]);
    }
    fn check(&self, _: OptionCode, dialect: Dialect) -> Result<(), EmitError> {
        if self.dialect() == dialect {
            Ok(())
        } else {
            Err(EmitError::DialectMismatch)
        }
    }
}

impl Field<'_> for WireFlags {
    fn decode(value: &[u8], d: Dialect) -> Option<Self> {
        array(value).map(|b| WireFlags::decode(u16::from_be_bytes(b), d))
    }
    fn wire_len(&self) -> usize {
        2
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, &self.to_wire().to_be_bytes());
    }
    fn check(&self, _: OptionCode, dialect: Dialect) -> Result<(), EmitError> {
        if self.dialect() == dialect {
            Ok(())
        } else {
            Err(EmitError::DialectMismatch)
        }
    }
}

impl<'a> Field<'a> for HardwareAddress<'a> {
    fn decode(value: &'a [u8], _: Dialect) -> Option<Self> {
        let (&htype, chaddr) = value.split_first()?;
        Some(HardwareAddress { htype, chaddr })
    }
    fn wire_len(&self) -> usize {
        1 + self.chaddr.len()
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, &[self.htype]);
        put(out.get_mut(1..).unwrap_or(&mut []), self.chaddr);
    }
}

impl<'a> Field<'a> for MsScopeIds<'a> {
    fn decode(value: &'a [u8], _: Dialect) -> Option<Self> {
        MsScopeIds::from_bytes(value)
    }
    fn wire_len(&self) -> usize {
        self.as_bytes().len()
    }
    fn encode(&self, out: &mut [u8]) {
        put(out, self.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::value::{BindingStatus, IpFlags, MsBindingStatus};

    fn round_trip<'a, F: Field<'a> + PartialEq + core::fmt::Debug>(v: F, buf: &'a mut [u8]) {
        let n = v.wire_len();
        v.encode(&mut buf[..n]);
        let back = F::decode(&buf[..n], Dialect::Draft).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn values_round_trip() {
        round_trip(7u8, &mut [0; 4]);
        round_trip(0xdead_beefu32, &mut [0; 4]);
        round_trip(Ipv4Addr::new(192, 0, 2, 9), &mut [0; 4]);
        round_trip([0xa5u8; 32], &mut [0; 32]);
        round_trip(ServerState::RecoverWait, &mut [0; 1]);
        round_trip(RejectReason::Unknown(99), &mut [0; 1]);
        round_trip(WireFlags::Draft(IpFlags(3)), &mut [0; 2]);
        round_trip(
            HardwareAddress {
                htype: 1,
                chaddr: &[2, 0, 0, 0, 0, 1],
            },
            &mut [0; 7],
        );
    }

    #[test]
    fn wrong_lengths_do_not_decode() {
        assert_eq!(u32::decode(&[1, 2, 3], Dialect::Draft), None);
        assert_eq!(u8::decode(&[], Dialect::Draft), None);
        assert_eq!(<[u8; 32]>::decode(&[0; 31], Dialect::Draft), None);
        assert_eq!(HardwareAddress::decode(&[], Dialect::Draft), None);
        assert_eq!(<WireFlags as Field>::decode(&[1], Dialect::Draft), None);
    }

    #[test]
    fn checks_refuse_what_must_not_be_sent() {
        let code = OptionCode::SERVER_STATE;
        assert_eq!(
            ServerState::Startup.check(code, Dialect::Draft),
            Err(EmitError::UnsendableState { value: 1 })
        );
        assert_eq!(
            ServerState::Unknown(0).check(code, Dialect::Draft),
            Err(EmitError::UnsendableState { value: 0 })
        );
        let ms = WireStatus::Microsoft(MsBindingStatus(1));
        assert_eq!(
            ms.check(OptionCode::BINDING_STATUS, Dialect::Draft),
            Err(EmitError::DialectMismatch)
        );
        let draft = WireStatus::Draft(BindingStatus::Free);
        assert_eq!(
            draft.check(OptionCode::BINDING_STATUS, Dialect::Draft),
            Ok(())
        );
        let empty: &[u8] = &[];
        let hw = HardwareAddress {
            htype: 1,
            chaddr: empty,
        };
        assert_eq!(
            hw.check(OptionCode::CLIENT_HARDWARE_ADDRESS, Dialect::Draft),
            Ok(())
        );
        assert_eq!(
            empty.check(OptionCode::CLIENT_HARDWARE_ADDRESS, Dialect::Draft),
            Err(EmitError::BadOptionLength {
                code: OptionCode::CLIENT_HARDWARE_ADDRESS,
                length: 0
            })
        );
    }
}

//! Client identities: the hardware address, client identifier and transaction id of a simulated
//! client are all computed from its index, so the model stores none of them.
//!
//! The transaction id carries the client index and an 8-bit exchange epoch through a keyed
//! 32-bit permutation: a reply's `xid` names its client and exchange without a lookup table,
//! and a wrong `xid` is told apart from a wrong `chaddr` (see [`crate::fleet`]).

use dhcp_wire::frame::MacAddr;

/// Most clients one run can simulate: the index takes the upper 24 bits of the xid.
pub const MAX_CLIENTS: u32 = 1 << 24;

const K1: u32 = 0x9e37_79b1;
const K2: u32 = 0x85eb_ca6b;

/// Multiplicative inverse of an odd `k` modulo 2^32 (Newton's iteration doubles the correct
/// bits each step: 3, 6, 12, 24, 48).
const fn inverse(k: u32) -> u32 {
    let mut x = k;
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul(2u32.wrapping_sub(k.wrapping_mul(x)));
        i += 1;
    }
    x
}

const K1_INV: u32 = inverse(K1);
const K2_INV: u32 = inverse(K2);

/// The keyed xid permutation of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XidCodec {
    key: u32,
}

impl XidCodec {
    /// A permutation keyed by `key` (runs with different keys use different xids).
    pub fn new(key: u32) -> Self {
        XidCodec { key }
    }

    /// The xid of exchange `epoch` of client `index` (`index` < [`MAX_CLIENTS`]).
    pub fn encode(&self, index: u32, epoch: u8) -> u32 {
        debug_assert!(index < MAX_CLIENTS);
        let mut x = ((index << 8) | u32::from(epoch)) ^ self.key;
        x = x.wrapping_mul(K1);
        x ^= x >> 16;
        x = x.wrapping_mul(K2);
        x ^ (x >> 16)
    }

    /// Client index and epoch of `xid`: the inverse of [`encode`](Self::encode).
    pub fn decode(&self, xid: u32) -> (u32, u8) {
        let mut x = xid ^ (xid >> 16);
        x = x.wrapping_mul(K2_INV);
        x ^= x >> 16;
        x = x.wrapping_mul(K1_INV) ^ self.key;
        (x >> 8, x as u8)
    }
}

/// The hardware address of client `index`: `base` plus `index`, as a 48-bit number.
pub fn client_mac(base: MacAddr, index: u32) -> MacAddr {
    let b = mac_to_u64(base).wrapping_add(u64::from(index)) & 0xffff_ffff_ffff;
    let bytes = b.to_be_bytes();
    MacAddr([bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
}

/// The index of the client with hardware address `mac`, when it is `base` plus less than
/// `count`.
pub fn client_of_mac(base: MacAddr, count: u32, mac: &[u8]) -> Option<u32> {
    let m: [u8; 6] = mac.try_into().ok()?;
    let off = mac_to_u64(MacAddr(m)).wrapping_sub(mac_to_u64(base)) & 0xffff_ffff_ffff;
    (off < u64::from(count)).then_some(off as u32)
}

fn mac_to_u64(m: MacAddr) -> u64 {
    let b = m.0;
    u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
}

/// Appends the decimal digits of `n` to `out` at `at`; returns the new end (or `None` when
/// `out` is too short).
pub fn put_decimal(out: &mut [u8], at: usize, n: u32) -> Option<usize> {
    let mut digits = [0u8; 10];
    let mut len = 0;
    let mut v = n;
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let dst = out.get_mut(at..at + len)?;
    for (d, s) in dst.iter_mut().zip(digits[..len].iter().rev()) {
        *d = *s;
    }
    Some(at + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverses_are_inverses() {
        assert_eq!(K1.wrapping_mul(K1_INV), 1);
        assert_eq!(K2.wrapping_mul(K2_INV), 1);
    }

    #[test]
    fn xid_round_trips_and_spreads() {
        let c = XidCodec::new(0xdead_beef);
        let mut seen = std::collections::HashSet::new();
        for index in (0..MAX_CLIENTS).step_by(40_009).chain([MAX_CLIENTS - 1]) {
            for epoch in [0u8, 1, 77, 255] {
                let x = c.encode(index, epoch);
                assert_eq!(c.decode(x), (index, epoch));
                assert!(seen.insert(x));
            }
        }
        // Neighbouring clients and epochs get unrelated xids.
        assert_ne!(c.encode(1, 0) ^ c.encode(0, 0), 1 << 8);
        assert_ne!(c.encode(0, 0), XidCodec::new(1).encode(0, 0));
    }

    #[test]
    fn mac_arithmetic_carries_and_inverts() {
        let base = MacAddr([0x02, 0, 0, 0, 0xff, 0xfe]);
        assert_eq!(client_mac(base, 3), MacAddr([0x02, 0, 0, 1, 0, 1]));
        assert_eq!(client_of_mac(base, 10, &client_mac(base, 3).0), Some(3));
        assert_eq!(client_of_mac(base, 3, &client_mac(base, 3).0), None);
        assert_eq!(client_of_mac(base, 10, &[0x02, 0, 0, 0, 0xff, 0xfd]), None);
        assert_eq!(client_of_mac(base, 10, &[1, 2, 3]), None);
    }

    #[test]
    fn decimal() {
        let mut b = [0u8; 16];
        let end = put_decimal(&mut b, 2, 40_321).unwrap();
        assert_eq!(&b[2..end], b"40321");
        let end = put_decimal(&mut b, 0, 0).unwrap();
        assert_eq!(&b[..end], b"0");
        assert_eq!(put_decimal(&mut b, 14, 123), None);
    }
}

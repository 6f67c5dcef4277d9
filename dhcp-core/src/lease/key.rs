//! Client identity: option 61 when the client sends one, else hardware type + chaddr
//! (RFC 2131 §4.2). Stored inline in a fixed 32-byte key so bindings need no heap.

/// Bytes of identity kept verbatim. Longer client identifiers keep their first
/// [`LONG_ID_PREFIX`] bytes plus a 64-bit hash of the whole identifier.
pub const KEY_INLINE: usize = 30;
const LONG_ID_PREFIX: usize = KEY_INLINE - 8;

const KIND_NONE: u8 = 0;
const KIND_CLIENT_ID: u8 = 1;
const KIND_HW: u8 = 2;

/// Which kind of identity a key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Empty key (free binding slot).
    None,
    /// Option 61 client identifier.
    ClientId,
    /// Hardware type + chaddr.
    Hardware,
}

/// A client's identity: kind, original length, and up to [`KEY_INLINE`] bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct ClientKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientKey({:?}, ", self.kind())?;
        for b in self.data() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// 64-bit hash of arbitrary bytes (FNV-1a, finished with a multiply-xorshift so the low bits
/// used for shard selection are well mixed).
pub fn hash_bytes(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// Final avalanche step (from the splitmix64 finaliser).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl ClientKey {
    /// The empty key.
    pub const NONE: ClientKey = ClientKey { bytes: [0; 32] };

    fn build(kind: u8, parts: &[&[u8]]) -> ClientKey {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut k = ClientKey::NONE;
        k.bytes[0] = kind;
        k.bytes[1] = total.min(255) as u8;
        let data = &mut k.bytes[2..];
        if total <= KEY_INLINE {
            let mut at = 0;
            for p in parts {
                data[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
        } else {
            // Prefix verbatim, then a hash of everything.
            let mut at = 0;
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for p in parts {
                for &b in *p {
                    if at < LONG_ID_PREFIX {
                        data[at] = b;
                        at += 1;
                    }
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0000_0100_0000_01b3);
                }
            }
            data[LONG_ID_PREFIX..KEY_INLINE].copy_from_slice(&mix64(h).to_be_bytes());
        }
        k
    }

    /// Key from an option 61 value (type byte included).
    pub fn from_client_id(id: &[u8]) -> ClientKey {
        ClientKey::build(KIND_CLIENT_ID, &[id])
    }

    /// Key from the hardware type and the first `hlen` bytes of chaddr.
    pub fn from_hw(htype: u8, chaddr: &[u8]) -> ClientKey {
        ClientKey::build(KIND_HW, &[&[htype], chaddr])
    }

    /// The key of a request: option 61 if present and non-empty, else hardware.
    pub fn for_request(client_id: Option<&[u8]>, htype: u8, chaddr: &[u8]) -> ClientKey {
        match client_id {
            Some(id) if !id.is_empty() => ClientKey::from_client_id(id),
            _ => ClientKey::from_hw(htype, chaddr),
        }
    }

    /// Kind of identity.
    pub fn kind(&self) -> KeyKind {
        match self.bytes[0] {
            KIND_CLIENT_ID => KeyKind::ClientId,
            KIND_HW => KeyKind::Hardware,
            _ => KeyKind::None,
        }
    }

    /// True for the empty key.
    pub fn is_none(&self) -> bool {
        self.bytes[0] == KIND_NONE
    }

    /// Length of the original identity.
    pub fn original_len(&self) -> usize {
        usize::from(self.bytes[1])
    }

    /// The stored identity bytes (verbatim when `is_exact`, else prefix + hash).
    pub fn data(&self) -> &[u8] {
        let n = self.original_len().min(KEY_INLINE);
        &self.bytes[2..2 + n]
    }

    /// True when [`data`](Self::data) is the whole original identity.
    pub fn is_exact(&self) -> bool {
        self.original_len() <= KEY_INLINE
    }

    /// The option 61 bytes, when this is an exactly stored client identifier.
    pub fn client_id(&self) -> Option<&[u8]> {
        (self.kind() == KeyKind::ClientId && self.is_exact()).then(|| self.data())
    }

    /// 64-bit hash of the key (shard selection, index probing).
    pub fn hash64(&self) -> u64 {
        let mut h: u64 = 0;
        for c in self.bytes.chunks_exact(8) {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = mix64(h ^ w);
        }
        h
    }

    /// The raw 32 bytes (journal encoding).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.bytes
    }

    /// From the raw 32 bytes written by [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(bytes: [u8; 32]) -> ClientKey {
        ClientKey { bytes }
    }
}

/// A client hardware address: htype, hlen and up to 16 bytes of chaddr.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HwAddr {
    /// ARP hardware type (1 = Ethernet).
    pub htype: u8,
    len: u8,
    bytes: [u8; 16],
}

impl std::fmt::Debug for HwAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self)
    }
}

impl std::fmt::Display for HwAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.bytes().iter().enumerate() {
            if i > 0 {
                write!(f, ":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl HwAddr {
    /// From htype and chaddr bytes (at most 16 kept).
    pub fn new(htype: u8, chaddr: &[u8]) -> HwAddr {
        let n = chaddr.len().min(16);
        let mut bytes = [0u8; 16];
        bytes[..n].copy_from_slice(&chaddr[..n]);
        HwAddr {
            htype,
            len: n as u8,
            bytes,
        }
    }

    /// The chaddr bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The 6-byte MAC address, for an Ethernet address.
    pub fn mac(&self) -> Option<[u8; 6]> {
        (self.htype == 1 && self.len == 6).then(|| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&self.bytes[..6]);
            m
        })
    }

    /// 18-byte encoding (htype, len, 16 bytes).
    pub fn to_bytes(&self) -> [u8; 18] {
        let mut out = [0u8; 18];
        out[0] = self.htype;
        out[1] = self.len;
        out[2..].copy_from_slice(&self.bytes);
        out
    }

    /// From [`to_bytes`](Self::to_bytes); a length over 16 is clamped.
    pub fn from_bytes(b: [u8; 18]) -> HwAddr {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&b[2..]);
        HwAddr {
            htype: b[0],
            len: b[1].min(16),
            bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_wins_over_hardware() {
        let mac = [2, 0, 0, 0, 0, 1];
        let by_hw = ClientKey::for_request(None, 1, &mac);
        let by_id = ClientKey::for_request(Some(&[1, 2, 0, 0, 0, 0, 1]), 1, &mac);
        let empty_id = ClientKey::for_request(Some(&[]), 1, &mac);
        assert_eq!(by_hw.kind(), KeyKind::Hardware);
        assert_eq!(by_id.kind(), KeyKind::ClientId);
        assert_eq!(empty_id, by_hw);
        assert_ne!(by_hw, by_id);
        assert_eq!(by_id.client_id(), Some(&[1, 2, 0, 0, 0, 0, 1][..]));
        assert_eq!(by_hw.data(), &[1, 2, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn long_identifiers_stay_distinct() {
        let a: Vec<u8> = (0..100).collect();
        let mut b = a.clone();
        b[99] = 0;
        let ka = ClientKey::from_client_id(&a);
        let kb = ClientKey::from_client_id(&b);
        assert_ne!(ka, kb, "differ only after the inline prefix");
        assert!(!ka.is_exact());
        assert_eq!(ka.client_id(), None);
        assert_eq!(ka.original_len(), 100);
        assert_eq!(ClientKey::from_client_id(&a), ka);
    }

    #[test]
    fn hash_spreads_sequential_macs_over_shards() {
        let mut counts = [0u32; 8];
        for i in 0..8000u32 {
            let b = i.to_be_bytes();
            let k = ClientKey::from_hw(1, &[2, 0, b[0], b[1], b[2], b[3]]);
            counts[(k.hash64() % 8) as usize] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn encodings_round_trip() {
        let k = ClientKey::from_client_id(b"\x01abcdef");
        assert_eq!(ClientKey::from_bytes(k.to_bytes()), k);
        let h = HwAddr::new(1, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(HwAddr::from_bytes(h.to_bytes()), h);
        assert_eq!(h.mac(), Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(h.to_string(), "01:02:03:04:05:06");
    }
}

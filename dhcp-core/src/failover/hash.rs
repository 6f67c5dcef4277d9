//! RFC 3074 load-balancing hash and the hash bucket assignment (HBA) bitmap.
//!
//! The hash is Pearson's 8-bit hash over the client identifier (option 61, whole payload
//! including the type byte) or, without one, the first `hlen` bytes of chaddr; it starts from
//! the key length and walks the key from its last byte to its first. Bucket `n` is bit `n % 8`
//! (least significant first) of byte `n / 8` of the 32-byte HBA — ISC dhcpd's layout, verified
//! against a live ISC dhcpd 4.4.3 (failover-protocol.md §7.5). A set bit means the *primary*
//! serves the bucket (ISC's convention, not draft-12 §12.11's).

/// RFC 3074 §6 mixing table.
const T: [u8; 256] = [
    251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0, 232, 31, 32, 55, 60, 152,
    58, 17, 237, 174, 70, 160, 144, 220, 90, 57, 223, 59, 3, 18, 140, 111, 166, 203, 196, 134, 243,
    124, 95, 222, 179, 197, 65, 180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23, 97,
    16, 40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108, 244, 67, 207, 9, 178, 204,
    74, 98, 126, 249, 167, 116, 34, 77, 193, 200, 121, 5, 20, 113, 71, 35, 128, 13, 182, 94, 25,
    226, 227, 199, 75, 27, 41, 245, 230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115, 241,
    73, 88, 105, 39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221, 148, 154, 122, 12, 84, 82,
    163, 44, 139, 228, 236, 205, 242, 217, 11, 187, 146, 159, 64, 86, 239, 195, 42, 106, 198, 118,
    112, 184, 172, 87, 2, 173, 117, 176, 229, 247, 253, 137, 185, 99, 164, 102, 147, 45, 66, 231,
    52, 141, 211, 194, 206, 246, 238, 56, 110, 78, 248, 63, 240, 189, 93, 92, 51, 53, 183, 19, 171,
    72, 50, 33, 104, 101, 69, 8, 252, 83, 120, 76, 135, 85, 54, 202, 125, 188, 213, 96, 235, 136,
    208, 162, 129, 190, 132, 156, 38, 47, 1, 7, 254, 24, 4, 216, 131, 89, 21, 28, 133, 37, 153,
    149, 80, 170, 68, 6, 169, 234, 151,
];

/// The bucket (0..=255) of a key.
pub fn rfc3074_hash(key: &[u8]) -> u8 {
    let mut h = key.len() as u8;
    for &b in key.iter().rev() {
        h = T[usize::from(h ^ b)];
    }
    h
}

/// The bucket of a client: option 61 when present and non-empty, else chaddr.
pub fn client_bucket(client_id: Option<&[u8]>, chaddr: &[u8]) -> u8 {
    match client_id {
        Some(id) if !id.is_empty() => rfc3074_hash(id),
        _ => rfc3074_hash(chaddr),
    }
}

/// Hash bucket assignment: 256 bits, set = the primary serves the bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hba(pub [u8; 32]);

impl Hba {
    /// Buckets `0..primary_buckets` to the primary (ISC's `split`).
    pub fn split(primary_buckets: u16) -> Hba {
        let mut b = [0u8; 32];
        for n in 0..primary_buckets.min(256) {
            b[usize::from(n >> 3)] |= 1 << (n & 7);
        }
        Hba(b)
    }

    /// The split for a primary that serves `percent` % of the buckets (Windows'
    /// LoadBalancePercent of the primary), rounded to the nearest bucket.
    pub fn from_primary_percent(percent: u8) -> Hba {
        let n = (u16::from(percent.min(100)) * 256 + 50) / 100;
        Hba::split(n)
    }

    /// True when the primary serves `bucket`.
    pub fn primary_serves(&self, bucket: u8) -> bool {
        self.0[usize::from(bucket >> 3)] & (1 << (bucket & 7)) != 0
    }

    /// Buckets the primary serves.
    pub fn primary_count(&self) -> u32 {
        self.0.iter().map(|b| b.count_ones()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// failover-protocol.md §7.5: values computed with the table, six checked against ISC.
    #[test]
    fn test_vectors() {
        let cases: [(&[u8], u8); 12] = [
            (&[], 0),
            (&[0x00], 175),
            (&[0xff], 234),
            (&hex("000000000000"), 254),
            (&hex("001122334455"), 135),
            (&hex("010203040506"), 179),
            (&hex("ffffffffffff"), 79),
            (&hex("525400123456"), 156),
            (&hex("000c29aabbcc"), 169),
            (&hex("deadbeef0001"), 118),
            (&hex("01001122334455"), 223),
            (b"client-1", 1),
        ];
        for (key, want) in cases {
            assert_eq!(rfc3074_hash(key), want, "key {key:02x?}");
        }
    }

    #[test]
    fn split_128_sends_the_expected_buckets_to_the_primary() {
        let hba = Hba::split(128);
        assert_eq!(&hba.0[..16], &[0xff; 16]);
        assert_eq!(&hba.0[16..], &[0x00; 16]);
        // ISC: ff:ff:ff:ff:ff:ff served by the primary, 00:11:22:33:44:55 by the secondary.
        assert!(hba.primary_serves(client_bucket(None, &hex("ffffffffffff"))));
        assert!(!hba.primary_serves(client_bucket(None, &hex("001122334455"))));
        // Option 61 takes precedence.
        assert!(!hba.primary_serves(client_bucket(
            Some(&hex("01001122334455")),
            &hex("aabbccddeeff")
        )));
        assert!(hba.primary_serves(client_bucket(Some(b"client-1"), &hex("001122334455"))));
    }

    #[test]
    fn percentages_round_to_buckets() {
        assert_eq!(Hba::from_primary_percent(50).primary_count(), 128);
        assert_eq!(Hba::from_primary_percent(100).primary_count(), 256);
        assert_eq!(Hba::from_primary_percent(0).primary_count(), 0);
        assert_eq!(Hba::from_primary_percent(70).primary_count(), 179);
    }

    #[test]
    fn the_table_is_a_permutation() {
        let mut seen = [false; 256];
        for &v in &T {
            assert!(!seen[usize::from(v)]);
            seen[usize::from(v)] = true;
        }
    }
}

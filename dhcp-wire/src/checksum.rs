//! The Internet checksum (RFC 1071), used by IPv4 and UDP.

/// Ones-complement sum of `data` folded into 16 bits, added to `initial`.
///
/// Odd-length data is padded with a zero byte, as RFC 1071 says. The result is not
/// complemented: call [`finish`] for the value that goes on the wire.
pub fn accumulate(initial: u32, data: &[u8]) -> u32 {
    // Wide accumulator: eight bytes at a time, carries caught in the upper half.
    let mut sum: u64 = u64::from(initial);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let (s, carry) = sum.overflowing_add(v);
        sum = s + u64::from(carry);
    }
    // Fold before the narrow additions below so they cannot overflow.
    sum = u64::from(fold64(sum));
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        sum += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        sum += u64::from(*last) << 8;
    }
    fold64(sum)
}

fn fold64(mut sum: u64) -> u32 {
    // Fold 64 -> 32 -> 16 bits with end-around carry.
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    let mut s = sum as u32;
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s
}

/// Complement of the folded sum: the checksum field value.
pub fn finish(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    !(((s & 0xffff) + (s >> 16)) as u16)
}

/// Checksum of `data` alone (for the IPv4 header).
pub fn checksum(data: &[u8]) -> u16 {
    finish(accumulate(0, data))
}

/// Sum of the UDP/IPv4 pseudo-header (source, destination, protocol 17, UDP length).
pub fn pseudo_header_sum(src: [u8; 4], dst: [u8; 4], udp_len: u16) -> u32 {
    let mut sum = u32::from(u16::from_be_bytes([src[0], src[1]]));
    sum += u32::from(u16::from_be_bytes([src[2], src[3]]));
    sum += u32::from(u16::from_be_bytes([dst[0], dst[1]]));
    sum += u32::from(u16::from_be_bytes([dst[2], dst[3]]));
    sum += 17;
    sum += u32::from(udp_len);
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward 16-bit-at-a-time reference.
    fn reference(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            sum += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
            i += 2;
        }
        if i < data.len() {
            sum += u32::from(data[i]) << 8;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the sum of these bytes is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn matches_reference_for_every_length() {
        let mut data = [0u8; 600];
        let mut x: u32 = 0x1234_5678;
        for b in data.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        for len in 0..data.len() {
            assert_eq!(checksum(&data[..len]), reference(&data[..len]), "len {len}");
        }
        // All-ones data stresses the carries.
        let ones = [0xffu8; 333];
        for len in 0..ones.len() {
            assert_eq!(
                checksum(&ones[..len]),
                reference(&ones[..len]),
                "ones len {len}"
            );
        }
    }

    #[test]
    fn known_ipv4_header() {
        // A captured header with its checksum field zeroed; the real one was 0xb861.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&hdr), 0xb861);
    }
}

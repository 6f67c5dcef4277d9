//! The options of a received message, indexed by one scan into a fixed array on the stack.

use core::net::Ipv4Addr;

use super::option::{MessageType, OptionCode, Overload};
use super::packet::{DhcpError, DhcpPacket, field};
use super::relay::RelayAgentInfo;

/// Most option fragments (code/length/value triples, pad and end not counted) one message may
/// hold. Real clients and relays send a few dozen; a message with more is dropped as
/// [`DhcpError::TooManyOptions`] rather than partly read.
pub const MAX_OPTION_FRAGMENTS: usize = 128;

/// The smallest value of option 57 a server may honour (RFC 2132 section 9.10).
pub const MIN_MAX_MESSAGE_SIZE: u16 = 576;

/// IPv4 (without options) plus UDP header bytes, which option 57 counts and a DHCP payload does
/// not.
pub const IP_UDP_OVERHEAD: usize = 28;

/// Where one fragment's value lies in the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Fragment {
    code: u8,
    len: u8,
    /// Offset of the value in the message (messages are at most 65535 bytes).
    start: u16,
}

/// Which part of the message a scan is reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Area {
    Options,
    File,
    Sname,
}

/// Every option fragment of a message, in the order RFC 2131 section 4.1 reads them (options
/// field, then `file`, then `sname` when option 52 says so), built without allocation.
///
/// Fragments with the same code form one option whose value is their concatenation in order
/// (RFC 3396 section 7), whether or not they are adjacent. Unknown codes are kept like any other.
#[derive(Clone, Debug)]
pub struct OptionIndex<'a> {
    message: &'a [u8],
    fragments: [Fragment; MAX_OPTION_FRAGMENTS],
    count: usize,
    overload: Option<Overload>,
}

impl<'a> OptionIndex<'a> {
    /// Scans the options of a checked packet.
    ///
    /// Pad octets are skipped. An end octet closes its field; a field without one ends at its
    /// last byte (many clients and relays omit or truncate it, and nothing after the point
    /// would be read anyway). Bytes after an end octet are ignored.
    pub fn new<T: AsRef<[u8]>>(packet: &'a DhcpPacket<T>) -> Result<Self, DhcpError> {
        let message = packet.as_bytes();
        let mut index = OptionIndex {
            message,
            fragments: [Fragment::default(); MAX_OPTION_FRAGMENTS],
            count: 0,
            overload: None,
        };
        index.scan(field::OPTIONS..message.len(), Area::Options)?;
        if let Some(overload) = index.overload {
            if overload.file() {
                index.scan(field::FILE, Area::File)?;
            }
            if overload.sname() {
                index.scan(field::SNAME, Area::Sname)?;
            }
        }
        Ok(index)
    }

    fn scan(&mut self, area: core::ops::Range<usize>, kind: Area) -> Result<(), DhcpError> {
        let bytes = self.message.get(area.clone()).unwrap_or(&[]);
        let mut at = 0;
        // Each pass consumes at least one byte, so the loop is bounded by the field length.
        while let Some(&code) = bytes.get(at) {
            match OptionCode(code) {
                OptionCode::PAD => {
                    at += 1;
                    continue;
                }
                OptionCode::END => return Ok(()),
                _ => {}
            }
            let len = *bytes.get(at + 1).ok_or(DhcpError::OptionOverrun)?;
            let value = at + 2;
            let next = value + usize::from(len);
            if next > bytes.len() {
                return Err(DhcpError::OptionOverrun);
            }
            if OptionCode(code) == OptionCode::OVERLOAD {
                // Only the options field may say which fields hold more options, and only once:
                // anything else could send a reader round in circles (RFC 2131 section 4.1).
                if kind != Area::Options || self.overload.is_some() {
                    return Err(DhcpError::OverloadLoop);
                }
                let v = bytes.get(value).copied().filter(|_| len == 1);
                self.overload = Some(
                    v.and_then(Overload::from_u8)
                        .ok_or(DhcpError::BadOverload)?,
                );
            }
            let slot = self
                .fragments
                .get_mut(self.count)
                .ok_or(DhcpError::TooManyOptions)?;
            // `area.start + value` <= message length <= MAX_PACKET_LEN, checked by new_checked.
            let start = u16::try_from(area.start + value).map_err(|_| DhcpError::Oversized)?;
            *slot = Fragment { code, len, start };
            self.count += 1;
            at = next;
        }
        Ok(())
    }

    fn fragments(&self) -> &[Fragment] {
        self.fragments.get(..self.count).unwrap_or(&[])
    }

    /// The option with this code: all its fragments, concatenated.
    pub fn get(&self, code: OptionCode) -> Option<OptionValue<'_>> {
        let frags = self.fragments();
        let first = frags.iter().position(|f| f.code == code.0)?;
        Some(OptionValue::new(
            self.message,
            frags.get(first..).unwrap_or(&[]),
        ))
    }

    /// True when the option is present (with any length, zero included).
    pub fn contains(&self, code: OptionCode) -> bool {
        self.fragments().iter().any(|f| f.code == code.0)
    }

    /// Every option once, in the order its first fragment appears, unknown codes included.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            index: self,
            at: 0,
            seen: [0; 4],
        }
    }

    /// Number of distinct option codes.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when the message carries no option at all.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of fragments scanned (what [`MAX_OPTION_FRAGMENTS`] bounds).
    pub fn fragment_count(&self) -> usize {
        self.count
    }

    /// Which of `file` and `sname` held options (option 52).
    pub fn overload(&self) -> Option<Overload> {
        self.overload
    }

    /// The message type (option 53), if present with exactly one octet.
    pub fn message_type(&self) -> Option<MessageType> {
        self.array::<1>(OptionCode::MESSAGE_TYPE)
            .map(|[t]| MessageType::from(t))
    }

    /// Requested IP address (option 50).
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.ipv4(OptionCode::REQUESTED_IP)
    }

    /// Lease time in seconds (option 51).
    pub fn lease_time_secs(&self) -> Option<u32> {
        self.array(OptionCode::LEASE_TIME).map(u32::from_be_bytes)
    }

    /// Server identifier (option 54).
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.ipv4(OptionCode::SERVER_ID)
    }

    /// Subnet selection (option 118, RFC 3011).
    pub fn subnet_selection(&self) -> Option<Ipv4Addr> {
        self.ipv4(OptionCode::SUBNET_SELECTION)
    }

    /// Parameter request list (option 55): one code per octet, read with
    /// [`OptionValue::bytes`].
    pub fn parameter_request_list(&self) -> Option<OptionValue<'_>> {
        self.get(OptionCode::PARAMETER_REQUEST_LIST)
    }

    /// Maximum DHCP message size (option 57), only when it is a valid value: two octets and at
    /// least 576 (RFC 2132 section 9.10). It counts the IP and UDP headers.
    pub fn max_message_size(&self) -> Option<u16> {
        self.array(OptionCode::MAX_MESSAGE_SIZE)
            .map(u16::from_be_bytes)
            .filter(|&m| m >= MIN_MAX_MESSAGE_SIZE)
    }

    /// The longest DHCP payload a reply to this message may have: option 57 (when valid) or
    /// 576, less the IP and UDP headers.
    pub fn reply_limit(&self) -> usize {
        usize::from(self.max_message_size().unwrap_or(MIN_MAX_MESSAGE_SIZE)) - IP_UDP_OVERHEAD
    }

    /// Client identifier (option 61).
    pub fn client_id(&self) -> Option<OptionValue<'_>> {
        self.get(OptionCode::CLIENT_ID)
    }

    /// Vendor class identifier (option 60).
    pub fn vendor_class(&self) -> Option<OptionValue<'_>> {
        self.get(OptionCode::VENDOR_CLASS)
    }

    /// Host name (option 12).
    pub fn hostname(&self) -> Option<OptionValue<'_>> {
        self.get(OptionCode::HOST_NAME)
    }

    /// Relay agent information (option 82, RFC 3046), when its sub-options are well formed
    /// and it came in one fragment. A value split over fragments (over 255 bytes, which RFC
    /// 3046 does not foresee) can be joined with [`OptionValue::copy_to`] and read with
    /// [`RelayAgentInfo::new_checked`].
    pub fn relay_agent_info(&self) -> Option<RelayAgentInfo<'_>> {
        RelayAgentInfo::new_checked(self.get(OptionCode::RELAY_AGENT_INFO)?.as_slice()?)
    }

    fn array<const N: usize>(&self, code: OptionCode) -> Option<[u8; N]> {
        self.get(code)?.to_array()
    }

    fn ipv4(&self, code: OptionCode) -> Option<Ipv4Addr> {
        self.array::<4>(code).map(Ipv4Addr::from)
    }
}

/// One option's value: the fragments of its code, in message order.
#[derive(Clone, Copy, Debug)]
pub struct OptionValue<'a> {
    message: &'a [u8],
    /// From the first fragment of this code to the end of the index.
    rest: &'a [Fragment],
    code: u8,
    len: usize,
    fragments: usize,
}

impl<'a> OptionValue<'a> {
    fn new(message: &'a [u8], rest: &'a [Fragment]) -> Self {
        let code = rest.first().map_or(0, |f| f.code);
        let (len, fragments) = rest
            .iter()
            .filter(|f| f.code == code)
            .fold((0, 0), |(l, n), f| (l + usize::from(f.len), n + 1));
        OptionValue {
            message,
            rest,
            code,
            len,
            fragments,
        }
    }

    /// The option code.
    pub fn code(&self) -> OptionCode {
        OptionCode(self.code)
    }

    /// Total value length, all fragments together.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of fragments (1 unless the sender split the option, RFC 3396).
    pub fn fragment_count(&self) -> usize {
        self.fragments
    }

    /// The value as one slice, when it came in one fragment.
    pub fn as_slice(&self) -> Option<&'a [u8]> {
        if self.fragments == 1 {
            self.iter_fragments().next()
        } else {
            None
        }
    }

    /// The fragments' values, in order.
    pub fn iter_fragments(&self) -> Fragments<'a> {
        Fragments {
            message: self.message,
            rest: self.rest.iter(),
            code: self.code,
        }
    }

    /// Every octet of the value, across fragments.
    pub fn bytes(&self) -> impl Iterator<Item = u8> + 'a {
        self.iter_fragments().flatten().copied()
    }

    /// Copies the whole value to the front of `out`; `None` (and `out` untouched) when it
    /// does not fit.
    pub fn copy_to(&self, out: &mut [u8]) -> Option<usize> {
        let out = out.get_mut(..self.len)?;
        let mut at = 0;
        for frag in self.iter_fragments() {
            let dst = out.get_mut(at..at + frag.len())?;
            dst.copy_from_slice(frag);
            at += frag.len();
        }
        Some(at)
    }

    /// The value as an array, when its length is exactly `N`.
    pub fn to_array<const N: usize>(&self) -> Option<[u8; N]> {
        if self.len != N {
            return None;
        }
        let mut out = [0; N];
        self.copy_to(&mut out)?;
        Some(out)
    }

    /// True when the concatenated value equals `other`.
    pub fn eq_bytes(&self, other: &[u8]) -> bool {
        self.len == other.len() && self.bytes().eq(other.iter().copied())
    }
}

/// The values of one option's fragments.
#[derive(Clone, Debug)]
pub struct Fragments<'a> {
    message: &'a [u8],
    rest: core::slice::Iter<'a, Fragment>,
    code: u8,
}

impl<'a> Iterator for Fragments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let f = self.rest.by_ref().find(|f| f.code == self.code)?;
        let start = usize::from(f.start);
        // In range: the scan checked every fragment against its field.
        Some(
            self.message
                .get(start..start + usize::from(f.len))
                .unwrap_or(&[]),
        )
    }
}

/// Every option of an [`OptionIndex`] once, by first appearance.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    index: &'a OptionIndex<'a>,
    at: usize,
    /// Codes already yielded, one bit each.
    seen: [u64; 4],
}

impl<'a> Iterator for Iter<'a> {
    type Item = OptionValue<'a>;

    fn next(&mut self) -> Option<OptionValue<'a>> {
        let frags = self.index.fragments();
        while let Some(f) = frags.get(self.at) {
            let rest = frags.get(self.at..).unwrap_or(&[]);
            self.at += 1;
            let word = usize::from(f.code / 64);
            let bit = 1u64 << (f.code % 64);
            if let Some(w) = self.seen.get_mut(word) {
                if *w & bit == 0 {
                    *w |= bit;
                    return Some(OptionValue::new(self.index.message, rest));
                }
            }
        }
        None
    }
}

impl<'a> IntoIterator for &'a OptionIndex<'a> {
    type Item = OptionValue<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::{HEADER_LEN, MAGIC_COOKIE};
    use super::*;

    /// A request header followed by `options` in the options field, and `file`/`sname`
    /// contents.
    fn message<'b>(buf: &'b mut [u8], options: &[u8], file: &[u8], sname: &[u8]) -> &'b [u8] {
        buf.fill(0);
        buf[0] = 1;
        buf[1] = 1;
        buf[2] = 6;
        buf[44..44 + sname.len()].copy_from_slice(sname);
        buf[108..108 + file.len()].copy_from_slice(file);
        buf[236..240].copy_from_slice(&MAGIC_COOKIE);
        buf[240..240 + options.len()].copy_from_slice(options);
        &buf[..HEADER_LEN + options.len()]
    }

    fn index_err(options: &[u8], file: &[u8], sname: &[u8]) -> DhcpError {
        let mut buf = [0u8; 1500];
        let p = DhcpPacket::new_checked(message(&mut buf, options, file, sname)).unwrap();
        p.options().unwrap_err()
    }

    #[test]
    fn reads_options_with_pads_and_end() {
        let mut buf = [0u8; 600];
        let opts = [
            0, 0, 53, 1, 3, // REQUEST
            0, 50, 4, 10, 0, 0, 9, // requested ip
            51, 4, 0, 0, 0x0e, 0x10, // 3600 s
            54, 4, 10, 0, 0, 1, // server id
            55, 3, 1, 3, 6, // PRL
            57, 2, 0x05, 0xdc, // 1500
            61, 7, 1, 2, 0, 0, 0, 0, 9, // client id
            60, 3, b'a', b'b', b'c', // vendor class
            12, 2, b'h', b'n', // hostname
            118, 4, 10, 1, 0, 0, // subnet selection
            224, 0, // unknown, empty
            255, 99, 99, // end, then garbage that is never read
        ];
        let p = DhcpPacket::new_checked(message(&mut buf, &opts, &[], &[])).unwrap();
        let idx = p.options().unwrap();
        assert_eq!(idx.message_type(), Some(MessageType::Request));
        assert_eq!(idx.requested_ip(), Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(idx.lease_time_secs(), Some(3600));
        assert_eq!(idx.server_id(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(
            idx.parameter_request_list().unwrap().as_slice(),
            Some(&[1u8, 3, 6][..])
        );
        assert_eq!(idx.max_message_size(), Some(1500));
        assert_eq!(idx.reply_limit(), 1500 - 28);
        assert!(idx.client_id().unwrap().eq_bytes(&[1, 2, 0, 0, 0, 0, 9]));
        assert!(idx.vendor_class().unwrap().eq_bytes(b"abc"));
        assert!(idx.hostname().unwrap().eq_bytes(b"hn"));
        assert_eq!(idx.subnet_selection(), Some(Ipv4Addr::new(10, 1, 0, 0)));
        assert!(idx.relay_agent_info().is_none());
        let unknown = idx.get(OptionCode(224)).unwrap();
        assert!(unknown.is_empty());
        assert_eq!(unknown.as_slice(), Some(&[][..]));
        assert!(idx.contains(OptionCode(224)));
        assert!(!idx.contains(OptionCode(225)));
        assert_eq!(idx.len(), 11);
        assert_eq!(idx.fragment_count(), 11);
        assert_eq!(idx.overload(), None);
        let codes = [53u8, 50, 51, 54, 55, 57, 61, 60, 12, 118, 224];
        assert!(idx.iter().map(|v| v.code().0).eq(codes));
    }

    #[test]
    fn typed_helpers_want_exact_lengths() {
        let mut buf = [0u8; 600];
        let opts = [53, 2, 1, 1, 50, 3, 1, 2, 3, 51, 0, 57, 2, 0x02, 0x3f, 255];
        let p = DhcpPacket::new_checked(message(&mut buf, &opts, &[], &[])).unwrap();
        let idx = p.options().unwrap();
        assert_eq!(idx.message_type(), None);
        assert_eq!(idx.requested_ip(), None);
        assert_eq!(idx.lease_time_secs(), None);
        // 575 is below the legal minimum: ignored, and the reply limit falls back to 576.
        assert_eq!(idx.max_message_size(), None);
        assert_eq!(idx.reply_limit(), 576 - 28);
        assert_eq!(idx.server_id(), None);
    }

    #[test]
    fn missing_end_is_tolerated() {
        let mut buf = [0u8; 600];
        let p = DhcpPacket::new_checked(message(&mut buf, &[53, 1, 1], &[], &[])).unwrap();
        assert_eq!(
            p.options().unwrap().message_type(),
            Some(MessageType::Discover)
        );
        // Only pads, or nothing at all.
        let p = DhcpPacket::new_checked(message(&mut buf, &[0, 0, 0], &[], &[])).unwrap();
        assert!(p.options().unwrap().is_empty());
        let p = DhcpPacket::new_checked(message(&mut buf, &[], &[], &[])).unwrap();
        assert!(p.options().unwrap().is_empty());
    }

    #[test]
    fn fragments_concatenate_in_order_even_when_apart() {
        let mut buf = [0u8; 600];
        let opts = [
            43, 2, 1, 2, // vendor part 1
            53, 1, 1, //
            43, 0, // empty fragment
            43, 3, 3, 4, 5, // part 2
            255,
        ];
        let p = DhcpPacket::new_checked(message(&mut buf, &opts, &[], &[])).unwrap();
        let idx = p.options().unwrap();
        let v = idx.get(OptionCode::VENDOR_SPECIFIC).unwrap();
        assert_eq!(v.len(), 5);
        assert_eq!(v.fragment_count(), 3);
        assert_eq!(v.as_slice(), None);
        assert!(v.bytes().eq([1, 2, 3, 4, 5]));
        assert!(v.eq_bytes(&[1, 2, 3, 4, 5]));
        assert!(!v.eq_bytes(&[1, 2, 3, 4]));
        let mut out = [0u8; 8];
        assert_eq!(v.copy_to(&mut out), Some(5));
        assert_eq!(out[..5], [1, 2, 3, 4, 5]);
        let mut small = [9u8; 4];
        assert_eq!(v.copy_to(&mut small), None);
        assert_eq!(small, [9; 4]);
        assert_eq!(v.to_array::<5>(), Some([1, 2, 3, 4, 5]));
        assert_eq!(v.to_array::<4>(), None);
        let frags = [&[1u8, 2][..], &[][..], &[3, 4, 5][..]];
        assert!(v.iter_fragments().eq(frags));
        // One option per code, by first appearance.
        assert!(idx.iter().map(|v| v.code().0).eq([43, 53]));
        assert_eq!(idx.fragment_count(), 4);
    }

    #[test]
    fn overload_reads_options_then_file_then_sname() {
        let mut buf = [0u8; 600];
        let opts = [53, 1, 1, 52, 1, 3, 224, 1, b'o', 255];
        let file = [224, 1, b'f', 6, 4, 8, 8, 8, 8, 255];
        let sname = [0, 224, 1, b's', 12, 1, b'x'];
        let p = DhcpPacket::new_checked(message(&mut buf, &opts, &file, &sname)).unwrap();
        let idx = p.options().unwrap();
        assert_eq!(idx.overload(), Some(Overload::Both));
        assert!(idx.get(OptionCode(224)).unwrap().eq_bytes(b"ofs"));
        assert!(
            idx.get(OptionCode::DOMAIN_NAME_SERVER)
                .unwrap()
                .eq_bytes(&[8; 4])
        );
        assert!(idx.hostname().unwrap().eq_bytes(b"x"));
        assert!(idx.iter().map(|v| v.code().0).eq([53, 52, 224, 6, 12]));

        // file only: sname stays a name.
        let opts = [52, 1, 1, 255];
        let p = DhcpPacket::new_checked(message(&mut buf, &opts, &file, &sname)).unwrap();
        let idx = p.options().unwrap();
        assert_eq!(idx.overload(), Some(Overload::File));
        assert!(idx.get(OptionCode(224)).unwrap().eq_bytes(b"f"));
        assert!(!idx.contains(OptionCode::HOST_NAME));

        // sname only.
        let opts = [52, 1, 2, 255];
        let p = DhcpPacket::new_checked(message(&mut buf, &opts, &file, &sname)).unwrap();
        let idx = p.options().unwrap();
        assert_eq!(idx.overload(), Some(Overload::Sname));
        assert!(idx.get(OptionCode(224)).unwrap().eq_bytes(b"s"));
        assert!(!idx.contains(OptionCode::DOMAIN_NAME_SERVER));
    }

    #[test]
    fn option_overrun() {
        // Length past the end of the options field.
        assert_eq!(index_err(&[53, 5, 1], &[], &[]), DhcpError::OptionOverrun);
        // No room for the length octet itself.
        assert_eq!(
            index_err(&[53, 1, 1, 61], &[], &[]),
            DhcpError::OptionOverrun
        );
        // Past the end of `file` (even though sname follows it in memory).
        let file = {
            let mut f = [0u8; 128];
            f[126] = 224;
            f[127] = 2;
            f
        };
        assert_eq!(index_err(&[52, 1, 1], &file, &[]), DhcpError::OptionOverrun);
        // Past the end of `sname` (even though file follows it in memory).
        let mut sname = [0u8; 64];
        sname[63] = 224;
        assert_eq!(
            index_err(&[52, 1, 2], &[], &sname),
            DhcpError::OptionOverrun
        );
    }

    #[test]
    fn bad_overload() {
        for opts in [&[52u8, 1, 0][..], &[52, 1, 4], &[52, 2, 1, 1], &[52, 0]] {
            assert_eq!(index_err(opts, &[], &[]), DhcpError::BadOverload);
        }
    }

    #[test]
    fn overload_loop() {
        // Option 52 inside file.
        assert_eq!(
            index_err(&[52, 1, 1], &[52, 1, 1], &[]),
            DhcpError::OverloadLoop
        );
        // Option 52 inside sname pointing back at file.
        assert_eq!(
            index_err(&[52, 1, 3], &[255], &[52, 1, 1]),
            DhcpError::OverloadLoop
        );
        // Option 52 twice in the options field.
        assert_eq!(
            index_err(&[52, 1, 1, 52, 1, 2], &[], &[]),
            DhcpError::OverloadLoop
        );
    }

    #[test]
    fn option_52_inside_a_field_that_is_not_overloaded_is_just_a_name() {
        let mut buf = [0u8; 600];
        let p = DhcpPacket::new_checked(message(&mut buf, &[53, 1, 1], &[52, 1, 1], &[52, 1, 2]))
            .unwrap();
        assert_eq!(p.options().unwrap().overload(), None);
    }

    #[test]
    fn too_many_options() {
        let mut opts = [0u8; 2 * (MAX_OPTION_FRAGMENTS + 1)];
        for pair in opts.chunks_mut(2) {
            pair[0] = 224;
        }
        let fits = &opts[..2 * MAX_OPTION_FRAGMENTS];
        let mut buf = [0u8; 1500];
        let p = DhcpPacket::new_checked(message(&mut buf, fits, &[], &[])).unwrap();
        let idx = p.options().unwrap();
        assert_eq!(idx.fragment_count(), MAX_OPTION_FRAGMENTS);
        assert_eq!(idx.len(), 1);
        assert_eq!(
            idx.get(OptionCode(224)).unwrap().fragment_count(),
            MAX_OPTION_FRAGMENTS
        );
        assert_eq!(index_err(&opts, &[], &[]), DhcpError::TooManyOptions);
    }

    #[test]
    fn every_code_is_kept() {
        // Each code 1..=254 except 52 once, empty: 253 > MAX_OPTION_FRAGMENTS, so in two halves.
        let mut buf = [0u8; 1500];
        for half in [1u8..=127, 128..=254] {
            let mut opts = [0u8; 254];
            let mut n = 0;
            for code in half.clone().filter(|&c| c != 52) {
                opts[n] = code;
                n += 2;
            }
            let p = DhcpPacket::new_checked(message(&mut buf, &opts[..n], &[], &[])).unwrap();
            let idx = p.options().unwrap();
            assert!(idx.iter().map(|v| v.code().0).eq(half.filter(|&c| c != 52)));
        }
    }
}

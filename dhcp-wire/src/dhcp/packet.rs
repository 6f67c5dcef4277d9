//! The fixed BOOTP/DHCP header (RFC 2131 section 2, figure 1) as a checked view.

use core::fmt;
use core::net::Ipv4Addr;
use core::ops::Range;

use super::index::OptionIndex;

/// Byte ranges of the fixed fields (RFC 2131 section 2, table 1).
pub mod field {
    use core::ops::Range;

    /// A byte range of the header.
    pub type Field = Range<usize>;

    /// Message op code: 1 BOOTREQUEST, 2 BOOTREPLY.
    pub const OP: usize = 0;
    /// Hardware address type (1 = Ethernet).
    pub const HTYPE: usize = 1;
    /// Hardware address length.
    pub const HLEN: usize = 2;
    /// Relay hop count.
    pub const HOPS: usize = 3;
    /// Transaction id.
    pub const XID: Field = 4..8;
    /// Seconds since the client began acquisition.
    pub const SECS: Field = 8..10;
    /// Flags; the top bit is BROADCAST.
    pub const FLAGS: Field = 10..12;
    /// Client IP address.
    pub const CIADDR: Field = 12..16;
    /// "Your" (client) IP address.
    pub const YIADDR: Field = 16..20;
    /// Next server IP address.
    pub const SIADDR: Field = 20..24;
    /// Relay agent IP address.
    pub const GIADDR: Field = 24..28;
    /// Client hardware address.
    pub const CHADDR: Field = 28..44;
    /// Server host name, NUL-terminated, or options when overloaded.
    pub const SNAME: Field = 44..108;
    /// Boot file name, NUL-terminated, or options when overloaded.
    pub const FILE: Field = 108..236;
    /// The magic cookie 99.130.83.99 (RFC 2131 section 3).
    pub const MAGIC: Field = 236..240;
    /// Start of the options field.
    pub const OPTIONS: usize = 240;
}

/// Length of the fixed header including the magic cookie: the shortest DHCP message.
pub const HEADER_LEN: usize = field::OPTIONS;
/// The magic cookie that opens the options field (RFC 2131 section 3).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Longest `chaddr` (RFC 2131 section 2).
pub const MAX_HLEN: u8 = 16;
/// Longest buffer a [`DhcpPacket`] accepts: the largest UDP payload fits.
pub const MAX_PACKET_LEN: usize = u16::MAX as usize;
/// `htype` for Ethernet (RFC 1700 hardware types).
pub const HTYPE_ETHERNET: u8 = 1;
/// The BROADCAST bit of `flags` (RFC 2131 section 2, figure 2).
pub const FLAG_BROADCAST: u16 = 0x8000;

/// Why a buffer is not a DHCP message we will look at. Closed and `Copy`, so that a drop can be
/// counted by reason ([`DhcpError::ALL`] and [`DhcpError::index`] give a dense numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DhcpError {
    /// Shorter than the 236-byte header plus the 4-byte magic cookie.
    Truncated,
    /// Longer than [`MAX_PACKET_LEN`]: not something UDP can carry.
    Oversized,
    /// `op` is neither 1 (BOOTREQUEST) nor 2 (BOOTREPLY).
    BadOp,
    /// `hlen` is above 16.
    BadHlen,
    /// The four bytes after the header are not 99.130.83.99.
    BadMagicCookie,
    /// An option's length octet (or the length octet itself) runs past the end of its field.
    OptionOverrun,
    /// Option 52 whose length is not 1 or whose value is not 1, 2 or 3.
    BadOverload,
    /// Option 52 repeated, or found inside `file` or `sname` (RFC 2131 section 4.1 allows it
    /// in the options field only).
    OverloadLoop,
    /// More option fragments than [`MAX_OPTION_FRAGMENTS`](super::MAX_OPTION_FRAGMENTS).
    TooManyOptions,
}

impl DhcpError {
    /// Every variant, in [`DhcpError::index`] order.
    pub const ALL: [DhcpError; 9] = [
        DhcpError::Truncated,
        DhcpError::Oversized,
        DhcpError::BadOp,
        DhcpError::BadHlen,
        DhcpError::BadMagicCookie,
        DhcpError::OptionOverrun,
        DhcpError::BadOverload,
        DhcpError::OverloadLoop,
        DhcpError::TooManyOptions,
    ];

    /// A dense index (0..`ALL.len()`), e.g. into an array of drop counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short stable name for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DhcpError::Truncated => "truncated",
            DhcpError::Oversized => "oversized",
            DhcpError::BadOp => "bad_op",
            DhcpError::BadHlen => "bad_hlen",
            DhcpError::BadMagicCookie => "bad_magic_cookie",
            DhcpError::OptionOverrun => "option_overrun",
            DhcpError::BadOverload => "bad_overload",
            DhcpError::OverloadLoop => "overload_loop",
            DhcpError::TooManyOptions => "too_many_options",
        }
    }
}

impl fmt::Display for DhcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DhcpError::Truncated => "DHCP message shorter than 240 bytes",
            DhcpError::Oversized => "DHCP message longer than 65535 bytes",
            DhcpError::BadOp => "op is neither BOOTREQUEST nor BOOTREPLY",
            DhcpError::BadHlen => "hlen above 16",
            DhcpError::BadMagicCookie => "bad magic cookie",
            DhcpError::OptionOverrun => "option runs past the end of its field",
            DhcpError::BadOverload => "option overload with a bad length or value",
            DhcpError::OverloadLoop => "option overload repeated or inside file/sname",
            DhcpError::TooManyOptions => "too many option fragments",
        })
    }
}

impl core::error::Error for DhcpError {}

/// The BOOTP message op code (RFC 2131 section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// 1: client to server.
    BootRequest,
    /// 2: server to client.
    BootReply,
}

impl Op {
    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Op::BootRequest => 1,
            Op::BootReply => 2,
        }
    }
}

/// A DHCP message in a buffer: the fixed header checked once by [`DhcpPacket::new_checked`], so
/// that no accessor can panic. Options are read through [`DhcpPacket::options`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DhcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DhcpPacket<T> {
    /// Wraps a buffer holding exactly one DHCP message (the UDP payload), after checking its
    /// length, `op`, `hlen` and magic cookie. Options are checked when indexed.
    pub fn new_checked(buffer: T) -> Result<Self, DhcpError> {
        let packet = DhcpPacket { buffer };
        packet.check()?;
        Ok(packet)
    }

    /// Wraps without checking: for the writer, which fills in a valid header before reading it.
    pub(crate) fn new_unchecked(buffer: T) -> Self {
        DhcpPacket { buffer }
    }

    fn check(&self) -> Result<(), DhcpError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(DhcpError::Truncated);
        }
        if b.len() > MAX_PACKET_LEN {
            return Err(DhcpError::Oversized);
        }
        if !matches!(self.byte(field::OP), 1 | 2) {
            return Err(DhcpError::BadOp);
        }
        if self.byte(field::HLEN) > MAX_HLEN {
            return Err(DhcpError::BadHlen);
        }
        if self.array::<4>(field::MAGIC) != MAGIC_COOKIE {
            return Err(DhcpError::BadMagicCookie);
        }
        Ok(())
    }

    /// The whole buffer.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Reads one header byte; 0 where the buffer is shorter (never after `new_checked`).
    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    /// Reads a fixed-size header field; zeros where the buffer is shorter (never after
    /// `new_checked`), so that even a buffer that changes length behind `AsRef` cannot panic.
    fn array<const N: usize>(&self, range: Range<usize>) -> [u8; N] {
        self.buffer
            .as_ref()
            .get(range)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .unwrap_or([0; N])
    }

    fn slice(&self, range: Range<usize>) -> &[u8] {
        self.buffer.as_ref().get(range).unwrap_or(&[])
    }

    /// `op`: BOOTREQUEST or BOOTREPLY (checked by `new_checked`).
    pub fn op(&self) -> Op {
        if self.byte(field::OP) == 2 {
            Op::BootReply
        } else {
            Op::BootRequest
        }
    }

    /// `htype`: hardware address type.
    pub fn htype(&self) -> u8 {
        self.byte(field::HTYPE)
    }

    /// `hlen`: hardware address length, at most 16.
    pub fn hlen(&self) -> u8 {
        self.byte(field::HLEN)
    }

    /// `hops`: relay hop count.
    pub fn hops(&self) -> u8 {
        self.byte(field::HOPS)
    }

    /// `xid`: transaction id.
    pub fn xid(&self) -> u32 {
        u32::from_be_bytes(self.array(field::XID))
    }

    /// `secs`: seconds since the client began.
    pub fn secs(&self) -> u16 {
        u16::from_be_bytes(self.array(field::SECS))
    }

    /// `flags`, all 16 bits.
    pub fn flags(&self) -> u16 {
        u16::from_be_bytes(self.array(field::FLAGS))
    }

    /// The BROADCAST flag.
    pub fn broadcast(&self) -> bool {
        self.flags() & FLAG_BROADCAST != 0
    }

    /// `ciaddr`: client IP address.
    pub fn ciaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.array::<4>(field::CIADDR))
    }

    /// `yiaddr`: "your" IP address.
    pub fn yiaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.array::<4>(field::YIADDR))
    }

    /// `siaddr`: next server IP address.
    pub fn siaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.array::<4>(field::SIADDR))
    }

    /// `giaddr`: relay agent IP address.
    pub fn giaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.array::<4>(field::GIADDR))
    }

    /// The client hardware address: the first `hlen` bytes of `chaddr`.
    pub fn chaddr(&self) -> &[u8] {
        let hlen = usize::from(self.hlen().min(MAX_HLEN));
        self.slice(field::CHADDR.start..field::CHADDR.start + hlen)
    }

    /// All 16 bytes of the `chaddr` field.
    pub fn chaddr_field(&self) -> [u8; 16] {
        self.array(field::CHADDR)
    }

    /// The raw 64-byte `sname` field. Holds options, not a name, when option 52 says so.
    pub fn sname(&self) -> &[u8] {
        self.slice(field::SNAME)
    }

    /// The raw 128-byte `file` field. Holds options, not a name, when option 52 says so.
    pub fn file(&self) -> &[u8] {
        self.slice(field::FILE)
    }

    /// The options field: everything after the magic cookie.
    pub fn options_field(&self) -> &[u8] {
        self.buffer.as_ref().get(field::OPTIONS..).unwrap_or(&[])
    }

    /// Scans the options (and any overloaded `file`/`sname`) into an index.
    pub fn options(&self) -> Result<OptionIndex<'_>, DhcpError> {
        OptionIndex::new(self)
    }
}

/// Setters, for building a message in place (the writer uses these) or rewriting a received one
/// (a relay bumping `hops`). Writes past the end of a short buffer are ignored, never a panic.
impl<T: AsRef<[u8]> + AsMut<[u8]>> DhcpPacket<T> {
    fn put(&mut self, at: usize, bytes: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }

    /// Fills a field with `bytes` and zeros after them; `bytes` longer than the field are cut.
    fn put_padded(&mut self, range: Range<usize>, bytes: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(range) {
            let n = bytes.len().min(dst.len());
            let (head, tail) = dst.split_at_mut(n);
            head.copy_from_slice(bytes.get(..n).unwrap_or(&[]));
            tail.fill(0);
        }
    }

    /// Sets `op`.
    pub fn set_op(&mut self, op: Op) {
        self.put(field::OP, &[op.to_u8()]);
    }

    /// Sets `htype`.
    pub fn set_htype(&mut self, htype: u8) {
        self.put(field::HTYPE, &[htype]);
    }

    /// Sets `hlen`, capped at 16 so the packet stays valid.
    pub fn set_hlen(&mut self, hlen: u8) {
        self.put(field::HLEN, &[hlen.min(MAX_HLEN)]);
    }

    /// Sets `hops`.
    pub fn set_hops(&mut self, hops: u8) {
        self.put(field::HOPS, &[hops]);
    }

    /// Sets `xid`.
    pub fn set_xid(&mut self, xid: u32) {
        self.put(field::XID.start, &xid.to_be_bytes());
    }

    /// Sets `secs`.
    pub fn set_secs(&mut self, secs: u16) {
        self.put(field::SECS.start, &secs.to_be_bytes());
    }

    /// Sets all 16 bits of `flags`.
    pub fn set_flags(&mut self, flags: u16) {
        self.put(field::FLAGS.start, &flags.to_be_bytes());
    }

    /// Sets or clears the BROADCAST flag, leaving the other bits.
    pub fn set_broadcast(&mut self, broadcast: bool) {
        let flags = self.flags() & !FLAG_BROADCAST;
        self.set_flags(if broadcast {
            flags | FLAG_BROADCAST
        } else {
            flags
        });
    }

    /// Sets `ciaddr`.
    pub fn set_ciaddr(&mut self, addr: Ipv4Addr) {
        self.put(field::CIADDR.start, &addr.octets());
    }

    /// Sets `yiaddr`.
    pub fn set_yiaddr(&mut self, addr: Ipv4Addr) {
        self.put(field::YIADDR.start, &addr.octets());
    }

    /// Sets `siaddr`.
    pub fn set_siaddr(&mut self, addr: Ipv4Addr) {
        self.put(field::SIADDR.start, &addr.octets());
    }

    /// Sets `giaddr`.
    pub fn set_giaddr(&mut self, addr: Ipv4Addr) {
        self.put(field::GIADDR.start, &addr.octets());
    }

    /// Sets `chaddr` to `addr` followed by zeros (at most 16 bytes are used); `hlen` is not
    /// changed.
    pub fn set_chaddr(&mut self, addr: &[u8]) {
        self.put_padded(field::CHADDR, addr);
    }

    /// Sets `sname` to `name` followed by zeros (at most 64 bytes are used).
    pub fn set_sname(&mut self, name: &[u8]) {
        self.put_padded(field::SNAME, name);
    }

    /// Sets `file` to `name` followed by zeros (at most 128 bytes are used).
    pub fn set_file(&mut self, name: &[u8]) {
        self.put_padded(field::FILE, name);
    }

    /// Writes the magic cookie.
    pub fn set_magic_cookie(&mut self) {
        self.put(field::MAGIC.start, &MAGIC_COOKIE);
    }

    /// The whole buffer, writable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> [u8; 300] {
        let mut b = [0u8; 300];
        b[0] = 1;
        b[1] = HTYPE_ETHERNET;
        b[2] = 6;
        b[236..240].copy_from_slice(&MAGIC_COOKIE);
        b[240] = 255;
        b
    }

    #[test]
    fn accepts_a_minimal_message() {
        let b = header();
        let p = DhcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.op(), Op::BootRequest);
        assert_eq!(p.htype(), 1);
        assert_eq!(p.hlen(), 6);
        assert_eq!(p.chaddr(), &[0; 6]);
        assert_eq!(p.sname().len(), 64);
        assert_eq!(p.file().len(), 128);
        assert_eq!(p.options_field().len(), 60);
        // Exactly 240 bytes: no options at all is still a message.
        assert!(DhcpPacket::new_checked(&b[..240]).is_ok());
    }

    #[test]
    fn reads_every_field() {
        let mut b = header();
        b[0] = 2;
        b[3] = 3;
        b[4..8].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
        b[8..10].copy_from_slice(&7u16.to_be_bytes());
        b[10..12].copy_from_slice(&0x8001u16.to_be_bytes());
        b[12..16].copy_from_slice(&[10, 0, 0, 1]);
        b[16..20].copy_from_slice(&[10, 0, 0, 2]);
        b[20..24].copy_from_slice(&[10, 0, 0, 3]);
        b[24..28].copy_from_slice(&[10, 0, 0, 4]);
        b[28..34].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        b[44] = b'S';
        b[108] = b'F';
        let p = DhcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.op(), Op::BootReply);
        assert_eq!(p.hops(), 3);
        assert_eq!(p.xid(), 0xdead_beef);
        assert_eq!(p.secs(), 7);
        assert_eq!(p.flags(), 0x8001);
        assert!(p.broadcast());
        assert_eq!(p.ciaddr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.yiaddr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.siaddr(), Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(p.giaddr(), Ipv4Addr::new(10, 0, 0, 4));
        assert_eq!(p.chaddr(), &[2, 0, 0, 0, 0, 9]);
        assert_eq!(p.chaddr_field()[..6], [2, 0, 0, 0, 0, 9]);
        assert_eq!(p.sname()[0], b'S');
        assert_eq!(p.file()[0], b'F');
    }

    #[test]
    fn setters_write_what_getters_read() {
        let mut b = [0u8; 300];
        let mut p = DhcpPacket::new_unchecked(&mut b[..]);
        p.set_op(Op::BootReply);
        p.set_htype(6);
        p.set_hlen(40);
        p.set_hops(1);
        p.set_xid(42);
        p.set_secs(3);
        p.set_flags(0x0001);
        p.set_broadcast(true);
        p.set_ciaddr(Ipv4Addr::new(1, 2, 3, 4));
        p.set_yiaddr(Ipv4Addr::new(5, 6, 7, 8));
        p.set_siaddr(Ipv4Addr::new(9, 10, 11, 12));
        p.set_giaddr(Ipv4Addr::new(13, 14, 15, 16));
        p.set_chaddr(&[0xaa; 20]);
        p.set_sname(b"server");
        p.set_file(b"boot.img");
        p.set_magic_cookie();
        let p = DhcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.op(), Op::BootReply);
        assert_eq!(p.htype(), 6);
        assert_eq!(p.hlen(), 16);
        assert_eq!(p.hops(), 1);
        assert_eq!(p.xid(), 42);
        assert_eq!(p.secs(), 3);
        assert_eq!(p.flags(), 0x8001);
        assert_eq!(p.ciaddr(), Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(p.yiaddr(), Ipv4Addr::new(5, 6, 7, 8));
        assert_eq!(p.siaddr(), Ipv4Addr::new(9, 10, 11, 12));
        assert_eq!(p.giaddr(), Ipv4Addr::new(13, 14, 15, 16));
        assert_eq!(p.chaddr(), &[0xaa; 16]);
        assert_eq!(&p.sname()[..7], b"server\0");
        assert_eq!(&p.file()[..9], b"boot.img\0");
        let mut b2 = b;
        let mut p2 = DhcpPacket::new_unchecked(&mut b2[..]);
        p2.set_broadcast(false);
        assert_eq!(p2.flags(), 0x0001);
    }

    #[test]
    fn truncated() {
        let b = header();
        for len in 0..HEADER_LEN {
            assert_eq!(
                DhcpPacket::new_checked(&b[..len]).err(),
                Some(DhcpError::Truncated)
            );
        }
    }

    #[test]
    fn oversized() {
        extern crate std;
        let mut b = std::vec![0u8; MAX_PACKET_LEN + 1];
        b[..300].copy_from_slice(&header());
        assert_eq!(
            DhcpPacket::new_checked(&b[..]).err(),
            Some(DhcpError::Oversized)
        );
        assert!(DhcpPacket::new_checked(&b[..MAX_PACKET_LEN]).is_ok());
    }

    #[test]
    fn bad_op() {
        for op in [0u8, 3, 255] {
            let mut b = header();
            b[0] = op;
            assert_eq!(
                DhcpPacket::new_checked(&b[..]).err(),
                Some(DhcpError::BadOp)
            );
        }
    }

    #[test]
    fn bad_hlen() {
        let mut b = header();
        b[2] = 16;
        assert_eq!(DhcpPacket::new_checked(&b[..]).unwrap().chaddr().len(), 16);
        for hlen in [17u8, 255] {
            b[2] = hlen;
            assert_eq!(
                DhcpPacket::new_checked(&b[..]).err(),
                Some(DhcpError::BadHlen)
            );
        }
    }

    #[test]
    fn bad_magic_cookie() {
        let mut b = header();
        b[239] = 98;
        assert_eq!(
            DhcpPacket::new_checked(&b[..]).err(),
            Some(DhcpError::BadMagicCookie)
        );
        // A plain BOOTP message (RFC 951 vendor field without the cookie) is not DHCP either.
        b[236..240].fill(0);
        assert_eq!(
            DhcpPacket::new_checked(&b[..]).err(),
            Some(DhcpError::BadMagicCookie)
        );
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic generator; the property tests and the fuzzer go much further.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut b = [0u8; 600];
        for round in 0..2000 {
            for byte in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *byte = x as u8;
            }
            if round % 2 == 0 {
                b[0] = 1;
                b[2] = 6;
                b[236..240].copy_from_slice(&MAGIC_COOKIE);
            }
            let len = (x as usize >> 8) % b.len();
            if let Ok(p) = DhcpPacket::new_checked(&b[..len]) {
                let _ = (p.xid(), p.chaddr(), p.giaddr(), p.broadcast());
                let _ = p.options();
            }
        }
    }

    #[test]
    fn error_numbering_is_dense() {
        for (i, e) in DhcpError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert!(!e.as_str().is_empty());
        }
    }
}

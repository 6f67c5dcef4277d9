//! Writing a DHCP message in place, options split per RFC 3396 and, when allowed, overloaded
//! into `file` and `sname` per RFC 2131 section 4.1.

use core::fmt;
use core::net::Ipv4Addr;

use super::index::OptionValue;
use super::option::{MessageType, OptionCode, Overload};
use super::packet::{DhcpPacket, HEADER_LEN, MAX_PACKET_LEN, Op, field};

/// The shortest message the writer emits: BOOTP relays and old clients expect the 64-byte
/// vendor area of RFC 951 (RFC 1542 section 2.1).
pub const BOOTP_MIN_LEN: usize = 300;

/// Longest value of one option fragment.
const MAX_FRAGMENT: usize = 255;

/// Why the writer refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteError {
    /// The buffer, or the size limit, is below [`BOOTP_MIN_LEN`].
    BufferTooSmall,
    /// The option does not fit in the space left; nothing of it was written, and smaller
    /// options may still fit.
    NoSpace,
    /// Pad, end and overload (0, 255, 52) are written by the writer itself.
    ReservedCode,
    /// `chaddr` over 16 bytes, `sname` over 64 or `file` over 128.
    FieldTooLong,
    /// `sname` or `file` was lent to options when the writer was made.
    FieldOverloaded,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteError::BufferTooSmall => "buffer or size limit below 300 bytes",
            WriteError::NoSpace => "option does not fit in the message",
            WriteError::ReservedCode => "pad, end and overload are written by the writer",
            WriteError::FieldTooLong => "value longer than its header field",
            WriteError::FieldOverloaded => "field is reserved for overloaded options",
        })
    }
}

impl core::error::Error for WriteError {}

/// The parts of the message options may go to, in the order they are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Area {
    Options,
    File,
    Sname,
}

/// Where the next option goes. Copied for a dry run, so an option that does not fit leaves
/// nothing behind.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    area: Area,
    at: usize,
    /// Where the options field's content stopped when options moved on to `file`/`sname`.
    options_end: usize,
    /// Where `file`'s content stopped when options moved on to `sname`.
    file_end: usize,
}

/// The fixed geometry of one message.
#[derive(Clone, Copy, Debug)]
struct Layout {
    /// Options-field content must end before this: room is kept for END, and for option 52
    /// when overloading is allowed.
    options_cap: usize,
    overload: Option<Overload>,
}

impl Layout {
    /// Content bounds of an area; the last byte of each is kept for END.
    fn bounds(&self, area: Area) -> (usize, usize) {
        match area {
            Area::Options => (field::OPTIONS, self.options_cap),
            Area::File => (field::FILE.start, field::FILE.end - 1),
            Area::Sname => (field::SNAME.start, field::SNAME.end - 1),
        }
    }

    fn next(&self, area: Area) -> Option<Area> {
        let allowed = self.overload?;
        match area {
            Area::Options if allowed.file() => Some(Area::File),
            Area::Options | Area::File if allowed.sname() => Some(Area::Sname),
            _ => None,
        }
    }
}

impl Cursor {
    /// Finds room for one fragment with a `len`-byte value, moving forward through the areas
    /// (never back, so options keep their order); returns where its code octet goes.
    fn place(&mut self, len: usize, layout: &Layout) -> Option<usize> {
        // At most one try per area.
        for _ in 0..3 {
            let (_, cap) = layout.bounds(self.area);
            if self.at + 2 + len <= cap {
                let at = self.at;
                self.at += 2 + len;
                return Some(at);
            }
            let next = layout.next(self.area)?;
            match self.area {
                Area::Options => self.options_end = self.at,
                Area::File => self.file_end = self.at,
                Area::Sname => {}
            }
            self.area = next;
            self.at = layout.bounds(next).0;
        }
        None
    }
}

/// Fragment lengths for a value of `len` bytes: 255-byte pieces and the rest, or one empty
/// fragment for an empty value (RFC 3396 section 5).
fn fragment_lens(len: usize) -> impl Iterator<Item = usize> {
    let count = len.div_ceil(MAX_FRAGMENT).max(1);
    (0..count).map(move |i| (len - i * MAX_FRAGMENT).min(MAX_FRAGMENT))
}

/// Copies a sequence of byte chunks into fragments of any size.
struct Stream<I: Iterator> {
    chunks: I,
    current: Option<I::Item>,
    offset: usize,
}

impl<I> Stream<I>
where
    I: Iterator,
    I::Item: AsRef<[u8]>,
{
    /// Fills `dst` from the chunks; zeros when they run out (they never do: the writer sums
    /// their lengths first).
    fn fill(&mut self, dst: &mut [u8]) {
        let mut filled = 0;
        while filled < dst.len() {
            if self.current.is_none() {
                self.current = self.chunks.next();
                self.offset = 0;
                if self.current.is_none() {
                    break;
                }
            }
            let src = self
                .current
                .as_ref()
                .and_then(|c| c.as_ref().get(self.offset..))
                .unwrap_or(&[]);
            let n = src.len().min(dst.len() - filled);
            if let (Some(d), Some(s)) = (dst.get_mut(filled..filled + n), src.get(..n)) {
                d.copy_from_slice(s);
            }
            filled += n;
            self.offset += n;
            if n == src.len() {
                self.current = None;
            }
        }
        if let Some(rest) = dst.get_mut(filled..) {
            rest.fill(0);
        }
    }
}

/// Writes one DHCP message into a caller's buffer: header fields through setters, then options,
/// then [`DhcpWriter::finish`].
///
/// Options go into the options field in the order written. A value over 255 bytes becomes
/// consecutive fragments of the same code (RFC 3396 section 5). When the options field is full
/// and the caller lent `file` and/or `sname`, later options go there (file first) and option 52
/// says so (RFC 2131 section 4.1, RFC 2132 section 9.3).
#[derive(Debug)]
pub struct DhcpWriter<'a> {
    packet: DhcpPacket<&'a mut [u8]>,
    layout: Layout,
    cursor: Cursor,
}

impl<'a> DhcpWriter<'a> {
    /// Starts a BOOTREPLY in `buf`, using at most `limit` bytes of it (typically
    /// [`OptionIndex::reply_limit`](super::OptionIndex::reply_limit)). `overload` lends `file`
    /// and/or `sname` to options that do not fit in the options field; those fields cannot
    /// then be set. The header is zeroed and the magic cookie written.
    pub fn new(
        buf: &'a mut [u8],
        limit: usize,
        overload: Option<Overload>,
    ) -> Result<Self, WriteError> {
        let len = buf.len().min(limit).min(MAX_PACKET_LEN);
        if len < BOOTP_MIN_LEN {
            return Err(WriteError::BufferTooSmall);
        }
        let buf = buf.get_mut(..len).ok_or(WriteError::BufferTooSmall)?;
        if let Some(header) = buf.get_mut(..HEADER_LEN) {
            header.fill(0);
        }
        let mut packet = DhcpPacket::new_unchecked(buf);
        packet.set_op(Op::BootReply);
        packet.set_magic_cookie();
        // END, plus the three bytes of option 52 if it may be needed.
        let reserve = 1 + if overload.is_some() { 3 } else { 0 };
        Ok(DhcpWriter {
            packet,
            layout: Layout {
                options_cap: len - reserve,
                overload,
            },
            cursor: Cursor {
                area: Area::Options,
                at: field::OPTIONS,
                options_end: field::OPTIONS,
                file_end: field::FILE.start,
            },
        })
    }

    /// The message so far, to read fields back.
    pub fn packet(&self) -> DhcpPacket<&[u8]> {
        DhcpPacket::new_unchecked(self.packet.as_bytes())
    }

    /// Copies from a request what RFC 2131 section 4.3.1 table 3 says a reply echoes: `htype`,
    /// `hlen`, `xid`, `flags`, `giaddr` and `chaddr`. `op` is BOOTREPLY, `hops` and `secs`
    /// zero.
    pub fn set_reply_header<T: AsRef<[u8]>>(&mut self, request: &DhcpPacket<T>) {
        let p = &mut self.packet;
        p.set_op(Op::BootReply);
        p.set_htype(request.htype());
        p.set_hlen(request.hlen());
        p.set_hops(0);
        p.set_xid(request.xid());
        p.set_secs(0);
        p.set_flags(request.flags());
        p.set_giaddr(request.giaddr());
        p.set_chaddr(&request.chaddr_field());
    }

    /// Sets `op` (a reply by default).
    pub fn set_op(&mut self, op: Op) {
        self.packet.set_op(op);
    }

    /// Sets `htype`.
    pub fn set_htype(&mut self, htype: u8) {
        self.packet.set_htype(htype);
    }

    /// Sets `hlen`.
    pub fn set_hlen(&mut self, hlen: u8) -> Result<(), WriteError> {
        check_len(usize::from(hlen), field::CHADDR.len())?;
        self.packet.set_hlen(hlen);
        Ok(())
    }

    /// Sets `hops`.
    pub fn set_hops(&mut self, hops: u8) {
        self.packet.set_hops(hops);
    }

    /// Sets `xid`.
    pub fn set_xid(&mut self, xid: u32) {
        self.packet.set_xid(xid);
    }

    /// Sets `secs`.
    pub fn set_secs(&mut self, secs: u16) {
        self.packet.set_secs(secs);
    }

    /// Sets all of `flags`.
    pub fn set_flags(&mut self, flags: u16) {
        self.packet.set_flags(flags);
    }

    /// Sets or clears the BROADCAST flag.
    pub fn set_broadcast(&mut self, broadcast: bool) {
        self.packet.set_broadcast(broadcast);
    }

    /// Sets `ciaddr`.
    pub fn set_ciaddr(&mut self, addr: Ipv4Addr) {
        self.packet.set_ciaddr(addr);
    }

    /// Sets `yiaddr`.
    pub fn set_yiaddr(&mut self, addr: Ipv4Addr) {
        self.packet.set_yiaddr(addr);
    }

    /// Sets `siaddr`.
    pub fn set_siaddr(&mut self, addr: Ipv4Addr) {
        self.packet.set_siaddr(addr);
    }

    /// Sets `giaddr`.
    pub fn set_giaddr(&mut self, addr: Ipv4Addr) {
        self.packet.set_giaddr(addr);
    }

    /// Sets `chaddr` (up to 16 bytes, zero-filled); `hlen` is set separately.
    pub fn set_chaddr(&mut self, addr: &[u8]) -> Result<(), WriteError> {
        check_len(addr.len(), field::CHADDR.len())?;
        self.packet.set_chaddr(addr);
        Ok(())
    }

    /// Sets `sname` (up to 64 bytes, zero-filled).
    pub fn set_sname(&mut self, name: &[u8]) -> Result<(), WriteError> {
        self.check_lent(Overload::sname)?;
        check_len(name.len(), field::SNAME.len())?;
        self.packet.set_sname(name);
        Ok(())
    }

    /// Sets `file` (up to 128 bytes, zero-filled).
    pub fn set_file(&mut self, name: &[u8]) -> Result<(), WriteError> {
        self.check_lent(Overload::file)?;
        check_len(name.len(), field::FILE.len())?;
        self.packet.set_file(name);
        Ok(())
    }

    fn check_lent(&self, lent: fn(Overload) -> bool) -> Result<(), WriteError> {
        match self.layout.overload {
            Some(o) if lent(o) => Err(WriteError::FieldOverloaded),
            _ => Ok(()),
        }
    }

    /// Appends an option, split into fragments when over 255 bytes.
    pub fn option(&mut self, code: OptionCode, value: &[u8]) -> Result<(), WriteError> {
        self.emit(code, value.len(), core::iter::once(value))
    }

    /// Appends an option received in another message, unchanged in value, whatever its
    /// fragments were (e.g. echoing relay agent information, RFC 3046 section 2.2).
    pub fn copy_option(&mut self, value: &OptionValue<'_>) -> Result<(), WriteError> {
        self.emit(value.code(), value.len(), value.iter_fragments())
    }

    /// Appends a list of IPv4 addresses (routers, name servers, ...).
    pub fn option_ipv4s(&mut self, code: OptionCode, addrs: &[Ipv4Addr]) -> Result<(), WriteError> {
        self.emit(code, addrs.len() * 4, addrs.iter().map(|a| a.octets()))
    }

    /// Appends the message type (option 53).
    pub fn message_type(&mut self, t: MessageType) -> Result<(), WriteError> {
        self.option(OptionCode::MESSAGE_TYPE, &[u8::from(t)])
    }

    fn emit<I>(&mut self, code: OptionCode, len: usize, chunks: I) -> Result<(), WriteError>
    where
        I: Iterator,
        I::Item: AsRef<[u8]>,
    {
        if matches!(
            code,
            OptionCode::PAD | OptionCode::END | OptionCode::OVERLOAD
        ) {
            return Err(WriteError::ReservedCode);
        }
        let mut dry = self.cursor;
        for frag in fragment_lens(len) {
            dry.place(frag, &self.layout).ok_or(WriteError::NoSpace)?;
        }
        let mut stream = Stream {
            chunks,
            current: None,
            offset: 0,
        };
        for frag in fragment_lens(len) {
            // Cannot fail: the dry run took the same steps.
            let at = self
                .cursor
                .place(frag, &self.layout)
                .ok_or(WriteError::NoSpace)?;
            let buf = self.packet.as_bytes_mut();
            if let Some(slot) = buf.get_mut(at..at + 2 + frag) {
                let (head, value) = slot.split_at_mut(2);
                head.copy_from_slice(&[code.0, frag as u8]);
                stream.fill(value);
            }
        }
        Ok(())
    }

    /// Writes END (and option 52 and the END of each overloaded field), zero-pads to at least
    /// [`BOOTP_MIN_LEN`], and returns the message length.
    pub fn finish(mut self) -> usize {
        let c = self.cursor;
        let overload = match c.area {
            Area::Options => None,
            Area::File => Some(Overload::File),
            Area::Sname => {
                Overload::from_fields(self.layout.overload.is_some_and(Overload::file), true)
            }
        };
        let buf = self.packet.as_bytes_mut();
        let end = match overload {
            None => c.at,
            Some(o) => {
                if let Some(opt) = buf.get_mut(c.options_end..c.options_end + 3) {
                    opt.copy_from_slice(&[OptionCode::OVERLOAD.0, 1, o.to_u8()]);
                }
                let file_end = if c.area == Area::File {
                    c.at
                } else {
                    c.file_end
                };
                if o.file() {
                    put_end(buf, file_end);
                }
                if o.sname() {
                    put_end(buf, c.at);
                }
                c.options_end + 3
            }
        };
        put_end(buf, end);
        let len = (end + 1).max(BOOTP_MIN_LEN).min(buf.len());
        if let Some(pad) = buf.get_mut(end + 1..len) {
            pad.fill(0);
        }
        len
    }
}

fn put_end(buf: &mut [u8], at: usize) {
    if let Some(b) = buf.get_mut(at) {
        *b = OptionCode::END.0;
    }
}

fn check_len(len: usize, max: usize) -> Result<(), WriteError> {
    if len > max {
        Err(WriteError::FieldTooLong)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::index::MAX_OPTION_FRAGMENTS;
    use super::super::packet::DhcpError;
    use super::*;

    fn parse(buf: &[u8]) -> DhcpPacket<&[u8]> {
        DhcpPacket::new_checked(buf).unwrap()
    }

    #[test]
    fn writes_header_and_options() {
        let mut buf = [0xeeu8; 1500];
        let mut w = DhcpWriter::new(&mut buf, 548, None).unwrap();
        w.set_htype(1);
        w.set_hlen(6).unwrap();
        w.set_hops(2);
        w.set_xid(0x1234_5678);
        w.set_secs(9);
        w.set_flags(1);
        w.set_broadcast(true);
        w.set_ciaddr(Ipv4Addr::new(10, 0, 0, 1));
        w.set_yiaddr(Ipv4Addr::new(10, 0, 0, 2));
        w.set_siaddr(Ipv4Addr::new(10, 0, 0, 3));
        w.set_giaddr(Ipv4Addr::new(10, 0, 0, 4));
        w.set_chaddr(&[2, 0, 0, 0, 0, 1]).unwrap();
        w.set_sname(b"srv").unwrap();
        w.set_file(b"pxelinux.0").unwrap();
        w.message_type(MessageType::Offer).unwrap();
        w.option(OptionCode::SERVER_ID, &[10, 0, 0, 3]).unwrap();
        w.option_ipv4s(
            OptionCode::ROUTER,
            &[Ipv4Addr::new(10, 0, 0, 254), Ipv4Addr::new(10, 0, 0, 253)],
        )
        .unwrap();
        w.option(OptionCode(224), &[]).unwrap();
        assert_eq!(w.packet().xid(), 0x1234_5678);
        let len = w.finish();
        assert_eq!(len, BOOTP_MIN_LEN);
        // Everything after END is zero padding, and nothing past `len` was touched.
        let end = 240 + 3 + 6 + 10 + 2;
        assert_eq!(buf[end], 255);
        assert!(buf[end + 1..len].iter().all(|&b| b == 0));
        assert_eq!(buf[len], 0xee);
        let p = parse(&buf[..len]);
        assert_eq!(p.op(), Op::BootReply);
        assert_eq!(p.hops(), 2);
        assert_eq!(p.xid(), 0x1234_5678);
        assert_eq!(p.secs(), 9);
        assert_eq!(p.flags(), 0x8001);
        assert_eq!(p.ciaddr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.yiaddr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.siaddr(), Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(p.giaddr(), Ipv4Addr::new(10, 0, 0, 4));
        assert_eq!(p.chaddr(), &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&p.sname()[..4], b"srv\0");
        assert_eq!(&p.file()[..11], b"pxelinux.0\0");
        let idx = p.options().unwrap();
        assert_eq!(idx.message_type(), Some(MessageType::Offer));
        assert_eq!(idx.server_id(), Some(Ipv4Addr::new(10, 0, 0, 3)));
        assert!(
            idx.get(OptionCode::ROUTER)
                .unwrap()
                .eq_bytes(&[10, 0, 0, 254, 10, 0, 0, 253])
        );
        assert!(idx.get(OptionCode(224)).unwrap().is_empty());
    }

    #[test]
    fn long_values_are_split_into_255_byte_fragments() {
        let mut value = [0u8; 600];
        for (i, b) in value.iter_mut().enumerate() {
            *b = i as u8;
        }
        for len in [255usize, 256, 510, 511, 600] {
            let mut buf = [0u8; 1500];
            let mut w = DhcpWriter::new(&mut buf, 1500, None).unwrap();
            w.option(OptionCode(224), &value[..len]).unwrap();
            let n = w.finish();
            let p = parse(&buf[..n]);
            let idx = p.options().unwrap();
            let v = idx.get(OptionCode(224)).unwrap();
            assert_eq!(v.fragment_count(), len.div_ceil(255));
            assert!(v.iter_fragments().all(|f| f.len() <= 255));
            assert!(v.eq_bytes(&value[..len]));
        }
    }

    #[test]
    fn copy_option_keeps_the_value() {
        // A request whose option 82 came in two fragments.
        let mut req = [0u8; 400];
        req[0] = 1;
        req[236..240].copy_from_slice(&super::super::packet::MAGIC_COOKIE);
        req[240..252].copy_from_slice(&[82, 3, 1, 1, b'a', 53, 1, 1, 82, 2, 2, 0]);
        req[252] = 255;
        let req = parse(&req);
        let ridx = req.options().unwrap();
        let relay = ridx.get(OptionCode::RELAY_AGENT_INFO).unwrap();
        assert_eq!(relay.fragment_count(), 2);
        assert!(ridx.relay_agent_info().is_none());

        let mut buf = [0u8; 600];
        let mut w = DhcpWriter::new(&mut buf, 576, None).unwrap();
        w.set_reply_header(&req);
        w.copy_option(&relay).unwrap();
        let n = w.finish();
        let p = parse(&buf[..n]);
        let idx = p.options().unwrap();
        let echoed = idx.get(OptionCode::RELAY_AGENT_INFO).unwrap();
        assert!(echoed.eq_bytes(&[1, 1, b'a', 2, 0]));
        let info = idx.relay_agent_info().unwrap();
        assert_eq!(info.circuit_id(), Some(&b"a"[..]));
        assert_eq!(info.remote_id(), Some(&[][..]));
    }

    #[test]
    fn respects_the_limit_and_leaves_state_on_no_space() {
        let mut buf = [0u8; 1500];
        let mut w = DhcpWriter::new(&mut buf, 300, None).unwrap();
        // 300 - 240 - 1 (END) = 59 bytes for options.
        w.option(OptionCode(224), &[1; 50]).unwrap();
        assert_eq!(w.option(OptionCode(225), &[2; 8]), Err(WriteError::NoSpace));
        w.option(OptionCode(226), &[3; 5]).unwrap();
        assert_eq!(w.option(OptionCode(227), &[]), Err(WriteError::NoSpace));
        let n = w.finish();
        assert_eq!(n, 300);
        assert_eq!(buf[299], 255);
        let p = parse(&buf[..n]);
        let idx = p.options().unwrap();
        assert!(idx.iter().map(|v| v.code().0).eq([224, 226]));
    }

    #[test]
    fn a_long_message_is_not_padded() {
        let mut buf = [0u8; 1500];
        let mut w = DhcpWriter::new(&mut buf, 1000, None).unwrap();
        w.option(OptionCode(224), &[1; 300]).unwrap();
        let n = w.finish();
        assert_eq!(n, 240 + 2 + 255 + 2 + 45 + 1);
    }

    #[test]
    fn overloads_into_file_then_sname() {
        let mut buf = [0u8; 1500];
        let mut w = DhcpWriter::new(&mut buf, 300, Some(Overload::Both)).unwrap();
        assert_eq!(w.set_file(b"x"), Err(WriteError::FieldOverloaded));
        assert_eq!(w.set_sname(b"x"), Err(WriteError::FieldOverloaded));
        // Options field: 300 - 240 - 4 = 56 bytes of content.
        w.option(OptionCode(200), &[1; 54]).unwrap();
        // file: 127 bytes of content.
        w.option(OptionCode(201), &[2; 100]).unwrap();
        w.option(OptionCode(202), &[3; 20]).unwrap();
        // sname: 63 bytes.
        w.option(OptionCode(203), &[4; 40]).unwrap();
        w.option(OptionCode(204), &[5; 19]).unwrap();
        // Nothing has room for this one anywhere.
        assert_eq!(
            w.option(OptionCode(205), &[6; 10]),
            Err(WriteError::NoSpace)
        );
        let n = w.finish();
        assert_eq!(n, 300);
        let p = parse(&buf[..n]);
        let idx = p.options().unwrap();
        assert_eq!(idx.overload(), Some(Overload::Both));
        assert!(
            idx.iter()
                .map(|v| v.code().0)
                .eq([200, 52, 201, 202, 203, 204])
        );
        assert!(idx.get(OptionCode(203)).unwrap().eq_bytes(&[4; 40]));
        assert_eq!(p.file()[124], 255);
        assert_eq!(p.sname()[63], 255);
    }

    #[test]
    fn overloads_into_sname_alone() {
        let mut buf = [0u8; 1500];
        let mut w = DhcpWriter::new(&mut buf, 300, Some(Overload::Sname)).unwrap();
        w.set_file(b"boot").unwrap();
        assert_eq!(w.set_sname(b"x"), Err(WriteError::FieldOverloaded));
        w.option(OptionCode(200), &[1; 50]).unwrap();
        w.option(OptionCode(201), &[2; 30]).unwrap();
        let n = w.finish();
        let p = parse(&buf[..n]);
        let idx = p.options().unwrap();
        assert_eq!(idx.overload(), Some(Overload::Sname));
        assert!(idx.get(OptionCode(201)).unwrap().eq_bytes(&[2; 30]));
        assert_eq!(&p.file()[..5], b"boot\0");
    }

    #[test]
    fn overload_allowed_but_unused_writes_no_option_52() {
        let mut buf = [0u8; 600];
        let mut w = DhcpWriter::new(&mut buf, 576, Some(Overload::Both)).unwrap();
        w.option(OptionCode(200), &[1; 10]).unwrap();
        let n = w.finish();
        let p = parse(&buf[..n]);
        let idx = p.options().unwrap();
        assert_eq!(idx.overload(), None);
        assert!(p.file().iter().all(|&b| b == 0));
    }

    #[test]
    fn a_long_option_may_span_fields() {
        let mut buf = [0u8; 1500];
        let mut w = DhcpWriter::new(&mut buf, 548, Some(Overload::Both)).unwrap();
        let value = [7u8; 400];
        // 548 - 240 - 4 = 304 bytes of content: a 255-byte fragment fits, but the 145-byte
        // rest fits in neither file (127) nor sname (63), so the whole option is refused.
        assert_eq!(
            w.option(OptionCode(201), &value[..]),
            Err(WriteError::NoSpace)
        );
        // 350 = 255 in the options field + 95 in file.
        w.option(OptionCode(202), &value[..350]).unwrap();
        let n = w.finish();
        let p = parse(&buf[..n]);
        assert_eq!(p.file()[..2], [202, 95]);
        let idx = p.options().unwrap();
        assert_eq!(idx.overload(), Some(Overload::File));
        let v = idx.get(OptionCode(202)).unwrap();
        assert!(v.eq_bytes(&value[..350]));
        assert_eq!(v.fragment_count(), 2);
        assert!(!idx.contains(OptionCode(201)));
    }

    #[test]
    fn write_errors() {
        let mut small = [0u8; 299];
        assert_eq!(
            DhcpWriter::new(&mut small, 576, None).err(),
            Some(WriteError::BufferTooSmall)
        );
        let mut buf = [0u8; 600];
        assert_eq!(
            DhcpWriter::new(&mut buf, 299, None).err(),
            Some(WriteError::BufferTooSmall)
        );
        let mut w = DhcpWriter::new(&mut buf, 576, None).unwrap();
        for code in [OptionCode::PAD, OptionCode::END, OptionCode::OVERLOAD] {
            assert_eq!(w.option(code, &[1]), Err(WriteError::ReservedCode));
        }
        assert_eq!(w.set_chaddr(&[0; 17]), Err(WriteError::FieldTooLong));
        assert_eq!(w.set_hlen(17), Err(WriteError::FieldTooLong));
        assert_eq!(w.set_sname(&[1; 65]), Err(WriteError::FieldTooLong));
        assert_eq!(w.set_file(&[1; 129]), Err(WriteError::FieldTooLong));
        w.set_sname(&[1; 64]).unwrap();
        w.set_file(&[1; 128]).unwrap();
        // A full-length name leaves no NUL, which is allowed.
        let n = w.finish();
        let p = parse(&buf[..n]);
        assert!(p.sname().iter().all(|&b| b == 1));
    }

    #[test]
    fn the_writer_can_fill_the_index_exactly() {
        // The writer can emit more fragments than the index takes; the parser says so.
        let mut buf = [0u8; 1500];
        let mut w = DhcpWriter::new(&mut buf, 1500, None).unwrap();
        for i in 0..=MAX_OPTION_FRAGMENTS {
            w.option(OptionCode(100 + (i % 100) as u8), &[]).unwrap();
        }
        let n = w.finish();
        assert_eq!(
            parse(&buf[..n]).options().err(),
            Some(DhcpError::TooManyOptions)
        );
    }
}

//! DHCPv4 messages (RFC 2131, options per RFC 2132): a checked view of a received message, an
//! index of its options, and a writer that builds a reply in place.
//!
//! # Reading
//!
//! [`DhcpPacket::new_checked`] checks the fixed part once (240 bytes: the 236-byte BOOTP header
//! of RFC 2131 section 2 and the magic cookie of section 3, `op`, `hlen`); after that no
//! accessor can panic. [`DhcpPacket::options`] then scans the options once into an
//! [`OptionIndex`]: a fixed array of ([`MAX_OPTION_FRAGMENTS`]) code/offset/length entries on
//! the stack, no allocation. A message with more fragments than that is refused, never read in
//! part.
//!
//! The scan follows RFC 2131 section 4.1: the options field first; if it carried option 52
//! (overload, RFC 2132 section 9.3), then `file`, then `sname`. Option 52 is honoured only in
//! the options field and only once; anywhere else it is [`DhcpError::OverloadLoop`]. Pad is
//! skipped; end closes a field, and a field without one ends where the field ends (clients and
//! relays in the wild omit it, and the length checks make that safe). A length octet that runs
//! past its field is [`DhcpError::OptionOverrun`], even if the next field would hold the bytes.
//!
//! Options whose code appears several times are one option whose value is the concatenation
//! of the fragments in order (RFC 3396 section 7). [`OptionValue`] gives the value as one
//! slice when there was one fragment, as fragments otherwise, and can copy it out. Every code
//! is kept, known or not: [`OptionIndex::iter`] yields each option once, by first appearance.
//!
//! # Writing
//!
//! [`DhcpWriter`] writes into the caller's buffer (a transmit frame): header setters, then
//! options in order. A value over 255 bytes is split into consecutive fragments (RFC 3396
//! section 5). It keeps to a size limit (the client's option 57 or 576, less the IP and UDP
//! headers: [`OptionIndex::reply_limit`]); when the options field is full and the caller lent
//! `file`/`sname`, options continue there and option 52 is added. [`DhcpWriter::finish`]
//! writes end and pads to the 300-byte BOOTP minimum (RFC 1542 section 2.1).
//!
//! # Option names
//!
//! [`OPTIONS`] is the one table of known codes, names and value formats; the
//! [`OptionCode`] constants are generated from it.

mod index;
mod option;
mod packet;
pub mod relay;
mod writer;

pub use index::{
    Fragments, IP_UDP_OVERHEAD, Iter, MAX_OPTION_FRAGMENTS, MIN_MAX_MESSAGE_SIZE, OptionIndex,
    OptionValue,
};
pub use option::{MessageType, OPTIONS, OptionCode, OptionInfo, Overload, ValueKind};
pub use packet::{
    DhcpError, DhcpPacket, FLAG_BROADCAST, HEADER_LEN, HTYPE_ETHERNET, MAGIC_COOKIE, MAX_HLEN,
    MAX_PACKET_LEN, Op, field,
};
pub use relay::{RelayAgentInfo, SubOptions};
pub use writer::{BOOTP_MIN_LEN, DhcpWriter, WriteError};

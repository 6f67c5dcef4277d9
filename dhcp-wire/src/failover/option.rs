//! Failover options (draft §6.2, §12; Microsoft [MS-DHCPF] §2.2): a 2-byte code, a 2-byte
//! length that excludes those four bytes, then the value, all big-endian. One table,
//! [`OPTIONS`], names every known code with its length rule, value format, where it is used and
//! whether it belongs to one binding of a BNDUPD/BNDACK; the [`OptionCode`] constants and
//! [`OptionCode::info`] come from it.
//!
//! A code not in the table is still a good option: views iterate it and reprs keep it in
//! their raw option lists.

use core::fmt;

use super::error::FailoverError;
use super::message::MessageType;

/// A failover option code. Every `u16` is a valid code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OptionCode(pub u16);

/// The length rule of an option's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Length {
    /// Exactly this many bytes.
    Fixed(u16),
    /// At least this many bytes.
    AtLeast(u16),
    /// A whole number (zero or more) of items of this many bytes.
    MultipleOf(u16),
    /// Any length, zero included.
    Any,
}

impl Length {
    /// True when a value of `len` bytes obeys the rule.
    pub const fn allows(self, len: usize) -> bool {
        match self {
            Length::Fixed(n) => len == n as usize,
            Length::AtLeast(n) => len >= n as usize,
            Length::MultipleOf(n) => n != 0 && len.is_multiple_of(n as usize),
            Length::Any => true,
        }
    }
}

/// How a value is laid out, for display and configuration; the codec's typed fields follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// One octet.
    U8,
    /// Unsigned 16-bit.
    U16,
    /// Unsigned 32-bit count or duration.
    U32,
    /// Absolute time: unsigned 32-bit seconds since 1970.
    Time,
    /// An IPv4 address, network order.
    Ipv4,
    /// IPv4 addresses in host (little-endian) order (Microsoft scope-id list).
    Ipv4ListLe,
    /// Text, not NUL-terminated.
    Text,
    /// UTF-16 text with a terminating NUL (Microsoft; byte order not stated, Windows-native
    /// little-endian by the spec's example).
    Utf16,
    /// Opaque octets.
    Bytes,
    /// Hardware type octet then the hardware address.
    HardwareAddress,
    /// 16-bit DDNS flags then a DNS wire-format name.
    Ddns,
    /// Digest type octet then the digest.
    Digest,
    /// The 256-bit hash-bucket bitmap.
    Hba,
    /// A DHCP magic cookie then DHCP options.
    DhcpOptions,
    /// Nested 16-bit code/length options.
    SubOptions,
}

/// The message types an option is used in, as a bit set indexed by type code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Usage(u16);

impl Usage {
    /// Every message.
    pub const ANY: Usage = Usage(0x1ffe);

    const fn of(types: &[MessageType]) -> Usage {
        let mut bits = 0u16;
        let mut i = 0;
        while i < types.len() {
            bits |= 1 << types[i].to_wire();
            i += 1;
        }
        Usage(bits)
    }

    /// True when the option is used in messages of this type.
    pub const fn contains(self, t: MessageType) -> bool {
        let code = t.to_wire();
        code < 16 && self.0 & (1 << code) != 0
    }
}

/// One row of the option table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionInfo {
    /// The code.
    pub code: OptionCode,
    /// The draft's name (`assigned-IP-address`), or Microsoft's for 30–41.
    pub name: &'static str,
    /// The length rule; a received known option that breaks it is
    /// [`FailoverError::BadOptionLength`].
    pub length: Length,
    /// The value layout.
    pub format: Format,
    /// The messages it is used in.
    pub used_in: Usage,
    /// In BNDUPD/BNDACK: belongs to one binding (comes after that binding's
    /// assigned-IP-address) rather than to the whole message.
    pub per_binding: bool,
}

/// Declares every known option once; generates the constants and the table.
macro_rules! option_table {
    ($( $(#[$doc:meta])* $konst:ident = $code:literal, $name:literal, $len:expr, $format:ident,
        [$($used:ident),*], $scope:ident; )*) => {
        impl OptionCode {
            $( $(#[$doc])* pub const $konst: OptionCode = OptionCode($code); )*
        }

        /// Every known failover option, in code order (1–29 draft-12, 30–41 Microsoft). The
        /// single source of truth for names, length rules and scopes.
        pub const OPTIONS: &[OptionInfo] = &[
            $( OptionInfo {
                code: OptionCode($code),
                name: $name,
                length: $len,
                format: Format::$format,
                used_in: option_table!(@usage $($used),*),
                per_binding: option_table!(@scope $scope),
            }, )*
        ];
    };
    (@usage Any) => { Usage::ANY };
    (@usage $($used:ident),*) => { Usage::of(&[$(MessageType::$used),*]) };
    (@scope binding) => { true };
    (@scope message) => { false };
}

use Length::{Any, AtLeast, Fixed, MultipleOf};

option_table! {
    /// addresses-transferred (draft §12.1): how many addresses a POOLRESP gave.
    ADDRESSES_TRANSFERRED = 1, "addresses-transferred", Fixed(4), U32, [PoolResp], message;
    /// assigned-IP-address (draft §12.2): opens each binding of a BNDUPD/BNDACK.
    ASSIGNED_IP_ADDRESS = 2, "assigned-IP-address", Fixed(4), Ipv4, [BndUpd, BndAck], binding;
    /// binding-status (draft §12.3; Microsoft redefines the byte, see `value`).
    BINDING_STATUS = 3, "binding-status", Fixed(1), U8, [BndUpd, BndAck], binding;
    /// client-identifier (draft §12.4): the raw DHCP option 61 value.
    CLIENT_IDENTIFIER = 4, "client-identifier", Any, Bytes, [BndUpd, BndAck], binding;
    /// client-hardware-address (draft §12.5): htype then chaddr.
    CLIENT_HARDWARE_ADDRESS = 5, "client-hardware-address", AtLeast(1), HardwareAddress,
        [BndUpd, BndAck], binding;
    /// client-last-transaction-time, CLTT (draft §12.6).
    CLIENT_LAST_TRANSACTION_TIME = 6, "client-last-transaction-time", Fixed(4), Time,
        [BndUpd, BndAck], binding;
    /// client-reply-options (draft §12.7).
    CLIENT_REPLY_OPTIONS = 7, "client-reply-options", Any, DhcpOptions, [BndUpd, BndAck], binding;
    /// client-request-options (draft §12.8).
    CLIENT_REQUEST_OPTIONS = 8, "client-request-options", Any, DhcpOptions, [BndUpd, BndAck],
        binding;
    /// DDNS (draft §12.9). Any non-empty DDNS option makes ISC 4.4.3 drop the session.
    DDNS = 9, "DDNS", AtLeast(2), Ddns, [BndUpd, BndAck], binding;
    /// delayed-service-parameter (draft §12.10), seconds, only with an HBA.
    DELAYED_SERVICE_PARAMETER = 10, "delayed-service-parameter", Fixed(1), U8, [Connect], message;
    /// hash-bucket-assignment (draft §12.11): 256-bit bitmap; ISC: a set bit is the primary's.
    HASH_BUCKET_ASSIGNMENT = 11, "hash-bucket-assignment", Fixed(32), Hba, [Connect], message;
    /// IP-flags (draft §12.12): two bytes, although the draft's figure says length 1.
    IP_FLAGS = 12, "IP-flags", Fixed(2), U16, [BndUpd, BndAck], binding;
    /// lease-expiration-time (draft §12.13).
    LEASE_EXPIRATION_TIME = 13, "lease-expiration-time", Fixed(4), Time, [BndUpd, BndAck], binding;
    /// max-unacked-bndupd (draft §12.14): the sender's receive window.
    MAX_UNACKED_BNDUPD = 14, "max-unacked-bndupd", Fixed(4), U32, [Connect, ConnectAck], message;
    /// MCLT (draft §12.15), seconds.
    MCLT = 15, "MCLT", Fixed(4), U32, [Connect], message;
    /// message (draft §12.16): human-readable text with a reject.
    MESSAGE = 16, "message", Any, Text, [ConnectAck, BndAck, Disconnect], binding;
    /// message-digest (draft §12.17): type octet then digest; see `digest`.
    MESSAGE_DIGEST = 17, "message-digest", AtLeast(1), Digest, [Any], message;
    /// potential-expiration-time (draft §12.18).
    POTENTIAL_EXPIRATION_TIME = 18, "potential-expiration-time", Fixed(4), Time, [BndUpd, BndAck],
        binding;
    /// receive-timer (draft §12.19): the sender's tReceive, seconds.
    RECEIVE_TIMER = 19, "receive-timer", Fixed(4), U32, [Connect, ConnectAck], message;
    /// protocol-version (draft §12.20): 1.
    PROTOCOL_VERSION = 20, "protocol-version", Fixed(1), U8, [Connect, ConnectAck], message;
    /// reject-reason (draft §12.21).
    REJECT_REASON = 21, "reject-reason", Fixed(1), U8, [ConnectAck, BndAck, Disconnect], binding;
    /// relationship-name (draft §12.22).
    RELATIONSHIP_NAME = 22, "relationship-name", Any, Text, [Connect, ConnectAck], message;
    /// server-flags (draft §12.23): bit 0 STARTUP.
    SERVER_FLAGS = 23, "server-flags", Fixed(1), U8, [State], message;
    /// server-state (draft §12.24).
    SERVER_STATE = 24, "server-state", Fixed(1), U8, [State], message;
    /// start-time-of-state, STOS (draft §12.25): of the server in STATE, of the binding in
    /// BNDUPD.
    START_TIME_OF_STATE = 25, "start-time-of-state", Fixed(4), Time, [State, BndUpd, BndAck],
        binding;
    /// TLS-reply (draft §12.26).
    TLS_REPLY = 26, "TLS-reply", Fixed(1), U8, [ConnectAck], message;
    /// TLS-request (draft §12.27).
    TLS_REQUEST = 27, "TLS-request", Fixed(1), U8, [Connect], message;
    /// vendor-class-identifier (draft §12.28); ISC sends `isc-4.4.3-P1`.
    VENDOR_CLASS_IDENTIFIER = 28, "vendor-class-identifier", Any, Text, [Connect, ConnectAck],
        message;
    /// vendor-specific-options (draft §12.29).
    VENDOR_SPECIFIC_OPTIONS = 29, "vendor-specific-options", Any, SubOptions, [Any], message;
    /// Microsoft scope-id list ([MS-DHCPF] §2.2.1): IPv4 scope ids in host order.
    MS_SCOPE_ID_LIST = 30, "ms-scope-id-list", MultipleOf(4), Ipv4ListLe, [UpdReq], message;
    /// Microsoft client name (UTF-16, NUL-terminated).
    MS_CLIENT_NAME = 31, "ms-client-name", Any, Utf16, [BndUpd], binding;
    /// Microsoft client description (UTF-16, NUL-terminated).
    MS_CLIENT_DESCRIPTION = 32, "ms-client-description", Any, Utf16, [BndUpd], binding;
    /// Microsoft client subnet mask (Windows requires it in BNDUPD).
    MS_CLIENT_SUBNET_MASK = 33, "ms-client-subnet-mask", Fixed(4), Ipv4, [BndUpd], binding;
    /// Microsoft IP of the server that leased the address.
    MS_SERVER_IP = 34, "ms-server-ip", Fixed(4), Ipv4, [BndUpd], binding;
    /// Microsoft name of that server (UTF-16, NUL-terminated).
    MS_SERVER_NAME = 35, "ms-server-name", Any, Utf16, [BndUpd], binding;
    /// Microsoft client type: 0 unspecified, 1 DHCP, 2 BOOTP, 3 both, 4 reservation, 0x64 none.
    MS_CLIENT_TYPE = 36, "ms-client-type", Fixed(1), U8, [BndUpd], binding;
    /// Microsoft NAP status. The spec says length 4 but draws one byte: not length-checked.
    MS_CLIENT_NAP_STATUS = 37, "ms-client-nap-status", Any, Bytes, [BndUpd], binding;
    /// Microsoft NAP probation time. Called a FILETIME yet given 4 bytes: not length-checked.
    MS_CLIENT_NAP_PROBATION = 38, "ms-client-nap-probation", Any, Bytes, [BndUpd], binding;
    /// Microsoft NAP capable, 0 or 1.
    MS_CLIENT_NAP_CAPABLE = 39, "ms-client-nap-capable", Fixed(1), U8, [BndUpd], binding;
    /// Microsoft matched policy name (UTF-16, NUL-terminated).
    MS_CLIENT_MATCHED_POLICY = 40, "ms-client-matched-policy", Any, Utf16, [BndUpd], binding;
    /// Microsoft extended address state: bit 0 = do not register the PTR record.
    MS_EXTENDED_ADDRESS_STATE = 41, "ms-extended-address-state", Fixed(4), U32, [BndUpd], binding;
}

/// Highest known code; the table holds 1..=this, one row per code, in order (checked below).
const LAST_KNOWN: u16 = 41;

const _: () = {
    assert!(OPTIONS.len() == LAST_KNOWN as usize);
    let mut i = 0;
    while i < OPTIONS.len() {
        assert!(OPTIONS[i].code.0 as usize == i + 1, "table out of order");
        i += 1;
    }
};

impl OptionCode {
    /// The table row for this code, if it is known.
    pub fn info(self) -> Option<&'static OptionInfo> {
        usize::from(self.0)
            .checked_sub(1)
            .and_then(|i| OPTIONS.get(i))
    }

    /// The table name, if known.
    pub fn name(self) -> Option<&'static str> {
        self.info().map(|i| i.name)
    }

    /// The code with this table name.
    pub fn from_name(name: &str) -> Option<OptionCode> {
        OPTIONS.iter().find(|o| o.name == name).map(|o| o.code)
    }

    /// True for the Microsoft range 30–41.
    pub fn is_microsoft(self) -> bool {
        (30..=41).contains(&self.0)
    }

    /// True when a value of `len` bytes is acceptable for this code: unknown codes accept
    /// anything, known ones follow their [`Length`].
    pub fn allows_len(self, len: usize) -> bool {
        self.info().is_none_or(|i| i.length.allows(len))
    }

    /// `Ok` when a value of `len` bytes is acceptable (see [`OptionCode::allows_len`]).
    pub fn check_len(self, len: usize) -> Result<(), FailoverError> {
        if self.allows_len(len) {
            Ok(())
        } else {
            Err(FailoverError::BadOptionLength {
                code: self,
                length: u16::try_from(len).unwrap_or(u16::MAX),
            })
        }
    }

    /// True for codes that belong to one binding in BNDUPD/BNDACK.
    pub fn is_per_binding(self) -> bool {
        self.info().is_some_and(|i| i.per_binding)
    }
}

impl fmt::Display for OptionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}({})", self.0),
            None => write!(f, "option-{}", self.0),
        }
    }
}

/// One option as it lies in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FailoverOption<'a> {
    /// The code.
    pub code: OptionCode,
    /// The value (without the 4-byte code/length header).
    pub value: &'a [u8],
}

impl FailoverOption<'_> {
    /// Bytes the option takes on the wire.
    pub fn wire_len(&self) -> usize {
        4 + self.value.len()
    }
}

/// Length of the code/length header of every option.
pub(crate) const OPTION_HEADER_LEN: usize = 4;

/// Reads the option at `at`: its code, value range and the offset after it.
fn read_at(bytes: &[u8], at: usize) -> Option<(OptionCode, usize, usize)> {
    let head = bytes.get(at..at.checked_add(OPTION_HEADER_LEN)?)?;
    let code = u16::from_be_bytes([head[0], head[1]]);
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let start = at + OPTION_HEADER_LEN;
    let end = start.checked_add(len)?;
    if end > bytes.len() {
        return None;
    }
    Some((OptionCode(code), start, end))
}

/// Checks that `bytes` is a sequence of whole options; `base` is the offset of `bytes` in its
/// message, for the error.
pub(crate) fn check_tlvs(bytes: &[u8], base: usize) -> Result<usize, FailoverError> {
    let mut at = 0;
    let mut count = 0;
    while at < bytes.len() {
        match read_at(bytes, at) {
            Some((_, _, end)) => at = end,
            None => {
                return Err(FailoverError::OptionOverrun {
                    at: u16::try_from(base + at).unwrap_or(u16::MAX),
                });
            }
        }
        count += 1;
    }
    Ok(count)
}

/// Iterates the options of a byte sequence, in order. Built from a checked message or list it
/// yields every option; on bytes that were never checked it stops at the first overrun.
#[derive(Clone, Debug)]
pub struct OptionIter<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> OptionIter<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        OptionIter { bytes, at: 0 }
    }

    /// Offset of the next option within the iterated bytes.
    pub(crate) fn offset(&self) -> usize {
        self.at
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = FailoverOption<'a>;

    fn next(&mut self) -> Option<FailoverOption<'a>> {
        match read_at(self.bytes, self.at) {
            Some((code, start, end)) => {
                self.at = end;
                Some(FailoverOption {
                    code,
                    value: self.bytes.get(start..end)?,
                })
            }
            None => {
                self.at = self.bytes.len();
                None
            }
        }
    }
}

/// A set of option codes below 64 (every code a repr types is below 64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct CodeSet(u64);

impl CodeSet {
    pub(crate) const EMPTY: CodeSet = CodeSet(0);

    pub(crate) const fn of(codes: &[OptionCode]) -> CodeSet {
        let mut bits = 0u64;
        let mut i = 0;
        while i < codes.len() {
            assert!(codes[i].0 < 64);
            bits |= 1 << codes[i].0;
            i += 1;
        }
        CodeSet(bits)
    }

    pub(crate) const fn with(self, code: OptionCode) -> CodeSet {
        assert!(code.0 < 64);
        CodeSet(self.0 | 1 << code.0)
    }

    pub(crate) const fn contains(self, code: OptionCode) -> bool {
        code.0 < 64 && self.0 & (1 << code.0) != 0
    }
}

/// Raw options a repr does not type, kept in wire order: unknown codes, Microsoft options,
/// vendor options, and known options a message kind does not use. Borrowed from the received
/// message (hiding the options the repr reads into typed fields), or from bytes the caller
/// encoded ([`OptionList::new`]). Two lists are equal when they yield the same options.
#[derive(Clone, Copy)]
pub struct OptionList<'a> {
    bytes: &'a [u8],
    hidden: CodeSet,
}

impl<'a> OptionList<'a> {
    /// No options.
    pub const EMPTY: OptionList<'static> = OptionList {
        bytes: &[],
        hidden: CodeSet::EMPTY,
    };

    /// A list from encoded options (code, length, value, ...), checked for framing and for the
    /// length rules of known codes.
    pub fn new(bytes: &'a [u8]) -> Result<OptionList<'a>, FailoverError> {
        check_tlvs(bytes, 0)?;
        for o in OptionIter::new(bytes) {
            o.code.check_len(o.value.len())?;
        }
        Ok(OptionList {
            bytes,
            hidden: CodeSet::EMPTY,
        })
    }

    /// A view of already checked bytes that skips the `hidden` codes.
    pub(crate) fn hiding(bytes: &'a [u8], hidden: CodeSet) -> OptionList<'a> {
        OptionList { bytes, hidden }
    }

    /// The options, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = FailoverOption<'a>> + Clone + use<'a> {
        let hidden = self.hidden;
        OptionIter::new(self.bytes).filter(move |o| !hidden.contains(o.code))
    }

    /// The first option with this code.
    pub fn get(&self, code: OptionCode) -> Option<&'a [u8]> {
        self.iter().find(|o| o.code == code).map(|o| o.value)
    }

    /// How many options.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Bytes the options take on the wire.
    pub fn wire_len(&self) -> usize {
        self.iter().map(|o| o.wire_len()).sum()
    }
}

impl Default for OptionList<'_> {
    fn default() -> Self {
        OptionList::EMPTY
    }
}

impl PartialEq for OptionList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for OptionList<'_> {}

impl fmt::Debug for OptionList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_named() {
        assert_eq!(OPTIONS.len(), 41);
        assert_eq!(
            OptionCode::IP_FLAGS.info().unwrap().length,
            Length::Fixed(2)
        );
        assert_eq!(OptionCode(11).name(), Some("hash-bucket-assignment"));
        assert_eq!(OptionCode(0).info(), None);
        assert_eq!(OptionCode(42).info(), None);
        assert_eq!(OptionCode::from_name("MCLT"), Some(OptionCode::MCLT));
        let mut names: [&str; 41] = [""; 41];
        for (n, o) in names.iter_mut().zip(OPTIONS) {
            *n = o.name;
        }
        names.sort_unstable();
        assert!(names.windows(2).all(|w| w[0] != w[1]), "names unique");
    }

    #[test]
    fn length_rules() {
        for (code, good, bad) in [
            (OptionCode::IP_FLAGS, 2, 1),
            (OptionCode::HASH_BUCKET_ASSIGNMENT, 32, 31),
            (OptionCode::MCLT, 4, 3),
            (OptionCode::SERVER_STATE, 1, 2),
            (OptionCode::CLIENT_HARDWARE_ADDRESS, 1, 0),
            (OptionCode::MS_SCOPE_ID_LIST, 8, 6),
            (OptionCode::DDNS, 2, 1),
        ] {
            assert!(code.allows_len(good), "{code} {good}");
            assert_eq!(
                code.check_len(bad),
                Err(FailoverError::BadOptionLength {
                    code,
                    length: bad as u16
                })
            );
        }
        assert!(OptionCode(4242).allows_len(7));
        assert!(OptionCode::MS_SCOPE_ID_LIST.allows_len(0));
    }

    #[test]
    fn usage_and_scope() {
        let info = OptionCode::MCLT.info().unwrap();
        assert!(info.used_in.contains(MessageType::Connect));
        assert!(!info.used_in.contains(MessageType::State));
        assert!(!info.used_in.contains(MessageType::Unknown(200)));
        assert!(
            OptionCode::MESSAGE_DIGEST
                .info()
                .unwrap()
                .used_in
                .contains(MessageType::Contact)
        );
        assert!(OptionCode::BINDING_STATUS.is_per_binding());
        assert!(!OptionCode::VENDOR_CLASS_IDENTIFIER.is_per_binding());
        assert!(!OptionCode(500).is_per_binding());
    }

    #[test]
    fn lists_hide_and_compare_by_content() {
        let bytes = [0, 3, 0, 1, 7, 0, 99, 0, 2, 1, 2];
        let all = OptionList::new(&bytes).unwrap();
        assert_eq!(all.len(), 2);
        let hidden = OptionList::hiding(&bytes, CodeSet::of(&[OptionCode::BINDING_STATUS]));
        assert_eq!(hidden.len(), 1);
        assert_eq!(hidden.get(OptionCode(99)), Some(&[1u8, 2][..]));
        assert_eq!(hidden.wire_len(), 6);
        let only = OptionList::new(&bytes[5..]).unwrap();
        assert_eq!(hidden, only);
        assert_ne!(all, only);
        assert!(OptionList::EMPTY.is_empty());
        assert_eq!(
            OptionList::new(&[0, 3, 0, 2, 7, 7]),
            Err(FailoverError::BadOptionLength {
                code: OptionCode::BINDING_STATUS,
                length: 2
            })
        );
        assert_eq!(
            OptionList::new(&[0, 3, 0]),
            Err(FailoverError::OptionOverrun { at: 0 })
        );
    }

    #[test]
    fn iterator_stops_on_unchecked_garbage() {
        let it = OptionIter::new(&[0, 1, 0, 9, 1]);
        assert_eq!(it.count(), 0);
    }
}

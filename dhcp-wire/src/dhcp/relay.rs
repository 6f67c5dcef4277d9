//! Relay agent information, option 82 (RFC 3046): a list of sub-options, each a code, a
//! length and a value.

/// Agent circuit id (RFC 3046 section 3.1).
pub const SUB_CIRCUIT_ID: u8 = 1;
/// Agent remote id (RFC 3046 section 3.2).
pub const SUB_REMOTE_ID: u8 = 2;
/// Link selection (RFC 3527).
pub const SUB_LINK_SELECTION: u8 = 5;
/// Subscriber id (RFC 3993).
pub const SUB_SUBSCRIBER_ID: u8 = 6;
/// Server identifier override (RFC 5107).
pub const SUB_SERVER_ID_OVERRIDE: u8 = 11;

/// The value of option 82, with every sub-option checked to lie within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayAgentInfo<'a> {
    data: &'a [u8],
}

impl<'a> RelayAgentInfo<'a> {
    /// Checks that `data` is a sequence of whole sub-options; `None` when one runs past the end.
    /// RFC 3046 has no pad or end sub-option, so every octet belongs to a sub-option.
    pub fn new_checked(data: &'a [u8]) -> Option<Self> {
        let mut at = 0;
        while at < data.len() {
            let len = *data.get(at + 1)?;
            at += 2 + usize::from(len);
        }
        (at == data.len()).then_some(RelayAgentInfo { data })
    }

    /// The raw option value.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.data
    }

    /// Sub-options as `(code, value)`, in order.
    pub fn iter(&self) -> SubOptions<'a> {
        SubOptions { rest: self.data }
    }

    /// The first sub-option with this code.
    pub fn get(&self, code: u8) -> Option<&'a [u8]> {
        self.iter().find(|&(c, _)| c == code).map(|(_, v)| v)
    }

    /// Agent circuit id (sub-option 1).
    pub fn circuit_id(&self) -> Option<&'a [u8]> {
        self.get(SUB_CIRCUIT_ID)
    }

    /// Agent remote id (sub-option 2).
    pub fn remote_id(&self) -> Option<&'a [u8]> {
        self.get(SUB_REMOTE_ID)
    }
}

impl<'a> IntoIterator for RelayAgentInfo<'a> {
    type Item = (u8, &'a [u8]);
    type IntoIter = SubOptions<'a>;

    fn into_iter(self) -> SubOptions<'a> {
        self.iter()
    }
}

/// The sub-options of a [`RelayAgentInfo`].
#[derive(Clone, Debug)]
pub struct SubOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SubOptions<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&code, tail) = self.rest.split_first()?;
        let (&len, tail) = tail.split_first()?;
        let len = usize::from(len);
        // new_checked saw every sub-option fit; stop rather than panic if that were ever false.
        let value = tail.get(..len)?;
        self.rest = tail.get(len..).unwrap_or(&[]);
        Some((code, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sub_options() {
        let data = [1, 3, b'e', b't', b'h', 2, 2, 0xaa, 0xbb, 9, 0, 1, 1, b'x'];
        let info = RelayAgentInfo::new_checked(&data).unwrap();
        assert_eq!(info.circuit_id(), Some(&b"eth"[..]));
        assert_eq!(info.remote_id(), Some(&[0xaa, 0xbb][..]));
        assert_eq!(info.get(9), Some(&[][..]));
        assert_eq!(info.get(SUB_LINK_SELECTION), None);
        let subs = [(1u8, &b"eth"[..]), (2, &[0xaa, 0xbb]), (9, &[]), (1, b"x")];
        assert!(info.iter().eq(subs));
        assert_eq!(info.as_bytes(), &data);
        assert_eq!(info.into_iter().count(), 4);
    }

    #[test]
    fn empty_is_valid_and_has_no_sub_options() {
        let info = RelayAgentInfo::new_checked(&[]).unwrap();
        assert_eq!(info.iter().count(), 0);
        assert_eq!(info.circuit_id(), None);
    }

    #[test]
    fn malformed_sub_options_are_rejected() {
        assert_eq!(RelayAgentInfo::new_checked(&[1]), None);
        assert_eq!(RelayAgentInfo::new_checked(&[1, 2, 0]), None);
        assert_eq!(RelayAgentInfo::new_checked(&[1, 0, 2, 5, 1, 2, 3, 4]), None);
        assert_eq!(RelayAgentInfo::new_checked(&[1, 255]), None);
    }
}

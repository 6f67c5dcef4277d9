//! What a reply can get wrong, counted by kind, with the first few kept in detail.

use std::net::Ipv4Addr;

use serde::Serialize;

/// One way a server reply broke the protocol or the run's expectations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// Not a parseable DHCP message (bad op, length, cookie or options).
    Malformed,
    /// The `xid` names no exchange of the client whose `chaddr` the reply carries.
    WrongXid,
    /// The `xid` names an exchange in flight, but `chaddr` is not that client's.
    WrongChaddr,
    /// Option 53 missing, or not the type the exchange expects (OFFER to DISCOVER, ACK to
    /// REQUEST).
    WrongMessageType,
    /// A DHCPNAK where the client's request was valid.
    Nak,
    /// No server identifier (option 54) in an OFFER, ACK or NAK (RFC 2131 §4.3.1, §4.3.2).
    MissingServerId,
    /// A server identifier other than the one configured.
    WrongServerId,
    /// No lease time (option 51) in an OFFER or ACK to a REQUEST (RFC 2131 table 3).
    MissingLeaseTime,
    /// A lease time outside the configured bounds.
    LeaseTimeOutOfRange,
    /// `yiaddr` zero, or not the address the client asked for (REQUEST after OFFER, renew,
    /// rebind, INIT-REBOOT).
    WrongYiaddr,
    /// The address is held by another client whose lease has not ended.
    DuplicateAddress,
    /// The reply's VLAN tags are not the request's.
    WrongVlan,
    /// A relayed reply not sent to `giaddr`:67, or a direct one not to port 68, or `giaddr`
    /// changed.
    WrongDestination,
    /// Option 82 not echoed byte for byte in a reply to a relayed request (RFC 3046 §2.2).
    RelayInfoNotEchoed,
}

impl ViolationKind {
    /// Every kind, in counter order.
    pub const ALL: [ViolationKind; 14] = [
        ViolationKind::Malformed,
        ViolationKind::WrongXid,
        ViolationKind::WrongChaddr,
        ViolationKind::WrongMessageType,
        ViolationKind::Nak,
        ViolationKind::MissingServerId,
        ViolationKind::WrongServerId,
        ViolationKind::MissingLeaseTime,
        ViolationKind::LeaseTimeOutOfRange,
        ViolationKind::WrongYiaddr,
        ViolationKind::DuplicateAddress,
        ViolationKind::WrongVlan,
        ViolationKind::WrongDestination,
        ViolationKind::RelayInfoNotEchoed,
    ];

    /// Position in [`ALL`](Self::ALL) and in the counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// snake_case name, as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::Malformed => "malformed",
            ViolationKind::WrongXid => "wrong_xid",
            ViolationKind::WrongChaddr => "wrong_chaddr",
            ViolationKind::WrongMessageType => "wrong_message_type",
            ViolationKind::Nak => "nak",
            ViolationKind::MissingServerId => "missing_server_id",
            ViolationKind::WrongServerId => "wrong_server_id",
            ViolationKind::MissingLeaseTime => "missing_lease_time",
            ViolationKind::LeaseTimeOutOfRange => "lease_time_out_of_range",
            ViolationKind::WrongYiaddr => "wrong_yiaddr",
            ViolationKind::DuplicateAddress => "duplicate_address",
            ViolationKind::WrongVlan => "wrong_vlan",
            ViolationKind::WrongDestination => "wrong_destination",
            ViolationKind::RelayInfoNotEchoed => "relay_info_not_echoed",
        }
    }
}

/// The details of one violation: which client, which reply, and what was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// What went wrong.
    pub kind: ViolationKind,
    /// Microseconds since the run started.
    pub at_us: u64,
    /// Index of the client the reply was attributed to (`None` when it named none of ours).
    pub client: Option<u32>,
    /// The reply's `xid`.
    pub xid: u32,
    /// The reply's `yiaddr`.
    pub yiaddr: Ipv4Addr,
    /// The exchange the client had in flight, if any ("discover", "request", ...).
    pub exchange: Option<&'static str>,
    /// The value expected, where one number says it (an address, a lease time, a type).
    pub expected: Option<u32>,
    /// The value found.
    pub found: Option<u32>,
    /// For a duplicate address: the other client holding it.
    pub other_client: Option<u32>,
}

/// Most violations kept in detail per fleet.
pub const KEPT: usize = 16;

/// Violation counters by kind and the first [`KEPT`] in detail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations {
    counts: [u64; ViolationKind::ALL.len()],
    kept: [Option<Violation>; KEPT],
    kept_len: usize,
}

impl Violations {
    /// Counts `v` and keeps it if fewer than [`KEPT`] are kept.
    pub fn record(&mut self, v: Violation) {
        self.counts[v.kind.index()] += 1;
        if self.kept_len < KEPT {
            self.kept[self.kept_len] = Some(v);
            self.kept_len += 1;
        }
    }

    /// Count of `kind`.
    pub fn count(&self, kind: ViolationKind) -> u64 {
        self.counts[kind.index()]
    }

    /// All violations counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The kept details, oldest first.
    pub fn kept(&self) -> impl Iterator<Item = &Violation> {
        self.kept[..self.kept_len].iter().flatten()
    }

    /// Adds `other`'s counts, and keeps its details while there is room.
    pub fn add(&mut self, other: &Violations) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        for v in other.kept() {
            if self.kept_len < KEPT {
                self.kept[self.kept_len] = Some(*v);
                self.kept_len += 1;
            }
        }
    }

    /// Counts since `earlier` (details are not differenced: the first ones stay).
    pub fn since(&self, earlier: &Violations) -> Violations {
        let mut d = self.clone();
        for (a, b) in d.counts.iter_mut().zip(earlier.counts) {
            *a = a.saturating_sub(b);
        }
        d
    }

    /// (kind, count) for every kind with a non-zero count.
    pub fn by_kind(&self) -> impl Iterator<Item = (ViolationKind, u64)> + '_ {
        ViolationKind::ALL
            .iter()
            .map(|k| (*k, self.count(*k)))
            .filter(|(_, n)| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(kind: ViolationKind, client: u32) -> Violation {
        Violation {
            kind,
            at_us: 0,
            client: Some(client),
            xid: 1,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            exchange: None,
            expected: None,
            found: None,
            other_client: None,
        }
    }

    #[test]
    fn numbering_is_dense() {
        for (i, k) in ViolationKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(
                serde_json::to_string(k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
    }

    #[test]
    fn counts_all_keeps_the_first() {
        let mut a = Violations::default();
        for i in 0..40 {
            a.record(v(ViolationKind::WrongXid, i));
        }
        assert_eq!(a.count(ViolationKind::WrongXid), 40);
        assert_eq!(a.kept().count(), KEPT);
        assert_eq!(a.kept().next().unwrap().client, Some(0));
        let mut b = Violations::default();
        b.record(v(ViolationKind::DuplicateAddress, 9));
        let snap = b.clone();
        b.add(&a);
        assert_eq!(b.total(), 41);
        assert_eq!(
            b.kept().next().unwrap().kind,
            ViolationKind::DuplicateAddress
        );
        assert_eq!(b.since(&snap).total(), 40);
        assert_eq!(
            b.by_kind().collect::<Vec<_>>(),
            vec![
                (ViolationKind::WrongXid, 40),
                (ViolationKind::DuplicateAddress, 1)
            ]
        );
    }
}

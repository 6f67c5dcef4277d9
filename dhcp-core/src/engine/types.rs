//! What goes into and out of the engine: the request as parsed, the reply to write, why a
//! request was dropped, and the counters (named as Kea names its statistics).

use std::net::Ipv4Addr;

use crate::lease::Binding;

/// DHCP message type (option 53).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// 1
    Discover,
    /// 2
    Offer,
    /// 3
    Request,
    /// 4
    Decline,
    /// 5
    Ack,
    /// 6
    Nak,
    /// 7
    Release,
    /// 8
    Inform,
    /// Anything else.
    Other(u8),
}

impl MsgType {
    /// From the option 53 value.
    pub fn from_u8(v: u8) -> MsgType {
        match v {
            1 => MsgType::Discover,
            2 => MsgType::Offer,
            3 => MsgType::Request,
            4 => MsgType::Decline,
            5 => MsgType::Ack,
            6 => MsgType::Nak,
            7 => MsgType::Release,
            8 => MsgType::Inform,
            o => MsgType::Other(o),
        }
    }

    /// The option 53 value.
    pub fn to_u8(self) -> u8 {
        match self {
            MsgType::Discover => 1,
            MsgType::Offer => 2,
            MsgType::Request => 3,
            MsgType::Decline => 4,
            MsgType::Ack => 5,
            MsgType::Nak => 6,
            MsgType::Release => 7,
            MsgType::Inform => 8,
            MsgType::Other(o) => o,
        }
    }
}

/// Relay agent information (option 82) sub-options the engine looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayInfo<'a> {
    /// Sub-option 1.
    pub circuit_id: Option<&'a [u8]>,
    /// Sub-option 2.
    pub remote_id: Option<&'a [u8]>,
}

/// A client request, with the fields and options the engine uses. Built by the driver from the
/// parsed packet; everything is borrowed from the receive buffer.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Option 53.
    pub msg_type: MsgType,
    /// Transaction id.
    pub xid: u32,
    /// Broadcast flag (RFC 2131 §4.1).
    pub broadcast: bool,
    /// Seconds since the client began (failover: a client waiting long is served whatever its
    /// hash bucket).
    pub secs: u16,
    /// Hardware type.
    pub htype: u8,
    /// chaddr, `hlen` bytes.
    pub chaddr: &'a [u8],
    /// Client address (renewing, rebinding, informing, releasing).
    pub ciaddr: Ipv4Addr,
    /// Relay address.
    pub giaddr: Ipv4Addr,
    /// Option 61.
    pub client_id: Option<&'a [u8]>,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 51.
    pub lease_time: Option<u32>,
    /// Option 60.
    pub vendor_class: Option<&'a [u8]>,
    /// Option 82, when present.
    pub relay: Option<RelayInfo<'a>>,
    /// Option 118.
    pub subnet_selection: Option<Ipv4Addr>,
    /// The server's address on the interface the request arrived on.
    pub iface_addr: Ipv4Addr,
}

/// Link-layer destination of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L2 {
    /// Broadcast.
    Broadcast,
    /// Back to the MAC address the request came from.
    Sender,
    /// To the client's hardware address (a client without an address yet).
    Client([u8; 6]),
}

/// Where a reply goes (RFC 2131 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    /// IPv4 destination.
    pub ip: Ipv4Addr,
    /// UDP destination port: 67 to a relay, 68 to a client.
    pub port: u16,
    /// Link-layer destination.
    pub l2: L2,
    /// Set the broadcast flag in the reply (a NAK through a relay, RFC 2131 §4.3.2).
    pub set_broadcast_flag: bool,
}

/// Lease times told to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseGrant {
    /// Option 51.
    pub lease_secs: u32,
    /// Option 58.
    pub t1_secs: u32,
    /// Option 59.
    pub t2_secs: u32,
}

/// A reply to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyPlan {
    /// OFFER, ACK or NAK.
    pub msg_type: MsgType,
    /// Address given.
    pub yiaddr: Ipv4Addr,
    /// Copied from the request for ACKs to INFORM, RENEWING and REBINDING.
    pub ciaddr: Ipv4Addr,
    /// Option 54.
    pub server_id: Ipv4Addr,
    /// Lease options (not for NAK or an INFORM's ACK).
    pub lease: Option<LeaseGrant>,
    /// Index of the subnet whose options go in the reply (not for NAK).
    pub subnet: Option<usize>,
    /// Host name from a reservation: (subnet index, reservation index).
    pub reservation: Option<(usize, usize)>,
    /// Vendor class whose option 43 goes in: (subnet index, vendor class index).
    pub vendor: Option<(usize, usize)>,
    /// Option 56 text for a NAK.
    pub message: Option<&'static str>,
    /// Copy option 82 from the request, unchanged, as the last option (RFC 3046 §2.2).
    pub echo_relay_info: bool,
    /// Where it goes.
    pub dest: Destination,
    /// Journal sequence number that must be durable before this reply may leave.
    pub durable_after: Option<u64>,
}

/// Why a request got no reply. Each reason has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a BOOTREQUEST, or not parseable (counted by the driver).
    ParseFailed,
    /// A message type a server does not answer (OFFER, ACK, NAK, unknown).
    UnexpectedType,
    /// No subnet matches the request's relay, selection option or interface.
    NoSubnet,
    /// Addressed to another server (option 54), or the client chose another server's offer.
    NotForUs,
    /// Required fields or options missing (RFC 2131 violation).
    RfcViolation,
    /// No address available.
    AllocationFailed,
    /// The client has no binding here (RFC 2131 §4.3.2: remain silent).
    NoBinding,
    /// DECLINE or RELEASE: nothing to answer (counted by type).
    NoReplyExpected,
    /// The journal could not take the record: no ACK until it can.
    JournalFull,
    /// Failover: our state answers no such request (STARTUP, RECOVER, POTENTIAL-CONFLICT, …).
    FailoverSilent,
    /// Failover, NORMAL: the client's hash bucket is the partner's.
    PartnerBucket,
    /// Failover: the client asks for an address that is the partner's to give now (its ended
    /// lease, or a free address of the partner's); the owner answers (ISC: "lease in transition
    /// state", "letting peer answer"). A NAK could race its ACK.
    PartnerAddress,
    /// Failover: the ACK would break the MCLT rule (a bug: the guard refused to send it).
    McltGuard,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 13] = [
        DropReason::ParseFailed,
        DropReason::UnexpectedType,
        DropReason::NoSubnet,
        DropReason::NotForUs,
        DropReason::RfcViolation,
        DropReason::AllocationFailed,
        DropReason::NoBinding,
        DropReason::NoReplyExpected,
        DropReason::JournalFull,
        DropReason::FailoverSilent,
        DropReason::PartnerBucket,
        DropReason::McltGuard,
        DropReason::PartnerAddress,
    ];

    /// Counter name.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::ParseFailed => "parse_failed",
            DropReason::UnexpectedType => "unexpected_type",
            DropReason::NoSubnet => "no_subnet",
            DropReason::NotForUs => "not_for_us",
            DropReason::RfcViolation => "rfc_violation",
            DropReason::AllocationFailed => "allocation_failed",
            DropReason::NoBinding => "no_binding",
            DropReason::NoReplyExpected => "no_reply_expected",
            DropReason::JournalFull => "journal_full",
            DropReason::FailoverSilent => "failover_silent",
            DropReason::PartnerBucket => "partner_bucket",
            DropReason::McltGuard => "mclt_guard",
            DropReason::PartnerAddress => "partner_address",
        }
    }
}

/// What the engine decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Write and send this reply.
    Reply(ReplyPlan),
    /// Nothing to send.
    Drop(DropReason),
    /// The client belongs to a shard another worker owns: hand the request to it.
    Forward(u16),
}

/// A binding change to write to the journal (and, with failover, to tell the partner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// Engine-local sequence number, increasing.
    pub seq: u64,
    /// The binding as it is after the change.
    pub binding: Binding,
    /// The change came from the failover partner: it is not sent back (draft-12 §5.5).
    pub from_peer: bool,
}

/// Counters of one engine. Names follow Kea's statistics (`pkt4-…`, `v4-…`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// pkt4-received
    pub pkt4_received: u64,
    /// pkt4-discover-received
    pub pkt4_discover_received: u64,
    /// pkt4-request-received
    pub pkt4_request_received: u64,
    /// pkt4-decline-received
    pub pkt4_decline_received: u64,
    /// pkt4-release-received
    pub pkt4_release_received: u64,
    /// pkt4-inform-received
    pub pkt4_inform_received: u64,
    /// pkt4-unknown-received
    pub pkt4_unknown_received: u64,
    /// pkt4-offer-sent
    pub pkt4_offer_sent: u64,
    /// pkt4-ack-sent
    pub pkt4_ack_sent: u64,
    /// pkt4-nak-sent
    pub pkt4_nak_sent: u64,
    /// v4-allocation-fail
    pub v4_allocation_fail: u64,
    /// v4-reservation-conflicts
    pub v4_reservation_conflicts: u64,
    /// v4-lease-reuses (a returning client got its previous address)
    pub v4_lease_reuses: u64,
    /// declined-addresses (cumulative)
    pub declined_addresses: u64,
    /// reclaimed-leases (expired)
    pub reclaimed_leases: u64,
    /// cumulative-assigned-addresses
    pub cumulative_assigned_addresses: u64,
    /// Renewals of a lease whose pool a reload removed (ACKed for the time left, never
    /// extended).
    pub leases_outside_pools: u64,
    /// Drops by reason, indexed like [`DropReason::ALL`].
    pub drops: [u64; 13],
}

impl Counters {
    /// Bumps the drop counter of `r`.
    pub fn drop(&mut self, r: DropReason) {
        if let Some(i) = DropReason::ALL.iter().position(|x| *x == r) {
            self.drops[i] += 1;
        }
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, o: &Counters) {
        self.pkt4_received += o.pkt4_received;
        self.pkt4_discover_received += o.pkt4_discover_received;
        self.pkt4_request_received += o.pkt4_request_received;
        self.pkt4_decline_received += o.pkt4_decline_received;
        self.pkt4_release_received += o.pkt4_release_received;
        self.pkt4_inform_received += o.pkt4_inform_received;
        self.pkt4_unknown_received += o.pkt4_unknown_received;
        self.pkt4_offer_sent += o.pkt4_offer_sent;
        self.pkt4_ack_sent += o.pkt4_ack_sent;
        self.pkt4_nak_sent += o.pkt4_nak_sent;
        self.v4_allocation_fail += o.v4_allocation_fail;
        self.v4_reservation_conflicts += o.v4_reservation_conflicts;
        self.v4_lease_reuses += o.v4_lease_reuses;
        self.declined_addresses += o.declined_addresses;
        self.reclaimed_leases += o.reclaimed_leases;
        self.cumulative_assigned_addresses += o.cumulative_assigned_addresses;
        self.leases_outside_pools += o.leases_outside_pools;
        for (a, b) in self.drops.iter_mut().zip(o.drops) {
            *a += b;
        }
    }

    /// (Kea statistic name, value) pairs.
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        let mut v = vec![
            ("pkt4-received", self.pkt4_received),
            ("pkt4-discover-received", self.pkt4_discover_received),
            ("pkt4-request-received", self.pkt4_request_received),
            ("pkt4-decline-received", self.pkt4_decline_received),
            ("pkt4-release-received", self.pkt4_release_received),
            ("pkt4-inform-received", self.pkt4_inform_received),
            ("pkt4-unknown-received", self.pkt4_unknown_received),
            ("pkt4-offer-sent", self.pkt4_offer_sent),
            ("pkt4-ack-sent", self.pkt4_ack_sent),
            ("pkt4-nak-sent", self.pkt4_nak_sent),
            ("v4-allocation-fail", self.v4_allocation_fail),
            ("v4-reservation-conflicts", self.v4_reservation_conflicts),
            ("v4-lease-reuses", self.v4_lease_reuses),
            ("declined-addresses", self.declined_addresses),
            ("reclaimed-leases", self.reclaimed_leases),
            (
                "cumulative-assigned-addresses",
                self.cumulative_assigned_addresses,
            ),
            ("renewals-outside-pools", self.leases_outside_pools),
        ];
        for (r, n) in DropReason::ALL.iter().zip(self.drops) {
            v.push((r.name(), n));
        }
        v
    }
}

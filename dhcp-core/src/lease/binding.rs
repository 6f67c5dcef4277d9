//! The binding: the server's record of one address and the client it is (or was) bound to.
//!
//! Field names follow draft-ietf-dhc-failover-12 §5.2.1/§7.1 so the failover endpoint can use
//! the record as it is: the lease end told to the client, the potential-expiration times sent
//! to, acknowledged by and received from the partner, the client's last transaction time
//! (CLTT) and the start time of the binding's current state (STOS). All times are wall-clock
//! seconds since 1970 (u32, as on the failover wire and in the journal); 0 means "none".
//!
//! A binding also keeps a digest of the option 82 remote-id (RFC 3046 sub-option 2) its
//! client's last committed request carried, so operators can find leases by remote-id (Kea's
//! `lease4-get-by-remote-id`) without storing the variable-length bytes in a fixed record.

use std::net::Ipv4Addr;

use super::key::{ClientKey, HwAddr};
use crate::config::SubnetId;

/// Binding status. Values 1–7 are draft-12 §12.3 / ISC's wire values; `Offered` is local only
/// (an address held for a client between OFFER and REQUEST, never sent to a partner).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BindingState {
    /// Available (to the primary, in failover terms).
    Free = 1,
    /// Leased to a client.
    Active = 2,
    /// The lease ran out.
    Expired = 3,
    /// The client released it.
    Released = 4,
    /// Unusable: declined by a client (DHCPDECLINE) or found in use.
    Abandoned = 5,
    /// Freed by an administrator.
    Reset = 6,
    /// Available to the failover secondary.
    Backup = 7,
    /// Offered, held for the client until the offer hold ends.
    Offered = 0x80,
}

impl BindingState {
    /// From the wire/journal value.
    pub fn from_u8(v: u8) -> Option<BindingState> {
        Some(match v {
            1 => BindingState::Free,
            2 => BindingState::Active,
            3 => BindingState::Expired,
            4 => BindingState::Released,
            5 => BindingState::Abandoned,
            6 => BindingState::Reset,
            7 => BindingState::Backup,
            0x80 => BindingState::Offered,
            _ => return None,
        })
    }

    /// Lower-case name as operators see it (Kea/ISC spelling).
    pub fn name(self) -> &'static str {
        match self {
            BindingState::Free => "free",
            BindingState::Active => "active",
            BindingState::Expired => "expired",
            BindingState::Released => "released",
            BindingState::Abandoned => "abandoned",
            BindingState::Reset => "reset",
            BindingState::Backup => "backup",
            BindingState::Offered => "offered",
        }
    }

    /// True while the address is in use by the client (offered or leased).
    pub fn holds_address(self) -> bool {
        matches!(self, BindingState::Active | BindingState::Offered)
    }
}

/// IP-flags of draft-12 §12.12.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BindingFlags(pub u8);

impl BindingFlags {
    /// R: the address is reserved for this client.
    pub const RESERVED: u8 = 1;
    /// B: leased to a BOOTP client.
    pub const BOOTP: u8 = 2;
    /// Local only: the lease is as the failover partner's updates left it — it holds no
    /// transaction of the client with this server later than the partner's. The partner's
    /// next update for the same client is then its later news, whatever the client's
    /// last-transaction times say (whole seconds: a RELEASE in the second of the renewal has
    /// the renewal's time). Its updates arrive in the order it made them.
    pub const LEARNT_FROM_PARTNER: u8 = 0x20;
    /// Local only: an offer of an address taken from the failover partner's free pool
    /// (PARTNER-DOWN, draft-12 §5.2.2). Outside PARTNER-DOWN it is not ours to commit, and
    /// when let go it returns to the partner's pool. Cleared when the offer is committed.
    pub const PARTNER_POOL: u8 = 0x40;
    /// Local only: a change the failover partner has not acknowledged yet.
    pub const UPDATE_PENDING: u8 = 0x80;

    /// True when the reserved flag is set.
    pub fn reserved(self) -> bool {
        self.0 & Self::RESERVED != 0
    }

    /// True when [`LEARNT_FROM_PARTNER`](Self::LEARNT_FROM_PARTNER) is set.
    pub fn learnt_from_partner(self) -> bool {
        self.0 & Self::LEARNT_FROM_PARTNER != 0
    }
}

/// Link in the expiry timer wheel (intrusive, so scheduling never allocates).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WheelLink {
    pub(crate) prev: u32,
    pub(crate) next: u32,
    /// Absolute second the binding is scheduled for, 0 = not scheduled.
    pub(crate) due: u32,
}

/// The digest a binding keeps of an option 82 remote-id: CRC-32 (IEEE 802.3, as `crc32fast`
/// and the journal's checksum compute it) of the sub-option's bytes, with 0 — which means
/// "no remote-id" in [`Binding::remote_id`] — moved to 1. Stable: it is stored in the journal.
/// Different remote-ids may share a digest (two given remote-ids collide with probability 2⁻³²), so a look-up by digest
/// can in rare cases return another remote-id's lease.
pub fn remote_id_digest(remote_id: &[u8]) -> u32 {
    crc32fast::hash(remote_id).max(1)
}

/// One binding. 100 bytes; see the module docs for the times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Client identity (option 61 or hardware).
    pub key: ClientKey,
    /// Client hardware address (sent to a failover partner; unicast replies).
    pub hw: HwAddr,
    /// The address.
    pub addr: Ipv4Addr,
    /// Subnet the address belongs to.
    pub subnet: SubnetId,
    /// Binding status.
    pub state: BindingState,
    /// IP-flags.
    pub flags: BindingFlags,
    /// End of the lease (or offer hold) told to the client.
    pub lease_end: u32,
    /// Client last transaction time.
    pub cltt: u32,
    /// Start time of the current state.
    pub stos: u32,
    /// Latest potential-expiration-time sent to the partner ("tstp").
    pub sent_pot_exp: u32,
    /// Latest potential-expiration-time the partner acknowledged.
    pub acked_pot_exp: u32,
    /// Latest potential-expiration-time received from the partner ("tsfp").
    pub recv_pot_exp: u32,
    /// [`remote_id_digest`] of the option 82 remote-id of the client's last committed request
    /// (ACK); 0 when that request carried none, and for bindings learnt only from a failover
    /// partner (whose updates do not carry option 82).
    pub remote_id: u32,
    pub(crate) wheel: WheelLink,
}

impl Binding {
    /// A fresh binding of `addr` for `key`.
    pub fn new(key: ClientKey, hw: HwAddr, addr: Ipv4Addr, subnet: SubnetId) -> Binding {
        Binding {
            key,
            hw,
            addr,
            subnet,
            state: BindingState::Free,
            flags: BindingFlags::default(),
            lease_end: 0,
            cltt: 0,
            stos: 0,
            sent_pot_exp: 0,
            acked_pot_exp: 0,
            recv_pot_exp: 0,
            remote_id: 0,
            wheel: WheelLink::default(),
        }
    }

    /// Moves to `state` at `now`, updating the start time of state when it changes.
    pub fn set_state(&mut self, state: BindingState, now: u32) {
        if self.state != state {
            self.state = state;
            self.stos = now;
        }
    }

    /// Seconds of lease left at `now` (0 when over).
    pub fn remaining(&self, now: u32) -> u32 {
        self.lease_end.saturating_sub(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_values_round_trip() {
        for v in 0..=255u8 {
            if let Some(s) = BindingState::from_u8(v) {
                assert_eq!(s as u8, v);
            }
        }
        assert_eq!(BindingState::from_u8(2), Some(BindingState::Active));
        assert_eq!(BindingState::from_u8(8), None);
    }

    #[test]
    fn binding_is_small() {
        assert!(
            std::mem::size_of::<Binding>() <= 100,
            "{}",
            std::mem::size_of::<Binding>()
        );
    }

    #[test]
    fn remote_id_digest_is_crc32_and_never_zero() {
        // Fixed values: the digest is stored in the journal, so it must never change.
        assert_eq!(remote_id_digest(b"123456789"), 0xcbf4_3926);
        assert_eq!(remote_id_digest(b"rid-1"), 0x3d34_c512);
        assert_ne!(remote_id_digest(b"rid-1"), remote_id_digest(b"rid-2"));
        // CRC-32 of nothing is 0, which would read as "no remote-id".
        assert_eq!(crc32fast::hash(b""), 0);
        assert_eq!(remote_id_digest(b""), 1);
    }

    #[test]
    fn stos_moves_only_on_change() {
        let mut b = Binding::new(
            ClientKey::from_hw(1, &[1; 6]),
            HwAddr::new(1, &[1; 6]),
            Ipv4Addr::new(10, 0, 0, 5),
            SubnetId(1),
        );
        b.set_state(BindingState::Active, 100);
        b.set_state(BindingState::Active, 200);
        assert_eq!(b.stos, 100);
        b.set_state(BindingState::Released, 300);
        assert_eq!(b.stos, 300);
    }
}

//! Typed option values: server states, flags, reject reasons, and the two dialects of the
//! binding-status and IP-flags options.
//!
//! # Dialects
//!
//! Draft-12 and ISC agree on binding-status (table 1.7) and IP-flags (R = 1, B = 2). Microsoft
//! ([MS-DHCPF] §3.1.4.2) puts other meanings on both: a bit-coded lease-record byte or a
//! redistribution code in binding-status, and DELETED/RELEASED/DELETED_COMM_DOWN in IP-flags,
//! whose bits collide with R and B. A received byte means nothing until the dialect is known,
//! so the reprs carry it tagged: [`WireStatus`] and [`WireFlags`] are `Draft(..)` or
//! `Microsoft(..)`, decided by [`ParseOptions::dialect`](super::ParseOptions) when parsing, and
//! a writer refuses a binding of the other dialect ([`EmitError::DialectMismatch`](super::EmitError)).
//! [`MsBindingStatus::to_draft`] is the one sanctioned crossing, Microsoft's own mapping.

use core::fmt;
use core::net::Ipv4Addr;

/// Which definition of binding-status and IP-flags a peer speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Draft-12 §12.3/§12.12, as ISC dhcpd.
    #[default]
    Draft,
    /// [MS-DHCPF] §3.1.4.2, as Windows Server.
    Microsoft,
}

/// Failover server state, the value of server-state (draft §12.24; table 1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// 1: STARTUP. Never sent as a state: a server in STARTUP sends its previous state with
    /// the STARTUP flag ([`ServerFlags::STARTUP`]).
    Startup,
    /// 2: NORMAL.
    Normal,
    /// 3: COMMUNICATIONS-INTERRUPTED.
    CommunicationsInterrupted,
    /// 4: PARTNER-DOWN.
    PartnerDown,
    /// 5: POTENTIAL-CONFLICT.
    PotentialConflict,
    /// 6: RECOVER.
    Recover,
    /// 7: PAUSED.
    Paused,
    /// 8: SHUTDOWN.
    Shutdown,
    /// 9: RECOVER-DONE.
    RecoverDone,
    /// 10: RESOLUTION-INTERRUPTED.
    ResolutionInterrupted,
    /// 11: CONFLICT-DONE.
    ConflictDone,
    /// 254: RECOVER-WAIT. Draft-12 gives it no number; ISC uses 254, and so do we.
    RecoverWait,
    /// Anything else, 0 included. ISC moves itself to SHUTDOWN when a peer reports one.
    Unknown(u8),
}

impl ServerState {
    /// From the wire value.
    pub const fn from_wire(v: u8) -> ServerState {
        match v {
            1 => ServerState::Startup,
            2 => ServerState::Normal,
            3 => ServerState::CommunicationsInterrupted,
            4 => ServerState::PartnerDown,
            5 => ServerState::PotentialConflict,
            6 => ServerState::Recover,
            7 => ServerState::Paused,
            8 => ServerState::Shutdown,
            9 => ServerState::RecoverDone,
            10 => ServerState::ResolutionInterrupted,
            11 => ServerState::ConflictDone,
            254 => ServerState::RecoverWait,
            other => ServerState::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn to_wire(self) -> u8 {
        match self {
            ServerState::Startup => 1,
            ServerState::Normal => 2,
            ServerState::CommunicationsInterrupted => 3,
            ServerState::PartnerDown => 4,
            ServerState::PotentialConflict => 5,
            ServerState::Recover => 6,
            ServerState::Paused => 7,
            ServerState::Shutdown => 8,
            ServerState::RecoverDone => 9,
            ServerState::ResolutionInterrupted => 10,
            ServerState::ConflictDone => 11,
            ServerState::RecoverWait => 254,
            ServerState::Unknown(v) => v,
        }
    }

    /// False for STARTUP and unknown values, which a STATE message must not carry.
    pub const fn is_sendable(self) -> bool {
        !matches!(self, ServerState::Startup | ServerState::Unknown(_))
    }

    /// The draft's name, lower case as ISC prints it (`communications-interrupted`).
    pub const fn name(self) -> &'static str {
        match self {
            ServerState::Startup => "startup",
            ServerState::Normal => "normal",
            ServerState::CommunicationsInterrupted => "communications-interrupted",
            ServerState::PartnerDown => "partner-down",
            ServerState::PotentialConflict => "potential-conflict",
            ServerState::Recover => "recover",
            ServerState::Paused => "paused",
            ServerState::Shutdown => "shutdown",
            ServerState::RecoverDone => "recover-done",
            ServerState::ResolutionInterrupted => "resolution-interrupted",
            ServerState::ConflictDone => "conflict-done",
            ServerState::RecoverWait => "recover-wait",
            ServerState::Unknown(_) => "unknown-state",
        }
    }
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerState::Unknown(v) => write!(f, "unknown-state({v})"),
            s => f.write_str(s.name()),
        }
    }
}

/// server-flags (draft §12.23). Bits other than STARTUP are kept as received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ServerFlags(pub u8);

impl ServerFlags {
    /// Bit 0: the sender is in STARTUP; server-state then holds its previous state.
    pub const STARTUP: u8 = 0x01;

    /// True when the STARTUP bit is set.
    pub const fn startup(self) -> bool {
        self.0 & Self::STARTUP != 0
    }
}

/// binding-status in the draft dialect (draft §12.3; table 1.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BindingStatus {
    /// 1: available to the primary.
    Free,
    /// 2: leased.
    Active,
    /// 3: the lease ran out; FREE once the partner acks.
    Expired,
    /// 4: the client released it; FREE once the partner acks.
    Released,
    /// 5: unusable (ping answer, DHCPDECLINE).
    Abandoned,
    /// 6: freed by an administrator; FREE once acked.
    Reset,
    /// 7: available to the secondary.
    Backup,
    /// Any other value.
    Unknown(u8),
}

impl BindingStatus {
    /// From the wire value.
    pub const fn from_wire(v: u8) -> BindingStatus {
        match v {
            1 => BindingStatus::Free,
            2 => BindingStatus::Active,
            3 => BindingStatus::Expired,
            4 => BindingStatus::Released,
            5 => BindingStatus::Abandoned,
            6 => BindingStatus::Reset,
            7 => BindingStatus::Backup,
            other => BindingStatus::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn to_wire(self) -> u8 {
        match self {
            BindingStatus::Free => 1,
            BindingStatus::Active => 2,
            BindingStatus::Expired => 3,
            BindingStatus::Released => 4,
            BindingStatus::Abandoned => 5,
            BindingStatus::Reset => 6,
            BindingStatus::Backup => 7,
            BindingStatus::Unknown(v) => v,
        }
    }
}

/// IP-flags in the draft dialect (draft §12.12). Other bits are kept as received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IpFlags(pub u16);

impl IpFlags {
    /// R: the address is reserved for this client.
    pub const RESERVED: u16 = 0x0001;
    /// B: the address is leased to a BOOTP client.
    pub const BOOTP: u16 = 0x0002;

    /// True when R is set.
    pub const fn reserved(self) -> bool {
        self.0 & Self::RESERVED != 0
    }

    /// True when B is set.
    pub const fn bootp(self) -> bool {
        self.0 & Self::BOOTP != 0
    }
}

/// Address state in bits 0–1 of a Microsoft lease-record binding-status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsAddressState {
    /// 0: offered.
    Offered,
    /// 1: active.
    Active,
    /// 2: declined.
    Declined,
    /// 3: doomed (being deleted).
    Doom,
}

/// Microsoft redistribution codes: the whole binding-status byte of a message that moves free
/// addresses between the partners (IP-flags 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsRedistribution {
    /// 1: FREE.
    Free,
    /// 2: BACKUP.
    Backup,
    /// 4: RECONCILE.
    Reconcile,
    /// 5: FREE_UPDATE.
    FreeUpdate,
    /// 6: BACKUP_UPDATE.
    BackupUpdate,
    /// Anything else.
    Unknown(u8),
}

/// Whether a Microsoft binding describes a lease record or a free-address redistribution. The
/// byte alone does not say (0x01 is an ACTIVE lease and a FREE redistribution); the spec
/// leaves it to context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsRecordKind {
    /// A client's lease.
    Lease,
    /// A free address moved between the partners.
    Redistribution,
}

impl MsRecordKind {
    /// Our reading of the context: a binding that names a client (client-identifier or
    /// client-hardware-address) is a lease record, any other a redistribution. A heuristic —
    /// [MS-DHCPF] does not define it.
    pub fn guess(has_client: bool) -> MsRecordKind {
        if has_client {
            MsRecordKind::Lease
        } else {
            MsRecordKind::Redistribution
        }
    }
}

/// binding-status in the Microsoft dialect ([MS-DHCPF] §3.1.4.2), kept as the raw byte with
/// both readings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MsBindingStatus(pub u8);

impl MsBindingStatus {
    /// As a lease record: the address state in bits 0–1.
    pub const fn address_state(self) -> MsAddressState {
        match self.0 & 0x03 {
            0 => MsAddressState::Offered,
            1 => MsAddressState::Active,
            2 => MsAddressState::Declined,
            _ => MsAddressState::Doom,
        }
    }

    /// As a lease record: the DHCID / name-protection kind in bits 2–3.
    pub const fn name_protection(self) -> u8 {
        (self.0 >> 2) & 0x03
    }

    /// As a lease record: the DNS flags in bits 4–7 (1 CLEANUP, 2 BOTH_REC, 4 UNREGISTERED,
    /// 8 DELETED).
    pub const fn dns_flags(self) -> u8 {
        self.0 >> 4
    }

    /// As a redistribution message: the whole byte.
    pub const fn redistribution(self) -> MsRedistribution {
        match self.0 {
            1 => MsRedistribution::Free,
            2 => MsRedistribution::Backup,
            4 => MsRedistribution::Reconcile,
            5 => MsRedistribution::FreeUpdate,
            6 => MsRedistribution::BackupUpdate,
            other => MsRedistribution::Unknown(other),
        }
    }

    /// Microsoft's mapping to draft states (its §3.1.4.2 receiver rules): FREE-type
    /// redistributions → FREE, BACKUP-type → BACKUP; a lease with the RELEASED IP-flag →
    /// RELEASED; DOOM or DECLINED → EXPIRED; any other lease → ACTIVE. RECONCILE and unknown
    /// redistribution codes have no draft equivalent and come back as
    /// [`BindingStatus::Unknown`] with the raw byte.
    pub const fn to_draft(self, flags: MsIpFlags, kind: MsRecordKind) -> BindingStatus {
        match kind {
            MsRecordKind::Redistribution => match self.redistribution() {
                MsRedistribution::Free | MsRedistribution::FreeUpdate => BindingStatus::Free,
                MsRedistribution::Backup | MsRedistribution::BackupUpdate => BindingStatus::Backup,
                MsRedistribution::Reconcile | MsRedistribution::Unknown(_) => {
                    BindingStatus::Unknown(self.0)
                }
            },
            MsRecordKind::Lease => {
                if flags.released() {
                    BindingStatus::Released
                } else if matches!(
                    self.address_state(),
                    MsAddressState::Doom | MsAddressState::Declined
                ) {
                    BindingStatus::Expired
                } else {
                    BindingStatus::Active
                }
            }
        }
    }
}

/// IP-flags in the Microsoft dialect ([MS-DHCPF] §3.1.4.2). The field width is not stated;
/// like the draft's it is read and written as 2 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MsIpFlags(pub u16);

impl MsIpFlags {
    /// The address was deleted.
    pub const ADDRESS_DELETED: u16 = 0x0001;
    /// The client released the address.
    pub const ADDRESS_RELEASED: u16 = 0x0002;
    /// Deleted while communications were down; such updates skip validation.
    pub const DELETED_COMM_DOWN: u16 = 0x0004;

    /// True when ADDRESS_DELETED is set.
    pub const fn deleted(self) -> bool {
        self.0 & Self::ADDRESS_DELETED != 0
    }

    /// True when ADDRESS_RELEASED is set.
    pub const fn released(self) -> bool {
        self.0 & Self::ADDRESS_RELEASED != 0
    }

    /// True when DELETED_COMM_DOWN is set.
    pub const fn deleted_comm_down(self) -> bool {
        self.0 & Self::DELETED_COMM_DOWN != 0
    }
}

/// A binding-status byte with its dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireStatus {
    /// Draft-12 / ISC.
    Draft(BindingStatus),
    /// Microsoft.
    Microsoft(MsBindingStatus),
}

impl WireStatus {
    /// Reads the byte in a dialect.
    pub const fn decode(v: u8, dialect: Dialect) -> WireStatus {
        match dialect {
            Dialect::Draft => WireStatus::Draft(BindingStatus::from_wire(v)),
            Dialect::Microsoft => WireStatus::Microsoft(MsBindingStatus(v)),
        }
    }

    /// The byte.
    pub const fn to_wire(self) -> u8 {
        match self {
            WireStatus::Draft(s) => s.to_wire(),
            WireStatus::Microsoft(s) => s.0,
        }
    }

    /// The dialect.
    pub const fn dialect(self) -> Dialect {
        match self {
            WireStatus::Draft(_) => Dialect::Draft,
            WireStatus::Microsoft(_) => Dialect::Microsoft,
        }
    }

    /// The draft status, when in the draft dialect.
    pub const fn draft(self) -> Option<BindingStatus> {
        match self {
            WireStatus::Draft(s) => Some(s),
            WireStatus::Microsoft(_) => None,
        }
    }
}

impl From<BindingStatus> for WireStatus {
    fn from(s: BindingStatus) -> Self {
        WireStatus::Draft(s)
    }
}

impl From<MsBindingStatus> for WireStatus {
    fn from(s: MsBindingStatus) -> Self {
        WireStatus::Microsoft(s)
    }
}

/// IP-flags with their dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireFlags {
    /// Draft-12 / ISC.
    Draft(IpFlags),
    /// Microsoft.
    Microsoft(MsIpFlags),
}

impl WireFlags {
    /// Reads the value in a dialect.
    pub const fn decode(v: u16, dialect: Dialect) -> WireFlags {
        match dialect {
            Dialect::Draft => WireFlags::Draft(IpFlags(v)),
            Dialect::Microsoft => WireFlags::Microsoft(MsIpFlags(v)),
        }
    }

    /// The value.
    pub const fn to_wire(self) -> u16 {
        match self {
            WireFlags::Draft(f) => f.0,
            WireFlags::Microsoft(f) => f.0,
        }
    }

    /// The dialect.
    pub const fn dialect(self) -> Dialect {
        match self {
            WireFlags::Draft(_) => Dialect::Draft,
            WireFlags::Microsoft(_) => Dialect::Microsoft,
        }
    }
}

impl From<IpFlags> for WireFlags {
    fn from(f: IpFlags) -> Self {
        WireFlags::Draft(f)
    }
}

impl From<MsIpFlags> for WireFlags {
    fn from(f: MsIpFlags) -> Self {
        WireFlags::Microsoft(f)
    }
}

/// reject-reason (draft §12.21; table 1.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// 1: the address is in no pool of this relationship (BNDACK).
    IllegalIpAddress,
    /// 2: the address is used by another client (BNDACK).
    FatalConflict,
    /// 3: missing binding information (BNDACK).
    MissingBindingInformation,
    /// 4: clocks too far apart (CONNECTACK; ISC: more than 60 s).
    TimeMismatch,
    /// 5: invalid MCLT (CONNECTACK; ISC when MCLT is missing).
    InvalidMclt,
    /// 6: "unknown reason" (any; ISC's catch-all).
    UnknownReason,
    /// 7: duplicate connection (CONNECTACK).
    DuplicateConnection,
    /// 8: invalid failover partner (CONNECTACK; ISC for an unknown relationship name).
    InvalidPartner,
    /// 9: TLS not supported.
    TlsNotSupported,
    /// 10: TLS supported but not configured.
    TlsNotConfigured,
    /// 11: TLS required but not supported by the partner.
    TlsRequired,
    /// 12: message digest not supported.
    DigestNotSupported,
    /// 13: message digest not configured.
    DigestNotConfigured,
    /// 14: protocol version mismatch.
    ProtocolVersionMismatch,
    /// 15: outdated binding information (BNDACK).
    OutdatedBindingInformation,
    /// 16: less critical binding information (BNDACK; ISC's "dueling update").
    LessCriticalBindingInformation,
    /// 17: no traffic within sufficient time (DISCONNECT).
    NoTraffic,
    /// 18: hash bucket assignment conflict (CONNECTACK; ISC also when the HBA is missing).
    HbaConflict,
    /// 19: IP not reserved on this server (BNDACK).
    IpNotReserved,
    /// 20: message digest failed to compare.
    DigestFailedToCompare,
    /// 21: missing message digest.
    MissingDigest,
    /// 254: unknown error.
    UnknownError,
    /// Anything else (0, 22–253, 255).
    Unknown(u8),
}

impl RejectReason {
    /// From the wire value.
    pub const fn from_wire(v: u8) -> RejectReason {
        match v {
            1 => RejectReason::IllegalIpAddress,
            2 => RejectReason::FatalConflict,
            3 => RejectReason::MissingBindingInformation,
            4 => RejectReason::TimeMismatch,
            5 => RejectReason::InvalidMclt,
            6 => RejectReason::UnknownReason,
            7 => RejectReason::DuplicateConnection,
            8 => RejectReason::InvalidPartner,
            9 => RejectReason::TlsNotSupported,
            10 => RejectReason::TlsNotConfigured,
            11 => RejectReason::TlsRequired,
            12 => RejectReason::DigestNotSupported,
            13 => RejectReason::DigestNotConfigured,
            14 => RejectReason::ProtocolVersionMismatch,
            15 => RejectReason::OutdatedBindingInformation,
            16 => RejectReason::LessCriticalBindingInformation,
            17 => RejectReason::NoTraffic,
            18 => RejectReason::HbaConflict,
            19 => RejectReason::IpNotReserved,
            20 => RejectReason::DigestFailedToCompare,
            21 => RejectReason::MissingDigest,
            254 => RejectReason::UnknownError,
            other => RejectReason::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn to_wire(self) -> u8 {
        match self {
            RejectReason::IllegalIpAddress => 1,
            RejectReason::FatalConflict => 2,
            RejectReason::MissingBindingInformation => 3,
            RejectReason::TimeMismatch => 4,
            RejectReason::InvalidMclt => 5,
            RejectReason::UnknownReason => 6,
            RejectReason::DuplicateConnection => 7,
            RejectReason::InvalidPartner => 8,
            RejectReason::TlsNotSupported => 9,
            RejectReason::TlsNotConfigured => 10,
            RejectReason::TlsRequired => 11,
            RejectReason::DigestNotSupported => 12,
            RejectReason::DigestNotConfigured => 13,
            RejectReason::ProtocolVersionMismatch => 14,
            RejectReason::OutdatedBindingInformation => 15,
            RejectReason::LessCriticalBindingInformation => 16,
            RejectReason::NoTraffic => 17,
            RejectReason::HbaConflict => 18,
            RejectReason::IpNotReserved => 19,
            RejectReason::DigestFailedToCompare => 20,
            RejectReason::MissingDigest => 21,
            RejectReason::UnknownError => 254,
            RejectReason::Unknown(v) => v,
        }
    }
}

/// The client-hardware-address option (draft §12.5): hardware type, then the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HardwareAddress<'a> {
    /// `htype` (1 = Ethernet). The draft says non-zero; a zero is kept, not refused.
    pub htype: u8,
    /// `chaddr`, `hlen` bytes. ISC keeps at most 20 (21 with the type byte) and rejects a
    /// longer one with reason 6.
    pub chaddr: &'a [u8],
}

/// The Microsoft scope-id list (option 30): IPv4 scope ids, 4 bytes each, in host
/// (little-endian) byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MsScopeIds<'a>(&'a [u8]);

impl<'a> MsScopeIds<'a> {
    /// From the option's value; `None` unless its length is a multiple of 4.
    pub fn from_bytes(bytes: &'a [u8]) -> Option<MsScopeIds<'a>> {
        bytes.len().is_multiple_of(4).then_some(MsScopeIds(bytes))
    }

    /// Encodes `ids` into `out` (4 bytes each) and returns the list over the written bytes;
    /// `None` when `out` is too short.
    pub fn encode(ids: &[Ipv4Addr], out: &'a mut [u8]) -> Option<MsScopeIds<'a>> {
        let need = ids.len().checked_mul(4)?;
        let out = out.get_mut(..need)?;
        for (chunk, id) in out.chunks_exact_mut(4).zip(ids) {
            chunk.copy_from_slice(&u32::from(*id).to_le_bytes());
        }
        Some(MsScopeIds(out))
    }

    /// The raw value.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The scope ids.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> + use<'a> {
        self.0
            .chunks_exact(4)
            .map(|c| Ipv4Addr::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        for v in 0..=255u8 {
            assert_eq!(ServerState::from_wire(v).to_wire(), v);
            assert_eq!(BindingStatus::from_wire(v).to_wire(), v);
            assert_eq!(RejectReason::from_wire(v).to_wire(), v);
            for d in [Dialect::Draft, Dialect::Microsoft] {
                assert_eq!(WireStatus::decode(v, d).to_wire(), v);
                assert_eq!(WireStatus::decode(v, d).dialect(), d);
            }
        }
        assert_eq!(ServerState::from_wire(254), ServerState::RecoverWait);
        assert_eq!(ServerState::from_wire(0), ServerState::Unknown(0));
        assert!(!ServerState::Startup.is_sendable());
        assert!(ServerState::RecoverWait.is_sendable());
        assert_eq!(RejectReason::from_wire(18), RejectReason::HbaConflict);
        assert_eq!(RejectReason::from_wire(22), RejectReason::Unknown(22));
    }

    #[test]
    fn dialects_read_the_same_bits_differently() {
        assert_eq!(
            WireFlags::decode(2, Dialect::Draft),
            WireFlags::Draft(IpFlags(2))
        );
        assert!(IpFlags(2).bootp());
        assert!(MsIpFlags(2).released());
        assert_ne!(
            WireFlags::decode(2, Dialect::Draft),
            WireFlags::decode(2, Dialect::Microsoft)
        );
        assert_eq!(
            WireStatus::decode(2, Dialect::Draft).draft(),
            Some(BindingStatus::Active)
        );
        assert_eq!(WireStatus::decode(2, Dialect::Microsoft).draft(), None);
    }

    #[test]
    fn microsoft_status_maps_to_draft() {
        let none = MsIpFlags(0);
        let lease = MsRecordKind::Lease;
        let redist = MsRecordKind::Redistribution;
        assert_eq!(
            MsBindingStatus(1).to_draft(none, redist),
            BindingStatus::Free
        );
        assert_eq!(
            MsBindingStatus(5).to_draft(none, redist),
            BindingStatus::Free
        );
        assert_eq!(
            MsBindingStatus(2).to_draft(none, redist),
            BindingStatus::Backup
        );
        assert_eq!(
            MsBindingStatus(6).to_draft(none, redist),
            BindingStatus::Backup
        );
        assert_eq!(
            MsBindingStatus(4).to_draft(none, redist),
            BindingStatus::Unknown(4)
        );
        assert_eq!(
            MsBindingStatus(1).to_draft(none, lease),
            BindingStatus::Active
        );
        // DNS flags in the high nibble do not change the address state.
        assert_eq!(
            MsBindingStatus(0x31).to_draft(none, lease),
            BindingStatus::Active
        );
        assert_eq!(
            MsBindingStatus(0x02).to_draft(none, lease),
            BindingStatus::Expired
        );
        assert_eq!(
            MsBindingStatus(0x03).to_draft(none, lease),
            BindingStatus::Expired
        );
        let released = MsIpFlags(MsIpFlags::ADDRESS_RELEASED);
        assert_eq!(
            MsBindingStatus(1).to_draft(released, lease),
            BindingStatus::Released
        );
        let s = MsBindingStatus(0b1001_0110);
        assert_eq!(s.address_state(), MsAddressState::Declined);
        assert_eq!(s.name_protection(), 1);
        assert_eq!(s.dns_flags(), 9);
        assert_eq!(MsRecordKind::guess(true), lease);
        assert_eq!(MsRecordKind::guess(false), redist);
    }

    #[test]
    fn scope_ids_are_little_endian() {
        let mut buf = [0u8; 8];
        let ids = [Ipv4Addr::new(192, 0, 2, 0), Ipv4Addr::new(198, 51, 100, 0)];
        let list = MsScopeIds::encode(&ids, &mut buf).unwrap();
        assert_eq!(list.as_bytes(), &[0, 2, 0, 192, 0, 100, 51, 198]);
        assert!(list.iter().eq(ids));
        assert!(MsScopeIds::from_bytes(&[1, 2, 3]).is_none());
        let mut short = [0u8; 7];
        assert!(MsScopeIds::encode(&ids, &mut short).is_none());
    }
}

//! Failover server states (draft-12 §9, wire values of §12.24 plus ISC's 254 for
//! RECOVER-WAIT) and what each lets a server do (failover-protocol.md §3.1).

/// A failover server state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerState {
    /// Booting: silent until the partner is heard or the startup timer ends (§9.3).
    Startup,
    /// In touch, load balancing (§9.8).
    Normal,
    /// Partner unreachable: serve everyone from our own pool (§9.9).
    CommunicationsInterrupted,
    /// Partner known to be down: serve everyone; its pool after MCLT (§9.4).
    PartnerDown,
    /// After a partition with both possibly serving: reconcile before serving (§9.10).
    PotentialConflict,
    /// Learning the partner's bindings (§9.5).
    Recover,
    /// Announced before a planned stop (§9.13).
    Paused,
    /// Announced before a stop (§9.14).
    Shutdown,
    /// Recovered, waiting for the partner (§9.7).
    RecoverDone,
    /// Link lost during POTENTIAL-CONFLICT (§9.11).
    ResolutionInterrupted,
    /// Primary only: reconciled, waiting for the secondary (§9.12).
    ConflictDone,
    /// Waiting MCLT after RECOVER (§9.6).
    RecoverWait,
}

impl ServerState {
    /// Every state.
    pub const ALL: [ServerState; 12] = [
        ServerState::Startup,
        ServerState::Normal,
        ServerState::CommunicationsInterrupted,
        ServerState::PartnerDown,
        ServerState::PotentialConflict,
        ServerState::Recover,
        ServerState::Paused,
        ServerState::Shutdown,
        ServerState::RecoverDone,
        ServerState::ResolutionInterrupted,
        ServerState::ConflictDone,
        ServerState::RecoverWait,
    ];

    /// The server-state option value.
    pub fn wire(self) -> u8 {
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
        }
    }

    /// From the server-state option value.
    pub fn from_wire(v: u8) -> Option<ServerState> {
        ServerState::ALL.into_iter().find(|s| s.wire() == v)
    }

    /// The name as ISC dhcpd and the draft spell it.
    pub fn name(self) -> &'static str {
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
        }
    }

    /// The state after communications fail (§9.2): NORMAL → COMMUNICATIONS-INTERRUPTED,
    /// POTENTIAL-CONFLICT → RESOLUTION-INTERRUPTED; others stay.
    pub fn after_comm_failure(self) -> ServerState {
        match self {
            ServerState::Normal => ServerState::CommunicationsInterrupted,
            ServerState::PotentialConflict => ServerState::ResolutionInterrupted,
            s => s,
        }
    }

    /// What a server in this state may answer (failover-protocol.md §3.1).
    pub fn service(self) -> Service {
        match self {
            ServerState::Normal => Service::Balanced,
            ServerState::CommunicationsInterrupted
            | ServerState::ResolutionInterrupted
            | ServerState::ConflictDone => Service::OwnPool,
            ServerState::PartnerDown => Service::PartnerDown,
            ServerState::Startup
            | ServerState::PotentialConflict
            | ServerState::Recover
            | ServerState::RecoverWait
            | ServerState::RecoverDone
            | ServerState::Paused
            | ServerState::Shutdown => Service::None,
        }
    }
}

/// What a state allows towards clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Nothing: silent, and nothing remembered of ignored messages.
    None,
    /// Everyone whose hash bucket is ours, plus every renewal; own pool.
    Balanced,
    /// Everyone, own pool.
    OwnPool,
    /// Everyone; the partner's pool too once MCLT has passed since entering PARTNER-DOWN.
    PartnerDown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_round_trip() {
        for s in ServerState::ALL {
            assert_eq!(ServerState::from_wire(s.wire()), Some(s));
        }
        assert_eq!(ServerState::from_wire(0), None);
        assert_eq!(ServerState::from_wire(12), None);
        assert_eq!(ServerState::RecoverWait.wire(), 254);
    }
}

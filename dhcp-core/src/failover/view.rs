//! What the request path needs to know about a relationship, shared between the control thread
//! (which writes it) and the workers (which read it on every request): lock-free atomics.

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use super::{
    hash::{Hba, client_bucket},
    state::{ServerState, Service},
};
use crate::{
    config::{FailoverMode, FailoverRole, Relationship},
    lease::{BindingState, Slot},
};

/// The request path's view of one relationship.
#[derive(Debug)]
pub struct FailoverView {
    /// Our role.
    pub role: FailoverRole,
    /// Mode.
    pub mode: FailoverMode,
    /// Clients waiting longer than this are served regardless of bucket (0 = never).
    pub load_balance_max_secs: u16,
    state: AtomicU8,
    partner_down_since: AtomicU32,
    /// See [`Endpoint::own_pool_since`](super::endpoint::Endpoint::own_pool_since).
    own_pool_since: AtomicU32,
    mclt: AtomicU32,
    hba: [AtomicU32; 8],
}

/// The hash bucket assignment `r` configures (the primary sends it in CONNECT): the primary's
/// share of the buckets in load balancing, every bucket in hot standby (the active answers
/// everybody).
pub fn configured_hba(r: &Relationship) -> Hba {
    match r.mode {
        FailoverMode::LoadBalance { local_percent } => {
            let primary = if r.role == FailoverRole::Primary {
                local_percent
            } else {
                100 - local_percent.min(100)
            };
            Hba::from_primary_percent(primary)
        }
        FailoverMode::HotStandby { .. } => Hba::split(256),
    }
}

impl FailoverView {
    /// The view of `r` before the endpoint says anything: STARTUP (silent).
    pub fn new(r: &Relationship) -> FailoverView {
        let hba = configured_hba(r);
        let v = FailoverView {
            role: r.role,
            mode: r.mode,
            load_balance_max_secs: r.load_balance_max_secs,
            state: AtomicU8::new(ServerState::Startup.wire()),
            partner_down_since: AtomicU32::new(0),
            own_pool_since: AtomicU32::new(0),
            mclt: AtomicU32::new(r.mclt_secs),
            hba: Default::default(),
        };
        v.set_hba(hba);
        v
    }

    /// Live reconfiguration: takes over `old`'s state and MCLT (the HBA follows from the
    /// configuration, and the endpoint sets it again).
    pub fn take_state_from(&self, old: &FailoverView) {
        self.partner_down_since.store(
            old.partner_down_since.load(Ordering::Acquire),
            Ordering::Release,
        );
        self.own_pool_since.store(
            old.own_pool_since.load(Ordering::Acquire),
            Ordering::Release,
        );
        self.mclt.store(old.mclt(), Ordering::Release);
        self.state
            .store(old.state.load(Ordering::Acquire), Ordering::Release);
    }

    /// Current state.
    pub fn state(&self) -> ServerState {
        ServerState::from_wire(self.state.load(Ordering::Acquire)).unwrap_or(ServerState::Startup)
    }

    /// Sets the state (and, for PARTNER-DOWN, when it began).
    pub fn set_state(&self, s: ServerState, stos: u32) {
        if s == ServerState::PartnerDown {
            self.partner_down_since.store(stos, Ordering::Release);
        }
        self.state.store(s.wire(), Ordering::Release);
    }

    /// MCLT in force, seconds.
    pub fn mclt(&self) -> u32 {
        self.mclt.load(Ordering::Acquire)
    }

    /// Sets the MCLT.
    pub fn set_mclt(&self, m: u32) {
        self.mclt.store(m, Ordering::Release);
    }

    /// The HBA in force.
    pub fn hba(&self) -> Hba {
        let mut b = [0u8; 32];
        for (i, w) in self.hba.iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&w.load(Ordering::Acquire).to_le_bytes());
        }
        Hba(b)
    }

    /// Sets the HBA.
    pub fn set_hba(&self, h: Hba) {
        for (i, w) in self.hba.iter().enumerate() {
            let v =
                u32::from_le_bytes([h.0[i * 4], h.0[i * 4 + 1], h.0[i * 4 + 2], h.0[i * 4 + 3]]);
            w.store(v, Ordering::Release);
        }
    }

    /// True when the hash bucket of this client is ours (in NORMAL).
    pub fn bucket_is_ours(&self, client_id: Option<&[u8]>, chaddr: &[u8]) -> bool {
        let primary = self.hba().primary_serves(client_bucket(client_id, chaddr));
        primary == (self.role == FailoverRole::Primary)
    }

    /// What the current state allows.
    pub fn service(&self) -> Service {
        self.state().service()
    }

    /// True when the partner's free addresses may be used: PARTNER-DOWN for at least MCLT.
    pub fn may_use_partner_pool(&self, now: u32) -> bool {
        self.state() == ServerState::PartnerDown
            && u64::from(now)
                >= u64::from(self.partner_down_since.load(Ordering::Acquire))
                    + u64::from(self.mclt())
    }

    /// In PARTNER-DOWN, the time after which MCLT must pass before our own free addresses may
    /// be handed out (0: at once). Set before the state, so a worker never sees PARTNER-DOWN
    /// without it.
    pub fn set_own_pool_since(&self, t: u32) {
        self.own_pool_since.store(t, Ordering::Release);
    }

    /// The MCLT our own free addresses wait for, like the partner's, each also past the
    /// latest potential expiration known for it: PARTNER-DOWN entered without having been in
    /// touch with the partner (see `Endpoint::own_pool_since`). `None`: they may be used at
    /// once.
    pub fn own_pool_wait(&self) -> Option<u32> {
        (self.state() == ServerState::PartnerDown
            && self.own_pool_since.load(Ordering::Acquire) != 0)
            .then(|| self.mclt())
    }

    /// True when our own free addresses may be used (subject, under
    /// [`own_pool_wait`](Self::own_pool_wait), to each one's potential expiration): always
    /// outside PARTNER-DOWN; in it, at once or MCLT after `own_pool_since`.
    pub fn may_use_own_pool(&self, now: u32) -> bool {
        self.own_pool_wait().is_none_or(|mclt| {
            u64::from(now)
                >= u64::from(self.own_pool_since.load(Ordering::Acquire)) + u64::from(mclt)
        })
    }

    /// The slot state of an available address whose draft binding status is `s` (FREE is the
    /// primary's, BACKUP the secondary's).
    pub fn slot_for(&self, s: BindingState) -> Slot {
        let ours = match (s, self.role) {
            (BindingState::Backup, FailoverRole::Secondary) => true,
            (BindingState::Backup, FailoverRole::Primary) => false,
            (_, FailoverRole::Primary) => true,
            (_, FailoverRole::Secondary) => false,
        };
        if ours { Slot::Free } else { Slot::PartnerFree }
    }

    /// The draft binding status of an available slot (the inverse of [`slot_for`](Self::slot_for)).
    pub fn status_of(&self, slot: Slot) -> BindingState {
        match (slot, self.role) {
            (Slot::Free, FailoverRole::Primary) | (Slot::PartnerFree, FailoverRole::Secondary) => {
                BindingState::Free
            }
            _ => BindingState::Backup,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::*;
    use crate::config::PartnerSoftware;

    fn rel(role: FailoverRole, mode: FailoverMode) -> Relationship {
        Relationship {
            name: "r".into(),
            role,
            mode,
            partner: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 647),
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 647),
            floating_address: false,
            mclt_secs: 3600,
            state_switchover_secs: None,
            shared_secret: None,
            partner_software: PartnerSoftware::Xdhcp,
            subnets: vec![],
            max_unacked_updates: 100,
            receive_timer_secs: 30,
            load_balance_max_secs: 3,
        }
    }

    #[test]
    fn buckets_split_between_the_roles() {
        let p = FailoverView::new(&rel(
            FailoverRole::Primary,
            FailoverMode::LoadBalance { local_percent: 50 },
        ));
        let s = FailoverView::new(&rel(
            FailoverRole::Secondary,
            FailoverMode::LoadBalance { local_percent: 50 },
        ));
        let mut mine = 0;
        for n in 0..=255u8 {
            let mac = [2, 0, 0, 0, 0, n];
            assert_ne!(
                p.bucket_is_ours(None, &mac),
                s.bucket_is_ours(None, &mac),
                "exactly one serves"
            );
            mine += u32::from(p.bucket_is_ours(None, &mac));
        }
        assert!((100..156).contains(&mine), "{mine}");
        let hs = FailoverView::new(&rel(
            FailoverRole::Secondary,
            FailoverMode::HotStandby { reserve_percent: 5 },
        ));
        assert!(
            !(0..=255u8).any(|n| hs.bucket_is_ours(None, &[n])),
            "the standby serves no bucket"
        );
    }

    #[test]
    fn free_belongs_to_the_primary_backup_to_the_secondary() {
        let p = FailoverView::new(&rel(
            FailoverRole::Primary,
            FailoverMode::LoadBalance { local_percent: 50 },
        ));
        let s = FailoverView::new(&rel(
            FailoverRole::Secondary,
            FailoverMode::LoadBalance { local_percent: 50 },
        ));
        assert_eq!(p.slot_for(BindingState::Free), Slot::Free);
        assert_eq!(p.slot_for(BindingState::Backup), Slot::PartnerFree);
        assert_eq!(s.slot_for(BindingState::Free), Slot::PartnerFree);
        assert_eq!(s.slot_for(BindingState::Backup), Slot::Free);
        for v in [&p, &s] {
            for st in [BindingState::Free, BindingState::Backup] {
                assert_eq!(v.status_of(v.slot_for(st)), st);
            }
        }
    }

    #[test]
    fn partner_pool_only_after_mclt_in_partner_down() {
        let v = FailoverView::new(&rel(
            FailoverRole::Primary,
            FailoverMode::LoadBalance { local_percent: 50 },
        ));
        v.set_state(ServerState::CommunicationsInterrupted, 100);
        assert!(!v.may_use_partner_pool(100_000));
        v.set_state(ServerState::PartnerDown, 1000);
        assert!(!v.may_use_partner_pool(1000 + 3599));
        assert!(v.may_use_partner_pool(1000 + 3600));
    }

    #[test]
    fn own_pool_waits_only_in_a_partner_down_that_says_so() {
        let v = FailoverView::new(&rel(
            FailoverRole::Secondary,
            FailoverMode::LoadBalance { local_percent: 50 },
        ));
        v.set_state(ServerState::PartnerDown, 1000);
        assert_eq!(v.own_pool_wait(), None);
        assert!(v.may_use_own_pool(1000));
        v.set_own_pool_since(1000);
        v.set_state(ServerState::PartnerDown, 1000);
        assert_eq!(v.own_pool_wait(), Some(3600));
        assert!(!v.may_use_own_pool(1000 + 3599));
        assert!(v.may_use_own_pool(1000 + 3600));
        // Outside PARTNER-DOWN the setting means nothing.
        v.set_state(ServerState::Normal, 5000);
        assert_eq!(v.own_pool_wait(), None);
        assert!(v.may_use_own_pool(1001));
    }
}

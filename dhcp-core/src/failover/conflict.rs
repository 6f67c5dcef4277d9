//! What to do with a binding update from the partner, given what we hold for the address:
//! the table of draft-12 §7.1.2/§7.1.3 (failover-protocol.md §5.6), applied to every BNDUPD.

use crate::config::FailoverRole;
use crate::lease::{BindingState, ClientKey};

/// Draft-12 reject reasons a BNDACK can carry (§12.21).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// 1: the address is not in any pool of this relationship.
    IllegalAddress,
    /// 2: the address is leased to another client.
    FatalConflict,
    /// 3: the update lacks information it must carry.
    MissingBindingInfo,
    /// 15: our information is newer.
    OutdatedBindingInfo,
    /// 16: we hold a more critical state (ABANDONED).
    LessCriticalBindingInfo,
    /// 19: the reserved flag for an address we do not hold as reserved.
    NotReservedHere,
}

impl RejectReason {
    /// The reject-reason option value.
    pub fn wire(self) -> u8 {
        match self {
            RejectReason::IllegalAddress => 1,
            RejectReason::FatalConflict => 2,
            RejectReason::MissingBindingInfo => 3,
            RejectReason::OutdatedBindingInfo => 15,
            RejectReason::LessCriticalBindingInfo => 16,
            RejectReason::NotReservedHere => 19,
        }
    }

    /// Short text for the BNDACK message option and logs.
    pub fn text(self) -> &'static str {
        match self {
            RejectReason::IllegalAddress => "address not in a pool of this relationship",
            RejectReason::FatalConflict => "address leased to another client",
            RejectReason::MissingBindingInfo => "binding information missing",
            RejectReason::OutdatedBindingInfo => "outdated binding information",
            RejectReason::LessCriticalBindingInfo => "address is abandoned here",
            RejectReason::NotReservedHere => "address not reserved on this server",
        }
    }
}

/// Our side of an address, as far as conflict resolution needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ours {
    /// Binding status (an `Offered` hold counts as FREE: nothing was promised).
    pub state: BindingState,
    /// Client holding or last holding it.
    pub client: ClientKey,
    /// Client last transaction time (0 = unknown).
    pub cltt: u32,
    /// Lease end.
    pub lease_end: u32,
    /// Start time of our state.
    pub stos: u32,
    /// Held as a reservation here.
    pub reserved: bool,
    /// The lease is the partner's news: no transaction of the client here since its later one
    /// ([`BindingFlags::LEARNT_FROM_PARTNER`](crate::lease::BindingFlags::LEARNT_FROM_PARTNER)).
    pub learnt_from_partner: bool,
}

/// The partner's side, from its BNDUPD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theirs {
    /// Binding status.
    pub state: BindingState,
    /// Client (NONE when the update names none).
    pub client: ClientKey,
    /// CLTT, when the update carried one.
    pub cltt: Option<u32>,
    /// IP-flags reserved bit.
    pub reserved: bool,
}

/// Accept or reject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Apply the update.
    Accept,
    /// Refuse it with this reason.
    Reject(RejectReason),
}

/// How much later than a client's ACTIVE its RELEASED (or the ABANDONED of a DECLINE) must be
/// to end it when the two were stamped by different servers. A time stamped before a clock step (up to the minute that
/// CONNECT tolerates, [`MAX_SKEW_SECS`](super::endpoint::MAX_SKEW_SECS)) is off by the step, and
/// no offset estimate made afterwards sees that. Keeping a released lease until it ends costs
/// an address for a while; taking a RELEASED over a later ACK loses a lease the client uses.
pub const RELEASE_MARGIN_SECS: u32 = super::endpoint::MAX_SKEW_SECS as u32;

fn later(theirs: Option<u32>, ours: u32) -> bool {
    match theirs {
        None => false,
        Some(t) => ours == 0 || t > ours,
    }
}

/// Decides on an update for an address we hold as `ours` (`None`: nothing known, FREE).
pub fn resolve(ours: Option<&Ours>, theirs: &Theirs, role: FailoverRole, now: u32) -> Verdict {
    use BindingState::*;
    use Verdict::*;
    let needs_client = matches!(theirs.state, Active | Expired | Released);
    if needs_client && theirs.client.is_none() {
        return Reject(RejectReason::MissingBindingInfo);
    }
    if theirs.reserved && matches!(theirs.state, Backup | Free) && !ours.is_some_and(|o| o.reserved)
    {
        return Reject(RejectReason::NotReservedHere);
    }
    let Some(o) = ours else { return Accept };
    let time1 = || {
        if later(theirs.cltt, o.cltt) {
            Accept
        } else {
            Reject(RejectReason::OutdatedBindingInfo)
        }
    };
    let time2 = || {
        if now > o.lease_end {
            Accept
        } else {
            Reject(RejectReason::OutdatedBindingInfo)
        }
    };
    let time3 = || {
        if later(theirs.cltt, o.stos) {
            Accept
        } else {
            Reject(RejectReason::OutdatedBindingInfo)
        }
    };
    match (o.state, theirs.state) {
        // An offer promised nothing; a free address is anybody's.
        (Offered | Free | Backup, _) => Accept,
        (Active, Active) => {
            // The same client, or a different one (the secondary yields, §7.1.2).
            if o.client == theirs.client || role == FailoverRole::Secondary {
                Accept
            } else {
                Reject(RejectReason::FatalConflict)
            }
        }
        (Active, Expired) => time2(),
        // The client released the lease the partner told us of: its later news, even within
        // the second of the renewal (equal CLTTs).
        (Active, Released) if o.learnt_from_partner && o.client == theirs.client => Accept,
        // Our own lease, the release stamped on the partner's clock: the lease stands unless
        // the release is clearly later (and, in the same second, it may have come first).
        (Active, Released) if o.client == theirs.client => {
            if later(theirs.cltt, o.cltt.saturating_add(RELEASE_MARGIN_SECS)) {
                Accept
            } else {
                Reject(RejectReason::OutdatedBindingInfo)
            }
        }
        (Active, Released) => time1(),
        (Active, Free | Backup) => time2(),
        (Active, Reset) => Accept,
        // ABANDONED is the more critical state, but not older news: a lease granted after the
        // DECLINE the partner heard of (this client took the address again) stands. A lease
        // granted here and the DECLINE are stamped by two clocks: as for a RELEASED, the
        // DECLINE ends the lease only when clearly later (seed 0x24d04d137ebe1805: a clock
        // step after the DECLINE made it look 3 s later than a lease granted 10 s after it).
        (Active, Abandoned) => match theirs.cltt {
            Some(t) if o.cltt != 0 => {
                let outdated = if o.learnt_from_partner {
                    o.cltt > t
                } else {
                    t <= o.cltt.saturating_add(RELEASE_MARGIN_SECS)
                };
                if outdated {
                    Reject(RejectReason::OutdatedBindingInfo)
                } else {
                    Accept
                }
            }
            _ => Accept,
        },
        (Expired, Active) => time1(),
        (Expired, _) => Accept,
        // The mirror of the row above, with the margin itself on the lease's side: at every
        // distance exactly one of the two servers takes the other's news (seed
        // 0xc205ba26f667eed6: at exactly the margin both refused), and a lease the client may
        // still use is kept rather than lost.
        (Released, Active) if o.client == theirs.client && !o.learnt_from_partner => {
            match theirs.cltt {
                Some(t) if o.cltt != 0 && t.saturating_add(RELEASE_MARGIN_SECS) < o.cltt => {
                    Reject(RejectReason::OutdatedBindingInfo)
                }
                Some(_) => Accept,
                None => Reject(RejectReason::OutdatedBindingInfo),
            }
        }
        (Released, Active | Expired) => time1(),
        (Released, _) => Accept,
        (Reset, Active) => time3(),
        (Reset, _) => Accept,
        (Abandoned, Reset | Abandoned) => Accept,
        // The partner leased it again (its quarantine is over, or it owns the address): no
        // client holds it here, so nothing is lost by following.
        (Abandoned, Active) => Accept,
        // A stale FREE/EXPIRED/RELEASED must not wipe out an abandonment still in force.
        (Abandoned, _) => {
            if now > o.lease_end {
                Accept
            } else {
                Reject(RejectReason::LessCriticalBindingInfo)
            }
        }
        (_, Offered) => Reject(RejectReason::MissingBindingInfo),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BindingState::*;

    fn key(n: u8) -> ClientKey {
        ClientKey::from_hw(1, &[2, 0, 0, 0, 0, n])
    }

    fn ours(state: BindingState) -> Ours {
        Ours {
            state,
            client: key(1),
            cltt: 1000,
            lease_end: 5000,
            stos: 900,
            reserved: false,
            learnt_from_partner: false,
        }
    }

    fn theirs(state: BindingState, client: u8, cltt: Option<u32>) -> Theirs {
        Theirs {
            state,
            client: if client == 0 {
                ClientKey::NONE
            } else {
                key(client)
            },
            cltt,
            reserved: false,
        }
    }

    const P: FailoverRole = FailoverRole::Primary;
    const S: FailoverRole = FailoverRole::Secondary;
    const OUTDATED: Verdict = Verdict::Reject(RejectReason::OutdatedBindingInfo);

    #[test]
    fn the_draft_table() {
        let now = 2000; // before our lease end (5000)
        // Row ACTIVE.
        assert_eq!(
            resolve(Some(&ours(Active)), &theirs(Active, 1, Some(1100)), P, now),
            Verdict::Accept
        );
        assert_eq!(
            resolve(Some(&ours(Active)), &theirs(Active, 2, Some(1100)), P, now),
            Verdict::Reject(RejectReason::FatalConflict)
        );
        assert_eq!(
            resolve(Some(&ours(Active)), &theirs(Active, 2, Some(1100)), S, now),
            Verdict::Accept
        );
        assert_eq!(
            resolve(Some(&ours(Active)), &theirs(Expired, 1, Some(1100)), P, now),
            OUTDATED
        );
        assert_eq!(
            resolve(
                Some(&ours(Active)),
                &theirs(Expired, 1, Some(1100)),
                P,
                6000
            ),
            Verdict::Accept
        );
        assert_eq!(
            resolve(
                Some(&ours(Active)),
                &theirs(Released, 1, Some(1100)),
                P,
                now
            ),
            Verdict::Accept
        );
        assert_eq!(
            resolve(Some(&ours(Active)), &theirs(Released, 1, Some(999)), P, now),
            OUTDATED
        );
        assert_eq!(
            resolve(Some(&ours(Active)), &theirs(Released, 1, None), P, now),
            OUTDATED
        );
        assert_eq!(
            resolve(Some(&ours(Active)), &theirs(Free, 0, None), P, now),
            OUTDATED
        );
        assert_eq!(
            resolve(Some(&ours(Active)), &theirs(Backup, 0, None), P, 6000),
            Verdict::Accept
        );
        // ABANDONED wins over an ACTIVE older than the DECLINE, not over a newer one; over a
        // lease granted here, only when later by more than the clocks may be off.
        let m = RELEASE_MARGIN_SECS;
        for t in [Some(1001 + m), None] {
            assert_eq!(
                resolve(Some(&ours(Active)), &theirs(Abandoned, 0, t), P, now),
                Verdict::Accept,
                "{t:?}"
            );
        }
        for t in [999, 1000, 1000 + m] {
            assert_eq!(
                resolve(Some(&ours(Active)), &theirs(Abandoned, 0, Some(t)), P, now),
                OUTDATED,
                "{t}"
            );
        }
        // A lease we know from the partner: its DECLINE in the same second or later ends it.
        let learnt = Ours {
            learnt_from_partner: true,
            ..ours(Active)
        };
        for t in [1000, 1001] {
            assert_eq!(
                resolve(Some(&learnt), &theirs(Abandoned, 0, Some(t)), P, now),
                Verdict::Accept,
                "{t}"
            );
        }
        assert_eq!(
            resolve(Some(&learnt), &theirs(Abandoned, 0, Some(999)), P, now),
            OUTDATED
        );
        // Row EXPIRED.
        assert_eq!(
            resolve(Some(&ours(Expired)), &theirs(Active, 2, Some(1001)), P, now),
            Verdict::Accept
        );
        assert_eq!(
            resolve(Some(&ours(Expired)), &theirs(Active, 2, Some(1000)), P, now),
            OUTDATED
        );
        assert_eq!(
            resolve(Some(&ours(Expired)), &theirs(Released, 1, None), P, now),
            Verdict::Accept
        );
        // Row RELEASED.
        assert_eq!(
            resolve(
                Some(&ours(Released)),
                &theirs(Expired, 1, Some(500)),
                P,
                now
            ),
            OUTDATED
        );
        assert_eq!(
            resolve(Some(&ours(Released)), &theirs(Free, 0, None), P, now),
            Verdict::Accept
        );
        // Row RESET: time(3) against our start time of state.
        assert_eq!(
            resolve(Some(&ours(Reset)), &theirs(Active, 2, Some(901)), P, now),
            Verdict::Accept
        );
        assert_eq!(
            resolve(Some(&ours(Reset)), &theirs(Active, 2, Some(800)), P, now),
            OUTDATED
        );
        // Row ABANDONED: the draft refuses everything but RESET; we follow the partner's
        // ACTIVE (it reused the address: no client holds it here), and anything once our
        // quarantine is over (a stale FREE must not end an abandonment still in force).
        assert_eq!(
            resolve(
                Some(&ours(Abandoned)),
                &theirs(Active, 2, Some(9999)),
                P,
                now
            ),
            Verdict::Accept
        );
        for st in [Expired, Released, Free, Backup] {
            let c = if matches!(st, Expired | Released) {
                2
            } else {
                0
            };
            assert_eq!(
                resolve(Some(&ours(Abandoned)), &theirs(st, c, Some(9999)), P, 6000),
                Verdict::Accept,
                "{st:?} after the quarantine"
            );
        }
        for st in [Expired, Released, Free, Backup] {
            let c = if matches!(st, Active | Expired | Released) {
                2
            } else {
                0
            };
            assert_eq!(
                resolve(Some(&ours(Abandoned)), &theirs(st, c, Some(9999)), P, now),
                Verdict::Reject(RejectReason::LessCriticalBindingInfo),
                "{st:?}"
            );
        }
        assert_eq!(
            resolve(Some(&ours(Abandoned)), &theirs(Reset, 0, None), P, now),
            Verdict::Accept
        );
        // Row FREE/BACKUP and offers: everything.
        for o in [Free, Backup, Offered] {
            assert_eq!(
                resolve(Some(&ours(o)), &theirs(Active, 2, None), P, now),
                Verdict::Accept
            );
        }
        assert_eq!(
            resolve(None, &theirs(Active, 2, None), P, now),
            Verdict::Accept
        );
    }

    #[test]
    fn a_release_of_the_lease_the_partner_told_us_of_is_its_later_news() {
        // Seeds 0xcdb05399a81fcbae and others: renewed and released within one second, at
        // the partner. Both updates carry the same CLTT; the release is still the later.
        let mut o = ours(Active);
        o.learnt_from_partner = true;
        for cltt in [Some(1000), Some(999), None] {
            assert_eq!(
                resolve(Some(&o), &theirs(Released, 1, cltt), P, 2000),
                Verdict::Accept,
                "{cltt:?}"
            );
        }
        // Not for another client's lease, nor against a lease granted here: a release at the
        // partner in the same second may have come before our renewal.
        assert_eq!(
            resolve(Some(&o), &theirs(Released, 2, Some(1000)), P, 2000),
            OUTDATED
        );
        assert_eq!(
            resolve(
                Some(&ours(Active)),
                &theirs(Released, 1, Some(1000)),
                P,
                2000
            ),
            OUTDATED
        );
    }

    #[test]
    fn missing_information_and_reservations() {
        assert_eq!(
            resolve(None, &theirs(Active, 0, Some(1)), P, 0),
            Verdict::Reject(RejectReason::MissingBindingInfo)
        );
        let mut t = theirs(Backup, 0, None);
        t.reserved = true;
        assert_eq!(
            resolve(None, &t, S, 0),
            Verdict::Reject(RejectReason::NotReservedHere)
        );
        let mut o = ours(Free);
        o.reserved = true;
        assert_eq!(resolve(Some(&o), &t, S, 0), Verdict::Accept);
    }

    #[test]
    fn a_lease_and_a_release_stamped_by_two_clocks_need_a_clear_margin() {
        // Seed 0xd48551aa45828210: the client released its lease to node 0, then node 1 gave it
        // the address again 3 s later, while partitioned; node 0's clock then stepped back 21 s.
        // Its RELEASED, stamped before the step, looked 6 s later than node 1's lease on any
        // offset estimate, and ended a lease the client held.
        let now = 2000;
        let lease = ours(Active);
        let m = RELEASE_MARGIN_SECS;
        // Our own ACK (cltt 1000) against the partner's release, within the margin: kept.
        assert_eq!(
            resolve(Some(&lease), &theirs(Released, 1, Some(1000 + m)), P, now),
            OUTDATED
        );
        assert_eq!(
            resolve(Some(&lease), &theirs(Released, 1, Some(1001 + m)), P, now),
            Verdict::Accept
        );
        // The partner's ACK against our own release: the lease is taken unless the release is
        // clearly later.
        let released = ours(Released);
        assert_eq!(
            resolve(Some(&released), &theirs(Active, 1, Some(1000 - m)), P, now),
            Verdict::Accept
        );
        assert_eq!(
            resolve(Some(&released), &theirs(Active, 1, Some(999 - m)), P, now),
            OUTDATED
        );
        // Seed 0xc205ba26f667eed6: one server's lease and the other's release of it, each
        // stamped there. Whatever their distance, exactly one server takes the other's news,
        // so that the two agree once both have heard (at exactly the margin, the lease).
        for d in [0, 1, m - 1, m, m + 1, 2 * m] {
            let lease_here = resolve(Some(&lease), &theirs(Released, 1, Some(1000 + d)), P, now);
            let release_here = Ours {
                cltt: 1000 + d,
                ..ours(Released)
            };
            let release_there =
                resolve(Some(&release_here), &theirs(Active, 1, Some(1000)), S, now);
            assert!(
                (lease_here == Verdict::Accept) != (release_there == Verdict::Accept),
                "{d}: {lease_here:?} / {release_there:?}"
            );
            assert_eq!(release_there == Verdict::Accept, d <= m, "{d}");
        }
        // Both times from one clock (ours learnt from the partner): a client's renewal and its
        // release 48 s later at the same server stay in order (seed 0x24).
        let learnt = |state| Ours {
            learnt_from_partner: true,
            ..ours(state)
        };
        assert_eq!(
            resolve(
                Some(&learnt(Active)),
                &theirs(Released, 1, Some(1048)),
                P,
                now
            ),
            Verdict::Accept
        );
        assert_eq!(
            resolve(
                Some(&learnt(Released)),
                &theirs(Active, 1, Some(999)),
                P,
                now
            ),
            OUTDATED
        );
        // Another client's release is ordered plainly.
        assert_eq!(
            resolve(Some(&lease), &theirs(Released, 2, Some(1001)), P, now),
            Verdict::Accept
        );
    }
}

//! Who holds which address, shared by the fleets of every thread so that one address given to
//! clients of two threads is caught too.
//!
//! Per client: the address it holds (0 for none) and when its lease ends. Per address: the last
//! client it was acknowledged to, in an open-addressing table of atomic words that only ever
//! inserts or replaces. An entry is *stale* when its client no longer holds the address (it
//! released it, moved on, or its lease ended); stale entries are what make "given to two
//! clients" decidable without ever deleting: an ACK of an address whose entry names another
//! client that still holds it, with its lease running, is a duplicate.
//!
//! Everything is preallocated; the table holds two to four times as many slots as there are
//! clients and stops checking (counted) when three quarters are used, which only a server
//! handing out half again as many distinct addresses as there are clients can cause.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// A lease counts as running until this many seconds before the end the client computed: the
/// server counts from its own (earlier, whole-second) clock, so it may give the address away
/// that much sooner without being wrong.
pub const CLOCK_SLACK_SECS: u32 = 2;

/// Lease end value of a lease that never ends.
pub const INFINITE: u32 = u32::MAX;

/// The outcome of recording an acknowledged address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nobody else holds it.
    Clean,
    /// Client `0` holds it with a lease that has not ended.
    Duplicate(u32),
    /// The table is full: not checked.
    Unchecked,
}

/// Address holders of every client of a run.
pub struct Registry {
    holding: Box<[AtomicU32]>,
    lease_end: Box<[AtomicU32]>,
    slots: Box<[AtomicU64]>,
    used: AtomicUsize,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("clients", &self.holding.len())
            .field("slots", &self.slots.len())
            .field("used", &self.used.load(Ordering::Relaxed))
            .finish()
    }
}

fn hash(addr: u32) -> u64 {
    // Fibonacci hashing: consecutive pool addresses spread over the table.
    u64::from(addr).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Registry {
    /// A registry for clients `0..clients`.
    pub fn new(clients: u32) -> Self {
        let n = clients as usize;
        let slots = (n * 2).next_power_of_two().max(1024);
        Registry {
            holding: (0..n).map(|_| AtomicU32::new(0)).collect(),
            lease_end: (0..n).map(|_| AtomicU32::new(0)).collect(),
            slots: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            used: AtomicUsize::new(0),
        }
    }

    /// Clients covered.
    pub fn clients(&self) -> u32 {
        self.holding.len() as u32
    }

    /// Bytes this registry takes, for the report.
    pub fn memory_bytes(&self) -> usize {
        self.holding.len() * 8 + self.slots.len() * 8
    }

    /// The address client `c` holds (0 for none) and its lease end.
    pub fn held(&self, c: u32) -> (u32, u32) {
        (
            self.holding[c as usize].load(Ordering::Relaxed),
            self.lease_end[c as usize].load(Ordering::Relaxed),
        )
    }

    /// Client `c` gave up its address (release, restart, NAK).
    pub fn let_go(&self, c: u32) {
        self.holding[c as usize].store(0, Ordering::Relaxed);
    }

    /// Records that `addr` was acknowledged to client `c` with a lease ending at `lease_end`
    /// (seconds since the run started), and says whether another client holds it at `now`.
    pub fn claim(&self, c: u32, addr: u32, lease_end: u32, now: u32) -> Claim {
        self.lease_end[c as usize].store(lease_end, Ordering::Relaxed);
        self.holding[c as usize].store(addr, Ordering::Relaxed);
        if addr == 0 {
            return Claim::Clean;
        }
        let mask = self.slots.len() - 1;
        let want = (u64::from(addr) << 32) | u64::from(c);
        let mut i = hash(addr) as usize & mask;
        for _ in 0..self.slots.len() {
            let slot = &self.slots[i];
            let mut e = slot.load(Ordering::Acquire);
            if e == 0 {
                if self.used.load(Ordering::Relaxed) >= self.slots.len() / 4 * 3 {
                    return Claim::Unchecked;
                }
                match slot.compare_exchange(0, want, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        self.used.fetch_add(1, Ordering::Relaxed);
                        return Claim::Clean;
                    }
                    // Another thread filled this slot: look at what it wrote.
                    Err(now_there) => e = now_there,
                }
            }
            if (e >> 32) as u32 == addr {
                let prev = slot.swap(want, Ordering::AcqRel) as u32;
                if prev == c {
                    return Claim::Clean;
                }
                let (held, end) = self.held(prev);
                return if held == addr && end > now.saturating_add(CLOCK_SLACK_SECS) {
                    Claim::Duplicate(prev)
                } else {
                    Claim::Clean
                };
            }
            i = (i + 1) & mask;
        }
        Claim::Unchecked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_need_a_live_holder() {
        let r = Registry::new(10);
        let a = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(r.claim(1, a, 100, 0), Claim::Clean);
        assert_eq!(
            r.claim(1, a, 200, 50),
            Claim::Clean,
            "renewal by the holder"
        );
        assert_eq!(r.claim(2, a, 100, 60), Claim::Duplicate(1));
        // Client 2 now holds it; client 1 still thinks so too: both directions are caught.
        assert_eq!(r.claim(1, a, 300, 70), Claim::Duplicate(2));
        r.let_go(2);
        r.let_go(1);
        assert_eq!(r.claim(3, a, 100, 80), Claim::Clean, "released");
        assert_eq!(
            r.claim(4, a, 1000, 99),
            Claim::Clean,
            "lease of 3 (nearly) ended"
        );
        assert_eq!(r.held(4), (a, 1000));
        assert_eq!(r.claim(5, a, INFINITE, 990), Claim::Duplicate(4));
    }

    #[test]
    fn many_addresses_and_a_full_table() {
        let r = Registry::new(512);
        for c in 0..256u32 {
            assert_eq!(r.claim(c, 0x0a00_0000 + c, 10, 0), Claim::Clean);
        }
        for c in 0..256u32 {
            assert_eq!(
                r.claim(256 + c, 0x0a00_0000 + c, 10, 0),
                Claim::Duplicate(c)
            );
        }
        // A server inventing addresses fills the table; checking then stops, visibly.
        let mut unchecked = 0;
        for i in 0..4000u32 {
            r.let_go(0);
            if r.claim(0, 0x0b00_0000 + i, 10, 0) == Claim::Unchecked {
                unchecked += 1;
            }
        }
        assert!(unchecked > 0);
    }

    #[test]
    fn threads_racing_for_one_address_see_one_duplicate() {
        for _ in 0..50 {
            let r = Registry::new(2);
            let out: Vec<Claim> = std::thread::scope(|s| {
                let h: Vec<_> = (0..2u32)
                    .map(|c| {
                        let r = &r;
                        s.spawn(move || r.claim(c, 42, 10, 0))
                    })
                    .collect();
                h.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let dups = out
                .iter()
                .filter(|c| matches!(c, Claim::Duplicate(_)))
                .count();
            assert_eq!(dups, 1, "{out:?}");
        }
    }
}

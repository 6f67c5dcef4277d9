//! A hashed timer wheel with one timer per client: millisecond slots, intrusive doubly linked
//! lists in preallocated arrays, O(1) arm and cancel, no allocation after construction.
//!
//! A deadline further away than the wheel's span sits in its slot and is passed over (and
//! relinked) until its time comes.

/// Slots of one millisecond: a span of about 65 s, the longest RFC 2131 back-off plus jitter.
const SLOTS: u32 = 1 << 16;
const MASK: u32 = SLOTS - 1;
const NIL: u32 = u32::MAX;
/// Deadline value of an entry that is not armed.
const DISARMED: u32 = u32::MAX;

/// Timers for entries `0..len`, each armed at most once.
pub struct Wheel {
    heads: Box<[u32]>,
    next: Box<[u32]>,
    prev: Box<[u32]>,
    deadline: Box<[u32]>,
    /// Last millisecond processed by [`expire`](Self::expire).
    now_ms: u32,
    armed: usize,
}

impl std::fmt::Debug for Wheel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wheel")
            .field("entries", &self.next.len())
            .field("armed", &self.armed)
            .field("now_ms", &self.now_ms)
            .finish()
    }
}

impl Wheel {
    /// A wheel for `len` entries, at time 0.
    pub fn new(len: usize) -> Self {
        Wheel {
            heads: vec![NIL; SLOTS as usize].into_boxed_slice(),
            next: vec![NIL; len].into_boxed_slice(),
            prev: vec![NIL; len].into_boxed_slice(),
            deadline: vec![DISARMED; len].into_boxed_slice(),
            now_ms: 0,
            armed: 0,
        }
    }

    /// Timers armed.
    pub fn armed(&self) -> usize {
        self.armed
    }

    /// The deadline of entry `e`, if armed.
    pub fn deadline(&self, e: u32) -> Option<u32> {
        let d = self.deadline[e as usize];
        (d != DISARMED).then_some(d)
    }

    /// Arms (or re-arms) entry `e` to fire at millisecond `at`; a time already processed fires
    /// at the next [`expire`](Self::expire).
    pub fn arm(&mut self, e: u32, at: u32) {
        self.cancel(e);
        let at = at.max(self.now_ms.saturating_add(1)).min(DISARMED - 1);
        self.push_front((at & MASK) as usize, e);
        self.deadline[e as usize] = at;
        self.armed += 1;
    }

    fn push_front(&mut self, slot: usize, e: u32) {
        let head = self.heads[slot];
        self.next[e as usize] = head;
        self.prev[e as usize] = NIL;
        if head != NIL {
            self.prev[head as usize] = e;
        }
        self.heads[slot] = e;
    }

    /// Disarms entry `e` (nothing happens if it is not armed).
    pub fn cancel(&mut self, e: u32) {
        let at = self.deadline[e as usize];
        if at == DISARMED {
            return;
        }
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        if p == NIL {
            self.heads[(at & MASK) as usize] = n;
        } else {
            self.next[p as usize] = n;
        }
        if n != NIL {
            self.prev[n as usize] = p;
        }
        self.deadline[e as usize] = DISARMED;
        self.armed -= 1;
    }

    /// Fires, through `fire`, every entry whose deadline is at most `now_ms`, each exactly
    /// once and disarmed before the call. Returns how many fired.
    pub fn expire(&mut self, now_ms: u32, mut fire: impl FnMut(u32)) -> usize {
        if now_ms <= self.now_ms {
            return 0;
        }
        let start = self.now_ms + 1;
        let span = (now_ms - self.now_ms).min(SLOTS);
        let mut fired = 0;
        for k in 0..span {
            if self.armed == 0 {
                break;
            }
            let slot = (start.wrapping_add(k) & MASK) as usize;
            let mut e = self.heads[slot];
            self.heads[slot] = NIL;
            while e != NIL {
                let n = self.next[e as usize];
                let at = self.deadline[e as usize];
                if at <= now_ms {
                    self.deadline[e as usize] = DISARMED;
                    self.armed -= 1;
                    fire(e);
                    fired += 1;
                } else {
                    // Not due yet (a later lap of the wheel): relink into the fresh list.
                    self.push_front(slot, e);
                }
                e = n;
            }
        }
        self.now_ms = now_ms;
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expire_all(w: &mut Wheel, now: u32) -> Vec<u32> {
        let mut v = Vec::new();
        w.expire(now, |e| v.push(e));
        v.sort_unstable();
        v
    }

    #[test]
    fn fires_each_timer_once_at_its_time() {
        let mut w = Wheel::new(10);
        w.arm(0, 5);
        w.arm(1, 5);
        w.arm(2, 7);
        w.arm(3, 70_000); // beyond one lap
        w.arm(4, 200_000); // three laps
        assert_eq!(w.armed(), 5);
        assert_eq!(expire_all(&mut w, 4), Vec::<u32>::new());
        assert_eq!(expire_all(&mut w, 5), vec![0, 1]);
        assert_eq!(expire_all(&mut w, 69_999), vec![2]);
        assert_eq!(expire_all(&mut w, 70_000), vec![3]);
        assert_eq!(w.deadline(4), Some(200_000));
        assert_eq!(expire_all(&mut w, 199_999), Vec::<u32>::new());
        assert_eq!(expire_all(&mut w, 250_000), vec![4]);
        assert_eq!(w.armed(), 0);
    }

    #[test]
    fn cancel_and_rearm_move_the_timer() {
        let mut w = Wheel::new(4);
        w.arm(0, 10);
        w.arm(1, 10);
        w.arm(2, 10);
        w.cancel(1); // middle of a list
        w.arm(2, 3); // head of a list, moved earlier
        w.cancel(3); // never armed: no effect
        assert_eq!(expire_all(&mut w, 3), vec![2]);
        assert_eq!(expire_all(&mut w, 10), vec![0]);
        assert_eq!(w.deadline(1), None);
        assert_eq!(w.armed(), 0);
    }

    #[test]
    fn past_deadlines_fire_next() {
        let mut w = Wheel::new(2);
        assert!(expire_all(&mut w, 100).is_empty());
        w.arm(0, 50);
        assert_eq!(w.deadline(0), Some(101));
        assert_eq!(expire_all(&mut w, 101), vec![0]);
    }

    #[test]
    fn a_long_jump_fires_everything_due() {
        let mut w = Wheel::new(1000);
        for e in 0..1000u32 {
            w.arm(e, 1 + e * 97);
        }
        let fired = expire_all(&mut w, 1_000_000);
        assert_eq!(fired.len(), 1000);
        assert_eq!(w.armed(), 0);
    }
}

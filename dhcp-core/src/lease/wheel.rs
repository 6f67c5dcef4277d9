//! Expiry timer wheel of one shard: one bucket per second modulo [`WHEEL_SLOTS`], bindings
//! linked into buckets through their own [`WheelLink`] (no allocation). A binding due more than
//! one revolution ahead stays in its bucket and is looked at once per revolution.

use super::binding::{Binding, WheelLink};

/// Buckets (seconds) per revolution.
pub const WHEEL_SLOTS: u32 = 4096;
const NIL: u32 = u32::MAX;

/// The wheel: bucket heads and the last second processed.
#[derive(Debug)]
pub struct Wheel {
    heads: Box<[u32]>,
    cursor: u32,
    scheduled: usize,
}

impl Wheel {
    /// A wheel whose time starts at `now`.
    pub fn new(now: u32) -> Wheel {
        Wheel {
            heads: vec![NIL; WHEEL_SLOTS as usize].into_boxed_slice(),
            cursor: now,
            scheduled: 0,
        }
    }

    /// Number of scheduled bindings.
    pub fn len(&self) -> usize {
        self.scheduled
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.scheduled == 0
    }

    fn bucket(due: u32) -> usize {
        (due % WHEEL_SLOTS) as usize
    }

    /// Schedules binding `idx` for second `due` (moving it if already scheduled).
    pub fn schedule(&mut self, slab: &mut [Binding], idx: u32, due: u32) {
        self.cancel(slab, idx);
        // A time already behind the cursor (a lease end in the past, or the wall clock went
        // back) is due at the next second the cursor visits, not a revolution later. (The
        // bucket must follow from the stored time: `cancel` finds it that way.)
        let due = due.max(1).max(self.cursor.saturating_add(1));
        let b = Self::bucket(due);
        let head = self.heads[b];
        slab[idx as usize].wheel = WheelLink {
            prev: NIL,
            next: head,
            due,
        };
        if head != NIL {
            slab[head as usize].wheel.prev = idx;
        }
        self.heads[b] = idx;
        self.scheduled += 1;
    }

    /// Unschedules binding `idx` (no-op when not scheduled).
    pub fn cancel(&mut self, slab: &mut [Binding], idx: u32) {
        let link = slab[idx as usize].wheel;
        if link.due == 0 {
            return;
        }
        if link.prev != NIL {
            slab[link.prev as usize].wheel.next = link.next;
        } else {
            self.heads[Self::bucket(link.due)] = link.next;
        }
        if link.next != NIL {
            slab[link.next as usize].wheel.prev = link.prev;
        }
        slab[idx as usize].wheel = WheelLink::default();
        self.scheduled -= 1;
    }

    /// Unlinks and returns (into `out`, at most `max`) every binding due at or before `now`.
    /// When `max` stops it early, the next call continues where this one stopped.
    pub fn advance(&mut self, slab: &mut [Binding], now: u32, out: &mut Vec<u32>, max: usize) {
        if now <= self.cursor {
            return;
        }
        // One revolution covers every bucket; a longer gap needs no more than that.
        let steps = (now - self.cursor).min(WHEEL_SLOTS);
        for step in 1..=steps {
            let t = self.cursor.wrapping_add(step);
            let b = Self::bucket(t);
            let mut i = self.heads[b];
            while i != NIL {
                let next = slab[i as usize].wheel.next;
                if slab[i as usize].wheel.due <= now {
                    if out.len() >= max {
                        // Resume from this bucket next time.
                        self.cursor = t.wrapping_sub(1);
                        return;
                    }
                    self.cancel(slab, i);
                    out.push(i);
                }
                i = next;
            }
        }
        self.cursor = now;
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::{
        config::SubnetId,
        lease::key::{ClientKey, HwAddr},
    };

    fn slab(n: usize) -> Vec<Binding> {
        (0..n)
            .map(|i| {
                Binding::new(
                    ClientKey::from_hw(1, &(i as u32).to_be_bytes()),
                    HwAddr::default(),
                    Ipv4Addr::new(10, 0, 0, 1),
                    SubnetId(1),
                )
            })
            .collect()
    }

    #[test]
    fn a_time_already_past_fires_at_the_next_advance() {
        let mut s = slab(3);
        let mut w = Wheel::new(10_000);
        w.advance(&mut s, 10_500, &mut Vec::new(), usize::MAX);
        // Due before the cursor (clock stepped back, or an end already past).
        w.schedule(&mut s, 0, 10_100);
        w.schedule(&mut s, 1, 10_500);
        w.schedule(&mut s, 2, 10_502);
        let mut out = Vec::new();
        w.advance(&mut s, 10_501, &mut out, usize::MAX);
        out.sort_unstable();
        assert_eq!(out, vec![0, 1]);
        out.clear();
        w.advance(&mut s, 10_502, &mut out, usize::MAX);
        assert_eq!(out, vec![2]);
        assert!(w.is_empty());
    }

    #[test]
    fn fires_each_binding_once_at_its_time() {
        let mut s = slab(1000);
        let mut w = Wheel::new(1000);
        for i in 0..1000u32 {
            // Spread over several revolutions.
            w.schedule(&mut s, i, 1001 + i * 17);
        }
        assert_eq!(w.len(), 1000);
        let mut fired = vec![0u32; 1000];
        let mut out = Vec::new();
        let mut now = 1000;
        while now < 1001 + 1000 * 17 + 5 {
            now += 7;
            out.clear();
            w.advance(&mut s, now, &mut out, usize::MAX);
            for &i in &out {
                fired[i as usize] += 1;
                let due = 1001 + i * 17;
                assert!(
                    due <= now && due + 7 > now,
                    "binding {i} due {due} fired at {now}"
                );
            }
        }
        assert!(fired.iter().all(|&f| f == 1));
        assert!(w.is_empty());
    }

    #[test]
    fn reschedule_and_cancel() {
        let mut s = slab(3);
        let mut w = Wheel::new(0);
        w.schedule(&mut s, 0, 10);
        w.schedule(&mut s, 1, 10);
        w.schedule(&mut s, 2, 10);
        w.schedule(&mut s, 1, 50); // moved
        w.cancel(&mut s, 2);
        let mut out = Vec::new();
        w.advance(&mut s, 20, &mut out, 10);
        assert_eq!(out, vec![0]);
        out.clear();
        w.advance(&mut s, 60, &mut out, 10);
        assert_eq!(out, vec![1]);
        assert!(w.is_empty());
    }

    #[test]
    fn bounded_batches_resume() {
        let mut s = slab(100);
        let mut w = Wheel::new(0);
        for i in 0..100 {
            w.schedule(&mut s, i, 5);
        }
        let mut total = 0;
        for _ in 0..20 {
            let mut out = Vec::new();
            w.advance(&mut s, 10, &mut out, 8);
            assert!(out.len() <= 8);
            total += out.len();
        }
        assert_eq!(total, 100);
    }

    #[test]
    fn long_gap_catches_up() {
        let mut s = slab(2);
        let mut w = Wheel::new(0);
        w.schedule(&mut s, 0, 100);
        w.schedule(&mut s, 1, 100_000);
        let mut out = Vec::new();
        w.advance(&mut s, 50_000, &mut out, 10);
        assert_eq!(out, vec![0]);
        out.clear();
        w.advance(&mut s, 100_000, &mut out, 10);
        assert_eq!(out, vec![1]);
    }
}

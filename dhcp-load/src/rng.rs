//! A small seeded generator for retransmission jitter and per-run keys.
//!
//! The model never asks the operating system for randomness: a run (and a failing test)
//! replays from its seed.

/// SplitMix64 (Steele, Lea and Flood): one 64-bit word of state, good enough for jitter.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform value in `[0, bound)` (`bound` > 0), by multiply-shift.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A uniform value in `[-span, span]`.
    pub fn jitter(&mut self, span: i64) -> i64 {
        if span <= 0 {
            return 0;
        }
        self.below(2 * span as u64 + 1) as i64 - span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(8).next_u64(), Rng::new(7).next_u64());
    }

    #[test]
    fn jitter_covers_its_range_and_stays_inside() {
        let mut r = Rng::new(1);
        let mut seen = [false; 7];
        for _ in 0..10_000 {
            let j = r.jitter(3);
            assert!((-3..=3).contains(&j));
            seen[(j + 3) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.jitter(0), 0);
    }
}

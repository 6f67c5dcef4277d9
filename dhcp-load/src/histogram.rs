//! A fixed-size log-linear latency histogram: recording is an index computation and one
//! increment, with no allocation; histograms of several threads add up bucket by bucket.
//!
//! Values below 32 have a bucket each; above, every power of two is cut into 32 equal buckets,
//! so a reported percentile is within 1/32 (about 3 %) of the recorded value. Values are
//! clamped to 2^40 − 1 (in microseconds, about twelve days).

/// Linear buckets per power of two (and the count of exact buckets at the bottom).
const SUB: u64 = 32;
const SUB_BITS: u32 = 5;
/// Highest exponent kept: values clamp to 2^(MAX_EXP+1) − 1.
const MAX_EXP: u32 = 39;
/// Number of buckets.
pub const BUCKETS: usize = (SUB + (MAX_EXP - SUB_BITS + 1) as u64 * SUB) as usize;
const MAX_VALUE: u64 = (1 << (MAX_EXP + 1)) - 1;

/// Counts of recorded values by bucket, plus exact count, minimum, maximum and sum.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    buckets: [u64; BUCKETS],
    count: u64,
    min: u64,
    max: u64,
    sum: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: [0; BUCKETS],
            count: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("p50", &self.percentile(0.5))
            .field("max", &self.max)
            .finish()
    }
}

fn index_of(v: u64) -> usize {
    let v = v.min(MAX_VALUE);
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let sub = (v >> (e - SUB_BITS)) - SUB;
    (SUB + u64::from(e - SUB_BITS) * SUB + sub) as usize
}

/// Highest value that falls in bucket `i`.
fn upper_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let e = (i - SUB) / SUB + u64::from(SUB_BITS);
    let sub = (i - SUB) % SUB;
    ((SUB + sub + 1) << (e - u64::from(SUB_BITS))) - 1
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, v: u64) {
        let v = v.min(MAX_VALUE);
        self.buckets[index_of(v)] += 1;
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum = self.sum.saturating_add(v);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest value recorded (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    /// Largest value recorded (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Mean of the recorded values (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value below or at which a fraction `q` (0..=1) of the recorded values lie: the top
    /// of the bucket holding that rank, clamped to the exact minimum and maximum.
    pub fn percentile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper_bound(i).clamp(self.min(), self.max);
            }
        }
        self.max
    }

    /// Adds every count of `other` into `self`.
    pub fn add(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum = self.sum.saturating_add(other.sum);
    }

    /// What was recorded since `earlier` (a snapshot of this same histogram). Minimum and
    /// maximum of the difference are bucket bounds, not exact values.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let mut d = Histogram::default();
        for (i, (a, b)) in self.buckets.iter().zip(earlier.buckets.iter()).enumerate() {
            let c = a.saturating_sub(*b);
            d.buckets[i] = c;
            if c > 0 {
                d.min = d.min.min(upper_bound(i));
                d.max = d.max.max(upper_bound(i).min(self.max));
            }
        }
        d.count = self.count.saturating_sub(earlier.count);
        d.sum = self.sum.saturating_sub(earlier.sum);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_monotonic() {
        let mut prev = None;
        for i in 0..BUCKETS {
            let hi = upper_bound(i);
            if let Some(p) = prev {
                assert_eq!(index_of(p + 1), i, "value {} ", p + 1);
                assert!(hi > p);
            }
            assert_eq!(index_of(hi), i);
            prev = Some(hi);
        }
        assert_eq!(prev, Some(MAX_VALUE));
        assert_eq!(index_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_within_three_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        for (q, want) in [(0.5, 50_000.0), (0.99, 99_000.0), (0.999, 99_900.0)] {
            let got = h.percentile(q) as f64;
            assert!((got - want).abs() / want < 0.032, "q {q}: {got} vs {want}");
        }
        assert_eq!(h.percentile(1.0), 100_000);
        assert_eq!(h.max(), 100_000);
        assert_eq!(h.min(), 1);
        assert_eq!(h.count(), 100_000);
        assert!((h.mean() - 50_000.5).abs() < 1e-6);
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in [3u64, 3, 5, 7, 31] {
            h.record(v);
        }
        assert_eq!(h.percentile(0.4), 3);
        assert_eq!(h.percentile(0.6), 5);
        assert_eq!(h.percentile(0.99), 31);
        assert_eq!(Histogram::default().percentile(0.5), 0);
    }

    #[test]
    fn add_and_since_are_inverse() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        for v in 0..1000u64 {
            a.record(v * 7);
            b.record(v * 13 + 5);
        }
        let snapshot = a.clone();
        a.add(&b);
        assert_eq!(a.count(), 2000);
        assert_eq!(a.max(), 999 * 13 + 5);
        let d = a.since(&snapshot);
        assert_eq!(d.count(), b.count());
        assert_eq!(d.buckets, b.buckets);
        let p = d.percentile(0.5) as f64;
        let want = b.percentile(0.5) as f64;
        assert!((p - want).abs() / want < 0.04);
    }
}

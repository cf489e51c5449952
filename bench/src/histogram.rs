//! A log-linear latency histogram.
//!
//! Recording must cost next to nothing on the load generator's hot path and
//! histograms from many connections must merge exactly, so values go into
//! fixed buckets instead of being stored. Below `2 * SUB_BUCKETS` every value
//! has its own bucket; above it every power of two is split into
//! `SUB_BUCKETS` equal buckets, which bounds the relative error of any
//! reported percentile by `1 / SUB_BUCKETS` (under 1.6 %) for any `u64`.

/// Bits of mantissa kept per power of two.
const SUB_BITS: u32 = 6;
/// Buckets per power of two.
const SUB_BUCKETS: u64 = 1 << SUB_BITS;
/// Shift needed for the largest `u64` (its top bit is bit 63).
const MAX_SHIFT: u64 = 63 - SUB_BITS as u64;
/// Number of buckets covering all of `u64`.
const BUCKETS: usize = ((MAX_SHIFT + 2) * SUB_BUCKETS) as usize;

/// Counts of values (nanoseconds, by convention) in log-linear buckets.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

/// Bucket index of `value`.
fn index_of(value: u64) -> usize {
    if value < 2 * SUB_BUCKETS {
        return value as usize;
    }
    let top_bit = 63 - u64::from(value.leading_zeros());
    let shift = top_bit - u64::from(SUB_BITS);
    // `value >> shift` lies in SUB_BUCKETS..2*SUB_BUCKETS.
    (shift * SUB_BUCKETS + (value >> shift)) as usize
}

/// Smallest and largest value that land in bucket `index`.
fn bounds_of(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < 2 * SUB_BUCKETS {
        return (index, index);
    }
    let shift = index / SUB_BUCKETS - 1;
    let top = index % SUB_BUCKETS + SUB_BUCKETS;
    let low = top << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Histogram {
    /// Counts one value.
    pub fn record(&mut self, value: u64) {
        self.counts[index_of(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
    }

    /// Adds every count of `other` to this histogram.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest value recorded (exact, not bucketed); 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1): the midpoint of the bucket holding
    /// the `ceil(q * count)`-th smallest value, capped at the exact maximum.
    /// 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = bounds_of(index);
                return (low + (high - low) / 2).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        let mut previous_high = None;
        for index in 0..BUCKETS {
            let (low, high) = bounds_of(index);
            assert!(low <= high);
            if let Some(previous) = previous_high {
                assert_eq!(low, previous + 1, "gap before bucket {index}");
            }
            assert_eq!(index_of(low), index);
            assert_eq!(index_of(high), index);
            previous_high = Some(high);
        }
        assert_eq!(previous_high, Some(u64::MAX));
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), 50);
        assert_eq!(h.quantile(0.99), 99);
        assert_eq!(h.quantile(1.0), 100);
        assert_eq!(h.quantile(0.0), 1);
    }

    #[test]
    fn percentiles_of_a_uniform_spread_are_within_the_error_bound() {
        let mut h = Histogram::default();
        // 1 µs .. 10 ms in nanoseconds, uniformly.
        for v in 1..=10_000u64 {
            h.record(v * 1_000);
        }
        for (q, expected) in [(0.5, 5_000_000.0), (0.9, 9_000_000.0), (0.99, 9_900_000.0)] {
            let got = h.quantile(q) as f64;
            let error = (got - expected).abs() / expected;
            assert!(
                error < 1.0 / SUB_BUCKETS as f64,
                "q{q}: {got} vs {expected}"
            );
        }
        assert_eq!(h.max(), 10_000_000);
        assert_eq!(h.count(), 10_000);
    }

    #[test]
    fn a_slow_tail_shows_in_p99_but_not_p50() {
        let mut h = Histogram::default();
        for _ in 0..985 {
            h.record(100_000);
        }
        for _ in 0..15 {
            h.record(50_000_000);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 - 100_000.0).abs() / 100_000.0 < 0.02, "p50 {p50}");
        assert!(
            (p99 - 50_000_000.0).abs() / 50_000_000.0 < 0.02,
            "p99 {p99}"
        );
    }

    #[test]
    fn merging_equals_recording_into_one() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        let mut both = Histogram::default();
        for v in 0..5_000u64 {
            let value = v * v;
            if v % 3 == 0 {
                a.record(value);
            } else {
                b.record(value);
            }
            both.record(value);
        }
        a.merge(&b);
        for q in [0.1, 0.5, 0.9, 0.99, 0.999] {
            assert_eq!(a.quantile(q), both.quantile(q));
        }
        assert_eq!(a.count(), both.count());
        assert_eq!(a.max(), both.max());
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0);
        assert_eq!(h.count(), 0);
    }
}

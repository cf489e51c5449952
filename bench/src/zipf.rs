//! Zipf-distributed ranks for a realistic "few keys are hot" workload.
//!
//! Real market-data traffic concentrates on a handful of coins; a uniform
//! key choice would understate what a cache achieves and a single key would
//! overstate it. The sampler precomputes the cumulative distribution once
//! and draws each rank with one PRNG step and a binary search, so it costs
//! far less than the request it chooses. The PRNG is a seeded xorshift so
//! runs are reproducible and need no dependency.

/// A xorshift64* generator: fast, seedable, good enough for load shaping
/// (not for anything security related).
#[derive(Debug, Clone)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// A generator from `seed`; a zero seed (a fixed point of xorshift) is
    /// replaced by a constant.
    pub fn new(seed: u64) -> Self {
        // One splitmix64 step spreads nearby seeds (0, 1, 2, ...) apart.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self {
            state: if z == 0 { 0x2545_F491_4F6C_DD1D } else { z },
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniform float in `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(s) over ranks `0..n`: rank `k` (0-based) has weight `1 / (k+1)^s`.
#[derive(Debug, Clone)]
pub struct Zipf {
    /// `cdf[k]` = probability of a rank `<= k`; the last entry is 1.
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks with exponent `s`.
    ///
    /// # Panics
    /// If `n` is zero or `s` is not finite: both are programming errors.
    pub fn new(n: usize, s: f64) -> Self {
        assert!(n > 0, "Zipf needs at least one rank");
        assert!(s.is_finite(), "Zipf exponent must be finite");
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += 1.0 / (k as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Self { cdf }
    }

    /// Draws a 0-based rank.
    pub fn sample(&self, rng: &mut XorShift64) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_follow_one_over_k() {
        let zipf = Zipf::new(1_000, 1.0);
        let mut rng = XorShift64::new(42);
        let mut counts = vec![0u64; 1_000];
        let draws = 2_000_000;
        for _ in 0..draws {
            counts[zipf.sample(&mut rng)] += 1;
        }
        // Harmonic number H(1000) ~ 7.4855: rank 1 gets 1/H of the draws.
        let h = (1..=1_000).map(|k| 1.0 / k as f64).sum::<f64>();
        for k in [1usize, 2, 3, 5, 10, 50, 100] {
            let expected = draws as f64 / (k as f64 * h);
            let got = counts[k - 1] as f64;
            let error = (got - expected).abs() / expected;
            assert!(error < 0.05, "rank {k}: {got} draws, expected ~{expected}");
        }
        // And the ratio form: rank 1 is drawn about k times as often as rank k.
        let ratio = counts[0] as f64 / counts[9] as f64;
        assert!((ratio - 10.0).abs() < 0.6, "rank1/rank10 = {ratio}");
        // Every rank is reachable over enough draws, including the tail.
        assert!(counts[999] > 0);
    }

    #[test]
    fn exponent_zero_is_uniform() {
        let zipf = Zipf::new(4, 0.0);
        let mut rng = XorShift64::new(7);
        let mut counts = [0u64; 4];
        for _ in 0..400_000 {
            counts[zipf.sample(&mut rng)] += 1;
        }
        for c in counts {
            assert!((c as f64 - 100_000.0).abs() < 2_000.0, "{counts:?}");
        }
    }

    #[test]
    fn samples_stay_in_range_and_single_rank_is_constant() {
        let zipf = Zipf::new(1, 1.0);
        let mut rng = XorShift64::new(0);
        for _ in 0..1_000 {
            assert_eq!(zipf.sample(&mut rng), 0);
        }
    }

    #[test]
    fn same_seed_same_sequence_and_floats_in_unit_interval() {
        let mut a = XorShift64::new(3);
        let mut b = XorShift64::new(3);
        for _ in 0..1_000 {
            let x = a.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.next_f64().to_bits());
        }
        assert_ne!(XorShift64::new(1).next_u64(), XorShift64::new(2).next_u64());
    }
}

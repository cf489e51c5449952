//! Tiny deterministic pseudo-random helpers.
//!
//! The simulator must be reproducible without pulling in the `rand` crate:
//! prices are a pure function of `(coin seed, time)` and fault injection is
//! driven by an explicitly seeded generator, so the same inputs always give
//! the same outputs across runs and machines.

/// One step of the SplitMix64 finaliser: a cheap, well-mixed 64-bit hash.
///
/// Used both as a stateless hash (`mix(seed ^ key)`) for the price noise and
/// as the state transition of [`SplitMix64`].
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a string (e.g. a coin id) into a 64-bit seed.
///
/// FNV-1a followed by [`mix`], so that similar ids such as `coin-0016` and
/// `coin-0017` still get unrelated seeds.
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    mix(h)
}

/// Maps 64 random bits to a uniform `f64` in `[0, 1)`.
pub fn unit_f64(bits: u64) -> f64 {
    // 53 significant bits fit exactly into an f64 mantissa.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A seeded SplitMix64 generator.
///
/// Chosen over anything fancier because it is a few lines, has no bad seeds
/// (zero included) and is plenty for deciding which request gets a fault.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Creates a generator whose sequence is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let out = mix(self.state);
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        out
    }

    /// Returns the next uniform `f64` in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        unit_f64(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_sequence() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn unit_values_stay_in_range() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..10_000 {
            let v = rng.next_f64();
            assert!((0.0..1.0).contains(&v));
        }
    }

    #[test]
    fn similar_ids_hash_differently() {
        assert_ne!(hash_str("coin-0016"), hash_str("coin-0017"));
    }
}

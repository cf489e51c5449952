//! Fault injection for `/api/v3/...` traffic.
//!
//! Clients of a market data API must cope with slow answers, rate limits,
//! outages and requests that never complete. The fault plan is set at runtime
//! through `/__sim/faults` so a single simulator process can walk a test
//! through "healthy → throttled → down → healthy" without restarts. Random
//! errors come from an explicitly seeded PRNG so failures are reproducible.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::prng::SplitMix64;

/// Upper bound for `latency_ms + jitter_ms`; anything longer is a typo, and
/// "never answer" is what `hang_next` is for.
const MAX_DELAY_MS: u64 = 600_000;

/// How long a hung request sleeps before giving up; long enough that any
/// sane client times out first.
pub const HANG_DURATION: Duration = Duration::from_secs(3_600);

/// The current fault configuration, as returned by `GET /__sim/faults`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultConfig {
    /// Extra latency added to every API request, on top of the CLI latency.
    pub latency_ms: u64,
    /// Uniform random extra latency in `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Share of API requests (0..=1) answered with HTTP 500.
    pub error_rate: f64,
    /// The next N API requests are answered with HTTP 429.
    pub rate_limit_next: u32,
    /// Value of the `Retry-After` header on injected 429s.
    pub retry_after_secs: u32,
    /// The next N API requests are answered with HTTP 503.
    pub fail_next: u32,
    /// The next N API requests never complete (until the client gives up).
    pub hang_next: u32,
    /// Seed of the PRNG behind `error_rate` and `jitter_ms`.
    pub error_rate_seed: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            jitter_ms: 0,
            error_rate: 0.0,
            rate_limit_next: 0,
            retry_after_secs: 1,
            fail_next: 0,
            hang_next: 0,
            error_rate_seed: 0,
        }
    }
}

/// A partial update accepted by `PUT /__sim/faults`; absent fields keep their
/// current value and unknown fields are rejected so typos do not go unnoticed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPatch {
    /// See [`FaultConfig::latency_ms`].
    pub latency_ms: Option<u64>,
    /// See [`FaultConfig::jitter_ms`].
    pub jitter_ms: Option<u64>,
    /// See [`FaultConfig::error_rate`].
    pub error_rate: Option<f64>,
    /// See [`FaultConfig::rate_limit_next`].
    pub rate_limit_next: Option<u32>,
    /// See [`FaultConfig::retry_after_secs`].
    pub retry_after_secs: Option<u32>,
    /// See [`FaultConfig::fail_next`].
    pub fail_next: Option<u32>,
    /// See [`FaultConfig::hang_next`].
    pub hang_next: Option<u32>,
    /// See [`FaultConfig::error_rate_seed`].
    pub error_rate_seed: Option<u64>,
}

/// Why a [`FaultPatch`] was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// `error_rate` was NaN or outside `0..=1`.
    #[error("'error_rate' must be a number between 0 and 1, got {0}")]
    ErrorRateOutOfRange(f64),
    /// `latency_ms + jitter_ms` exceeded [`MAX_DELAY_MS`].
    #[error("'latency_ms' + 'jitter_ms' must not exceed {MAX_DELAY_MS} ms")]
    DelayTooLong,
}

impl FaultConfig {
    /// Returns this configuration with `patch` applied, or why it is invalid.
    pub fn patched(&self, patch: &FaultPatch) -> Result<Self, FaultError> {
        let next = Self {
            latency_ms: patch.latency_ms.unwrap_or(self.latency_ms),
            jitter_ms: patch.jitter_ms.unwrap_or(self.jitter_ms),
            error_rate: patch.error_rate.unwrap_or(self.error_rate),
            rate_limit_next: patch.rate_limit_next.unwrap_or(self.rate_limit_next),
            retry_after_secs: patch.retry_after_secs.unwrap_or(self.retry_after_secs),
            fail_next: patch.fail_next.unwrap_or(self.fail_next),
            hang_next: patch.hang_next.unwrap_or(self.hang_next),
            error_rate_seed: patch.error_rate_seed.unwrap_or(self.error_rate_seed),
        };
        if !(0.0..=1.0).contains(&next.error_rate) {
            return Err(FaultError::ErrorRateOutOfRange(next.error_rate));
        }
        if next.latency_ms.saturating_add(next.jitter_ms) > MAX_DELAY_MS {
            return Err(FaultError::DelayTooLong);
        }
        Ok(next)
    }
}

/// A fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Sleep for [`HANG_DURATION`] before answering.
    Hang,
    /// Answer 429 with `Retry-After`.
    RateLimited {
        /// Seconds advertised in `Retry-After`.
        retry_after_secs: u32,
    },
    /// Answer 503.
    Unavailable,
    /// Answer 500.
    InternalError,
}

/// What to do with one API request: wait `delay`, then fail or answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Latency to apply before answering (CLI latency + fault latency + jitter).
    pub delay: Duration,
    /// The fault to inject, if any.
    pub fault: Option<Fault>,
}

#[derive(Debug)]
struct State {
    config: FaultConfig,
    rng: SplitMix64,
}

impl State {
    fn new(config: FaultConfig) -> Self {
        let rng = SplitMix64::new(config.error_rate_seed);
        Self { config, rng }
    }
}

/// Shared, mutable fault configuration.
///
/// A plain mutex is enough: the critical sections are a few arithmetic
/// operations and the lock is never held across an `.await`.
#[derive(Debug)]
pub struct Faults {
    state: Mutex<State>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::new(FaultConfig::default())),
        }
    }
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is always left consistent, so a panic elsewhere while
        // holding the lock must not take the whole simulator down.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current configuration (counters reflect what is still pending).
    pub fn config(&self) -> FaultConfig {
        self.lock().config.clone()
    }

    /// Applies a partial update and reseeds the PRNG from `error_rate_seed`,
    /// so the sequence of random failures after every update is reproducible.
    pub fn update(&self, patch: &FaultPatch) -> Result<FaultConfig, FaultError> {
        let mut state = self.lock();
        let next = state.config.patched(patch)?;
        *state = State::new(next.clone());
        Ok(next)
    }

    /// Clears every fault and restores the default seed.
    pub fn reset(&self) {
        *self.lock() = State::new(FaultConfig::default());
    }

    /// Decides the fate of one API request and consumes one-shot counters.
    ///
    /// Precedence when several faults are armed: hang, then rate limit, then
    /// 503, then the random 500. The PRNG is only consulted when it matters
    /// (`error_rate > 0` / `jitter_ms > 0`), so arming a one-shot fault does
    /// not shift the random sequence.
    pub fn plan(&self, base_latency: Duration) -> Plan {
        let mut state = self.lock();
        let State { config, rng } = &mut *state;
        let jitter = if config.jitter_ms > 0 {
            rng.next_u64() % (config.jitter_ms + 1)
        } else {
            0
        };
        let delay = base_latency + Duration::from_millis(config.latency_ms + jitter);
        let fault = if take_one(&mut config.hang_next) {
            Some(Fault::Hang)
        } else if take_one(&mut config.rate_limit_next) {
            Some(Fault::RateLimited {
                retry_after_secs: config.retry_after_secs,
            })
        } else if take_one(&mut config.fail_next) {
            Some(Fault::Unavailable)
        } else if config.error_rate > 0.0 && rng.next_f64() < config.error_rate {
            Some(Fault::InternalError)
        } else {
            None
        };
        Plan { delay, fault }
    }
}

/// Decrements a one-shot counter, returning whether it was armed.
fn take_one(counter: &mut u32) -> bool {
    if *counter > 0 {
        *counter -= 1;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> FaultPatch {
        serde_json::from_str(json).expect("valid test patch")
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(serde_json::from_str::<FaultPatch>(r#"{"latency":5}"#).is_err());
    }

    #[test]
    fn error_rate_outside_unit_interval_is_rejected() {
        let faults = Faults::default();
        assert!(faults.update(&patch(r#"{"error_rate":1.5}"#)).is_err());
        assert!(faults.update(&patch(r#"{"error_rate":-0.1}"#)).is_err());
        assert_eq!(faults.config(), FaultConfig::default());
    }

    #[test]
    fn one_shot_faults_fire_in_precedence_order_then_stop() {
        let faults = Faults::default();
        faults
            .update(&patch(
                r#"{"hang_next":1,"rate_limit_next":1,"fail_next":1}"#,
            ))
            .expect("valid");
        let fired: Vec<_> = (0..4).map(|_| faults.plan(Duration::ZERO).fault).collect();
        assert_eq!(
            fired,
            [
                Some(Fault::Hang),
                Some(Fault::RateLimited {
                    retry_after_secs: 1
                }),
                Some(Fault::Unavailable),
                None
            ]
        );
    }

    #[test]
    fn error_rate_is_reproducible_for_a_seed() {
        let run = || {
            let faults = Faults::default();
            faults
                .update(&patch(r#"{"error_rate":0.5,"error_rate_seed":9}"#))
                .expect("valid");
            (0..64)
                .map(|_| faults.plan(Duration::ZERO).fault.is_some())
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let failures = first.iter().filter(|f| **f).count();
        assert!((16..=48).contains(&failures), "{failures} of 64");
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let faults = Faults::default();
        faults
            .update(&patch(r#"{"latency_ms":10,"jitter_ms":5}"#))
            .expect("valid");
        for _ in 0..100 {
            let delay = faults.plan(Duration::from_millis(1)).delay;
            assert!((Duration::from_millis(11)..=Duration::from_millis(16)).contains(&delay));
        }
    }
}

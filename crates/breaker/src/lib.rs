//! A consecutive-failure circuit breaker, shared by the Redis tier and the
//! outbound HTTP client.
//!
//! Closed: calls pass. After `threshold` consecutive failures it opens and
//! calls are skipped for `cool_down`; then one probe call is let through
//! (half-open). A success closes it again; a failure re-opens it. This keeps a
//! dead dependency from adding its timeout to every request while still
//! noticing quickly when it comes back.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Observable breaker state, for health output and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass; consecutive failures are being counted.
    Closed,
    /// Calls are skipped until the cool-down has passed.
    Open,
    /// The cool-down has passed: one probe call may go (or is under way);
    /// every other caller is still skipped.
    HalfOpen,
}

impl BreakerState {
    /// Lower-case name used in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

#[derive(Debug)]
struct Inner {
    failures: u32,
    opened_at: Option<Instant>,
    probing: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: Duration,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures (0 counts as 1) and stays
    /// open for `cool_down` before letting a probe through.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            inner: Mutex::new(Inner {
                failures: 0,
                opened_at: None,
                probing: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the counters in a state
        // worse than "a few failures miscounted", so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may go ahead now. In half-open state only one caller
    /// at a time gets `true` (the probe).
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut inner = self.lock();
        match inner.opened_at {
            None => true,
            Some(at) if now.duration_since(at) >= self.cool_down && !inner.probing => {
                inner.probing = true;
                true
            }
            Some(_) => false,
        }
    }

    /// Closes the breaker and resets the failure count; a successful probe
    /// ends the half-open state this way.
    pub fn record_success(&self) {
        let mut inner = self.lock();
        inner.failures = 0;
        inner.opened_at = None;
        inner.probing = false;
    }

    /// Counts one failure; the threshold-th in a row, or a failed probe,
    /// (re)opens the breaker for another cool-down.
    pub fn record_failure(&self) {
        self.record_failure_at(Instant::now());
    }

    fn record_failure_at(&self, now: Instant) {
        let mut inner = self.lock();
        inner.failures = inner.failures.saturating_add(1);
        if inner.probing || inner.failures >= self.threshold {
            inner.opened_at = Some(now);
        }
        inner.probing = false;
    }

    /// Ends a call that [`allow`](Self::allow) let through without saying
    /// whether the dependency works (the caller gave up first, or refused
    /// the answer for its own reasons): counts nothing, but frees the
    /// half-open probe slot, which would otherwise stay taken for good.
    pub fn release(&self) {
        self.lock().probing = false;
    }

    /// The state as of now: half-open once the cool-down has passed, even
    /// before any caller has probed.
    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match inner.opened_at {
            None => BreakerState::Closed,
            Some(at) if at.elapsed() >= self.cool_down || inner.probing => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let b = CircuitBreaker::new(3, Duration::from_secs(60));
        b.record_failure();
        b.record_failure();
        assert!(b.allow());
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let b = CircuitBreaker::new(2, Duration::from_secs(60));
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn after_cool_down_exactly_one_probe_passes() {
        let b = CircuitBreaker::new(1, Duration::ZERO);
        b.record_failure();
        assert!(b.allow(), "first caller probes");
        assert!(!b.allow(), "second caller waits for the probe");
        b.record_success();
        assert!(b.allow());
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_released_probe_lets_the_next_caller_probe() {
        let b = CircuitBreaker::new(1, Duration::ZERO);
        b.record_failure();
        assert!(b.allow(), "first caller probes");
        b.release();
        assert!(b.allow(), "the probe slot is free again");
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn a_failed_probe_reopens_for_a_full_cool_down() {
        let cool_down = Duration::from_secs(10);
        let b = CircuitBreaker::new(1, cool_down);
        let start = Instant::now();
        b.record_failure_at(start);
        assert!(!b.allow_at(start + cool_down / 2));
        let probe_time = start + cool_down;
        assert!(b.allow_at(probe_time), "probe after cool-down");
        b.record_failure_at(probe_time);
        assert!(!b.allow_at(probe_time + cool_down / 2));
        assert!(b.allow_at(probe_time + cool_down));
    }
}

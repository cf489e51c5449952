//! The in-process token bucket: the whole budget without Redis, and the
//! fallback while Redis is away.
//!
//! It follows the same rules as the shared bucket's script, so a call is
//! judged alike wherever its bucket lives: refill at the rate up to the
//! burst, one token per request, and a hold (after a 429) that empties the
//! bucket until its end and leaves exactly one token at that instant, so
//! the call that waited the upstream's `Retry-After` out is the one let
//! through.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rate::Rate;

/// Rounding slack: a bucket that holds 0.999999999 tokens after an exact
/// refill holds one.
const EPSILON: f64 = 1e-9;

/// A token bucket in this process.
pub(crate) struct LocalBucket {
    capacity: f64,
    per_ms: f64,
    state: Mutex<State>,
}

struct State {
    tokens: f64,
    /// When `tokens` was last brought up to date (or, during a hold, the
    /// hold's end: refilling starts there).
    at: Instant,
    /// No request before this instant (inclusive: one at exactly this
    /// instant is admitted).
    hold_until: Option<Instant>,
}

impl LocalBucket {
    /// A full bucket of `burst` tokens refilled at `rate`.
    pub(crate) fn new(rate: Rate, burst: u32, now: Instant) -> Self {
        Self {
            capacity: f64::from(burst),
            per_ms: rate.per_ms(),
            state: Mutex::new(State {
                tokens: f64::from(burst),
                at: now,
                hold_until: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two numbers updated together under the lock; a
        // panic elsewhere cannot leave them worse than slightly stale.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long until a hold set by [`hold`](Self::hold) ends, if one is on.
    pub(crate) fn held(&self, now: Instant) -> Option<Duration> {
        let state = self.lock();
        state
            .hold_until
            .filter(|until| now < *until)
            .map(|until| until - now)
    }

    /// Takes one token, or says how long until one is there.
    pub(crate) fn take(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        if let Some(until) = state.hold_until.filter(|until| now < *until) {
            return Err(until - now);
        }
        if now > state.at {
            let elapsed = (now - state.at).as_secs_f64() * 1000.0;
            state.tokens = (state.tokens + elapsed * self.per_ms).min(self.capacity);
            state.at = now;
        }
        if state.tokens >= 1.0 - EPSILON {
            state.tokens = (state.tokens - 1.0).max(0.0);
            Ok(())
        } else {
            let ms = ((1.0 - state.tokens) / self.per_ms - EPSILON)
                .ceil()
                .max(1.0);
            Err(Duration::from_millis(ms as u64))
        }
    }

    /// Empties the bucket until `now + after` (a later hold already on
    /// stays); at its end one token is there and refilling resumes.
    pub(crate) fn hold(&self, now: Instant, after: Duration) {
        let until = now + after;
        let mut state = self.lock();
        if state.hold_until.is_some_and(|current| current >= until) {
            return;
        }
        state.hold_until = Some(until);
        state.tokens = 1.0_f64.min(self.capacity);
        state.at = until;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(rate: &str, burst: u32, now: Instant) -> LocalBucket {
        LocalBucket::new(Rate::parse(rate).expect("rate"), burst, now)
    }

    #[test]
    fn a_full_bucket_admits_its_burst_then_refuses() {
        let now = Instant::now();
        let bucket = bucket("10/s", 3, now);
        for _ in 0..3 {
            assert_eq!(bucket.take(now), Ok(()));
        }
        assert_eq!(bucket.take(now), Err(Duration::from_millis(100)));
    }

    #[test]
    fn tokens_come_back_at_the_rate() {
        let start = Instant::now();
        let bucket = bucket("30/min", 1, start);
        assert_eq!(bucket.take(start), Ok(()));
        let later = start + Duration::from_millis(1500);
        assert_eq!(bucket.take(later), Err(Duration::from_millis(500)));
        assert_eq!(bucket.take(start + Duration::from_secs(2)), Ok(()));
    }

    #[test]
    fn refilling_stops_at_the_burst() {
        let start = Instant::now();
        let bucket = bucket("10/s", 2, start);
        let much_later = start + Duration::from_secs(60);
        assert_eq!(bucket.take(much_later), Ok(()));
        assert_eq!(bucket.take(much_later), Ok(()));
        assert!(bucket.take(much_later).is_err());
    }

    #[test]
    fn a_hold_refuses_until_its_end_and_admits_one_call_at_it() {
        let start = Instant::now();
        let bucket = bucket("100/s", 50, start);
        bucket.hold(start, Duration::from_secs(2));
        let during = start + Duration::from_millis(1500);
        assert_eq!(bucket.take(during), Err(Duration::from_millis(500)));
        assert_eq!(bucket.held(during), Some(Duration::from_millis(500)));
        let end = start + Duration::from_secs(2);
        assert_eq!(bucket.take(end), Ok(()), "inclusive at the hold's end");
        assert!(bucket.take(end).is_err(), "the bucket was drained");
        assert_eq!(bucket.held(end), None);
    }

    #[test]
    fn a_shorter_hold_does_not_cut_a_longer_one() {
        let start = Instant::now();
        let bucket = bucket("1/s", 1, start);
        bucket.hold(start, Duration::from_secs(10));
        bucket.hold(start, Duration::from_secs(1));
        assert_eq!(
            bucket.held(start + Duration::from_secs(5)),
            Some(Duration::from_secs(5))
        );
    }
}

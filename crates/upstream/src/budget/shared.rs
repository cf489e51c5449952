//! The bucket every instance shares, in Redis.
//!
//! One Lua script does the whole read-refill-take (or hold) on one key, so
//! it is atomic without locks and works on a Redis Cluster (a script that
//! touches one key runs on that key's primary). It reads the clock with
//! Redis's own `TIME`, so instances whose clocks disagree still share one
//! timeline. The key expires once the bucket would be full again, which is
//! the same as no key: idle budgets leave nothing behind.
//!
//! Redis is an optimisation of the budget here, never a dependency of the
//! calls it guards: every round trip has a short timeout and goes through a
//! breaker, and when either says no the caller falls back to its local
//! bucket (see the parent module). An outage is logged once when it starts
//! and once when it ends.

use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use strata_backplane::Backplane;
use strata_breaker::CircuitBreaker;

use super::rate::Rate;

/// KEYS[1]: the bucket (a hash: `tokens`, `at`, `hold`, all as text, times
/// in Redis-clock milliseconds). ARGV: `take` or `hold`, the burst, tokens
/// per period, the period in ms, and (for `hold`) the hold in ms.
/// Returns `{admitted (0/1), wait ms}`. Numbers are stored with `tostring`
/// and replies are whole numbers: Redis truncates Lua floats in replies.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local capacity = tonumber(ARGV[2])
local per_ms = tonumber(ARGV[3]) / tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'hold')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
local hold = tonumber(state[3]) or 0
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * per_ms)
  at = now
end
local admitted = 0
local wait = 0
if ARGV[1] == 'hold' then
  local hold_end = now + tonumber(ARGV[5])
  if hold_end > hold then
    hold = hold_end
    tokens = math.min(1, capacity)
    at = hold_end
  end
elseif now < hold then
  wait = hold - now
elseif tokens >= 1 - 1e-9 then
  tokens = math.max(0, tokens - 1)
  admitted = 1
else
  wait = math.max(1, math.ceil((1 - tokens) / per_ms - 1e-9))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at), 'hold', tostring(hold))
local full_in = math.ceil((capacity - tokens) / per_ms)
redis.call('PEXPIRE', KEYS[1], math.max(at, hold, now) - now + full_in + 1000)
return {admitted, wait}
";

static BUCKET: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SCRIPT));

/// Consecutive Redis failures after which budgets stop asking Redis for a
/// while, so an outage costs calls no timeout at all.
const BREAKER_THRESHOLD: u32 = 3;
/// How long budgets use their local buckets before asking Redis again.
const BREAKER_COOL_DOWN: Duration = Duration::from_secs(2);

/// The Redis side of every budget (one per host).
pub(crate) struct SharedBuckets {
    backplane: Arc<Backplane>,
    timeout: Duration,
    breaker: CircuitBreaker,
    /// Whether the last round trip failed (for logging an outage once).
    down: AtomicBool,
    /// Decisions made locally because Redis could not be asked.
    pub(crate) fallbacks: AtomicU64,
}

impl SharedBuckets {
    pub(crate) fn new(backplane: Arc<Backplane>, timeout: Duration) -> Self {
        Self {
            backplane,
            timeout,
            breaker: CircuitBreaker::new(BREAKER_THRESHOLD, BREAKER_COOL_DOWN),
            down: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// The Redis key of the budget labelled `label` (an allow-list entry
    /// from the manifest, never a guest's text).
    pub(crate) fn key(&self, label: &str) -> String {
        self.backplane
            .namespace()
            .host_key(&format!("budget:{label}"))
    }

    /// Takes one token from `key`'s bucket: `Some(Ok(()))` admitted,
    /// `Some(Err(wait))` refused, `None` when Redis could not say.
    pub(crate) async fn take(
        &self,
        key: &str,
        rate: Rate,
        burst: u32,
    ) -> Option<Result<(), Duration>> {
        let (admitted, wait) = self.run(key, "take", rate, burst, 0).await?;
        Some(if admitted == 1 {
            Ok(())
        } else {
            Err(Duration::from_millis(wait.max(1)))
        })
    }

    /// Empties `key`'s bucket for `after`; whether Redis took it.
    pub(crate) async fn hold(&self, key: &str, rate: Rate, burst: u32, after: Duration) -> bool {
        let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        self.run(key, "hold", rate, burst, ms).await.is_some()
    }

    async fn run(
        &self,
        key: &str,
        op: &str,
        rate: Rate,
        burst: u32,
        ms: u64,
    ) -> Option<(u64, u64)> {
        if !self.breaker.allow() {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut probe = Probe {
            breaker: &self.breaker,
            pending: true,
        };
        let mut conn = self.backplane.conn();
        let mut invocation = BUCKET.key(key);
        invocation
            .arg(op)
            .arg(burst)
            .arg(rate.tokens())
            .arg(rate.period_ms())
            .arg(ms);
        let outcome = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<(u64, u64)>(&mut conn),
        )
        .await;
        probe.pending = false;
        match outcome {
            Ok(Ok(reply)) => {
                self.breaker.record_success();
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis is back: upstream budgets are shared again");
                }
                Some(reply)
            }
            failed => {
                self.breaker.record_failure();
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                if !self.down.swap(true, Ordering::Relaxed) {
                    let error = match failed {
                        Ok(Err(e)) => strata_logtext::redact(&e.to_string()),
                        _ => format!("no answer within {:?}", self.timeout),
                    };
                    tracing::warn!(%error, "Redis unavailable: upstream budgets fall back to this instance's own buckets until it returns");
                }
                None
            }
        }
    }
}

/// A round trip the breaker let through. If the caller's future is dropped
/// mid-way (its guest ran out of time), this frees the breaker's half-open
/// probe slot, which would otherwise stay taken and keep every budget on
/// its local bucket for good.
struct Probe<'a> {
    breaker: &'a CircuitBreaker,
    pending: bool,
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        if self.pending {
            self.breaker.release();
        }
    }
}

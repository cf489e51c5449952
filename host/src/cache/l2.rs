//! L2: the Redis tier shared by every host instance.
//!
//! Every command has a short timeout and goes through a circuit breaker, so a
//! slow or dead Redis costs a request at most one timeout before the breaker
//! opens, and nothing after that. The connection manager reconnects on its
//! own and the breaker's half-open probe notices recovery, so L2 comes back
//! without a restart. Pattern clears walk the keyspace with SCAN and remove
//! with UNLINK in batches; KEYS is never used because it blocks Redis.

use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use thiserror::Error;

use crate::breaker::{BreakerState, CircuitBreaker};

/// Why an L2 command did not complete. Callers log these and carry on: a
/// cache error never fails a request.
#[derive(Debug, Error)]
pub enum L2Error {
    #[error("redis circuit breaker is open")]
    CircuitOpen,
    #[error("redis command timed out after {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Keys scanned per SCAN round trip and removed per UNLINK.
const SCAN_BATCH: usize = 500;

/// The Redis tier.
pub struct L2 {
    client: redis::Client,
    conn: ConnectionManager,
    timeout: Duration,
    breaker: CircuitBreaker,
    /// Last observed command latency in microseconds.
    last_latency_us: std::sync::atomic::AtomicU64,
}

impl L2 {
    /// Prepares a lazily connecting client; fails only on a malformed URL.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, L2Error> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self {
            client,
            conn,
            timeout,
            breaker: CircuitBreaker::new(3, Duration::from_secs(2)),
            last_latency_us: Default::default(),
        })
    }

    async fn run<T, F>(&self, op: impl FnOnce(ConnectionManager) -> F) -> Result<T, L2Error>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.allow() {
            return Err(L2Error::CircuitOpen);
        }
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, op(self.conn.clone())).await;
        let elapsed = started.elapsed();
        self.last_latency_us.store(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        match outcome {
            Ok(Ok(value)) => {
                self.breaker.record_success();
                Ok(value)
            }
            Ok(Err(e)) => {
                self.breaker.record_failure();
                Err(L2Error::Redis(e))
            }
            Err(_) => {
                self.breaker.record_failure();
                Err(L2Error::Timeout(self.timeout))
            }
        }
    }

    /// The value and its remaining TTL, so a promotion into L1 never
    /// outlives the L2 copy.
    pub async fn get(&self, key: &str) -> Result<Option<(Bytes, Option<Duration>)>, L2Error> {
        let key = key.to_string();
        let (value, pttl): (Option<Vec<u8>>, i64) = self
            .run(|mut conn| async move {
                redis::pipe()
                    .get(&key)
                    .pttl(&key)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let remaining = u64::try_from(pttl).ok().map(Duration::from_millis);
        Ok(value.map(|v| (Bytes::from(v), remaining)))
    }

    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), L2Error> {
        let key = key.to_string();
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.run(|mut conn| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(value.as_ref())
                .arg("PX")
                .arg(millis)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    pub async fn delete(&self, key: &str) -> Result<bool, L2Error> {
        let key = key.to_string();
        let removed: usize = self
            .run(|mut conn| async move { conn.unlink(&key).await })
            .await?;
        Ok(removed > 0)
    }

    /// Removes every key matching `pattern`; returns how many were removed.
    pub async fn clear_pattern(&self, pattern: &str) -> Result<u64, L2Error> {
        let mut cursor: u64 = 0;
        let mut removed: u64 = 0;
        loop {
            let pattern = pattern.to_string();
            let (next, keys): (u64, Vec<String>) = self
                .run(|mut conn| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(SCAN_BATCH)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            if !keys.is_empty() {
                let count: u64 = self
                    .run(|mut conn| async move { conn.unlink(&keys).await })
                    .await?;
                removed += count;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    /// Publishes `payload` on a pub/sub channel; returns how many
    /// subscribers received it.
    pub async fn publish(&self, channel: &str, payload: String) -> Result<u64, L2Error> {
        let channel = channel.to_string();
        self.run(|mut conn| async move { conn.publish(&channel, payload).await })
            .await
    }

    /// The client, for opening dedicated (pub/sub) connections.
    pub fn client(&self) -> redis::Client {
        self.client.clone()
    }

    /// A round trip to Redis, for health checks.
    pub async fn ping(&self) -> Result<(), L2Error> {
        self.run(|mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    pub fn last_latency(&self) -> Duration {
        Duration::from_micros(
            self.last_latency_us
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }
}

//! L2: the Redis tier shared by every host instance.
//!
//! Every command has a short timeout and goes through a circuit breaker, so a
//! slow or dead Redis costs a request at most one timeout before the breaker
//! opens, and nothing after that. The connection reconnects on its own and
//! the breaker's half-open probe notices recovery, so L2 comes back without a
//! restart. Pattern clears walk the keyspace with SCAN (on every primary of a
//! cluster) and remove with UNLINK in batches; KEYS is never used because it
//! blocks Redis. Whether one server or a cluster answers is the
//! [`Backplane`]'s business.

use std::time::{Duration, Instant};

use std::sync::Arc;

use bytes::Bytes;
use redis::AsyncCommands;
use thiserror::Error;

use super::shards::ShardBreakers;

mod families;
mod hot;
mod kv;
use crate::generations::{Generations, generational_key, parse_generational, pattern_family};
use strata_backplane::{Backplane, Conn, NodeAddr};
use strata_breaker::{BreakerState, CircuitBreaker};

/// Why an L2 command did not complete. Callers log these and carry on: a
/// cache error never fails a request.
#[derive(Debug, Error)]
pub enum L2Error {
    /// The breaker is open (the key's primary's, or the deployment-wide one
    /// for clears and publishes); nothing was sent.
    #[error("redis circuit breaker is open")]
    CircuitOpen,
    /// No answer within the configured command timeout (carried).
    #[error("redis command timed out after {0:?}")]
    Timeout(Duration),
    /// Redis or the connection to it failed the command.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A cluster clear that reached only some primaries: keys on the
    /// others (down at the time) were not removed.
    #[error("removed {removed} keys, but could not clear {unreachable}")]
    IncompleteClear {
        /// Keys removed on the primaries that could be reached.
        removed: u64,
        /// The primaries that could not be cleared, with why, comma-separated.
        unreachable: String,
    },
}

/// Keys scanned per SCAN round trip and removed per UNLINK.
const SCAN_BATCH: usize = 500;

/// The Redis tier.
pub struct L2 {
    backplane: Arc<Backplane>,
    timeout: Duration,
    breakers: ShardBreakers,
    /// Last observed command latency in microseconds.
    last_latency_us: std::sync::atomic::AtomicU64,
    /// Each family's generation, which every Redis name of a cache key
    /// embeds (see `generations`).
    generations: Arc<Generations>,
}

impl L2 {
    /// The cache tier on `backplane`; `timeout` bounds every operation.
    pub fn new(backplane: Arc<Backplane>, timeout: Duration) -> Self {
        Self {
            backplane,
            timeout,
            breakers: ShardBreakers::default(),
            last_latency_us: Default::default(),
            generations: Arc::default(),
        }
    }

    /// The Redis name of cache key `key` at its family's current
    /// generation: the one place a cache key is named (after [`L2::ready`]).
    fn redis_key(&self, key: &str) -> String {
        let generation = self.generations.of_key(key);
        self.backplane
            .namespace()
            .cache_key(&generational_key(key, generation))
    }

    /// The cache key and generation a Redis name found by SCAN stands
    /// for; `None` for a name outside the cache keys.
    fn cache_key_of(&self, name: &str) -> Option<(String, u64)> {
        let namespaced = self.backplane.namespace().cache_key("");
        parse_generational(name.strip_prefix(namespaced.as_str())?)
    }

    /// The breaker guarding Redis key `key`: its primary's in a cluster.
    fn breaker_for(&self, key: &str) -> Arc<CircuitBreaker> {
        self.breakers
            .for_node(self.backplane.owner_of(key).as_ref())
    }

    /// The deployment-wide breaker, for work not tied to one key.
    fn shared_breaker(&self) -> Arc<CircuitBreaker> {
        self.breakers.for_node(None)
    }

    /// Runs `op` if `breaker` allows, and tells the breaker how it went.
    async fn run<T, F>(
        &self,
        breaker: &CircuitBreaker,
        op: impl FnOnce(Conn) -> F,
    ) -> Result<T, L2Error>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        if !breaker.allow() {
            return Err(L2Error::CircuitOpen);
        }
        let outcome = self.timed(op).await;
        match &outcome {
            Ok(_) => breaker.record_success(),
            Err(_) => breaker.record_failure(),
        }
        outcome
    }

    /// Runs `op` under the command timeout, recording its latency.
    async fn timed<T, F>(&self, op: impl FnOnce(Conn) -> F) -> Result<T, L2Error>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, op(self.backplane.conn())).await;
        self.last_latency_us.store(
            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(L2Error::Redis(e)),
            Err(_) => Err(L2Error::Timeout(self.timeout)),
        }
    }

    /// The value and its remaining TTL, so a promotion into L1 never
    /// outlives the L2 copy.
    pub async fn get(&self, key: &str) -> Result<Option<(Bytes, Option<Duration>)>, L2Error> {
        self.ready().await?;
        let key = self.redis_key(key);
        let breaker = self.breaker_for(&key);
        let (value, pttl): (Option<Vec<u8>>, i64) = self
            .run(&breaker, |mut conn| async move {
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

    /// Stores `value` under `key` for `ttl` (rounded to milliseconds, at
    /// least 1 ms), replacing any previous value.
    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), L2Error> {
        self.ready().await?;
        let key = self.redis_key(key);
        let breaker = self.breaker_for(&key);
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.run(&breaker, |mut conn| async move {
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

    /// Removes `key` from Redis; `true` when it was there.
    pub async fn delete(&self, key: &str) -> Result<bool, L2Error> {
        self.ready().await?;
        let key = self.redis_key(key);
        let breaker = self.breaker_for(&key);
        let removed: usize = self
            .run(&breaker, |mut conn| async move { conn.unlink(&key).await })
            .await?;
        Ok(removed > 0)
    }

    /// Removes every key matching `pattern`; returns how many were removed.
    /// In a cluster every primary is walked; one that is down does not stop
    /// the others, and the result says which could not be cleared. Only this
    /// installation's cache keys can match: the pattern is placed inside
    /// the namespace, whose own characters are never glob syntax.
    ///
    /// A pattern whose family part is literal is matched against that
    /// family's current generation (older ones are unreachable already).
    /// One whose family part is a glob is widened to span the generation
    /// suffix (`ma?ket:x` looks at `ma?ket*:x`) and each name found is
    /// matched as the key it stands for, so every generation's matches go.
    pub async fn clear_pattern(&self, pattern: &str) -> Result<u64, L2Error> {
        self.ready().await?;
        let namespace = self.backplane.namespace();
        let redis_pattern = &match pattern_family(pattern) {
            Some(_) => self.redis_key(pattern),
            None => {
                let (family, rest) = match pattern.split_once(':') {
                    Some((family, rest)) => (family, format!(":{rest}")),
                    None => (pattern, String::new()),
                };
                namespace.cache_pattern(&format!("{family}*{rest}"))
            }
        };
        let wanted = |name: &str| {
            self.cache_key_of(name)
                .is_some_and(|(key, _)| strata_keys::glob_match(pattern, &key))
        };
        let nodes = self
            .run(&self.shared_breaker(), |_| async {
                self.backplane.keyspace_nodes().await
            })
            .await?;
        let mut removed = 0;
        let mut unreachable = Vec::new();
        for node in &nodes {
            if let Err(e) = self
                .clear_on(node, redis_pattern, &wanted, &mut removed)
                .await
            {
                unreachable.push(format!("{node} ({e})"));
            }
        }
        if unreachable.is_empty() {
            Ok(removed)
        } else {
            Err(L2Error::IncompleteClear {
                removed,
                unreachable: unreachable.join(", "),
            })
        }
    }

    async fn clear_on(
        &self,
        node: &NodeAddr,
        pattern: &str,
        wanted: &impl Fn(&str) -> bool,
        removed: &mut u64,
    ) -> Result<(), L2Error> {
        let breaker = self.breakers.for_node(Some(node));
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH);
            let (next, mut keys): (u64, Vec<String>) = self
                .run(&breaker, |mut conn| async move {
                    conn.query_on(node, scan).await
                })
                .await?;
            keys.retain(|name| wanted(name));
            if !keys.is_empty() {
                // In a cluster the client splits a multi-key UNLINK by slot.
                let count: u64 = self
                    .run(&breaker, |mut conn| async move { conn.unlink(&keys).await })
                    .await?;
                *removed += count;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Publishes `payload` on a pub/sub channel; returns how many
    /// subscribers (across the deployment) it was sent to.
    pub async fn publish(&self, channel: &str, payload: String) -> Result<u64, L2Error> {
        self.run(&self.shared_breaker(), |_| async {
            self.backplane.publish(channel, &payload).await
        })
        .await
    }

    /// Publishes without counting receivers (cheaper in a cluster).
    pub async fn notify(&self, channel: &str, payload: String) -> Result<(), L2Error> {
        self.run(&self.shared_breaker(), |_| async {
            self.backplane.notify(channel, &payload).await
        })
        .await
    }

    /// The shared connection, for dedicated (pub/sub) subscriptions.
    pub fn backplane(&self) -> &Arc<Backplane> {
        &self.backplane
    }

    /// A round trip to Redis (every primary of a cluster), for health
    /// checks. It bypasses the breakers: it reports how Redis is, and one
    /// lost primary must not stop the others' traffic through the shared
    /// breaker.
    pub async fn ping(&self) -> Result<(), L2Error> {
        self.timed(|mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }

    /// The worst breaker state (one per primary in a cluster).
    pub fn breaker_state(&self) -> BreakerState {
        self.breakers.worst_state()
    }

    /// How long the latest Redis command took, failed or not (timeouts count
    /// as the full timeout); zero before the first.
    pub fn last_latency(&self) -> Duration {
        Duration::from_micros(
            self.last_latency_us
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }
}

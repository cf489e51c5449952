//! The Redis commands behind the standard key-value interface: the
//! operations plain caching never needed (atomic counters, compare and
//! swap, several keys in one round trip, listing a prefix).
//!
//! Atomicity is Redis's: a counter is one `INCRBY` and a swap is one Lua
//! script, so concurrent callers on any number of host instances never
//! lose an update. Neither ever fails as a Redis error for a reason the
//! caller chose (a counter that is not a number): such an error would count
//! against the breaker, and a guest could then switch L2 off for everyone.

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use redis::AsyncCommands;

use super::{L2, L2Error};
use futures::future::join_all;
use strata_backplane::{NodeAddr, Topology};

/// `INCRBY` and a fresh TTL in one step; `{1, value}`, or `{0, 0}` when
/// the stored value is not an integer or the sum overflows.
const INCREMENT: &str = r"
local value = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(value) == 'table' then
  return {0, 0}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, value}
";

/// Sets `KEYS[1]` to `ARGV[3]` for `ARGV[4]` ms only if it still holds
/// `ARGV[2]` (`ARGV[1]` = `1`) or is still absent (`ARGV[1]` = `0`).
const SWAP: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then
    return 0
  end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1
";

static INCREMENT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(INCREMENT));
static SWAP_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SWAP));

/// Keys one SCAN round trip is asked to look at.
const SCAN_COUNT: usize = 256;

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl L2 {
    /// Adds `delta` to the integer at `key` (0 when absent) and gives the
    /// key `ttl` afresh; `None` when the value is not an integer or the sum
    /// would overflow (nothing is changed then).
    pub(crate) async fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl: Duration,
    ) -> Result<Option<i64>, L2Error> {
        self.ready().await?;
        let key = self.redis_key(key);
        let breaker = self.breaker_for(&key);
        let (done, value): (i64, i64) = self
            .run(&breaker, |mut conn| async move {
                INCREMENT_SCRIPT
                    .key(&key)
                    .arg(delta)
                    .arg(millis(ttl))
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok((done == 1).then_some(value))
    }

    /// The stored bytes of `key`, straight from Redis (no TTL read).
    pub(crate) async fn get_raw(&self, key: &str) -> Result<Option<Bytes>, L2Error> {
        self.ready().await?;
        let key = self.redis_key(key);
        let breaker = self.breaker_for(&key);
        let value: Option<Vec<u8>> = self
            .run(&breaker, |mut conn| async move { conn.get(&key).await })
            .await?;
        Ok(value.map(Bytes::from))
    }

    /// Stores `value` at `key` for `ttl` if the key still holds `expected`
    /// (absent when `None`); whether it did.
    pub(crate) async fn swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, L2Error> {
        self.ready().await?;
        let key = self.redis_key(key);
        let breaker = self.breaker_for(&key);
        let swapped: i64 = self
            .run(&breaker, |mut conn| async move {
                SWAP_SCRIPT
                    .key(&key)
                    .arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or_default())
                    .arg(value)
                    .arg(millis(ttl))
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(swapped == 1)
    }

    /// Whether keys of one batch may hash to different cluster slots: a
    /// cluster refuses a pipeline that spans slots ("crossed slots"), so
    /// there a batch is one command per key, all sent at once on the
    /// multiplexed connection, instead of one pipeline.
    fn spans_slots(&self) -> bool {
        matches!(self.backplane.topology(), Topology::Cluster(_))
    }

    /// The values of `keys` with their remaining TTLs, in one pipelined
    /// round trip (on a cluster, concurrent reads, one per key).
    pub(crate) async fn get_many(
        &self,
        keys: &[&str],
    ) -> Result<Vec<Option<(Bytes, Option<Duration>)>>, L2Error> {
        if self.spans_slots() {
            return join_all(keys.iter().map(|key| self.get(key)))
                .await
                .into_iter()
                .collect();
        }
        let mut pipe = redis::pipe();
        for key in keys {
            self.ready().await?;
            let key = self.redis_key(key);
            pipe.get(&key).pttl(&key);
        }
        let replies: Vec<(Option<Vec<u8>>, i64)> = self
            .run(&self.shared_breaker(), |mut conn| async move {
                let flat: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
                flat.chunks(2)
                    .map(|pair| {
                        redis::from_redis_value::<(Option<Vec<u8>>, i64)>(redis::Value::Array(
                            pair.to_vec(),
                        ))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(Into::into)
            })
            .await?;
        Ok(replies
            .into_iter()
            .map(|(value, pttl)| {
                let remaining = u64::try_from(pttl).ok().map(Duration::from_millis);
                value.map(|v| (Bytes::from(v), remaining))
            })
            .collect())
    }

    /// Stores every `(key, value, ttl)` in one pipelined round trip (on a
    /// cluster, concurrent writes, one per key).
    pub(crate) async fn set_many(
        &self,
        entries: &[(&str, Bytes, Duration)],
    ) -> Result<(), L2Error> {
        if self.spans_slots() {
            let writes = entries
                .iter()
                .map(|(key, value, ttl)| self.set(key, value.clone(), *ttl));
            return join_all(writes).await.into_iter().collect();
        }
        self.ready().await?;
        let mut pipe = redis::pipe();
        for (key, value, ttl) in entries {
            pipe.cmd("SET")
                .arg(self.redis_key(key))
                .arg(value.as_ref())
                .arg("PX")
                .arg(millis(*ttl))
                .ignore();
        }
        self.run(&self.shared_breaker(), |mut conn| async move {
            pipe.query_async::<()>(&mut conn).await
        })
        .await
    }

    /// Removes every key of `keys` with one UNLINK (split by slot in a
    /// cluster); how many there were.
    pub(crate) async fn delete_many(&self, keys: &[&str]) -> Result<u64, L2Error> {
        self.ready().await?;
        let keys: Vec<String> = keys.iter().map(|key| self.redis_key(key)).collect();
        self.run(&self.shared_breaker(), |mut conn| async move {
            conn.unlink(&keys).await
        })
        .await
    }

    /// The nodes a listing walks, in a stable order (a cursor names one
    /// by its index).
    pub(crate) async fn listing_nodes(&self) -> Result<Vec<NodeAddr>, L2Error> {
        let mut nodes = self
            .run(&self.shared_breaker(), |_| async {
                self.backplane.keyspace_nodes().await
            })
            .await?;
        nodes.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
        Ok(nodes)
    }

    /// One SCAN step on `node` over the cache keys starting with `prefix`
    /// (a validated key, so never glob syntax): the next SCAN cursor (0 at
    /// the end) and the cache keys found, without the namespace. Only keys
    /// of their family's current generation are listed (older ones are
    /// unreachable). Keys that are not UTF-8 (no cache key is) are skipped.
    pub(crate) async fn scan_prefix(
        &self,
        node: &NodeAddr,
        cursor: u64,
        prefix: &str,
    ) -> Result<(u64, Vec<String>), L2Error> {
        self.ready().await?;
        // A prefix holding a whole family names its generation; one that
        // stops inside the family part may span several families.
        let pattern = if prefix.contains(':') {
            format!("{}*", self.redis_key(prefix))
        } else {
            self.backplane
                .namespace()
                .cache_pattern(&format!("{prefix}*"))
        };
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let breaker = self.breakers.for_node(Some(node));
        let (next, keys): (u64, Vec<Vec<u8>>) = self
            .run(&breaker, |mut conn| async move {
                conn.query_on(node, scan).await
            })
            .await?;
        let keys = keys
            .into_iter()
            .filter_map(|key| String::from_utf8(key).ok())
            .filter_map(|name| self.cache_key_of(&name))
            .filter(|(key, generation)| {
                key.starts_with(prefix) && *generation == self.generations.of_key(key)
            })
            .map(|(key, _)| key)
            .collect();
        Ok((next, keys))
    }
}

//! The Redis side of warm start: the shared record of hot keys.
//!
//! A record is one sorted set (member: cache key, score: hits) under the
//! host's part of the namespace, so no component key can touch it. Every
//! instance adds its own top keys with `ZADD GT`: the score is the highest
//! count any instance reported, writing twice changes nothing, and no
//! instance removes another's keys. The set is trimmed to the highest
//! `cap` members after each write and expires on its own, so neither many
//! instances nor an abandoned deployment make it grow.

use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use redis::AsyncCommands;

use super::{L2, L2Error};

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl L2 {
    /// Merges `entries` (cache key, hits) into the record `name`, keeps its
    /// `cap` highest members and gives it `ttl` afresh.
    pub(crate) async fn record_hot(
        &self,
        name: &str,
        entries: &[(String, u64)],
        cap: usize,
        ttl: Duration,
    ) -> Result<(), L2Error> {
        if entries.is_empty() {
            return Ok(());
        }
        let key = self.backplane.namespace().host_key(name);
        let breaker = self.breaker_for(&key);
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(&key).arg("GT");
        for (member, hits) in entries {
            zadd.arg(*hits).arg(member);
        }
        let keep = i64::try_from(cap).unwrap_or(i64::MAX);
        let mut pipe = redis::pipe();
        pipe.add_command(zadd)
            .ignore()
            .cmd("ZREMRANGEBYRANK")
            .arg(&key)
            .arg(0)
            .arg(-keep - 1)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl))
            .ignore();
        self.run(&breaker, |mut conn| async move {
            pipe.query_async::<()>(&mut conn).await
        })
        .await
    }

    /// The `limit` hottest members of each record in `names` (absent
    /// records read as empty), with their scores, hottest first. Members
    /// that are not UTF-8 (no cache key is) are skipped.
    pub(crate) async fn read_hot(
        &self,
        names: &[String],
        limit: usize,
    ) -> Result<Vec<Vec<(String, u64)>>, L2Error> {
        join_all(names.iter().map(|name| self.read_record(name, limit)))
            .await
            .into_iter()
            .collect()
    }

    async fn read_record(&self, name: &str, limit: usize) -> Result<Vec<(String, u64)>, L2Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = self.backplane.namespace().host_key(name);
        let breaker = self.breaker_for(&key);
        let stop = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let record: Vec<(Vec<u8>, f64)> = self
            .run(&breaker, |mut conn| async move {
                conn.zrevrange_withscores(&key, 0, stop).await
            })
            .await?;
        Ok(record
            .into_iter()
            .filter_map(|(member, score)| {
                let key = String::from_utf8(member).ok()?;
                // Scores are counts this module wrote: whole and
                // non-negative; anything else reads as zero.
                Some((key, score.max(0.0) as u64))
            })
            .collect())
    }

    /// The values of `keys` with their remaining TTLs, each read as
    /// [`L2::get`] reads one (through its primary's breaker), all sent at
    /// once on the multiplexed connection. Not one pipeline: a cluster
    /// pipeline must stay within one slot, and these keys are spread over
    /// all of them.
    pub(crate) async fn get_each(&self, keys: &[&str]) -> Vec<Result<Option<Entry>, L2Error>> {
        join_all(keys.iter().map(|key| self.get(key))).await
    }
}

/// A value and how much longer Redis keeps it (`None`: no expiry).
pub(crate) type Entry = (Bytes, Option<Duration>);

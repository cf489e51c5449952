//! The Redis side of family generations (see `generations`): the one hash
//! per installation that holds every family's generation and change mark.
//!
//! The hash is one key, so in a cluster it lives on one primary and every
//! command here is a single-key command routed there. A bump is one Lua
//! script: the field limit is checked and the counter raised atomically,
//! so concurrent instances never push the hash past it.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::{L2, L2Error};
use crate::generations::{ALL_MARK, EPOCH, MAX_FIELDS, Mark, generation_field, mark_field};

/// Raises field `ARGV[1]` by one and returns `{1, value}`; when the field
/// is new and the hash already holds `ARGV[2]` fields, raises `ARGV[4]`
/// instead (`{0, value}`), or nothing (`{0, 0}`) when `ARGV[4]` is empty.
/// Names the hash's incarnation (`ARGV[3]`) if it has none yet.
const BUMP: &str = r"
redis.call('HSETNX', KEYS[1], ARGV[5], ARGV[3])
local field = ARGV[1]
if redis.call('HEXISTS', KEYS[1], field) == 0
   and redis.call('HLEN', KEYS[1]) > tonumber(ARGV[2]) then
  if ARGV[4] == '' then
    return {0, 0}
  end
  return {0, redis.call('HINCRBY', KEYS[1], ARGV[4], 1)}
end
return {1, redis.call('HINCRBY', KEYS[1], field, 1)}
";

static BUMP_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(BUMP));

impl L2 {
    /// The family table this tier names keys with.
    pub(crate) fn generations(&self) -> &std::sync::Arc<crate::generations::Generations> {
        &self.generations
    }

    fn families_key(&self) -> String {
        self.backplane.namespace().host_key("cache:families")
    }

    /// Loads the family table from Redis unless it is current, so no key
    /// is named with a generation this instance has not caught up with.
    pub(crate) async fn ready(&self) -> Result<(), L2Error> {
        if self.generations.is_loaded() {
            return Ok(());
        }
        let _one = self.generations.loading.lock().await;
        if self.generations.is_loaded() {
            return Ok(());
        }
        let fields = match self.family_fields().await {
            Ok(fields) => fields,
            // The hash lives on one node (one primary of a cluster). While
            // it cannot be read, the last table read stays in use, so the
            // keys on the other nodes keep being shared: no instance can
            // move a generation meanwhile either, since that takes the
            // same node. Every call tries again (an open breaker answers
            // at once).
            Err(e) if self.generations.ever_loaded() => {
                tracing::debug!(error = %e, "family generations unreadable; using the last read");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        // What changed since is for the coherence resync to act on; this
        // load follows a start or a resync that already dropped L1.
        self.generations.resync(&fields);
        Ok(())
    }

    /// Every field of the family hash (one `HGETALL`).
    pub(crate) async fn family_fields(&self) -> Result<HashMap<String, String>, L2Error> {
        let key = self.families_key();
        let breaker = self.breaker_for(&key);
        self.run(&breaker, |mut conn| async move {
            redis::cmd("HGETALL").arg(&key).query_async(&mut conn).await
        })
        .await
    }

    async fn bump(&self, field: &str, overflow: &str) -> Result<(bool, u64), L2Error> {
        let key = self.families_key();
        let breaker = self.breaker_for(&key);
        let candidate = self.generations.epoch_candidate.clone();
        let (own, value): (i64, u64) = self
            .run(&breaker, |mut conn| async move {
                BUMP_SCRIPT
                    .key(&key)
                    .arg(field)
                    .arg(MAX_FIELDS)
                    .arg(candidate)
                    .arg(overflow)
                    .arg(EPOCH)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok((own == 1, value))
    }

    /// Moves `family` to its next generation (one command) and returns it;
    /// `None` when the hash is full and the family has no generation of
    /// its own (it is then cleared key by key).
    pub(crate) async fn bump_generation(&self, family: &str) -> Result<Option<u64>, L2Error> {
        self.ready().await?;
        let (own, generation) = self.bump(&generation_field(family), "").await?;
        if own {
            self.generations.adopt(family, generation);
        }
        Ok(own.then_some(generation))
    }

    /// Raises the change mark of `family` (the shared one for `None`, or
    /// when the hash has no room for the family's) and records it as seen.
    pub(crate) async fn bump_mark(&self, family: Option<&str>) -> Result<Mark, L2Error> {
        self.ready().await?;
        let (own, value) = self.bump(&mark_field(family), ALL_MARK).await?;
        let mark = Mark {
            family: family.filter(|_| own).map(str::to_string),
            value,
        };
        self.generations.saw(&mark);
        Ok(mark)
    }
}

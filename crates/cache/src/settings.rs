//! How long a key stays fresh and which tiers hold it.
//!
//! The operator tunes the cache globally (CLI) and per key family (the
//! manifest's `[cache.families]`), and a component may ask for its own TTL
//! on one write. Every path needs the same answer to "what applies to this
//! key", so the resolution order lives here once: per-call TTL, else the
//! family's policy, else the global default.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::TieredCache;
use crate::hot::HotKeySettings;
use crate::l1::L1Limits;
use crate::l2::L2;
use crate::policy::FamilyPolicy;

/// Longest a failure is remembered: it stands in for an answer nobody
/// checks again meanwhile, so it is short by nature; the manifest refuses
/// more, and a larger setting from elsewhere is cut to this.
pub const LONGEST_NEGATIVE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Tunables, from the CLI and the manifest's `[cache.families]`.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Size limits of L1.
    pub l1: L1Limits,
    /// How long an L1 entry is fresh when neither the call nor its family
    /// sets a TTL.
    pub l1_ttl: Duration,
    /// How long Redis keeps a value when neither the call nor its family sets
    /// a TTL.
    pub l2_ttl: Duration,
    /// How long an expired L1 entry is kept past its freshness, as the stale
    /// copy a failed recomputation may serve. Never served as fresh.
    pub stale_grace: Duration,
    /// Largest value accepted; a bigger one is refused with
    /// [`CacheError::TooLarge`](crate::CacheError::TooLarge).
    pub max_value_bytes: usize,
    /// Values over this size skip L1 when their family has an L2: read
    /// from Redis each time rather than crowding out many small entries.
    pub l1_max_value_bytes: usize,
    /// Longest per-call TTL for families that set no `max_ttl_seconds`.
    pub max_ttl: Duration,
    /// Per-family policies, keyed by family (the key up to its first `:`).
    pub families: BTreeMap<String, FamilyPolicy>,
    /// Longest a request waits for another's computation of the same key.
    pub flight_wait: Duration,
    /// How long a remembered failure stays fresh when its family sets no
    /// `negative_ttl_seconds`.
    pub negative_ttl: Duration,
    /// Counting and recording hot keys, for warm starts.
    pub hot: HotKeySettings,
}

impl TieredCache {
    /// Replaces the per-family policies (a manifest deploy). Calls already
    /// running keep the policy they looked up; the remembered-failure
    /// counters keep the families configured at start.
    pub fn set_families(&self, families: BTreeMap<String, FamilyPolicy>) {
        self.families.store(Arc::new(families));
    }

    /// The L1 shares `tenants` get from this cache's L1 size, or why they
    /// do not fit (for a deploy to refuse before it installs anything).
    pub fn plan_partitions(
        &self,
        tenants: &[crate::Tenant],
    ) -> Result<Vec<crate::PartitionSpec>, crate::QuotaError> {
        crate::partitions(tenants, self.settings.l1.max_bytes)
    }

    /// Splits L1 into per-component shares (a manifest deploy; see
    /// [`partitions`](crate::partitions)): each share's entries are evicted
    /// only to make room in that share.
    pub async fn set_partitions(&self, specs: Vec<crate::PartitionSpec>) {
        self.l1.set_partitions(specs).await;
    }

    /// `(l1 ttl, l2 ttl, l1 only)` for a key: the per-call TTL if given,
    /// else the family's policy, else the global defaults.
    pub(crate) fn policy(&self, key: &str, ttl: Option<Duration>) -> (Duration, Duration, bool) {
        let family = self.families.load().get(strata_keys::family(key)).copied();
        let l1_only = family.is_some_and(|f| f.l1_only);
        match (ttl, family) {
            (Some(ttl), _) => (ttl, ttl, l1_only),
            (None, Some(f)) => {
                let ttl = Duration::from_secs(f.ttl_seconds);
                (ttl, ttl, l1_only)
            }
            (None, None) => (self.settings.l1_ttl, self.settings.l2_ttl, l1_only),
        }
    }

    /// How long a remembered failure of `key` stays fresh: its family's
    /// negative TTL, else the host's, never over [`LONGEST_NEGATIVE_TTL`].
    pub(crate) fn negative_ttl(&self, key: &str) -> Duration {
        self.families
            .load()
            .get(strata_keys::family(key))
            .and_then(|f| f.negative_ttl_seconds)
            .map_or(self.settings.negative_ttl, Duration::from_secs)
            .min(LONGEST_NEGATIVE_TTL)
    }

    /// The longest TTL a caller may ask for on `key`: the family's cap, else
    /// the host's (never below the family's own default).
    pub(crate) fn max_ttl(&self, key: &str) -> Duration {
        let family = self.families.load().get(strata_keys::family(key)).copied();
        match family.as_ref() {
            Some(FamilyPolicy {
                max_ttl_seconds: Some(max),
                ..
            }) => Duration::from_secs(*max),
            Some(f) => self
                .settings
                .max_ttl
                .max(Duration::from_secs(f.ttl_seconds)),
            None => self.settings.max_ttl,
        }
    }

    /// The L2 tier for `key`, unless there is none or the key's family is
    /// kept in this process only.
    pub(crate) fn l2_for(&self, key: &str) -> Option<&Arc<L2>> {
        let (_, _, l1_only) = self.policy(key, None);
        self.l2.as_ref().filter(|_| !l1_only)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::settings;

    #[tokio::test]
    async fn family_ttl_applies_unless_the_call_overrides_it() {
        let cache = TieredCache::new(settings(), None);
        assert_eq!(cache.policy("market:btc", None).0, Duration::from_secs(60));
        assert_eq!(cache.policy("other:x", None).0, Duration::from_secs(300));
        assert_eq!(
            cache.policy("market:btc", Some(Duration::from_secs(5))).0,
            Duration::from_secs(5)
        );
    }
}

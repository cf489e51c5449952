//! `strata:host/cache`: the tiered cache, limited to granted key prefixes.

use std::time::Duration;

use bytes::Bytes;
use wasmtime::component::Resource;

use crate::cache::{CacheError, Hit, Lease, Lookup, Tier};
use crate::runtime::bindings::cache as wit;
use crate::runtime::state::HostState;

/// The host side of a `lease` resource. `fill` is called on a borrowed
/// handle, so it takes the lease out; the empty handle is freed when the
/// guest drops the resource.
pub struct LeaseHandle {
    lease: Option<Lease>,
}

fn denied_unless_granted(prefixes: &[String], key: &str) -> Result<(), wit::CacheError> {
    if prefixes.iter().any(|p| key.starts_with(p.as_str())) {
        Ok(())
    } else {
        Err(wit::CacheError::Denied(format!(
            "key '{key}' is outside this component's granted prefixes [{}]",
            prefixes.join(", ")
        )))
    }
}

impl HostState {
    /// Validates a key and checks it against the grant.
    fn checked_key(&self, key: &str) -> Result<(), wit::CacheError> {
        strata_keys::validate_key(key).map_err(|e| wit::CacheError::InvalidKey(e.to_string()))?;
        denied_unless_granted(&self.cache.grants.cache_prefixes, key)
    }

    /// Validates a pattern; its literal prefix must sit inside a grant, so
    /// `market:*` is allowed to a `market:` holder but `*` is not.
    fn checked_pattern(&self, pattern: &str) -> Result<(), wit::CacheError> {
        strata_keys::validate_pattern(pattern)
            .map_err(|e| wit::CacheError::InvalidKey(e.to_string()))?;
        let literal = strata_keys::literal_prefix(pattern);
        let inside = self
            .cache
            .grants
            .cache_prefixes
            .iter()
            .any(|p| literal.starts_with(p.as_str()));
        if inside {
            Ok(())
        } else {
            Err(wit::CacheError::Denied(format!(
                "pattern '{pattern}' reaches beyond this component's granted prefixes [{}]",
                self.cache.grants.cache_prefixes.join(", ")
            )))
        }
    }
}

fn ttl(seconds: Option<u32>) -> Option<Duration> {
    seconds.map(|s| Duration::from_secs(u64::from(s)))
}

fn to_wit_error(error: CacheError) -> wit::CacheError {
    match error {
        CacheError::TooLarge(n) => wit::CacheError::TooLarge(n),
        CacheError::Timeout => wit::CacheError::Timeout,
        e @ CacheError::TtlTooLong { .. } => wit::CacheError::Denied(e.to_string()),
    }
}

fn entry(hit: Hit) -> wit::Entry {
    wit::Entry {
        value: hit.value.to_vec(),
        tier: match hit.tier {
            Tier::L1 => wit::Tier::L1,
            Tier::L2 => wit::Tier::L2,
        },
        stale: false,
    }
}

impl wit::Host for HostState {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<wit::Entry>, wit::CacheError>> {
        if let Err(e) = self.checked_key(&key) {
            return Ok(Err(e));
        }
        Ok(Ok(self.cache.cache.get(&key).await.map(entry)))
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> wasmtime::Result<Result<(), wit::CacheError>> {
        if let Err(e) = self.checked_key(&key) {
            return Ok(Err(e));
        }
        Ok(self
            .cache
            .cache
            .set(&key, Bytes::from(value), ttl(ttl_seconds))
            .await
            .map_err(to_wit_error))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, wit::CacheError>> {
        if let Err(e) = self.checked_key(&key) {
            return Ok(Err(e));
        }
        Ok(Ok(self.cache.cache.delete(&key).await))
    }

    async fn clear_pattern(
        &mut self,
        pattern: String,
    ) -> wasmtime::Result<Result<wit::Cleared, wit::CacheError>> {
        if let Err(e) = self.checked_pattern(&pattern) {
            return Ok(Err(e));
        }
        let cleared = self.cache.cache.clear_pattern(&pattern).await;
        Ok(Ok(wit::Cleared {
            l1: cleared.l1,
            l2: cleared.l2,
        }))
    }

    async fn get_or_lease(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<wit::Lookup, wit::CacheError>> {
        if let Err(e) = self.checked_key(&key) {
            return Ok(Err(e));
        }
        match self.cache.cache.get_or_lease(&key).await {
            Ok(Lookup::Hit(hit)) => Ok(Ok(wit::Lookup::Hit(entry(hit)))),
            Ok(Lookup::Compute(lease)) => {
                let handle = self.table.push(LeaseHandle { lease: Some(lease) })?;
                Ok(Ok(wit::Lookup::Compute(handle)))
            }
            Err(e) => Ok(Err(to_wit_error(e))),
        }
    }
}

impl wit::HostLease for HostState {
    async fn stale(&mut self, lease: Resource<LeaseHandle>) -> wasmtime::Result<Option<Vec<u8>>> {
        let Some(lease) = &self.table.get(&lease)?.lease else {
            return Ok(None);
        };
        let stale = lease.stale().map(|b| b.to_vec());
        if stale.is_some() {
            self.cache.cache.note_stale_serve(lease.key());
        }
        Ok(stale)
    }

    async fn fill(
        &mut self,
        lease: Resource<LeaseHandle>,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> wasmtime::Result<Result<(), wit::CacheError>> {
        let Some(taken) = self.table.get_mut(&lease)?.lease.take() else {
            // Filled twice: the first fill stored the value; keep it.
            return Ok(Ok(()));
        };
        Ok(self
            .cache
            .cache
            .fill(taken, Bytes::from(value), ttl(ttl_seconds))
            .await
            .map_err(to_wit_error))
    }

    async fn drop(&mut self, lease: Resource<LeaseHandle>) -> wasmtime::Result<()> {
        // Deleting the handle drops the lease, which wakes any waiters.
        self.table.delete(lease)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::denied_unless_granted;

    #[test]
    fn keys_inside_a_granted_prefix_pass() {
        let grants = vec!["market:".to_string(), "indicator:".to_string()];
        assert!(denied_unless_granted(&grants, "market:btc").is_ok());
        assert!(denied_unless_granted(&grants, "indicator:eth:rsi:14").is_ok());
    }

    #[test]
    fn keys_outside_every_prefix_are_denied() {
        let grants = vec!["market:".to_string()];
        assert!(denied_unless_granted(&grants, "report:1").is_err());
        assert!(denied_unless_granted(&[], "market:btc").is_err());
    }
}

//! `strata:host/cache`: the tiered cache, limited to granted key prefixes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceTableError};

use strata_cache::{CacheError, Hit, Lease, Lookup, Tier, TieredCache};

use super::{Grants, Instance, Services};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        interfaces: "import strata:host/cache@0.1.2;",
        imports: { default: async | trappable },
        with: {
            "strata:host/cache.lease": super::LeaseHandle,
        },
        trappable_error_type: {
            "strata:host/cache.cache-error" => super::CacheFault,
        },
    });
}

use bindings::strata::host::cache as wit;

/// A cache call that did not succeed: a refusal the guest handles, or a
/// host fault (a lease handle the table does not hold) that traps.
#[derive(Debug)]
pub enum CacheFault {
    /// Returned to the guest as its `cache-error`.
    Refused(wit::CacheError),
    /// Traps the instance.
    Trap(wasmtime::Error),
}

impl From<wit::CacheError> for CacheFault {
    fn from(error: wit::CacheError) -> Self {
        Self::Refused(error)
    }
}

impl From<CacheError> for CacheFault {
    fn from(error: CacheError) -> Self {
        Self::Refused(match error {
            CacheError::TooLarge(n) => wit::CacheError::TooLarge(n),
            CacheError::Timeout => wit::CacheError::Timeout,
            e @ CacheError::TtlTooLong { .. } => wit::CacheError::Denied(e.to_string()),
            e @ (CacheError::TooManyKeys { .. } | CacheError::DuplicateKey(_)) => {
                wit::CacheError::InvalidKey(e.to_string())
            }
        })
    }
}

impl From<ResourceTableError> for CacheFault {
    fn from(error: ResourceTableError) -> Self {
        Self::Trap(error.into())
    }
}

/// Most leases one instance may hold at once: each makes other requests
/// for its key wait, so none may be taken without bound.
const MAX_OPEN_LEASES: usize = 1024;

/// Cache access limited to the component's granted key prefixes.
pub(crate) struct CacheContext {
    cache: Arc<TieredCache>,
    grants: Arc<Grants>,
    /// Lease handles alive in this instance's table.
    open_leases: usize,
    /// Keys whose lease is held unfilled (asking again would wait on itself).
    held: HashSet<String>,
}

impl CacheContext {
    pub(super) fn new(services: &Services, instance: &Instance<'_>) -> Self {
        Self {
            cache: services.cache.clone(),
            grants: instance.grants.clone(),
            open_leases: 0,
            held: HashSet::new(),
        }
    }
}

/// The cache context with the instance's resource table, where its leases
/// live.
pub(crate) struct CacheView<'a> {
    pub context: &'a mut CacheContext,
    pub table: &'a mut ResourceTable,
}

struct HasCache;

impl HasData for HasCache {
    type Data<'a> = CacheView<'a>;
}

pub(super) fn link<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> CacheView<'_>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasCache>(linker, get)
}

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

impl CacheContext {
    /// Validates a key and checks it against the grant.
    fn checked_key(&self, key: &str) -> Result<(), wit::CacheError> {
        strata_keys::validate_key(key).map_err(|e| wit::CacheError::InvalidKey(e.to_string()))?;
        denied_unless_granted(&self.grants.cache_prefixes, key)
    }

    /// Validates a pattern; its literal prefix must sit inside a grant, so
    /// `market:*` is allowed to a `market:` holder but `*` is not.
    fn checked_pattern(&self, pattern: &str) -> Result<(), wit::CacheError> {
        strata_keys::validate_pattern(pattern)
            .map_err(|e| wit::CacheError::InvalidKey(e.to_string()))?;
        let literal = strata_keys::literal_prefix(pattern);
        let inside = self
            .grants
            .cache_prefixes
            .iter()
            .any(|p| literal.starts_with(p.as_str()));
        if inside {
            Ok(())
        } else {
            Err(wit::CacheError::Denied(format!(
                "pattern '{pattern}' reaches beyond this component's granted prefixes [{}]",
                self.grants.cache_prefixes.join(", ")
            )))
        }
    }
}

fn ttl(seconds: Option<u32>) -> Option<Duration> {
    seconds.map(|s| Duration::from_secs(u64::from(s)))
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

impl wit::Host for CacheView<'_> {
    async fn get(&mut self, key: String) -> Result<Option<wit::Entry>, CacheFault> {
        self.context.checked_key(&key)?;
        Ok(self.context.cache.get(&key).await.map(entry))
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> Result<(), CacheFault> {
        self.context.checked_key(&key)?;
        Ok(self
            .context
            .cache
            .set(&key, Bytes::from(value), ttl(ttl_seconds))
            .await?)
    }

    async fn delete(&mut self, key: String) -> Result<bool, CacheFault> {
        self.context.checked_key(&key)?;
        Ok(self.context.cache.delete(&key).await)
    }

    async fn clear_pattern(&mut self, pattern: String) -> Result<wit::Cleared, CacheFault> {
        self.context.checked_pattern(&pattern)?;
        let cleared = self.context.cache.clear_pattern(&pattern).await;
        Ok(wit::Cleared {
            l1: cleared.l1,
            l2: cleared.l2,
        })
    }

    async fn get_or_lease(&mut self, key: String) -> Result<wit::Lookup, CacheFault> {
        self.context.checked_key(&key)?;
        self.room_for_leases(std::slice::from_ref(&key))?;
        let lookup = self.context.cache.get_or_lease(&key).await?;
        self.lookup(lookup)
    }

    async fn get_many_or_lease(
        &mut self,
        keys: Vec<String>,
    ) -> Result<Vec<wit::Lookup>, CacheFault> {
        for key in &keys {
            self.context.checked_key(key)?;
        }
        self.room_for_leases(&keys)?;
        let lookups = self.context.cache.get_many_or_lease(&keys).await?;
        lookups
            .into_iter()
            .map(|lookup| self.lookup(lookup))
            .collect()
    }

    async fn fill_many(
        &mut self,
        fills: Vec<(Resource<LeaseHandle>, Vec<u8>)>,
        ttl_seconds: Option<u32>,
    ) -> Result<(), CacheFault> {
        let mut leases = Vec::with_capacity(fills.len());
        for (handle, value) in fills {
            // The guest handed the lease back: it leaves the table here.
            let handle = self.table.delete(handle)?;
            self.context.open_leases = self.context.open_leases.saturating_sub(1);
            if let Some(lease) = handle.lease {
                self.context.held.remove(lease.key());
                leases.push((lease, Bytes::from(value)));
            }
        }
        Ok(self
            .context
            .cache
            .fill_many(leases, ttl(ttl_seconds))
            .await?)
    }

    async fn resolve(&mut self, key: String) -> Result<wit::Resolution, CacheFault> {
        self.context.checked_key(&key)?;
        self.room_for_leases(std::slice::from_ref(&key))?;
        Ok(match self.context.cache.resolve(&key).await? {
            Lookup::Hit(hit) => wit::Resolution::Hit(entry(hit)),
            Lookup::Negative(hit) => wit::Resolution::Negative(entry(hit)),
            Lookup::Compute(lease) => wit::Resolution::Compute(self.lease_handle(lease)?),
        })
    }

    fn convert_cache_error(&mut self, fault: CacheFault) -> wasmtime::Result<wit::CacheError> {
        match fault {
            CacheFault::Refused(error) => Ok(error),
            CacheFault::Trap(trap) => Err(trap),
        }
    }
}

impl CacheView<'_> {
    /// The lease behind a guest's handle, taken out to be completed; `None`
    /// when it was completed already (the first answer stands, and a
    /// second `fill` or `fill-negative` is a no-op).
    fn take_lease(&mut self, lease: &Resource<LeaseHandle>) -> Result<Option<Lease>, CacheFault> {
        let taken = self.table.get_mut(lease)?.lease.take();
        if let Some(lease) = &taken {
            self.context.held.remove(lease.key());
        }
        Ok(taken)
    }

    /// Lends `lease` to the guest as a resource.
    fn lease_handle(&mut self, lease: Lease) -> Result<Resource<LeaseHandle>, CacheFault> {
        let key = lease.key().to_string();
        let handle = self.table.push(LeaseHandle { lease: Some(lease) })?;
        self.context.open_leases += 1;
        self.context.held.insert(key);
        Ok(handle)
    }

    /// Refuses, before it takes any lease, a call for `keys` that could
    /// take leases past [`MAX_OPEN_LEASES`], or that names a key whose
    /// lease this instance already holds (it would wait on itself).
    fn room_for_leases(&self, keys: &[String]) -> Result<(), CacheFault> {
        if let Some(key) = keys
            .iter()
            .find(|key| self.context.held.contains(key.as_str()))
        {
            return Err(wit::CacheError::InvalidKey(format!(
                "this instance already holds the lease for '{key}': fill or drop it first"
            ))
            .into());
        }
        if self.context.open_leases + keys.len() > MAX_OPEN_LEASES {
            return Err(wit::CacheError::Denied(format!(
                "this instance holds {} cache leases; at most {MAX_OPEN_LEASES} may be open \
                 at once (fill or drop some first)",
                self.context.open_leases
            ))
            .into());
        }
        Ok(())
    }

    /// A cache-or-compute answer as the guest sees it.
    fn lookup(&mut self, lookup: Lookup) -> Result<wit::Lookup, CacheFault> {
        Ok(match lookup {
            Lookup::Hit(hit) => wit::Lookup::Hit(entry(hit)),
            Lookup::Compute(lease) => wit::Lookup::Compute(self.lease_handle(lease)?),
            // The cache reads remembered failures as misses here; one
            // arriving anyway is a host bug, and no guest answer fits it.
            Lookup::Negative(_) => {
                return Err(CacheFault::Trap(wasmtime::Error::msg(
                    "the cache answered get-or-lease with a remembered failure",
                )));
            }
        })
    }
}

impl wit::HostLease for CacheView<'_> {
    async fn stale(&mut self, lease: Resource<LeaseHandle>) -> wasmtime::Result<Option<Vec<u8>>> {
        let Some(lease) = &self.table.get(&lease)?.lease else {
            return Ok(None);
        };
        let stale = lease.stale().map(|b| b.to_vec());
        if stale.is_some() {
            self.context.cache.note_stale_serve(lease.key());
        }
        Ok(stale)
    }

    async fn fill(
        &mut self,
        lease: Resource<LeaseHandle>,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> Result<(), CacheFault> {
        let Some(taken) = self.take_lease(&lease)? else {
            return Ok(());
        };
        Ok(self
            .context
            .cache
            .fill(taken, Bytes::from(value), ttl(ttl_seconds))
            .await?)
    }

    async fn fill_negative(
        &mut self,
        lease: Resource<LeaseHandle>,
        what: Vec<u8>,
    ) -> Result<(), CacheFault> {
        let Some(taken) = self.take_lease(&lease)? else {
            return Ok(());
        };
        Ok(self
            .context
            .cache
            .fill_negative(taken, Bytes::from(what))
            .await?)
    }

    async fn drop(&mut self, lease: Resource<LeaseHandle>) -> wasmtime::Result<()> {
        // Deleting the handle drops the lease, which wakes any waiters.
        if let Some(lease) = self.table.delete(lease)?.lease {
            self.context.held.remove(lease.key());
        }
        self.context.open_leases = self.context.open_leases.saturating_sub(1);
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

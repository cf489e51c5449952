//! The `strata:host` capabilities, one module each.
//!
//! A capability is one unit: bindings generated from its own WIT interface
//! only, a per-instance context built from the component's grant, and a
//! `Host` impl on that context, reached through `HasData`, so it sees
//! nothing else of the store. A refusal is the interface's WIT error value,
//! which the guest handles; only a host fault (a missing resource) traps.
//!
//! Adding one: its interface in `wit/host.wit`, a module here, one line in
//! each of [`Contexts`], [`link`] and [`prepare`], and its SDK module. A
//! standard interface (`keyvalue`: `wasi:keyvalue`) is added the same way,
//! from its vendored WIT in `wit/deps`.

mod cache;
mod config;
mod keyvalue;
mod log;
mod outbound;
mod sql;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{Linker, ResourceTable};

use strata_cache::TieredCache;
use strata_data::{Database, SqlGrant};
use strata_upstream::{AllowedHost, Outbound};

/// What a component is allowed to touch, from its manifest entry; deny by
/// default (the empty value grants nothing).
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Cache key prefixes it may read and write.
    pub cache_prefixes: Vec<String>,
    /// Its SQL access level.
    pub sql: SqlGrant,
    /// Hosts it may call.
    pub outbound: Vec<AllowedHost>,
    /// Its settings, read through `strata:host/config`.
    pub config: BTreeMap<String, String>,
    /// Its `wasi:keyvalue` buckets: name -> the cache key prefix the
    /// bucket's keys live under.
    pub keyvalue: BTreeMap<String, String>,
}

impl Grants {
    /// The grant a component importing `interface` lacks entirely, if any:
    /// such a component could only ever be refused. `interface` is a
    /// `strata:host` interface, or `keyvalue` for any of `wasi:keyvalue`'s.
    pub(crate) fn missing_for(&self, interface: &str) -> Option<&'static str> {
        match interface {
            "cache" if self.cache_prefixes.is_empty() => Some("cache_prefixes"),
            "sql" if self.sql == SqlGrant::None => Some("sql access"),
            "outbound" if self.outbound.is_empty() => Some("outbound hosts"),
            "keyvalue" if self.keyvalue.is_empty() => Some("keyvalue buckets"),
            _ => None,
        }
    }
}

/// The shared resources capabilities are backed by.
#[derive(Clone)]
pub struct Services {
    /// The tiered cache.
    pub cache: Arc<TieredCache>,
    /// The database.
    pub database: Arc<Database>,
    /// The policed outbound client.
    pub outbound: Arc<Outbound>,
}

/// Who one instance is, for the contexts built for it.
pub(crate) struct Instance<'a> {
    pub component: &'a Arc<str>,
    pub version: &'a Arc<str>,
    pub grants: &'a Arc<Grants>,
    pub deadline: Instant,
}

/// One instance's capability contexts.
pub(crate) struct Contexts {
    cache: cache::CacheContext,
    sql: sql::SqlContext,
    outbound: outbound::OutboundContext,
    config: config::ConfigContext,
    log: log::LogContext,
    keyvalue: keyvalue::KeyValueContext,
}

/// Store data holding one instance's capability contexts, and the
/// resource table where capability resources (cache leases, key-value
/// buckets) live.
pub(crate) trait HasCapabilities: Send + 'static {
    fn capabilities(&mut self) -> (&mut Contexts, &mut ResourceTable);
}

/// Links every capability's imports, each to its own context.
pub(crate) fn link<T: HasCapabilities>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    cache::link(linker, |state: &mut T| {
        let (contexts, table) = state.capabilities();
        cache::CacheView {
            context: &mut contexts.cache,
            table,
        }
    })?;
    sql::link(linker, |state: &mut T| &mut state.capabilities().0.sql)?;
    outbound::link(linker, |state: &mut T| &mut state.capabilities().0.outbound)?;
    config::link(linker, |state: &mut T| &mut state.capabilities().0.config)?;
    log::link(linker, |state: &mut T| &mut state.capabilities().0.log)?;
    keyvalue::link(linker, |state: &mut T| {
        let (contexts, table) = state.capabilities();
        keyvalue::KeyValueView {
            context: &mut contexts.keyvalue,
            table,
        }
    })
}

/// Builds the contexts of one new instance.
pub(crate) fn prepare(services: &Services, instance: &Instance<'_>) -> Contexts {
    Contexts {
        cache: cache::CacheContext::new(services, instance),
        sql: sql::SqlContext::new(services, instance),
        outbound: outbound::OutboundContext::new(services, instance),
        config: config::ConfigContext::new(instance),
        log: log::LogContext::new(instance),
        keyvalue: keyvalue::KeyValueContext::new(services, instance),
    }
}

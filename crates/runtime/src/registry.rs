//! The deployed components, each swappable atomically.
//!
//! The set of component names is fixed by the manifest (grants and routes
//! live there); what changes at run time is which version, if any, fills
//! each slot. A request takes an `Arc` of the slot's current version for its
//! whole life, so replacing a version never disturbs a request in flight; the
//! old version is freed when its last request ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::HostState;
use super::capabilities::Grants;
use super::warm::{InstancePolicy, InstanceStats, WarmPool};

/// One compiled, pre-instantiated component version.
pub struct LoadedComponent {
    /// The manifest's name for the component (its registry slot).
    pub name: Arc<str>,
    /// SHA-256 of the binary, hex: identical bytes are the same version on
    /// every instance.
    pub hash: String,
    /// Short form of `hash` for logs, headers and listings.
    pub version: Arc<str>,
    pub(crate) pre: ProxyPre<HostState>,
    /// What the manifest entry grants it.
    pub grants: Arc<Grants>,
    /// Per-request budget: the manifest's, else the host default.
    pub timeout: Duration,
    /// GET paths requested once after loading, to prime its caches.
    pub warmup: Vec<String>,
    /// Fresh instance per request, or warm instances reused.
    pub instances: InstancePolicy,
    /// Parked instances, for a warm component.
    pub(crate) warm: Option<Arc<WarmPool>>,
    /// Instances created for requests.
    pub(crate) started: AtomicU64,
}

impl LoadedComponent {
    /// Instances started, reused, parked and retired for this version.
    pub fn instance_stats(&self) -> InstanceStats {
        let started = self.started.load(Ordering::Relaxed);
        match &self.warm {
            Some(pool) => pool.stats(started),
            None => InstanceStats {
                started,
                ..InstanceStats::default()
            },
        }
    }
}

/// Component name -> current version (or none, when removed).
pub struct Registry {
    slots: BTreeMap<String, ArcSwapOption<LoadedComponent>>,
}

impl Registry {
    /// One empty slot per manifest component.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a String>) -> Self {
        Self {
            slots: names
                .into_iter()
                .map(|name| (name.clone(), ArcSwapOption::empty()))
                .collect(),
        }
    }

    /// Whether the manifest declares `name`.
    pub fn declares(&self, name: &str) -> bool {
        self.slots.contains_key(name)
    }

    /// The current version of `name`, if one is deployed.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedComponent>> {
        self.slots.get(name).and_then(|slot| slot.load_full())
    }

    /// Puts `component` (or nothing) in `name`'s slot; returns what was
    /// there. Unknown names are ignored (the manifest decides the set).
    pub fn swap(
        &self,
        name: &str,
        component: Option<Arc<LoadedComponent>>,
    ) -> Option<Arc<LoadedComponent>> {
        self.slots.get(name).and_then(|slot| slot.swap(component))
    }

    /// How many slots hold a version.
    pub fn deployed(&self) -> usize {
        self.slots
            .values()
            .filter(|slot| slot.load().is_some())
            .count()
    }

    /// Every deployed component's current version.
    pub fn all(&self) -> Vec<Arc<LoadedComponent>> {
        self.slots
            .values()
            .filter_map(|slot| slot.load_full())
            .collect()
    }

    /// Every declared name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.slots.keys().map(String::as_str)
    }
}

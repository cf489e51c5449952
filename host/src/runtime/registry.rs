//! The deployed components, each swappable atomically.
//!
//! A request takes an `Arc` of the component's current version for its whole
//! life, so replacing a version never disturbs a request in flight; the old
//! version is freed when its last request ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::state::{Grants, HostState};

/// One compiled, pre-instantiated component version.
pub struct LoadedComponent {
    pub name: Arc<str>,
    /// Content hash prefix: identical bytes give the same version everywhere.
    pub version: Arc<str>,
    pub pre: ProxyPre<HostState>,
    pub grants: Arc<Grants>,
    pub timeout: Duration,
    pub warmup: Vec<String>,
}

/// Name -> current version.
#[derive(Default)]
pub struct Registry {
    components: HashMap<String, ArcSwap<LoadedComponent>>,
}

impl Registry {
    pub fn insert(&mut self, component: LoadedComponent) {
        let name = component.name.to_string();
        match self.components.get(&name) {
            Some(slot) => slot.store(Arc::new(component)),
            None => {
                self.components
                    .insert(name, ArcSwap::from_pointee(component));
            }
        }
    }

    /// The current version of `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedComponent>> {
        self.components.get(name).map(|slot| slot.load_full())
    }

    pub fn len(&self) -> usize {
        self.components.len()
    }

    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }

    /// Every component's current version.
    pub fn all(&self) -> Vec<Arc<LoadedComponent>> {
        self.components
            .values()
            .map(|slot| slot.load_full())
            .collect()
    }
}

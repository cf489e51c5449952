//! Admission control: bounded concurrency, globally and per component.
//!
//! A request that would exceed a limit is refused at once with 503 and
//! `Retry-After` rather than queued: queues hide overload until memory or
//! latency blow up, while an immediate refusal lets clients and load
//! balancers go elsewhere. Permits are held while the guest runs (its
//! instance lives until then) and released when it finishes, not when the
//! client has taken the whole response: a client that reads slowly, or an
//! HTTP/2 client that never opens its flow-control window, holds only its
//! own connection's resources (see `http::conn`), never admission.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::DispatchError;
use crate::config::Manifest;

/// The concurrency limits of one host.
pub struct Limits {
    global: Arc<Semaphore>,
    per_component: HashMap<String, Arc<Semaphore>>,
}

/// Admission to run one request; released when dropped.
pub struct Permits {
    _global: OwnedSemaphorePermit,
    _component: Option<OwnedSemaphorePermit>,
}

impl Limits {
    /// `global` requests at once in all, and each component's manifest
    /// `max_concurrency`.
    pub fn new(global: usize, manifest: &Manifest) -> Self {
        Self {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_component: manifest
                .components
                .iter()
                .filter_map(|(name, spec)| {
                    let limit = usize::try_from(spec.max_concurrency?).ok()?;
                    Some((name.clone(), Arc::new(Semaphore::new(limit))))
                })
                .collect(),
        }
    }

    /// Admits a request for `component`, or refuses it as overloaded.
    pub fn admit(&self, component: &str) -> Result<Permits, DispatchError> {
        let global = self
            .global
            .clone()
            .try_acquire_owned()
            .map_err(|_| DispatchError::Overloaded(None))?;
        let component_permit = match self.per_component.get(component) {
            Some(limit) => Some(
                limit
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| DispatchError::Overloaded(Some(component.to_string())))?,
            ),
            None => None,
        };
        Ok(Permits {
            _global: global,
            _component: component_permit,
        })
    }
}

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
//!
//! The global limit belongs to the process; the per-component ones to a
//! manifest version ([`super::Serving`]). A manifest deploy that keeps a
//! component's `max_concurrency` keeps its semaphore, so requests admitted
//! before the swap still count against the limit after it.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::DispatchError;
use crate::config::Manifest;

/// Admission to run one request; released when dropped.
pub struct Permits {
    _global: OwnedSemaphorePermit,
    _component: Option<OwnedSemaphorePermit>,
}

/// Each component's manifest `max_concurrency`, for one manifest version.
#[derive(Default)]
pub struct ComponentLimits {
    limits: HashMap<String, (u32, Arc<Semaphore>)>,
}

impl ComponentLimits {
    /// The limits `manifest` sets, reusing `previous`'s semaphore for every
    /// component whose limit is unchanged.
    pub fn new(manifest: &Manifest, previous: Option<&ComponentLimits>) -> Self {
        let limits = manifest
            .components
            .iter()
            .filter_map(|(name, spec)| {
                let limit = spec.max_concurrency?;
                let kept = previous
                    .and_then(|p| p.limits.get(name))
                    .filter(|(old, _)| *old == limit)
                    .map(|(_, semaphore)| semaphore.clone());
                let semaphore = kept.unwrap_or_else(|| {
                    Arc::new(Semaphore::new(usize::try_from(limit).unwrap_or(usize::MAX)))
                });
                Some((name.clone(), (limit, semaphore)))
            })
            .collect();
        Self { limits }
    }
}

/// The process-wide limit.
pub struct Limits {
    global: Arc<Semaphore>,
}

impl Limits {
    /// `global` requests at once in all.
    pub fn new(global: usize) -> Self {
        Self {
            global: Arc::new(Semaphore::new(global.max(1))),
        }
    }

    /// Admits a request for `component`, or refuses it as overloaded.
    pub fn admit(
        &self,
        components: &ComponentLimits,
        component: &str,
    ) -> Result<Permits, DispatchError> {
        let global = self
            .global
            .clone()
            .try_acquire_owned()
            .map_err(|_| DispatchError::Overloaded(None))?;
        let component_permit = match components.limits.get(component) {
            Some((_, limit)) => Some(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(limit: u32) -> Manifest {
        let text =
            format!("[components.api]\nsource = \"builtin:market\"\nmax_concurrency = {limit}\n");
        Manifest::parse(&text, std::path::PathBuf::from(".")).expect("valid")
    }

    #[test]
    fn a_redeploy_with_the_same_limit_counts_requests_already_admitted() {
        let limits = Limits::new(100);
        let before = ComponentLimits::new(&manifest(1), None);
        let _running = limits.admit(&before, "api").expect("admitted");
        let after = ComponentLimits::new(&manifest(1), Some(&before));
        assert!(matches!(
            limits.admit(&after, "api"),
            Err(DispatchError::Overloaded(Some(_)))
        ));
    }

    #[test]
    fn a_changed_limit_starts_a_new_count() {
        let limits = Limits::new(100);
        let before = ComponentLimits::new(&manifest(1), None);
        let _running = limits.admit(&before, "api").expect("admitted");
        let after = ComponentLimits::new(&manifest(2), Some(&before));
        assert!(limits.admit(&after, "api").is_ok());
    }
}

//! What one manifest version serves: its routes, its components' slots and
//! their concurrency limits, swapped as one.
//!
//! A request loads the current [`Serving`] once and routes, admits and runs
//! on it, so a manifest deploy never shows it half of one version and half
//! of the next; it finishes on the snapshot it started with (it holds the
//! component version it runs), while the next request sees the new one.

use std::sync::Arc;

use super::limits::ComponentLimits;
use crate::config::Manifest;
use crate::routes::Router;
use strata_runtime::Registry;

/// See the module documentation.
pub struct Serving {
    pub manifest: Arc<Manifest>,
    /// The manifest's row in the deployment store (0: not stored yet).
    pub manifest_id: i64,
    /// Content hash of the manifest as stored.
    pub manifest_hash: String,
    /// One slot per component the manifest declares.
    pub registry: Registry,
    pub(super) limits: ComponentLimits,
}

impl Serving {
    /// Empty slots for `manifest`'s components; limits carried over from
    /// `previous` where they are unchanged.
    pub fn new(
        manifest: Arc<Manifest>,
        manifest_id: i64,
        manifest_hash: String,
        previous: Option<&Serving>,
    ) -> Self {
        Self {
            registry: Registry::new(manifest.components.keys()),
            limits: ComponentLimits::new(&manifest, previous.map(|p| &p.limits)),
            manifest,
            manifest_id,
            manifest_hash,
        }
    }

    /// The manifest's routing table.
    pub fn router(&self) -> &Router {
        self.manifest.router()
    }
}

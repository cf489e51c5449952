//! Hot deploy: replace a component's version, or the whole app (the
//! manifest: components, grants, routes, cache families), while the host
//! keeps serving.
//!
//! A deploy is validated completely before anything changes: each
//! component must be a component (not a core module), export
//! `wasi:http/incoming-handler`, import only what the host offers and the
//! manifest grants, and instantiate without trapping; a manifest must also
//! parse and validate as a whole. Then the bytes are stored
//! content-addressed in the database, rows are appended to the logs in one
//! transaction, and the serving table (`dispatch::Serving`) or one
//! component's slot is swapped atomically: requests already running finish
//! on what they started with.
//!
//! The database is the source of truth, so a restart comes back with the
//! same manifest and versions, and every instance sharing the database
//! follows the logs (polled every [`SYNC_INTERVAL`]) to switch within a
//! second. Compiled code is cached on disk by wasmtime, keyed by content, so
//! a restart or a second instance does not recompile.

mod app;
mod build;
pub mod client;
mod component;
mod restore;
pub mod store;
mod sync;
mod watch;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use crate::config::Manifest;
use crate::dispatch::Dispatcher;
pub use app::{AppOutcome, AppStatus, ManifestUpload};
pub use restore::{Chosen, choose_manifest};
use strata_cache::TieredCache;
use strata_data::{Database, SqlError};
use strata_digest::content_hash;
use strata_runtime::{ComponentPlan, LoadedComponent, Runtime, RuntimeError};
pub use watch::spawn_watcher;

/// Distinct (component, action) pairs counted for metrics at most.
const MAX_COUNTED: usize = 256;

/// How often an instance checks the log for other instances' deploys.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(250);

/// Why a deploy, rollback or removal did not happen. The running version is
/// untouched in every case.
#[derive(Debug, Error)]
pub enum DeployError {
    #[error("component '{0}' is not declared in the manifest")]
    UnknownComponent(String),
    #[error("upload is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("rejected: {0}")]
    Invalid(#[from] RuntimeError),
    #[error("component '{0}' has no earlier version to roll back to")]
    NothingToRollBack(String),
    #[error("the deployment store is unavailable: {0}")]
    Store(#[from] SqlError),
    #[error("stored version {0} of this component is missing from the database")]
    MissingBlob(String),
    #[error("compiler task failed: {0}")]
    Internal(String),
    /// A manifest deploy refused, with every problem found.
    #[error("manifest refused: {}", .0.join("; "))]
    Manifest(Vec<String>),
    #[error("no earlier manifest to roll back to")]
    NoEarlierManifest,
}

/// What a deploy or rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct DeployOutcome {
    pub component: String,
    pub action: &'static str,
    pub version: String,
    pub hash: String,
    pub deployment_id: i64,
    pub previous_version: Option<String>,
    /// Time spent compiling and validating (near zero on a cache hit).
    pub compile_ms: u64,
}

/// A component's state for `GET /admin/components`.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    pub name: String,
    pub active_version: Option<String>,
    pub active_hash: Option<String>,
    pub versions: Vec<store::StoredVersion>,
    pub history: Vec<store::Deployment>,
}

/// Answers `${VAR}` references in manifests: each instance expands a
/// stored manifest with its own environment.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What the deployer needs besides the services it drives.
pub struct DeploySettings {
    /// Largest component binary accepted.
    pub max_bytes: usize,
    /// Longest `timeout_ms` a deployed manifest may give a component: the
    /// connection limits were sized at start for the deadlines known then.
    pub max_timeout: Duration,
    /// The `[[upstreams]]` the request budgets were built from.
    pub upstreams: Vec<crate::config::manifest::UpstreamSpec>,
    pub env: EnvLookup,
    /// The manifest the host was started with (the seed of an empty store).
    pub startup: StartupManifest,
}

/// The manifest the host was started with, as text.
pub struct StartupManifest {
    pub manifest: Arc<Manifest>,
    pub text: String,
    /// `--manifest PATH`, or `embedded`.
    pub label: String,
}

/// See the module documentation.
pub struct Deployer {
    runtime: Arc<Runtime>,
    dispatcher: Arc<Dispatcher>,
    database: Arc<Database>,
    cache: Arc<TieredCache>,
    settings: DeploySettings,
    /// This instance in `strata.instances`.
    instance: String,
    /// Where this instance serves, once it listens, for `strata status`.
    address: std::sync::OnceLock<String>,
    /// The newest deployment log row this instance has followed.
    last_seen: std::sync::atomic::AtomicI64,
    /// One change at a time per instance, so log order is swap order.
    lock: tokio::sync::Mutex<()>,
    /// One manifest upload read into memory at a time.
    uploads: Arc<tokio::sync::Semaphore>,
    /// Changes made here, by (component, action), for metrics.
    counts: std::sync::Mutex<BTreeMap<(String, String), u64>>,
}

impl Deployer {
    pub fn new(
        runtime: Arc<Runtime>,
        dispatcher: Arc<Dispatcher>,
        database: Arc<Database>,
        cache: Arc<TieredCache>,
        settings: DeploySettings,
    ) -> Arc<Self> {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        Arc::new(Self {
            runtime,
            dispatcher,
            database,
            cache,
            settings,
            instance: format!(
                "{host}-{}-{}",
                std::process::id(),
                &content_hash(format!("{:?}", std::time::SystemTime::now()).as_bytes())[..8]
            ),
            address: std::sync::OnceLock::new(),
            last_seen: Default::default(),
            lock: tokio::sync::Mutex::new(()),
            uploads: Arc::new(tokio::sync::Semaphore::new(1)),
            counts: Default::default(),
        })
    }

    /// Gives the cache the serving manifest's key-family policies and
    /// per-component L1 shares. A manifest whose shares do not fit this
    /// instance's L1 (deployed by an instance with a larger one) keeps L1
    /// undivided here, and says so.
    async fn apply_cache_policy(&self, manifest: &Manifest) {
        self.cache.set_families(manifest.cache.families.clone());
        let specs = self
            .cache
            .plan_partitions(&manifest.cache_tenants())
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "L1 stays undivided: the manifest's budgets do not fit");
                Vec::new()
            });
        self.cache.set_partitions(specs).await;
    }

    /// Records where this instance serves (once it is listening).
    pub fn set_address(&self, address: String) {
        let _ = self.address.set(address);
    }

    fn count(&self, component: &str, action: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = (component.to_string(), action.to_string());
        // Manifest deploys can bring any number of names over time; the
        // metric series stay bounded.
        if counts.len() >= MAX_COUNTED && !counts.contains_key(&key) {
            key.0 = "(other)".into();
        }
        *counts.entry(key).or_default() += 1;
    }

    /// Deploys, rollbacks and removals made here, by (component, action).
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The right to read one manifest upload into memory, unless another
    /// is being read or deployed.
    pub fn upload_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.uploads.clone().try_acquire_owned().ok()
    }

    /// Largest binary accepted.
    pub fn max_bytes(&self) -> usize {
        self.settings.max_bytes
    }

    /// The active manifest.
    fn manifest(&self) -> Arc<Manifest> {
        self.dispatcher.current().manifest.clone()
    }

    /// Compiles and validates `bytes` as `name` under the active manifest.
    async fn compile(
        &self,
        name: &str,
        bytes: Arc<Vec<u8>>,
    ) -> Result<Arc<LoadedComponent>, DeployError> {
        let plan = self
            .manifest()
            .plan(name)
            .ok_or_else(|| DeployError::UnknownComponent(name.to_string()))?
            .clone();
        self.compile_with(name, bytes, plan).await
    }

    /// Compiles and validates off the async threads (compilation is CPU
    /// bound and can take a second for a large component).
    async fn compile_with(
        &self,
        name: &str,
        bytes: Arc<Vec<u8>>,
        plan: ComponentPlan,
    ) -> Result<Arc<LoadedComponent>, DeployError> {
        let runtime = self.runtime.clone();
        let name = name.to_string();
        let loaded = tokio::task::spawn_blocking(move || runtime.load(&name, &bytes, &plan))
            .await
            .map_err(|e| DeployError::Internal(e.to_string()))??;
        self.runtime.check_instantiates(&loaded).await?;
        Ok(Arc::new(loaded))
    }

    /// Every declared component with its versions and recent history.
    pub async fn status(&self) -> Result<Vec<ComponentStatus>, DeployError> {
        let mut out = Vec::new();
        let serving = self.dispatcher.current();
        for name in serving.registry.names() {
            let active = serving.registry.get(name);
            out.push(ComponentStatus {
                name: name.to_string(),
                active_version: active.as_ref().map(|c| c.version.to_string()),
                active_hash: active.as_ref().map(|c| c.hash.clone()),
                versions: store::versions(&self.database, name).await?,
                history: store::history(&self.database, name, 20).await?,
            });
        }
        Ok(out)
    }

    /// The current hash of every slot, for the directory watcher.
    pub(crate) fn current_hashes(&self) -> BTreeMap<String, Option<String>> {
        let serving = self.dispatcher.current();
        serving
            .registry
            .names()
            .map(|name| {
                (
                    name.to_string(),
                    serving.registry.get(name).map(|c| c.hash.clone()),
                )
            })
            .collect()
    }

    pub(crate) fn declares(&self, name: &str) -> bool {
        self.dispatcher.current().registry.declares(name)
    }
}

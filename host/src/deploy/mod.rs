//! Hot deploy: replace a component's version while the host keeps serving.
//!
//! A deploy is validated completely before anything changes: it must be a
//! component (not a core module), export `wasi:http/incoming-handler`,
//! import only what the host offers and the manifest grants, and instantiate
//! without trapping. Then its bytes are stored content-addressed in the
//! database, a row is appended to the deployment log, and the component's
//! registry slot is swapped atomically: requests already running finish on
//! the old version.
//!
//! The database is the source of truth, so a restart comes back with the
//! same versions, and every instance sharing the database follows the log
//! (polled every [`SYNC_INTERVAL`]) to switch within a second. Compiled code
//! is cached on disk by wasmtime, keyed by content, so a restart or a second
//! instance does not recompile.

pub mod client;
mod restore;
pub mod store;
mod sync;
mod watch;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

use crate::config::Manifest;
use strata_data::{Database, SqlError};
use strata_digest::content_hash;
use strata_runtime::{LoadedComponent, Registry, Runtime, RuntimeError};
pub use watch::spawn_watcher;

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

/// See the module documentation.
pub struct Deployer {
    runtime: Arc<Runtime>,
    registry: Arc<Registry>,
    database: Arc<Database>,
    manifest: Arc<Manifest>,
    max_bytes: usize,
    /// One change at a time per instance, so log order is swap order.
    lock: tokio::sync::Mutex<()>,
    /// Changes made here, by (component, action), for metrics.
    counts: std::sync::Mutex<BTreeMap<(String, String), u64>>,
}

impl Deployer {
    pub fn new(
        runtime: Arc<Runtime>,
        registry: Arc<Registry>,
        database: Arc<Database>,
        manifest: Arc<Manifest>,
        max_bytes: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            registry,
            database,
            manifest,
            max_bytes,
            lock: tokio::sync::Mutex::new(()),
            counts: Default::default(),
        })
    }

    fn count(&self, component: &str, action: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts
            .entry((component.to_string(), action.to_string()))
            .or_default() += 1;
    }

    /// Deploys, rollbacks and removals made here, by (component, action).
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Largest binary accepted.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Compiles and validates off the async threads (compilation is CPU
    /// bound and can take a second for a large component).
    async fn compile(
        &self,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<Arc<LoadedComponent>, DeployError> {
        let plan = self
            .manifest
            .plan(name)
            .ok_or_else(|| DeployError::UnknownComponent(name.to_string()))?
            .clone();
        let runtime = self.runtime.clone();
        let name = name.to_string();
        let loaded = tokio::task::spawn_blocking(move || runtime.load(&name, &bytes, &plan))
            .await
            .map_err(|e| DeployError::Internal(e.to_string()))??;
        self.runtime.check_instantiates(&loaded).await?;
        Ok(Arc::new(loaded))
    }

    /// Records the manifest version as the first log entry of a component,
    /// so the first real deploy has something to roll back to.
    async fn record_baseline(&self, name: &str) -> Result<(), DeployError> {
        if !store::history(&self.database, name, 1).await?.is_empty() {
            return Ok(());
        }
        if let Some(current) = self.registry.get(name)
            && let Ok(bytes) = self.manifest_bytes(name)
            && content_hash(&bytes) == current.hash
        {
            store::put_blob(&self.database, &current.hash, &bytes).await?;
            store::record(
                &self.database,
                name,
                "deploy",
                Some(&current.hash),
                "manifest",
            )
            .await?;
        }
        Ok(())
    }

    /// Validates `bytes` and makes them `name`'s active version.
    pub async fn deploy(
        &self,
        name: &str,
        bytes: Vec<u8>,
        source: &str,
    ) -> Result<DeployOutcome, DeployError> {
        if !self.registry.declares(name) {
            return Err(DeployError::UnknownComponent(name.to_string()));
        }
        if bytes.len() > self.max_bytes {
            return Err(DeployError::TooLarge {
                size: bytes.len(),
                limit: self.max_bytes,
            });
        }
        let _guard = self.lock.lock().await;
        let started = Instant::now();
        let hash = content_hash(&bytes);
        let loaded = self.compile(name, bytes.clone()).await?;
        let compile_ms = started.elapsed().as_millis() as u64;
        self.record_baseline(name).await?;
        store::put_blob(&self.database, &hash, &bytes).await?;
        let id = store::record(&self.database, name, "deploy", Some(&hash), source).await?;
        Ok(self.activate(name, loaded, "deploy", id, compile_ms))
    }

    fn activate(
        &self,
        name: &str,
        loaded: Arc<LoadedComponent>,
        action: &'static str,
        id: i64,
        compile_ms: u64,
    ) -> DeployOutcome {
        let version = loaded.version.to_string();
        let hash = loaded.hash.clone();
        let previous = self.registry.swap(name, Some(loaded));
        tracing::info!(
            component = name,
            version,
            action,
            deployment = id,
            compile_ms,
            "component version activated"
        );
        DeployOutcome {
            component: name.to_string(),
            action,
            version,
            hash,
            deployment_id: id,
            previous_version: previous.map(|p| p.version.to_string()),
            compile_ms,
        }
    }

    /// Re-activates the version that was active before the current one.
    pub async fn rollback(&self, name: &str) -> Result<DeployOutcome, DeployError> {
        if !self.registry.declares(name) {
            return Err(DeployError::UnknownComponent(name.to_string()));
        }
        let _guard = self.lock.lock().await;
        let history = store::history(&self.database, name, 1000).await?;
        let current = history.first().and_then(|row| row.hash.clone());
        let target = history
            .iter()
            .skip(1)
            .filter_map(|row| row.hash.clone())
            .find(|hash| Some(hash) != current.as_ref())
            .ok_or_else(|| DeployError::NothingToRollBack(name.to_string()))?;
        let started = Instant::now();
        let loaded = self.load_stored(name, &target).await?;
        let compile_ms = started.elapsed().as_millis() as u64;
        let id = store::record(&self.database, name, "rollback", Some(&target), "admin").await?;
        Ok(self.activate(name, loaded, "rollback", id, compile_ms))
    }

    /// Stops serving `name` (its routes answer 503) until the next deploy.
    pub async fn remove(&self, name: &str) -> Result<i64, DeployError> {
        if !self.registry.declares(name) {
            return Err(DeployError::UnknownComponent(name.to_string()));
        }
        let _guard = self.lock.lock().await;
        self.record_baseline(name).await?;
        let id = store::record(&self.database, name, "remove", None, "admin").await?;
        self.registry.swap(name, None);
        self.count(name, "remove");
        tracing::info!(component = name, deployment = id, "component removed");
        Ok(id)
    }

    /// Every declared component with its versions and recent history.
    pub async fn status(&self) -> Result<Vec<ComponentStatus>, DeployError> {
        let mut out = Vec::new();
        for name in self.registry.names() {
            let active = self.registry.get(name);
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
        self.registry
            .names()
            .map(|name| {
                (
                    name.to_string(),
                    self.registry.get(name).map(|c| c.hash.clone()),
                )
            })
            .collect()
    }

    pub(crate) fn declares(&self, name: &str) -> bool {
        self.registry.declares(name)
    }
}

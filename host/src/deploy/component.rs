//! Changing one component of the active manifest: deploy a new version,
//! roll back to the previous one, or remove it (its routes answer 503),
//! each logged in the deployment log so every instance follows.

use std::sync::Arc;
use std::time::Instant;

use super::{DeployError, DeployOutcome, Deployer, store};
use strata_digest::content_hash;
use strata_runtime::LoadedComponent;

impl Deployer {
    /// Records the manifest version as the first log entry of a component,
    /// so the first real deploy has something to roll back to.
    async fn record_baseline(&self, name: &str) -> Result<(), DeployError> {
        if !store::history(&self.database, name, 1).await?.is_empty() {
            return Ok(());
        }
        let manifest = self.manifest();
        let Some(current) = self.dispatcher.current().registry.get(name) else {
            return Ok(());
        };
        let stored = manifest.components.get(name).map(|spec| spec.source());
        // A `sha256:` source is in the store already, from the manifest
        // deploy that named it; a built-in or a file is stored now.
        if stored != Some(crate::config::ComponentSource::Stored(current.hash.clone())) {
            match self.manifest_bytes(&manifest, name) {
                Ok(bytes) if content_hash(&bytes) == current.hash => {
                    store::put_blob(&self.database, &current.hash, &bytes).await?;
                }
                _ => return Ok(()),
            }
        }
        store::record(
            &self.database,
            name,
            "deploy",
            Some(&current.hash),
            "manifest",
        )
        .await?;
        Ok(())
    }

    /// Validates `bytes` and makes them `name`'s active version.
    pub async fn deploy(
        &self,
        name: &str,
        bytes: Vec<u8>,
        source: &str,
    ) -> Result<DeployOutcome, DeployError> {
        if !self.declares(name) {
            return Err(DeployError::UnknownComponent(name.to_string()));
        }
        if bytes.len() > self.settings.max_bytes {
            return Err(DeployError::TooLarge {
                size: bytes.len(),
                limit: self.settings.max_bytes,
            });
        }
        let _guard = self.lock.lock().await;
        let started = Instant::now();
        // Not copied or hashed before the checks: a refusal (an ungranted
        // import is found before compiling) costs milliseconds.
        let bytes = Arc::new(bytes);
        let loaded = self.compile(name, bytes.clone()).await?;
        let hash = loaded.hash.clone();
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
        let previous = self.dispatcher.current().registry.swap(name, Some(loaded));
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
        if !self.declares(name) {
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
        if !self.declares(name) {
            return Err(DeployError::UnknownComponent(name.to_string()));
        }
        let _guard = self.lock.lock().await;
        self.record_baseline(name).await?;
        let id = store::record(&self.database, name, "remove", None, "admin").await?;
        self.dispatcher.current().registry.swap(name, None);
        self.count(name, "remove");
        tracing::info!(component = name, deployment = id, "component removed");
        Ok(id)
    }
}

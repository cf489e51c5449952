//! Start-up: every slot gets the version the deployment log says is
//! active (the database is the source of truth), or else the manifest's own
//! source, so a restart comes back serving what it served before.

use std::sync::Arc;

use super::{DeployError, Deployer, store};
use crate::config::ComponentSource;
use strata_runtime::LoadedComponent;

impl Deployer {
    /// The bytes a manifest entry names (built in, or a file).
    pub(super) fn manifest_bytes(&self, name: &str) -> Result<Vec<u8>, String> {
        let spec = self
            .manifest
            .components
            .get(name)
            .ok_or_else(|| format!("component '{name}' is not declared"))?;
        match spec.source() {
            ComponentSource::Builtin(builtin) => crate::builtin::builtin_component(&builtin)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| format!("this binary has no built-in component '{builtin}'")),
            ComponentSource::File(path) => {
                let path = self.manifest.resolve(&path);
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            }
        }
    }

    /// Fills every slot at start: the version the deployment log says is
    /// active, else the manifest's source. Returns the newest log id seen.
    pub async fn restore(&self) -> Result<i64, (String, String)> {
        let latest = store::latest_id(&self.database).await.unwrap_or(0);
        for name in self
            .registry
            .names()
            .map(str::to_string)
            .collect::<Vec<_>>()
        {
            let logged = store::history(&self.database, &name, 1)
                .await
                .ok()
                .and_then(|h| h.into_iter().next());
            if let Some(row) = &logged {
                match &row.hash {
                    None => {
                        tracing::info!(component = name, "component was removed; not serving it");
                        continue;
                    }
                    Some(hash) => match self.load_stored(&name, hash).await {
                        Ok(loaded) => {
                            tracing::info!(
                                component = name,
                                version = &*loaded.version,
                                "restored deployed version"
                            );
                            self.registry.swap(&name, Some(loaded));
                            continue;
                        }
                        Err(e) => {
                            tracing::error!(component = name, error = %e, "cannot restore the deployed version; using the manifest's")
                        }
                    },
                }
            }
            let bytes = self.manifest_bytes(&name).map_err(|e| (name.clone(), e))?;
            let loaded = self
                .compile(&name, bytes)
                .await
                .map_err(|e| (name.clone(), e.to_string()))?;
            tracing::info!(
                component = name,
                version = &*loaded.version,
                "component loaded"
            );
            self.registry.swap(&name, Some(loaded));
        }
        Ok(latest)
    }

    pub(super) async fn load_stored(
        &self,
        name: &str,
        hash: &str,
    ) -> Result<Arc<LoadedComponent>, DeployError> {
        let bytes = store::blob(&self.database, hash)
            .await?
            .ok_or_else(|| DeployError::MissingBlob(hash.to_string()))?;
        self.compile(name, bytes).await
    }
}

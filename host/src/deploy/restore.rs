//! Start-up: which manifest this instance serves, and every component's
//! version.
//!
//! Precedence: the database's active manifest (the newest row of
//! `strata.manifests`) wins, so a host joining a cluster serves what the
//! cluster serves; a warning says so when the host's own `--manifest` (or
//! the embedded default) differs. On an empty store the startup manifest is
//! the seed: once it has loaded (a manifest that fails to start must not
//! become the active one), its file sources are stored and it becomes the
//! active one.
//! Each component then runs the deployment log's newest version where it
//! has one, else what the manifest names.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::build::Versions;
use super::{Deployer, EnvLookup, StartupManifest, app, store};
use crate::config::{ComponentSource, Manifest};
use strata_data::Database;
use strata_digest::content_hash;

/// The manifest an instance starts with, chosen before the services that
/// depend on it (upstream budgets) are built.
pub struct Chosen {
    pub manifest: Arc<Manifest>,
    /// Its row in the store; 0 when it is not stored (yet).
    pub id: i64,
    pub hash: String,
    /// The stored form and files to seed an empty store with, once loaded.
    seed: Option<(String, HashMap<String, Vec<u8>>, String)>,
}

/// Reads the startup manifest's file sources (to store them as `sha256:`
/// references when it seeds an empty store).
fn startup_files(startup: &StartupManifest) -> Result<HashMap<String, Vec<u8>>, String> {
    let mut files = HashMap::new();
    for (name, spec) in &startup.manifest.components {
        if let ComponentSource::File(path) = spec.source() {
            let path = startup.manifest.resolve(&path);
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("component '{name}': cannot read {}: {e}", path.display()))?;
            files.insert(name.clone(), bytes);
        }
    }
    Ok(files)
}

/// See the module documentation. Fails when the store's active manifest
/// does not load here (a `${VAR}` this instance lacks, say): serving a
/// different app than the cluster would be worse than not starting.
pub async fn choose_manifest(
    database: &Database,
    startup: &StartupManifest,
    env: &EnvLookup,
) -> Result<Chosen, String> {
    let files = startup_files(startup)?;
    let body = app::stored_form(&startup.text, &startup.manifest, &files)?;
    let hash = content_hash(body.as_bytes());
    let active = match store::active_manifest(database).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            return Ok(Chosen {
                manifest: startup.manifest.clone(),
                id: 0,
                seed: Some((body, files, startup.label.clone())),
                hash,
            });
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the active manifest; serving the startup manifest unstored");
            return Ok(Chosen {
                manifest: startup.manifest.clone(),
                id: 0,
                hash,
                seed: None,
            });
        }
    };
    if active.hash == hash {
        return Ok(Chosen {
            manifest: startup.manifest.clone(),
            id: active.id,
            hash,
            seed: None,
        });
    }
    tracing::warn!(
        active = active.id,
        active_hash = &active.hash[..12.min(active.hash.len())],
        startup = startup.label,
        startup_hash = &hash[..12],
        "the database's active manifest differs from the startup manifest; serving the database's (make the file active with `strata deploy --manifest FILE`)"
    );
    let manifest = Manifest::parse_with(&active.body, PathBuf::new(), |name| env(name))
        .map_err(|e| format!("the active manifest #{} does not load here: {e}", active.id))?;
    Ok(Chosen {
        manifest: Arc::new(manifest),
        id: active.id,
        hash: active.hash,
        seed: None,
    })
}

/// Stores the startup manifest on an empty store; returns its id, or 0
/// when another instance seeded a different one first (the sync loop then
/// follows that one).
async fn seed(
    database: &Database,
    hash: &str,
    (body, files, label): (String, HashMap<String, Vec<u8>>, String),
) -> Result<i64, String> {
    for (name, bytes) in &files {
        store::put_blob(database, &content_hash(bytes), bytes)
            .await
            .map_err(|e| format!("component '{name}': cannot store it: {e}"))?;
    }
    match store::seed_manifest(database, hash, &body, &label).await {
        Ok(Some(row)) if row.hash == hash => Ok(row.id),
        Ok(_) => Ok(0),
        Err(e) => Err(format!("cannot store the startup manifest: {e}")),
    }
}

impl Deployer {
    /// Fills the serving table at start from `chosen` (see the module
    /// documentation). Returns the newest deployment log id seen.
    pub async fn restore(&self, mut chosen: Chosen) -> Result<i64, String> {
        let latest = store::latest_id(&self.database).await.unwrap_or(0);
        let logged = store::logged_versions(&self.database)
            .await
            .unwrap_or_default();
        let current = self.dispatcher.current();
        let ready = match self
            .prepare(&chosen.manifest, Versions::Logged(&logged), &current)
            .await
        {
            Ok(ready) => ready,
            Err(errors) => {
                for error in &errors {
                    tracing::error!(
                        error,
                        "cannot restore the deployed version; using the manifest's"
                    );
                }
                self.prepare(
                    &chosen.manifest,
                    Versions::Declared(&HashMap::new()),
                    &current,
                )
                .await
                .map_err(|errors| errors.join("; "))?
            }
        };
        for (name, component) in &ready {
            match &component.loaded {
                Some(loaded) => tracing::info!(
                    component = name,
                    version = &*loaded.version,
                    "component loaded"
                ),
                None => tracing::info!(component = name, "component was removed; not serving it"),
            }
        }
        if let Some(pending) = chosen.seed.take() {
            chosen.id = seed(&self.database, &chosen.hash, pending).await?;
        }
        let serving = Self::serving(
            chosen.manifest.clone(),
            chosen.id,
            chosen.hash,
            &ready,
            &current,
        );
        self.cache
            .set_families(chosen.manifest.cache.families.clone());
        self.dispatcher.install(Arc::new(serving));
        Ok(latest)
    }

    pub(super) async fn load_stored(
        &self,
        name: &str,
        hash: &str,
    ) -> Result<Arc<strata_runtime::LoadedComponent>, super::DeployError> {
        let bytes = store::blob(&self.database, hash)
            .await?
            .ok_or_else(|| super::DeployError::MissingBlob(hash.to_string()))?;
        self.compile(name, Arc::new(bytes)).await
    }
}

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
    /// The startup manifest to store, once it has loaded.
    seed: Option<Seed>,
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

/// The startup manifest as it would be stored, its files and its hash.
type StoredForm = (String, HashMap<String, Vec<u8>>, String);

fn stored_startup(startup: &StartupManifest) -> Result<StoredForm, String> {
    let files = startup_files(startup)?;
    let body = app::stored_form(&startup.text, &startup.manifest, &files)?;
    let hash = content_hash(body.as_bytes());
    Ok((body, files, hash))
}

/// See the module documentation. Fails when the store's active manifest
/// does not load here (a `${VAR}` this instance lacks, say): serving a
/// different app than the cluster would be worse than not starting; with
/// `wins` (STRATA_STARTUP_MANIFEST_WINS) the startup manifest is served
/// and stored as the active one instead.
pub async fn choose_manifest(
    database: &Database,
    startup: &StartupManifest,
    env: &EnvLookup,
    wins: bool,
) -> Result<Chosen, String> {
    let active = store::active_manifest(database)
        .await
        .map_err(|e| format!("cannot read the active manifest: {e}"))?;
    let startup_chosen = |(body, files, hash): StoredForm, force: bool| Chosen {
        manifest: startup.manifest.clone(),
        id: 0,
        hash,
        seed: Some(Seed {
            body,
            files,
            label: startup.label.clone(),
            force,
        }),
    };
    // The startup files are read only when needed: a host serving the
    // database's manifest may not have them.
    let form = stored_startup(startup);
    let Some(active) = active else {
        return Ok(startup_chosen(form?, false));
    };
    match &form {
        Ok((_, _, hash)) if *hash == active.hash => {
            return Ok(Chosen {
                manifest: startup.manifest.clone(),
                id: active.id,
                hash: hash.clone(),
                seed: None,
            });
        }
        _ if wins => {
            tracing::warn!(
                active = active.id,
                startup = startup.label,
                "STRATA_STARTUP_MANIFEST_WINS: serving the startup manifest and making it the active one"
            );
            return Ok(startup_chosen(form?, true));
        }
        _ => {}
    }
    tracing::warn!(
        active = active.id,
        active_hash = %strata_logtext::bounded(&active.hash, 12),
        startup = startup.label,
        startup_error = form.err().unwrap_or_default(),
        "the database's active manifest differs from the startup manifest; serving the database's (make the file active with `strata deploy --manifest FILE`, or start with STRATA_STARTUP_MANIFEST_WINS=1)"
    );
    let manifest = Manifest::parse_with(&active.body, PathBuf::new(), |name| env(name))
        .map_err(|e| {
            format!(
                "the active manifest #{} does not load here: {e} (STRATA_STARTUP_MANIFEST_WINS=1 serves the startup manifest instead)",
                active.id
            )
        })?;
    Ok(Chosen {
        manifest: Arc::new(manifest),
        id: active.id,
        hash: active.hash,
        seed: None,
    })
}

/// The startup manifest to store once it has loaded.
struct Seed {
    body: String,
    files: HashMap<String, Vec<u8>>,
    label: String,
    /// Stored even when another manifest is active (the startup one wins).
    force: bool,
}

/// Stores the startup manifest (on an empty store, or over the active one
/// when it wins); returns its id, or 0 when another instance seeded a
/// different one first (the sync loop then follows that one).
async fn seed(database: &Database, hash: &str, seed: Seed) -> Result<i64, String> {
    let failed = |e: strata_data::SqlError| format!("cannot store the startup manifest: {e}");
    for (name, bytes) in &seed.files {
        store::put_blob(database, &content_hash(bytes), bytes)
            .await
            .map_err(|e| format!("component '{name}': cannot store it: {e}"))?;
    }
    if seed.force {
        let insert = store::insert_manifest(hash, &seed.body, "seed", &seed.label);
        let rows = database.host_transaction(&[insert]).await.map_err(failed)?;
        return Ok(rows.first().map_or(0, store::returned_id));
    }
    match store::seed_manifest(database, hash, &seed.body, &seed.label).await {
        Ok(Some(row)) if row.hash == hash => Ok(row.id),
        Ok(_) => Ok(0),
        Err(e) => Err(failed(e)),
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
        self.apply_cache_policy(&chosen.manifest).await;
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

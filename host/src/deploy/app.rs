//! Deploying the whole app: a manifest (components, grants, routes, cache
//! families) with the binaries its file sources name, validated in full,
//! stored in one transaction and swapped in as one serving table.
//!
//! A manifest deploy is declarative: afterwards each component runs what
//! the manifest names (built in, stored, or uploaded with it), whatever
//! single-component deploys did before. Components it drops stop taking
//! requests at once and drain: requests already running finish on the
//! version they started with.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::build::Versions;
use super::store::{self, InstanceRow, ManifestRow};
use super::{DeployError, Deployer};
use crate::config::{ComponentSource, Manifest, STORED_PREFIX};
use strata_digest::content_hash;

/// Largest manifest text a deploy takes (the startup file is the
/// operator's own).
const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// A manifest to deploy and the binaries of its file sources, by
/// component name.
pub struct ManifestUpload {
    pub manifest: String,
    pub components: HashMap<String, Vec<u8>>,
    /// Where it came from, for the log (`upload`, `file:PATH`).
    pub source: String,
}

/// What a manifest deploy or rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct AppOutcome {
    pub action: &'static str,
    pub manifest_id: i64,
    pub manifest_hash: String,
    pub previous_manifest_id: i64,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Components with a new version or new terms (grants, limits).
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    pub routes: usize,
    /// Time spent validating and compiling.
    pub compile_ms: u64,
    /// Changes each instance applies only when it restarts.
    pub on_restart: Vec<String>,
}

/// `GET /admin/apps`: the active manifest, what this instance serves, the
/// manifest history and the instances sharing the store.
#[derive(Debug, Clone, Serialize)]
pub struct AppStatus {
    pub active: Option<ManifestRow>,
    pub serving_manifest_id: i64,
    pub components: BTreeMap<String, Option<String>>,
    pub routes: Vec<crate::routes::RouteSpec>,
    pub history: Vec<ManifestRow>,
    pub instances: Vec<InstanceRow>,
}

/// `text` with each file source of `manifest` replaced by a `sha256:`
/// reference to its binary in `files`, so every instance can load it.
pub(super) fn stored_form(
    text: &str,
    manifest: &Manifest,
    files: &HashMap<String, Vec<u8>>,
) -> Result<String, String> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| format!("manifest: {}", e.message().trim()))?;
    for (name, spec) in &manifest.components {
        if !matches!(spec.source(), ComponentSource::File(_)) {
            continue;
        }
        let bytes = files
            .get(name)
            .ok_or_else(|| format!("component '{name}': its file was not uploaded"))?;
        let entry = table
            .get_mut("components")
            .and_then(|c| c.get_mut(name.as_str()))
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(|| format!("component '{name}' is not a table in the manifest"))?;
        entry.insert(
            "source".into(),
            toml::Value::String(format!("{STORED_PREFIX}{}", content_hash(bytes))),
        );
    }
    toml::to_string(&table).map_err(|e| format!("manifest: {e}"))
}

impl Deployer {
    /// Validates `upload` in full and makes it the active manifest here and,
    /// through the store, on every instance. Nothing changes on refusal.
    pub async fn deploy_manifest(&self, upload: ManifestUpload) -> Result<AppOutcome, DeployError> {
        self.apply(upload, "deploy").await
    }

    /// Re-deploys the newest earlier manifest that differs from the active
    /// one, with the component versions it names.
    pub async fn rollback_manifest(&self) -> Result<AppOutcome, DeployError> {
        let history = store::manifest_history(&self.database, 1000).await?;
        let current = history.first().map(|row| row.hash.clone());
        let target = history
            .iter()
            .skip(1)
            .find(|row| Some(&row.hash) != current.as_ref())
            .ok_or(DeployError::NoEarlierManifest)?;
        let row = store::manifest(&self.database, target.id)
            .await?
            .ok_or(DeployError::NoEarlierManifest)?;
        let upload = ManifestUpload {
            manifest: row.body,
            components: HashMap::new(),
            source: format!("rollback to #{}", row.id),
        };
        self.apply(upload, "rollback").await
    }

    async fn apply(
        &self,
        upload: ManifestUpload,
        action: &'static str,
    ) -> Result<AppOutcome, DeployError> {
        let started = Instant::now();
        if upload.manifest.len() > MAX_MANIFEST_BYTES {
            return Err(DeployError::Manifest(vec![format!(
                "the manifest is {} bytes; the limit is {MAX_MANIFEST_BYTES}",
                upload.manifest.len()
            )]));
        }
        let env = self.settings.env.clone();
        // No folder: a deployed manifest's file sources must come with it,
        // never from the server's own disk.
        let manifest = Manifest::parse_with(&upload.manifest, PathBuf::new(), |name| env(name))
            .map_err(|e| DeployError::Manifest(e.messages()))?;
        let mut errors = self.host_terms(&manifest, &upload);
        let _guard = self.lock.lock().await;
        let current = self.dispatcher.current();
        let ready = match self
            .prepare(&manifest, Versions::Declared(&upload.components), &current)
            .await
        {
            Ok(ready) if errors.is_empty() => ready,
            Ok(_) => return Err(DeployError::Manifest(errors)),
            Err(mut more) => {
                errors.append(&mut more);
                return Err(DeployError::Manifest(errors));
            }
        };
        let compile_ms = started.elapsed().as_millis() as u64;
        let body = stored_form(&upload.manifest, &manifest, &upload.components)
            .map_err(|e| DeployError::Manifest(vec![e]))?;
        let hash = content_hash(body.as_bytes());
        let logged = store::logged_versions(&self.database).await?;
        let mut statements = Vec::new();
        // A row for every component, not only those that change: another
        // instance may log a version between this read and the commit, and
        // the newest rows must be this manifest's.
        for (name, component) in &ready {
            let Some(loaded) = &component.loaded else {
                continue;
            };
            let known = logged.get(name) == Some(&Some(loaded.hash.clone()));
            if let Some(bytes) = component.fresh_bytes.as_ref().filter(|_| !known) {
                statements.push(store::insert_blob(&loaded.hash, bytes));
            }
            statements.push(store::insert_deployment(
                name,
                "deploy",
                Some(&loaded.hash),
                "manifest",
            ));
        }
        let manifest_at = statements.len();
        statements.push(store::insert_manifest(&hash, &body, action, &upload.source));
        let results = self.database.host_transaction(&statements).await?;
        let id = results.get(manifest_at).map_or(0, store::returned_id);
        // Served as stored (`sha256:` sources), as every other instance
        // serves it; it validated as uploaded, so it parses the same.
        let manifest = Arc::new(
            Manifest::parse_with(&body, PathBuf::new(), |name| env(name)).unwrap_or(manifest),
        );
        let serving = Arc::new(Self::serving(
            manifest.clone(),
            id,
            hash.clone(),
            &ready,
            &current,
        ));
        self.dispatcher.install(serving.clone());
        self.apply_cache_policy(&manifest).await;
        let mut outcome = outcome(action, &current, &serving, compile_ms);
        if manifest.upstreams != self.settings.upstreams {
            outcome.on_restart.push(
                "[[upstreams]]: request budgets are built at start; each instance applies the new ones when it restarts".into(),
            );
        }
        for name in outcome.added.iter().chain(&outcome.changed) {
            self.count(name, action);
        }
        tracing::info!(manifest = id, hash = &hash[..12], action, added = ?outcome.added, removed = ?outcome.removed, changed = ?outcome.changed, "manifest activated");
        let fresh: Vec<_> = outcome
            .added
            .iter()
            .chain(&outcome.changed)
            .filter_map(|name| serving.registry.get(name))
            .collect();
        let dispatcher = self.dispatcher.clone();
        tokio::spawn(async move { dispatcher.warm_up_components(&fresh).await });
        Ok(outcome)
    }

    /// What a deploy may not do: empty the app, upload binaries the
    /// manifest does not use.
    fn host_terms(&self, manifest: &Manifest, upload: &ManifestUpload) -> Vec<String> {
        let mut errors = Vec::new();
        if manifest.components.is_empty() {
            errors.push(
                "the manifest declares no component: it would stop serving every route (roll back or deploy one that keeps what should run)".into(),
            );
        }
        for name in upload.components.keys() {
            match manifest.components.get(name).map(|spec| spec.source()) {
                None => errors.push(format!(
                    "a binary was uploaded for '{name}', which the manifest does not declare"
                )),
                Some(ComponentSource::File(_)) => {}
                Some(_) => errors.push(format!(
                    "a binary was uploaded for '{name}', whose source is not a file"
                )),
            }
        }
        if let Err(e) = self.cache.plan_partitions(&manifest.cache_tenants()) {
            errors.push(e.to_string());
        }
        errors
    }

    /// See [`AppStatus`].
    pub async fn apps(&self) -> Result<AppStatus, DeployError> {
        let serving = self.dispatcher.current();
        Ok(AppStatus {
            active: store::active_manifest(&self.database).await?,
            serving_manifest_id: serving.manifest_id,
            components: serving
                .registry
                .names()
                .map(|name| {
                    let version = serving.registry.get(name).map(|c| c.version.to_string());
                    (name.to_string(), version)
                })
                .collect(),
            routes: serving.manifest.routes.clone(),
            history: store::manifest_history(&self.database, 20).await?,
            instances: self.instances().await?,
        })
    }
}

/// The difference between two serving tables.
fn outcome(
    action: &'static str,
    before: &crate::dispatch::Serving,
    after: &crate::dispatch::Serving,
    compile_ms: u64,
) -> AppOutcome {
    let mut outcome = AppOutcome {
        action,
        manifest_id: after.manifest_id,
        manifest_hash: after.manifest_hash.clone(),
        previous_manifest_id: before.manifest_id,
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        unchanged: Vec::new(),
        routes: after.manifest.routes.len(),
        compile_ms,
        on_restart: Vec::new(),
    };
    for name in after.registry.names() {
        let list = match (
            before.registry.declares(name),
            before.registry.get(name),
            after.registry.get(name),
        ) {
            (false, _, _) => &mut outcome.added,
            (true, Some(old), Some(new)) if Arc::ptr_eq(&old, &new) => &mut outcome.unchanged,
            _ => &mut outcome.changed,
        };
        list.push(name.to_string());
    }
    outcome.removed = before
        .registry
        .names()
        .filter(|name| !after.registry.declares(name))
        .map(str::to_string)
        .collect();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[components.api]\nsource = \"api.wasm\"\n\n[components.web]\nsource = \"builtin:market\"\n\n[[routes]]\npath = \"/api\"\ncomponent = \"api\"\n";

    #[test]
    fn the_stored_form_names_uploaded_files_by_hash_and_keeps_the_rest() {
        let manifest = Manifest::parse(TEXT, PathBuf::new()).expect("valid");
        let files = HashMap::from([("api".to_string(), b"\0asm-bytes".to_vec())]);
        let stored = stored_form(TEXT, &manifest, &files).expect("stored form");
        let again = Manifest::parse(&stored, PathBuf::new()).expect("still valid");
        assert_eq!(
            again.components["api"].source(),
            ComponentSource::Stored(content_hash(b"\0asm-bytes"))
        );
        assert_eq!(again.components["web"].source, "builtin:market");
        assert_eq!(again.routes, manifest.routes);
    }

    #[test]
    fn a_file_source_without_its_upload_has_no_stored_form() {
        let manifest = Manifest::parse(TEXT, PathBuf::new()).expect("valid");
        let error = stored_form(TEXT, &manifest, &HashMap::new()).expect_err("no upload");
        assert!(error.contains("'api'"), "{error}");
    }
}

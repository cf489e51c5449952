//! Building a serving table for a manifest: each component's bytes found,
//! compiled and checked under the manifest's grants, before anything is
//! swapped. Used at start, by a manifest deploy and when following another
//! instance's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{DeployError, Deployer, store};
use crate::config::{ComponentSource, Manifest};
use crate::dispatch::Serving;
use strata_digest::content_hash;
use strata_runtime::LoadedComponent;

/// Which version each component of a manifest gets.
pub(super) enum Versions<'a> {
    /// What the manifest names: its built-in, stored or uploaded binary
    /// (a deploy: the manifest is the whole app).
    Declared(&'a HashMap<String, Vec<u8>>),
    /// The deployment log's newest version where it has one, else what the
    /// manifest names (start-up and following: later component deploys
    /// stand until the next manifest deploy).
    Logged(&'a BTreeMap<String, Option<String>>),
}

/// One component ready to serve.
pub(super) struct Ready {
    pub loaded: Option<Arc<LoadedComponent>>,
    /// The bytes, when they came from outside the store (built in or
    /// uploaded) and may need storing.
    pub fresh_bytes: Option<Vec<u8>>,
}

impl Deployer {
    /// The bytes `manifest`'s entry for `name` names (built in, stored, or
    /// a file beside a startup manifest).
    pub(super) fn manifest_bytes(
        &self,
        manifest: &Manifest,
        name: &str,
    ) -> Result<Vec<u8>, String> {
        let spec = manifest
            .components
            .get(name)
            .ok_or_else(|| format!("component '{name}' is not declared"))?;
        match spec.source() {
            ComponentSource::Builtin(builtin) => crate::builtin::builtin_component(&builtin)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| format!("this binary has no built-in component '{builtin}'")),
            ComponentSource::File(path) => {
                let path = manifest.resolve(&path);
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            }
            ComponentSource::Stored(hash) => {
                Err(format!("stored binary {hash} is read from the store"))
            }
        }
    }

    /// The bytes of `name` as `manifest` declares it, `uploads` standing in
    /// for file sources.
    async fn declared_bytes(
        &self,
        manifest: &Manifest,
        name: &str,
        uploads: &HashMap<String, Vec<u8>>,
    ) -> Result<(Vec<u8>, bool), String> {
        let spec = &manifest.components[name];
        match spec.source() {
            ComponentSource::Stored(hash) => match store::blob(&self.database, &hash).await {
                Ok(Some(bytes)) => Ok((bytes, false)),
                Ok(None) => Err(format!(
                    "source {}: no such binary in the store",
                    spec.source
                )),
                Err(e) => Err(format!("source {}: {e}", spec.source)),
            },
            ComponentSource::File(path) => match uploads.get(name) {
                Some(bytes) => Ok((bytes.clone(), true)),
                None if manifest.base_dir.as_os_str().is_empty() => Err(format!(
                    "source {} was not uploaded with the manifest",
                    path.display()
                )),
                None => self
                    .manifest_bytes(manifest, name)
                    .map(|bytes| (bytes, true)),
            },
            ComponentSource::Builtin(_) => self.manifest_bytes(manifest, name).map(|b| (b, true)),
        }
    }

    /// Every component of `manifest` compiled and checked, reusing what
    /// `current` already runs when the version and the terms are the same
    /// (a warm pool survives a deploy that does not touch its component).
    /// Every problem is reported, not just the first.
    pub(super) async fn prepare(
        &self,
        manifest: &Manifest,
        versions: Versions<'_>,
        current: &Serving,
    ) -> Result<BTreeMap<String, Ready>, Vec<String>> {
        // What this host's own settings allow is checked where a manifest
        // is deployed; an instance following one that another instance
        // accepted only warns, so instances never split over a setting.
        let strict = matches!(versions, Versions::Declared(_));
        let mut ready = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, spec) in &manifest.components {
            let problem = |message: String| format!("component '{name}': {message}");
            let mut host_problems = Vec::new();
            if let Some(timeout) = spec.timeout_ms
                && u128::from(timeout) > self.settings.max_timeout.as_millis()
            {
                host_problems.push(problem(format!(
                    "timeout_ms = {timeout} is over the {} ms this host's connection limits allow (raise STRATA_BODY_IDLE_TIMEOUT_SECONDS and restart)",
                    self.settings.max_timeout.as_millis()
                )));
            }
            if spec.sql != crate::config::SqlGrant::None
                && let Err(why) = self.database.component_sql()
            {
                host_problems.push(problem(format!("its SQL grant cannot be served: {why}")));
            }
            if strict && !host_problems.is_empty() {
                errors.append(&mut host_problems);
                continue;
            }
            for warning in host_problems {
                tracing::warn!(warning, "serving the active manifest anyway");
            }
            let logged = match &versions {
                Versions::Logged(log) => log.get(name).cloned(),
                Versions::Declared(_) => None,
            };
            let (hash, bytes) = match logged {
                Some(None) => {
                    ready.insert(
                        name.clone(),
                        Ready {
                            loaded: None,
                            fresh_bytes: None,
                        },
                    );
                    continue;
                }
                Some(Some(hash)) => (hash, None),
                None => {
                    let uploads = match &versions {
                        Versions::Declared(uploads) => *uploads,
                        Versions::Logged(_) => &HashMap::new(),
                    };
                    match self.declared_bytes(manifest, name, uploads).await {
                        Ok((bytes, fresh)) => (content_hash(&bytes), Some((bytes, fresh))),
                        Err(e) => {
                            errors.push(problem(e));
                            continue;
                        }
                    }
                }
            };
            let reusable = current.registry.get(name).filter(|running| {
                running.hash == hash
                    && current
                        .manifest
                        .components
                        .get(name)
                        .is_some_and(|old| old.same_terms(spec))
            });
            if let Some(running) = reusable {
                let fresh_bytes = bytes.and_then(|(b, fresh)| fresh.then_some(b));
                ready.insert(
                    name.clone(),
                    Ready {
                        loaded: Some(running),
                        fresh_bytes,
                    },
                );
                continue;
            }
            let (bytes, fresh) = match bytes {
                Some(found) => found,
                None => match store::blob(&self.database, &hash).await {
                    Ok(Some(bytes)) => (bytes, false),
                    Ok(None) => {
                        errors.push(problem(DeployError::MissingBlob(hash).to_string()));
                        continue;
                    }
                    Err(e) => {
                        errors.push(problem(e.to_string()));
                        continue;
                    }
                },
            };
            if bytes.len() > self.settings.max_bytes {
                errors.push(problem(format!(
                    "{} bytes; the limit is {}",
                    bytes.len(),
                    self.settings.max_bytes
                )));
                continue;
            }
            let Some(plan) = manifest.plan(name).cloned() else {
                errors.push(problem("has no validated plan".into()));
                continue;
            };
            let bytes = Arc::new(bytes);
            match self.compile_with(name, bytes.clone(), plan).await {
                Ok(loaded) => {
                    ready.insert(
                        name.clone(),
                        Ready {
                            loaded: Some(loaded),
                            fresh_bytes: fresh.then(|| Arc::unwrap_or_clone(bytes)),
                        },
                    );
                }
                Err(e) => errors.push(problem(e.to_string())),
            }
        }
        if errors.is_empty() {
            Ok(ready)
        } else {
            Err(errors)
        }
    }

    /// A serving table for `manifest` filled with `ready`, carrying
    /// limits over from `current`.
    pub(super) fn serving(
        manifest: Arc<Manifest>,
        id: i64,
        hash: String,
        ready: &BTreeMap<String, Ready>,
        current: &Serving,
    ) -> Serving {
        let serving = Serving::new(manifest, id, hash, Some(current));
        for (name, component) in ready {
            serving.registry.swap(name, component.loaded.clone());
        }
        serving
    }
}

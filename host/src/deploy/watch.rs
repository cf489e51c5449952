//! Deploy by file: `NAME.wasm` dropped into the components folder deploys
//! component `NAME`, and a `strata.toml` there is a manifest deploy (its
//! file sources resolved against the folder and uploaded with it).
//!
//! The folder is polled rather than watched with inotify: polling sees
//! network and container filesystems too, and it makes "the write is
//! complete" easy to define — a file is deployed once its size and
//! modification time are unchanged across two scans, so a half-copied file
//! is never compiled. Files present at start are deployed if they differ
//! from the active version (dropped while the host was down).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Deployer, ManifestUpload, app};
use crate::config::{ComponentSource, Manifest};
use strata_digest::content_hash;

/// The manifest file a watched folder may hold.
const MANIFEST_FILE: &str = "strata.toml";

/// Time between scans; also the settling time of a new file.
const SCAN_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    /// Whether this exact state was already acted upon.
    handled: bool,
}

/// Polls `dir` for as long as the process lives.
pub fn spawn_watcher(deployer: Arc<Deployer>, dir: PathBuf) {
    tokio::spawn(async move {
        tracing::info!(dir = %dir.display(), "watching for component files");
        let mut seen: HashMap<PathBuf, Seen> = HashMap::new();
        loop {
            scan(&deployer, &dir, &mut seen).await;
            tokio::time::sleep(SCAN_INTERVAL).await;
        }
    });
}

fn component_name(path: &Path) -> Option<String> {
    if path.extension()? != "wasm" {
        return None;
    }
    path.file_stem()?.to_str().map(str::to_string)
}

async fn scan(deployer: &Deployer, dir: &Path, seen: &mut HashMap<PathBuf, Seen>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot read the components folder");
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_manifest = path.file_name().is_some_and(|n| n == MANIFEST_FILE);
        let Some(name) = component_name(&path).or(is_manifest.then(String::new)) else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        let state = Seen {
            len: meta.len(),
            modified: meta.modified().ok(),
            handled: false,
        };
        let previous = seen.insert(path.clone(), state);
        let settled = previous.is_some_and(|p| p.len == state.len && p.modified == state.modified);
        let already = previous.is_some_and(|p| p.handled && settled);
        if !settled || already {
            if already {
                seen.insert(
                    path,
                    Seen {
                        handled: true,
                        ..state
                    },
                );
            }
            continue;
        }
        seen.insert(
            path.clone(),
            Seen {
                handled: true,
                ..state
            },
        );
        if is_manifest {
            deploy_manifest(deployer, dir, &path).await;
            continue;
        }
        if !deployer.declares(&name) {
            tracing::warn!(file = %path.display(), "no component '{name}' in the manifest; file ignored");
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read component file");
                continue;
            }
        };
        let current = deployer.current_hashes().get(&name).cloned().flatten();
        if current.as_deref() == Some(content_hash(&bytes).as_str()) {
            continue;
        }
        let source = format!("file:{}", path.display());
        match deployer.deploy(&name, bytes, &source).await {
            Ok(outcome) => tracing::info!(
                component = name,
                version = outcome.version,
                "deployed from file"
            ),
            Err(e) => {
                tracing::error!(component = name, file = %path.display(), error = %e, "file deploy refused; the running version keeps serving")
            }
        }
    }
}

/// Deploys the folder's `strata.toml` with the files it names, unless it is
/// what is already active.
async fn deploy_manifest(deployer: &Deployer, dir: &Path, path: &Path) {
    let refused = |error: String| {
        tracing::error!(file = %path.display(), error, "manifest deploy refused; the active manifest keeps serving");
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return refused(format!("cannot read it: {e}")),
    };
    let env = deployer.settings.env.clone();
    let manifest = match Manifest::parse_with(&text, dir.to_path_buf(), |name| env(name)) {
        Ok(manifest) => manifest,
        Err(e) => return refused(e.messages().join("; ")),
    };
    let mut files = HashMap::new();
    for (name, spec) in &manifest.components {
        if let ComponentSource::File(file) = spec.source() {
            let file = manifest.resolve(&file);
            match std::fs::read(&file) {
                Ok(bytes) => files.insert(name.clone(), bytes),
                Err(e) => {
                    return refused(format!(
                        "component '{name}': cannot read {}: {e}",
                        file.display()
                    ));
                }
            };
        }
    }
    let source = format!("file:{}", path.display());
    // Deployed only when it changed since it was last deployed from here
    // (or never was): a restart must not undo a later deploy by the API.
    if let Ok(body) = app::stored_form(&text, &manifest, &files) {
        let hash = content_hash(body.as_bytes());
        let history = super::store::manifest_history(&deployer.database, 1000).await;
        let last_from_here = history
            .iter()
            .flatten()
            .find(|row| row.source == source)
            .map(|row| row.hash.clone());
        if hash == deployer.dispatcher.current().manifest_hash || last_from_here == Some(hash) {
            return;
        }
    }
    let upload = ManifestUpload {
        manifest: text,
        components: files,
        source,
    };
    match deployer.deploy_manifest(upload).await {
        Ok(outcome) => tracing::info!(
            manifest = outcome.manifest_id,
            "manifest deployed from file"
        ),
        Err(e) => refused(e.to_string()),
    }
}

//! Following other instances: the manifest and deployment logs are polled
//! every [`SYNC_INTERVAL`]. A new active manifest rebuilds the serving
//! table; otherwise each slot switches to the version logged last. Every
//! instance sharing the database so serves the same app within a second of
//! a deploy, and reports what it serves (`strata.instances`) for
//! `strata status`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::build::Versions;
use super::store::{self, InstanceRow};
use super::{DeployError, Deployer, SYNC_INTERVAL};
use crate::config::Manifest;

/// How often an instance reports what it serves, when nothing changed.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// Instances quiet for longer are not listed; far longer, forgotten.
const LISTED_FOR: Duration = Duration::from_secs(10);
const FORGOTTEN_AFTER: Duration = Duration::from_secs(3600);

/// When to try following a manifest again after a failure: 1 s, doubling
/// to 30 s, reset by a newer manifest. A store hiccup is retried; a
/// manifest that does not load here is not hammered.
#[derive(Default)]
struct Retry {
    manifest: i64,
    failures: u32,
    at: Option<std::time::Instant>,
}

impl Retry {
    fn due(&self, manifest: i64) -> bool {
        manifest != self.manifest || self.at.is_none_or(|at| std::time::Instant::now() >= at)
    }

    fn failed(&mut self, manifest: i64) -> Duration {
        if manifest != self.manifest {
            *self = Retry {
                manifest,
                ..Retry::default()
            };
        }
        self.failures += 1;
        let wait = Duration::from_secs(1 << self.failures.min(5).saturating_sub(1))
            .min(Duration::from_secs(30));
        self.at = Some(std::time::Instant::now() + wait);
        wait
    }
}

fn micros_ago(ago: Duration) -> i64 {
    SystemTime::now()
        .checked_sub(ago)
        .unwrap_or(UNIX_EPOCH)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

impl Deployer {
    /// Follows the logs for changes made by other instances.
    pub fn spawn_sync(self: &Arc<Self>, mut last_seen: i64) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut retry = Retry::default();
            let mut last_report = None::<std::time::Instant>;
            let mut first = true;
            loop {
                if !std::mem::take(&mut first) {
                    tokio::time::sleep(SYNC_INTERVAL).await;
                }
                // Component rows first, the manifest second: rows a newer
                // manifest wrote are then never applied to the old serving
                // table (following the manifest accounts for them).
                let rows = match store::since(&this.database, last_seen).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot read the deployment log");
                        continue;
                    }
                };
                let mut changed = false;
                match store::active_manifest_id(&this.database).await {
                    Ok(id) if id > 0 && id != this.dispatcher.current().manifest_id => {
                        if retry.due(id) {
                            match this.follow_manifest().await {
                                Ok(Some(latest)) => {
                                    last_seen = latest;
                                    changed = true;
                                }
                                Ok(None) => {}
                                Err(e) => {
                                    let next = retry.failed(id);
                                    tracing::error!(manifest = id, error = %e, retry_in = ?next, "cannot follow another instance's manifest deploy; serving the previous one");
                                }
                            }
                        }
                    }
                    Ok(_) => {
                        if let Some(newest) = rows.last().map(|row| row.id) {
                            last_seen = newest;
                            let names: std::collections::BTreeSet<String> =
                                rows.into_iter().map(|row| row.component).collect();
                            for name in names {
                                this.follow(&name).await;
                            }
                            changed = true;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "cannot read the manifest log"),
                }
                this.last_seen
                    .store(last_seen, std::sync::atomic::Ordering::Relaxed);
                if changed || last_report.is_none_or(|at| at.elapsed() >= HEARTBEAT) {
                    this.report().await;
                    last_report = Some(std::time::Instant::now());
                }
            }
        });
    }

    /// Switches to the store's active manifest. Returns the newest
    /// deployment log id it accounted for, or `None` when it was already
    /// serving it.
    async fn follow_manifest(&self) -> Result<Option<i64>, DeployError> {
        let _guard = self.lock.lock().await;
        let Some(row) = store::active_manifest(&self.database).await? else {
            return Ok(None);
        };
        let current = self.dispatcher.current();
        if row.id == current.manifest_id {
            return Ok(None);
        }
        let latest = store::latest_id(&self.database).await?;
        let env = self.settings.env.clone();
        let manifest = Manifest::parse_with(&row.body, PathBuf::new(), |name| env(name))
            .map_err(|e| DeployError::Manifest(e.messages()))?;
        let logged = store::logged_versions(&self.database).await?;
        let ready = match self
            .prepare(&manifest, Versions::Logged(&logged), &current)
            .await
        {
            Ok(ready) => ready,
            Err(errors) => {
                // A logged version that does not load under the new terms
                // (a component deploy that raced the manifest): the manifest's
                // own versions, as at start.
                for error in &errors {
                    tracing::warn!(error, "following with the manifest's own version");
                }
                self.prepare(&manifest, Versions::Declared(&HashMap::new()), &current)
                    .await
                    .map_err(DeployError::Manifest)?
            }
        };
        let manifest = Arc::new(manifest);
        let serving = Self::serving(manifest.clone(), row.id, row.hash, &ready, &current);
        self.dispatcher.install(Arc::new(serving));
        self.apply_cache_policy(&manifest).await;
        tracing::info!(
            manifest = row.id,
            "following another instance's manifest deploy"
        );
        Ok(Some(latest))
    }

    /// Makes `name`'s slot hold its newest logged version (or nothing).
    async fn follow(&self, name: &str) {
        let _guard = self.lock.lock().await;
        // Read under the lock, not from the rows polled before it: a local
        // deploy may have logged a newer row meanwhile, and following the
        // polled one would bring an older version back.
        let hash = match store::history(&self.database, name, 1).await {
            Ok(rows) => match rows.into_iter().next() {
                Some(row) => row.hash,
                None => return,
            },
            Err(e) => {
                tracing::debug!(component = name, error = %e, "cannot read the deployment log");
                return;
            }
        };
        let serving = self.dispatcher.current();
        let current = serving.registry.get(name).map(|c| c.hash.clone());
        if current == hash || !serving.registry.declares(name) {
            return;
        }
        match hash {
            None => {
                serving.registry.swap(name, None);
                tracing::info!(component = name, "component removed by another instance");
            }
            Some(hash) => match self.load_stored(name, &hash).await {
                Ok(loaded) => {
                    tracing::info!(
                        component = name,
                        version = &*loaded.version,
                        "following another instance's deploy"
                    );
                    serving.registry.swap(name, Some(loaded));
                }
                Err(e) => {
                    tracing::error!(component = name, error = %e, "cannot follow another instance's deploy")
                }
            },
        }
    }

    /// What this instance serves now, as its row in `strata.instances`.
    fn own_row(&self) -> InstanceRow {
        let serving = self.dispatcher.current();
        let components: serde_json::Map<String, serde_json::Value> = serving
            .registry
            .names()
            .map(|name| {
                let version = serving.registry.get(name).map(|c| c.version.to_string());
                (name.to_string(), serde_json::json!(version))
            })
            .collect();
        InstanceRow {
            id: self.instance.clone(),
            manifest_id: serving.manifest_id,
            deployment_id: self.last_seen.load(std::sync::atomic::Ordering::Relaxed),
            state: serde_json::json!({
                "address": self.address.get(),
                "components": components,
            }),
            seen_at: micros_ago(Duration::ZERO),
        }
    }

    /// Records what this instance serves in the store.
    async fn report(&self) {
        let row = self.own_row();
        if let Err(e) = store::heartbeat(
            &self.database,
            &row.id,
            row.manifest_id,
            row.deployment_id,
            &row.state,
            row.seen_at,
        )
        .await
        {
            tracing::debug!(error = %e, "cannot report this instance's state");
        }
    }

    /// Instances heard from lately, for `strata status`; this one as it
    /// is now rather than as it last reported.
    pub async fn instances(&self) -> Result<Vec<InstanceRow>, DeployError> {
        let mut rows = store::instances(
            &self.database,
            micros_ago(LISTED_FOR),
            micros_ago(FORGOTTEN_AFTER),
        )
        .await?;
        rows.retain(|row| row.id != self.instance);
        rows.push(self.own_row());
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(rows)
    }
}

//! Following other instances: the deployment log is polled every
//! [`SYNC_INTERVAL`], and each slot switches to the version logged last,
//! so every instance sharing the database serves the same version within
//! a second of a deploy.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Deployer, SYNC_INTERVAL, store};

impl Deployer {
    /// Follows the deployment log for changes made by other instances.
    pub fn spawn_sync(self: &Arc<Self>, mut last_seen: i64) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SYNC_INTERVAL).await;
                let rows = match store::since(&this.database, last_seen).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot read the deployment log");
                        continue;
                    }
                };
                let Some(newest) = rows.last().map(|row| row.id) else {
                    continue;
                };
                last_seen = newest;
                let latest: HashMap<String, Option<String>> = rows
                    .into_iter()
                    .map(|row| (row.component, row.hash))
                    .collect();
                for (name, hash) in latest {
                    this.follow(&name, hash).await;
                }
            }
        });
    }

    /// Makes `name`'s slot hold `hash` (or nothing), if it does not already.
    async fn follow(&self, name: &str, hash: Option<String>) {
        let _guard = self.lock.lock().await;
        let current = self.registry.get(name).map(|c| c.hash.clone());
        if current == hash || !self.registry.declares(name) {
            return;
        }
        match hash {
            None => {
                self.registry.swap(name, None);
                tracing::info!(component = name, "component removed by another instance");
            }
            Some(hash) => match self.load_stored(name, &hash).await {
                Ok(loaded) => {
                    tracing::info!(
                        component = name,
                        version = &*loaded.version,
                        "following another instance's deploy"
                    );
                    self.registry.swap(name, Some(loaded));
                }
                Err(e) => {
                    tracing::error!(component = name, error = %e, "cannot follow another instance's deploy")
                }
            },
        }
    }
}

//! The market simulator (`strata-market-sim`) as the upstream of a host
//! under test: in-process on a free port, steered through its `/__sim`
//! endpoints (fault injection, request counter).

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::dedicated::{DedicatedServer, start_dedicated};
use crate::http;

/// A serving simulator; it stops when dropped.
pub struct Simulator {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Serving on the caller's runtime: aborted on drop.
    task: Option<tokio::task::JoinHandle<()>>,
    /// Serving on its own runtime: stopped by its own drop.
    _dedicated: Option<DedicatedServer>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Simulator {
    /// Serves on the caller's tokio runtime (its default 1,000 coins).
    pub async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the simulator")?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = strata_market_sim::SimState::new(strata_market_sim::SimConfig::default());
        let task = tokio::spawn(async move {
            let _ = strata_market_sim::serve(listener, state).await;
        });
        Ok(Self {
            url,
            task: Some(task),
            _dedicated: None,
        })
    }

    /// Serves on a runtime of its own with `worker_threads` workers (see
    /// [`start_dedicated`]).
    pub fn start_dedicated(worker_threads: usize) -> Result<Self> {
        let server = start_dedicated(
            "simulator",
            worker_threads,
            |listener, shutdown| async move {
                let state =
                    strata_market_sim::SimState::new(strata_market_sim::SimConfig::default());
                let _ = strata_market_sim::serve_with_shutdown(listener, state, async {
                    let _ = shutdown.await;
                })
                .await;
            },
        )?;
        Ok(Self {
            url: server.url.clone(),
            task: None,
            _dedicated: Some(server),
        })
    }

    /// Changes the fault injection (see `PUT /__sim/faults`), e.g.
    /// `{"latency_ms": 200}`.
    pub async fn set_faults(&self, faults: &Value) -> Result<()> {
        let response = http()
            .put(format!("{}/__sim/faults", self.url))
            .json(faults)
            .send()
            .await
            .context("PUT /__sim/faults")?;
        ensure!(
            response.status().is_success(),
            "the simulator refused faults {faults}: {}",
            response.status()
        );
        Ok(())
    }

    /// Upstream API requests answered so far.
    pub async fn requests(&self) -> Result<u64> {
        let stats: Value = http()
            .get(format!("{}/__sim/stats", self.url))
            .send()
            .await
            .context("GET /__sim/stats")?
            .json()
            .await
            .context("simulator stats are not JSON")?;
        stats["requests"]
            .as_u64()
            .context("simulator stats without a 'requests' counter")
    }
}

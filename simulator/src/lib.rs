//! A CoinGecko v3 look-alike HTTP server with synthetic market data.
//!
//! Strata's market component, its tests, benchmarks and offline demos need an
//! upstream that is always available, costs nothing, never rate-limits by
//! surprise, and can be told to misbehave on purpose. This crate provides it
//! both as the `market-sim` binary and as a library so tests can embed the
//! server in-process:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use strata_market_sim::{SimConfig, SimState, serve};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(serve(listener, SimState::new(SimConfig::default())));
//! println!("simulator at http://{addr}");
//! # Ok(())
//! # }
//! ```

mod api;
mod clock;
mod control;
pub mod faults;
mod http_util;
pub mod market;
mod prng;
mod routes;
pub mod stats;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

pub use clock::{Clock, rfc3339};
pub use faults::{FaultConfig, FaultPatch, Faults};
pub use market::Market;
pub use stats::{Stats, StatsSnapshot};

/// Default number of simulated coins, matching the CLI default.
pub const DEFAULT_COINS: usize = 1_000;

/// Start-up configuration of a simulator instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// How many coins to simulate (well-known ones first).
    pub coins: usize,
    /// Latency applied to every API request, before any fault latency.
    pub latency: Duration,
    /// Time source; pin it for byte-identical responses.
    pub clock: Clock,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            coins: DEFAULT_COINS,
            latency: Duration::ZERO,
            clock: Clock::System,
        }
    }
}

/// Shared simulator state: the market, fault plan and counters.
///
/// Cheap to clone (one `Arc`); every connection task holds a clone. Tests
/// that embed the server can keep a clone to inspect [`Stats`] or arm
/// [`Faults`] directly instead of going through `/__sim/`.
#[derive(Debug, Clone)]
pub struct SimState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    market: Market,
    faults: Faults,
    stats: Stats,
    latency: Duration,
    clock: Clock,
}

impl SimState {
    /// Builds the coin universe and empty counters from `config`.
    pub fn new(config: SimConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                market: Market::new(config.coins),
                faults: Faults::default(),
                stats: Stats::default(),
                latency: config.latency,
                clock: config.clock,
            }),
        }
    }

    /// The simulated market.
    pub fn market(&self) -> &Market {
        &self.inner.market
    }

    /// The runtime fault configuration.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Upstream request counters.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// Base latency configured at start-up.
    pub fn latency(&self) -> Duration {
        self.inner.latency
    }

    /// Current time as seen by the market model (unix seconds).
    pub fn now_secs(&self) -> u64 {
        self.inner.clock.now_secs()
    }
}

/// Serves HTTP/1.1 and HTTP/2 on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, state: SimState) -> std::io::Result<()> {
    serve_with_shutdown(listener, state, std::future::pending()).await
}

/// Serves until `shutdown` completes, then stops accepting connections.
///
/// In-flight connections are left to finish on their own tasks; a hung
/// request (see `hang_next`) must not be able to delay shutdown by an hour.
/// Accept errors (e.g. file-descriptor exhaustion) are logged and retried
/// after a short pause instead of killing the server.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    state: SimState,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::warn!(%err, "accept failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let builder = builder.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| routes::handle(state.clone(), req));
            if let Err(err) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, %err, "connection ended with error");
            }
        });
    }
}

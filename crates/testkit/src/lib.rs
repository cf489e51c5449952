//! Real servers on loopback, shared by the end-to-end tests
//! (`tests/all`) and the benchmark (`bench/`), so both drive the product
//! the same way and neither keeps a copy of the other's harness.
//!
//! - [`StrataProcess`]: the real `strata` binary in its own process, ready
//!   once it has printed its listening lines.
//! - [`Redis`]: a private `redis-server` on a free port, killed on drop;
//!   [`RedisCluster`]: three of them joined into a Redis Cluster.
//! - [`PgDatabase`]: a fresh database on the machine's Postgres, dropped
//!   afterwards.
//! - [`Simulator`]: the market simulator, in the caller's runtime or on a
//!   runtime of its own ([`DedicatedServer`]).
//! - [`http`]: one HTTP client for the whole process.
//!
//! Starting a server returns an error the caller reports (the benchmark
//! prints it, a test panics with it). Nothing here reads or sets process
//! environment variables other than `STRATA_TEST_POSTGRES_URL`; what a
//! server gets is passed to it explicitly.

mod dedicated;
mod postgres;
mod process;
mod redis;
mod simulator;

pub use dedicated::{DedicatedServer, start_dedicated};
pub use postgres::{PgDatabase, postgres_admin_url, psql};
pub use process::{StrataProcess, rss_kib};
pub use redis::{Redis, RedisCluster};
pub use simulator::Simulator;

use std::net::TcpListener;

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The Redis key under which a host with the default namespace
/// (`STRATA_REDIS_NAMESPACE=strata`) stores cache key `key`.
pub fn l2_key(key: &str) -> String {
    format!("strata:cache:{key}")
}

/// One HTTP client for the whole process (reqwest is built without a
/// default TLS provider, so the host's choice, ring, is installed first).
pub fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .build()
            .expect("an HTTP client with the ring provider")
    })
}

//! Command-line and environment settings for the `strata` binary.
//!
//! Every option has an environment variable so the same binary runs from a
//! shell, a container or a process manager without a wrapper script. The
//! seed's names (`REDIS_URL`, `DATABASE_URL`, `CACHE_*`) are kept as-is; the
//! rest use the `STRATA_` prefix.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

mod policy;

use policy::{auto_decommit_batch, boolish};

pub use super::commands::Command;
use super::telemetry::TelemetryArgs;

/// Log output shape: plain for people, JSON for log pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Plain,
    Json,
}

/// `strata`: serve WebAssembly handler components with a built-in two-tier
/// cache, a SQL pool and a policed outbound HTTP client.
#[derive(Debug, Clone, Parser)]
#[command(name = "strata", version, about, long_about = None)]
pub struct Cli {
    /// Without a command, `strata` serves.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address the public HTTP listener binds to.
    #[arg(long, env = "STRATA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Bearer token for the admin endpoints (`/clear-cache`, `/admin/...`).
    /// Without one, admin endpoints are served only on `--admin-listen`,
    /// which must be a loopback address.
    #[arg(long, env = "STRATA_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Loopback address of the admin listener used when no admin token is set.
    #[arg(long, env = "STRATA_ADMIN_LISTEN", default_value = "127.0.0.1:8081")]
    pub admin_listen: SocketAddr,

    /// Host names (comma-separated) the admin listener answers besides
    /// loopback names, e.g. the name of an SSH tunnel. Requests addressed to
    /// any other name are refused (DNS rebinding).
    #[arg(long, env = "STRATA_ADMIN_ALLOWED_HOSTS", value_delimiter = ',')]
    pub admin_allowed_hosts: Vec<String>,

    /// Manifest (TOML) mapping routes to components. Without it the embedded
    /// default manifest serves the dashboard, market and report components.
    #[arg(long, env = "STRATA_MANIFEST")]
    pub manifest: Option<PathBuf>,

    /// Folder watched for `NAME.wasm` files (a component deploy) and a
    /// `strata.toml` (a manifest deploy).
    #[arg(long, env = "STRATA_COMPONENTS_DIR")]
    pub components_dir: Option<PathBuf>,

    /// Environment variables a deployed manifest's `${VAR}` may read,
    /// besides those the startup manifest uses (comma-separated). Others
    /// stay closed: an admin upload cannot copy `DATABASE_URL` into config.
    #[arg(long, env = "STRATA_MANIFEST_ENV", value_delimiter = ',')]
    pub manifest_env: Vec<String>,

    /// Serve the startup manifest even when the database holds a different
    /// active one, and make it the active one for every instance (the way
    /// back when the stored manifest does not load, or to apply an edited
    /// file by restarting). Without it the database's manifest wins.
    #[arg(long, env = "STRATA_STARTUP_MANIFEST_WINS", value_parser = boolish(), action = clap::ArgAction::SetTrue)]
    pub startup_manifest_wins: bool,

    /// Largest component binary accepted by deploy, in bytes.
    #[arg(long, env = "STRATA_MAX_COMPONENT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_component_bytes: usize,

    /// Redis for the shared L2 cache. Unset (and no cluster): L1 only, with
    /// a warning.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Redis Cluster nodes for the shared L2 cache, comma-separated
    /// (`redis://10.0.0.1:7000,redis://10.0.0.2:7000`). List several: the
    /// rest of the cluster is discovered from whichever answers. Use
    /// instead of REDIS_URL.
    #[arg(long, env = "REDIS_CLUSTER_URLS", hide_env_values = true)]
    pub redis_cluster_urls: Option<String>,

    /// Prefix of every Redis key and channel this installation uses
    /// (`NAMESPACE:cache:KEY`, `NAMESPACE:host:...`), so several
    /// installations, or other applications, can share one Redis and a
    /// clear never reaches beyond this one. Letters, digits, `_`, `-`, `.`.
    #[arg(long, env = "STRATA_REDIS_NAMESPACE", default_value = "strata")]
    pub redis_namespace: String,

    /// Postgres connection string. Unset: an embedded SQLite file.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// SQLite file used when no `DATABASE_URL` is set.
    #[arg(long, env = "STRATA_SQLITE_PATH", default_value = "strata.db")]
    pub sqlite_path: PathBuf,

    /// Largest number of pooled database connections.
    #[arg(long, env = "STRATA_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,

    /// Seconds to wait for a database connection before failing a query.
    #[arg(long, env = "STRATA_DB_ACQUIRE_TIMEOUT_SECONDS", default_value_t = 5)]
    pub db_acquire_timeout_seconds: u64,

    /// Longest a component's SQL statement may run, in milliseconds. A
    /// statement also stops at its request's deadline, whichever is sooner;
    /// the database stops it, so it does not run on after a 504.
    #[arg(long, env = "STRATA_SQL_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub sql_statement_timeout_ms: u64,

    /// Most entries the L1 (in-memory) cache holds.
    #[arg(long, env = "CACHE_L1_CAPACITY", default_value_t = 2000)]
    pub cache_l1_capacity: u64,

    /// Most bytes of values the L1 cache holds (weighted by value size).
    #[arg(long, env = "STRATA_CACHE_L1_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub cache_l1_max_bytes: u64,

    /// Default L1 TTL for keys whose family sets none.
    #[arg(long, env = "CACHE_L1_TTL_SECONDS", default_value_t = 300)]
    pub cache_l1_ttl_seconds: u64,

    /// Default L2 (Redis) TTL.
    #[arg(long, env = "CACHE_L2_TTL_SECONDS", default_value_t = 3600)]
    pub cache_l2_ttl_seconds: u64,

    /// Longest TTL a component may ask for on one cache write, for key
    /// families whose manifest entry sets no `max_ttl_seconds`.
    #[arg(long, env = "STRATA_CACHE_MAX_TTL_SECONDS", default_value_t = 86_400)]
    pub cache_max_ttl_seconds: u64,

    /// How long an expired value is kept to be served stale when its
    /// recomputation fails.
    #[arg(long, env = "STRATA_CACHE_STALE_GRACE_SECONDS", default_value_t = 600)]
    pub cache_stale_grace_seconds: u64,

    /// How long a failure a component chose to remember (an unknown
    /// symbol, say) answers for its key, for families whose manifest entry
    /// sets no `negative_ttl_seconds`.
    #[arg(long, env = "STRATA_CACHE_NEGATIVE_TTL_SECONDS", default_value_t = 30)]
    pub cache_negative_ttl_seconds: u64,

    /// Largest value a component may cache, in bytes.
    #[arg(long, env = "STRATA_CACHE_MAX_VALUE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub cache_max_value_bytes: usize,

    /// Values over this many bytes live in Redis only (when their family has one).
    #[arg(long, env = "STRATA_CACHE_L1_MAX_VALUE_BYTES", default_value_t = 1024 * 1024)]
    pub cache_l1_max_value_bytes: usize,

    /// How often this instance records its hot keys for starting instances to load.
    #[arg(
        long,
        env = "STRATA_CACHE_HOT_KEYS_RECORD_SECONDS",
        default_value_t = 30
    )]
    pub cache_hot_keys_record_seconds: u64,

    /// Milliseconds a Redis command may take before it counts as a failure.
    #[arg(long, env = "STRATA_REDIS_TIMEOUT_MS", default_value_t = 250)]
    pub redis_timeout_ms: u64,

    /// Wall-clock budget of one component request, in milliseconds.
    #[arg(long, env = "STRATA_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Largest request body accepted, in bytes (bigger: 413).
    #[arg(long, env = "STRATA_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: u64,

    /// Requests served by components at once; more get 503 with
    /// Retry-After instead of waiting in an unbounded queue.
    #[arg(long, env = "STRATA_MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    pub max_concurrent_requests: usize,

    /// Largest request head (request line plus headers) accepted, in bytes.
    #[arg(long, env = "STRATA_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,

    /// Seconds a client has to send its request headers (and a new
    /// connection its first request).
    #[arg(long, env = "STRATA_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_read_timeout_seconds: u64,

    /// Seconds a client has to send a component request's whole body (it is
    /// read before the request takes an admission slot); slower gets 408.
    #[arg(long, env = "STRATA_BODY_READ_TIMEOUT_SECONDS", default_value_t = 10)]
    pub body_read_timeout_seconds: u64,

    /// Connections served at once per listener; more are closed at accept.
    #[arg(long, env = "STRATA_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Component requests in flight on one connection (HTTP/2 multiplexes
    /// many); more get 503, so one client cannot take all admission.
    #[arg(long, env = "STRATA_MAX_REQUESTS_PER_CONNECTION", default_value_t = 64)]
    pub max_requests_per_connection: usize,

    /// Seconds a connection may stay open with no request in flight.
    #[arg(long, env = "STRATA_IDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    pub idle_timeout_seconds: u64,

    /// Seconds a response in flight may go without any progress (its
    /// component computing included) before its connection is closed. Never
    /// shorter than the longest component deadline.
    #[arg(long, env = "STRATA_BODY_IDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    pub body_idle_timeout_seconds: u64,

    /// Seconds a response may wait for the client to take its next bytes
    /// (a client that stops reading, or never opens its HTTP/2 window)
    /// before its connection is closed.
    #[arg(long, env = "STRATA_SEND_TIMEOUT_SECONDS", default_value_t = 20)]
    pub send_timeout_seconds: u64,

    /// Seconds open connections get to finish after SIGTERM or Ctrl-C
    /// before the host exits anyway.
    #[arg(long, env = "STRATA_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    pub shutdown_grace_seconds: u64,

    /// WebSocket clients of the live feed at once; more get 503.
    #[arg(long, env = "STRATA_MAX_WEBSOCKET_CLIENTS", default_value_t = 1000)]
    pub max_websocket_clients: usize,

    /// Origins (comma-separated, `https://app.example.com`) whose pages may
    /// open the live feed besides the host's own; other browser origins
    /// are refused.
    #[arg(long, env = "STRATA_WEBSOCKET_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub websocket_allowed_origins: Vec<String>,

    /// Most linear memory one component instance may use, in MiB.
    #[arg(long, env = "STRATA_INSTANCE_MEMORY_MIB", default_value_t = 64)]
    pub instance_memory_mib: u64,

    /// Freed instance memory is returned to the OS in batches of this many
    /// decommits: larger batches cost fewer TLB shootdowns under load,
    /// smaller ones hold less memory between batches (each freed instance
    /// keeps what it used until its batch is returned). Unset: as many as
    /// keep a batch of instances at the memory limit within 256 MiB (4 at
    /// the default 64 MiB; between 1 and 64).
    #[arg(long, env = "STRATA_DECOMMIT_BATCH_SIZE")]
    pub decommit_batch_size: Option<usize>,

    /// Most component instances alive at once (the pooling allocator's size).
    #[arg(long, env = "STRATA_MAX_INSTANCES", default_value_t = 1000)]
    pub max_instances: u32,

    /// Default total time budget for one outbound HTTP call, in milliseconds.
    #[arg(long, env = "STRATA_OUTBOUND_TIMEOUT_MS", default_value_t = 10_000)]
    pub outbound_timeout_ms: u64,

    /// Retries after a failed outbound call (5xx, 429, transport errors).
    #[arg(long, env = "STRATA_OUTBOUND_RETRIES", default_value_t = 2)]
    pub outbound_retries: u32,

    /// First retry delay in milliseconds; doubles on each retry.
    #[arg(long, env = "STRATA_OUTBOUND_BACKOFF_MS", default_value_t = 200)]
    pub outbound_backoff_ms: u64,

    /// Consecutive failed outbound calls to one host that open its breaker.
    #[arg(long, env = "STRATA_OUTBOUND_BREAKER_THRESHOLD", default_value_t = 5)]
    pub outbound_breaker_threshold: u32,

    /// Milliseconds an open outbound breaker waits before a probe call.
    #[arg(
        long,
        env = "STRATA_OUTBOUND_BREAKER_COOL_DOWN_MS",
        default_value_t = 10_000
    )]
    pub outbound_breaker_cool_down_ms: u64,

    /// Largest outbound response body accepted, in bytes.
    #[arg(long, env = "STRATA_OUTBOUND_MAX_RESPONSE_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub outbound_max_response_bytes: usize,

    /// Redirects one outbound call follows, each hop checked against the
    /// component's allow-list and the address policy; past this it fails.
    #[arg(long, env = "STRATA_OUTBOUND_MAX_REDIRECTS", default_value_t = 5)]
    pub outbound_max_redirects: u32,

    /// Networks (comma-separated CIDRs or addresses) that allowed outbound
    /// host names may resolve into although they are loopback, private,
    /// link-local or otherwise refused by default: internal upstreams. The
    /// host's own listeners stay refused.
    #[arg(
        long,
        env = "STRATA_OUTBOUND_ALLOW_NETWORKS",
        value_parser = strata_upstream::parse_networks
    )]
    pub outbound_allow_networks: Option<strata_upstream::Networks>,

    /// Folder for compiled components, keyed by content and engine settings,
    /// so a restart does not recompile. Defaults to `$XDG_CACHE_HOME/strata`
    /// or `~/.cache/strata`.
    #[arg(long, env = "STRATA_COMPILE_CACHE_DIR")]
    pub compile_cache_dir: Option<PathBuf>,

    /// Compile every component from scratch at each start.
    #[arg(long, env = "STRATA_NO_COMPILE_CACHE", value_parser = boolish(), action = clap::ArgAction::SetTrue)]
    pub no_compile_cache: bool,

    /// Compile large components (1 MiB and up) in this process instead
    /// of a short-lived worker process. The worker exists so the
    /// compiler's memory (hundreds of MiB for an 18 MB component) goes
    /// back to the system when it ends; without a compile cache the host
    /// always compiles in process.
    #[arg(long, env = "STRATA_COMPILE_IN_PROCESS", value_parser = boolish(), action = clap::ArgAction::SetTrue)]
    pub compile_in_process: bool,

    /// The program a compile worker runs: set by the `strata` binary to
    /// itself; a host built in another program (a test) has none and
    /// compiles in process.
    #[arg(skip)]
    pub compile_worker_program: Option<PathBuf>,

    /// Seconds between live dashboard refreshes (0 disables the refresh).
    #[arg(long, env = "STRATA_DASHBOARD_REFRESH_SECONDS", default_value_t = 60)]
    pub dashboard_refresh_seconds: u64,

    /// Longest one dashboard refresh may take, in seconds.
    #[arg(
        long,
        env = "STRATA_DASHBOARD_REFRESH_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub dashboard_refresh_timeout_seconds: u64,

    /// Back-off after the second consecutive failed refresh, in seconds;
    /// doubles with each further failure.
    #[arg(
        long,
        env = "STRATA_DASHBOARD_BACKOFF_BASE_SECONDS",
        default_value_t = 120
    )]
    pub dashboard_backoff_base_seconds: u64,

    /// Longest back-off between failed refreshes, in seconds.
    #[arg(
        long,
        env = "STRATA_DASHBOARD_BACKOFF_MAX_SECONDS",
        default_value_t = 1800
    )]
    pub dashboard_backoff_max_seconds: u64,

    /// Run the bundled market simulator in-process and point
    /// `STRATA_UPSTREAM_URL` at it: an offline demo with no internet access.
    #[arg(long, env = "STRATA_SIMULATE_UPSTREAM", value_parser = boolish(), action = clap::ArgAction::SetTrue)]
    pub simulate_upstream: bool,

    /// Log format.
    #[arg(long, env = "STRATA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,

    /// Log filter (`tracing` env-filter syntax), e.g. `info,strata=debug`.
    #[arg(long, env = "STRATA_LOG", default_value = "info")]
    pub log: String,

    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

impl Cli {
    /// The decommit batch: the operator's, or one whose instances at the
    /// memory limit hold at most 256 MiB together.
    pub fn decommit_batch(&self) -> usize {
        self.decommit_batch_size
            .unwrap_or_else(|| auto_decommit_batch(self.instance_memory_mib))
    }

    /// Where compiled components are cached, if anywhere.
    pub fn compile_cache(&self) -> Option<PathBuf> {
        if self.no_compile_cache {
            return None;
        }
        if let Some(dir) = &self.compile_cache_dir {
            return Some(dir.clone());
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
        Some(base.join("strata"))
    }
}

#[cfg(test)]
mod tests;

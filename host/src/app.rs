//! Start-up: turns settings and a manifest into a running application, in
//! dependency order (cache, database, outbound client, runtime, components,
//! router), failing with one clear message when something is wrong.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::config::{Cli, Manifest, ManifestError};
use crate::deploy::{DeploySettings, Deployer, EnvLookup, StartupManifest};
use crate::dispatch::{Dispatcher, Limits, Serving};
use crate::live::{Live, LiveSettings};
use crate::telemetry::Telemetry;
use strata_backplane::{Backplane, BackplaneError, Namespace, Timeouts, Topology};
use strata_cache::{CacheSettings, HotKeySettings, L1Limits, L2, TieredCache};
use strata_data::{Database, OpenError, PoolSettings};
use strata_runtime::{EngineSettings, Runtime, RuntimeError, RuntimeSettings, Services};
use strata_upstream::{Budgets, FetchError, Outbound, OutboundSettings};

/// Why the host could not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("Redis settings (REDIS_URL / REDIS_CLUSTER_URLS): {0}")]
    Redis(#[from] BackplaneError),
    #[error(transparent)]
    Database(#[from] OpenError),
    #[error("outbound HTTP client: {0}")]
    Outbound(#[from] FetchError),
    #[error("cannot serve the app: {0}")]
    Serving(String),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// The running application: the deployed components behind their
/// dispatcher, and the shared services the admin surface reports on.
pub struct App {
    pub runtime: Arc<Runtime>,
    pub deployer: Arc<Deployer>,
    /// The active manifest's serving table is `dispatcher.current()`.
    pub dispatcher: Arc<Dispatcher>,
    pub cache: Arc<TieredCache>,
    pub database: Arc<Database>,
    pub live: Arc<Live>,
    /// What is exported over OTLP (spans, request metrics), if anything.
    pub telemetry: Arc<Telemetry>,
    pub started: Instant,
}

impl App {
    /// Builds the application from settings. `upstream_override` replaces
    /// `${STRATA_UPSTREAM_URL}` in the manifest (the in-process simulator);
    /// with `telemetry` exporting traces, invocations and outbound calls
    /// get spans and outbound requests a `traceparent`.
    pub async fn build(
        cli: &Cli,
        upstream_override: Option<String>,
        telemetry: Arc<Telemetry>,
    ) -> Result<Self, StartError> {
        let lookup = move |name: &str| {
            if name == "STRATA_UPSTREAM_URL"
                && let Some(url) = &upstream_override
            {
                return Some(url.clone());
            }
            std::env::var(name).ok()
        };
        let (text, base) = Manifest::read(cli.manifest.as_deref())?;
        // What the operator's own manifest reads is open to deployed ones;
        // every other variable only if listed.
        let open =
            std::cell::RefCell::new(cli.manifest_env.iter().cloned().collect::<BTreeSet<_>>());
        let manifest = Manifest::parse_with(&text, base, |name| {
            open.borrow_mut().insert(name.to_string());
            lookup(name)
        })?;
        let open = open.into_inner();
        let env: EnvLookup =
            Arc::new(move |name: &str| open.contains(name).then(|| lookup(name)).flatten());
        let startup = StartupManifest {
            manifest: Arc::new(manifest),
            text,
            label: cli.manifest.as_ref().map_or_else(
                || "embedded".into(),
                |path| format!("file:{}", path.display()),
            ),
        };

        let backplane = connect_redis(cli)?;
        let cache = Arc::new(build_cache(cli, &startup.manifest, backplane.clone()).await?);
        let database = Arc::new(open_database(cli, &startup.manifest).await?);
        let chosen =
            crate::deploy::choose_manifest(&database, &startup, &env, cli.startup_manifest_wins)
                .await
                .map_err(StartError::Serving)?;
        let manifest = chosen.manifest.clone();
        let outbound = Outbound::new(OutboundSettings {
            default_timeout: Duration::from_millis(cli.outbound_timeout_ms),
            retries: cli.outbound_retries,
            backoff: Duration::from_millis(cli.outbound_backoff_ms),
            max_response_bytes: cli.outbound_max_response_bytes,
            breaker_threshold: cli.outbound_breaker_threshold,
            breaker_cool_down: Duration::from_millis(cli.outbound_breaker_cool_down_ms),
            max_redirects: cli.outbound_max_redirects,
            allow_networks: cli
                .outbound_allow_networks
                .clone()
                .map(|networks| networks.0)
                .unwrap_or_default(),
        })?
        .with_budgets(build_budgets(cli, &manifest, backplane.as_ref()));
        let outbound = Arc::new(match telemetry.trace_context() {
            Some(context) => outbound.with_trace_context(context),
            None => outbound,
        });

        let runtime = Runtime::new(
            RuntimeSettings {
                engine: EngineSettings {
                    max_instances: cli.max_instances,
                    instance_memory_bytes: cli.instance_memory_mib.saturating_mul(1 << 20),
                    decommit_batch_size: cli.decommit_batch(),
                },
                default_timeout: Duration::from_millis(cli.request_timeout_ms),
                compile_cache: cli.compile_cache(),
                compile_worker: compile_worker(cli),
                max_running: cli.max_concurrent_requests,
                component_spans: telemetry.traces(),
            },
            Services {
                cache: cache.clone(),
                database: database.clone(),
                outbound,
            },
        )?;

        let runtime = Arc::new(runtime);
        let dispatcher = Arc::new(Dispatcher::new(
            Serving::new(manifest.clone(), 0, chosen.hash.clone(), None),
            Limits::new(cli.max_concurrent_requests),
            runtime.clone(),
        ));
        let deployer = Deployer::new(
            runtime.clone(),
            dispatcher.clone(),
            database.clone(),
            cache.clone(),
            DeploySettings {
                max_bytes: cli.max_component_bytes,
                max_timeout: crate::config::deadline_room(crate::config::body_idle_timeout(
                    cli, &manifest,
                )),
                upstreams: manifest.upstreams.clone(),
                env,
                startup,
            },
        );
        let last_seen = deployer
            .restore(chosen)
            .await
            .map_err(StartError::Serving)?;
        deployer.spawn_sync(last_seen);
        warm_cache(&cache).await;
        if let Some(dir) = &cli.components_dir {
            crate::deploy::spawn_watcher(deployer.clone(), dir.clone());
        }

        Ok(Self {
            runtime,
            deployer,
            dispatcher,
            cache,
            database,
            telemetry,
            started: Instant::now(),
            live: Arc::new(Live::new(
                LiveSettings {
                    interval: Duration::from_secs(cli.dashboard_refresh_seconds),
                    timeout: Duration::from_secs(cli.dashboard_refresh_timeout_seconds.max(1)),
                    backoff_base: Duration::from_secs(cli.dashboard_backoff_base_seconds.max(1)),
                    backoff_max: Duration::from_secs(cli.dashboard_backoff_max_seconds.max(1)),
                    max_clients: cli.max_websocket_clients,
                    allowed_origins: cli.websocket_allowed_origins.clone(),
                },
                backplane,
            )),
        })
    }

    /// Starts what runs in the background once the application serves:
    /// warm-up requests, then the live dashboard.
    pub async fn start_background(&self) {
        self.dispatcher.warm_up().await;
        crate::live::start(self.live.clone(), self.dispatcher.clone());
    }
}

/// Loads the deployment's recorded hot keys into L1 before the host
/// listens (bounded in time and bytes; a failure only means a cold start),
/// so an instance added behind a load balancer serves them from memory at
/// once; then keeps this instance's own hot keys on the record.
async fn warm_cache(cache: &Arc<TieredCache>) {
    let warmed = cache.warm_up(cache.warm_limits()).await;
    tracing::info!(
        recorded = warmed.recorded,
        loaded = warmed.loaded,
        bytes = warmed.bytes,
        stopped = ?warmed.stopped,
        "L1 warmed from the hot-key record"
    );
    cache.spawn_hot_key_recorder();
}

/// The shared Redis, standalone or cluster, if one is configured.
fn connect_redis(cli: &Cli) -> Result<Option<Arc<Backplane>>, StartError> {
    let Some(topology) =
        Topology::from_settings(cli.redis_url.as_deref(), cli.redis_cluster_urls.as_deref())?
    else {
        tracing::warn!(
            "neither REDIS_URL nor REDIS_CLUSTER_URLS is set: running with the L1 cache only"
        );
        return Ok(None);
    };
    tracing::info!(
        mode = topology.mode(),
        "using Redis for L2 and coordination"
    );
    let response = Duration::from_millis(cli.redis_timeout_ms.max(1));
    let timeouts = Timeouts {
        connect: response.max(Duration::from_millis(500)),
        response,
    };
    let namespace = Namespace::new(&cli.redis_namespace)?;
    Ok(Some(Backplane::new(topology, timeouts, namespace)?))
}

/// Smallest component compiled by a worker process.
const COMPILE_WORKER_MIN_BYTES: usize = 1 << 20;

/// The compile worker, unless the operator turned it off or the program
/// running the host is not `strata`.
fn compile_worker(cli: &Cli) -> Option<strata_runtime::CompileWorker> {
    if cli.compile_in_process {
        return None;
    }
    cli.compile_worker_program
        .clone()
        .map(|program| strata_runtime::CompileWorker {
            program,
            args: vec!["compile-worker".into()],
            min_bytes: COMPILE_WORKER_MIN_BYTES,
        })
}

/// The manifest's `[[upstreams]]` budgets, shared through Redis when it is
/// configured (each round trip bounded by the Redis command timeout).
fn build_budgets(cli: &Cli, manifest: &Manifest, backplane: Option<&Arc<Backplane>>) -> Budgets {
    for budget in manifest.budgets() {
        tracing::info!(
            upstream = %budget.label(),
            rate = %budget.rate(),
            burst = budget.burst(),
            shared = backplane.is_some(),
            "upstream request budget"
        );
    }
    let budgets = Budgets::new(manifest.budgets().to_vec());
    match backplane {
        Some(backplane) if !manifest.budgets().is_empty() => budgets.shared_through(
            backplane.clone(),
            Duration::from_millis(cli.redis_timeout_ms.max(1)),
        ),
        _ => budgets,
    }
}

async fn build_cache(
    cli: &Cli,
    manifest: &Manifest,
    backplane: Option<Arc<Backplane>>,
) -> Result<TieredCache, StartError> {
    let settings = CacheSettings {
        l1: L1Limits {
            max_entries: cli.cache_l1_capacity,
            max_bytes: cli.cache_l1_max_bytes,
        },
        l1_ttl: Duration::from_secs(cli.cache_l1_ttl_seconds),
        l2_ttl: Duration::from_secs(cli.cache_l2_ttl_seconds),
        stale_grace: Duration::from_secs(cli.cache_stale_grace_seconds),
        max_value_bytes: cli.cache_max_value_bytes,
        l1_max_value_bytes: cli.cache_l1_max_value_bytes,
        max_ttl: Duration::from_secs(cli.cache_max_ttl_seconds),
        families: manifest.cache.families.clone(),
        flight_wait: Duration::from_millis(cli.request_timeout_ms),
        negative_ttl: Duration::from_secs(cli.cache_negative_ttl_seconds),
        hot: HotKeySettings {
            record_every: Duration::from_secs(cli.cache_hot_keys_record_seconds.max(1)),
            ..HotKeySettings::default()
        },
    };
    let l2 =
        backplane.map(|backplane| L2::new(backplane, Duration::from_millis(cli.redis_timeout_ms)));
    let cache = TieredCache::new(settings, l2);
    let shares = cache
        .plan_partitions(&manifest.cache_tenants())
        .map_err(|e| StartError::Serving(e.to_string()))?;
    cache.set_partitions(shares).await;
    let health = cache.l2_health().await;
    if health.configured && !health.healthy {
        tracing::warn!(
            status = health.status,
            "Redis is unreachable: serving from L1 and recomputation until it returns"
        );
    }
    Ok(cache)
}

async fn open_database(cli: &Cli, manifest: &Manifest) -> Result<Database, OpenError> {
    let settings = PoolSettings {
        max_connections: cli.db_max_connections.max(1),
        acquire_timeout: Duration::from_secs(cli.db_acquire_timeout_seconds.max(1)),
        row_limit: 1000,
        statement_timeout: Duration::from_millis(cli.sql_statement_timeout_ms.max(1)),
        // Without a component that uses SQL, a database user that cannot
        // create the component roles is no reason to refuse to start.
        require_component_roles: manifest
            .components
            .values()
            .any(|spec| spec.sql != crate::config::SqlGrant::None),
    };
    let database = match cli.database_url.as_deref().filter(|url| !url.is_empty()) {
        Some(url) => Database::postgres(url, settings).await?,
        None => Database::sqlite(&cli.sqlite_path, settings).await?,
    };
    tracing::info!(backend = database.backend(), "database ready");
    Ok(database)
}

//! The wasmtime engine and linker shared by every component.
//!
//! The pooling allocator pre-reserves instance slots so a fresh instance
//! per request is cheap; per `shared/notes/per-request-instances.md` most of
//! that cost is resetting memory, so slots keep a few MiB resident and are
//! decommitted in batches instead of being unmapped one by one.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    WasmBacktraceDetails,
};

use super::RuntimeError;
use super::state::HostState;

/// How often the epoch advances; deadlines are measured in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine sizing, from the CLI.
#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    /// Instance slots in the pool: at most this many instances exist at
    /// once, and each request in flight holds one.
    pub max_instances: u32,
    /// Largest linear memory one instance may grow to, in bytes.
    pub instance_memory_bytes: u64,
    /// Freed slots decommitted together (at least 1); larger batches mean
    /// fewer system calls but memory held a little longer.
    pub decommit_batch_size: usize,
}

/// Where compiled code is cached between starts (wasmtime keys entries by
/// the component's bytes and the engine's settings).
pub fn compile_cache(dir: &std::path::Path) -> Result<wasmtime::Cache, RuntimeError> {
    let mut config = wasmtime::CacheConfig::new();
    config.with_directory(dir);
    wasmtime::Cache::new(config)
        .map_err(|e| RuntimeError::Engine(format!("compile cache at {}: {e:#}", dir.display())))
}

/// Builds an engine tuned for one short-lived instance per request.
pub fn build_engine(
    settings: EngineSettings,
    cache_dir: Option<&std::path::Path>,
) -> Result<Engine, RuntimeError> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(settings.max_instances)
        .total_core_instances(settings.max_instances.saturating_mul(4))
        .total_memories(settings.max_instances.saturating_mul(2))
        .total_tables(settings.max_instances.saturating_mul(4))
        .total_stacks(settings.max_instances)
        .max_memory_size(usize::try_from(settings.instance_memory_bytes).unwrap_or(usize::MAX))
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(1 << 20)
        .decommit_batch_size(settings.decommit_batch_size.max(1))
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        // Set rather than read from WASMTIME_BACKTRACE_DETAILS: it is part
        // of the compile cache's key, and a compile worker, which starts
        // with an empty environment, must build the very same engine.
        .wasm_backtrace_details(WasmBacktraceDetails::Disable)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if let Some(dir) = cache_dir {
        config.cache(Some(compile_cache(dir)?));
    }
    Engine::new(&config).map_err(|e| RuntimeError::Engine(format!("{e:#}")))
}

/// Advances the engine's epoch until the engine is dropped.
pub fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("strata-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the epoch ticker; guest deadlines rely on the request timeout only"));
}

/// A linker offering WASI p2, wasi:http and every `strata:host` interface.
pub fn build_linker(engine: &Engine) -> Result<Arc<Linker<HostState>>, RuntimeError> {
    let mut linker = Linker::<HostState>::new(engine);
    let link = |e: wasmtime::Error| RuntimeError::Engine(format!("{e:#}"));
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link)?;
    crate::capabilities::link(&mut linker).map_err(link)?;
    Ok(Arc::new(linker))
}

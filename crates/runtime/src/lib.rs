//! The WebAssembly runtime: compiles components, checks them against what
//! the host offers, and runs one fresh instance per request (or, for a
//! component that opts in, reuses warm ones: [`warm`]).
//!
//! Guests are untrusted code, so everything between a loaded binary and a
//! served request (what it may import, how much memory and time it gets,
//! which instance state it can see) is decided here and nowhere else:
//! [`load`] refuses what could never serve, [`invoke`] runs each request
//! in its own store, [`capabilities`] hands out only what was granted, and
//! [`output`] takes what a guest prints into the log, never the response.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod capabilities;
mod compile;
mod engine;
mod error;
mod imports;
mod invoke;
mod load;
mod output;
mod registry;
mod state;
mod warm;

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Linker;

pub use capabilities::{Grants, Services};
pub use compile::{CompileWorker, compile_into_cache};
pub use engine::EngineSettings;
pub use error::RuntimeError;
pub use invoke::{InvokeError, RequestBody};
pub use output::RequestId;
pub use registry::{LoadedComponent, Registry};
pub use state::HostState;
pub use warm::{InstancePolicy, InstanceStats, Retirement, WarmPolicy};

/// What the manifest says about one component, parsed and checked once
/// when the manifest is loaded.
#[derive(Debug, Clone)]
pub struct ComponentPlan {
    /// What the component may touch.
    pub grants: Arc<Grants>,
    /// Its per-request budget; `None` takes the host default.
    pub timeout: Option<Duration>,
    /// GET paths requested once after loading, to prime its caches.
    pub warmup: Vec<String>,
    /// Fresh instance per request (the default) or warm instances reused.
    pub instances: InstancePolicy,
}

/// Sizing and policy for every instance.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Sizing of the engine's instance pool.
    pub engine: EngineSettings,
    /// Per-request budget of components whose manifest entry sets none.
    pub default_timeout: Duration,
    /// Compiled-code cache folder; `None` compiles at every start.
    pub compile_cache: Option<std::path::PathBuf>,
    /// Compiles large components in a child process into the cache (see
    /// [`CompileWorker`]); `None`, or no cache, compiles in process.
    pub compile_worker: Option<CompileWorker>,
    /// Most component requests admission lets run at once: parked warm
    /// instances may hold only the instance slots beyond those.
    pub max_running: usize,
    /// Whether each invocation gets a `component` span of its own (as a
    /// child of the caller's): set when the host exports traces, where the
    /// span is what shows an instance's share of a request; otherwise the
    /// span would only cost time on every request.
    pub component_spans: bool,
}

/// See the crate documentation.
pub struct Runtime {
    /// Instances alive (see [`state::InstanceGuard`]).
    active: Arc<std::sync::atomic::AtomicU64>,
    /// The host-wide bound on parked warm instances.
    parking: Arc<warm::ParkingSpace>,
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    services: Services,
    settings: RuntimeSettings,
}

impl Runtime {
    /// Builds the engine and linker and starts the epoch ticker thread (it
    /// stops when the engine is dropped). Fails only on settings wasmtime
    /// refuses ([`RuntimeError::Engine`]).
    pub fn new(settings: RuntimeSettings, services: Services) -> Result<Self, RuntimeError> {
        let engine = engine::build_engine(settings.engine, settings.compile_cache.as_deref())?;
        engine::start_epoch_ticker(&engine);
        let linker = engine::build_linker(&engine)?;
        Ok(Self {
            active: Arc::default(),
            parking: warm::ParkingSpace::new(warm::ParkingSpace::capacity_for(
                settings.engine.max_instances,
                settings.max_running,
            )),
            engine,
            linker,
            services,
            settings,
        })
    }

    /// Outbound figures per component and upstream.
    pub fn outbound_stats(&self) -> strata_upstream::OutboundStats {
        self.services.outbound.stats()
    }

    /// The outbound client, so start-up can tell it where this host listens.
    pub fn outbound(&self) -> &strata_upstream::Outbound {
        &self.services.outbound
    }

    /// Component instances alive right now.
    pub fn active_instances(&self) -> u64 {
        self.active.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Size of the instance pool.
    pub fn max_instances(&self) -> u32 {
        self.settings.engine.max_instances
    }

    pub(crate) fn services(&self) -> &Services {
        &self.services
    }

    pub(crate) fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }
}

/// A wasmtime error with its whole chain (traps, backtraces), escaped: it
/// quotes names from the guest's binary.
pub(crate) fn describe(error: &wasmtime::Error) -> String {
    strata_logtext::escape_controls(&format!("{error:#}")).into_owned()
}

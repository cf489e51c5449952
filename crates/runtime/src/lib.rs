//! The WebAssembly runtime: compiles components, checks them against what
//! the host offers, and runs one fresh instance per request.

#![forbid(unsafe_code)]

mod capabilities;
mod engine;
mod invoke;
mod registry;
mod state;

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

pub use capabilities::{Grants, Services};
pub use engine::EngineSettings;
pub use invoke::{InvokeError, RequestBody};
pub use registry::{LoadedComponent, Registry};
pub use state::HostState;

/// Why a component could not be loaded. Each names what to fix.
#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("wasm engine: {0}")]
    Engine(String),
    #[error("not a WebAssembly binary (missing the \\0asm header)")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component; build for wasm32-wasip2 \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("invalid component: {0}")]
    Compile(String),
    #[error("the component imports something this host does not offer: {0}")]
    UnsupportedImport(String),
    #[error("the component does not export wasi:http/incoming-handler: {0}")]
    WrongWorld(String),
    #[error("the component imports {import}, but its manifest entry grants no {capability}")]
    NotGranted {
        import: String,
        capability: &'static str,
    },
    #[error("the component fails when instantiated: {0}")]
    TrapsAtStart(String),
}

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
}

/// Sizing and policy for every instance.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    pub engine: EngineSettings,
    pub default_timeout: Duration,
    /// Compiled-code cache folder; `None` compiles at every start.
    pub compile_cache: Option<std::path::PathBuf>,
}

/// See the module documentation.
pub struct Runtime {
    /// Instances alive (see [`state::InstanceGuard`]).
    active: Arc<std::sync::atomic::AtomicU64>,
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    services: Services,
    settings: RuntimeSettings,
}

/// First eight bytes of a component binary: magic, then version 0x0d and
/// layer 1. A core module has version 1 and layer 0.
const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CORE_MODULE_LAYER: [u8; 2] = [0, 0];

impl Runtime {
    pub fn new(settings: RuntimeSettings, services: Services) -> Result<Self, RuntimeError> {
        let engine = engine::build_engine(settings.engine, settings.compile_cache.as_deref())?;
        engine::start_epoch_ticker(&engine);
        let linker = engine::build_linker(&engine)?;
        Ok(Self {
            active: Arc::default(),
            engine,
            linker,
            services,
            settings,
        })
    }

    /// Compiles and pre-instantiates `bytes` as component `name`, refusing
    /// anything that is not a `wasi:http` handler this host can satisfy.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        plan: &ComponentPlan,
    ) -> Result<LoadedComponent, RuntimeError> {
        if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
            return Err(RuntimeError::NotWasm);
        }
        if bytes[6..8] == CORE_MODULE_LAYER {
            return Err(RuntimeError::CoreModule);
        }
        let component =
            Component::new(&self.engine, bytes).map_err(|e| RuntimeError::Compile(describe(&e)))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::UnsupportedImport(describe(&e)))?;
        let pre = ProxyPre::new(pre).map_err(|e| RuntimeError::WrongWorld(describe(&e)))?;
        check_imports_are_granted(&self.engine, &component, &plan.grants)?;
        let hash = strata_digest::content_hash(bytes);
        Ok(LoadedComponent {
            name: name.into(),
            version: hash[..12].into(),
            hash,
            pre,
            grants: plan.grants.clone(),
            timeout: plan.timeout.unwrap_or(self.settings.default_timeout),
            warmup: plan.warmup.clone(),
        })
    }

    /// Instantiates `component` once and throws the instance away, so a
    /// component that traps while starting is refused before it serves.
    pub async fn check_instantiates(
        &self,
        component: &LoadedComponent,
    ) -> Result<(), RuntimeError> {
        let mut store = self.new_store(component);
        component
            .pre
            .instantiate_async(&mut store)
            .await
            .map(drop)
            .map_err(|e| RuntimeError::TrapsAtStart(describe(&e)))
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

/// Refuses a component that imports a `strata:host` capability its
/// manifest entry does not grant at all: such a component could only ever
/// fail, so it is better refused at deploy than at its first request.
fn check_imports_are_granted(
    engine: &Engine,
    component: &Component,
    grants: &Grants,
) -> Result<(), RuntimeError> {
    for (import, _) in component.component_type().imports(engine) {
        let Some(interface) = import
            .strip_prefix("strata:host/")
            .map(|rest| rest.split('@').next().unwrap_or(rest))
        else {
            continue;
        };
        if let Some(capability) = grants.missing_for(interface) {
            return Err(RuntimeError::NotGranted {
                import: import.to_string(),
                capability,
            });
        }
    }
    Ok(())
}

//! Why a component could not be loaded.
//!
//! Whoever deploys a component sees this error and has to act on it, so
//! each case names what to fix rather than where loading failed.

use thiserror::Error;

/// Why a component could not be loaded. Each names what to fix.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// wasmtime refused the engine settings, the compile cache or the
    /// linker: the host's configuration, not the component, needs fixing.
    #[error("wasm engine: {0}")]
    Engine(String),
    /// The bytes do not start with the WebAssembly magic number.
    #[error("not a WebAssembly binary (missing the \\0asm header)")]
    NotWasm,
    /// The binary is a core module; only components are loaded.
    #[error(
        "this is a core WebAssembly module, not a component; build for wasm32-wasip2 \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    /// wasmtime could not validate or compile the component.
    #[error("invalid component: {0}")]
    Compile(String),
    /// The component imports an interface (or version) this host does not
    /// link.
    #[error("the component imports something this host does not offer: {0}")]
    UnsupportedImport(String),
    /// The component does not export the `wasi:http` proxy world.
    #[error("the component does not export wasi:http/incoming-handler: {0}")]
    WrongWorld(String),
    /// The component imports a `strata:host` interface whose capability its
    /// manifest entry does not grant.
    #[error("the component imports {import}, but its manifest entry grants no {capability}")]
    NotGranted {
        /// The import as the component names it, version included.
        import: String,
        /// The manifest capability that would grant it.
        capability: &'static str,
    },
    /// Instantiating the component fails (its start code traps, say), so it
    /// could never serve.
    #[error("the component fails when instantiated: {0}")]
    TrapsAtStart(String),
}

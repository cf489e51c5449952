//! Loading a component: refusing, at deploy, what could never serve.
//!
//! A binary that is not a component, imports what the host does not offer,
//! exports no HTTP handler, imports a capability its manifest does not
//! grant, or traps while starting would only fail on every request; all of
//! that is checked once, before it is put in the registry.
//!
//! The grant is checked twice: from the import section before compiling
//! ([`imports`](crate::imports)), so a component that can never be
//! accepted costs milliseconds rather than a compile, and on the compiled
//! component's type, which is the check that counts.

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::capabilities::Grants;
use crate::compile::WorkerError;
use crate::error::RuntimeError;
use crate::imports;
use crate::registry::LoadedComponent;
use crate::warm::{InstancePolicy, WarmPool};
use crate::{ComponentPlan, Runtime, describe};

/// First eight bytes of a component binary: magic, then version 0x0d and
/// layer 1. A core module has version 1 and layer 0.
const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CORE_MODULE_LAYER: [u8; 2] = [0, 0];

/// Longest import name quoted in a refusal.
const MAX_QUOTED_NAME: usize = 200;

impl Runtime {
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
        match imports::top_level(bytes) {
            Ok(names) => {
                if let Some(refusal) = names.iter().find_map(|name| ungranted(name, &plan.grants)) {
                    return Err(refusal);
                }
            }
            Err(e) => tracing::debug!(
                component = name,
                error = %e,
                "imports not read before compiling; the compiler decides"
            ),
        }
        self.compile_in_worker(name, bytes)?;
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
            instances: plan.instances,
            warm: match plan.instances {
                InstancePolicy::Fresh => None,
                InstancePolicy::Warm(policy) => Some(WarmPool::new(
                    policy,
                    self.settings.engine.instance_memory_bytes,
                    self.parking.clone(),
                )),
            },
            started: Default::default(),
        })
    }

    /// Has a worker process compile a large component into the cache, so
    /// the compile below loads it from there (see [`crate::compile`]).
    fn compile_in_worker(&self, name: &str, bytes: &[u8]) -> Result<(), RuntimeError> {
        let (Some(worker), Some(cache)) =
            (&self.settings.compile_worker, &self.settings.compile_cache)
        else {
            return Ok(());
        };
        if bytes.len() < worker.min_bytes {
            return Ok(());
        }
        let started = std::time::Instant::now();
        match worker.compile(self.settings.engine, cache, bytes) {
            Ok(()) => tracing::info!(
                component = name,
                bytes = bytes.len(),
                ms = started.elapsed().as_millis() as u64,
                "compiled in a worker process"
            ),
            Err(WorkerError::Unavailable(reason)) => tracing::warn!(
                component = name,
                reason,
                "compiling in process instead of in a worker; the host keeps the compiler's memory"
            ),
            Err(WorkerError::Killed(reason)) => return Err(RuntimeError::Compile(reason)),
        }
        Ok(())
    }

    /// Instantiates `component` once and throws the instance away, so a
    /// component that traps while starting is refused before it serves.
    pub async fn check_instantiates(
        &self,
        component: &LoadedComponent,
    ) -> Result<(), RuntimeError> {
        let mut store = self.new_store(component, None);
        component
            .pre
            .instantiate_async(&mut store)
            .await
            .map(drop)
            .map_err(|e| RuntimeError::TrapsAtStart(describe(&e)))
    }
}

/// Refuses a compiled component that imports a `strata:host` capability
/// its manifest entry does not grant at all: such a component could only
/// ever fail, so it is better refused at deploy than at its first request.
fn check_imports_are_granted(
    engine: &Engine,
    component: &Component,
    grants: &Grants,
) -> Result<(), RuntimeError> {
    match component
        .component_type()
        .imports(engine)
        .find_map(|(import, _)| ungranted(import, grants))
    {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

/// The refusal of `import` if it names a `strata:host` interface, or a
/// `wasi:keyvalue` one (any draft), whose capability `grants` lacks
/// entirely. The name is quoted escaped: before compiling it has not been
/// validated.
fn ungranted(import: &str, grants: &Grants) -> Option<RuntimeError> {
    let interface = match import.strip_prefix("strata:host/") {
        Some(interface) => interface.split('@').next().unwrap_or(interface),
        None if import.starts_with("wasi:keyvalue/") => "keyvalue",
        None => return None,
    };
    let capability = grants.missing_for(interface)?;
    Some(RuntimeError::NotGranted {
        import: strata_logtext::bounded(import, MAX_QUOTED_NAME).into_owned(),
        capability,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyvalue_import_of_either_draft_needs_a_bucket() {
        let none = Grants::default();
        for import in [
            "wasi:keyvalue/store@0.2.0-draft2",
            "wasi:keyvalue/atomics@0.2.0-draft",
            "wasi:keyvalue/batch@0.2.0-draft2",
        ] {
            assert!(
                matches!(
                    ungranted(import, &none),
                    Some(RuntimeError::NotGranted {
                        capability: "keyvalue buckets",
                        ..
                    })
                ),
                "{import}"
            );
        }
        let granted = Grants {
            keyvalue: [("default".to_string(), "session:".to_string())].into(),
            ..Grants::default()
        };
        assert!(ungranted("wasi:keyvalue/store@0.2.0-draft2", &granted).is_none());
        assert!(ungranted("wasi:config/store@0.2.0-draft", &none).is_none());
    }
}

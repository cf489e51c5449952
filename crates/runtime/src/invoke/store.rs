//! The store one instance lives in.
//!
//! Isolation between requests comes from building a fresh store each time,
//! holding only this component's grants and limits, with the epoch
//! callback that enforces its deadline; loading checks use the same store
//! so a component is tested as it will run. A warm instance keeps its
//! store, and gets the next request's contexts, deadline and output
//! account instead.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;

use super::error::DeadlineExceeded;
use crate::Runtime;
use crate::capabilities::{self, Contexts, Instance};
use crate::output::{GuestOutput, Source, Stream};
use crate::registry::LoadedComponent;
use crate::state::{DenyDirectOutgoing, HostState, InstanceGuard, Limits};

/// The environment variable naming the component's version (its content
/// hash) to the guest: the SDK tags cached values with it, so a hit this
/// very version wrote needs no decode to be trusted.
pub(crate) const VERSION_VAR: &str = "STRATA_COMPONENT_VERSION";

/// Most resources one instance may hold at once. wasmtime's default is a
/// million (tens of MB of host memory per store, per request in flight,
/// and kept by a parked warm instance); a request needs a few dozen.
const MAX_RESOURCES: usize = 16_384;

fn resource_table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    table
}

impl Runtime {
    /// A store for a new instance of `component`; what the guest prints is
    /// logged under `request_id` (`None` outside a client request).
    pub(crate) fn new_store(
        &self,
        component: &LoadedComponent,
        request_id: Option<Arc<str>>,
    ) -> Store<HostState> {
        let memory =
            usize::try_from(self.settings().engine.instance_memory_bytes).unwrap_or(usize::MAX);
        let deadline = Instant::now() + component.timeout;
        let output = GuestOutput::new(source(component, request_id));
        let state = HostState {
            wasi: WasiCtx::builder()
                .env(VERSION_VAR, &component.hash)
                .stdout(output.stream(Stream::Stdout))
                .stderr(output.stream(Stream::Stderr))
                .build(),
            output,
            http: WasiHttpCtx::new(),
            http_hooks: DenyDirectOutgoing,
            table: resource_table(),
            limits: Limits::new(
                StoreLimitsBuilder::new()
                    .memory_size(memory)
                    .trap_on_grow_failure(false)
                    .build(),
            ),
            capabilities: self.contexts(component, deadline),
            deadline,
            _instance: InstanceGuard::new(self.active.clone()),
        };
        let mut store = Store::new(component.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|store| {
            if Instant::now() >= store.data().deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// Readies a parked warm instance's store for the next request: new
    /// capability contexts (grant, log budget), a new deadline and a new
    /// output account under `request_id`, so nothing of the previous
    /// request's host state carries over.
    pub(crate) fn reuse_store(
        &self,
        store: &mut Store<HostState>,
        component: &LoadedComponent,
        request_id: Option<Arc<str>>,
    ) {
        let deadline = Instant::now() + component.timeout;
        let contexts = self.contexts(component, deadline);
        store
            .data_mut()
            .begin_request(contexts, deadline, source(component, request_id));
        store.set_epoch_deadline(1);
    }

    fn contexts(&self, component: &LoadedComponent, deadline: Instant) -> Contexts {
        capabilities::prepare(
            self.services(),
            &Instance {
                component: &component.name,
                version: &component.version,
                grants: &component.grants,
                deadline,
            },
        )
    }
}

/// Whom `component`'s output is logged for.
fn source(component: &LoadedComponent, request_id: Option<Arc<str>>) -> Source {
    Source {
        component: component.name.clone(),
        version: component.version.clone(),
        request_id,
    }
}

//! The store one request's instance lives in.
//!
//! Isolation between requests comes from building a fresh store each time,
//! holding only this component's grants and limits, with the epoch
//! callback that enforces its deadline; loading checks use the same store
//! so a component is tested as it will run.

use std::time::Instant;

use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;

use super::error::DeadlineExceeded;
use crate::Runtime;
use crate::capabilities::{self, Instance};
use crate::registry::LoadedComponent;
use crate::state::{DenyDirectOutgoing, HostState, InstanceGuard};

impl Runtime {
    pub(crate) fn new_store(&self, component: &LoadedComponent) -> Store<HostState> {
        let services = self.services();
        let memory =
            usize::try_from(self.settings().engine.instance_memory_bytes).unwrap_or(usize::MAX);
        let deadline = Instant::now() + component.timeout;
        let state = HostState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            http_hooks: DenyDirectOutgoing,
            table: Default::default(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory)
                .trap_on_grow_failure(false)
                .build(),
            capabilities: capabilities::prepare(
                services,
                &Instance {
                    component: &component.name,
                    version: &component.version,
                    grants: &component.grants,
                    deadline,
                },
            ),
            _instance: InstanceGuard::new(self.active.clone()),
        };
        let mut store = Store::new(component.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }
}

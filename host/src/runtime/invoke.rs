//! One request, one fresh instance.
//!
//! A `Store` is built per request with the component's grants, the instance
//! comes from the pre-instantiated `ProxyPre` (pooling allocator, no linking
//! work), and the store is dropped when the response body is finished, so no
//! request ever sees another's memory. The guest runs under a wall-clock
//! deadline enforced with epoch interruption: it yields to the scheduler every
//! tick and is stopped once the deadline passes.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

use super::Runtime;
use super::registry::LoadedComponent;
use super::state::{
    CacheCapability, DenyDirectOutgoing, HostState, InstanceGuard, LogCapability,
    OutboundCapability, SqlCapability,
};

/// Body type handed to guests.
pub type RequestBody = http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// Why a request to a component produced no response of its own.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no instance available: {0}")]
    Instantiate(String),
    #[error("the component trapped: {0}")]
    Trap(String),
    #[error("the component ran past its {0} ms deadline")]
    Deadline(u128),
    #[error("the component finished without sending a response")]
    NoResponse,
    #[error("the component reported an error: {0:?}")]
    Guest(ErrorCode),
}

/// The marker error a deadline trap carries, to tell it from other traps.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

impl Runtime {
    pub(super) fn new_store(&self, component: &LoadedComponent) -> Store<HostState> {
        let services = self.services();
        let grants = component.grants.clone();
        let memory =
            usize::try_from(self.settings().engine.instance_memory_bytes).unwrap_or(usize::MAX);
        let state = HostState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            http_hooks: DenyDirectOutgoing,
            table: Default::default(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory)
                .trap_on_grow_failure(false)
                .build(),
            cache: CacheCapability {
                cache: services.cache.clone(),
                grants: grants.clone(),
            },
            sql: SqlCapability {
                database: services.database.clone(),
                grants: grants.clone(),
            },
            outbound: OutboundCapability {
                client: services.outbound.clone(),
                grants: grants.clone(),
            },
            config: grants,
            log: LogCapability {
                component: component.name.clone(),
                version: component.version.clone(),
                lines: 0,
            },
            _instance: InstanceGuard::new(self.active.clone()),
        };
        let mut store = Store::new(component.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        let deadline = Instant::now() + component.timeout;
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

    /// Runs `request` through a fresh instance of `component`.
    pub async fn invoke(
        &self,
        component: Arc<LoadedComponent>,
        request: hyper::Request<RequestBody>,
    ) -> Result<hyper::Response<HyperOutgoingBody>, InvokeError> {
        let started = Instant::now();
        let mut store = self.new_store(&component);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let (req, out) = {
            let mut http = store.data_mut().http();
            let req = http
                .new_incoming_request(Scheme::Http, request)
                .map_err(|e| InvokeError::Instantiate(format!("{e:#}")))?;
            let out = http
                .new_response_outparam(sender)
                .map_err(|e| InvokeError::Instantiate(format!("{e:#}")))?;
            (req, out)
        };
        let timeout = component.timeout;
        let task_component = component.clone();
        // The guest keeps running after it sends the response head, to stream
        // the body; the task owns the store until then.
        let task = tokio::spawn(tracing::Instrument::in_current_span(async move {
            let proxy = task_component
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| InvokeError::Instantiate(format!("{e:#}")))?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
                .map_err(|e| classify_trap(e, timeout))
        }));
        let outcome = tokio::time::timeout(timeout, receiver).await;
        let result = match outcome {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(code))) => Err(InvokeError::Guest(code)),
            Ok(Err(_)) => Err(match task.await {
                Ok(Ok(())) => InvokeError::NoResponse,
                Ok(Err(e)) => e,
                Err(join) => InvokeError::Trap(join.to_string()),
            }),
            Err(_) => {
                task.abort();
                Err(InvokeError::Deadline(timeout.as_millis()))
            }
        };
        tracing::debug!(
            component = &*component.name,
            version = &*component.version,
            elapsed_us = started.elapsed().as_micros() as u64,
            ok = result.is_ok(),
            "component invoked"
        );
        result
    }
}

fn classify_trap(error: wasmtime::Error, timeout: std::time::Duration) -> InvokeError {
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        return InvokeError::Deadline(timeout.as_millis());
    }
    InvokeError::Trap(format!("{error:#}"))
}

//! The per-request store state: WASI, the resource table, and the
//! capability contexts, each already narrowed to the component's grant.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::capabilities::{Contexts, HasCapabilities};
use crate::output::{GuestOutput, Source};

/// Direct `wasi:http/outgoing-handler` calls would bypass the host's
/// outbound policy (allow-list, retries, breaker), so they are refused;
/// components call out through `strata:host/outbound` instead.
#[derive(Default)]
pub(crate) struct DenyDirectOutgoing;

impl WasiHttpHooks for DenyDirectOutgoing {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        tracing::warn!(uri = %request.uri(), "direct wasi:http outgoing request refused; use strata:host/outbound");
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// Counts a live instance for as long as its store exists.
pub(crate) struct InstanceGuard(Arc<std::sync::atomic::AtomicU64>);

impl InstanceGuard {
    pub(crate) fn new(active: Arc<std::sync::atomic::AtomicU64>) -> Self {
        active.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(active)
    }
}

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The instance's memory and table limits, and how much linear memory it
/// holds: a warm instance that grew past its high-water mark is retired
/// rather than reused.
pub(crate) struct Limits {
    limits: StoreLimits,
    memory_bytes: u64,
    /// The growth last allowed, taken back if the grow then fails.
    last_growth: u64,
}

impl Limits {
    pub(crate) fn new(limits: StoreLimits) -> Self {
        Self {
            limits,
            memory_bytes: 0,
            last_growth: 0,
        }
    }

    /// Linear memory of every memory the instance created, in bytes.
    pub(crate) fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.last_growth = desired.saturating_sub(current) as u64;
            self.memory_bytes = self.memory_bytes.saturating_add(self.last_growth);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_bytes = self.memory_bytes.saturating_sub(self.last_growth);
        self.limits.memory_grow_failed(error)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// The data of one instance's `Store`. Everything tied to one request
/// (capability contexts with their grant, log budget and deadline, the
/// request id and budget its stdout and stderr are logged under) is
/// replaced by [`HostState::begin_request`] when a warm instance takes its
/// next request; the WASI context and limits belong to the instance.
pub struct HostState {
    pub(crate) wasi: WasiCtx,
    /// The guest's stdout and stderr (the `wasi` context writes into it).
    pub(crate) output: GuestOutput,
    pub(crate) http: WasiHttpCtx,
    pub(crate) http_hooks: DenyDirectOutgoing,
    pub(crate) table: ResourceTable,
    pub(crate) limits: Limits,
    pub(crate) capabilities: Contexts,
    /// When the current request's time is up; the epoch callback reads it.
    pub(crate) deadline: Instant,
    pub(crate) _instance: InstanceGuard,
}

impl HostState {
    /// Gives the instance a new request's contexts, deadline and output
    /// account.
    pub(crate) fn begin_request(
        &mut self,
        capabilities: Contexts,
        deadline: Instant,
        output: Source,
    ) {
        self.capabilities = capabilities;
        self.deadline = deadline;
        self.output.begin(output);
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl HasCapabilities for HostState {
    fn capabilities(&mut self) -> (&mut Contexts, &mut ResourceTable) {
        (&mut self.capabilities, &mut self.table)
    }
}

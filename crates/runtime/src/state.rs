//! The per-request store state: WASI, the resource table, and the
//! capability contexts, each already narrowed to the component's grant.

use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::capabilities::{Contexts, HasCapabilities};

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

/// The data of one request's `Store`.
pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) http_hooks: DenyDirectOutgoing,
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) capabilities: Contexts,
    pub(crate) _instance: InstanceGuard,
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

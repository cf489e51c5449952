//! The per-request store state: WASI, the resource table, and one field per
//! Strata capability, each already narrowed to the component's grant.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::cache::TieredCache;
use crate::config::SqlGrant;
use crate::data::Database;
use crate::upstream::{AllowedHost, Outbound};

/// What a component is allowed to touch, from its manifest entry.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub cache_prefixes: Vec<String>,
    pub sql: SqlGrant,
    pub outbound: Vec<AllowedHost>,
    pub config: BTreeMap<String, String>,
}

/// The shared resources capabilities are backed by.
#[derive(Clone)]
pub struct Services {
    pub cache: Arc<TieredCache>,
    pub database: Arc<Database>,
    pub outbound: Arc<Outbound>,
}

/// Cache access limited to granted key prefixes.
pub struct CacheCapability {
    pub cache: Arc<TieredCache>,
    pub grants: Arc<Grants>,
}

/// SQL access at the granted level, until the request's deadline: a
/// statement still running then is stopped by the database.
pub struct SqlCapability {
    pub database: Arc<Database>,
    pub grants: Arc<Grants>,
    pub deadline: Instant,
}

/// Outbound HTTP limited to allowed hosts. The component's name keys its
/// breakers and counters, so no component can trip another's.
pub struct OutboundCapability {
    pub client: Arc<Outbound>,
    pub component: Arc<str>,
    pub grants: Arc<Grants>,
}

/// Who is logging, so guest log lines are attributable, and how many
/// lines this request has written (they are capped).
pub struct LogCapability {
    pub component: Arc<str>,
    pub version: Arc<str>,
    pub lines: u32,
}

/// Direct `wasi:http/outgoing-handler` calls would bypass the host's
/// outbound policy (allow-list, retries, breaker), so they are refused;
/// components call out through `strata:host/outbound` instead.
#[derive(Default)]
pub struct DenyDirectOutgoing;

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
pub struct InstanceGuard(Arc<std::sync::atomic::AtomicU64>);

impl InstanceGuard {
    pub fn new(active: Arc<std::sync::atomic::AtomicU64>) -> Self {
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
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub http_hooks: DenyDirectOutgoing,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    pub cache: CacheCapability,
    pub sql: SqlCapability,
    pub outbound: OutboundCapability,
    pub config: Arc<Grants>,
    pub log: LogCapability,
    pub _instance: InstanceGuard,
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

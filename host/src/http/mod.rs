//! The public HTTP surface: accept connections, answer the host's own
//! endpoints, route everything else to a component.

mod admin;
pub mod auth;
pub mod error;
mod health;
pub mod limits;
pub mod metrics;
pub mod router;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tracing::Instrument;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::app::App;
use crate::runtime::RequestBody;
use auth::{AdminAccess, Verdict};
use error::ApiError;
use router::Routed;

/// What one listener serves.
#[derive(Clone)]
pub struct ListenerRole {
    /// How admin endpoints are guarded here (or that they are absent).
    pub admin: AdminAccess,
    /// Whether component routes are served here (not on the admin listener).
    pub components: bool,
}

/// Request headers the host sets for components; never taken from clients.
const PARAM_HEADER_PREFIX: &str = "strata-param-";
const ROUTE_HEADER: &str = "strata-route";

/// Endpoints the host answers itself, before component routes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostEndpoint {
    Page,
    Asset(&'static str),
    LiveFeed,
    Health,
    Metrics,
    OpenApi,
    CacheStats,
    ClearCache,
    ListComponents,
    Deploy(String),
    Rollback(String),
    Remove(String),
    PublishReport,
}

impl HostEndpoint {
    /// The endpoint for `method` and `path`; `Err` lists the methods the
    /// path accepts when it exists but not for this method.
    fn find(method: &hyper::Method, path: &str) -> Option<Result<Self, Vec<&'static str>>> {
        use hyper::Method as M;
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let found = match (segments.as_slice(), method) {
            ([], &M::GET) => Ok(Self::Page),
            (["app.css"], &M::GET) => Ok(Self::Asset("app.css")),
            (["app.js"], &M::GET) => Ok(Self::Asset("app.js")),
            (["ws"], &M::GET) => Ok(Self::LiveFeed),
            (["ws"], _) => Err(vec!["GET"]),
            (["health"], &M::GET) => Ok(Self::Health),
            (["health"], _) => Err(vec!["GET"]),
            (["metrics"], &M::GET) => Ok(Self::Metrics),
            (["metrics"], _) => Err(vec!["GET"]),
            (["openapi.json"], &M::GET) => Ok(Self::OpenApi),
            (["openapi.json"], _) => Err(vec!["GET"]),
            (["cache-stats"], &M::GET) => Ok(Self::CacheStats),
            (["cache-stats"], _) => Err(vec!["GET"]),
            (["clear-cache"], &M::POST) => Ok(Self::ClearCache),
            (["clear-cache"], _) => Err(vec!["POST"]),
            (["admin", "components"], &M::GET) => Ok(Self::ListComponents),
            (["admin", "components"], _) => Err(vec!["GET"]),
            (["admin", "components", name], &M::POST) => Ok(Self::Deploy(name.to_string())),
            (["admin", "components", name], &M::DELETE) => Ok(Self::Remove(name.to_string())),
            (["admin", "components", _], _) => Err(vec!["POST", "DELETE"]),
            (["admin", "components", name, "rollback"], &M::POST) => {
                Ok(Self::Rollback(name.to_string()))
            }
            (["admin", "components", _, "rollback"], _) => Err(vec!["POST"]),
            (["admin", "reports"], &M::POST) => Ok(Self::PublishReport),
            (["admin", "reports"], _) => Err(vec!["POST"]),
            _ => return None,
        };
        Some(found)
    }

    /// The metrics label for this endpoint (bounded: names are not labels).
    fn route_label(path: &str) -> &'static str {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        match segments.as_slice() {
            [] => "/",
            ["app.css"] => "/app.css",
            ["app.js"] => "/app.js",
            ["ws"] => "/ws",
            ["health"] => "/health",
            ["metrics"] => "/metrics",
            ["openapi.json"] => "/openapi.json",
            ["cache-stats"] => "/cache-stats",
            ["clear-cache"] => "/clear-cache",
            ["admin", "components"] => "/admin/components",
            ["admin", "components", _] => "/admin/components/{name}",
            ["admin", "components", _, "rollback"] => "/admin/components/{name}/rollback",
            ["admin", "reports"] => "/admin/reports",
            _ => "other",
        }
    }

    fn is_admin(path: &str) -> bool {
        path == "/clear-cache" || path.starts_with("/admin/")
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open
/// connections finish.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    role: ListenerRole,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Slow request heads are cut off before they tie up a connection task.
    // The exact head limit (a JSON 431) is checked per request in
    // `serve_one`; hyper's read buffer cap is only the hard memory bound
    // behind it (hyper answers a bare 431 past that).
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(app.header_read_timeout)
        .max_buf_size(app.max_header_bytes.saturating_mul(2).max(16 * 1024));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and similar: back off briefly
                    // rather than spinning or dying.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let role = role.clone();
        let service = hyper::service::service_fn(move |req| {
            let app = app.clone();
            let role = role.clone();
            async move { Ok::<_, Infallible>(handle(&app, &role, req, peer).await) }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    tracing::info!("shutting down: waiting for open connections");
    graceful.shutdown().await;
    Ok(())
}

/// Metrics labels of one request; bounded sets only (route patterns, not
/// paths), so random URLs cannot blow up the series count.
struct Labels {
    route: String,
    component: String,
}

/// Answers one request; never fails (errors become JSON responses). Every
/// request gets a `request` span (route, component, version, status, cache
/// outcome) and is counted in the request metrics.
pub async fn handle(
    app: &App,
    role: &ListenerRole,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "request",
        method = %method,
        path = %req.uri().path(),
        route = tracing::field::Empty,
        component = tracing::field::Empty,
        version = tracing::field::Empty,
        status = tracing::field::Empty,
        cache = tracing::field::Empty,
    );
    let mut labels = Labels {
        route: "unmatched".into(),
        component: "none".into(),
    };
    let response = serve_one(app, role, req, peer, &mut labels)
        .instrument(span.clone())
        .await;
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("x-strata-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    span.record("route", labels.route.as_str());
    span.record("component", labels.component.as_str());
    span.record("status", status);
    span.record("cache", cache);
    let elapsed = started.elapsed();
    app.requests
        .observe(&labels.route, &labels.component, &method, status, elapsed);
    tracing::debug!(parent: &span, elapsed_us = elapsed.as_micros() as u64, "request finished");
    response
}

async fn serve_one(
    app: &App,
    role: &ListenerRole,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    labels: &mut Labels,
) -> hyper::Response<HyperOutgoingBody> {
    let limit = app.max_header_bytes;
    if head_size(&req) > limit {
        return ApiError::HeadTooLarge { limit }.into_response();
    }
    if let Some(endpoint) = HostEndpoint::find(req.method(), req.uri().path()) {
        labels.route = HostEndpoint::route_label(req.uri().path()).into();
        labels.component = "host".into();
        return match host_endpoint(app, role, endpoint, req, peer).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        };
    }
    if !role.components {
        return ApiError::NotFound {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
        }
        .into_response();
    }
    let limit = app.max_body_bytes;
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return ApiError::PayloadTooLarge { limit }.into_response();
    }
    let req = req.map(|body| limit_body(body, limit));
    match dispatch_labelled(app, req, Some(labels)).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// The size of the request line and headers as sent on HTTP/1.1 (the same
/// measure for HTTP/2, whose compressed head would otherwise dodge it).
fn head_size<B>(req: &hyper::Request<B>) -> usize {
    // "METHOD SP target SP HTTP/1.1 CRLF" ... "CRLF"
    let line = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |pq| pq.as_str().len())
        + " HTTP/1.1\r\n ".len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum();
    line + headers + 2
}

/// A complete in-memory body, of the one body type used both for requests
/// handed to guests and for responses.
pub fn full_body(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty_body() -> HyperOutgoingBody {
    full_body(Bytes::new())
}

fn text_response(content_type: &'static str, text: String) -> hyper::Response<HyperOutgoingBody> {
    let mut response = hyper::Response::new(full_body(text));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

async fn host_endpoint(
    app: &App,
    role: &ListenerRole,
    endpoint: Result<HostEndpoint, Vec<&'static str>>,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    if HostEndpoint::is_admin(&path) {
        let authorization = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match auth::check(&role.admin, authorization) {
            Verdict::Allowed => {}
            Verdict::NotHere => return Err(ApiError::NotFound { method, path }),
            Verdict::Unauthorized => {
                tracing::warn!(%peer, %path, presented = authorization.is_some(), "admin request refused: bad or missing token");
                return Err(ApiError::Unauthorized);
            }
        }
    }
    let endpoint = endpoint.map_err(|allowed| ApiError::MethodNotAllowed {
        method,
        allowed: allowed.into_iter().map(str::to_string).collect(),
    })?;
    match endpoint {
        HostEndpoint::Page | HostEndpoint::Asset(_) | HostEndpoint::LiveFeed
            if !role.components =>
        {
            Err(ApiError::NotFound {
                method: req.method().to_string(),
                path: req.uri().path().to_string(),
            })
        }
        HostEndpoint::Page => Ok(text_response(
            "text/html; charset=utf-8",
            include_str!("../../assets/index.html").to_string(),
        )),
        HostEndpoint::Asset(name) => Ok(match name {
            "app.css" => text_response(
                "text/css; charset=utf-8",
                include_str!("../../assets/app.css").to_string(),
            ),
            _ => text_response(
                "text/javascript; charset=utf-8",
                include_str!("../../assets/app.js").to_string(),
            ),
        }),
        HostEndpoint::LiveFeed => crate::live::upgrade(app.live.clone(), req),
        HostEndpoint::Health => Ok(health::report(app).await),
        HostEndpoint::Metrics => Ok(text_response(
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::render(app).await,
        )),
        HostEndpoint::OpenApi => Ok(text_response(
            "application/json",
            include_str!("openapi.json").to_string(),
        )),
        HostEndpoint::CacheStats => Ok(admin::cache_stats(app).await),
        HostEndpoint::ClearCache => admin::clear_cache(app, req.uri().query()).await,
        HostEndpoint::ListComponents => admin::list_components(app).await,
        HostEndpoint::Deploy(name) => admin::deploy(app, &name, req.into_body()).await,
        HostEndpoint::Rollback(name) => admin::rollback(app, &name).await,
        HostEndpoint::Remove(name) => admin::remove(app, &name).await,
        HostEndpoint::PublishReport => admin::create_report(app, req.into_body()).await,
    }
}

/// Caps a streamed body so a client cannot push more than `limit` bytes
/// into a guest by omitting Content-Length.
fn limit_body(body: Incoming, limit: u64) -> RequestBody {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    Limited::new(body, limit)
        .map_err(move |e| match e.downcast::<hyper::Error>() {
            Ok(e) => wasmtime_wasi_http::Error::from(*e),
            Err(_) => wasmtime_wasi_http::Error::HttpRequestBodySize(Some(limit as u64)),
        })
        .boxed_unsync()
}

/// Routes a request to its component and runs it.
pub async fn dispatch(
    app: &App,
    req: hyper::Request<RequestBody>,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    dispatch_labelled(app, req, None).await
}

async fn dispatch_labelled(
    app: &App,
    mut req: hyper::Request<RequestBody>,
    labels: Option<&mut Labels>,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let matched = match app.router.route(&method, &path) {
        Routed::Found(matched) => matched,
        Routed::MethodNotAllowed(allowed) => {
            return Err(ApiError::MethodNotAllowed { method, allowed });
        }
        Routed::NotFound => return Err(ApiError::NotFound { method, path }),
    };
    if let Some(labels) = labels {
        labels.route = matched.pattern.to_string();
        labels.component = matched.component.to_string();
    }
    let component = app
        .registry
        .get(matched.component)
        .ok_or_else(|| ApiError::ComponentMissing(matched.component.to_string()))?;
    let permits = app.limits.admit(matched.component)?;
    tracing::Span::current().record("version", &*component.version);

    let headers = req.headers_mut();
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("strata-"))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    for (name, value) in &matched.params {
        let header = if *name == "*" {
            format!("{PARAM_HEADER_PREFIX}wildcard")
        } else {
            format!("{PARAM_HEADER_PREFIX}{name}")
        };
        if let (Ok(header), Ok(value)) = (
            HeaderName::from_bytes(header.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(header, value);
        }
    }
    if let Ok(route) = HeaderValue::from_str(matched.pattern) {
        headers.insert(ROUTE_HEADER, route);
    }
    if !headers.contains_key(hyper::header::HOST) {
        headers.insert(hyper::header::HOST, HeaderValue::from_static("localhost"));
    }
    tracing::debug!(component = matched.component, route = matched.pattern, %method, %path, "dispatch");
    let response = app.runtime.invoke(component, req).await?;
    Ok(response.map(|body| limits::hold(body, permits)))
}

/// Requests each component's warm-up paths once, so caches such as the
/// latest report are primed before traffic arrives.
pub async fn warm_up(app: &App) {
    for component in app.registry.all() {
        for path in &component.warmup {
            let request = hyper::Request::builder()
                .method(hyper::Method::GET)
                .uri(path.as_str())
                .header(hyper::header::HOST, "localhost")
                .body(empty_body());
            let Ok(request) = request else {
                tracing::warn!(component = &*component.name, path, "invalid warm-up path");
                continue;
            };
            match dispatch(app, request).await {
                Ok(response) => {
                    let status = response.status();
                    // Drain the body so the guest finishes and its cache
                    // writes complete.
                    let _ = response.into_body().collect().await;
                    tracing::info!(component = &*component.name, path, %status, "warm-up request done");
                }
                Err(e) => {
                    tracing::warn!(component = &*component.name, path, error = %e, "warm-up request failed")
                }
            }
        }
    }
}

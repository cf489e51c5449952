//! The public HTTP surface: accept connections, answer the host's own
//! endpoints ([`endpoints`]), route everything else to a component
//! ([`dispatch`]).

mod admin;
pub mod auth;
mod cached;
mod conn;
mod dispatch;
pub mod endpoints;
pub mod error;
mod health;
pub mod limits;
pub mod metrics;
mod openapi;
pub(crate) mod origin;
pub mod router;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tracing::Instrument;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::app::App;
use auth::{AdminAccess, Verdict};
pub use conn::{ConnectionSettings, fit_descriptors};
pub use dispatch::{dispatch, warm_up};
use endpoints::Kind;
use error::ApiError;

/// What one listener serves.
#[derive(Clone)]
pub struct ListenerRole {
    /// How admin endpoints are guarded here (or that they are absent).
    pub admin: AdminAccess,
    /// Whether component routes are served here (not on the admin listener).
    pub components: bool,
}

/// The header carrying the id the host gives every request; error bodies
/// repeat it so a client's report leads to the operator's log line.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    /// The id of the request being answered, for error bodies.
    static REQUEST_ID: Arc<str>;
}

/// The current request's id, inside [`handle`].
pub fn request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// A new request id: unique per process (a counter) and unlikely to repeat
/// across instances (a per-process random-enough start).
fn next_request_id() -> Arc<str> {
    static NEXT: std::sync::OnceLock<AtomicU64> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        AtomicU64::new((u64::from(std::process::id()) << 32 | u64::from(nanos)) << 8)
    });
    format!("{:016x}", next.fetch_add(1, Ordering::Relaxed)).into()
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open
/// connections finish for at most the app's shutdown grace period.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    role: ListenerRole,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limits = app.connections;
    let slots = conn::ConnectionSlots::new(&limits);
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
    // HTTP/2: a bounded number of streams, bounded header lists, and pings
    // that drop a peer which stops answering.
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(limits.max_streams())
        .max_header_list_size(u32::try_from(app.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and similar: back off briefly
                    // rather than spinning or dying.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = slots.try_open() else {
            app.requests.connection_refused();
            tracing::debug!(%peer, "connection refused: too many open connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = conn::Connection::new(&limits);
        let service = {
            let (app, role, connection) = (app.clone(), role.clone(), connection.clone());
            hyper::service::service_fn(move |req| {
                let app = app.clone();
                let role = role.clone();
                let activity = connection.begin();
                let connection = connection.clone();
                async move {
                    let response = handle(&app, &role, &connection, req, peer).await;
                    Ok::<_, Infallible>(conn::track(response, activity))
                }
            })
        };
        let served = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let served = graceful.watch(served.into_owned());
        tokio::spawn(async move {
            tokio::select! {
                outcome = served => if let Err(e) = outcome {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                },
                reason = conn::watchdog(connection, limits) => {
                    tracing::debug!(%peer, reason, "connection closed by the host");
                }
            }
            drop(slot);
        });
    }
    tracing::info!("shutting down: waiting for open connections");
    if tokio::time::timeout(app.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?app.shutdown_grace,
            "connections still open after the shutdown grace period; closing them"
        );
    }
    Ok(())
}

/// Metrics labels of one request; bounded sets only (route patterns, not
/// paths), so random URLs cannot blow up the series count.
pub(crate) struct Labels {
    route: String,
    component: String,
}

/// Answers one request; never fails (errors become JSON responses). Every
/// request gets an id (`x-request-id`), a `request` span (route, component,
/// version, status, cache outcome) and is counted in the request metrics.
async fn handle(
    app: &App,
    role: &ListenerRole,
    connection: &conn::Connection,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    let started = std::time::Instant::now();
    let id = next_request_id();
    let method = metrics::method_label(req.method());
    let span = tracing::info_span!(
        "request",
        id = &*id,
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
    let mut response = REQUEST_ID
        .scope(
            id.clone(),
            serve_one(app, role, connection, req, peer, &mut labels),
        )
        .instrument(span.clone())
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
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
        .observe(&labels.route, &labels.component, method, status, elapsed);
    tracing::debug!(parent: &span, elapsed_us = elapsed.as_micros() as u64, "request finished");
    response
}

async fn serve_one(
    app: &App,
    role: &ListenerRole,
    connection: &conn::Connection,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    labels: &mut Labels,
) -> hyper::Response<HyperOutgoingBody> {
    let limit = app.max_header_bytes;
    if head_size(&req) > limit {
        return ApiError::HeadTooLarge { limit }.into_response();
    }
    // Which name was addressed decides admin access and same-origin
    // checks; a request that names two is refused (RFC 9112, 3.2).
    if req
        .headers()
        .get_all(hyper::header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        return ApiError::BadRequest("more than one Host header".into()).into_response();
    }
    let outcome = match endpoints::find(req.uri().path()) {
        Some(matched) => {
            labels.route = matched.endpoint.path.into();
            labels.component = "host".into();
            let name = matched.name.map(str::to_string);
            host_endpoint(app, role, matched.endpoint, name, req, peer).await
        }
        None => dispatch::from_client(app, role, connection, req, peer, labels).await,
    };
    outcome.unwrap_or_else(ApiError::into_response)
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

fn text_response(
    content_type: &'static str,
    text: impl Into<Bytes>,
) -> hyper::Response<HyperOutgoingBody> {
    let mut response = hyper::Response::new(full_body(text));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

/// Refuses a request for an admin endpoint (or admin-only route) that this
/// listener does not serve or this caller may not use.
fn require_admin<B>(
    role: &ListenerRole,
    req: &hyper::Request<B>,
    peer: SocketAddr,
) -> Result<(), ApiError> {
    match auth::check(&role.admin, req) {
        Verdict::Allowed => Ok(()),
        Verdict::NotHere => Err(ApiError::NotFound {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
        }),
        Verdict::Unauthorized => {
            let presented = req.headers().contains_key(hyper::header::AUTHORIZATION);
            tracing::warn!(%peer, path = %req.uri().path(), presented, "admin request refused: bad or missing token");
            Err(ApiError::Unauthorized)
        }
        Verdict::Forbidden(reason) => {
            tracing::warn!(%peer, path = %req.uri().path(), reason, "admin request refused");
            Err(ApiError::Forbidden(reason.into()))
        }
    }
}

async fn host_endpoint(
    app: &App,
    role: &ListenerRole,
    endpoint: &'static endpoints::Endpoint,
    name: Option<String>,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let not_found = || ApiError::NotFound {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
    };
    // Past the admin check on a token listener, the caller presented the
    // token; nowhere else does anything show who sent the request.
    let by_token = if endpoint.is_admin() {
        require_admin(role, &req, peer)?;
        role.admin.checks_token()
    } else {
        false
    };
    if endpoint.public_listener_only && !role.components {
        return Err(not_found());
    }
    if !endpoint.allows(req.method()) {
        return Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allowed: endpoint.allowed(by_token),
        });
    }
    if endpoint.needs_token(req.method()) && !by_token {
        tracing::warn!(%peer, path = %req.uri().path(), method = %req.method(), "state-changing request refused: no bearer token");
        return Err(ApiError::NeedsToken {
            method: req.method().to_string(),
            path: endpoint.path,
            allowed: endpoint.allowed(false),
        });
    }
    let name = name.unwrap_or_default();
    match endpoint.kind {
        Kind::Page => Ok(text_response(
            "text/html; charset=utf-8",
            include_str!("../../assets/index.html"),
        )),
        Kind::Stylesheet => Ok(text_response(
            "text/css; charset=utf-8",
            include_str!("../../assets/app.css"),
        )),
        Kind::Script => Ok(text_response(
            "text/javascript; charset=utf-8",
            include_str!("../../assets/app.js"),
        )),
        Kind::LiveFeed => crate::live::upgrade(app.live.clone(), req),
        Kind::Health => Ok(health::report(app).await),
        Kind::Metrics => Ok(text_response(
            "text/plain; version=0.0.4; charset=utf-8",
            app.scrapes.document(app).await,
        )),
        Kind::OpenApi => Ok(text_response("application/json", openapi::document())),
        Kind::CacheStats => Ok(admin::cache_stats(app).await),
        Kind::ClearCache => admin::clear_cache(app, req.uri().query()).await,
        Kind::CachedSummary => cached::dashboard_summary(app).await,
        Kind::ListComponents => admin::list_components(app).await,
        Kind::Component if req.method() == hyper::Method::DELETE => admin::remove(app, &name).await,
        Kind::Component => admin::deploy(app, &name, req).await,
        Kind::Rollback => admin::rollback(app, &name).await,
        Kind::PublishReport => admin::create_report(app, req).await,
    }
}

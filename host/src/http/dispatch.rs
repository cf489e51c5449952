//! Requests for component routes: route, read the body, admit, pass the
//! match on, invoke.
//!
//! The body is read in full (it is bounded by `STRATA_MAX_BODY_BYTES`)
//! before any admission permit is taken, under its own deadline: a client
//! that trickles its body, or declares one and never sends it, then holds
//! only its own connection, never a slot other clients need.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::conn::Connection;
use super::error::ApiError;
use super::router::{RouteMatch, Routed};
use super::{Labels, ListenerRole, require_admin};
use crate::app::App;
use strata_runtime::RequestBody;

/// Request headers the host sets for components; never taken from clients.
const PARAM_HEADER_PREFIX: &str = "strata-param-";
const ROUTE_HEADER: &str = "strata-route";

/// A client's request for a component route. Admin-only routes need the
/// same access as admin endpoints; the admin listener serves nothing else.
pub(super) async fn from_client(
    app: &App,
    role: &ListenerRole,
    connection: &Connection,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    labels: &mut Labels,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let matched = match app.router.route(&method, &path) {
        Routed::Found(matched) if matched.admin || role.components => matched,
        Routed::MethodNotAllowed(allowed) => {
            let guarded = app.router.guards(&path);
            if guarded {
                require_admin(role, &req, peer)?;
            }
            if !(guarded || role.components) {
                return Err(ApiError::NotFound { method, path });
            }
            return Err(ApiError::MethodNotAllowed { method, allowed });
        }
        _ => return Err(ApiError::NotFound { method, path }),
    };
    labels.route = matched.pattern.to_string();
    labels.component = matched.component.to_string();
    if matched.admin {
        require_admin(role, &req, peer)?;
    }
    let limit = app.max_body_bytes;
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let (parts, body) = req.into_parts();
    let body = read_body(body, limit, app.body_read_timeout).await?;
    let slot = connection.try_permit().ok_or(ApiError::Overloaded(None))?;
    invoke(app, matched, hyper::Request::from_parts(parts, body), slot).await
}

/// The whole request body, at most `limit` bytes, within `timeout`: more
/// is a 413, a body still arriving at the deadline a 408.
async fn read_body(
    body: Incoming,
    limit: u64,
    timeout: std::time::Duration,
) -> Result<RequestBody, ApiError> {
    if body.is_end_stream() {
        return Ok(super::empty_body());
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    match tokio::time::timeout(timeout, Limited::new(body, cap).collect()).await {
        Ok(Ok(collected)) => Ok(super::full_body(collected.to_bytes())),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Ok(Err(e)) => Err(ApiError::BadRequest(format!(
            "cannot read the request body: {e}"
        ))),
        Err(_) => Err(ApiError::RequestTimeout(timeout.as_secs())),
    }
}

/// Routes a request the host itself makes (the dashboard scheduler, warm-up)
/// and runs it; admin-only routes are open to it.
pub async fn dispatch(
    app: &App,
    req: hyper::Request<RequestBody>,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    match app.router.route(&method, &path) {
        Routed::Found(matched) => invoke(app, matched, req, ()).await,
        Routed::MethodNotAllowed(allowed) => Err(ApiError::MethodNotAllowed { method, allowed }),
        Routed::NotFound => Err(ApiError::NotFound { method, path }),
    }
}

/// Admits and runs a routed request. `slot` (and the admission permits) are
/// held while the guest runs, and released as soon as it is done, even if
/// the client is slow to take the response.
async fn invoke(
    app: &App,
    matched: RouteMatch<'_>,
    mut req: hyper::Request<RequestBody>,
    slot: impl Send + 'static,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
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
    tracing::debug!(component = matched.component, route = matched.pattern, method = %req.method(), path = %req.uri().path(), "dispatch");
    Ok(app.runtime.invoke(component, req, (permits, slot)).await?)
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
                .body(super::empty_body());
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

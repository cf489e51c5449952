//! A client's request for a component route: the HTTP side of it (admin
//! access, body limits), before the dispatcher admits and runs it.
//!
//! The body is read in full (it is bounded by `STRATA_MAX_BODY_BYTES`)
//! before any admission permit is taken, under its own deadline: a client
//! that trickles its body, or declares one and never sends it, then holds
//! only its own connection, never a slot other clients need.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::conn::Connection;
use super::error::ApiError;
use super::metrics::Labels;
use super::{ClientBody, ListenerRole, Server, auth};
use crate::routes::Routed;
use strata_runtime::{RequestBody, RequestId};

/// A client's request for a component route. Admin-only routes need the
/// same access as admin endpoints; the admin listener serves nothing else.
pub(super) async fn from_client<B: ClientBody>(
    server: &Server,
    role: &ListenerRole,
    connection: &Connection,
    req: hyper::Request<B>,
    peer: SocketAddr,
    labels: &mut Labels,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let app = &*server.app;
    let serving = app.dispatcher.current();
    let router = serving.router();
    let matched = match router.route(&method, &path) {
        Routed::Found(matched) if matched.admin || role.components => matched,
        Routed::MethodNotAllowed(allowed) => {
            let guarded = router.guards(&path);
            if guarded {
                auth::require(role, &req, peer)?;
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
        auth::require(role, &req, peer)?;
    }
    let limit = server.settings.max_body_bytes;
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let (mut parts, body) = req.into_parts();
    // The guest's output is logged under the id the client is shown.
    if let Some(id) = super::request_id() {
        parts.extensions.insert(RequestId(id));
    }
    let body = read_body(body, limit, server.settings.body_read_timeout).await?;
    // A manifest deploy while the body arrived: the request runs on the
    // app as it is now (a removed route is gone, a revoked grant revoked),
    // and a slow body does not keep the old app alive.
    let latest = app.dispatcher.current();
    let rerouted;
    let (serving, matched) = if Arc::ptr_eq(&latest, &serving) {
        (&serving, matched)
    } else {
        rerouted = latest;
        match rerouted.router().route(&method, &path) {
            Routed::Found(now) if now.admin == matched.admin && (now.admin || role.components) => {
                (&rerouted, now)
            }
            _ => return Err(ApiError::NotFound { method, path }),
        }
    };
    let slot = connection.try_permit().ok_or(ApiError::Overloaded(None))?;
    Ok(app
        .dispatcher
        .run(
            serving,
            matched,
            hyper::Request::from_parts(parts, body),
            slot,
        )
        .await?)
}

/// The whole request body, at most `limit` bytes, within `timeout`: more
/// is a 413, a body still arriving at the deadline a 408.
async fn read_body<B: ClientBody>(
    body: B,
    limit: u64,
    timeout: std::time::Duration,
) -> Result<RequestBody, ApiError> {
    if body.is_end_stream() {
        return Ok(crate::body::empty());
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    match tokio::time::timeout(timeout, Limited::new(body, cap).collect()).await {
        Ok(Ok(collected)) => Ok(crate::body::full(collected.to_bytes())),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Ok(Err(e)) => Err(ApiError::BadRequest(format!(
            "cannot read the request body: {e}"
        ))),
        Err(_) => Err(ApiError::RequestTimeout(timeout.as_secs())),
    }
}

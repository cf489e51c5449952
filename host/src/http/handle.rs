//! One request, start to finish: its id and span, the head checks, the
//! choice between a host endpoint and a component route, and its metrics.
//! It never fails: errors become JSON responses here.

use std::net::SocketAddr;

use hyper::header::HeaderValue;
use tracing::Instrument;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::error::ApiError;
use super::metrics::{self, Labels};
use super::{ClientBody, ListenerRole, Server, component, conn, endpoint, request_id};
use crate::routes::endpoints;

/// Answers one request; never fails (errors become JSON responses). Every
/// request gets an id (`x-request-id`), a `request` span (route, component,
/// version, status, cache outcome; exported with its client's trace as its
/// parent when traces are) and is counted in the request metrics.
pub(super) async fn handle<B: ClientBody>(
    server: &Server,
    role: &ListenerRole,
    connection: &conn::Connection,
    req: hyper::Request<B>,
    peer: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    let started = std::time::Instant::now();
    let id = request_id::next_request_id();
    let method = metrics::method_label(req.method());
    let span = tracing::info_span!(
        "request",
        id = &*id,
        method = %method,
        path = %req.uri().path(),
        "otel.kind" = tracing::field::Empty,
        route = tracing::field::Empty,
        component = tracing::field::Empty,
        version = tracing::field::Empty,
        status = tracing::field::Empty,
        cache = tracing::field::Empty,
    );
    // Only when spans are exported: a client's trace becomes this span's
    // parent (see `telemetry::context`).
    if server.app.telemetry.traces() {
        span.record("otel.kind", "server");
        crate::telemetry::adopt_parent(&span, req.headers());
    }
    let mut labels = Labels {
        route: "unmatched".into(),
        component: "none".into(),
    };
    let mut response = request_id::REQUEST_ID
        .scope(
            id.clone(),
            serve_one(server, role, connection, req, peer, &mut labels),
        )
        .instrument(span.clone())
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(request_id::REQUEST_ID_HEADER, value);
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
    server
        .requests
        .observe(&labels.route, &labels.component, method, status, elapsed);
    tracing::debug!(parent: &span, elapsed_us = elapsed.as_micros() as u64, "request finished");
    response
}

async fn serve_one<B: ClientBody>(
    server: &Server,
    role: &ListenerRole,
    connection: &conn::Connection,
    req: hyper::Request<B>,
    peer: SocketAddr,
    labels: &mut Labels,
) -> hyper::Response<HyperOutgoingBody> {
    let limit = server.settings.max_header_bytes;
    if head_size(&req) > limit {
        return ApiError::HeadTooLarge { limit }.into_response();
    }
    // Which name was addressed decides admin access and same-origin
    // checks; a request that names two is refused (RFC 9112, 3.2), and so
    // is a name that is not visible ASCII, which no host name is and which
    // wasi:http could not hand to a component.
    let mut hosts = req.headers().get_all(hyper::header::HOST).iter();
    if hosts.next().is_some_and(|host| host.to_str().is_err()) {
        return ApiError::BadRequest("the Host header is not a host name".into()).into_response();
    }
    if hosts.next().is_some() {
        return ApiError::BadRequest("more than one Host header".into()).into_response();
    }
    let outcome = match endpoints::find(req.uri().path()) {
        Some(matched) => {
            labels.route = matched.endpoint.path.into();
            labels.component = "host".into();
            let name = matched.name.map(str::to_string);
            endpoint::answer(server, role, matched.endpoint, name, req, peer).await
        }
        None => component::from_client(server, role, connection, req, peer, labels).await,
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

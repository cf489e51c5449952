//! The host's own endpoints: access and method checks from the endpoint's
//! entry in the table (`routes::endpoints`), then its handler.

use std::net::SocketAddr;

use bytes::Bytes;
use hyper::header::HeaderValue;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::error::ApiError;
use super::{ClientBody, ListenerRole, Server, admin, apps, auth, cached, feed, health, openapi};
use crate::routes::endpoints::{self, Kind};

pub(super) async fn answer<B: ClientBody>(
    server: &Server,
    role: &ListenerRole,
    endpoint: &'static endpoints::Endpoint,
    name: Option<String>,
    req: hyper::Request<B>,
    peer: SocketAddr,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let not_found = || ApiError::NotFound {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
    };
    // Past the admin check on a token listener, the caller presented the
    // token; nowhere else does anything show who sent the request.
    let by_token = if endpoint.is_admin() {
        auth::require(role, &req, peer)?;
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
    let app = &*server.app;
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
        Kind::LiveFeed => feed::upgrade(app.live.clone(), req),
        Kind::Health => Ok(health::report(app).await),
        Kind::Metrics => Ok(text_response(
            "text/plain; version=0.0.4; charset=utf-8",
            server.scrapes.document(app, &server.requests).await,
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
        Kind::Apps if req.method() == hyper::Method::GET => apps::status(app).await,
        Kind::Apps => apps::deploy(app, req).await,
        Kind::AppRollback => apps::rollback(app).await,
        Kind::Instances => apps::instances(app).await,
    }
}

fn text_response(
    content_type: &'static str,
    text: impl Into<Bytes>,
) -> hyper::Response<HyperOutgoingBody> {
    let mut response = hyper::Response::new(crate::body::full(text));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

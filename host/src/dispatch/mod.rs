//! Running a routed request: route -> registry -> admission -> invoke.
//!
//! The HTTP layer (client requests), the dashboard scheduler and warm-up
//! all come through here, so a component request is admitted, stamped and
//! run the same way whoever makes it; only the HTTP layer speaks HTTP to
//! clients (body limits, admin access, status codes).

mod limits;
mod serving;
mod warmup;

use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use thiserror::Error;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use arc_swap::ArcSwap;

use crate::routes::{RouteMatch, Routed};
use strata_runtime::{InvokeError, RequestBody, Runtime};

pub use limits::{ComponentLimits, Limits, Permits};
pub use serving::Serving;

/// Request headers the host sets for components; never taken from clients.
const PARAM_HEADER_PREFIX: &str = "strata-param-";
const ROUTE_HEADER: &str = "strata-route";

/// Why a routed request produced no response of the component's own.
#[derive(Debug, Error)]
pub enum DispatchError {
    #[error("no route for {method} {path}")]
    NotFound { method: String, path: String },
    #[error("{method} is not allowed here; allowed: {}", allowed.join(", "))]
    MethodNotAllowed {
        method: String,
        allowed: Vec<String>,
    },
    #[error("component '{0}' is not deployed")]
    ComponentMissing(String),
    #[error("too many requests in progress{}; retry shortly", .0.as_deref().map(|c| format!(" for component '{c}'")).unwrap_or_default())]
    Overloaded(Option<String>),
    #[error(transparent)]
    Invoke(#[from] InvokeError),
}

/// The active manifest's routes and components, and the admission
/// limits, in front of the runtime.
pub struct Dispatcher {
    serving: ArcSwap<Serving>,
    limits: Limits,
    runtime: Arc<Runtime>,
}

impl Dispatcher {
    pub fn new(serving: Serving, limits: Limits, runtime: Arc<Runtime>) -> Self {
        Self {
            serving: ArcSwap::from_pointee(serving),
            limits,
            runtime,
        }
    }

    /// What the active manifest serves; a request keeps the one it loaded.
    pub fn current(&self) -> Arc<Serving> {
        self.serving.load_full()
    }

    /// Makes `serving` the active one; returns the one it replaced.
    pub fn install(&self, serving: Arc<Serving>) -> Arc<Serving> {
        self.serving.swap(serving)
    }

    /// Routes a request the host itself makes (the dashboard scheduler,
    /// warm-up) and runs it; admin-only routes are open to it.
    pub async fn dispatch(
        &self,
        req: hyper::Request<RequestBody>,
    ) -> Result<hyper::Response<HyperOutgoingBody>, DispatchError> {
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let serving = self.current();
        match serving.router().route(&method, &path) {
            Routed::Found(matched) => self.run(&serving, matched, req, ()).await,
            Routed::MethodNotAllowed(allowed) => {
                Err(DispatchError::MethodNotAllowed { method, allowed })
            }
            Routed::NotFound => Err(DispatchError::NotFound { method, path }),
        }
    }

    /// Admits and runs a request routed on `serving`. `hold` (and the admission
    /// permits) are kept while the guest runs, and released as soon as it
    /// is done, even if the client is slow to take the response.
    pub async fn run(
        &self,
        serving: &Serving,
        matched: RouteMatch<'_>,
        mut req: hyper::Request<RequestBody>,
        hold: impl Send + 'static,
    ) -> Result<hyper::Response<HyperOutgoingBody>, DispatchError> {
        let component = serving
            .registry
            .get(matched.component)
            .ok_or_else(|| DispatchError::ComponentMissing(matched.component.to_string()))?;
        let permits = self.limits.admit(&serving.limits, matched.component)?;
        tracing::Span::current().record("version", &*component.version);
        stamp(&matched, req.headers_mut());
        tracing::debug!(component = matched.component, route = matched.pattern, method = %req.method(), path = %req.uri().path(), "dispatch");
        Ok(self.runtime.invoke(component, req, (permits, hold)).await?)
    }
}

/// Replaces every `strata-` header a client sent with the host's own: the
/// route's parameters and pattern, which the component trusts.
fn stamp(matched: &RouteMatch<'_>, headers: &mut hyper::HeaderMap) {
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
}

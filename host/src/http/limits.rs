//! Admission control: bounded concurrency, globally and per component.
//!
//! A request that would exceed a limit is refused at once with 503 and
//! `Retry-After` rather than queued: queues hide overload until memory or
//! latency blow up, while an immediate refusal lets clients and load
//! balancers go elsewhere. Permits are held until the response body is fully
//! sent, because the instance lives until then.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::error::ApiError;
use crate::config::Manifest;

/// The concurrency limits of one host.
pub struct Limits {
    global: Arc<Semaphore>,
    per_component: HashMap<String, Arc<Semaphore>>,
}

/// Admission to run one request; released when dropped.
pub struct Permits {
    _global: OwnedSemaphorePermit,
    _component: Option<OwnedSemaphorePermit>,
}

impl Limits {
    pub fn new(global: usize, manifest: &Manifest) -> Self {
        Self {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_component: manifest
                .components
                .iter()
                .filter_map(|(name, spec)| {
                    let limit = usize::try_from(spec.max_concurrency?).ok()?;
                    Some((name.clone(), Arc::new(Semaphore::new(limit))))
                })
                .collect(),
        }
    }

    /// Admits a request for `component`, or refuses it as overloaded.
    pub fn admit(&self, component: &str) -> Result<Permits, ApiError> {
        let global = self
            .global
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Overloaded(None))?;
        let component_permit = match self.per_component.get(component) {
            Some(limit) => Some(
                limit
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| ApiError::Overloaded(Some(component.to_string())))?,
            ),
            None => None,
        };
        Ok(Permits {
            _global: global,
            _component: component_permit,
        })
    }
}

/// A response body that keeps its request's permits until it ends.
struct Held {
    inner: HyperOutgoingBody,
    _permits: Permits,
}

impl Body for Held {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Ties `permits` to the lifetime of `body`.
pub fn hold(body: HyperOutgoingBody, permits: Permits) -> HyperOutgoingBody {
    Held {
        inner: body,
        _permits: permits,
    }
    .boxed_unsync()
}

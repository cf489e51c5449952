//! One request, one instance: a fresh one, or for a warm component a
//! parked one when there is one (see [`crate::warm`]).
//!
//! A fresh instance's `Store` is built per request with the component's
//! grants, the instance comes from the pre-instantiated `ProxyPre` (pooling
//! allocator, no linking work), and the store is dropped as soon as the
//! guest finishes (or its response is abandoned), so no request ever sees
//! another's memory. A warm instance is parked instead when its call
//! returned cleanly, and gets new host contexts for its next request. The
//! guest runs on the connection's own task, see [`Runtime::invoke`]. It runs
//! under a wall-clock deadline enforced with epoch interruption: it yields to
//! the scheduler every tick and is stopped once the deadline passes.
//!
//! The pieces: [`store`] builds the per-request store, [`head`] drives the
//! guest until it answers, [`body`] carries a guest still writing its body
//! inside the response, [`running`] stops one the client or the deadline
//! has left behind, and [`error`] says why no response came.

mod body;
mod error;
mod head;
mod running;
mod store;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

pub use error::InvokeError;

use crate::output::RequestId;
use crate::registry::LoadedComponent;
use crate::warm::{ParkingSpace, Retirement, Retiring};
use crate::{Runtime, describe};
use body::{GuestBody, declared_length};
use error::classify_trap;
use head::{GuestRun, Head, poll_head};

/// Instantiates `component` in `store`. Parked warm instances hold slots of
/// the engine's pool; when it is full, they are dropped to make room and
/// the instantiation is tried once more.
async fn instantiate(
    component: &LoadedComponent,
    store: &mut wasmtime::Store<crate::HostState>,
    parking: &ParkingSpace,
) -> wasmtime::Result<Proxy> {
    match component.pre.instantiate_async(&mut *store).await {
        Ok(proxy) => Ok(proxy),
        Err(e) if parking.parked() > 0 && parking.evict_all() > 0 => {
            tracing::debug!(error = %e, "instantiation retried after dropping parked instances");
            component.pre.instantiate_async(store).await
        }
        Err(e) => Err(e),
    }
}

/// Body type handed to guests.
pub type RequestBody = http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

impl Runtime {
    /// Runs `request` through an instance of `component`: a parked warm
    /// one if the component is warm and one is waiting, else a fresh one.
    ///
    /// The guest runs on the caller's task rather than a spawned one: a
    /// spawned task costs a second wake-up and a cross-task hand-off per
    /// request, which profiles showed as a large share of the per-request
    /// cost. Most guests answer and finish within their first poll; one that
    /// is still running when its response head arrives (a streamed body, an
    /// epoch yield) is carried inside the response body and driven whenever
    /// hyper polls that body, see [`GuestBody`].
    ///
    /// `hold` (admission permits) lives exactly as long as the guest runs:
    /// a client slow to take the response keeps none of it.
    pub async fn invoke(
        &self,
        component: Arc<LoadedComponent>,
        request: hyper::Request<RequestBody>,
        hold: impl Send + 'static,
    ) -> Result<hyper::Response<HyperOutgoingBody>, InvokeError> {
        let started = Instant::now();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone());
        let parked = component.warm.as_ref().and_then(|pool| pool.checkout());
        let (mut store, reused) = match parked {
            Some(parked) => {
                let mut store = parked.store;
                self.reuse_store(&mut store, &component, request_id.clone());
                (store, Some((parked.proxy, parked.served)))
            }
            None => {
                component.started.fetch_add(1, Ordering::Relaxed);
                (self.new_store(&component, request_id.clone()), None)
            }
        };
        let (sender, mut receiver) = tokio::sync::oneshot::channel();
        let made = {
            let mut http = store.data_mut().http();
            http.new_incoming_request(Scheme::Http, request)
                .and_then(|req| Ok((req, http.new_response_outparam(sender)?)))
                .map_err(|e| InvokeError::Instantiate(describe(&e)))
        };
        let (req, out) = match made {
            Ok(made) => made,
            // A request the instance never saw (say, a Host header wasi:http
            // cannot represent) does not cost a parked instance its place.
            Err(e) => {
                if let (Some((proxy, served)), Some(pool)) = (reused, &component.warm) {
                    pool.park(store, proxy, served);
                }
                return Err(e);
            }
        };
        if reused.is_some()
            && let Some(pool) = &component.warm
        {
            pool.reused();
        }
        let instance = if reused.is_some() { "warm" } else { "fresh" };
        let timeout = component.timeout;
        let run_component = component.clone();
        let parking = self.parking.clone();
        let run = async move {
            let mut retiring = Retiring::new(run_component.warm.clone(), started + timeout);
            let (proxy, served) = match reused {
                Some(reused) => reused,
                None => match instantiate(&run_component, &mut store, &parking).await {
                    Ok(proxy) => (proxy, 0),
                    Err(e) => {
                        retiring.because(Retirement::Error);
                        return Err(InvokeError::Instantiate(describe(&e)));
                    }
                },
            };
            let result = proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
                .map_err(|e| classify_trap(e, timeout));
            store.data().output.finish();
            drop(hold);
            // Parked or dropped here, not when the future is: either way
            // the outparam's sender is gone once the run has finished (a
            // store is parked only when nothing of its request is left in
            // its resource table), so the receiver knows for certain
            // whether a response was sent.
            match &result {
                Ok(()) => retiring.park(store, proxy, served.saturating_add(1)),
                Err(e) => {
                    retiring.because(match e {
                        InvokeError::Trap(_) => Retirement::Trap,
                        InvokeError::Deadline(_) => Retirement::Deadline,
                        _ => Retirement::Error,
                    });
                    drop(store);
                }
            }
            result
        };
        let run = if self.settings().component_spans {
            let span = tracing::info_span!(
                "component",
                component = &*component.name,
                version = &*component.version,
                instance,
            );
            tracing::Instrument::instrument(run, span)
        } else {
            tracing::Instrument::in_current_span(run)
        };
        let mut guest: Option<GuestRun> = Some(Box::pin(run));
        let mut outparam_dropped = false;
        let head = std::future::poll_fn(|cx| {
            poll_head(&mut guest, &mut receiver, &mut outparam_dropped, cx)
        });
        // The epoch deadline stops a guest that computes for too long; this
        // one also covers a guest stuck waiting on the host before it
        // answers. Dropping the guest on expiry drops its store.
        let outcome = tokio::time::timeout(timeout, head).await;
        let result = match outcome {
            Ok(Head::Sent(Ok(response))) => Ok(match guest {
                None => response,
                Some(guest) => {
                    let declared = declared_length(response.headers());
                    let who = running::Who {
                        component: component.name.clone(),
                        request_id,
                    };
                    let deadline = started + timeout;
                    response.map(|body| GuestBody::wrap(body, guest, who, declared, deadline))
                }
            }),
            Ok(Head::Sent(Err(code))) => Err(InvokeError::Guest(code)),
            Ok(Head::Returned(Ok(()))) => Err(InvokeError::NoResponse),
            Ok(Head::Returned(Err(e))) => Err(e),
            Err(_) => Err(InvokeError::Deadline(timeout.as_millis())),
        };
        tracing::debug!(
            component = &*component.name,
            version = &*component.version,
            elapsed_us = started.elapsed().as_micros() as u64,
            ok = result.is_ok(),
            "component invoked"
        );
        result
    }
}

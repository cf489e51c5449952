//! One request, one fresh instance.
//!
//! A `Store` is built per request with the component's grants, the instance
//! comes from the pre-instantiated `ProxyPre` (pooling allocator, no linking
//! work), and the store is dropped as soon as the guest finishes (or its
//! response is abandoned), so no request ever sees another's memory. The
//! guest runs on the connection's own task, see [`Runtime::invoke`]. It runs
//! under a wall-clock deadline enforced with epoch interruption: it yields to
//! the scheduler every tick and is stopped once the deadline passes.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

use super::capabilities::{self, Instance};
use super::registry::LoadedComponent;
use super::state::{DenyDirectOutgoing, HostState, InstanceGuard};
use super::{Runtime, describe};

/// Body type handed to guests.
pub type RequestBody = http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// Why a request to a component produced no response of its own.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no instance available: {0}")]
    Instantiate(String),
    #[error("the component trapped: {0}")]
    Trap(String),
    #[error("the component ran past its {0} ms deadline")]
    Deadline(u128),
    #[error("the component finished without sending a response")]
    NoResponse,
    #[error("the component reported an error: {0:?}")]
    Guest(ErrorCode),
}

/// The marker error a deadline trap carries, to tell it from other traps.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

impl Runtime {
    pub(super) fn new_store(&self, component: &LoadedComponent) -> Store<HostState> {
        let services = self.services();
        let memory =
            usize::try_from(self.settings().engine.instance_memory_bytes).unwrap_or(usize::MAX);
        let deadline = Instant::now() + component.timeout;
        let state = HostState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            http_hooks: DenyDirectOutgoing,
            table: Default::default(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory)
                .trap_on_grow_failure(false)
                .build(),
            capabilities: capabilities::prepare(
                services,
                &Instance {
                    component: &component.name,
                    version: &component.version,
                    grants: &component.grants,
                    deadline,
                },
            ),
            _instance: InstanceGuard::new(self.active.clone()),
        };
        let mut store = Store::new(component.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// Runs `request` through a fresh instance of `component`.
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
        let mut store = self.new_store(&component);
        let (sender, mut receiver) = tokio::sync::oneshot::channel();
        let (req, out) = {
            let mut http = store.data_mut().http();
            let req = http
                .new_incoming_request(Scheme::Http, request)
                .map_err(|e| InvokeError::Instantiate(describe(&e)))?;
            let out = http
                .new_response_outparam(sender)
                .map_err(|e| InvokeError::Instantiate(describe(&e)))?;
            (req, out)
        };
        let timeout = component.timeout;
        let run_component = component.clone();
        let run = async move {
            let result = match run_component.pre.instantiate_async(&mut store).await {
                Ok(proxy) => proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
                    .map_err(|e| classify_trap(e, timeout)),
                Err(e) => Err(InvokeError::Instantiate(describe(&e))),
            };
            // Dropped here, not when the future is: the outparam's sender
            // lives in the store, so once the run has finished the receiver
            // knows for certain whether a response was sent.
            drop(store);
            drop(hold);
            result
        };
        let mut guest: Option<GuestRun> = Some(Box::pin(tracing::Instrument::in_current_span(run)));
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
                    let name = component.name.clone();
                    let deadline = started + timeout;
                    response.map(|body| GuestBody::wrap(body, guest, name, declared, deadline))
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

/// One guest's instantiation and `handle` call. It owns the store, so
/// dropping it drops the instance (and its pool slot) at once.
type GuestRun = Pin<Box<dyn Future<Output = Result<(), InvokeError>> + Send>>;

/// What the guest did before it stopped needing a poll to answer.
enum Head {
    /// It set its response outparam (it may still be running to write the
    /// body).
    Sent(Result<hyper::Response<HyperOutgoingBody>, ErrorCode>),
    /// It returned without setting the outparam.
    Returned(Result<(), InvokeError>),
}

/// Drives `guest` until it sets its response or finishes. A finished guest
/// is taken out of `guest`, so a `Sent` with `guest` still `Some` means the
/// guest has more to do.
fn poll_head(
    guest: &mut Option<GuestRun>,
    receiver: &mut tokio::sync::oneshot::Receiver<
        Result<hyper::Response<HyperOutgoingBody>, ErrorCode>,
    >,
    outparam_dropped: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Head> {
    let Some(run) = guest.as_mut() else {
        // Not reached: `Head` is returned once and the future dropped.
        return Poll::Ready(Head::Returned(Err(InvokeError::NoResponse)));
    };
    if let Poll::Ready(finished) = run.as_mut().poll(cx) {
        *guest = None;
        // The run dropped its store, so the sender is gone: whatever the
        // receiver holds now is final.
        return Poll::Ready(match receiver.try_recv() {
            Ok(sent) => {
                if let Err(e) = finished {
                    tracing::warn!(error = %e, "component failed after sending its response");
                }
                Head::Sent(sent)
            }
            Err(_) => Head::Returned(finished),
        });
    }
    if !*outparam_dropped {
        match Pin::new(receiver).poll(cx) {
            Poll::Ready(Ok(sent)) => return Poll::Ready(Head::Sent(sent)),
            // The guest dropped the outparam unset; its outcome decides.
            Poll::Ready(Err(_)) => *outparam_dropped = true,
            Poll::Pending => {}
        }
    }
    Poll::Pending
}

/// A response body whose guest is still running: each poll first lets the
/// guest make progress (it may be blocked on body back-pressure), then reads
/// what it wrote. The store lives as long as the guest runs, no longer.
///
/// The guest's deadline still holds here, and so does the client's duty to
/// take what the guest wrote. A client that stops reading (an HTTP/2 peer
/// that never opens its flow-control window) stops hyper from polling this
/// body at all, so neither can be checked from `poll_frame`: a timer task
/// takes the guest out of the shared slot when the deadline passes, or when
/// the client has not come back for the guest's output for
/// [`SEND_STALL`], which drops its instance and admission permits.
struct GuestBody {
    body: HyperOutgoingBody,
    running: Arc<Running>,
    reaper: tokio::task::JoinHandle<()>,
    component: Arc<str>,
    deadline: Instant,
    /// Whether the client has been sent the whole body: the inner body ended,
    /// or as many bytes went out as the response's `content-length` (hyper
    /// drops a body once its declared length is written, without asking
    /// for the end).
    delivered: bool,
    /// Body bytes still expected from the declared `content-length`.
    remaining: Option<u64>,
}

/// Longest a guest still writing its body waits for the client to take
/// what it already wrote, before it is stopped.
const SEND_STALL: Duration = Duration::from_secs(10);

/// A running guest shared between its response body and its reaper.
struct Running {
    guest: Mutex<Option<GuestRun>>,
    started: Instant,
    /// Milliseconds after `started` since when output has waited for the
    /// client (the body's last poll yielded a frame, or it was never
    /// polled); `u64::MAX` while the body waits for the guest instead.
    waiting_on_client_ms: AtomicU64,
}

impl Running {
    fn stop(&self) -> Option<GuestRun> {
        self.guest.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn note(&self, waiting_on_client: bool) {
        let ms = if waiting_on_client {
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
        } else {
            u64::MAX
        };
        self.waiting_on_client_ms.store(ms, Ordering::Relaxed);
    }

    /// When the client stalls the guest, if it is waiting on the client.
    fn stall_at(&self) -> Option<Instant> {
        match self.waiting_on_client_ms.load(Ordering::Relaxed) {
            u64::MAX => None,
            ms => Some(self.started + Duration::from_millis(ms) + SEND_STALL),
        }
    }
}

/// Stops the guest in `running` at `deadline`, or once the client has left
/// its output untaken for [`SEND_STALL`]; ends early if the body is gone.
async fn reap(running: std::sync::Weak<Running>, deadline: Instant, component: Arc<str>) {
    loop {
        let Some(shared) = running.upgrade() else {
            return;
        };
        let now = Instant::now();
        let stall = shared.stall_at();
        let why = if now >= deadline {
            "its response body was still unfinished at the deadline"
        } else if stall.is_some_and(|at| now >= at) {
            "the client stopped taking its response body"
        } else {
            let wake = stall.unwrap_or(now + SEND_STALL).min(deadline);
            drop(shared);
            tokio::time::sleep_until(wake.into()).await;
            continue;
        };
        if shared.stop().is_some() {
            tracing::warn!(component = &*component, "component stopped: {why}");
        }
        return;
    }
}

impl GuestBody {
    fn wrap(
        body: HyperOutgoingBody,
        guest: GuestRun,
        component: Arc<str>,
        declared: Option<u64>,
        deadline: Instant,
    ) -> HyperOutgoingBody {
        let running = Arc::new(Running {
            guest: Mutex::new(Some(guest)),
            started: Instant::now(),
            waiting_on_client_ms: AtomicU64::new(0),
        });
        let reaper = tokio::spawn(reap(Arc::downgrade(&running), deadline, component.clone()));
        Self {
            remaining: declared.or(body.size_hint().exact()),
            body,
            running,
            reaper,
            component,
            deadline,
            delivered: false,
        }
        .boxed_unsync()
    }

    fn drive(&mut self, cx: &mut Context<'_>) {
        let mut slot = self.running.guest.lock().unwrap_or_else(|e| e.into_inner());
        let Some(guest) = slot.as_mut() else {
            return;
        };
        if let Poll::Ready(finished) = guest.as_mut().poll(cx) {
            *slot = None;
            self.reaper.abort();
            if let Err(e) = finished {
                tracing::warn!(component = &*self.component, error = %e, "component failed while writing its response body");
            }
        }
    }
}

impl Body for GuestBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        this.drive(cx);
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        this.running.note(frame.is_ready());
        match &frame {
            Poll::Ready(None) => this.delivered = true,
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(remaining)) = (frame.data_ref(), this.remaining.as_mut()) {
                    *remaining = remaining.saturating_sub(data.len() as u64);
                    this.delivered |= *remaining == 0;
                }
            }
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for GuestBody {
    /// A response dropped before the client had all of it (the client went
    /// away) drops the guest and its instance with it. A guest that is
    /// still busy after its whole body went out (work after `finish`)
    /// gets its own task, as every guest had before, so it can complete
    /// within its deadline.
    fn drop(&mut self) {
        self.reaper.abort();
        let guest = self.running.stop();
        let Some(guest) = guest else {
            return;
        };
        if !self.delivered {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let component = self.component.clone();
            let deadline = self.deadline;
            runtime.spawn(async move {
                match tokio::time::timeout_at(deadline.into(), guest).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(component = &*component, error = %e, "component failed after its response was sent")
                    }
                    Err(_) => {
                        tracing::warn!(component = &*component, "component stopped: still running at its deadline after its response was sent")
                    }
                }
            });
        }
    }
}

/// The response's `content-length`, if it declares a valid one.
fn declared_length(headers: &hyper::HeaderMap) -> Option<u64> {
    headers
        .get(hyper::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn classify_trap(error: wasmtime::Error, timeout: std::time::Duration) -> InvokeError {
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        return InvokeError::Deadline(timeout.as_millis());
    }
    InvokeError::Trap(describe(&error))
}

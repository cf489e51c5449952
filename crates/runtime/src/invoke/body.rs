//! The response body of a guest that is still running.
//!
//! Most guests finish before their response head is ready; one that is
//! still writing its body is carried inside that body instead of a task of
//! its own, so it makes progress exactly when the client takes output and
//! is dropped with the body when the client goes away.

use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::head::GuestRun;
use super::running::{Running, Who, reap};

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
/// [`SEND_STALL`](super::running::SEND_STALL), which drops its instance and admission permits.
pub(super) struct GuestBody {
    body: HyperOutgoingBody,
    running: Arc<Running>,
    reaper: tokio::task::JoinHandle<()>,
    who: Who,
    deadline: Instant,
    /// Whether the client has been sent the whole body: the inner body ended,
    /// or as many bytes went out as the response's `content-length` (hyper
    /// drops a body once its declared length is written, without asking
    /// for the end).
    delivered: bool,
    /// Body bytes still expected from the declared `content-length`.
    remaining: Option<u64>,
}

impl GuestBody {
    pub(super) fn wrap(
        body: HyperOutgoingBody,
        guest: GuestRun,
        who: Who,
        declared: Option<u64>,
        deadline: Instant,
    ) -> HyperOutgoingBody {
        let running = Arc::new(Running {
            guest: Mutex::new(Some(guest)),
            started: Instant::now(),
            waiting_on_client_ms: AtomicU64::new(0),
        });
        let reaper = tokio::spawn(reap(Arc::downgrade(&running), deadline, who.clone()));
        Self {
            remaining: declared.or(body.size_hint().exact()),
            body,
            running,
            reaper,
            who,
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
                tracing::warn!(
                    component = &*self.who.component,
                    request_id = self.who.request_id.as_deref(),
                    error = %e,
                    "component failed while writing its response body"
                );
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
            let who = self.who.clone();
            let deadline = self.deadline;
            runtime.spawn(async move {
                let component = &*who.component;
                let request_id = who.request_id.as_deref();
                match tokio::time::timeout_at(deadline.into(), guest).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(component, request_id, error = %e, "component failed after its response was sent")
                    }
                    Err(_) => {
                        tracing::warn!(component, request_id, "component stopped: still running at its deadline after its response was sent")
                    }
                }
            });
        }
    }
}

/// The response's `content-length`, if it declares a valid one.
pub(super) fn declared_length(headers: &hyper::HeaderMap) -> Option<u64> {
    headers
        .get(hyper::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

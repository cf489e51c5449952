//! Driving a guest until it has answered (or given up).
//!
//! The guest runs on the connection's own task, so the response head has
//! to be awaited by polling the guest and its response outparam together;
//! which finished first decides whether the guest still has body to write.

use std::pin::Pin;
use std::task::{Context, Poll};

use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::error::InvokeError;

/// One guest's instantiation and `handle` call. It owns the store, so
/// dropping it drops the instance (and its pool slot) at once.
pub(super) type GuestRun = Pin<Box<dyn Future<Output = Result<(), InvokeError>> + Send>>;

/// What the guest did before it stopped needing a poll to answer.
pub(super) enum Head {
    /// It set its response outparam (it may still be running to write the
    /// body).
    Sent(Result<hyper::Response<HyperOutgoingBody>, ErrorCode>),
    /// It returned without setting the outparam.
    Returned(Result<(), InvokeError>),
}

/// Drives `guest` until it sets its response or finishes. A finished guest
/// is taken out of `guest`, so a `Sent` with `guest` still `Some` means the
/// guest has more to do.
pub(super) fn poll_head(
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

//! Response bodies as the connection watchdog sees them: each frame hyper
//! takes is progress, and hyper takes at most a frame's worth at a time.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::Activity;

/// The most of a response body hyper is handed at a time: one HTTP/2 DATA
/// frame at the default frame size.
///
/// A response counts as moving when hyper comes back for its next frame,
/// and hyper hands a frame to HTTP/2's send buffer as soon as its stream
/// has a byte of window. Handed over in one piece, a body would leave its
/// flight once the client took a single byte, the rest waiting in that
/// buffer where no limit sees it (with new streams keeping the connection
/// from idling out). In pieces this size, hyper comes back for the next
/// only after the client has taken the one before, so a response stays
/// judged until at most its last piece remains.
pub(super) const MAX_PIECE: usize = 16 * 1024;

/// A response body that reports progress to its connection and marks the
/// request finished when it ends or is dropped.
struct Tracked {
    inner: HyperOutgoingBody,
    /// What is left of a data frame longer than [`MAX_PIECE`].
    rest: Bytes,
    activity: Activity,
}

impl Tracked {
    fn next_piece(&mut self) -> Frame<Bytes> {
        let piece = self.rest.split_to(self.rest.len().min(MAX_PIECE));
        Frame::data(piece)
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if !self.rest.is_empty() {
            self.activity.progressed(true);
            return Poll::Ready(Some(Ok(self.next_piece())));
        }
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        self.activity.progressed(frame.is_ready());
        match frame {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    self.rest = data;
                    Poll::Ready(Some(Ok(self.next_piece())))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = SizeHint::new();
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(rest));
        }
        hint.set_lower(inner.lower().saturating_add(rest));
        hint
    }
}

/// Ties `activity` to `response`'s body. The head is ready, so the client
/// is next to act.
pub fn track(
    response: hyper::Response<HyperOutgoingBody>,
    activity: Activity,
) -> hyper::Response<HyperOutgoingBody> {
    activity.progressed(true);
    response.map(|inner| {
        Tracked {
            inner,
            rest: Bytes::new(),
            activity,
        }
        .boxed_unsync()
    })
}

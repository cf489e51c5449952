//! What one client connection may hold, and for how long.
//!
//! A connection is a stranger's claim on the host: a socket, a task, and
//! through its requests admission permits and instances. Each claim is
//! bounded here:
//! - connections at once (a cap; past it new ones are closed at accept);
//! - time to the first request (a connection that never sends a byte, or
//!   stalls inside its first head, is closed after the head timeout);
//! - idle time between requests;
//! - time without body progress while responses are in flight (an HTTP/2
//!   client that opens streams and never grants flow-control window would
//!   otherwise keep them, and their buffered bodies, forever);
//! - component requests in flight on one connection (a share of the global
//!   admission limit, so one connection cannot take all of it).
//!
//! The watchdog is one timer per connection, not per request: requests only
//! bump counters and a timestamp.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Connection limits, from the CLI.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// Connections served at once per listener.
    pub max_connections: usize,
    /// Component requests in flight on one connection.
    pub max_requests_per_connection: usize,
    /// Time a new connection has to deliver its first request head.
    pub first_request_timeout: Duration,
    /// Time a connection may sit with nothing in flight.
    pub idle_timeout: Duration,
    /// Time responses in flight may go without sending anything.
    pub body_idle_timeout: Duration,
}

impl ConnectionSettings {
    /// HTTP/2 streams a client may open at once on one connection: enough
    /// for every admitted request plus host endpoints, not unbounded.
    pub fn max_streams(&self) -> u32 {
        u32::try_from(self.max_requests_per_connection.saturating_mul(2))
            .unwrap_or(u32::MAX)
            .max(16)
    }
}

/// The shared state of one connection.
pub struct Connection {
    opened: Instant,
    /// Requests whose responses are not finished yet.
    active: AtomicUsize,
    /// Requests ever started here.
    started: AtomicU64,
    /// Milliseconds after `opened` of the last request start or body frame.
    last_progress_ms: AtomicU64,
    /// Component requests in flight here (a share of global admission).
    permits: Arc<Semaphore>,
}

impl Connection {
    pub fn new(settings: &ConnectionSettings) -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            active: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            last_progress_ms: AtomicU64::new(0),
            permits: Arc::new(Semaphore::new(settings.max_requests_per_connection.max(1))),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_progress_ms.store(ms, Ordering::Relaxed);
    }

    /// Notes a request arriving; the returned guard marks it finished when
    /// its response body is (see [`track`]).
    pub fn begin(self: &Arc<Self>) -> Activity {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
        self.touch();
        Activity(self.clone())
    }

    /// One of this connection's component-request slots, if free.
    pub fn try_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// When the watchdog should look again, or why to close now.
    fn verdict(&self, settings: &ConnectionSettings) -> Result<Instant, &'static str> {
        let last =
            self.opened + Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed));
        let (limit, reason) = if self.active.load(Ordering::Relaxed) > 0 {
            (settings.body_idle_timeout, "responses made no progress")
        } else if self.started.load(Ordering::Relaxed) == 0 {
            (settings.first_request_timeout, "no request arrived")
        } else {
            (settings.idle_timeout, "idle")
        };
        let deadline = last + limit;
        if Instant::now() >= deadline {
            Err(reason)
        } else {
            Ok(deadline)
        }
    }
}

/// A request in progress on a connection.
pub struct Activity(Arc<Connection>);

impl Drop for Activity {
    fn drop(&mut self) {
        self.0.touch();
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Resolves when `connection` should be closed: it broke one of the time
/// limits. Runs beside the connection's own future.
pub async fn watchdog(connection: Arc<Connection>, settings: ConnectionSettings) -> &'static str {
    loop {
        match connection.verdict(&settings) {
            Err(reason) => return reason,
            Ok(deadline) => tokio::time::sleep_until(deadline.into()).await,
        }
    }
}

/// A response body that reports progress to its connection and marks the
/// request finished when it ends or is dropped.
struct Tracked {
    inner: HyperOutgoingBody,
    activity: Activity,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if frame.is_ready() {
            self.activity.0.touch();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Ties `activity` to `response`'s body.
pub fn track(
    response: hyper::Response<HyperOutgoingBody>,
    activity: Activity,
) -> hyper::Response<HyperOutgoingBody> {
    response.map(|inner| Tracked { inner, activity }.boxed_unsync())
}

/// Connections open on one listener, capped.
pub struct ConnectionSlots {
    slots: Arc<Semaphore>,
}

impl ConnectionSlots {
    pub fn new(settings: &ConnectionSettings) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(settings.max_connections.max(1))),
        }
    }

    /// A slot for one more connection, if the cap allows.
    pub fn try_open(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConnectionSettings {
        ConnectionSettings {
            max_connections: 2,
            max_requests_per_connection: 1,
            first_request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_idle_timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn a_silent_new_connection_gets_the_first_request_timeout() {
        let connection = Connection::new(&settings());
        let deadline = connection.verdict(&settings()).expect("not yet");
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_secs(10) && left > Duration::from_secs(9));
    }

    #[test]
    fn a_connection_with_a_response_in_flight_gets_the_body_timeout() {
        let connection = Connection::new(&settings());
        let activity = connection.begin();
        let deadline = connection.verdict(&settings()).expect("not yet");
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_secs(30) && left > Duration::from_secs(29));
        drop(activity);
        let deadline = connection.verdict(&settings()).expect("not yet");
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(59),
            "idle after the request ended"
        );
    }

    #[test]
    fn one_connection_holds_at_most_its_share_of_permits() {
        let connection = Connection::new(&settings());
        let first = connection.try_permit();
        assert!(first.is_some());
        assert!(connection.try_permit().is_none());
        drop(first);
        assert!(connection.try_permit().is_some());
    }

    #[test]
    fn connections_past_the_cap_are_refused() {
        let slots = ConnectionSlots::new(&settings());
        let held: Vec<_> = (0..2).filter_map(|_| slots.try_open()).collect();
        assert_eq!(held.len(), 2);
        assert!(slots.try_open().is_none());
    }
}

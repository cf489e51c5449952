//! What one client connection may hold, and for how long.
//!
//! A connection is a stranger's claim on the host: a socket, a task, and
//! through its requests admission permits and instances. Each claim is
//! bounded here:
//! - connections at once (a cap; past it new ones are closed at accept);
//! - time to the first request (a connection that never sends a byte, or
//!   stalls inside its first head, is closed after the head timeout);
//! - idle time between requests;
//! - time each response in flight waits for the client to take its next
//!   bytes (an HTTP/2 client that opens streams and never grants
//!   flow-control window would otherwise keep them, and their buffered
//!   bodies, forever), judged per response so that new requests on the
//!   same connection cannot keep a stalled one alive;
//! - time each response goes without progress of any kind;
//! - component requests in flight on one connection (a share of the global
//!   admission limit, so one connection cannot take all of it).
//!
//! The watchdog is one timer per connection, not per request: requests only
//! register a progress stamp that their response body updates.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Time a response in flight may go without progress of any kind.
    pub body_idle_timeout: Duration,
    /// Time a response may wait for the client to take its next bytes.
    pub send_timeout: Duration,
}

impl ConnectionSettings {
    /// HTTP/2 streams a client may open at once on one connection: its
    /// component requests plus a few host endpoints, not unbounded.
    pub fn max_streams(&self) -> u32 {
        u32::try_from(self.max_requests_per_connection.saturating_add(16)).unwrap_or(u32::MAX)
    }
}

/// The shared state of one connection.
pub struct Connection {
    opened: Instant,
    /// Requests ever started here.
    started: AtomicU64,
    /// Milliseconds after `opened` when the last response in flight ended.
    idle_since_ms: AtomicU64,
    /// Each response in flight. Each is judged on its own: a new request,
    /// or another stream's frames, says nothing about whether a stalled
    /// response is moving.
    in_flight: Mutex<Vec<Arc<Flight>>>,
    /// Component requests in flight here (a share of global admission).
    permits: Arc<Semaphore>,
}

impl Connection {
    pub fn new(settings: &ConnectionSettings) -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            started: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(0),
            in_flight: Mutex::default(),
            permits: Arc::new(Semaphore::new(settings.max_requests_per_connection.max(1))),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Flight>>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a request arriving; the returned guard marks it finished when
    /// its response body is (see [`track`]).
    pub fn begin(self: &Arc<Self>) -> Activity {
        self.started.fetch_add(1, Ordering::Relaxed);
        let flight = Arc::new(Flight {
            progress_ms: AtomicU64::new(self.now_ms()),
            waiting_on_client: AtomicBool::new(false),
        });
        self.in_flight().push(flight.clone());
        Activity {
            connection: self.clone(),
            flight,
        }
    }

    /// One of this connection's component-request slots, if free.
    pub fn try_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// When the watchdog should look again, or why to close now.
    fn verdict(&self, settings: &ConnectionSettings) -> Result<Instant, &'static str> {
        let first_due = self
            .in_flight()
            .iter()
            .map(|flight| {
                let last = self.at(flight.progress_ms.load(Ordering::Relaxed));
                if flight.waiting_on_client.load(Ordering::Relaxed) {
                    (
                        last + settings.send_timeout,
                        "the client stopped taking a response",
                    )
                } else {
                    (
                        last + settings.body_idle_timeout,
                        "a response made no progress",
                    )
                }
            })
            .min_by_key(|(due, _)| *due);
        let (deadline, reason) = match first_due {
            Some(due) => due,
            None if self.started.load(Ordering::Relaxed) == 0 => (
                self.opened + settings.first_request_timeout,
                "no request arrived",
            ),
            None => (
                self.at(self.idle_since_ms.load(Ordering::Relaxed)) + settings.idle_timeout,
                "idle",
            ),
        };
        if Instant::now() >= deadline {
            Err(reason)
        } else {
            Ok(deadline)
        }
    }
}

/// One response in flight.
struct Flight {
    /// Milliseconds after the connection opened of its last progress: the
    /// request's arrival, its head, a body frame.
    progress_ms: AtomicU64,
    /// Whether what comes next is up to the client (a frame is ready and
    /// hyper has not come back for the next one) rather than the server.
    waiting_on_client: AtomicBool,
}

/// A request in progress on a connection.
pub struct Activity {
    connection: Arc<Connection>,
    flight: Arc<Flight>,
}

impl Activity {
    /// Records progress; `then_client` says whether the client must act
    /// next (take a frame) or the server (produce one).
    fn progressed(&self, then_client: bool) {
        self.flight
            .progress_ms
            .store(self.connection.now_ms(), Ordering::Relaxed);
        self.flight
            .waiting_on_client
            .store(then_client, Ordering::Relaxed);
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        let connection = &self.connection;
        connection
            .in_flight()
            .retain(|flight| !Arc::ptr_eq(flight, &self.flight));
        connection
            .idle_since_ms
            .store(connection.now_ms(), Ordering::Relaxed);
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
        self.activity.progressed(frame.is_ready());
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Ties `activity` to `response`'s body. The head is ready, so the client
/// is next to act.
pub fn track(
    response: hyper::Response<HyperOutgoingBody>,
    activity: Activity,
) -> hyper::Response<HyperOutgoingBody> {
    activity.progressed(true);
    response.map(|inner| Tracked { inner, activity }.boxed_unsync())
}

/// File descriptors the host needs besides client sockets: outbound and
/// Redis connections, compiled-code, database and log files.
const RESERVED_DESCRIPTORS: u64 = 256;

/// The connection caps (per listener) and WebSocket client cap that fit in
/// `open_files` descriptors, given the database pools (three of
/// `db_connections`: host, component read-only, component read-write) and
/// a reserve. Caps that fit are kept; otherwise the WebSocket clients get
/// at most a quarter of what is left and the two listeners share the rest.
pub fn fit_descriptors(
    open_files: u64,
    db_connections: u32,
    max_connections: usize,
    max_websocket_clients: usize,
) -> (usize, usize) {
    let for_clients = open_files
        .saturating_sub(RESERVED_DESCRIPTORS)
        .saturating_sub(3 * u64::from(db_connections));
    let wanted = 2 * max_connections as u64 + max_websocket_clients as u64;
    if wanted <= for_clients {
        return (max_connections, max_websocket_clients);
    }
    let websockets = (max_websocket_clients as u64).min(for_clients / 4);
    let connections = ((for_clients - websockets) / 2).min(max_connections as u64);
    let narrow = |n: u64| usize::try_from(n.max(1)).unwrap_or(usize::MAX);
    (narrow(connections), narrow(websockets))
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
            send_timeout: Duration::from_secs(5),
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
    fn a_new_request_does_not_excuse_a_stalled_response() {
        let connection = Connection::new(&settings());
        let stalled = connection.begin();
        stalled.progressed(true);
        std::thread::sleep(Duration::from_millis(20));
        let fresh = connection.begin();
        fresh.progressed(true);
        let deadline = connection.verdict(&settings()).expect("not yet");
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            left < Duration::from_millis(4_990),
            "the stalled response's clock kept running: {left:?}"
        );
        drop(fresh);
        drop(stalled);
    }

    #[test]
    fn a_response_waiting_on_its_component_gets_the_longer_limit() {
        let connection = Connection::new(&settings());
        let computing = connection.begin();
        let deadline = connection.verdict(&settings()).expect("not yet");
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(29), "{left:?}");
        computing.progressed(true);
        let deadline = connection.verdict(&settings()).expect("not yet");
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_secs(5), "{left:?}");
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
    fn caps_that_fit_the_open_file_limit_are_kept() {
        assert_eq!(fit_descriptors(1 << 20, 10, 4096, 1000), (4096, 1000));
    }

    #[test]
    fn caps_beyond_the_open_file_limit_are_lowered_to_fit() {
        let (connections, websockets) = fit_descriptors(1024, 10, 4096, 1000);
        assert!(
            connections > 100 && websockets > 50,
            "{connections} {websockets}"
        );
        assert!(2 * connections as u64 + websockets as u64 + 256 + 30 <= 1024);
    }

    #[test]
    fn connections_past_the_cap_are_refused() {
        let slots = ConnectionSlots::new(&settings());
        let held: Vec<_> = (0..2).filter_map(|_| slots.try_open()).collect();
        assert_eq!(held.len(), 2);
        assert!(slots.try_open().is_none());
    }
}

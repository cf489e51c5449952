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
//! register a progress stamp that their response body updates, and wake it
//! when that brings a deadline closer than the one it sleeps to. Bodies are
//! handed to hyper a frame's worth at a time, so a response stays judged
//! until the client has taken all but its last frame.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

mod body;
mod slots;

pub use body::track;
pub use slots::{ConnectionSlots, fit_descriptors};

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

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The shared state of one connection.
pub struct Connection {
    opened: Instant,
    settings: ConnectionSettings,
    /// One lock for what the watchdog reads together, so it never sees a
    /// request counted but not yet in flight, or a response gone but the
    /// connection not yet idle.
    flights: Mutex<Flights>,
    /// Milliseconds after `opened` when the watchdog will next look;
    /// `u64::MAX` while it is looking. It sleeps until the first deadline
    /// it saw, and deadlines can move earlier after it looked: a request
    /// arrives, a response turns to wait on the client (the send timeout is
    /// usually the shortest limit), the last response ends. Such a change
    /// wakes it through `look_again`, or it would sleep through the new
    /// deadline to the old one, or past it to a longer limit.
    next_look_ms: AtomicU64,
    look_again: Notify,
    /// Component requests in flight here (a share of global admission).
    permits: Arc<Semaphore>,
}

#[derive(Default)]
struct Flights {
    /// Requests ever started here.
    started: u64,
    /// Milliseconds after `opened` when the last response in flight ended.
    idle_since_ms: u64,
    /// Each response in flight. Each is judged on its own: a new request,
    /// or another stream's frames, says nothing about whether a stalled
    /// response is moving.
    open: Vec<Arc<Flight>>,
}

impl Connection {
    pub fn new(settings: &ConnectionSettings) -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            settings: *settings,
            flights: Mutex::default(),
            next_look_ms: AtomicU64::new(u64::MAX),
            look_again: Notify::new(),
            permits: Arc::new(Semaphore::new(settings.max_requests_per_connection.max(1))),
        })
    }

    fn now_ms(&self) -> u64 {
        millis(self.opened.elapsed())
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, Flights> {
        self.flights.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the watchdog if something falls due at `due_ms`, before it
    /// means to look.
    fn due_at(&self, due_ms: u64) {
        if due_ms < self.next_look_ms.load(Ordering::SeqCst) {
            self.look_again.notify_one();
        }
    }

    /// Notes a request arriving; the returned guard marks it finished when
    /// its response body is (see [`track`]).
    pub fn begin(self: &Arc<Self>) -> Activity {
        let now = self.now_ms();
        let flight = Arc::new(Flight {
            state: AtomicU64::new(Flight::state(now, false)),
        });
        {
            let mut flights = self.flights();
            flights.started += 1;
            flights.open.push(flight.clone());
        }
        self.due_at(now.saturating_add(millis(self.settings.body_idle_timeout)));
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
    fn verdict(&self) -> Result<Instant, &'static str> {
        let settings = &self.settings;
        let (deadline, reason) = {
            let flights = self.flights();
            let first_due = flights
                .open
                .iter()
                .map(|flight| {
                    let (progress_ms, waiting_on_client) = flight.read();
                    let last = self.at(progress_ms);
                    if waiting_on_client {
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
            match first_due {
                Some(due) => due,
                None if flights.started == 0 => (
                    self.opened + settings.first_request_timeout,
                    "no request arrived",
                ),
                None => (
                    self.at(flights.idle_since_ms) + settings.idle_timeout,
                    "idle",
                ),
            }
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
    /// Milliseconds after the connection opened of its last progress (the
    /// request's arrival, its head, a body frame), shifted left by one,
    /// with the low bit set while what comes next is up to the client (a
    /// frame is ready and hyper has not come back for the next one) rather
    /// than the server. One word, so the watchdog never reads the stamp of
    /// one moment with the turn of another.
    state: AtomicU64,
}

impl Flight {
    fn state(progress_ms: u64, waiting_on_client: bool) -> u64 {
        (progress_ms << 1) | u64::from(waiting_on_client)
    }

    /// The last progress stamp, and whether the client is next to act.
    fn read(&self) -> (u64, bool) {
        let state = self.state.load(Ordering::SeqCst);
        (state >> 1, state & 1 == 1)
    }
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
        let connection = &self.connection;
        let now = connection.now_ms();
        self.flight
            .state
            .store(Flight::state(now, then_client), Ordering::SeqCst);
        let limit = if then_client {
            connection.settings.send_timeout
        } else {
            connection.settings.body_idle_timeout
        };
        connection.due_at(now.saturating_add(millis(limit)));
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        let connection = &self.connection;
        let now = connection.now_ms();
        let idle = {
            let mut flights = connection.flights();
            flights.idle_since_ms = now;
            flights
                .open
                .retain(|flight| !Arc::ptr_eq(flight, &self.flight));
            flights.open.is_empty()
        };
        // With others still in flight, deadlines only move later, and a
        // watchdog that looks early just looks again.
        if idle {
            connection.due_at(now.saturating_add(millis(connection.settings.idle_timeout)));
        }
    }
}

/// Resolves when `connection` should be closed: it broke one of the time
/// limits. Runs beside the connection's own future.
pub async fn watchdog(connection: Arc<Connection>) -> &'static str {
    loop {
        // Anything that changes while the verdict is read wakes the next
        // sleep at once.
        connection.next_look_ms.store(u64::MAX, Ordering::SeqCst);
        match connection.verdict() {
            Err(reason) => return reason,
            Ok(deadline) => {
                let next_look = millis(deadline.saturating_duration_since(connection.opened));
                connection.next_look_ms.store(next_look, Ordering::SeqCst);
                tokio::select! {
                    () = tokio::time::sleep_until(deadline.into()) => {}
                    () = connection.look_again.notified() => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

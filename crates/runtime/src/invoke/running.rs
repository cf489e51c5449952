//! Stopping a guest its response body has left behind.
//!
//! A client that stops reading stops hyper from polling the body, so the
//! body itself cannot notice the deadline or the stall; a timer task that
//! shares the running guest with the body takes it out (dropping its
//! instance and permits) when either passes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::head::GuestRun;

/// Longest a guest still writing its body waits for the client to take
/// what it already wrote, before it is stopped.
pub(super) const SEND_STALL: Duration = Duration::from_secs(10);

/// Whose guest it is, for the log lines about it: the response has left
/// the request's span by the time they are written.
#[derive(Clone)]
pub(super) struct Who {
    pub(super) component: Arc<str>,
    pub(super) request_id: Option<Arc<str>>,
}

/// A running guest shared between its response body and its reaper.
pub(super) struct Running {
    pub(super) guest: Mutex<Option<GuestRun>>,
    pub(super) started: Instant,
    /// Milliseconds after `started` since when output has waited for the
    /// client (the body's last poll yielded a frame, or it was never
    /// polled); `u64::MAX` while the body waits for the guest instead.
    pub(super) waiting_on_client_ms: AtomicU64,
}

impl Running {
    pub(super) fn stop(&self) -> Option<GuestRun> {
        self.guest.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub(super) fn note(&self, waiting_on_client: bool) {
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
pub(super) async fn reap(running: std::sync::Weak<Running>, deadline: Instant, who: Who) {
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
            tracing::warn!(
                component = &*who.component,
                request_id = who.request_id.as_deref(),
                "component stopped: {why}"
            );
        }
        return;
    }
}

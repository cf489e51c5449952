//! Stopping a component statement at its deadline, or when nobody waits.
//!
//! sqlx runs SQLite on a worker thread that finishes a statement even after
//! its caller's future is dropped; only a progress handler on the
//! connection can stop it, and it has to tell a stop at the deadline apart
//! from the statement's own failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use sqlx::sqlite::SqliteConnection;

use super::error::error;
use super::policy;
use crate::SqlError;
use crate::guard::Statement;

/// Virtual machine steps between two deadline checks: a check is a clock
/// read, a few thousand steps are a few microseconds of work.
const PROGRESS_STEPS: i32 = 1000;

/// Stops a running statement at its deadline or when dropped.
pub(super) struct Watch {
    state: Arc<WatchState>,
}

#[derive(Default)]
pub(super) struct WatchState {
    /// The caller stopped waiting (its future was dropped).
    abandoned: AtomicBool,
    /// The handler stopped the statement.
    stopped: AtomicBool,
}

impl Watch {
    /// Checks the statement and installs the progress handler that stops it.
    pub(super) async fn arm(
        conn: &mut SqliteConnection,
        statement: &Statement<'_>,
    ) -> Result<Self, SqlError> {
        let mut handle = conn.lock_handle().await.map_err(error)?;
        policy::check_statement(&mut handle, statement.text, statement.mode)?;
        let state = Arc::new(WatchState::default());
        let deadline = Instant::now() + statement.timeout;
        let seen = state.clone();
        handle.set_progress_handler(PROGRESS_STEPS, move || {
            let go_on = !seen.abandoned.load(Ordering::Relaxed) && Instant::now() < deadline;
            if !go_on {
                seen.stopped.store(true, Ordering::Relaxed);
            }
            go_on
        });
        Ok(Self { state })
    }

    /// The statement's outcome, told apart from a stop at the deadline.
    pub(super) fn finish<T>(
        self,
        outcome: Result<T, SqlError>,
        statement: &Statement<'_>,
    ) -> Result<T, SqlError> {
        match outcome {
            Err(_) if self.state.stopped.load(Ordering::Relaxed) => Err(statement.timed_out()),
            other => other,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.state.abandoned.store(true, Ordering::Relaxed);
    }
}

//! Request ids. Every request gets one (`x-request-id`); the error bodies
//! a client sees repeat it, so a client's report leads to the operator's
//! log line without the body ever carrying the details.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The header carrying the id the host gives every request; error bodies
/// repeat it so a client's report leads to the operator's log line.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    /// The id of the request being answered, for error bodies.
    pub(super) static REQUEST_ID: Arc<str>;
}

/// The id of the request being answered on this task, if any.
pub fn request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// A new request id: unique per process (a counter) and unlikely to repeat
/// across instances (a per-process random-enough start).
pub(super) fn next_request_id() -> Arc<str> {
    static NEXT: std::sync::OnceLock<AtomicU64> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        AtomicU64::new((u64::from(std::process::id()) << 32 | u64::from(nanos)) << 8)
    });
    format!("{:016x}", next.fetch_add(1, Ordering::Relaxed)).into()
}

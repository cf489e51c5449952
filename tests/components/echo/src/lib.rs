//! Echo component for hot-deploy tests.
//!
//! One source, two builds: the version string is baked in at compile time
//! from `ECHO_VERSION` (default `v1`), so `ECHO_VERSION=v2 cargo build ...`
//! yields a different binary that answers differently. Tests deploy the two
//! alternately and tell from each answer which one served it.
//!
//! Routes (any path, any method):
//! - `.../slow?ms=N` (last path segment `slow`): sleeps N milliseconds
//!   (capped at [`MAX_SLEEP_MS`]) and then answers, so a test can keep a
//!   request in flight across a swap.
//! - anything else: answers at once.
//!
//! Every answer is `200 {"component":"echo","version":V,"path":P,"method":M}`
//! with header `x-echo-version: V`.

use std::time::Duration;

use strata_sdk::{Handler, Request, Response};

/// Baked in at compile time: a different `ECHO_VERSION` is a different
/// component as far as the host can tell.
const VERSION: &str = match option_env!("ECHO_VERSION") {
    Some(version) => version,
    None => "v1",
};

/// Upper bound for `?ms=`, so a typo in a test cannot park an instance for
/// hours.
const MAX_SLEEP_MS: u64 = 60_000;

struct Echo;

impl Handler for Echo {
    fn handle(req: Request) -> Response {
        if req.segments().last() == Some(&"slow") {
            let ms = req
                .query_param("ms")
                .and_then(|ms| ms.parse::<u64>().ok())
                .unwrap_or(0)
                .min(MAX_SLEEP_MS);
            // On wasip2 this is a `wasi:clocks` monotonic-clock subscription
            // plus `poll`, so the host sees a guest blocked on I/O, not
            // spinning.
            std::thread::sleep(Duration::from_millis(ms));
        }
        Response::json(
            200,
            &serde_json::json!({
                "component": "echo",
                "version": VERSION,
                "path": req.path,
                "method": req.method,
            }),
        )
        .with_header("x-echo-version", VERSION)
    }
}

strata_sdk::export_handler!(Echo);

//! A component that misbehaves on demand, for the host's isolation tests.
//!
//! Mount it on a route such as `/hostile/{mode}`: the mode comes from the
//! `mode` route parameter (header `strata-param-mode`), falling back to the
//! last path segment so a prefix route works too.
//!
//! | mode | behaviour |
//! |---|---|
//! | `trap` | `panic!` → the instance traps before answering |
//! | `loop` | spins forever without yielding; only an epoch/fuel limit stops it |
//! | `alloc` | allocates 1 MiB chunks forever until the memory cap stops it (trap) |
//! | `log-flood` | 100 000 `log::info` calls of 1 KiB each, then `200 {"logged":100000}` |
//! | `ungranted-key` | `cache::set("secret:x")` → `200 {"error_kind","message"}` |
//! | `ungranted-host` | fetch `http://127.0.0.1:9/` → `200 {"error_kind","message"}` |
//! | `ungranted-sql` | `DELETE FROM reports` → `200 {"error_kind","message"}` |
//! | `bad-pattern` | `cache::clear_pattern("*")` → `200 {"error_kind","message"}` |
//! | `malformed` | tries status 1000 and an invalid header name; both are refused by `wasi:http`, so the outparam is dropped unset |
//! | `no-response` | returns without ever setting the response outparam |
//! | `error-outparam` | sets the outparam to `Err(internal-error)` |
//! | `short-body` | declares `content-length: 100`, writes 5 bytes, finishes |
//! | `trap-after-headers` | sends `200` headers and 5 body bytes, then panics |
//! | `trap-secret` | panics with a message containing `hostile-secret-trap-text`: neither it nor the trap's backtrace may reach the client |
//! | `ok` | `200 {"ok":true}` |
//! | `count` | `200 {"count":n}`: n counts the requests this instance has served, so n > 1 shows a reused (warm) instance |
//! | `print` | writes a line to stdout and to stderr, then `200 {"printed":true}` |
//! | `print-body` | writes the request body to stdout exactly as sent (no newline added), then `200 {"printed":n,"ok":bool}` (`ok`: every write succeeded) |
//! | `print-flood` | 100 000 stdout lines of 1 KiB each, then `200 {"printed":100000}` |
//! | `busy` | computes for 50 ms (across several epoch ticks), then `200 {"busy_ms":50}` |
//! | `sleep` | waits 1.5 s (a request still in flight while a test changes the app), then `200 {"slept_ms":1500}` |
//! | `grow` | keeps 8 MiB more in a global (its memory grows for good), answers `200 {"held_mib":n}` |
//! | `stash` | keeps this request's handle in a global instead of dropping it, answers `200 {"stashed":true}` |
//! | `read-stash` | reads header `x-secret` of a stashed request through the host: `200 {"secret":value}`, or `{"secret":null}` when this instance holds none |
//! | other | `404 {"error": ...}` |
//!
//! The capability modes answer 200 when the host refused the call (the
//! refusal is the expected outcome) and `500 {"error_kind":"none"}` when it
//! unexpectedly succeeded.
//!
//! The probe modes run one capability call described by the request body and
//! report what happened, so the attack suites try any statement, URL or key
//! without rebuilding this component. They always answer 200 with
//! `{"outcome":"ok", ...}` or `{"outcome":"error","error_kind","message"}`:
//!
//! | mode | body | on success |
//! |---|---|---|
//! | `sql-query` | the statement | `"rows": [[...]]` (values as JSON) |
//! | `sql-execute` | the statement | `"affected": n` |
//! | `fetch` | `{"url", "method"?, "headers"?: [[n, v]], "body"?, "timeout_ms"?}` | `"status", "headers", "body"` |
//! | `cache-set` | `{"key", "value", "ttl"?}` | nothing more |
//! | `cache-get` | `{"key"}` | `"value"` (or null) |
//! | `cache-delete` | `{"key"}` | `"held"` |
//! | `cache-clear` | `{"pattern"}` | `"l1", "l2"` |
//! | `log` | the message | nothing more (the line goes to the host log) |
//! | `config` | a setting's name | `"value"` (or null) |
//!
//! The incoming handler is exported by hand rather than with
//! `export_handler!`, because the SDK's bridge always sets the response
//! outparam and sanitises what the handler returns; the raw modes need to
//! do neither. Every other mode goes through the SDK's own bridge.

use strata_sdk::bindings::exports::wasi::http::incoming_handler::Guest;
use strata_sdk::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use strata_sdk::cache::CacheError;
use strata_sdk::http::{FetchError, OutboundRequest};
use strata_sdk::sql::SqlError;
use strata_sdk::{Handler, Request, Response, cache, http, log, sql};

/// Route parameter naming the behaviour.
const MODE_PARAM: &str = "mode";

/// How many lines `log-flood` writes.
const LOG_FLOOD_LINES: usize = 100_000;

/// Size of each `log-flood` line and of each `alloc` chunk's unit.
const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Wasm page size: `alloc` writes one byte per page so every page it asks
/// for is really touched, whatever the allocator does with fresh memory.
const WASM_PAGE: usize = 64 * KIB;

/// The exported `wasi:http/incoming-handler`.
struct HostileExport;

impl Guest for HostileExport {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        match raw_mode(&request).as_str() {
            "no-response" => no_response(request, response_out),
            "malformed" => malformed(request, response_out),
            "error-outparam" => error_outparam(request, response_out),
            "short-body" => short_body(request, response_out),
            "trap-after-headers" => trap_after_headers(request, response_out),
            "stash" => stash(request, response_out),
            "read-stash" => read_stash(request, response_out),
            _ => strata_sdk::__private::serve::<Hostile>(request, response_out),
        }
    }
}

strata_sdk::bindings::export!(HostileExport with_types_in strata_sdk::bindings);

/// The mode, read from the raw request (for the modes that bypass the SDK).
fn raw_mode(request: &IncomingRequest) -> String {
    let from_param = {
        // A child resource of the request: scoped so it is dropped first.
        let headers = request.headers();
        headers
            .get(&format!("strata-param-{MODE_PARAM}"))
            .into_iter()
            .next()
            .map(|value| String::from_utf8_lossy(&value).into_owned())
    };
    from_param.unwrap_or_else(|| {
        let path = request.path_with_query().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        last_segment(path).to_string()
    })
}

fn last_segment(path: &str) -> &str {
    path.split('/').rfind(|s| !s.is_empty()).unwrap_or("")
}

/// Drops the outparam without setting it: the host's `handle` call returns
/// and it must notice that no response (and no error) was ever given.
fn no_response(request: IncomingRequest, response_out: ResponseOutparam) {
    drop(request);
    drop(response_out);
}

/// Tries to build a response `wasi:http` cannot represent: status 1000 and
/// a header name with a space and newline in it. Both are validated by the
/// host's `wasi:http` implementation and refused with an error (not a
/// trap), so there is no malformed response to hand over; the outparam is
/// dropped unset, which the host sees exactly like `no-response`. Should
/// the host ever accept status 1000, that response is sent as is so the
/// test sees what happens next.
fn malformed(request: IncomingRequest, response_out: ResponseOutparam) {
    drop(request);
    let fields = Fields::new();
    let header_refused = fields.append("bad header\n", b"x").is_err();
    let response = OutgoingResponse::new(fields);
    let status_refused = response.set_status_code(1000).is_err();
    log::warn(&format!(
        "malformed: status 1000 refused: {status_refused}; invalid header name refused: {header_refused}"
    ));
    if status_refused {
        drop(response);
        drop(response_out);
        return;
    }
    let Ok(body) = response.body() else {
        drop(response_out);
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    let _ = OutgoingBody::finish(body, None);
}

/// Answers with an explicit `wasi:http` error instead of a response: the
/// well-formed way for a guest to fail.
fn error_outparam(request: IncomingRequest, response_out: ResponseOutparam) {
    drop(request);
    ResponseOutparam::set(
        response_out,
        Err(ErrorCode::InternalError(Some(
            "hostile: deliberate error-code response".to_string(),
        ))),
    );
}

/// Sends a 200 whose body is shorter than its declared `content-length`,
/// so the host has already seen headers when the body turns out broken.
fn short_body(request: IncomingRequest, response_out: ResponseOutparam) {
    drop(request);
    let Some(body) = start_response(response_out, Some(100)) else {
        return;
    };
    write_body(&body, b"short");
    if let Err(err) = OutgoingBody::finish(body, None) {
        log::warn(&format!("short-body: finish refused as expected: {err}"));
    }
}

/// Sends 200 headers and part of a body, then traps mid-body.
fn trap_after_headers(request: IncomingRequest, response_out: ResponseOutparam) {
    drop(request);
    let Some(body) = start_response(response_out, None) else {
        return;
    };
    write_body(&body, b"start");
    panic!("deliberate trap after headers");
}

thread_local! {
    /// A request handle kept past the call that received it (`stash`).
    static STASHED: std::cell::RefCell<Option<IncomingRequest>> =
        const { std::cell::RefCell::new(None) };
}

/// How long `busy` computes: several epoch ticks of the host.
const BUSY_MS: u64 = 50;

/// How long `sleep` waits.
const SLEEP_MS: u64 = 1500;

/// Memory kept for good (`grow`).
static HELD: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Requests this instance has served (`count`).
static SERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Keeps the request's handle in a global: an instance reused after this
/// could read one request's headers and body while serving the next.
fn stash(request: IncomingRequest, response_out: ResponseOutparam) {
    STASHED.with(|stash| *stash.borrow_mut() = Some(request));
    if let Some(body) = start_response(response_out, None) {
        write_body(&body, br#"{"stashed":true}"#);
        let _ = OutgoingBody::finish(body, None);
    }
}

/// Reads the stashed request's `x-secret` header through the host.
fn read_stash(request: IncomingRequest, response_out: ResponseOutparam) {
    drop(request);
    let secret = STASHED.with(|stash| {
        stash.borrow().as_ref().map(|stashed| {
            let headers = stashed.headers();
            headers
                .get("x-secret")
                .into_iter()
                .next()
                .map(|value| String::from_utf8_lossy(&value).into_owned())
        })
    });
    let text = serde_json::json!({ "secret": secret.flatten() }).to_string();
    if let Some(body) = start_response(response_out, None) {
        write_body(&body, text.as_bytes());
        let _ = OutgoingBody::finish(body, None);
    }
}

/// Sets a `200 text/plain` response (with `content-length` if given) on the
/// outparam and returns its body for the caller to write.
fn start_response(
    response_out: ResponseOutparam,
    content_length: Option<u64>,
) -> Option<OutgoingBody> {
    let fields = Fields::new();
    let _ = fields.append("content-type", b"text/plain");
    if let Some(len) = content_length {
        let _ = fields.append("content-length", len.to_string().as_bytes());
    }
    let response = OutgoingResponse::new(fields);
    let body = response.body().ok()?;
    ResponseOutparam::set(response_out, Ok(response));
    Some(body)
}

fn write_body(body: &OutgoingBody, bytes: &[u8]) {
    // The stream is a child of the body: dropped before the body is used
    // again.
    if let Ok(stream) = body.write() {
        let _ = stream.blocking_write_and_flush(bytes);
    }
}

/// The modes that answer through the SDK's normal request/response bridge.
struct Hostile;

impl Handler for Hostile {
    fn handle(req: Request) -> Response {
        let mode = req
            .param(MODE_PARAM)
            .unwrap_or_else(|| last_segment(&req.path))
            .to_string();
        match mode.as_str() {
            "ok" => Response::json(200, &serde_json::json!({ "ok": true })),
            "print" => {
                println!("hostile: a line on stdout");
                eprintln!("hostile: a line on stderr");
                Response::json(200, &serde_json::json!({ "printed": true }))
            }
            "print-body" => {
                use std::io::Write as _;
                let mut stdout = std::io::stdout();
                let written = stdout.write_all(&req.body).and_then(|()| stdout.flush());
                Response::json(
                    200,
                    &serde_json::json!({ "printed": req.body.len(), "ok": written.is_ok() }),
                )
            }
            "print-flood" => print_flood(),
            "busy" => {
                let started = std::time::Instant::now();
                let mut spins = 0u64;
                while started.elapsed() < std::time::Duration::from_millis(BUSY_MS) {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
                Response::json(200, &serde_json::json!({ "busy_ms": BUSY_MS }))
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_millis(SLEEP_MS));
                Response::json(200, &serde_json::json!({ "slept_ms": SLEEP_MS }))
            }
            "grow" => {
                let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
                held.push(vec![1u8; 8 * MIB]);
                Response::json(200, &serde_json::json!({ "held_mib": held.len() * 8 }))
            }
            "count" => {
                let count = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                Response::json(200, &serde_json::json!({ "count": count }))
            }
            "trap" => panic!("deliberate trap"),
            "loop" => spin(),
            "alloc" => hoard(),
            "log-flood" => log_flood(),
            "cache-flood" => cache_flood(),
            "lease-hoard" => lease_hoard(),
            "ungranted-key" => refused(cache::set("secret:x", b"1", None).map_err(cache_kind)),
            "ungranted-host" => refused(
                http::fetch(OutboundRequest::get("http://127.0.0.1:9/").with_timeout_ms(2_000))
                    .map_err(fetch_kind),
            ),
            "ungranted-sql" => refused(sql::execute("DELETE FROM reports", &[]).map_err(sql_kind)),
            "bad-pattern" => refused(cache::clear_pattern("*").map_err(cache_kind)),
            "trap-secret" => panic!("deliberate trap: hostile-secret-trap-text"),
            "sql-query" => probe::sql_query(&req),
            "sql-execute" => probe::sql_execute(&req),
            "fetch" => probe::fetch(&req),
            "cache-set" => probe::cache_set(&req),
            "cache-get" => probe::cache_get(&req),
            "cache-delete" => probe::cache_delete(&req),
            "cache-clear" => probe::cache_clear(&req),
            "log" => probe::log_line(&req),
            "config" => probe::config_value(&req),
            other => Response::error(404, &format!("unknown hostile mode '{other}'")),
        }
    }
}

mod probe;

/// Burns CPU forever; `black_box` keeps the optimiser from proving the loop
/// side-effect free and deleting it.
fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB chunks without bound, touching every page. Ends in a trap:
/// either the host's limiter fails `memory.grow`, or the allocation fails
/// and Rust's allocation error handler aborts (`unreachable`).
fn hoard() -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; MIB];
        for page in chunk.iter_mut().step_by(WASM_PAGE) {
            *page = 1;
        }
        chunks.push(std::hint::black_box(chunk));
    }
}

/// Entries [`cache_flood`] writes, of [`CACHE_FLOOD_BYTES`] each: 24 MiB
/// in all, over any L1 budget the tests give this component.
const CACHE_FLOOD_KEYS: usize = 3000;
const CACHE_FLOOD_BYTES: usize = 8 * KIB;

/// Fills the cache with distinct keys under its own grant, as a component
/// that caches without bound would: the host must evict only this
/// component's entries to make room.
fn cache_flood() -> Response {
    let value = vec![b'x'; CACHE_FLOOD_BYTES];
    for n in 0..CACHE_FLOOD_KEYS {
        if let Err(e) = cache::set(&format!("hostile:flood:{n}"), &value, None) {
            return Response::error(500, &format!("flood write {n} refused: {e}"));
        }
    }
    Response::json(200, &serde_json::json!({ "written": CACHE_FLOOD_KEYS }))
}

/// Takes leases on ever more keys and keeps them all, in batches: the
/// host must refuse once the instance holds its bound, not hold more.
fn lease_hoard() -> Response {
    let mut held = Vec::new();
    for round in 0..40 {
        let keys: Vec<String> = (0..64)
            .map(|n| format!("hostile:lease:{round}:{n}"))
            .collect();
        match strata_sdk::bindings::strata::host::cache::get_many_or_lease(&keys)
            .map_err(CacheError::from)
        {
            Ok(lookups) => held.extend(lookups),
            Err(e) => {
                return Response::json(
                    200,
                    &serde_json::json!({ "held": held.len(), "refused": cache_kind(e).0 }),
                );
            }
        }
    }
    Response::json(
        200,
        &serde_json::json!({ "held": held.len(), "refused": null }),
    )
}

/// Floods the host's log with [`LOG_FLOOD_LINES`] lines of exactly 1 KiB,
/// then answers normally: the host must survive (and may rate-limit) it.
fn log_flood() -> Response {
    let mut line = String::from("hostile log-flood ");
    line.extend(std::iter::repeat_n('x', KIB - line.len()));
    for _ in 0..LOG_FLOOD_LINES {
        log::info(&line);
    }
    Response::json(200, &serde_json::json!({ "logged": LOG_FLOOD_LINES }))
}

/// Floods stdout with [`LOG_FLOOD_LINES`] lines of exactly 1 KiB, then
/// answers normally: the host must keep only its per-request budget of it.
fn print_flood() -> Response {
    let mut line = String::from("hostile print-flood ");
    line.extend(std::iter::repeat_n('x', KIB - 1 - line.len()));
    for _ in 0..LOG_FLOOD_LINES {
        println!("{line}");
    }
    Response::json(200, &serde_json::json!({ "printed": LOG_FLOOD_LINES }))
}

/// A refused capability call (the expected outcome) as
/// `200 {"error_kind","message"}`; a success as `500 {"error_kind":"none"}`.
fn refused<T>(result: Result<T, (&'static str, String)>) -> Response {
    match result {
        Ok(_) => Response::json(500, &serde_json::json!({ "error_kind": "none" })),
        Err((kind, message)) => Response::json(
            200,
            &serde_json::json!({ "error_kind": kind, "message": message }),
        ),
    }
}

/// The WIT case name of a cache error, with its display text.
fn cache_kind(err: CacheError) -> (&'static str, String) {
    let kind = match err {
        CacheError::InvalidKey(_) => "invalid-key",
        CacheError::Denied(_) => "denied",
        CacheError::TooLarge(_) => "too-large",
        CacheError::Timeout => "timeout",
    };
    (kind, err.to_string())
}

/// The WIT case name of a fetch error (plus the SDK-only `status` and
/// `decode`), with its display text.
fn fetch_kind(err: FetchError) -> (&'static str, String) {
    let kind = match err {
        FetchError::Denied(_) => "denied",
        FetchError::InvalidRequest(_) => "invalid-request",
        FetchError::Timeout => "timeout",
        FetchError::CircuitOpen(_) => "circuit-open",
        FetchError::TooLarge(_) => "too-large",
        FetchError::Transport(_) => "transport",
        FetchError::RateLimited { .. } => "rate-limited",
        FetchError::Status(_) => "status",
        FetchError::Decode(_) => "decode",
    };
    (kind, err.to_string())
}

/// The WIT case name of a SQL error, with its display text.
fn sql_kind(err: SqlError) -> (&'static str, String) {
    let kind = match err {
        SqlError::Denied(_) => "denied",
        SqlError::Invalid(_) => "invalid",
        SqlError::Constraint(_) => "constraint",
        SqlError::Unavailable(_) => "unavailable",
        SqlError::Other(_) => "other",
    };
    (kind, err.to_string())
}

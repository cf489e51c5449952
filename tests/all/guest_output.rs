//! What a guest writes to stdout and stderr: it reaches the operator's log,
//! one escaped line per line written, tagged with the component, the
//! request id and the stream, within a per-request budget; it never
//! reaches the client. A guest that fails (a Rust panic, a Python
//! exception) leaves its message in the log and the client a generic 500.

use crate::security::hostile;
use crate::support::{Backend, Host, Reply, Services, http};

/// Most lines of guest output logged for one request (the host's
/// `MAX_OUTPUT_LINES`).
const LINE_BUDGET: usize = 1000;

fn host(services: &Services, settings: &str) -> Host {
    hostile::host(
        services,
        &format!("{}\n{settings}\n", hostile::OWN_CORNER),
        &[],
    )
}

async fn print_body(host: &Host, body: &str) -> Reply {
    let response = http()
        .post(format!("{}/hostile/print-body", host.url))
        .body(body.to_string())
        .send()
        .await
        .expect("print-body");
    Reply::from(response).await
}

/// The log lines that contain `text`.
fn lines_with(host: &Host, text: &str) -> Vec<String> {
    host.log_text()
        .lines()
        .filter(|line| line.contains(text))
        .map(str::to_string)
        .collect()
}

/// The one log line that contains `text`.
fn line_with(host: &Host, text: &str) -> String {
    let found = lines_with(host, text);
    assert_eq!(
        found.len(),
        1,
        "one line with {text:?}; found {found:#?}\nlog:\n{}",
        host.log_text()
    );
    found.into_iter().next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_print_reaches_the_log_with_component_request_id_and_stream() {
    let services = Services::start(Backend::Bare).await;
    let host = host(&services, "");
    let reply = host.get("/hostile/print").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let id = reply.request_id();
    for stream in ["stdout", "stderr"] {
        let line = line_with(&host, &format!("hostile: a line on {stream}"));
        assert!(line.contains(&format!("request_id=\"{id}\"")), "{line}");
        assert!(line.contains("component=\"hostile\""), "{line}");
        assert!(line.contains(&format!("stream=\"{stream}\"")), "{line}");
    }
    assert!(!reply.body.contains("a line on"), "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_message_reaches_the_log_and_the_client_gets_a_generic_500() {
    let services = Services::start(Backend::Bare).await;
    let host = host(&services, "");
    let reply = host.get("/hostile/trap-secret").await;
    let id =
        reply.assert_generic_trap(&["hostile-secret-trap-text", "panicked", "backtrace", ".rs:"]);
    let message = line_with(&host, "deliberate trap: hostile-secret-trap-text");
    assert!(
        message.contains(&format!("request_id=\"{id}\"")),
        "{message}"
    );
    assert!(message.contains("stream=\"stderr\""), "{message}");
    let trap = line_with(&host, "request failed");
    assert!(trap.contains(&format!("request_id=\"{id}\"")), "{trap}");
    assert!(trap.contains("wasm backtrace"), "{trap}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_output_cannot_forge_log_lines_or_drive_the_terminal() {
    let services = Services::start(Backend::Bare).await;
    let host = host(&services, "");
    let forged = "innocent\r\u{1b}[2J\n2026-11-26T00:00:00.000000Z  INFO strata::http::auth: FORGED admin token accepted\n";
    let reply = print_body(&host, forged).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let log = host.log_text();
    assert!(
        log.contains("innocent\\r\\u{1b}[2J"),
        "kept, escaped:\n{log}"
    );
    assert!(log.contains("FORGED admin token accepted"), "kept:\n{log}");
    assert!(
        !log.lines()
            .any(|l| l.starts_with("2026-11-26T00:00:00.000000Z")),
        "a guest started its own log line:\n{log}"
    );
    assert!(!log.contains('\u{1b}'), "a terminal escape reached the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_line_without_a_newline_is_logged_when_the_request_ends() {
    let services = Services::start(Backend::Bare).await;
    let host = host(&services, "");
    let reply = print_body(&host, "first line\nunterminated tail").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let id = reply.request_id();
    for text in ["first line", "unterminated tail"] {
        let line = line_with(&host, text);
        assert!(line.contains(&format!("request_id=\"{id}\"")), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_line_is_cut_and_marked() {
    let services = Services::start(Backend::Bare).await;
    let host = host(&services, "");
    let long = format!("long-line {}\nnext line\n", "y".repeat(200 * 1024));
    let reply = print_body(&host, &long).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let line = line_with(&host, "long-line ");
    assert!(line.len() < 8 * 1024, "cut: {} bytes", line.len());
    assert!(line.contains("y…"), "marked as cut");
    line_with(&host, "next line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_guest_gets_its_line_budget_and_one_truncation_note() {
    let services = Services::start(Backend::Bare).await;
    let host = host(&services, "");
    let reply = host.get("/hostile/print-flood").await;
    assert_eq!(reply.status, 200, "the guest's writes never fail");
    let id = reply.request_id();
    let kept = lines_with(&host, "hostile print-flood ");
    assert!(!kept.is_empty(), "the start of the output is kept");
    assert!(kept.len() <= LINE_BUDGET, "{} lines logged", kept.len());
    let note = line_with(&host, "output truncated");
    assert!(note.contains(&id), "{note}");
    let log_bytes = host.log_text().len();
    assert!(
        log_bytes < 2 * 1024 * 1024,
        "the log grew by {log_bytes} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_instance_logs_each_requests_output_under_that_requests_id() {
    let services = Services::start(Backend::Bare).await;
    let host = host(&services, "instances = \"warm\"");
    assert_eq!(count(&host).await, 1);
    let first = print_body(&host, "from-request-a").await;
    let second = print_body(&host, "from-request-b\n").await;
    assert_eq!(count(&host).await, 2, "one instance served every request");
    let (a, b) = (first.request_id(), second.request_id());
    let line_a = line_with(&host, "from-request-a");
    assert!(line_a.contains(&format!("request_id=\"{a}\"")), "{line_a}");
    assert!(!line_a.contains(&b), "{line_a}");
    let line_b = line_with(&host, "from-request-b");
    assert!(line_b.contains(&format!("request_id=\"{b}\"")), "{line_b}");
    assert!(!line_b.contains(&a), "{line_b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_instance_starts_each_request_with_a_fresh_output_budget() {
    let services = Services::start(Backend::Bare).await;
    let host = host(&services, "instances = \"warm\"");
    assert_eq!(count(&host).await, 1);
    let flood = host.get("/hostile/print-flood").await;
    assert_eq!(flood.status, 200, "{}", flood.body);
    let after = print_body(&host, "after the flood\n").await;
    assert_eq!(count(&host).await, 2, "one instance served every request");
    let id = after.request_id();
    let line = line_with(&host, "after the flood");
    assert!(line.contains(&format!("request_id=\"{id}\"")), "{line}");
}

/// Requests this instance of the hostile component has counted.
async fn count(host: &Host) -> u64 {
    let reply = host.get("/hostile/count").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["count"].as_u64().expect("count")
}

//! The examples in `examples/`, one per language, built by their own
//! toolchains (cargo with the Strata SDK, componentize-py, componentize-js)
//! as the build of this test binary: each answers with the greeting its
//! manifest gives it, writes a line to the operator's log, and on `/fail`
//! fails the way its language fails (a panic, an uncaught exception), which
//! the operator reads in the log and the client never sees.

use std::time::{Duration, Instant};

use crate::support::echo::upload;
use crate::support::{Backend, Host, Services, one_large_component_test_at_a_time};

/// One example: its artifact and the language its answer names.
struct Example {
    wasm: &'static str,
    language: &'static str,
}

const RUST: Example = Example {
    wasm: test_programs::EXAMPLE_HELLO_RUST,
    language: "Rust",
};
const PYTHON: Example = Example {
    wasm: test_programs::EXAMPLE_HELLO_PYTHON,
    language: "Python",
};
const JS: Example = Example {
    wasm: test_programs::EXAMPLE_HELLO_JS,
    language: "JavaScript",
};

/// `example` as component `hello` at `/hello` and `/hello/*`, greeting
/// with "Howdy", and no grant beyond its settings.
fn host(services: &Services, example: &Example) -> Host {
    let manifest = format!(
        "[components.hello]\nsource = {:?}\nconfig = {{ greeting = \"Howdy\" }}\n\n[[routes]]\npath = \"/hello\"\ncomponent = \"hello\"\n\n[[routes]]\npath = \"/hello/*\"\ncomponent = \"hello\"\n",
        example.wasm
    );
    let path = services.dir.path().join("hello.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    services.host_with_large_components(&[("STRATA_MANIFEST", path.to_str().expect("utf-8 path"))])
}

/// The log line containing `text`, polled for: guest output is written
/// as the request ends, not before the answer reaches the client.
async fn log_line(host: &Host, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = host.log_text();
        if let Some(line) = log.lines().find(|line| line.contains(text)) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {text:?} in:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The example answers with its manifest's greeting, and the line it
/// wrote is in the log under the component and the request's id.
async fn answers_and_logs(example: &Example) {
    let _one = one_large_component_test_at_a_time().await;
    let services = Services::start(Backend::Bare).await;
    let host = host(&services, example);
    let reply = host.get("/hello/there").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, format!("Howdy from {}\n", example.language));
    let line = log_line(&host, "answering /hello/there").await;
    // Output lines carry the id as `request_id`, lines through
    // `strata:host/log` as the request span's `id`: both end in `id="…"`.
    let id = reply.request_id();
    assert!(line.contains(&format!("id=\"{id}\"")), "{line}");
    assert!(line.contains("component=\"hello\""), "{line}");
}

/// The example's failure reaches the log under the request's id; the
/// client gets the generic JSON 500 with that id and none of the text.
async fn fails_into_the_log_not_the_client(example: &Example) {
    let _one = one_large_component_test_at_a_time().await;
    let services = Services::start(Backend::Bare).await;
    let host = host(&services, example);
    let reply = host.get("/hello/fail").await;
    let id = reply.assert_generic_trap(&[
        "failed on purpose",
        "Traceback",
        "Error:",
        "panicked",
        "wasm",
    ]);
    let line = log_line(&host, "the example failed on purpose").await;
    assert!(line.contains(&format!("request_id=\"{id}\"")), "{line}");
    assert_eq!(
        host.get("/hello").await.status,
        200,
        "a failed request leaves the component serving"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_example_answers_and_logs_its_line() {
    answers_and_logs(&RUST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_example_answers_and_its_print_reaches_the_log() {
    answers_and_logs(&PYTHON).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_example_answers_and_its_console_log_reaches_the_log() {
    answers_and_logs(&JS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_panic_reaches_the_log_and_not_the_client() {
    fails_into_the_log_not_the_client(&RUST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncaught_python_exception_reaches_the_log_and_not_the_client() {
    fails_into_the_log_not_the_client(&PYTHON).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncaught_js_exception_reaches_the_log_and_not_the_client() {
    fails_into_the_log_not_the_client(&JS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_component_is_deployed_in_rust_python_and_js_in_turn_and_rolled_back() {
    let _one = one_large_component_test_at_a_time().await;
    let services = Services::start(Backend::Bare).await;
    let host = host(&services, &RUST);
    let admin = host.admin_url.clone().expect("admin listener");
    for example in [&PYTHON, &JS] {
        let bytes = std::fs::read(example.wasm).expect("example artifact");
        let (status, body) = upload(&admin, "hello", bytes).await;
        assert_eq!(status, 201, "{body}");
        let reply = host.get("/hello").await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, format!("Howdy from {}\n", example.language).as_str())
        );
    }
    let rolled = host.admin_post("/admin/components/hello/rollback").await;
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    assert_eq!(host.get("/hello").await.body, "Howdy from Python\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploying_the_python_example_compiles_it_in_a_worker_and_leaves_the_host_small() {
    let _one = one_large_component_test_at_a_time().await;
    let services = Services::start(Backend::Bare).await;
    // A compile cache of its own: the deploy must compile, not find the
    // result of another test's compile.
    let cache = services.dir.path().join("private-compile-cache");
    let manifest = format!(
        "[components.hello]\nsource = {:?}\n\n[[routes]]\npath = \"/hello\"\ncomponent = \"hello\"\n",
        RUST.wasm
    );
    let path = services.dir.path().join("rust.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    let host = services.host_with_large_components(&[
        ("STRATA_MANIFEST", path.to_str().expect("utf-8 path")),
        (
            "STRATA_COMPILE_CACHE_DIR",
            cache.to_str().expect("utf-8 path"),
        ),
    ]);
    let before = host.rss_bytes();
    let admin = host.admin_url.clone().expect("admin listener");
    let bytes = std::fs::read(PYTHON.wasm).expect("example artifact");
    let (status, body) = upload(&admin, "hello", bytes).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(host.get("/hello").await.body, "Hello from Python\n");
    log_line(&host, "compiled in a worker process").await;
    let grown = host.rss_bytes().saturating_sub(before);
    // Loading the compiled Python example costs about 35 MiB; compiling
    // it in this process left over 400 MiB behind.
    assert!(grown < 128 << 20, "the host grew by {} MiB", grown >> 20);
}

//! What the host says to strangers: trap messages, database errors and
//! credentials stay in the operator's log (and out of it where they are
//! secrets), and a guest cannot forge log lines.

use std::process::Command;
use std::time::Duration;

use crate::security::hostile;
use crate::support::{Backend, Host, Proxy, Services};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_reaches_the_log_under_the_request_id_and_never_the_client() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile::host(&services, hostile::OWN_CORNER, &[]);
    let reply = host.get("/hostile/trap-secret").await;
    let id = reply.assert_generic_trap(&[
        "hostile-secret-trap-text",
        "backtrace",
        "test_hostile",
        "unreachable",
    ]);
    let log = host.log_text();
    assert!(
        log.lines().any(|l| l.contains(&id)
            && l.contains("test_hostile.wasm")
            && l.contains("unreachable")),
        "the details are in the log under {id}:\n{}",
        log.lines()
            .filter(|l| l.contains(&id))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_inside_a_component_cannot_forge_log_lines_through_a_trap() {
    let services = Services::start(Backend::Bare).await;
    let mut wasm = std::fs::read(test_programs::HOSTILE).expect("hostile");
    // The module name in the binary's name section shows up in every trap
    // backtrace; give it a newline and a log line of its own.
    let name = b"test_hostile.wasm";
    let forged = b"\nFORGED LINE 2026";
    assert_eq!(name.len(), forged.len());
    let mut replaced = 0;
    let mut at = 0;
    while let Some(found) = wasm[at..].windows(name.len()).position(|w| w == name) {
        let start = at + found;
        wasm[start..start + name.len()].copy_from_slice(forged);
        at = start + name.len();
        replaced += 1;
    }
    assert!(replaced > 0, "the name is in the binary");
    let path = services.dir.path().join("forging.wasm");
    std::fs::write(&path, wasm).expect("write component");
    let host = hostile::host_of(&services, &path, hostile::OWN_CORNER, &[], None);
    for mode in ["trap", "trap-after-headers"] {
        let _ = crate::support::http()
            .get(format!("{}/hostile/{mode}", host.url))
            .send()
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = host.log_text();
    assert!(log.contains("FORGED LINE 2026"), "the traps were logged");
    assert!(
        !log.lines().any(|l| l.starts_with("FORGED LINE")),
        "a name in the component started a log line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_request_id() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let mut ids = Vec::new();
    for path in ["/health", "/nothing-here", "/api/market/btc"] {
        let reply = host.get(path).await;
        ids.push(reply.header("x-request-id").expect("id").to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "ids are unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cannot_forge_a_line_in_the_host_log() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile::host(&services, hostile::OWN_CORNER, &[]);
    let forged = "innocent\n2026-11-26T00:00:00.000000Z  INFO strata::http::auth: FORGED admin token accepted\r\u{1b}[2J";
    let report = hostile::probe(&host, "log", forged).await;
    assert_eq!(report["outcome"], "ok");
    let log = host.log_text();
    assert!(log.contains("innocent\\n2026"), "the line is kept, escaped");
    assert!(
        !log.lines()
            .any(|l| l.starts_with("2026-11-26T00:00:00.000000Z")),
        "a guest started its own log line"
    );
    assert!(!log.contains('\u{1b}'), "a terminal escape reached the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_what_is_down_but_not_the_database_error() {
    let services = Services::start(Backend::Bare).await;
    let pg = crate::support::pg_database();
    let proxy = Proxy::start("127.0.0.1:5432".parse().expect("address")).await;
    let url = format!("postgres://postgres@127.0.0.1:{}/{}", proxy.port, pg.name);
    let host = services.host_with(&[
        ("DATABASE_URL", &url),
        ("STRATA_DB_ACQUIRE_TIMEOUT_SECONDS", "1"),
    ]);
    proxy.cut();
    let health = host.get("/health").await;
    let body = health.json();
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["reasons"][0], "database: unavailable", "{body}");
    for detail in [
        pg.name.as_str(),
        "127.0.0.1",
        "timed out",
        "refused",
        "pool",
    ] {
        assert!(
            !health.body.contains(detail),
            "/health shows {detail:?}: {}",
            health.body
        );
    }
    assert!(body["database"].get("error").is_none(), "{body}");
}

const SECRET: &str = "Sup3rSecretPw";

fn strata(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Host::command();
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = run_with_timeout(command, Duration::from_secs(60));
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn run_with_timeout(mut command: Command, within: Duration) -> std::process::Output {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start strata");
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(output) => output.expect("strata output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("strata did not exit within {within:?}");
        }
    }
}

#[test]
fn help_never_prints_connection_secrets() {
    let pg = format!("postgres://app:{SECRET}@db.internal:5432/strata");
    let redis = format!("redis://:{SECRET}@cache.internal:6379/");
    let (ok, text) = strata(
        &["--help"],
        &[
            ("DATABASE_URL", &pg),
            ("REDIS_URL", &redis),
            ("REDIS_CLUSTER_URLS", &redis),
            ("STRATA_ADMIN_TOKEN", SECRET),
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("DATABASE_URL"), "the option is documented");
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn a_bad_redis_url_is_named_without_its_password() {
    for password in [
        SECRET.to_string(),
        format!("{SECRET}/x"),
        format!("{SECRET}#x?y"),
    ] {
        let redis = format!("redis://:{password}@127.0.0.1:notaport/");
        let (ok, text) = strata(&[], &[("REDIS_URL", &redis)]);
        assert!(!ok);
        assert!(text.contains("strata: error:"), "{text}");
        assert!(text.contains("***"), "the URL is still named: {text}");
        assert!(!text.contains(SECRET), "{text}");
    }
}

#[test]
fn an_unreachable_database_is_reported_without_its_password() {
    let pg = format!("postgres://app:{SECRET}@127.0.0.1:1/strata");
    let (ok, text) = strata(
        &[],
        &[
            ("DATABASE_URL", &pg),
            ("STRATA_DB_ACQUIRE_TIMEOUT_SECONDS", "1"),
        ],
    );
    assert!(!ok);
    assert!(text.contains("strata: error:"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

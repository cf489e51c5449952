//! SQL attacks from a hostile component, each on both backends (Postgres and
//! the embedded SQLite), each through the real binary and the hostile
//! component's `sql-query` / `sql-execute` probes.
//!
//! What must hold (docs/security.md): a read-only grant never writes, one
//! call runs exactly one statement, no grant reaches the host's own tables
//! (deployments, component blobs, role passwords, the migration ledger) or
//! the host's files, session state never leaks from one call to the next,
//! and a statement stops at its request's deadline. Every refusal is a
//! typed `strata:host/sql` error, never a trap.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::security::hostile::{self, probe, refused};
use crate::support::{Backend, Host, Services, http};

/// The hostile component's grants: the SQL level under test, plus the
/// cache and outbound grants it needs to load (it imports both).
const READ_ONLY: &str = r#"sql = "read-only"
cache_prefixes = ["hostile:"]
outbound = ["http://127.0.0.1:9"]"#;
const READ_WRITE: &str = r#"sql = "read-write"
cache_prefixes = ["hostile:"]
outbound = ["http://127.0.0.1:9"]"#;

/// The seed reports every fresh database starts with.
const SEED_REPORTS: i64 = 4;

/// A host serving the hostile component with `grant` (its budget is 5 s).
fn hostile_with(services: &Services, grant: &str) -> Host {
    hostile::host(services, grant, &[])
}

/// A host whose pools hold one connection each, so consecutive calls of
/// one grant share a session: what one call leaves behind, the next sees.
/// Waiting for a connection gives up after 3 s, before the 5 s budget.
fn hostile_single_connection(services: &Services, grant: &str) -> Host {
    hostile::host(
        services,
        grant,
        &[
            ("STRATA_DB_MAX_CONNECTIONS", "1"),
            ("STRATA_DB_ACQUIRE_TIMEOUT_SECONDS", "3"),
        ],
    )
}

fn is_postgres(backend: Backend) -> bool {
    backend != Backend::Bare
}

/// Reports in the database, read through a read-only probe.
async fn report_count(host: &Host) -> i64 {
    let report = probe(host, "sql-query", "SELECT COUNT(*) FROM reports").await;
    assert_eq!(report["outcome"], "ok", "count reports: {report}");
    report["rows"][0][0].as_i64().expect("a count")
}

/// Asserts `report` is a refusal of one of `kinds` and returns the message.
fn refused_as(report: &Value, kinds: &[&str], what: &str) -> String {
    assert_eq!(
        report["outcome"], "error",
        "{what} must be refused, got {report}"
    );
    let kind = report["error_kind"].as_str().unwrap_or_default();
    assert!(
        kinds.contains(&kind),
        "{what}: kind {kind}, want one of {kinds:?}: {report}"
    );
    report["message"].as_str().unwrap_or_default().to_string()
}

fn no_file(path: &Path, what: &str) {
    assert!(
        !path.exists(),
        "{what} created {} on the host",
        path.display()
    );
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(crate::support::Backend::RedisPostgres).await; })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(crate::support::Backend::Bare).await; })*
        }
    };
}

on_both_backends!(
    a_semicolon_hidden_by_a_comment_cannot_smuggle_a_write_past_a_read_only_grant,
    a_semicolon_hidden_by_a_comment_cannot_run_a_second_write,
    a_semicolon_hidden_by_a_quoted_name_cannot_run_a_second_statement,
    two_plain_statements_in_one_call_are_refused,
    pragma_reads_are_refused,
    pragma_writes_are_refused,
    attach_cannot_open_another_database_file,
    vacuum_into_cannot_copy_the_database_under_a_read_write_grant,
    vacuum_into_cannot_copy_the_database_under_a_read_only_grant,
    host_tables_cannot_be_written,
    host_tables_cannot_be_read,
    the_migration_ledger_cannot_be_edited,
    pg_read_file_is_refused,
    set_config_does_not_persist_to_the_next_read,
    set_config_does_not_persist_to_the_next_write,
    copy_to_program_is_refused,
    a_data_modifying_cte_is_refused_under_a_read_only_grant,
    a_query_cut_by_the_deadline_leaves_host_writes_working,
    a_statement_stops_at_its_request_deadline,
    the_host_wide_statement_timeout_caps_every_statement,
);

async fn a_semicolon_hidden_by_a_comment_cannot_smuggle_a_write_past_a_read_only_grant(
    backend: Backend,
) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_ONLY);
    // The quote inside the first comment made the old lexer treat
    // everything up to the quote in the last comment as one string.
    let attack = "SELECT 1 /* ' */; PRAGMA query_only = OFF; DELETE FROM reports; /* ' */";
    let report = probe(&host, "sql-query", attack).await;
    refused_as(&report, &["invalid", "denied"], "a hidden second statement");
    assert_eq!(report_count(&host).await, SEED_REPORTS);
}

async fn a_semicolon_hidden_by_a_comment_cannot_run_a_second_write(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_WRITE);
    let attack = "UPDATE reports SET title = title WHERE id = 1 -- '\n; DELETE FROM reports; -- '";
    let report = probe(&host, "sql-execute", attack).await;
    refused(&report, "invalid", "a second statement after a comment");
    assert_eq!(report_count(&host).await, SEED_REPORTS);
}

async fn a_semicolon_hidden_by_a_quoted_name_cannot_run_a_second_statement(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_WRITE);
    // SQLite quotes names with brackets, Postgres has dollar quoting; a
    // lexer that only knows '...' and "..." sees one long string.
    let attack = if is_postgres(backend) {
        "SELECT $$'$$; DELETE FROM reports; SELECT $$'$$"
    } else {
        "SELECT 1 AS [a'b]; DELETE FROM reports; SELECT 1 AS [c'd]"
    };
    let report = probe(&host, "sql-execute", attack).await;
    refused(&report, "invalid", "a second statement after a quoted name");
    assert_eq!(report_count(&host).await, SEED_REPORTS);
}

async fn two_plain_statements_in_one_call_are_refused(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_WRITE);
    let attack = "DELETE FROM reports WHERE id = 1; DELETE FROM reports";
    let report = probe(&host, "sql-execute", attack).await;
    refused(&report, "invalid", "two statements");
    assert_eq!(report_count(&host).await, SEED_REPORTS);
}

async fn pragma_reads_are_refused(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_WRITE);
    // database_list names the host's files; the table-valued form passes
    // any check that only looks at the first keyword.
    for attack in [
        "PRAGMA database_list",
        "SELECT file FROM pragma_database_list",
    ] {
        let report = probe(&host, "sql-query", attack).await;
        let kinds: &[&str] = if is_postgres(backend) {
            &["invalid"] // no PRAGMA in Postgres
        } else {
            &["denied"]
        };
        refused_as(&report, kinds, attack);
    }
}

async fn pragma_writes_are_refused(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_WRITE);
    for attack in [
        "PRAGMA foreign_keys = OFF",
        "PRAGMA writable_schema = ON",
        "PRAGMA journal_mode = OFF",
    ] {
        let report = probe(&host, "sql-execute", attack).await;
        let kind = if is_postgres(backend) {
            "invalid"
        } else {
            "denied"
        };
        refused(&report, kind, attack);
    }
}

async fn attach_cannot_open_another_database_file(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_WRITE);
    let target = services.dir.path().join("attached.db");
    let attack = format!("ATTACH DATABASE '{}' AS evil", target.display());
    let report = probe(&host, "sql-execute", attack).await;
    let kind = if is_postgres(backend) {
        "invalid"
    } else {
        "denied"
    };
    refused(&report, kind, "ATTACH");
    no_file(&target, "ATTACH");
}

async fn vacuum_into_cannot_copy_the_database_under_a_read_write_grant(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_WRITE);
    let target = services.dir.path().join("stolen.db");
    let attack = format!("VACUUM INTO '{}'", target.display());
    let report = probe(&host, "sql-execute", attack).await;
    refused_as(&report, &["denied", "invalid"], "VACUUM INTO");
    no_file(&target, "VACUUM INTO");
}

async fn vacuum_into_cannot_copy_the_database_under_a_read_only_grant(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_ONLY);
    let target = services.dir.path().join("stolen.db");
    for attack in [
        format!("VACUUM INTO '{}'", target.display()),
        format!(
            "SELECT 1 /* ' */; VACUUM INTO '{}'; /* ' */",
            target.display()
        ),
    ] {
        let report = probe(&host, "sql-query", &attack).await;
        refused_as(&report, &["denied", "invalid"], &attack);
        no_file(&target, &attack);
    }
}

async fn host_tables_cannot_be_written(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_WRITE);
    // A `remove` row would take the component offline on every instance
    // that follows the deployment log.
    for table in ["deployments", "strata.deployments"] {
        let attack = format!(
            "INSERT INTO {table} (component, action, hash, source) VALUES ('hostile', 'remove', NULL, 'attack')"
        );
        let report = probe(&host, "sql-execute", &attack).await;
        refused_as(&report, &["denied", "invalid"], &attack);
    }
    for attack in [
        "DELETE FROM component_blobs",
        "DELETE FROM strata.component_blobs",
        "DROP TABLE deployments",
    ] {
        let report = probe(&host, "sql-execute", attack).await;
        refused_as(&report, &["denied", "invalid"], attack);
    }
    // Give the deployment-log follower time to act on a forged row.
    tokio::time::sleep(strata::deploy::SYNC_INTERVAL * 4).await;
    let still = probe(&host, "sql-query", "SELECT 1").await;
    assert_eq!(
        still["outcome"], "ok",
        "the component still serves: {still}"
    );
}

async fn host_tables_cannot_be_read(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_ONLY);
    for attack in [
        "SELECT hash FROM component_blobs",
        "SELECT hash FROM strata.component_blobs",
        "SELECT component FROM deployments",
        "SELECT * FROM strata.component_roles",
    ] {
        let report = probe(&host, "sql-query", attack).await;
        refused_as(&report, &["denied", "invalid"], attack);
    }
}

async fn the_migration_ledger_cannot_be_edited(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_WRITE);
    // Editing a checksum makes every later start fail its migrations.
    let attack = "UPDATE _sqlx_migrations SET checksum = x'00'";
    let report = probe(&host, "sql-execute", attack).await;
    refused_as(&report, &["denied", "invalid"], attack);
    let read = probe(&host, "sql-query", "SELECT version FROM _sqlx_migrations").await;
    refused_as(
        &read,
        &["denied", "invalid"],
        "reading the migration ledger",
    );
}

async fn pg_read_file_is_refused(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_WRITE);
    let report = probe(&host, "sql-query", "SELECT pg_read_file('/etc/hostname')").await;
    let kind = if is_postgres(backend) {
        "denied"
    } else {
        "invalid" // no such function in SQLite
    };
    refused(&report, kind, "pg_read_file");
}

/// Sets a session setting with `mode`, then reads it back with a query.
async fn session_setting_leaks(host: &Host, mode: &str) -> Option<String> {
    let set = "SELECT set_config('strata.probe', 'leaked', false)";
    let _ = probe(host, mode, set).await;
    let read = probe(
        host,
        "sql-query",
        "SELECT current_setting('strata.probe', true)",
    )
    .await;
    read["rows"][0][0].as_str().map(str::to_string)
}

async fn set_config_does_not_persist_to_the_next_read(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_single_connection(&services, READ_ONLY);
    let seen = session_setting_leaks(&host, "sql-query").await;
    assert_ne!(
        seen.as_deref(),
        Some("leaked"),
        "a read-only call's SET leaked"
    );
}

async fn set_config_does_not_persist_to_the_next_write(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_single_connection(&services, READ_WRITE);
    let seen = session_setting_leaks(&host, "sql-execute").await;
    assert_ne!(
        seen.as_deref(),
        Some("leaked"),
        "a read-write call's SET leaked"
    );
}

async fn copy_to_program_is_refused(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_WRITE);
    let marker = services.dir.path().join("pwned");
    let attack = format!("COPY (SELECT 1) TO PROGRAM 'touch {}'", marker.display());
    let report = probe(&host, "sql-execute", &attack).await;
    let kind = if is_postgres(backend) {
        "denied"
    } else {
        "invalid"
    };
    refused(&report, kind, "COPY TO PROGRAM");
    no_file(&marker, "COPY TO PROGRAM");
}

async fn a_data_modifying_cte_is_refused_under_a_read_only_grant(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_with(&services, READ_ONLY);
    // SQLite has no DML inside a CTE, but a CTE may lead a DELETE.
    let attack = if is_postgres(backend) {
        "WITH gone AS (DELETE FROM reports RETURNING id) SELECT count(*) FROM gone"
    } else {
        "WITH x AS (SELECT 1) DELETE FROM reports"
    };
    let report = probe(&host, "sql-query", attack).await;
    refused(&report, "denied", attack);
    assert_eq!(report_count(&host).await, SEED_REPORTS);
}

/// A statement that runs far longer than any deadline in these tests.
fn endless_query(backend: Backend) -> &'static str {
    if is_postgres(backend) {
        "SELECT pg_sleep(60)"
    } else {
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    }
}

/// Sends an endless statement to the `sql-query` probe and asserts it was
/// stopped at the request's deadline: either the request ran out first
/// (504) or the statement did and the guest answered with the timeout.
async fn assert_stopped_at_the_deadline(host: &Host, backend: Backend) {
    let response = http()
        .post(format!("{}/hostile/sql-query", host.url))
        .body(endless_query(backend))
        .send()
        .await
        .expect("probe");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    if status == 200 {
        let report: Value = serde_json::from_str(&body).expect("probe JSON");
        let message = refused(&report, "other", "a statement past its deadline");
        assert!(message.contains("timed out"), "{message}");
    } else {
        assert_eq!(status, 504, "{body}");
    }
}

async fn publish_report(host: &Host) -> u16 {
    let admin = host.admin_url.clone().expect("admin listener");
    http()
        .post(format!("{admin}/admin/reports"))
        .json(&json!({
            "symbol": "btc", "timeframe": "1d", "title": "After the deadline", "body": "<p>x</p>"
        }))
        .send()
        .await
        .expect("publish")
        .status()
        .as_u16()
}

async fn a_query_cut_by_the_deadline_leaves_host_writes_working(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_single_connection(&services, READ_ONLY);
    assert_stopped_at_the_deadline(&host, backend).await;
    assert_eq!(publish_report(&host).await, 201, "the host can still write");
    assert_eq!(report_count(&host).await, SEED_REPORTS + 1);
}

async fn a_statement_stops_at_its_request_deadline(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile_single_connection(&services, READ_ONLY);
    assert_stopped_at_the_deadline(&host, backend).await;
    // The one read-only connection is free again only if the statement
    // stopped: a statement still running would hold it for a minute.
    let started = Instant::now();
    let next = probe(&host, "sql-query", "SELECT 1").await;
    assert_eq!(next["outcome"], "ok", "{next}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the next statement waited {:?}",
        started.elapsed()
    );
}

async fn the_host_wide_statement_timeout_caps_every_statement(backend: Backend) {
    let services = Services::start(backend).await;
    let host = hostile::host(
        &services,
        READ_ONLY,
        &[("STRATA_SQL_STATEMENT_TIMEOUT_MS", "300")],
    );
    let started = Instant::now();
    let report = probe(&host, "sql-query", endless_query(backend)).await;
    let message = refused(&report, "other", "a statement past the cap");
    assert!(message.contains("timed out"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        started.elapsed()
    );
}

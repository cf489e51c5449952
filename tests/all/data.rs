//! The SQL capability on both backends (the same suite over Postgres and the
//! embedded SQLite), report publishing, and a database outage.

use std::time::{Duration, Instant};

use crate::support::{Backend, PgDatabase, Proxy, Services, http};
use strata::config::SqlGrant;
use strata::data::{Database, PoolSettings, SqlError, SqlValue};

fn settings() -> PoolSettings {
    PoolSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
        row_limit: 3,
        ..PoolSettings::default()
    }
}

/// Keeps a test's database alive until the test ends (dropping it removes
/// the database or its folder); never read, only held.
#[allow(dead_code)]
enum Guard {
    Pg(PgDatabase),
    Sqlite(tempfile::TempDir),
}

async fn open(postgres: bool) -> (Database, Guard) {
    if postgres {
        let pg = crate::support::pg_database();
        (
            Database::postgres(&pg.url(), settings())
                .await
                .expect("postgres"),
            Guard::Pg(pg),
        )
    } else {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::sqlite(&dir.path().join("t.db"), settings())
            .await
            .expect("sqlite");
        (db, Guard::Sqlite(dir))
    }
}

async fn report_count(db: &Database) -> i64 {
    let rows = db
        .query(SqlGrant::ReadOnly, "SELECT COUNT(*) AS n FROM reports", &[])
        .await
        .expect("count");
    match rows.rows[0][0] {
        SqlValue::Int(n) => n,
        ref other => panic!("count is {other:?}"),
    }
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(true).await; })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(false).await; })*
        }
    };
}

on_both_databases!(
    a_read_only_grant_cannot_write,
    a_write_hidden_in_a_read_is_stopped_by_the_database,
    sql_injection_through_parameters_does_nothing,
    values_round_trip_with_their_types,
    queries_return_at_most_the_row_limit_and_say_so,
    constraint_violations_are_typed_errors,
    no_grant_means_no_access,
);

async fn a_read_only_grant_cannot_write(postgres: bool) {
    let (db, _guard) = open(postgres).await;
    let write = db
        .execute(SqlGrant::ReadOnly, "DELETE FROM reports", &[])
        .await;
    assert!(matches!(write, Err(SqlError::Denied(_))), "{write:?}");
    let sneaky = db
        .query(SqlGrant::ReadOnly, "DELETE FROM reports RETURNING id", &[])
        .await;
    assert!(matches!(sneaky, Err(SqlError::Denied(_))), "{sneaky:?}");
    assert_eq!(report_count(&db).await, 4);
}

async fn a_write_hidden_in_a_read_is_stopped_by_the_database(postgres: bool) {
    let (db, _guard) = open(postgres).await;
    let hidden = db
        .query(
            SqlGrant::ReadOnly,
            "WITH gone AS (DELETE FROM reports RETURNING id) SELECT id FROM gone",
            &[],
        )
        .await;
    assert!(hidden.is_err(), "the database refused it: {hidden:?}");
    assert_eq!(report_count(&db).await, 4);
}

async fn sql_injection_through_parameters_does_nothing(postgres: bool) {
    let (db, _guard) = open(postgres).await;
    for hostile in ["x' OR '1'='1", "'; DROP TABLE reports; --", "1 OR 1=1"] {
        let rows = db
            .query(
                SqlGrant::ReadOnly,
                "SELECT id FROM reports WHERE title = $1",
                &[SqlValue::Text(hostile.into())],
            )
            .await
            .expect("query");
        assert!(rows.rows.is_empty(), "{hostile} matched rows");
    }
    assert_eq!(report_count(&db).await, 4, "the table is intact");
}

async fn values_round_trip_with_their_types(postgres: bool) {
    let (db, _guard) = open(postgres).await;
    let (blob, stamp) = if postgres {
        ("BYTEA", "TIMESTAMPTZ")
    } else {
        ("BLOB", "TIMESTAMP")
    };
    let create = format!(
        "CREATE TABLE kinds (b BOOLEAN, i BIGINT, f DOUBLE PRECISION, t TEXT, y {blob}, s {stamp}, n TEXT)"
    );
    db.execute(SqlGrant::ReadWrite, &create, &[])
        .await
        .expect("create");
    let values = vec![
        SqlValue::Bool(true),
        SqlValue::Int(-42),
        SqlValue::Float(2.5),
        SqlValue::Text("héllo".into()),
        SqlValue::Bytes(vec![0, 1, 255]),
        SqlValue::Timestamp(1_763_452_800_123_456),
        SqlValue::Null,
    ];
    let inserted = db
        .execute(
            SqlGrant::ReadWrite,
            "INSERT INTO kinds VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &values,
        )
        .await
        .expect("insert");
    assert_eq!(inserted, 1);
    let rows = db
        .query(
            SqlGrant::ReadOnly,
            "SELECT b, i, f, t, y, s, n FROM kinds",
            &[],
        )
        .await
        .expect("select");
    assert_eq!(rows.columns, ["b", "i", "f", "t", "y", "s", "n"]);
    assert_eq!(rows.rows, vec![values]);
}

async fn queries_return_at_most_the_row_limit_and_say_so(postgres: bool) {
    let (db, _guard) = open(postgres).await;
    let all = db
        .query(
            SqlGrant::ReadOnly,
            "SELECT id FROM reports ORDER BY id",
            &[],
        )
        .await
        .expect("query");
    assert_eq!(all.rows.len(), 3, "row limit is 3 in this suite");
    assert!(all.truncated);
    let some = db
        .query(
            SqlGrant::ReadOnly,
            "SELECT id FROM reports WHERE id <= 2",
            &[],
        )
        .await
        .expect("query");
    assert_eq!(some.rows.len(), 2);
    assert!(!some.truncated);
}

async fn constraint_violations_are_typed_errors(postgres: bool) {
    let (db, _guard) = open(postgres).await;
    let missing = db
        .execute(
            SqlGrant::ReadWrite,
            "INSERT INTO reports (symbol) VALUES ($1)",
            &[SqlValue::Text("btc".into())],
        )
        .await;
    assert!(
        matches!(missing, Err(SqlError::Constraint(_))),
        "{missing:?}"
    );
    let syntax = db.query(SqlGrant::ReadOnly, "SELECT FROM WHERE", &[]).await;
    assert!(
        matches!(syntax, Err(SqlError::Invalid(_) | SqlError::Other(_))),
        "{syntax:?}"
    );
}

async fn no_grant_means_no_access(postgres: bool) {
    let (db, _guard) = open(postgres).await;
    let read = db.query(SqlGrant::None, "SELECT 1", &[]).await;
    assert!(matches!(read, Err(SqlError::Denied(_))), "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_report_becomes_the_latest_without_a_restart() {
    for backend in [Backend::RedisPostgres, Backend::Bare] {
        let services = Services::start(backend).await;
        let host = services.host();
        assert_eq!(
            host.get("/reports/latest")
                .await
                .header("x-strata-report-id"),
            Some("4")
        );
        let admin = host.admin_url.clone().expect("admin listener");
        let published = http()
            .post(format!("{admin}/admin/reports"))
            .json(&serde_json::json!({
                "symbol": "ETH", "timeframe": "1d", "title": "Ether daily: fresh take", "body": "<p>New.</p>"
            }))
            .send()
            .await
            .expect("POST");
        assert_eq!(published.status().as_u16(), 201);
        let latest = host.get("/reports/latest").await;
        assert_eq!(
            latest.header("x-strata-report-id"),
            Some("5"),
            "{backend:?}"
        );
        assert!(latest.body.contains("Ether daily: fresh take"));

        let invalid = http()
            .post(format!("{admin}/admin/reports"))
            .json(
                &serde_json::json!({ "symbol": "", "timeframe": "1d", "title": "t", "body": "b" }),
            )
            .send()
            .await
            .expect("POST");
        assert_eq!(invalid.status().as_u16(), 400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_database_goes_away_reports_answer_from_l1_or_503_and_recover() {
    let services = Services::start(Backend::Bare).await;
    let pg = crate::support::pg_database();
    let proxy = Proxy::start("127.0.0.1:5432".parse().expect("address")).await;
    let url = pg
        .url()
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let host = services.host_with(&[
        ("DATABASE_URL", &url),
        ("STRATA_DB_ACQUIRE_TIMEOUT_SECONDS", "2"),
    ]);
    assert_eq!(host.get("/reports/1").await.status, 200);

    proxy.cut();
    let cached = host.get("/reports/1").await;
    assert_eq!(cached.status, 200, "served from L1");
    assert_eq!(cached.cache(), "hit-l1");
    let uncached = host.get("/reports/2").await;
    assert_eq!(uncached.status, 503, "{}", uncached.body);
    assert!(
        uncached.json()["error"]
            .as_str()
            .unwrap_or("")
            .contains("database unavailable")
    );
    assert_eq!(host.get("/health").await.json()["status"], "degraded");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = host.get("/reports/2").await;
        if reply.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(host.get("/health").await.json()["status"], "healthy");
}

/// Applies the migrations today's main shipped (0001 to 0003) with sqlx's
/// own migrator, so the checksums match what that binary recorded.
async fn migrate_as_before<'a, A>(backend: &str, target: A)
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/data/migrations")
        .join(backend);
    let old = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(&source).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if ["0001_", "0002_", "0003_"]
            .iter()
            .any(|v| name.starts_with(v))
        {
            std::fs::copy(&path, old.path().join(&name)).expect("copy migration");
        }
    }
    sqlx::migrate::Migrator::new(old.path())
        .await
        .expect("old migrations")
        .run(target)
        .await
        .expect("old schema");
}

/// Rows a host built from today's main would have written (the blob's
/// bytes are bound: `$1` is [1, 2]).
const LEGACY_ROWS: [&str; 4] = [
    "INSERT INTO component_blobs (hash, bytes, size) VALUES ('aa', $1, 2)",
    "INSERT INTO deployments (component, action, hash, source) VALUES ('market', 'deploy', 'aa', 'manifest')",
    "INSERT INTO deployments (component, action, hash, source) VALUES ('market', 'remove', NULL, 'admin')",
    "INSERT INTO reports (symbol, timeframe, title, body) VALUES ('btc', '1d', 'Kept', '<p>kept</p>')",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_upgrade_keeps_the_deployment_log_and_reports_out_of_component_reach() {
    let pg = crate::support::pg_database();
    {
        let pool = sqlx::PgPool::connect(&pg.url()).await.expect("connect");
        migrate_as_before("postgres", &pool).await;
        for row in LEGACY_ROWS {
            let query = sqlx::query(row);
            let query = if row.contains("$1") {
                query.bind(vec![1u8, 2])
            } else {
                query
            };
            query.execute(&pool).await.expect(row);
        }
        pool.close().await;
    }
    let db = Database::postgres(&pg.url(), settings())
        .await
        .expect("upgrade");
    assert_upgraded(&db).await;
    let moved = db
        .host_query("SELECT to_regclass('public.deployments') IS NULL", &[])
        .await
        .expect("catalog");
    assert_eq!(moved.rows, vec![vec![SqlValue::Bool(true)]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_upgrade_keeps_the_deployment_log_and_reports_out_of_component_reach() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("strata.db");
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
        migrate_as_before("sqlite", &pool).await;
        for row in LEGACY_ROWS {
            let query = sqlx::query(row);
            let query = if row.contains("$1") {
                query.bind(vec![1u8, 2])
            } else {
                query
            };
            query.execute(&pool).await.expect(row);
        }
        pool.close().await;
    }
    let db = Database::sqlite(&path, settings()).await.expect("upgrade");
    assert_upgraded(&db).await;
    let left = db
        .host_query(
            "SELECT COUNT(*) FROM main.sqlite_master WHERE name IN ('deployments', 'component_blobs')",
            &[],
        )
        .await
        .expect("catalog");
    assert_eq!(
        left.rows,
        vec![vec![SqlValue::Int(0)]],
        "nothing left in the app file"
    );
    assert!(dir.path().join("strata.host.db").exists());
    drop(db);
    // A second start finds everything in place and moves nothing twice.
    let again = Database::sqlite(&path, settings()).await.expect("restart");
    let history = strata::deploy::store::history(&again, "market", 10)
        .await
        .expect("history");
    assert_eq!(history.len(), 3, "{history:?}");
}

/// What an upgraded database must show: the old log and blobs, still
/// appended to in order, the old reports, and no component reaching either.
async fn assert_upgraded(db: &Database) {
    use strata::deploy::store;
    let history = store::history(db, "market", 10).await.expect("history");
    let actions: Vec<(i64, &str)> = history.iter().map(|d| (d.id, d.action.as_str())).collect();
    assert_eq!(actions, [(2, "remove"), (1, "deploy")]);
    assert_eq!(store::blob(db, "aa").await.expect("blob"), Some(vec![1, 2]));
    let next = store::record(db, "market", "rollback", Some("aa"), "admin")
        .await
        .expect("record");
    assert_eq!(next, 3, "ids continue after the old ones");
    assert_eq!(report_count(db).await, 5);
    for grant in [SqlGrant::ReadOnly, SqlGrant::ReadWrite] {
        for table in ["deployments", "strata.deployments"] {
            let read = db
                .query(grant, &format!("SELECT * FROM {table}"), &[])
                .await;
            assert!(
                matches!(read, Err(SqlError::Denied(_) | SqlError::Invalid(_))),
                "{grant:?} read {table}: {read:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_component_statements_log_in_as_their_own_roles() {
    let (db, _guard) = open(true).await;
    let Guard::Pg(pg) = &_guard else {
        unreachable!("a Postgres guard")
    };
    let roles = strata::data::component_role_names(&pg.name);
    let who = "SELECT session_user::text, current_user::text";
    let read = db.query(SqlGrant::ReadOnly, who, &[]).await.expect("read");
    let write = db
        .query(SqlGrant::ReadWrite, who, &[])
        .await
        .expect("write");
    let text = |s: &str| SqlValue::Text(s.to_string());
    assert_eq!(
        read.rows,
        vec![vec![text(&roles.read_only), text(&roles.read_only)]]
    );
    assert_eq!(
        write.rows,
        vec![vec![text(&roles.read_write), text(&roles.read_write)]]
    );
    // The login is the boundary: there is no other role to go back to.
    let escape = db
        .execute(SqlGrant::ReadWrite, "SET ROLE postgres", &[])
        .await;
    assert!(matches!(escape, Err(SqlError::Denied(_))), "{escape:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_database_user_without_createrole_fails_start_with_one_clear_line() {
    let pg = crate::support::pg_database();
    let user = format!("{}_owner", pg.name);
    // The database's owner (so it may migrate), but no CREATEROLE.
    crate::support::psql(&format!("CREATE ROLE \"{user}\" LOGIN"));
    crate::support::psql(&format!("ALTER DATABASE {} OWNER TO \"{user}\"", pg.name));
    let url = pg.url().replacen("postgres@", &format!("{user}@"), 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = dir.path().join("unused.db");
    let output = tokio::task::spawn_blocking(move || {
        crate::support::Host::command()
            .env("DATABASE_URL", &url)
            .env("STRATA_SQLITE_PATH", sqlite)
            .output()
            .expect("run strata")
    })
    .await
    .expect("join");
    let stderr = String::from_utf8_lossy(&output.stderr);
    crate::support::psql(&format!("DROP DATABASE {} WITH (FORCE)", pg.name));
    crate::support::psql(&format!("DROP ROLE \"{user}\""));
    assert!(
        !output.status.success(),
        "started without CREATEROLE: {stderr}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("strata: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("CREATEROLE"), "{}", errors[0]);
}

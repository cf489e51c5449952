//! Moving host rows out of an app file written by an older layout.
//!
//! Before the host file existed, the deployment log and blobs lived in the
//! app file where components could reach them; an existing installation
//! must keep them across the upgrade, so they are copied over (idempotently,
//! ids kept) before app migration 0004 drops the old tables.

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Executor};

/// Copies the deployment log and blobs an older layout kept in the app
/// file into the host file, keeping ids; running it again changes nothing.
pub(super) async fn move_host_rows(
    conn: &mut SqliteConnection,
    host_file: &str,
) -> Result<(), sqlx::Error> {
    let legacy: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM main.sqlite_master WHERE type = 'table' AND name = 'deployments'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if legacy == 0 {
        return Ok(());
    }
    sqlx::query("ATTACH DATABASE ?1 AS strata")
        .bind(host_file)
        .execute(&mut *conn)
        .await?;
    let mut tx = conn.begin().await?;
    tx.execute(
        "INSERT OR IGNORE INTO strata.component_blobs (hash, bytes, size, created_at) \
         SELECT hash, bytes, size, created_at FROM main.component_blobs",
    )
    .await?;
    tx.execute(
        "INSERT OR IGNORE INTO strata.deployments (id, component, action, hash, source, created_at) \
         SELECT id, component, action, hash, source, created_at FROM main.deployments ORDER BY id",
    )
    .await?;
    tx.commit().await?;
    conn.execute("DETACH DATABASE strata").await?;
    tracing::info!("moved the deployment log and component blobs into the host file");
    Ok(())
}

//! The deployment log and component blobs, in the host's database.
//!
//! They are host state: they live in schema `strata` (Postgres) or the
//! host file attached as `strata` (SQLite), which component SQL cannot
//! reach, and they are read and written on the host pool only
//! ([`Database::host_query`]). Parameters are bound, so the same statements
//! run unchanged on both engines.

use strata_data::{Database, RowSet, SqlError, SqlValue};

/// One row of the deployment log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deployment {
    pub id: i64,
    pub component: String,
    /// `deploy`, `rollback` or `remove`.
    pub action: String,
    /// The active binary after this row; none after a remove.
    pub hash: Option<String>,
    pub source: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
}

/// A stored version of a component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredVersion {
    pub hash: String,
    pub size: i64,
    pub last_deployment_id: i64,
}

const COLUMNS: &str = "id, component, action, hash, source, created_at";

fn int(value: &SqlValue) -> i64 {
    match value {
        SqlValue::Int(v) | SqlValue::Timestamp(v) => *v,
        _ => 0,
    }
}

fn text(value: &SqlValue) -> Option<String> {
    match value {
        SqlValue::Text(v) => Some(v.clone()),
        _ => None,
    }
}

fn deployments(rows: RowSet) -> Vec<Deployment> {
    rows.rows
        .iter()
        .filter(|row| row.len() == 6)
        .map(|row| Deployment {
            id: int(&row[0]),
            component: text(&row[1]).unwrap_or_default(),
            action: text(&row[2]).unwrap_or_default(),
            hash: text(&row[3]),
            source: text(&row[4]).unwrap_or_default(),
            created_at: int(&row[5]),
        })
        .collect()
}

async fn query(db: &Database, sql: &str, params: &[SqlValue]) -> Result<RowSet, SqlError> {
    db.host_query(sql, params).await
}

/// The newest `limit` rows for `component`, newest first.
pub async fn history(
    db: &Database,
    component: &str,
    limit: i64,
) -> Result<Vec<Deployment>, SqlError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM strata.deployments WHERE component = $1 ORDER BY id DESC LIMIT $2"
    );
    let rows = query(
        db,
        &sql,
        &[SqlValue::Text(component.into()), SqlValue::Int(limit)],
    )
    .await?;
    Ok(deployments(rows))
}

/// Rows newer than `after`, oldest first (what other instances did since).
pub async fn since(db: &Database, after: i64) -> Result<Vec<Deployment>, SqlError> {
    let sql =
        format!("SELECT {COLUMNS} FROM strata.deployments WHERE id > $1 ORDER BY id LIMIT 1000");
    Ok(deployments(query(db, &sql, &[SqlValue::Int(after)]).await?))
}

/// The newest row id, 0 when the log is empty.
pub async fn latest_id(db: &Database) -> Result<i64, SqlError> {
    let rows = query(
        db,
        "SELECT COALESCE(MAX(id), 0) FROM strata.deployments",
        &[],
    )
    .await?;
    Ok(rows.rows.first().and_then(|r| r.first()).map_or(0, int))
}

/// A stored binary by hash.
pub async fn blob(db: &Database, hash: &str) -> Result<Option<Vec<u8>>, SqlError> {
    let rows = query(
        db,
        "SELECT bytes FROM strata.component_blobs WHERE hash = $1",
        &[SqlValue::Text(hash.into())],
    )
    .await?;
    Ok(rows
        .rows
        .into_iter()
        .next()
        .and_then(|row| match row.into_iter().next() {
            Some(SqlValue::Bytes(bytes)) => Some(bytes),
            _ => None,
        }))
}

/// Stores a binary once (content-addressed: a second store is a no-op).
pub async fn put_blob(db: &Database, hash: &str, bytes: &[u8]) -> Result<(), SqlError> {
    db.host_execute(
        "INSERT INTO strata.component_blobs (hash, bytes, size) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING",
        &[
            SqlValue::Text(hash.into()),
            SqlValue::Bytes(bytes.to_vec()),
            SqlValue::Int(bytes.len() as i64),
        ],
    )
    .await
    .map(drop)
}

/// Appends a row; returns its id.
pub async fn record(
    db: &Database,
    component: &str,
    action: &str,
    hash: Option<&str>,
    source: &str,
) -> Result<i64, SqlError> {
    // Under the host transaction lock, so log ids follow commit order
    // across instances (the sync loop's cursor never skips a row).
    let rows = db
        .host_transaction(&[insert_deployment(component, action, hash, source)])
        .await?;
    Ok(rows.first().map_or(0, returned_id))
}

/// The versions ever deployed for `component`, most recently used first.
pub async fn versions(db: &Database, component: &str) -> Result<Vec<StoredVersion>, SqlError> {
    let rows = query(
        db,
        "SELECT b.hash, b.size, MAX(d.id) AS last_id FROM strata.deployments d \
         JOIN strata.component_blobs b ON b.hash = d.hash WHERE d.component = $1 \
         GROUP BY b.hash, b.size ORDER BY last_id DESC",
        &[SqlValue::Text(component.into())],
    )
    .await?;
    Ok(rows
        .rows
        .iter()
        .filter(|row| row.len() == 3)
        .map(|row| StoredVersion {
            hash: text(&row[0]).unwrap_or_default(),
            size: int(&row[1]),
            last_deployment_id: int(&row[2]),
        })
        .collect())
}

mod manifests;
pub use manifests::*;

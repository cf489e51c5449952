//! Deployed manifests and the instances serving them, in the host's
//! database (schema `strata`, host pool only, as the deployment log).

use serde::Serialize;
use strata_data::{Database, RowSet, SqlError, SqlValue};

use super::{int, text};

/// One row of the manifest log; the newest is the active manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestRow {
    pub id: i64,
    pub hash: String,
    /// The manifest as stored: file sources replaced by `sha256:` references.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// `seed` (a host's startup manifest on an empty store), `deploy` or
    /// `rollback`.
    pub action: String,
    pub source: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
}

/// What one instance reported serving, for `strata status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceRow {
    pub id: String,
    pub manifest_id: i64,
    pub deployment_id: i64,
    /// `{"address": ..., "components": {name: version}}`.
    pub state: serde_json::Value,
    /// Microseconds since the Unix epoch.
    pub seen_at: i64,
}

fn manifest_rows(rows: RowSet) -> Vec<ManifestRow> {
    rows.rows
        .iter()
        .filter(|row| row.len() == 6)
        .map(|row| ManifestRow {
            id: int(&row[0]),
            hash: text(&row[1]).unwrap_or_default(),
            body: text(&row[2]).unwrap_or_default(),
            action: text(&row[3]).unwrap_or_default(),
            source: text(&row[4]).unwrap_or_default(),
            created_at: int(&row[5]),
        })
        .collect()
}

/// Manifest rows, `body` being the column expression for the body.
async fn select_manifests(
    db: &Database,
    body: &str,
    rest: &str,
    params: &[SqlValue],
) -> Result<Vec<ManifestRow>, SqlError> {
    let sql =
        format!("SELECT id, hash, {body}, action, source, created_at FROM strata.manifests {rest}");
    Ok(manifest_rows(db.host_query(&sql, params).await?))
}

/// The active manifest, if any was ever stored.
pub async fn active_manifest(db: &Database) -> Result<Option<ManifestRow>, SqlError> {
    let rows = select_manifests(db, "body", "ORDER BY id DESC LIMIT 1", &[]).await?;
    Ok(rows.into_iter().next())
}

/// The id of the active manifest, 0 when none is stored.
pub async fn active_manifest_id(db: &Database) -> Result<i64, SqlError> {
    let rows = db
        .host_query("SELECT COALESCE(MAX(id), 0) FROM strata.manifests", &[])
        .await?;
    Ok(rows.rows.first().and_then(|r| r.first()).map_or(0, int))
}

/// The newest `limit` manifests, newest first, without their bodies.
pub async fn manifest_history(db: &Database, limit: i64) -> Result<Vec<ManifestRow>, SqlError> {
    select_manifests(
        db,
        "'' AS body",
        "ORDER BY id DESC LIMIT $1",
        &[SqlValue::Int(limit)],
    )
    .await
}

/// A stored manifest by id, with its body.
pub async fn manifest(db: &Database, id: i64) -> Result<Option<ManifestRow>, SqlError> {
    let rows = select_manifests(db, "body", "WHERE id = $1", &[SqlValue::Int(id)]).await?;
    Ok(rows.into_iter().next())
}

/// Stores a startup manifest if none is stored yet; returns the active one
/// afterwards (another instance's seed, if it won the race).
pub async fn seed_manifest(
    db: &Database,
    hash: &str,
    body: &str,
    source: &str,
) -> Result<Option<ManifestRow>, SqlError> {
    let insert = (
        "INSERT INTO strata.manifests (hash, body, action, source) \
         SELECT $1, $2, 'seed', $3 WHERE NOT EXISTS (SELECT 1 FROM strata.manifests)",
        vec![
            SqlValue::Text(hash.into()),
            SqlValue::Text(body.into()),
            SqlValue::Text(source.into()),
        ],
    );
    // Under the host transaction lock: instances starting at once on an
    // empty store seed one manifest, not one each.
    db.host_transaction(&[insert]).await?;
    active_manifest(db).await
}

/// The statement appending a manifest row (returns its id), for a
/// deploy's transaction.
pub fn insert_manifest(
    hash: &str,
    body: &str,
    action: &str,
    source: &str,
) -> (&'static str, Vec<SqlValue>) {
    (
        "INSERT INTO strata.manifests (hash, body, action, source) VALUES ($1, $2, $3, $4) RETURNING id",
        vec![
            SqlValue::Text(hash.into()),
            SqlValue::Text(body.into()),
            SqlValue::Text(action.into()),
            SqlValue::Text(source.into()),
        ],
    )
}

/// The statement storing a binary once, for a deploy's transaction.
pub fn insert_blob(hash: &str, bytes: &[u8]) -> (&'static str, Vec<SqlValue>) {
    (
        "INSERT INTO strata.component_blobs (hash, bytes, size) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING",
        vec![
            SqlValue::Text(hash.into()),
            SqlValue::Bytes(bytes.to_vec()),
            SqlValue::Int(bytes.len() as i64),
        ],
    )
}

/// The statement appending a deployment row, for a deploy's transaction.
pub fn insert_deployment(
    component: &str,
    action: &str,
    hash: Option<&str>,
    source: &str,
) -> (&'static str, Vec<SqlValue>) {
    (
        "INSERT INTO strata.deployments (component, action, hash, source) VALUES ($1, $2, $3, $4) RETURNING id",
        vec![
            SqlValue::Text(component.into()),
            SqlValue::Text(action.into()),
            hash.map_or(SqlValue::Null, |h| SqlValue::Text(h.into())),
            SqlValue::Text(source.into()),
        ],
    )
}

/// The first column of a `RETURNING id` result.
pub fn returned_id(rows: &RowSet) -> i64 {
    rows.rows.first().and_then(|r| r.first()).map_or(0, int)
}

/// Each component's newest logged hash (`None` after a remove).
pub async fn logged_versions(
    db: &Database,
) -> Result<std::collections::BTreeMap<String, Option<String>>, SqlError> {
    let rows = db
        .host_query(
            "SELECT d.component, d.hash FROM strata.deployments d \
             JOIN (SELECT component, MAX(id) AS id FROM strata.deployments GROUP BY component) newest \
             ON newest.id = d.id",
            &[],
        )
        .await?;
    Ok(rows
        .rows
        .iter()
        .filter(|row| row.len() == 2)
        .filter_map(|row| Some((text(&row[0])?, text(&row[1]))))
        .collect())
}

/// Records what this instance serves now.
pub async fn heartbeat(
    db: &Database,
    instance: &str,
    manifest_id: i64,
    deployment_id: i64,
    state: &serde_json::Value,
    now_micros: i64,
) -> Result<(), SqlError> {
    db.host_execute(
        "INSERT INTO strata.instances (id, manifest_id, deployment_id, state, seen_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
         manifest_id = excluded.manifest_id, deployment_id = excluded.deployment_id, \
         state = excluded.state, seen_at = excluded.seen_at",
        &[
            SqlValue::Text(instance.into()),
            SqlValue::Int(manifest_id),
            SqlValue::Int(deployment_id),
            SqlValue::Text(state.to_string()),
            SqlValue::Int(now_micros),
        ],
    )
    .await
    .map(drop)
}

/// Instances seen since `since_micros`, and forgets those quiet since
/// before `forget_before_micros`.
pub async fn instances(
    db: &Database,
    since_micros: i64,
    forget_before_micros: i64,
) -> Result<Vec<InstanceRow>, SqlError> {
    db.host_execute(
        "DELETE FROM strata.instances WHERE seen_at < $1",
        &[SqlValue::Int(forget_before_micros)],
    )
    .await?;
    let rows = db
        .host_query(
            "SELECT id, manifest_id, deployment_id, state, seen_at FROM strata.instances \
             WHERE seen_at >= $1 ORDER BY id",
            &[SqlValue::Int(since_micros)],
        )
        .await?;
    Ok(rows
        .rows
        .iter()
        .filter(|row| row.len() == 5)
        .map(|row| InstanceRow {
            id: text(&row[0]).unwrap_or_default(),
            manifest_id: int(&row[1]),
            deployment_id: int(&row[2]),
            state: text(&row[3])
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(serde_json::Value::Null),
            seen_at: int(&row[4]),
        })
        .collect())
}

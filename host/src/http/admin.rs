//! Operator endpoints: cache statistics and cache clearing.

use http_body_util::{BodyExt, Limited};
use hyper::StatusCode;
use serde_json::json;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::ClientBody;
use super::error::{ApiError, json_response};
use crate::app::App;

/// `GET /cache-stats`: figures per tier plus the report cache, in the shape
/// of the seed's example, extended with size, promotions, coalesced waits
/// and stale serves.
pub async fn cache_stats(app: &App) -> hyper::Response<HyperOutgoingBody> {
    let stats = app.cache.stats().await;
    let latest_report = app
        .cache
        .peek_l1(&strata_keys::CacheKeys::report_latest_id())
        .await
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .and_then(|text| text.trim().parse::<i64>().ok());
    let body = json!({
        "cache_system": "Unified Multi-Tier (L1: In-Memory + L2: Redis)",
        "l1_cache": {
            "type": "moka::future::Cache",
            "entry_count": stats.l1.entries,
            "weighted_size_bytes": stats.l1.weighted_size_bytes,
            "max_capacity": stats.l1.max_entries,
            "max_bytes": stats.l1.max_bytes,
            "hit_count": stats.l1.hits,
            "miss_count": stats.l1.misses,
            "hit_rate_percent": stats.l1.hit_rate_percent,
            "ttl_seconds": stats.l1.default_ttl_seconds,
            "healthy": true,
            "shares": stats.l1.partitions,
        },
        "l2_cache": {
            "type": "Redis",
            "configured": stats.l2.configured,
            "mode": stats.l2.mode,
            "healthy": stats.l2.healthy,
            "status": strata_cache::l2_state(stats.l2.configured, stats.l2.healthy),
            "breaker": stats.l2.breaker,
            "hit_count": stats.l2.hits,
            "miss_count": stats.l2.misses,
            "hit_rate_percent": stats.l2.hit_rate_percent,
            "errors": stats.l2.errors,
            "writes": stats.l2.writes,
            "last_latency_ms": stats.l2.last_latency_ms,
            "ttl_seconds": stats.l2.default_ttl_seconds,
        },
        "report_cache": {
            "entry_count": app.cache.family_entries("report"),
            "latest_report_id": latest_report,
        },
        "flow": {
            "promotions": stats.promotions,
            "computes": stats.computes,
            "early_refreshes": stats.early_refreshes,
            "coalesced_waits": stats.coalesced_waits,
            "stale_serves": stats.stale_serves,
            "in_flight": stats.in_flight,
            "negative_hits": stats.negative_hits,
            "negative_hits_by_family": stats.negative_hits_by_family,
            "negative_fills": stats.negative_fills,
            "warmed_keys": stats.warmed_keys,
            "family_clears": stats.family_clears,
            "resync_family_drops": stats.resync_family_drops,
            "resync_full_drops": stats.resync_full_drops,
        },
    });
    json_response(StatusCode::OK, &body)
}

/// `POST /clear-cache[?pattern=GLOB]`: removes matching keys from L1 and L2
/// here, and from every other instance's L1 before answering.
pub async fn clear_cache(
    app: &App,
    query: Option<&str>,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let pattern = query
        .into_iter()
        .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
        .find(|(name, _)| name == "pattern")
        .map_or_else(|| "*".to_string(), |(_, value)| value.into_owned());
    strata_keys::validate_pattern(&pattern)
        .map_err(|e| ApiError::BadRequest(format!("pattern '{pattern}': {e}")))?;
    let cleared = app.cache.clear_pattern(&pattern).await;
    let mut operations = vec![format!("Cleared {} L1 keys", cleared.l1)];
    match &cleared.l2_error {
        None if cleared.generation.is_some() => operations.push(
            "Moved the family to a new generation; its old Redis keys are unreachable and expire by their TTL".to_string(),
        ),
        None => operations.push(format!("Cleared {} Redis keys", cleared.l2)),
        Some(error) => operations.push(format!(
            "Redis not fully cleared ({error}); what is left there expires by its TTL"
        )),
    }
    let body = json!({
        "success": cleared.l2_error.is_none(),
        "message": if pattern == "*" { "All caches cleared".to_string() } else { format!("Keys matching '{pattern}' cleared") },
        "pattern": pattern,
        "cleared": cleared,
        "operations": operations,
        "timestamp": chrono::Utc::now().to_rfc3339(),
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /admin/components`: every declared component, its active version,
/// stored versions and recent deployment history.
pub async fn list_components(app: &App) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let components = app.deployer.status().await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "components": components }),
    ))
}

/// Refuses a body whose `Content-Type` is not one of `accepted` (its
/// essence, parameters such as `charset` aside). A browser form cannot send
/// these types cross-site without a preflight, and a mislabelled upload is
/// caught before it is read.
pub(super) fn require_content_type<B>(
    req: &hyper::Request<B>,
    accepted: &[&str],
    expected: &'static str,
) -> Result<(), ApiError> {
    let got = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let essence = got.split(';').next().unwrap_or_default().trim();
    if accepted.iter().any(|a| a.eq_ignore_ascii_case(essence)) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType { expected, got })
    }
}

/// `POST /admin/components/{name}` with the component binary as the body.
pub async fn deploy<B: ClientBody>(
    app: &App,
    name: &str,
    req: hyper::Request<B>,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    require_content_type(
        &req,
        &["application/wasm", "application/octet-stream"],
        "application/wasm",
    )?;
    let limit = app.deployer.max_bytes();
    let bytes = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::Deploy(crate::deploy::DeployError::TooLarge {
                    size: limit + 1,
                    limit,
                })
            } else {
                ApiError::BadRequest(format!("cannot read the upload: {e}"))
            }
        })?
        .to_bytes();
    if bytes.is_empty() {
        return Err(ApiError::BadRequest(
            "the upload is empty; send the .wasm file as the request body".into(),
        ));
    }
    let outcome = app.deployer.deploy(name, bytes.to_vec(), "upload").await?;
    Ok(json_response(StatusCode::CREATED, &json!(outcome)))
}

/// `POST /admin/components/{name}/rollback`.
pub async fn rollback(
    app: &App,
    name: &str,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let outcome = app.deployer.rollback(name).await?;
    Ok(json_response(StatusCode::OK, &json!(outcome)))
}

/// `DELETE /admin/components/{name}`.
pub async fn remove(app: &App, name: &str) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let id = app.deployer.remove(name).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "component": name, "action": "remove", "deployment_id": id }),
    ))
}

/// `POST /admin/reports`: publishes a report. It becomes `/reports/latest`
/// at once on every instance: the cached latest id is deleted (and the
/// deletion broadcast), so the next request looks it up again.
pub async fn create_report<B: ClientBody>(
    app: &App,
    req: hyper::Request<B>,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    require_content_type(&req, &["application/json"], "application/json")?;
    let bytes = Limited::new(req.into_body(), 256 * 1024)
        .collect()
        .await
        .map_err(|e| ApiError::BadRequest(format!("cannot read the report: {e}")))?
        .to_bytes();
    let report: strata_data::reports::NewReport = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("report JSON: {e}")))?;
    report.validate().map_err(ApiError::BadRequest)?;
    let id = strata_data::reports::insert(&app.database, &report).await?;
    app.cache
        .delete(&strata_keys::CacheKeys::report_latest_id())
        .await;
    tracing::info!(id, "report published");
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "id": id, "latest": true }),
    ))
}

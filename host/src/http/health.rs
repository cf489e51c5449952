//! `GET /health`: is this instance fit to serve, and what is degraded.

use hyper::StatusCode;
use serde_json::json;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::error::json_response;
use crate::app::App;

/// Healthy when every configured dependency answers; degraded (still 200,
/// the host keeps serving from L1 and recomputation) when Redis or the
/// database does not; unhealthy (503, so a load balancer drains it) when no
/// component is deployed and there is nothing to serve.
///
/// The endpoint is public, so it says what is down, never why: driver and
/// server error text names hosts, users and schema. The details go to the
/// log (debug level: load balancers poll this often).
pub async fn report(app: &App) -> hyper::Response<HyperOutgoingBody> {
    let stats = app.cache.stats().await;
    let l2 = app.cache.l2_health().await;
    let database = app.database.ping().await;
    let mut reasons = Vec::new();
    if l2.configured && !l2.healthy {
        tracing::debug!(status = %l2.status, "health: redis is unavailable");
        reasons.push("redis: unavailable".to_string());
    }
    if let Err(e) = &database {
        tracing::debug!(error = %e, "health: the database is unavailable");
        reasons.push("database: unavailable".to_string());
    }
    let deployed = app.dispatcher.current().registry.deployed();
    let (status, code) = if deployed == 0 {
        reasons.push("no component is deployed".into());
        ("unhealthy", StatusCode::SERVICE_UNAVAILABLE)
    } else if reasons.is_empty() {
        ("healthy", StatusCode::OK)
    } else {
        ("degraded", StatusCode::OK)
    };
    let body = json!({
        "status": status,
        "reasons": reasons,
        "cache_system": {
            "type": "unified_multi_tier",
            "l1_entries": stats.l1.entries,
            "l1_hit_count": stats.l1.hits,
            "l1_miss_count": stats.l1.misses,
            "l1_hit_rate": stats.l1.hit_rate_percent,
            "l2_configured": l2.configured,
            "l2_mode": l2.mode,
            "l2_healthy": l2.healthy,
            "l2_status": strata_cache::l2_state(l2.configured, l2.healthy),
            "overall_healthy": !l2.configured || l2.healthy,
        },
        "database": {
            "backend": app.database.backend(),
            "healthy": database.is_ok(),
        },
        "components": deployed,
        "uptime_seconds": app.started.elapsed().as_secs(),
    });
    json_response(code, &body)
}

//! `GET /api/crypto/dashboard-summary/cached`: the seed's legacy cache-only
//! read of the dashboard summary, which its clients still call.
//!
//! It is a host endpoint, not a dashboard component route, because its one
//! promise is what it does *not* do: it never computes and never calls
//! upstream, so a flood of it costs a cache lookup each. It reads the key
//! the dashboard component fills (L1, then L2 with promotion, as every
//! cache read does) and answers with that tier's `x-strata-cache` value.
//! Nothing cached is a 503 with `Retry-After`: the scheduled refresh, or a
//! client of `/api/crypto/dashboard-summary`, fills it.

use std::time::Duration;

use bytes::Bytes;
use hyper::header::HeaderValue;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::error::ApiError;
use crate::app::App;

/// `Retry-After` when no scheduled refresh will fill the cache: only a
/// client of the computing route will, at a time no one can predict.
const RETRY_UNSCHEDULED: Duration = Duration::from_secs(10);
/// The longest `Retry-After` given, however rare the scheduled refresh.
const RETRY_MAX: Duration = Duration::from_secs(60);

/// The cached summary as stored, or [`ApiError::NotCached`].
pub async fn dashboard_summary(app: &App) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let key = strata_keys::CacheKeys::dashboard_summary();
    let not_cached = || ApiError::NotCached {
        what: "the dashboard summary",
        retry_after: retry_after(app.live.interval()).as_secs(),
    };
    let hit = app.cache.get(&key).await.ok_or_else(not_cached)?;
    // Whatever holds a grant on `dashboard:` can write this key; the host
    // labels the bytes JSON only if they are.
    if !is_json(&hit.value) {
        tracing::warn!(key, "cached value is not JSON; not serving it");
        return Err(not_cached());
    }
    let mut response = hyper::Response::new(crate::body::full(hit.value));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        "x-strata-cache",
        HeaderValue::from_static(hit.tier.header_value()),
    );
    Ok(response)
}

/// Whether `bytes` are one JSON document (checked without building it).
fn is_json(bytes: &Bytes) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

/// When a cold cache is worth asking again: within one scheduled refresh
/// (bounded), or a short fixed pause when nothing is scheduled.
fn retry_after(refresh_interval: Duration) -> Duration {
    if refresh_interval.is_zero() {
        RETRY_UNSCHEDULED
    } else {
        refresh_interval.clamp(Duration::from_secs(1), RETRY_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Tier;

    #[test]
    fn retry_after_follows_the_refresh_schedule_within_bounds() {
        assert_eq!(retry_after(Duration::ZERO), RETRY_UNSCHEDULED);
        assert_eq!(
            retry_after(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        assert_eq!(
            retry_after(Duration::from_millis(200)),
            Duration::from_secs(1)
        );
        assert_eq!(retry_after(Duration::from_secs(3600)), RETRY_MAX);
    }

    #[test]
    fn only_json_is_served() {
        assert!(is_json(&Bytes::from_static(br#"{"top_coins":[]}"#)));
        for junk in [&b""[..], b"<script>", b"{\"a\":1} trailing", b"\xff"] {
            assert!(!is_json(&Bytes::copy_from_slice(junk)), "{junk:?}");
        }
    }

    #[test]
    fn tier_values_are_the_documented_cache_header_values() {
        let document: serde_json::Value =
            serde_json::from_str(include_str!("openapi.json")).expect("openapi.json");
        let documented = &document["components"]["headers"]["X-Strata-Cache"]["schema"]["enum"];
        for tier in [Tier::L1, Tier::L2] {
            let value = serde_json::json!(tier.header_value());
            assert!(
                documented.as_array().is_some_and(|v| v.contains(&value)),
                "{value} not in {documented}"
            );
        }
    }
}

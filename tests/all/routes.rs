//! Every route of SPEC section 1, end to end through the real binary: with
//! Redis + Postgres, with a Redis Cluster + Postgres, and with no Redis and
//! the embedded SQLite.
//!
//! "Served from cache" is proven twice: the component's `x-strata-cache`
//! header, and the simulator's request counter standing still.

use crate::support::{Backend, Services};

/// Defines each behaviour once and runs it against every backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod with_redis_and_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::RedisPostgres).await;
                }
            )*
        }
        mod with_a_redis_cluster_and_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::ClusterPostgres).await;
                }
            )*
        }
        mod without_redis_on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Bare).await;
                }
            )*
        }
    };
}

on_every_backend!(
    dashboard_summary_is_computed_once_then_served_from_cache,
    dashboard_refresh_bypasses_and_refills_the_cache,
    market_quote_is_cached_under_the_lowercased_symbol,
    unknown_symbol_is_a_404_json_error_remembered_briefly,
    rsi_sma_and_ema_are_computed_and_cached_per_period,
    unsupported_indicator_or_bad_period_is_a_400_json_error,
    latest_report_is_primed_at_start,
    report_pages_render_html_from_the_database_and_are_cached,
    unknown_report_is_a_404_json_error,
    unknown_route_is_a_404_json_error,
    wrong_method_is_a_405_json_error_listing_allowed_methods,
    health_reports_cache_and_database_status,
);

async fn dashboard_summary_is_computed_once_then_served_from_cache(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();

    let first = host.get("/api/crypto/dashboard-summary").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.cache(), "miss");
    let summary = first.json();
    assert!(summary["total_market_cap_usd"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(summary["top_coins"].as_array().map(Vec::len), Some(10));
    assert_eq!(summary["top_coins"][0]["symbol"], "btc");
    let upstream_calls = services.simulator.requests().await;

    let second = host.get("/api/crypto/dashboard-summary").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.cache(), "hit-l1");
    assert_eq!(second.json(), summary, "a hit returns the cached value");
    assert_eq!(services.simulator.requests().await, upstream_calls);
}

async fn dashboard_refresh_bypasses_and_refills_the_cache(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();
    assert_eq!(host.get("/api/crypto/dashboard-summary").await.status, 200);
    let before = services.simulator.requests().await;

    // Admin-only (it spends upstream calls on demand): the operator's way in.
    let refreshed = host
        .admin("GET", "/api/crypto/dashboard-summary/refresh")
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(refreshed.cache(), "miss");
    assert!(
        services.simulator.requests().await > before,
        "refresh calls upstream"
    );

    let after_refresh = services.simulator.requests().await;
    let next = host.get("/api/crypto/dashboard-summary").await;
    assert_eq!(next.cache(), "hit-l1");
    assert_eq!(
        next.json(),
        refreshed.json(),
        "the refresh refilled the cache"
    );
    assert_eq!(services.simulator.requests().await, after_refresh);
}

async fn market_quote_is_cached_under_the_lowercased_symbol(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();

    let first = host.get("/api/market/BTC").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.cache(), "miss");
    let quote = first.json();
    assert_eq!(quote["symbol"], "btc");
    assert_eq!(quote["id"], "bitcoin");
    assert!(quote["price_usd"].as_f64().unwrap_or(0.0) > 0.0);
    let upstream_calls = services.simulator.requests().await;

    let second = host.get("/api/market/btc").await;
    assert_eq!(second.cache(), "hit-l1", "BTC and btc share one key");
    assert_eq!(second.json(), quote);
    assert_eq!(services.simulator.requests().await, upstream_calls);
}

async fn unknown_symbol_is_a_404_json_error_remembered_briefly(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();
    for expected in ["miss", "hit-negative"] {
        let reply = host.get("/api/market/notacoin").await;
        assert_eq!(reply.status, 404);
        assert!(
            reply.json()["error"]
                .as_str()
                .unwrap_or("")
                .contains("notacoin")
        );
        assert_eq!(reply.cache(), expected, "the 404 is remembered");
    }
    let invalid = host.get("/api/market/b%20tc").await;
    assert_eq!(invalid.status, 400, "{}", invalid.body);
    assert!(invalid.json()["error"].is_string());
}

async fn rsi_sma_and_ema_are_computed_and_cached_per_period(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();
    for indicator in ["rsi", "sma", "ema"] {
        let path = format!("/api/indicators/ETH/{indicator}/14");
        let first = host.get(&path).await;
        assert_eq!(first.status, 200, "{path}: {}", first.body);
        let body = first.json();
        assert_eq!(body["indicator"], indicator);
        assert_eq!(body["symbol"], "eth");
        assert_eq!(body["period"], 14);
        let value = body["value"].as_f64().expect("numeric value");
        if indicator == "rsi" {
            assert!((0.0..=100.0).contains(&value), "RSI {value} out of range");
        } else {
            let price = body["last_price_usd"].as_f64().expect("last price");
            assert!(
                value > price * 0.5 && value < price * 1.5,
                "{indicator} {value} vs price {price}"
            );
        }
        let calls = services.simulator.requests().await;
        let second = host.get(&path).await;
        assert_eq!(second.cache(), "hit-l1", "{path}");
        assert_eq!(second.json(), body);
        assert_eq!(services.simulator.requests().await, calls);
    }
    let other_period = host.get("/api/indicators/eth/rsi/21").await;
    assert_eq!(other_period.status, 200);
    assert_eq!(other_period.cache(), "miss", "each period has its own key");
}

async fn unsupported_indicator_or_bad_period_is_a_400_json_error(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();
    for path in [
        "/api/indicators/eth/macd/14",
        "/api/indicators/eth/rsi/1",
        "/api/indicators/eth/rsi/abc",
        "/api/indicators/eth/rsi/5000",
    ] {
        let reply = host.get(path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{path}");
    }
}

async fn latest_report_is_primed_at_start(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();
    let reply = host.get("/reports/latest").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.cache(),
        "hit-l1",
        "warm-up at start filled the report cache"
    );
    assert_eq!(reply.header("x-strata-report-id"), Some("4"));
    assert!(
        reply
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(
        reply
            .body
            .contains("Market structure: dominance rotates back to majors")
    );
}

async fn report_pages_render_html_from_the_database_and_are_cached(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();

    let page = host.get("/reports/1").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.cache(), "miss");
    assert!(page.body.starts_with("<!DOCTYPE html>"));
    assert!(
        page.body
            .contains("Bitcoin daily: range holds above the 20-day average")
    );
    assert!(
        page.body.contains("<h2>Levels</h2>"),
        "trusted body HTML is rendered as-is"
    );

    let again = host.get("/reports/1").await;
    assert_eq!(again.cache(), "hit-l1");
    assert_eq!(again.body, page.body);

    let print = host.get("/reports/1/pdf-template").await;
    assert_eq!(print.status, 200);
    assert_eq!(
        print.cache(),
        "hit-l1",
        "the print page reuses the cached report"
    );
    assert!(print.body.contains("@page"), "print-ready CSS");
    assert!(print.body.contains("Bitcoin daily"));
}

async fn unknown_report_is_a_404_json_error(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();
    let missing = host.get("/reports/999").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.json()["error"]
            .as_str()
            .unwrap_or("")
            .contains("999")
    );
    let bad = host.get("/reports/abc").await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].is_string());
}

async fn unknown_route_is_a_404_json_error(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();
    let reply = host.get("/api/nothing/here").await;
    assert_eq!(reply.status, 404);
    let body = reply.json();
    assert_eq!(body["code"], "not_found");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("/api/nothing/here")
    );
}

async fn wrong_method_is_a_405_json_error_listing_allowed_methods(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();
    let reply = host.request("POST", "/api/market/btc").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET"));
    assert_eq!(reply.json()["code"], "method_not_allowed");
}

async fn health_reports_cache_and_database_status(backend: Backend) {
    let services = Services::start(backend).await;
    let host = services.host();
    host.get("/api/market/eth").await;
    host.get("/api/market/eth").await;

    let health = host.get("/health").await;
    assert_eq!(health.status, 200);
    let body = health.json();
    assert_eq!(body["status"], "healthy", "{body}");
    assert_eq!(body["components"], 3);
    let cache = &body["cache_system"];
    assert!(cache["l1_hit_count"].as_u64().unwrap_or(0) >= 1);
    assert!(cache["l1_entries"].as_u64().unwrap_or(0) >= 1);
    match backend {
        Backend::RedisPostgres => {
            assert_eq!(cache["l2_healthy"], true);
            assert_eq!(cache["l2_mode"], "standalone");
            assert_eq!(body["database"]["backend"], "postgres");
        }
        Backend::ClusterPostgres => {
            assert_eq!(cache["l2_healthy"], true);
            assert_eq!(cache["l2_mode"], "cluster");
            assert_eq!(body["database"]["backend"], "postgres");
        }
        Backend::Bare => {
            assert_eq!(cache["l2_configured"], false);
            assert_eq!(cache["l2_mode"], "none");
            assert_eq!(body["database"]["backend"], "sqlite");
        }
    }
    assert_eq!(body["database"]["healthy"], true);
}

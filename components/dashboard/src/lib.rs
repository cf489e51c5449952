//! Market-wide dashboard summary.
//!
//! Routes:
//! - `GET /api/crypto/dashboard-summary`: cache-or-compute (TTL from the host's
//!   `dashboard` family policy, 300 s by default).
//! - `GET /api/crypto/dashboard-summary/refresh`: recompute now and
//!   overwrite the cached copy (for operators and the live feed).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strata_sdk::cache;
use strata_sdk::config;
use strata_sdk::http;
use strata_sdk::keys::CacheKeys;
use strata_sdk::log;
use strata_sdk::time::DateTime;
use strata_sdk::{CACHE_HEADER, Handler, HttpError, Request, Response};

const TOP_COINS: u32 = 10;

struct Dashboard;

impl Handler for Dashboard {
    fn handle(req: Request) -> Response {
        route(&req).unwrap_or_else(HttpError::into_response)
    }
}

strata_sdk::export_handler!(Dashboard);

fn route(req: &Request) -> Result<Response, HttpError> {
    let refresh = match req.segments().as_slice() {
        ["api", "crypto", "dashboard-summary"] => false,
        ["api", "crypto", "dashboard-summary", "refresh"] => true,
        _ => return Err(HttpError::not_found(format!("no route for {}", req.path))),
    };
    if req.method != "GET" {
        return Err(HttpError::method_not_allowed(&req.method));
    }
    if refresh {
        refresh_summary()
    } else {
        summary()
    }
}

fn summary() -> Result<Response, HttpError> {
    let base = base_url()?;
    let key = CacheKeys::dashboard_summary();
    // The cached text is sent as is (checked to decode, not re-encoded):
    // this is the hot path, and the round trip was most of its cost.
    let cached =
        cache::get_or_compute_json_bytes::<Summary, _>(&key, None, || compute_summary(&base))?;
    let outcome = cached.header_value();
    Ok(Response::json_bytes(200, cached.into_bytes()).with_header(CACHE_HEADER, outcome))
}

/// Bypasses the cache on the way in but refreshes it on the way out, so the
/// next plain request sees the new value. A cache refusal does not fail the
/// refresh: the caller still gets fresh data.
fn refresh_summary() -> Result<Response, HttpError> {
    let base = base_url()?;
    let summary = compute_summary(&base)?;
    let key = CacheKeys::dashboard_summary();
    let bytes = match cache::set_json(&key, &summary, None) {
        Ok(bytes) => bytes,
        Err(cache::SetJsonError::Cache { json, error }) => {
            log::warn(&format!(
                "dashboard refresh could not update {key}: {error}"
            ));
            json
        }
        Err(cache::SetJsonError::Encode(err)) => {
            return Err(HttpError::internal(format!("encoding summary: {err}")));
        }
    };
    Ok(Response::json_bytes(200, bytes).with_header(CACHE_HEADER, "miss"))
}

fn base_url() -> Result<String, HttpError> {
    Ok(config::require("upstream_url")?
        .trim_end_matches('/')
        .to_string())
}

/// The dashboard payload; also what the cache holds.
#[derive(Debug, Serialize, Deserialize)]
struct Summary {
    total_market_cap_usd: Option<f64>,
    total_volume_usd: Option<f64>,
    market_cap_change_24h_pct: Option<f64>,
    btc_dominance_pct: Option<f64>,
    eth_dominance_pct: Option<f64>,
    active_cryptocurrencies: Option<u64>,
    top_coins: Vec<TopCoin>,
    /// RFC 3339, from the upstream's own `updated_at` (when the figures were
    /// produced, not when we fetched them).
    updated_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TopCoin {
    id: String,
    symbol: String,
    name: String,
    price_usd: Option<f64>,
    change_24h_pct: Option<f64>,
    market_cap_usd: Option<f64>,
    rank: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct GlobalEnvelope {
    data: Global,
}

#[derive(Debug, Deserialize)]
struct Global {
    active_cryptocurrencies: Option<u64>,
    // Per-currency maps; values are optional because CoinGecko sends null
    // for currencies it cannot price, which must not fail the whole summary.
    // BTreeMap rather than HashMap: no random seed, so the component needs
    // no `wasi:random/insecure-seed` import.
    #[serde(default)]
    total_market_cap: BTreeMap<String, Option<f64>>,
    #[serde(default)]
    total_volume: BTreeMap<String, Option<f64>>,
    #[serde(default)]
    market_cap_percentage: BTreeMap<String, Option<f64>>,
    market_cap_change_percentage_24h_usd: Option<f64>,
    updated_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct MarketCoin {
    id: String,
    symbol: String,
    name: String,
    current_price: Option<f64>,
    market_cap: Option<f64>,
    market_cap_rank: Option<u32>,
    price_change_percentage_24h: Option<f64>,
}

fn compute_summary(base: &str) -> Result<Summary, HttpError> {
    let global: GlobalEnvelope = http::get_json(&format!("{base}/api/v3/global"))?;
    let coins: Vec<MarketCoin> = http::get_json(&format!(
        "{base}/api/v3/coins/markets?vs_currency=usd&order=market_cap_desc&per_page={TOP_COINS}&page=1"
    ))?;
    Ok(build_summary(global.data, coins))
}

fn build_summary(global: Global, coins: Vec<MarketCoin>) -> Summary {
    let top_coins = coins
        .into_iter()
        .take(TOP_COINS as usize)
        .map(|coin| TopCoin {
            id: coin.id,
            symbol: coin.symbol,
            name: coin.name,
            price_usd: coin.current_price,
            change_24h_pct: coin.price_change_percentage_24h,
            market_cap_usd: coin.market_cap,
            rank: coin.market_cap_rank,
        })
        .collect();
    Summary {
        total_market_cap_usd: global.total_market_cap.get("usd").copied().flatten(),
        total_volume_usd: global.total_volume.get("usd").copied().flatten(),
        market_cap_change_24h_pct: global.market_cap_change_percentage_24h_usd,
        btc_dominance_pct: global.market_cap_percentage.get("btc").copied().flatten(),
        eth_dominance_pct: global.market_cap_percentage.get("eth").copied().flatten(),
        active_cryptocurrencies: global.active_cryptocurrencies,
        top_coins,
        updated_at: global
            .updated_at
            .map(|secs| DateTime::from_unix_secs(secs).rfc3339()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_built_from_upstream_shapes() {
        let global: GlobalEnvelope = serde_json::from_str(
            r#"{"data":{"active_cryptocurrencies":12000,"markets":900,
            "total_market_cap":{"usd":2.5e12,"eur":2.3e12},"total_volume":{"usd":9.0e10},
            "market_cap_percentage":{"btc":52.1,"eth":17.3},
            "market_cap_change_percentage_24h_usd":-1.25,"updated_at":1709210096}}"#,
        )
        .unwrap();
        let coins: Vec<MarketCoin> = serde_json::from_str(
            r#"[{"id":"bitcoin","symbol":"btc","name":"Bitcoin","current_price":65000.5,
            "market_cap":1.3e12,"market_cap_rank":1,"total_volume":3e10,"high_24h":null,
            "low_24h":null,"price_change_24h":10.0,"price_change_percentage_24h":null,
            "circulating_supply":19600000,"last_updated":"2024-02-29T12:34:56.000Z"}]"#,
        )
        .unwrap();
        let summary = build_summary(global.data, coins);
        assert_eq!(summary.total_market_cap_usd, Some(2.5e12));
        assert_eq!(summary.btc_dominance_pct, Some(52.1));
        assert_eq!(summary.eth_dominance_pct, Some(17.3));
        assert_eq!(summary.updated_at.as_deref(), Some("2024-02-29T12:34:56Z"));
        assert_eq!(summary.top_coins.len(), 1);
        assert_eq!(summary.top_coins[0].rank, Some(1));
        assert_eq!(summary.top_coins[0].change_24h_pct, None);
    }
}

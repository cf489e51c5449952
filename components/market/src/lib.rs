//! Market quotes and technical indicators for one coin symbol.
//!
//! Routes (parameters arrive as `strata-param-*` headers from the host's
//! router; the path segments are the fallback so the component also works
//! behind a plain prefix route):
//! - `GET /api/market/{symbol}`
//! - `GET /api/indicators/{symbol}/{indicator}/{period}`

mod indicators;
mod known;
mod upstream;

use serde::{Deserialize, Serialize};
use strata_sdk::cache::{self, CachedJson, ComputeError};
use strata_sdk::keys::CacheKeys;
use strata_sdk::{CACHE_HEADER, Handler, HttpError, Request, Response};

use indicators::Indicator;

const PERIODS: std::ops::RangeInclusive<usize> = 2..=200;

struct Market;

impl Handler for Market {
    fn handle(req: Request) -> Response {
        route(&req).unwrap_or_else(HttpError::into_response)
    }
}

strata_sdk::export_handler!(Market);

fn route(req: &Request) -> Result<Response, HttpError> {
    let segments = req.segments();
    let arg = |name: &str, index: usize| -> &str {
        req.param(name)
            .or_else(|| segments.get(index).copied())
            .unwrap_or("")
    };
    let matched = match segments.as_slice() {
        ["api", "market", _] => Some(Route::Quote),
        ["api", "indicators", _, _, _] => Some(Route::Indicator),
        _ => None,
    };
    let Some(matched) = matched else {
        return Err(HttpError::not_found(format!("no route for {}", req.path)));
    };
    if req.method != "GET" {
        return Err(HttpError::method_not_allowed(&req.method));
    }
    match matched {
        Route::Quote => quote_route(arg("symbol", 2)),
        Route::Indicator => {
            indicator_route(arg("symbol", 2), arg("indicator", 3), arg("period", 4))
        }
    }
}

enum Route {
    Quote,
    Indicator,
}

/// The cached shape of a quote, also the response body.
#[derive(Debug, Serialize, Deserialize)]
struct Quote {
    symbol: String,
    id: String,
    name: String,
    price_usd: Option<f64>,
    market_cap_usd: Option<f64>,
    volume_24h_usd: Option<f64>,
    high_24h_usd: Option<f64>,
    low_24h_usd: Option<f64>,
    change_24h_pct: Option<f64>,
    rank: Option<u32>,
    last_updated: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct IndicatorValue {
    symbol: String,
    indicator: String,
    period: usize,
    value: f64,
    points_used: usize,
    last_price_usd: f64,
    /// Timestamp (ms) of the newest price point the value is based on.
    computed_at: i64,
}

fn quote_route(symbol: &str) -> Result<Response, HttpError> {
    let symbol = validate_symbol(symbol)?;
    let base = upstream::base_url()?;
    let quote = cached_quote(&base, &symbol)?;
    Ok(Response::json(200, &quote.value).with_header(CACHE_HEADER, quote.header_value()))
}

fn indicator_route(symbol: &str, indicator: &str, period: &str) -> Result<Response, HttpError> {
    let symbol = validate_symbol(symbol)?;
    let indicator = Indicator::parse(indicator).ok_or_else(|| {
        HttpError::bad_request(format!(
            "unsupported indicator '{indicator}' (supported: {})",
            Indicator::SUPPORTED
        ))
    })?;
    let period = period
        .parse::<usize>()
        .ok()
        .filter(|p| PERIODS.contains(p))
        .ok_or_else(|| {
            HttpError::bad_request(format!(
                "period must be an integer from {} to {}, got '{period}'",
                PERIODS.start(),
                PERIODS.end()
            ))
        })?;
    let base = upstream::base_url()?;

    let key = CacheKeys::technical_indicator(&symbol, indicator.name(), &period.to_string());
    let result = cache::get_or_compute_json(&key, None, || {
        compute_indicator(&base, &symbol, indicator, period)
    })?;
    Ok(Response::json(200, &result.value).with_header(CACHE_HEADER, result.header_value()))
}

/// Lower-cased symbol, or 400. The character set keeps symbols safe to put
/// in cache keys and upstream URLs.
fn validate_symbol(symbol: &str) -> Result<String, HttpError> {
    let valid = (1..=20).contains(&symbol.len())
        && symbol
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Ok(symbol.to_ascii_lowercase())
    } else {
        Err(HttpError::bad_request(format!(
            "invalid symbol '{symbol}': use 1 to 20 letters, digits or '-'"
        )))
    }
}

/// The quote for `symbol`, shared by both routes so an indicator request
/// also warms (and reuses) the quote cache for the symbol→id lookup.
fn cached_quote(base: &str, symbol: &str) -> Result<CachedJson<Quote>, HttpError> {
    let key = CacheKeys::market_data(symbol);
    Ok(cache::get_or_compute_json(&key, None, || {
        fetch_quote(base, symbol)
    })?)
}

fn fetch_quote(base: &str, symbol: &str) -> Result<Quote, HttpError> {
    if known::is_listed(base, symbol) == Some(false) {
        return Err(unknown_symbol(symbol));
    }
    let coin = upstream::coin_by_symbol(base, symbol)?.ok_or_else(|| unknown_symbol(symbol))?;
    Ok(Quote {
        symbol: coin.symbol.to_ascii_lowercase(),
        id: coin.id,
        name: coin.name,
        price_usd: coin.current_price,
        market_cap_usd: coin.market_cap,
        volume_24h_usd: coin.total_volume,
        high_24h_usd: coin.high_24h,
        low_24h_usd: coin.low_24h,
        change_24h_pct: coin.price_change_percentage_24h,
        rank: coin.market_cap_rank,
        last_updated: coin.last_updated,
    })
}

/// A coin's price history, cached once for every indicator and period
/// computed from it, so asking for many of them costs one upstream call
/// per coin and TTL, not one each. Without a cache grant for it (a
/// manifest of its own), it is fetched uncached as before.
fn cached_history(base: &str, coin_id: &str) -> Result<Vec<(i64, f64)>, HttpError> {
    let key = CacheKeys::price_history(coin_id);
    match cache::get_or_compute_json(&key, None, || upstream::price_history(base, coin_id)) {
        Ok(history) => Ok(history.value),
        Err(ComputeError::Cache(_)) => upstream::price_history(base, coin_id),
        Err(err) => Err(err.into()),
    }
}

/// The answer for a symbol the upstream does not know; a 404 is
/// remembered by the cache, so asking again costs nothing for a while.
fn unknown_symbol(symbol: &str) -> HttpError {
    HttpError::not_found(format!("unknown symbol '{symbol}'")).definitive()
}

fn compute_indicator(
    base: &str,
    symbol: &str,
    indicator: Indicator,
    period: usize,
) -> Result<IndicatorValue, HttpError> {
    let quote = cached_quote(base, symbol)?;
    let history = cached_history(base, &quote.value.id)?;
    let closes: Vec<f64> = history.iter().map(|(_, price)| *price).collect();
    let computed = indicators::compute(indicator, &closes, period).map_err(|short| {
        HttpError::unprocessable(format!("{short} for {} {period}", indicator.name()))
    })?;
    let (computed_at, last_price) = history
        .last()
        .copied()
        .ok_or_else(|| HttpError::unprocessable("upstream returned no price points"))?;
    Ok(IndicatorValue {
        symbol: symbol.to_string(),
        indicator: indicator.name().to_string(),
        period,
        value: computed.value,
        points_used: computed.points_used,
        last_price_usd: last_price,
        computed_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_validated_and_lowercased() {
        assert_eq!(validate_symbol("BTC"), Ok("btc".to_string()));
        assert_eq!(validate_symbol("usd-coin"), Ok("usd-coin".to_string()));
        for bad in ["", "a b", "btc/eth", "x".repeat(21).as_str(), "btc%20"] {
            assert_eq!(
                validate_symbol(bad).map_err(|e| e.status),
                Err(400),
                "{bad:?}"
            );
        }
    }
}

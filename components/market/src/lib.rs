//! Market quotes and technical indicators for one coin symbol.
//!
//! Routes (parameters arrive as `strata-param-*` headers from the host's
//! router; the path segments are the fallback so the component also works
//! behind a plain prefix route):
//! - `GET /api/market/{symbol}`
//! - `GET /api/market?symbols=btc,eth,...`: several quotes in one request,
//!   looked up in one batch; the misses cost one upstream call together.
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
        ["api", "market"] => Some(Route::Quotes),
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
        Route::Quotes => quotes_route(req.query_param("symbols").as_deref()),
        Route::Quote => quote_route(arg("symbol", 2)),
        Route::Indicator => {
            indicator_route(arg("symbol", 2), arg("indicator", 3), arg("period", 4))
        }
    }
}

enum Route {
    Quotes,
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

/// Most symbols one quotes request may name.
const MAX_SYMBOLS: usize = 50;

/// The quotes of several symbols, answered in the order asked; symbols
/// the upstream does not know are listed apart.
#[derive(Debug, Serialize)]
struct Quotes {
    quotes: Vec<Quote>,
    unknown: Vec<String>,
}

fn quotes_route(list: Option<&str>) -> Result<Response, HttpError> {
    let symbols = parse_symbols(list.unwrap_or(""))?;
    let base = upstream::base_url()?;
    let keys: Vec<String> = symbols.iter().map(|s| CacheKeys::market_data(s)).collect();
    let found = cache::get_many_or_compute_json(&keys, None, |missing| {
        let wanted: Vec<&str> = missing
            .iter()
            .filter_map(|key| keys.iter().position(|k| k == key))
            .map(|index| symbols[index].as_str())
            .collect();
        fetch_quotes(&base, &wanted)
    })?;
    let outcome = batch_outcome(found.iter().flatten().map(|q| q.outcome));
    let mut quotes = Quotes {
        quotes: Vec::new(),
        unknown: Vec::new(),
    };
    for (symbol, quote) in symbols.into_iter().zip(found) {
        match quote {
            Some(quote) => quotes.quotes.push(quote.value),
            None => quotes.unknown.push(symbol),
        }
    }
    Ok(Response::json(200, &quotes).with_header(CACHE_HEADER, outcome))
}

/// `btc,eth,...` as validated, lower-cased symbols without repeats, in
/// the order given; 400 when empty or over [`MAX_SYMBOLS`].
fn parse_symbols(list: &str) -> Result<Vec<String>, HttpError> {
    let mut symbols: Vec<String> = Vec::new();
    for symbol in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let symbol = validate_symbol(symbol)?;
        if !symbols.contains(&symbol) {
            symbols.push(symbol);
        }
        if symbols.len() > MAX_SYMBOLS {
            return Err(HttpError::bad_request(format!(
                "at most {MAX_SYMBOLS} symbols per request"
            )));
        }
    }
    if symbols.is_empty() {
        return Err(HttpError::bad_request(
            "name the coins as ?symbols=btc,eth (comma-separated)",
        ));
    }
    Ok(symbols)
}

/// The cache header of a batch: its least cached answer, so a client sees
/// `miss` when anything was computed and `hit-l1` only when all was local.
fn batch_outcome(outcomes: impl Iterator<Item = cache::Outcome>) -> &'static str {
    use cache::Outcome::{Computed, HitL1, HitL2, Stale};
    let rank = |o: &cache::Outcome| match o {
        HitL1 => 0,
        HitL2 => 1,
        Computed => 2,
        Stale => 3,
    };
    outcomes.max_by_key(rank).unwrap_or(Computed).header_value()
}

/// One upstream call for all of `symbols` the upstream lists: each
/// symbol's quote, or `None` when the upstream does not know it (answered
/// from its cached symbol list, without a call, when the list is at hand).
fn fetch_quotes(base: &str, symbols: &[&str]) -> Result<Vec<Option<Quote>>, HttpError> {
    let unlisted = known::unlisted(base, symbols);
    let asked: Vec<&str> = symbols
        .iter()
        .copied()
        .filter(|symbol| !unlisted.contains(symbol))
        .collect();
    let coins = if asked.is_empty() {
        Vec::new()
    } else {
        upstream::coins_by_symbols(base, &asked)?
    };
    Ok(symbols
        .iter()
        .map(|symbol| {
            coins
                .iter()
                .find(|coin| coin.symbol.eq_ignore_ascii_case(symbol))
                .map(quote_of)
        })
        .collect())
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
    Ok(quote_of(&coin))
}

fn quote_of(coin: &upstream::MarketCoin) -> Quote {
    Quote {
        symbol: coin.symbol.to_ascii_lowercase(),
        id: coin.id.clone(),
        name: coin.name.clone(),
        price_usd: coin.current_price,
        market_cap_usd: coin.market_cap,
        volume_24h_usd: coin.total_volume,
        high_24h_usd: coin.high_24h,
        low_24h_usd: coin.low_24h,
        change_24h_pct: coin.price_change_percentage_24h,
        rank: coin.market_cap_rank,
        last_updated: coin.last_updated.clone(),
    }
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
    fn a_symbol_list_is_validated_deduplicated_and_bounded() {
        assert_eq!(
            parse_symbols("BTC, eth,btc,,sol"),
            Ok(vec!["btc".to_string(), "eth".into(), "sol".into()])
        );
        let too_many: Vec<String> = (0..=MAX_SYMBOLS).map(|n| format!("c{n}")).collect();
        let too_many = too_many.join(",");
        for bad in ["", " , ", "btc,a b", too_many.as_str()] {
            assert_eq!(
                parse_symbols(bad).map_err(|e| e.status),
                Err(400),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_batch_reads_as_its_least_cached_answer() {
        use cache::Outcome::{Computed, HitL1, HitL2};
        assert_eq!(batch_outcome([HitL1, HitL1].into_iter()), "hit-l1");
        assert_eq!(batch_outcome([HitL1, HitL2].into_iter()), "hit-l2");
        assert_eq!(batch_outcome([HitL2, Computed, HitL1].into_iter()), "miss");
    }

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

//! The CoinGecko-style upstream: URLs and the parts of its JSON we read.
//! Numeric fields are optional because real CoinGecko sends `null` for coins
//! it lacks data on.

use serde::Deserialize;
use strata_sdk::HttpError;
use strata_sdk::config;
use strata_sdk::http::{self, OutboundRequest, encode_component};

/// Base URL without a trailing slash, so paths can be appended directly.
pub fn base_url() -> Result<String, HttpError> {
    Ok(config::require("upstream_url")?
        .trim_end_matches('/')
        .to_string())
}

/// One row of `/api/v3/coins/markets`.
#[derive(Debug, Deserialize)]
pub struct MarketCoin {
    pub id: String,
    pub symbol: String,
    pub name: String,
    pub current_price: Option<f64>,
    pub market_cap: Option<f64>,
    pub market_cap_rank: Option<u32>,
    pub total_volume: Option<f64>,
    pub high_24h: Option<f64>,
    pub low_24h: Option<f64>,
    pub price_change_percentage_24h: Option<f64>,
    pub last_updated: Option<String>,
}

/// The coin trading under `symbol` (lower case), or `None` when the upstream
/// does not know it. Several coins can share a symbol; results are ordered
/// by market cap, so the first exact match is the one people mean.
pub fn coin_by_symbol(base: &str, symbol: &str) -> Result<Option<MarketCoin>, HttpError> {
    let url = format!(
        "{base}/api/v3/coins/markets?vs_currency=usd&symbols={}&order=market_cap_desc&per_page=10&page=1",
        encode_component(symbol)
    );
    let coins: Vec<MarketCoin> = http::get_json(&url)?;
    Ok(coins
        .into_iter()
        .find(|coin| coin.symbol.eq_ignore_ascii_case(symbol)))
}

/// The coins trading under any of `symbols` (lower case), in one call,
/// ordered by market cap, so the first match of a symbol is the one people
/// mean. Symbols the upstream does not know are simply absent.
pub fn coins_by_symbols(base: &str, symbols: &[&str]) -> Result<Vec<MarketCoin>, HttpError> {
    let list: Vec<String> = symbols.iter().map(|s| encode_component(s)).collect();
    let url = format!(
        "{base}/api/v3/coins/markets?vs_currency=usd&symbols={}&order=market_cap_desc&per_page=250&page=1",
        list.join(",")
    );
    Ok(http::get_json(&url)?)
}

/// One row of `/api/v3/coins/list`; only the symbol is kept.
#[derive(Debug, Deserialize)]
struct ListedCoin {
    symbol: String,
}

/// Longest the symbol list may take: it only saves calls, so it must
/// never cost a request much.
const LIST_TIMEOUT_MS: u32 = 3_000;

/// Every symbol the upstream lists, lower case, sorted and without
/// duplicates, one per line (a compact form to cache and search).
///
/// Any failure is returned as definitive, so the cache remembers for its
/// family's negative TTL that the list cannot be had and the check steps
/// aside meanwhile, instead of asking for the list again on every miss
/// (and spending the upstream's budget, or its breaker, on it).
pub fn listed_symbols(base: &str) -> Result<String, HttpError> {
    let request =
        OutboundRequest::get(format!("{base}/api/v3/coins/list")).with_timeout_ms(LIST_TIMEOUT_MS);
    let coins: Vec<ListedCoin> = http::fetch_json(request).map_err(|err| {
        HttpError::bad_gateway(format!("symbol list unavailable: {err}")).definitive()
    })?;
    let mut symbols: Vec<String> = coins
        .into_iter()
        .map(|coin| coin.symbol.to_ascii_lowercase())
        .filter(|symbol| !symbol.is_empty() && !symbol.contains('\n'))
        .collect();
    if symbols.is_empty() {
        // An empty list would make every symbol unknown for a whole TTL.
        return Err(HttpError::bad_gateway("upstream listed no coins").definitive());
    }
    symbols.sort_unstable();
    symbols.dedup();
    Ok(symbols.join("\n"))
}

#[derive(Debug, Deserialize)]
struct MarketChart {
    prices: Vec<(f64, Option<f64>)>,
}

/// `(timestamp ms, price)` points for the last 30 days, oldest first, with
/// gaps (null prices) dropped.
pub fn price_history(base: &str, coin_id: &str) -> Result<Vec<(i64, f64)>, HttpError> {
    let url = format!(
        "{base}/api/v3/coins/{}/market_chart?vs_currency=usd&days=30",
        encode_component(coin_id)
    );
    let chart: MarketChart = http::get_json(&url)?;
    let mut points: Vec<(i64, f64)> = chart
        .prices
        .into_iter()
        .filter_map(|(ts, price)| Some((ts as i64, price.filter(|p| p.is_finite())?)))
        .collect();
    points.sort_by_key(|(ts, _)| *ts);
    Ok(points)
}

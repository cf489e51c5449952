//! The CoinGecko v3 subset: `/global`, `/coins/list`, `/coins/markets`,
//! `/simple/price` and `/coins/{id}/market_chart`.
//!
//! Handlers are synchronous and pure (market + time + query in, response
//! out); counting, latency and fault injection happen in [`crate::routes`]
//! before they run, so these functions only have to get the data right.

use std::collections::HashSet;
use std::num::NonZeroU32;

use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock::rfc3339;
use crate::http_util::{ApiError, HttpResponse, Query, json, percent_decode};
use crate::market::{Coin, Market};
use crate::stats::ApiRoute;

/// Largest page CoinGecko serves from `/coins/markets`.
const MAX_PER_PAGE: usize = 250;
/// Page size when `per_page` is absent.
const DEFAULT_PER_PAGE: usize = 100;
/// Days served for `days=max` and the cap for larger values.
const MAX_CHART_DAYS: u32 = 365;

/// A recognised API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Global,
    CoinsList,
    Markets,
    SimplePrice,
    MarketChart(String),
}

impl Endpoint {
    /// Matches a path (with the `/api/v3/` prefix) against the known routes.
    fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/api/v3/")?;
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.as_slice() {
            ["global"] => Some(Self::Global),
            ["coins", "list"] => Some(Self::CoinsList),
            ["coins", "markets"] => Some(Self::Markets),
            ["simple", "price"] => Some(Self::SimplePrice),
            ["coins", id, "market_chart"] if !id.is_empty() => {
                Some(Self::MarketChart(percent_decode(id)))
            }
            _ => None,
        }
    }

    fn route(&self) -> ApiRoute {
        match self {
            Self::Global => ApiRoute::Global,
            Self::CoinsList => ApiRoute::CoinsList,
            Self::Markets => ApiRoute::Markets,
            Self::SimplePrice => ApiRoute::SimplePrice,
            Self::MarketChart(_) => ApiRoute::MarketChart,
        }
    }
}

/// Which stats bucket a request path belongs to.
pub fn classify(path: &str) -> ApiRoute {
    Endpoint::parse(path).map_or(ApiRoute::Other, |e| e.route())
}

/// Answers one API request against the market as of `now` (unix seconds).
pub fn respond(
    market: &Market,
    now: u64,
    method: &Method,
    path: &str,
    query: &Query,
) -> Result<HttpResponse, ApiError> {
    let endpoint = Endpoint::parse(path)
        .ok_or_else(|| ApiError::not_found(format!("unknown API path '{path}'")))?;
    if method != Method::GET {
        return Err(ApiError::method_not_allowed("GET"));
    }
    match endpoint {
        Endpoint::Global => Ok(global(market, now)),
        Endpoint::CoinsList => Ok(coins_list(market)),
        Endpoint::Markets => markets(market, now, query),
        Endpoint::SimplePrice => simple_price(market, now, query),
        Endpoint::MarketChart(id) => market_chart(market, now, &id, query),
    }
}

/// Requires `param` to be present and equal to `usd` (case-insensitive).
fn require_usd(query: &Query, param: &str) -> Result<(), ApiError> {
    match query.get(param) {
        None => Err(ApiError::bad_request(format!(
            "missing '{param}' parameter"
        ))),
        Some(v) if v.trim().eq_ignore_ascii_case("usd") => Ok(()),
        Some(v) => Err(unsupported_currency(v)),
    }
}

fn unsupported_currency(value: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unsupported currency '{value}': only 'usd' is supported"
    ))
}

/// `GET /api/v3/global`
fn global(market: &Market, now: u64) -> HttpResponse {
    #[derive(Serialize)]
    struct Envelope {
        data: GlobalData,
    }
    #[derive(Serialize)]
    struct GlobalData {
        active_cryptocurrencies: usize,
        markets: usize,
        total_market_cap: Usd,
        total_volume: Usd,
        market_cap_percentage: Map<String, Value>,
        market_cap_change_percentage_24h_usd: f64,
        updated_at: u64,
    }
    #[derive(Serialize)]
    struct Usd {
        usd: f64,
    }

    let snapshot = market.global_at(now);
    let data = GlobalData {
        active_cryptocurrencies: market.len(),
        // Roughly nine trading pairs per listed coin, like the real site.
        markets: market.len() * 9,
        total_market_cap: Usd {
            usd: snapshot.total_market_cap,
        },
        total_volume: Usd {
            usd: snapshot.total_volume,
        },
        market_cap_percentage: snapshot
            .dominance
            .into_iter()
            .map(|(symbol, pct)| (symbol, Value::from(pct)))
            .collect(),
        market_cap_change_percentage_24h_usd: snapshot.market_cap_change_percentage_24h,
        updated_at: now,
    };
    json(StatusCode::OK, &Envelope { data })
}

/// Sort orders accepted by `/coins/markets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    MarketCapDesc,
    MarketCapAsc,
    VolumeDesc,
    VolumeAsc,
    IdAsc,
    IdDesc,
}

impl Order {
    fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        Ok(match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("market_cap_desc") => Self::MarketCapDesc,
            Some("market_cap_asc") => Self::MarketCapAsc,
            Some("volume_desc") => Self::VolumeDesc,
            Some("volume_asc") => Self::VolumeAsc,
            Some("id_asc") => Self::IdAsc,
            Some("id_desc") => Self::IdDesc,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "invalid 'order' value '{other}' (expected market_cap_desc, market_cap_asc, \
                     volume_desc, volume_asc, id_asc or id_desc)"
                )));
            }
        })
    }
}

/// Parses an optional positive integer parameter.
fn positive(query: &Query, param: &str, default: usize) -> Result<usize, ApiError> {
    match query.get(param) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "'{param}' must be a positive integer, got '{v}'"
            ))),
        },
    }
}

/// One row of `/coins/markets`.
#[derive(Serialize)]
struct MarketRow<'a> {
    id: &'a str,
    symbol: &'a str,
    name: &'a str,
    current_price: f64,
    market_cap: f64,
    market_cap_rank: usize,
    total_volume: f64,
    high_24h: f64,
    low_24h: f64,
    price_change_24h: f64,
    price_change_percentage_24h: f64,
    circulating_supply: f64,
    last_updated: &'a str,
}

/// The `ids` / `symbols` filter of `/coins/markets`.
enum CoinFilter {
    All,
    Ids(HashSet<String>),
    Symbols(HashSet<String>),
}

impl CoinFilter {
    /// `ids` takes precedence over `symbols`, as on CoinGecko.
    fn from_query(query: &Query) -> Self {
        match (query.list("ids"), query.list("symbols")) {
            (Some(ids), _) => Self::Ids(ids.into_iter().collect()),
            (None, Some(symbols)) => Self::Symbols(symbols.into_iter().collect()),
            (None, None) => Self::All,
        }
    }

    fn keeps(&self, coin: &Coin) -> bool {
        match self {
            Self::All => true,
            Self::Ids(ids) => ids.contains(&coin.id),
            Self::Symbols(symbols) => symbols.contains(&coin.symbol),
        }
    }
}

/// One row of `/coins/list`.
#[derive(Serialize)]
struct ListedCoin<'a> {
    id: &'a str,
    symbol: &'a str,
    name: &'a str,
}

/// `GET /api/v3/coins/list`: every coin's id, symbol and name.
fn coins_list(market: &Market) -> HttpResponse {
    let coins: Vec<ListedCoin<'_>> = market
        .coins()
        .iter()
        .map(|coin| ListedCoin {
            id: &coin.id,
            symbol: &coin.symbol,
            name: &coin.name,
        })
        .collect();
    json(StatusCode::OK, &coins)
}

/// `GET /api/v3/coins/markets`
///
/// Filters follow CoinGecko's precedence: when both `ids` and `symbols` are
/// given, `ids` wins. `per_page` above 250 is clamped rather than rejected,
/// matching the real API's leniency.
fn markets(market: &Market, now: u64, query: &Query) -> Result<HttpResponse, ApiError> {
    require_usd(query, "vs_currency")?;
    let order = Order::parse(query.get("order"))?;
    let per_page = positive(query, "per_page", DEFAULT_PER_PAGE)?.min(MAX_PER_PAGE);
    let page = positive(query, "page", 1)?;

    let filter = CoinFilter::from_query(query);
    let mut rows: Vec<_> = market
        .ranked_at(now)
        .into_iter()
        .enumerate()
        .map(|(i, (coin, quote))| (i + 1, coin, quote))
        .filter(|(_, coin, _)| filter.keeps(coin))
        .collect();
    match order {
        Order::MarketCapDesc => {}
        Order::MarketCapAsc => rows.reverse(),
        Order::VolumeDesc => rows.sort_by(|a, b| b.2.total_volume.total_cmp(&a.2.total_volume)),
        Order::VolumeAsc => rows.sort_by(|a, b| a.2.total_volume.total_cmp(&b.2.total_volume)),
        Order::IdAsc => rows.sort_by(|a, b| a.1.id.cmp(&b.1.id)),
        Order::IdDesc => rows.sort_by(|a, b| b.1.id.cmp(&a.1.id)),
    }

    let last_updated = rfc3339(now);
    let skip = (page - 1).saturating_mul(per_page);
    let page_rows: Vec<MarketRow<'_>> = rows
        .into_iter()
        .skip(skip)
        .take(per_page)
        .map(|(rank, coin, _)| {
            let ticker = coin.ticker_at(now);
            MarketRow {
                id: &coin.id,
                symbol: &coin.symbol,
                name: &coin.name,
                current_price: ticker.quote.price,
                market_cap: ticker.quote.market_cap,
                market_cap_rank: rank,
                total_volume: ticker.quote.total_volume,
                high_24h: ticker.high_24h,
                low_24h: ticker.low_24h,
                price_change_24h: ticker.price_change_24h,
                price_change_percentage_24h: ticker.price_change_percentage_24h,
                circulating_supply: coin.circulating_supply,
                last_updated: &last_updated,
            }
        })
        .collect();
    Ok(json(StatusCode::OK, &page_rows))
}

/// `GET /api/v3/simple/price`
///
/// Unknown ids are silently omitted, as on CoinGecko. Besides the required
/// `include_24hr_change`, the cheap `include_market_cap`, `include_24hr_vol`
/// and `include_last_updated_at` flags are honoured too.
fn simple_price(market: &Market, now: u64, query: &Query) -> Result<HttpResponse, ApiError> {
    let ids = query
        .list("ids")
        .ok_or_else(|| ApiError::bad_request("missing 'ids' parameter"))?;
    let currencies = query
        .list("vs_currencies")
        .ok_or_else(|| ApiError::bad_request("missing 'vs_currencies' parameter"))?;
    if currencies.is_empty() {
        return Err(ApiError::bad_request("missing 'vs_currencies' parameter"));
    }
    if let Some(other) = currencies.iter().find(|c| *c != "usd") {
        return Err(unsupported_currency(other));
    }

    let mut out = Map::new();
    for coin in ids.iter().filter_map(|id| market.by_id(id)) {
        let quote = coin.quote_at(now);
        let mut entry = Map::new();
        entry.insert("usd".into(), quote.price.into());
        if query.flag("include_market_cap") {
            entry.insert("usd_market_cap".into(), quote.market_cap.into());
        }
        if query.flag("include_24hr_vol") {
            entry.insert("usd_24h_vol".into(), quote.total_volume.into());
        }
        if query.flag("include_24hr_change") {
            let before = coin.price_at(now.saturating_sub(86_400));
            let change = (quote.price - before) / before * 100.0;
            entry.insert("usd_24h_change".into(), change.into());
        }
        if query.flag("include_last_updated_at") {
            entry.insert("last_updated_at".into(), now.into());
        }
        out.insert(coin.id.clone(), Value::Object(entry));
    }
    Ok(json(StatusCode::OK, &out))
}

/// Parses `days`: a positive integer or `max` (365 days).
fn parse_days(query: &Query) -> Result<NonZeroU32, ApiError> {
    let raw = query
        .get("days")
        .ok_or_else(|| ApiError::bad_request("missing 'days' parameter"))?
        .trim();
    if raw.eq_ignore_ascii_case("max") {
        return Ok(NonZeroU32::MIN.saturating_add(MAX_CHART_DAYS - 1));
    }
    raw.parse::<NonZeroU32>().map_err(|_| {
        ApiError::bad_request(format!(
            "'days' must be a positive integer or 'max', got '{raw}'"
        ))
    })
}

/// `GET /api/v3/coins/{id}/market_chart`
///
/// The coin is resolved before the query is validated, so an unknown coin is
/// always a 404 regardless of the other parameters.
fn market_chart(
    market: &Market,
    now: u64,
    id: &str,
    query: &Query,
) -> Result<HttpResponse, ApiError> {
    #[derive(Serialize)]
    struct Chart {
        prices: Vec<(u64, f64)>,
        market_caps: Vec<(u64, f64)>,
        total_volumes: Vec<(u64, f64)>,
    }

    let coin = market
        .by_id(id)
        .ok_or_else(|| ApiError::not_found("coin not found"))?;
    require_usd(query, "vs_currency")?;
    let days = parse_days(query)?;

    let points = coin.chart(now, days);
    let series = |f: fn(&crate::market::Quote) -> f64| -> Vec<(u64, f64)> {
        points.iter().map(|(t, q)| (t * 1000, f(q))).collect()
    };
    let chart = Chart {
        prices: series(|q| q.price),
        market_caps: series(|q| q.market_cap),
        total_volumes: series(|q| q.total_volume),
    };
    Ok(json(StatusCode::OK, &chart))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(classify("/api/v3/global"), ApiRoute::Global);
        assert_eq!(classify("/api/v3/coins/list"), ApiRoute::CoinsList);
        assert_eq!(classify("/api/v3/coins/markets"), ApiRoute::Markets);
        assert_eq!(classify("/api/v3/simple/price"), ApiRoute::SimplePrice);
        assert_eq!(
            classify("/api/v3/coins/bitcoin/market_chart"),
            ApiRoute::MarketChart
        );
        assert_eq!(classify("/api/v3/coins//market_chart"), ApiRoute::Other);
        assert_eq!(classify("/api/v3/ping"), ApiRoute::Other);
    }

    #[test]
    fn days_max_means_a_year() {
        let q = Query::parse(Some("days=max"));
        assert_eq!(parse_days(&q).map(NonZeroU32::get), Ok(365));
        assert!(parse_days(&Query::parse(Some("days=0"))).is_err());
        assert!(parse_days(&Query::parse(Some("days=1.5"))).is_err());
    }
}

//! Behaviour of the simulated CoinGecko v3 endpoints over real HTTP.

mod common;

use common::{T0, start};
use http::StatusCode;
use serde_json::Value;

fn array(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

fn ids(v: &Value) -> Vec<&str> {
    array(v)
        .iter()
        .filter_map(|row| row["id"].as_str())
        .collect()
}

#[tokio::test]
async fn global_reports_coin_count_and_bitcoin_dominance() {
    let sim = start().await;
    let reply = sim.get("/api/v3/global").await;
    assert_eq!(reply.status, StatusCode::OK);
    let data = &reply.json["data"];
    assert_eq!(data["active_cryptocurrencies"], 1000);
    assert!(data["markets"].as_u64().is_some_and(|m| m > 0));
    assert!(
        data["total_market_cap"]["usd"]
            .as_f64()
            .is_some_and(|v| v > 1e12)
    );
    assert!(
        data["total_volume"]["usd"]
            .as_f64()
            .is_some_and(|v| v > 0.0)
    );
    let btc = data["market_cap_percentage"]["btc"]
        .as_f64()
        .expect("btc share");
    let eth = data["market_cap_percentage"]["eth"]
        .as_f64()
        .expect("eth share");
    assert!(btc > eth && btc < 100.0, "btc {btc} eth {eth}");
    assert!(
        data["market_cap_change_percentage_24h_usd"]
            .as_f64()
            .is_some()
    );
    assert_eq!(data["updated_at"], T0);
}

#[tokio::test]
async fn responses_are_labelled_application_json() {
    let sim = start().await;
    for path in ["/api/v3/global", "/nope", "/__sim/health"] {
        let reply = sim.get(path).await;
        assert_eq!(
            reply
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn markets_default_page_has_100_coins_in_rank_order() {
    let sim = start().await;
    let reply = sim.get("/api/v3/coins/markets?vs_currency=usd").await;
    assert_eq!(reply.status, StatusCode::OK);
    let rows = array(&reply.json);
    assert_eq!(rows.len(), 100);
    assert_eq!(rows[0]["id"], "bitcoin");
    assert_eq!(rows[1]["id"], "ethereum");
    let ranks: Vec<u64> = rows
        .iter()
        .filter_map(|r| r["market_cap_rank"].as_u64())
        .collect();
    assert_eq!(ranks, (1..=100).collect::<Vec<_>>());
    let caps: Vec<f64> = rows
        .iter()
        .filter_map(|r| r["market_cap"].as_f64())
        .collect();
    assert!(caps.windows(2).all(|w| w[0] >= w[1]));
}

#[tokio::test]
async fn markets_rows_have_the_coingecko_fields() {
    let sim = start().await;
    let reply = sim
        .get("/api/v3/coins/markets?vs_currency=usd&ids=bitcoin")
        .await;
    let row = &array(&reply.json)[0];
    assert_eq!(
        (
            row["id"].as_str(),
            row["symbol"].as_str(),
            row["name"].as_str()
        ),
        (Some("bitcoin"), Some("btc"), Some("Bitcoin"))
    );
    for field in [
        "current_price",
        "market_cap",
        "total_volume",
        "high_24h",
        "low_24h",
        "circulating_supply",
    ] {
        let v = row[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} missing"));
        assert!(v.is_finite() && v > 0.0, "{field} = {v}");
    }
    for field in ["price_change_24h", "price_change_percentage_24h"] {
        assert!(row[field].as_f64().is_some_and(f64::is_finite), "{field}");
    }
    assert_eq!(row["market_cap_rank"], 1);
    assert_eq!(row["last_updated"], "2024-05-01T12:00:00.000Z");
}

#[tokio::test]
async fn markets_filter_by_symbol_is_case_insensitive() {
    let sim = start().await;
    let reply = sim
        .get("/api/v3/coins/markets?vs_currency=usd&symbols=BTC,Eth")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(ids(&reply.json), ["bitcoin", "ethereum"]);
}

#[tokio::test]
async fn markets_filter_by_ids_omits_unknown_ids() {
    let sim = start().await;
    let reply = sim
        .get("/api/v3/coins/markets?vs_currency=usd&ids=Solana,no-such-coin,coin-0016")
        .await;
    assert_eq!(ids(&reply.json), ["solana", "coin-0016"]);
}

#[tokio::test]
async fn markets_with_no_matching_ids_is_an_empty_array() {
    let sim = start().await;
    let reply = sim
        .get("/api/v3/coins/markets?vs_currency=usd&ids=nothing,here")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, serde_json::json!([]));
}

#[tokio::test]
async fn markets_without_vs_currency_is_400_json() {
    let sim = start().await;
    let reply = sim.get("/api/v3/coins/markets").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json,
        serde_json::json!({"error": "missing 'vs_currency' parameter"})
    );
}

#[tokio::test]
async fn markets_in_unsupported_currency_is_400_json() {
    let sim = start().await;
    let reply = sim.get("/api/v3/coins/markets?vs_currency=eur").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error().contains("'eur'"), "{}", reply.error());
}

#[tokio::test]
async fn markets_per_page_is_capped_at_250() {
    let sim = start().await;
    let reply = sim
        .get("/api/v3/coins/markets?vs_currency=usd&per_page=1000")
        .await;
    assert_eq!(array(&reply.json).len(), 250);
}

#[tokio::test]
async fn markets_pages_continue_where_the_previous_ended() {
    let sim = start().await;
    let first = sim
        .get("/api/v3/coins/markets?vs_currency=usd&per_page=10&page=1")
        .await;
    let second = sim
        .get("/api/v3/coins/markets?vs_currency=usd&per_page=10&page=2")
        .await;
    assert_eq!(array(&first.json)[9]["market_cap_rank"], 10);
    assert_eq!(array(&second.json)[0]["market_cap_rank"], 11);
    let beyond = sim
        .get("/api/v3/coins/markets?vs_currency=usd&per_page=250&page=5")
        .await;
    assert_eq!(beyond.json, serde_json::json!([]));
}

#[tokio::test]
async fn markets_with_invalid_order_or_page_is_400_json() {
    let sim = start().await;
    for query in ["order=price_desc", "page=0", "per_page=abc"] {
        let reply = sim
            .get(&format!("/api/v3/coins/markets?vs_currency=usd&{query}"))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(!reply.error().is_empty());
    }
}

#[tokio::test]
async fn markets_prices_are_positive_and_finite_across_the_tail() {
    let sim = start().await;
    for page in 1..=4 {
        let reply = sim
            .get(&format!(
                "/api/v3/coins/markets?vs_currency=usd&per_page=250&page={page}"
            ))
            .await;
        for row in array(&reply.json) {
            let p = row["current_price"].as_f64().unwrap_or(f64::NAN);
            assert!(p.is_finite() && p > 0.0, "{}: {p}", row["id"]);
        }
    }
}

#[tokio::test]
async fn simple_price_returns_usd_and_24h_change() {
    let sim = start().await;
    let reply = sim
        .get("/api/v3/simple/price?ids=bitcoin,ethereum,unknown&vs_currencies=usd&include_24hr_change=true")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let obj = reply.json.as_object().expect("object");
    assert_eq!(obj.len(), 2);
    let btc = &reply.json["bitcoin"];
    assert!(btc["usd"].as_f64().is_some_and(|p| p > 1_000.0));
    assert!(btc["usd_24h_change"].as_f64().is_some_and(f64::is_finite));
}

#[tokio::test]
async fn simple_price_omits_change_unless_requested() {
    let sim = start().await;
    let reply = sim
        .get("/api/v3/simple/price?ids=tether&vs_currencies=usd")
        .await;
    let tether = reply.json["tether"].as_object().expect("tether");
    assert_eq!(tether.keys().collect::<Vec<_>>(), ["usd"]);
    assert!(
        tether["usd"]
            .as_f64()
            .is_some_and(|p| (0.98..1.02).contains(&p))
    );
}

#[tokio::test]
async fn simple_price_agrees_with_markets_at_the_same_instant() {
    let sim = start().await;
    let simple = sim
        .get("/api/v3/simple/price?ids=ethereum&vs_currencies=usd")
        .await;
    let markets = sim
        .get("/api/v3/coins/markets?vs_currency=usd&ids=ethereum")
        .await;
    assert_eq!(
        simple.json["ethereum"]["usd"],
        array(&markets.json)[0]["current_price"]
    );
}

#[tokio::test]
async fn simple_price_without_vs_currencies_is_400_json() {
    let sim = start().await;
    let reply = sim.get("/api/v3/simple/price?ids=bitcoin").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error(), "missing 'vs_currencies' parameter");
}

#[tokio::test]
async fn chart_for_days_30_has_720_hourly_points() {
    let sim = start().await;
    let reply = sim
        .get("/api/v3/coins/bitcoin/market_chart?vs_currency=usd&days=30")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    for series in ["prices", "market_caps", "total_volumes"] {
        assert_eq!(array(&reply.json[series]).len(), 720, "{series}");
    }
    let prices = array(&reply.json["prices"]);
    let ts: Vec<u64> = prices.iter().filter_map(|p| p[0].as_u64()).collect();
    assert_eq!(ts.last(), Some(&(T0 * 1000)));
    assert!(ts.windows(2).all(|w| w[1] - w[0] == 3_600_000));
}

#[tokio::test]
async fn chart_for_one_day_has_288_five_minute_points() {
    let sim = start().await;
    let reply = sim
        .get("/api/v3/coins/ethereum/market_chart?vs_currency=usd&days=1")
        .await;
    let prices = array(&reply.json["prices"]);
    assert_eq!(prices.len(), 288);
    let step = prices[1][0]
        .as_u64()
        .zip(prices[0][0].as_u64())
        .map(|(b, a)| b - a);
    assert_eq!(step, Some(300_000));
}

#[tokio::test]
async fn chart_for_days_max_has_365_daily_points() {
    let sim = start().await;
    for days in ["max", "365", "2000"] {
        let reply = sim
            .get(&format!(
                "/api/v3/coins/solana/market_chart?vs_currency=usd&days={days}"
            ))
            .await;
        assert_eq!(array(&reply.json["prices"]).len(), 365, "days={days}");
    }
}

#[tokio::test]
async fn chart_with_invalid_days_is_400_json() {
    let sim = start().await;
    for days in ["0", "-3", "1.5", "week"] {
        let reply = sim
            .get(&format!(
                "/api/v3/coins/bitcoin/market_chart?vs_currency=usd&days={days}"
            ))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "days={days}");
        assert!(reply.error().contains("days"), "{}", reply.error());
    }
}

#[tokio::test]
async fn unknown_coin_chart_is_404_json() {
    let sim = start().await;
    let reply = sim
        .get("/api/v3/coins/no-such-coin/market_chart?vs_currency=usd&days=1")
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json, serde_json::json!({"error": "coin not found"}));
}

#[tokio::test]
async fn unknown_path_is_404_json() {
    let sim = start().await;
    for path in ["/", "/api/v3/ping", "/api/v4/global", "/__sim/nope"] {
        let reply = sim.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!reply.error().is_empty());
    }
}

#[tokio::test]
async fn wrong_method_is_405_json() {
    let sim = start().await;
    let reply = sim.post("/api/v3/global").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        reply
            .headers
            .get(http::header::ALLOW)
            .and_then(|v| v.to_str().ok()),
        Some("GET")
    );
    assert!(!reply.error().is_empty());
}

#[tokio::test]
async fn pinned_clock_gives_identical_bodies() {
    let sim = start().await;
    let path = "/api/v3/coins/markets?vs_currency=usd&per_page=20";
    assert_eq!(sim.get(path).await.json, sim.get(path).await.json);
}

#[tokio::test]
async fn coin_count_limits_the_universe() {
    let sim = common::start_with(strata_market_sim::SimConfig {
        coins: 20,
        clock: strata_market_sim::Clock::Fixed(T0),
        ..Default::default()
    })
    .await;
    let reply = sim
        .get("/api/v3/coins/markets?vs_currency=usd&per_page=250")
        .await;
    assert_eq!(array(&reply.json).len(), 20);
    let global = sim.get("/api/v3/global").await;
    assert_eq!(global.json["data"]["active_cryptocurrencies"], 20);
}

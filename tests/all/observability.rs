//! What an operator sees: Prometheus metrics, structured logs, the OpenAPI
//! document.

use crate::support::{Backend, Services, http};
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};

type Exposition = MetricsExposition<PrometheusType, PrometheusValue>;

async fn scrape(url: &str) -> Exposition {
    let response = http()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("invalid Prometheus text format ({e:?}):\n{text}"))
}

/// The value of the sample of family `name` whose labels include `labels`
/// (a histogram's value is its count).
fn value(scrape: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    let family = scrape
        .families
        .get(name)
        .unwrap_or_else(|| panic!("no metric family {name}"));
    let sample = family
        .iter_samples()
        .find(|sample| {
            sample.get_labelset().is_ok_and(|set| {
                labels
                    .iter()
                    .all(|(k, v)| set.get_label_value(k) == Some(*v))
            })
        })
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"));
    match &sample.value {
        PrometheusValue::Counter(c) => c.value.as_f64(),
        PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
        PrometheusValue::Histogram(h) => h.count.unwrap_or(0) as f64,
        PrometheusValue::Summary(s) => s.count.unwrap_or(0) as f64,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_known_sequence_of_requests() {
    let services = Services::start(Backend::RedisPostgres).await;
    // No scheduled dashboard refresh: only this test's requests go upstream.
    let host = services.host_with(&[("STRATA_DASHBOARD_REFRESH_SECONDS", "0")]);
    // The start-up warm-up (latest report) already computed; count from here.
    let before = scrape(&host.url).await;
    for _ in 0..3 {
        assert_eq!(host.get("/api/market/btc").await.status, 200);
    }
    assert_eq!(host.get("/no/such/route").await.status, 404);

    let scrape = scrape(&host.url).await;
    let route = [("route", "/api/market/{symbol}"), ("component", "market")];
    assert_eq!(
        value(
            &scrape,
            "strata_http_requests_total",
            &[route[0], route[1], ("method", "GET"), ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &scrape,
            "strata_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0,
        "unknown paths share one series"
    );
    assert_eq!(
        value(&scrape, "strata_http_request_duration_seconds", &route),
        3.0
    );
    assert!(value(&scrape, "strata_cache_hits_total", &[("tier", "l1")]) >= 2.0);
    let computes = |s: &Exposition| value(s, "strata_cache_computes_total", &[]);
    assert_eq!(
        computes(&scrape) - computes(&before),
        2.0,
        "one miss (the quote, and the symbol list it is checked against), two hits"
    );
    assert_eq!(value(&scrape, "strata_cache_l2_up", &[]), 1.0);
    assert_eq!(value(&scrape, "strata_database_up", &[]), 1.0);
    assert_eq!(
        value(
            &scrape,
            "strata_upstream_requests_total",
            &[("outcome", "ok")]
        ),
        2.0,
        "the symbol list and the quote"
    );
    assert_eq!(value(&scrape, "strata_upstream_breaker_open", &[]), 0.0);
    assert_eq!(value(&scrape, "strata_components_deployed", &[]), 3.0);
    assert!(value(&scrape, "strata_instances_max", &[]) >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_span() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_LOG_FORMAT", "json"), ("STRATA_LOG", "debug")]);
    assert_eq!(host.get("/api/market/eth").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = std::fs::read_to_string(&host.log).expect("log");
    let finished: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["fields"]["message"] == "request finished")
        .collect();
    let event = finished
        .iter()
        .find(|e| e["span"]["route"] == "/api/market/{symbol}")
        .unwrap_or_else(|| panic!("no request event for the market route in:\n{log}"));
    let span = &event["span"];
    assert_eq!(span["component"], "market");
    assert_eq!(span["status"], 200);
    assert_eq!(span["cache"], "miss");
    assert!(
        span["version"].as_str().is_some_and(|v| v.len() == 12),
        "{span}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_written_to_a_file_carries_no_colour_codes() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let _ = host.get("/health").await;
    assert_eq!(host.get("/nothing-here").await.status, 404);
    let log = host.log_text();
    assert!(log.contains(" INFO "), "levels are written:\n{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a file:\n{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let document = host.get("/openapi.json").await.json();
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/api/crypto/dashboard-summary",
        "/api/crypto/dashboard-summary/refresh",
        "/api/market/{symbol}",
        "/api/indicators/{symbol}/{indicator}/{period}",
        "/reports/latest",
        "/reports/{id}",
        "/reports/{id}/pdf-template",
        "/health",
        "/metrics",
        "/cache-stats",
        "/clear-cache",
        "/admin/components",
        "/admin/components/{name}",
        "/admin/components/{name}/rollback",
    ] {
        assert!(paths.contains_key(path), "OpenAPI lacks {path}");
    }
}

//! Prometheus metrics: request counts and latency per route, plus every
//! subsystem's own counters gathered at scrape time.
//!
//! The text exposition format is written by hand: it is small, stable, and
//! this way each subsystem keeps its counters where they belong (the cache,
//! the outbound client, the deployer) instead of sharing a global registry.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

mod exposition;
mod otlp;
mod scrape;
mod upstream;

pub use exposition::Exposition;
pub use scrape::{Scrapes, render};

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RequestKey {
    route: String,
    component: String,
    method: String,
    /// The status, or 0 for a code HTTP does not define.
    status: u16,
}

#[derive(Debug, Default, Clone)]
struct Latency {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Metrics labels of one request; bounded sets only (route patterns, not
/// paths), so random URLs cannot blow up the series count.
pub(super) struct Labels {
    pub(super) route: String,
    pub(super) component: String,
}

/// The `method` label of a request: the standard methods by name, anything
/// else a client invents as `other`, so clients cannot mint series.
pub fn method_label(method: &hyper::Method) -> &'static str {
    use hyper::Method as M;
    match *method {
        M::GET => "GET",
        M::HEAD => "HEAD",
        M::POST => "POST",
        M::PUT => "PUT",
        M::DELETE => "DELETE",
        M::PATCH => "PATCH",
        M::OPTIONS => "OPTIONS",
        M::CONNECT => "CONNECT",
        M::TRACE => "TRACE",
        _ => "other",
    }
}

/// Distinct (route, component) pairs with series of their own: manifest
/// deploys can bring new routes without end, the series stay bounded;
/// later pairs share `(other)`.
const MAX_ROUTE_SERIES: usize = 512;

/// Requests served, by route, component, method and status.
#[derive(Default)]
pub struct RequestMetrics {
    counts: Mutex<BTreeMap<RequestKey, u64>>,
    latency: Mutex<BTreeMap<(String, String), Latency>>,
    connections_refused: std::sync::atomic::AtomicU64,
    /// The same figures over OTLP, when metrics are exported.
    otlp: Option<otlp::OtlpRequests>,
}

impl RequestMetrics {
    /// Request metrics that are also exported with `meter`, if given.
    pub fn exported(meter: Option<opentelemetry::metrics::Meter>) -> Self {
        Self {
            otlp: meter.as_ref().map(otlp::OtlpRequests::new),
            ..Self::default()
        }
    }

    /// Counts a connection closed at accept because of the connection cap.
    pub fn connection_refused(&self) {
        self.connections_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records one finished request (its response head).
    pub fn observe(
        &self,
        route: &str,
        component: &str,
        method: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let seconds = elapsed.as_secs_f64();
        // One lock for the series check and the latency update: once the
        // pairs seen reach MAX_ROUTE_SERIES, a new pair counts as `(other)`.
        let (route, component) = {
            let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
            let mut pair = (route.to_string(), component.to_string());
            if latency.len() >= MAX_ROUTE_SERIES && !latency.contains_key(&pair) {
                pair = ("(other)".into(), "(other)".into());
            }
            let entry = latency.entry(pair.clone()).or_default();
            entry.count += 1;
            entry.sum += seconds;
            for (bucket, bound) in entry.buckets.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            pair
        };
        let key = RequestKey {
            route,
            component,
            method: method.to_string(),
            // A component picks its status freely (100 to 999); codes HTTP
            // does not define share one series.
            status: hyper::StatusCode::from_u16(status)
                .ok()
                .filter(|s| s.canonical_reason().is_some())
                .map_or(0, |s| s.as_u16()),
        };
        if let Some(otlp) = &self.otlp {
            otlp.record(&key, seconds);
        }
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    fn render(&self, out: &mut Exposition) {
        out.single(
            "strata_connections_refused_total",
            "counter",
            "Connections closed at accept because the listener's connection cap was reached.",
            self.connections_refused
                .load(std::sync::atomic::Ordering::Relaxed) as f64,
        );
        out.header(
            "strata_http_requests_total",
            "counter",
            "HTTP requests answered, by route, component, method and status.",
        );
        for (key, count) in self.counts.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.sample(
                "strata_http_requests_total",
                &[
                    ("route", &key.route),
                    ("component", &key.component),
                    ("method", &key.method),
                    (
                        "status",
                        &match key.status {
                            0 => "other".to_string(),
                            code => code.to_string(),
                        },
                    ),
                ],
                *count as f64,
            );
        }
        out.header(
            "strata_http_request_duration_seconds",
            "histogram",
            "Time to the response head, by route and component.",
        );
        for ((route, component), latency) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let labels = [("route", route.as_str()), ("component", component.as_str())];
            for (bound, count) in BUCKETS.iter().zip(latency.buckets) {
                let le = bound.to_string();
                out.sample_with(
                    "strata_http_request_duration_seconds_bucket",
                    &labels,
                    ("le", &le),
                    count as f64,
                );
            }
            out.sample_with(
                "strata_http_request_duration_seconds_bucket",
                &labels,
                ("le", "+Inf"),
                latency.count as f64,
            );
            out.sample(
                "strata_http_request_duration_seconds_sum",
                &labels,
                latency.sum,
            );
            out.sample(
                "strata_http_request_duration_seconds_count",
                &labels,
                latency.count as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests;

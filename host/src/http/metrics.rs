//! Prometheus metrics: request counts and latency per route, plus every
//! subsystem's own counters gathered at scrape time.
//!
//! The text exposition format is written by hand: it is small, stable, and
//! this way each subsystem keeps its counters where they belong (the cache,
//! the outbound client, the deployer) instead of sharing a global registry.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

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

/// Requests served, by route, component, method and status.
#[derive(Default)]
pub struct RequestMetrics {
    counts: Mutex<BTreeMap<RequestKey, u64>>,
    latency: Mutex<BTreeMap<(String, String), Latency>>,
    connections_refused: std::sync::atomic::AtomicU64,
}

impl RequestMetrics {
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
        let key = RequestKey {
            route: route.to_string(),
            component: component.to_string(),
            method: method.to_string(),
            // A component picks its status freely (100 to 999); codes HTTP
            // does not define share one series.
            status: hyper::StatusCode::from_u16(status)
                .ok()
                .filter(|s| s.canonical_reason().is_some())
                .map_or(0, |s| s.as_u16()),
        };
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let entry = latency
            .entry((route.to_string(), component.to_string()))
            .or_default();
        entry.count += 1;
        entry.sum += seconds;
        for (bucket, bound) in entry.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
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

/// A Prometheus text-format document under construction.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Exposition {
    pub fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.write(name, labels, None, value);
    }

    fn sample_with(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        extra: (&str, &str),
        value: f64,
    ) {
        self.write(name, labels, Some(extra), value);
    }

    fn write(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        extra: Option<(&str, &str)>,
        value: f64,
    ) {
        let mut all: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if let Some((k, v)) = extra {
            all.push(format!("{k}=\"{}\"", escape(v)));
        }
        if all.is_empty() {
            let _ = writeln!(self.text, "{name} {value}");
        } else {
            let _ = writeln!(self.text, "{name}{{{}}} {value}", all.join(","));
        }
    }

    /// A counter with one sample per cache tier.
    fn per_tier(&mut self, name: &str, help: &str, l1: u64, l2: u64) {
        self.header(name, "counter", help);
        self.sample(name, &[("tier", "l1")], l1 as f64);
        self.sample(name, &[("tier", "l2")], l2 as f64);
    }

    /// A metric with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.header(name, kind, help);
        self.sample(name, &[], value);
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// Scrapes in progress share one rendering: a client that opens many
/// `/metrics` streams at once (and never reads them) holds one buffer, not
/// one each. Every answer still reflects the state at or after its request
/// arrived: a rendering is reused only by requests that came in before it
/// began.
#[derive(Default)]
pub struct Scrapes {
    last: tokio::sync::Mutex<Option<(std::time::Instant, bytes::Bytes)>>,
}

impl Scrapes {
    /// The exposition for a request arriving now.
    pub async fn document(&self, app: &crate::app::App, requests: &RequestMetrics) -> bytes::Bytes {
        let asked = std::time::Instant::now();
        let mut last = self.last.lock().await;
        if let Some((began, text)) = &*last
            && *began >= asked
        {
            return text.clone();
        }
        let began = std::time::Instant::now();
        let text = bytes::Bytes::from(render(app, requests).await);
        *last = Some((began, text.clone()));
        text
    }
}

/// Renders every metric of the application.
pub async fn render(app: &crate::app::App, requests: &RequestMetrics) -> String {
    let mut out = Exposition::default();
    requests.render(&mut out);

    let stats = app.cache.stats().await;
    out.per_tier(
        "strata_cache_hits_total",
        "Cache reads answered, by tier.",
        stats.l1.hits,
        stats.l2.hits,
    );
    out.per_tier(
        "strata_cache_misses_total",
        "Cache reads a tier could not answer, by tier.",
        stats.l1.misses,
        stats.l2.misses,
    );
    out.single(
        "strata_cache_promotions_total",
        "counter",
        "L2 hits copied into L1.",
        stats.promotions as f64,
    );
    out.single(
        "strata_cache_computes_total",
        "counter",
        "Cache-or-compute leases handed out (one per computation).",
        stats.computes as f64,
    );
    out.single(
        "strata_cache_coalesced_waits_total",
        "counter",
        "Requests that waited for another's computation instead of computing.",
        stats.coalesced_waits as f64,
    );
    out.single(
        "strata_cache_stale_serves_total",
        "counter",
        "Expired values served because recomputation failed.",
        stats.stale_serves as f64,
    );
    out.single(
        "strata_cache_l2_errors_total",
        "counter",
        "Redis commands that failed or were skipped by the breaker.",
        stats.l2.errors as f64,
    );
    out.single(
        "strata_cache_l1_entries",
        "gauge",
        "Entries in this instance's L1.",
        stats.l1.entries as f64,
    );
    out.single(
        "strata_cache_l1_weighted_bytes",
        "gauge",
        "Weighted size of this instance's L1.",
        stats.l1.weighted_size_bytes as f64,
    );
    out.single(
        "strata_cache_l2_up",
        "gauge",
        "1 when Redis is configured and its breaker is closed.",
        f64::from(u8::from(stats.l2.healthy)),
    );

    let database_up = tokio::time::timeout(Duration::from_secs(1), app.database.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    out.single(
        "strata_database_up",
        "gauge",
        "1 when the database answered a ping.",
        f64::from(u8::from(database_up)),
    );

    // Series per component and allow-list entry only: both are bounded by
    // the manifest, whatever hosts a guest tries to call.
    let outbound = app.runtime.outbound_stats();
    out.header(
        "strata_upstream_requests_total",
        "counter",
        "Outbound requests (each redirect hop counts) by component, allow-list entry and outcome.",
    );
    for upstream in &outbound.upstreams {
        for (outcome, count) in [
            ("ok", upstream.ok),
            ("error", upstream.failed),
            ("circuit_open", upstream.short_circuited),
            ("guest_timeout", upstream.guest_timeouts),
        ] {
            out.sample(
                "strata_upstream_requests_total",
                &[
                    ("component", upstream.component.as_str()),
                    ("host", upstream.upstream.as_str()),
                    ("outcome", outcome),
                ],
                count as f64,
            );
        }
    }
    out.header(
        "strata_upstream_denied_total",
        "counter",
        "Outbound calls refused by policy (allow-list, address, redirect hop), by component.",
    );
    for (component, count) in &outbound.denied {
        out.sample(
            "strata_upstream_denied_total",
            &[("component", component.as_str())],
            *count as f64,
        );
    }
    out.header(
        "strata_upstream_retries_total",
        "counter",
        "Outbound retries by component and allow-list entry.",
    );
    for upstream in &outbound.upstreams {
        out.sample(
            "strata_upstream_retries_total",
            &[
                ("component", upstream.component.as_str()),
                ("host", upstream.upstream.as_str()),
            ],
            upstream.retries as f64,
        );
    }
    out.header(
        "strata_upstream_breaker_open",
        "gauge",
        "1 while the breaker of a component's allow-list entry is not closed.",
    );
    for upstream in &outbound.upstreams {
        out.sample(
            "strata_upstream_breaker_open",
            &[
                ("component", upstream.component.as_str()),
                ("host", upstream.upstream.as_str()),
            ],
            f64::from(u8::from(upstream.breaker != "closed")),
        );
    }

    out.header(
        "strata_deploys_total",
        "counter",
        "Deploys, rollbacks and removals made on this instance.",
    );
    for ((component, action), count) in app.deployer.counts() {
        out.sample(
            "strata_deploys_total",
            &[("component", &component), ("action", &action)],
            count as f64,
        );
    }
    out.single(
        "strata_components_deployed",
        "gauge",
        "Components with an active version.",
        app.registry.deployed() as f64,
    );
    out.single(
        "strata_instances_active",
        "gauge",
        "Component instances alive right now (pool slots in use).",
        app.runtime.active_instances() as f64,
    );
    out.single(
        "strata_instances_max",
        "gauge",
        "Size of the instance pool.",
        f64::from(app.runtime.max_instances()),
    );
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        for method in ["FOO", "BREW", "X-ANYTHING"] {
            let method = hyper::Method::from_bytes(method.as_bytes()).expect("token");
            assert_eq!(method_label(&method), "other");
        }
        assert_eq!(method_label(&hyper::Method::GET), "GET");
        assert_eq!(method_label(&hyper::Method::PATCH), "PATCH");
    }

    #[test]
    fn undefined_status_codes_share_one_label() {
        let metrics = RequestMetrics::default();
        for status in [599, 777, 999] {
            metrics.observe("/x", "c", "GET", status, Duration::from_millis(1));
        }
        metrics.observe("/x", "c", "GET", 503, Duration::from_millis(1));
        let mut out = Exposition::default();
        metrics.render(&mut out);
        let text = out.finish();
        assert!(text.contains("status=\"other\"} 3"), "{text}");
        assert!(text.contains("status=\"503\"} 1"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition::default();
        out.sample("m", &[("route", "/a\"b\\c\nd")], 1.0);
        assert_eq!(out.finish(), "m{route=\"/a\\\"b\\\\c\\nd\"} 1\n");
    }

    #[test]
    fn latency_lands_in_every_bucket_at_or_above_it() {
        let metrics = RequestMetrics::default();
        metrics.observe("/x", "c", "GET", 200, Duration::from_millis(3));
        let mut out = Exposition::default();
        metrics.render(&mut out);
        let text = out.finish();
        assert!(text.contains("strata_http_request_duration_seconds_bucket{route=\"/x\",component=\"c\",le=\"0.0025\"} 0"));
        assert!(text.contains("strata_http_request_duration_seconds_bucket{route=\"/x\",component=\"c\",le=\"0.005\"} 1"));
        assert!(text.contains(
            "strata_http_request_duration_seconds_count{route=\"/x\",component=\"c\"} 1"
        ));
        assert!(text.contains("strata_http_requests_total{route=\"/x\",component=\"c\",method=\"GET\",status=\"200\"} 1"));
    }
}

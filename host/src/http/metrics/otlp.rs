//! The request metrics over OTLP, for a collector instead of a scraper.
//!
//! One histogram, `http.server.request.duration` (seconds, the OpenTelemetry
//! HTTP semantic conventions' name), with the labels of the Prometheus
//! series: its count per route, component, method and status is
//! `strata_http_requests_total`, its buckets are those of
//! `strata_http_request_duration_seconds`. The labels are the capped ones
//! [`super::RequestMetrics::observe`] computes, so clients cannot mint
//! series here either. The other `/metrics` families (cache tiers,
//! upstream, deploys, instance pool) are not exported this way.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter};

use super::{BUCKETS, RequestKey};

/// The exported instrument.
pub(super) struct OtlpRequests {
    duration: Histogram<f64>,
}

impl OtlpRequests {
    pub(super) fn new(meter: &Meter) -> Self {
        Self {
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Time to the response head, by route, component, method and status (0: a code HTTP does not define).")
                .with_boundaries(BUCKETS.to_vec())
                .build(),
        }
    }

    /// Records one finished request under its (capped) labels.
    pub(super) fn record(&self, key: &RequestKey, seconds: f64) {
        self.duration.record(
            seconds,
            &[
                KeyValue::new("http.route", key.route.clone()),
                KeyValue::new("strata.component", key.component.clone()),
                KeyValue::new("http.request.method", key.method.clone()),
                KeyValue::new("http.response.status_code", i64::from(key.status)),
            ],
        );
    }
}

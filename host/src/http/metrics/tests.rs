//! The metrics' label bounds and formats.

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
    assert!(text.contains(
        "strata_http_request_duration_seconds_bucket{route=\"/x\",component=\"c\",le=\"0.0025\"} 0"
    ));
    assert!(text.contains(
        "strata_http_request_duration_seconds_bucket{route=\"/x\",component=\"c\",le=\"0.005\"} 1"
    ));
    assert!(
        text.contains("strata_http_request_duration_seconds_count{route=\"/x\",component=\"c\"} 1")
    );
    assert!(text.contains(
        "strata_http_requests_total{route=\"/x\",component=\"c\",method=\"GET\",status=\"200\"} 1"
    ));
}

#[test]
fn route_series_stop_growing_at_the_cap_and_later_routes_share_other() {
    let metrics = RequestMetrics::default();
    for n in 0..MAX_ROUTE_SERIES + 100 {
        metrics.observe(
            &format!("/r{n}/{{x}}"),
            "c",
            "GET",
            200,
            Duration::from_millis(1),
        );
    }
    metrics.observe("/r0/{x}", "c", "GET", 200, Duration::from_millis(1));
    let latency = metrics.latency.lock().expect("unpoisoned");
    assert_eq!(latency.len(), MAX_ROUTE_SERIES + 1);
    assert_eq!(
        latency[&("(other)".to_string(), "(other)".to_string())].count,
        100
    );
    assert_eq!(latency[&("/r0/{x}".to_string(), "c".to_string())].count, 2);
    let counts = metrics.counts.lock().expect("unpoisoned");
    assert!(counts.keys().all(|k| k.route != "/r600/{x}"));
}

//! The router's matching, precedence and conflict rules, one behaviour each.

use super::*;

fn spec(path: &str, component: &str, methods: &[&str]) -> RouteSpec {
    RouteSpec {
        path: path.into(),
        component: component.into(),
        methods: methods.iter().map(|m| m.to_string()).collect(),
        admin: false,
    }
}

fn router(specs: &[RouteSpec]) -> Router {
    Router::new(specs).expect("valid routes")
}

fn found<'a>(routed: Routed<'a>) -> RouteMatch<'a> {
    match routed {
        Routed::Found(m) => m,
        other => panic!("expected a match, got {other:?}"),
    }
}

#[test]
fn exact_paths_match_exactly() {
    let r = router(&[spec("/reports/latest", "report", &["GET"])]);
    assert_eq!(found(r.route("GET", "/reports/latest")).component, "report");
    assert_eq!(r.route("GET", "/reports/latest/x"), Routed::NotFound);
    assert_eq!(r.route("GET", "/reports"), Routed::NotFound);
}

#[test]
fn params_capture_their_segment() {
    let r = router(&[spec(
        "/api/indicators/{symbol}/{indicator}/{period}",
        "m",
        &[],
    )]);
    let m = found(r.route("GET", "/api/indicators/BTC/rsi/14"));
    assert_eq!(
        m.params,
        vec![
            ("symbol", "BTC".to_string()),
            ("indicator", "rsi".to_string()),
            ("period", "14".to_string())
        ]
    );
}

#[test]
fn params_are_percent_decoded() {
    let r = router(&[spec("/api/market/{symbol}", "m", &[])]);
    let m = found(r.route("GET", "/api/market/b%20tc"));
    assert_eq!(m.params, vec![("symbol", "b tc".to_string())]);
}

#[test]
fn literal_beats_param() {
    let r = router(&[
        spec("/reports/{id}", "by-id", &["GET"]),
        spec("/reports/latest", "latest", &["GET"]),
    ]);
    assert_eq!(found(r.route("GET", "/reports/latest")).component, "latest");
    assert_eq!(found(r.route("GET", "/reports/7")).component, "by-id");
}

#[test]
fn trailing_wildcard_matches_the_rest() {
    let r = router(&[spec("/static/*", "assets", &[])]);
    let m = found(r.route("GET", "/static/css/site.css"));
    assert_eq!(m.params, vec![("*", "css/site.css".to_string())]);
    assert_eq!(
        found(r.route("GET", "/static")).params,
        vec![("*", String::new())]
    );
}

#[test]
fn an_exact_route_beats_a_wildcard_that_matches_nothing_more() {
    let r = router(&[
        spec("/static/*", "wild", &[]),
        spec("/static", "exact", &[]),
    ]);
    assert_eq!(found(r.route("GET", "/static")).component, "exact");
    let r = router(&[spec("/*", "wild", &[]), spec("/", "root", &[])]);
    assert_eq!(found(r.route("GET", "/")).component, "root");
    assert_eq!(found(r.route("GET", "/x")).component, "wild");
}

#[test]
fn param_beats_wildcard() {
    let r = router(&[spec("/a/*", "wild", &[]), spec("/a/{x}", "param", &[])]);
    assert_eq!(found(r.route("GET", "/a/1")).component, "param");
    assert_eq!(found(r.route("GET", "/a/1/2")).component, "wild");
}

#[test]
fn wrong_method_is_reported_with_the_allowed_ones() {
    let r = router(&[spec("/x", "c", &["GET", "HEAD"])]);
    assert_eq!(
        r.route("POST", "/x"),
        Routed::MethodNotAllowed(vec!["GET".into(), "HEAD".into()])
    );
}

#[test]
fn method_filters_split_one_path_between_components() {
    let r = router(&[
        spec("/x", "reader", &["GET"]),
        spec("/x", "writer", &["POST"]),
    ]);
    assert_eq!(found(r.route("GET", "/x")).component, "reader");
    assert_eq!(found(r.route("POST", "/x")).component, "writer");
}

#[test]
fn same_shape_with_overlapping_methods_conflicts() {
    let err = Router::new(&[spec("/m/{a}", "x", &["GET"]), spec("/m/{b}", "y", &["get"])])
        .expect_err("conflict");
    assert!(matches!(err, RouteError::Conflict { .. }));
}

#[test]
fn unfiltered_routes_of_the_same_shape_conflict() {
    assert!(Router::new(&[spec("/x", "a", &[]), spec("/x", "b", &[])]).is_err());
}

#[test]
fn malformed_patterns_are_rejected() {
    for bad in ["no-slash", "/a/*/b", "/a/{Bad}", "/a/{x}/{x}", "/a/b{x}"] {
        assert!(
            Router::new(&[spec(bad, "c", &[])]).is_err(),
            "{bad} should fail"
        );
    }
}

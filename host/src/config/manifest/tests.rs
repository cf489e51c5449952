//! What a manifest may say, and the one-line errors for what it may not.

use super::expand::expand_env;
use super::*;
use std::time::Duration;

use strata_runtime::{InstancePolicy, WarmPolicy};

mod cache;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text, PathBuf::from("."))
}

#[test]
fn the_embedded_default_manifest_is_valid() {
    let manifest = parse(DEFAULT_MANIFEST).expect("default manifest parses");
    assert!(manifest.components.contains_key("dashboard"));
    assert!(manifest.components.contains_key("market"));
    assert!(manifest.components.contains_key("report"));
}

#[test]
fn env_references_expand_with_defaults() {
    let got = expand_env("a=${X:-fallback} b=${Y}", &|name: &str| {
        (name == "Y").then(|| "set".to_string())
    })
    .expect("expands");
    assert_eq!(got, "a=fallback b=set");
}

#[test]
fn a_value_cannot_inject_toml_through_a_reference() {
    let text = "[components.a]\nsource = \"a.wasm\"\nconfig = { url = \"${URL}\" }\n";
    let hostile = "x\"\nsql = \"read-write\"\noutbound = [\"evil.example\"]\n#";
    let manifest = Manifest::parse_with(text, PathBuf::from("."), |name| {
        (name == "URL").then(|| hostile.to_string())
    })
    .expect("parses");
    let spec = &manifest.components["a"];
    assert_eq!(spec.sql, SqlGrant::None, "no grant was injected");
    assert!(spec.outbound.is_empty());
    assert_eq!(spec.config["url"], hostile, "the value stays one string");
}

#[test]
fn references_expand_inside_arrays_and_nested_tables() {
    let text = "[components.a]\nsource = \"${DIR}/a.wasm\"\noutbound = [\"${HOST}\"]\n";
    let manifest = Manifest::parse_with(text, PathBuf::from("."), |name| match name {
        "DIR" => Some("/srv".into()),
        "HOST" => Some("api.example.com".into()),
        _ => None,
    })
    .expect("parses");
    assert_eq!(manifest.components["a"].source, "/srv/a.wasm");
    assert_eq!(manifest.components["a"].outbound, ["api.example.com"]);
}

#[test]
fn a_missing_env_reference_without_default_is_an_error() {
    let err = expand_env("${NOPE}", &|_: &str| None).expect_err("must fail");
    assert!(err.to_string().contains("NOPE"));
}

#[test]
fn unknown_fields_are_rejected() {
    let err = parse("[components.a]\nsource = \"x.wasm\"\ncache_prefix = [\"a:\"]\n")
        .expect_err("typo must fail");
    let text = err.to_string();
    assert!(text.contains("cache_prefix"), "{text}");
    assert!(text.contains("line 3"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[test]
fn a_route_to_an_unknown_component_is_rejected() {
    let err = parse("[[routes]]\npath = \"/x\"\ncomponent = \"ghost\"\n").expect_err("fails");
    assert!(err.to_string().contains("ghost"));
}

#[test]
fn an_empty_cache_prefix_is_rejected() {
    let err =
        parse("[components.a]\nsource = \"a.wasm\"\ncache_prefixes = [\"\"]\n").expect_err("fails");
    assert!(err.to_string().contains("empty cache prefix"));
}

#[test]
fn conflicting_routes_are_rejected_at_load() {
    let text = r#"
        [components.a]
        source = "a.wasm"
        [[routes]]
        path = "/api/market/{symbol}"
        component = "a"
        [[routes]]
        path = "/api/market/{id}"
        component = "a"
    "#;
    let err = parse(text).expect_err("conflict");
    assert!(err.to_string().contains("conflict"), "{err}");
}

#[test]
fn builtin_and_file_sources_are_distinguished() {
    let spec = |source: &str| ComponentSpec {
        source: source.into(),
        cache_prefixes: vec![],
        sql: SqlGrant::None,
        outbound: vec![],
        config: BTreeMap::new(),
        keyvalue: BTreeMap::new(),
        cache_l1_mib: None,
        timeout_ms: None,
        max_concurrency: None,
        warmup: vec![],
        instances: InstanceMode::Fresh,
        max_requests_per_instance: None,
        idle_timeout_ms: None,
        pool_size: None,
        memory_high_water_mib: None,
    };
    assert_eq!(
        spec("builtin:market").source(),
        ComponentSource::Builtin("market".into())
    );
    assert_eq!(
        spec("c/market.wasm").source(),
        ComponentSource::File(PathBuf::from("c/market.wasm"))
    );
}

/// A manifest with one `[[upstreams]]` entry made of `fields`.
fn with_upstream(fields: &str) -> Result<Manifest, ManifestError> {
    parse(&format!("[[upstreams]]\n{fields}\n"))
}

#[test]
fn an_upstream_budget_takes_outbound_syntax_and_env_references() {
    let text = "[[upstreams]]\nhost = \"${API:-https://api.coingecko.com}\"\nrate = \"30/min\"\nburst = 10\n";
    let manifest = Manifest::parse_with(text, PathBuf::from("."), |_| None).expect("parses");
    let budget = &manifest.budgets()[0];
    assert_eq!(budget.label(), "api.coingecko.com:443");
    assert_eq!(
        (budget.rate().to_string(), budget.burst()),
        ("30/min".into(), 10)
    );
    let defaulted = with_upstream("host = \"api.example.com\"\nrate = \"5/s\"").expect("parses");
    assert_eq!(defaulted.budgets()[0].burst(), 5, "burst defaults to N");
}

#[test]
fn a_malformed_upstream_rate_is_named_in_the_error() {
    let err = with_upstream("host = \"api.example.com\"\nrate = \"30 per minute\"")
        .expect_err("bad rate");
    let text = err.to_string();
    assert!(
        text.contains("api.example.com") && text.contains("30 per minute"),
        "{text}"
    );
}

#[test]
fn a_zero_upstream_rate_is_rejected() {
    let err = with_upstream("host = \"api.example.com\"\nrate = \"0/min\"").expect_err("zero");
    assert!(err.to_string().contains("admits no call"), "{err}");
}

#[test]
fn a_zero_upstream_burst_is_rejected() {
    let err = with_upstream("host = \"api.example.com\"\nrate = \"1/s\"\nburst = 0")
        .expect_err("zero burst");
    assert!(err.to_string().contains("burst"), "{err}");
}

#[test]
fn an_unknown_upstream_field_is_rejected() {
    let err =
        with_upstream("host = \"api.example.com\"\nrate = \"1/s\"\nbrust = 3").expect_err("typo");
    assert!(err.to_string().contains("brust"), "{err}");
}

#[test]
fn a_bad_upstream_host_is_rejected() {
    let err = with_upstream("host = \"ftp://api.example.com\"\nrate = \"1/s\"").expect_err("ftp");
    assert!(err.to_string().contains("scheme"), "{err}");
}

#[test]
fn two_budgets_for_one_host_are_rejected() {
    let text = "[[upstreams]]\nhost = \"https://API.example.com\"\nrate = \"1/s\"\n\
                [[upstreams]]\nhost = \"api.example.com:443\"\nrate = \"2/s\"\n";
    let err = parse(text).expect_err("duplicate");
    assert!(
        err.to_string()
            .contains("api.example.com:443 has a budget already"),
        "{err}"
    );
}

const ONE_COMPONENT: &str = "[components.app]\nsource = \"app.wasm\"\n";

#[test]
fn components_get_a_fresh_instance_per_request_unless_they_ask_for_warm() {
    let manifest = parse(ONE_COMPONENT).expect("parses");
    let plan = manifest.plan("app").expect("plan");
    assert_eq!(plan.instances, InstancePolicy::Fresh);
}

#[test]
fn a_warm_component_takes_its_settings_and_defaults_for_the_rest() {
    let text =
        format!("{ONE_COMPONENT}instances = \"warm\"\npool_size = 4\nidle_timeout_ms = 500\n");
    let manifest = parse(&text).expect("parses");
    let InstancePolicy::Warm(policy) = manifest.plan("app").expect("plan").instances else {
        panic!("warm expected");
    };
    assert_eq!(policy.pool_size, 4);
    assert_eq!(policy.idle_timeout, Duration::from_millis(500));
    assert_eq!(
        policy.max_requests_per_instance,
        WarmPolicy::default().max_requests_per_instance
    );
    assert_eq!(policy.memory_high_water_bytes, None);
}

#[test]
fn warm_settings_on_a_fresh_component_are_refused() {
    let text = format!("{ONE_COMPONENT}pool_size = 4\n");
    let err = parse(&text).expect_err("refused");
    assert!(err.to_string().contains("warm instances only"), "{err}");
}

#[test]
fn an_unknown_instance_mode_is_refused() {
    let text = format!("{ONE_COMPONENT}instances = \"hot\"\n");
    let err = parse(&text).expect_err("refused");
    assert!(err.to_string().contains("unknown variant"), "{err}");
}

#[test]
fn warm_settings_out_of_bounds_are_refused_with_the_limit() {
    for (setting, message) in [
        ("pool_size = 0", "pool_size must be positive"),
        ("pool_size = 100000", "pool_size is over the limit of 256"),
        ("max_requests_per_instance = 0", "must be positive"),
        ("idle_timeout_ms = 0", "must be positive"),
        ("idle_timeout_ms = 99999999", "over the limit of 3600000"),
        ("memory_high_water_mib = 0", "must be positive"),
    ] {
        let text = format!("{ONE_COMPONENT}instances = \"warm\"\n{setting}\n");
        let err = parse(&text).expect_err(setting);
        assert!(err.to_string().contains(message), "{setting}: {err}");
    }
}

#[test]
fn every_problem_of_a_manifest_is_listed_not_just_the_first() {
    let text = "[components.a]\nsource = \"builtin:market\"\ncache_prefixes = [\"\"]\n\n[components.b]\nsource = \"builtin:market\"\ntimeout_ms = 0\n\n[[routes]]\npath = \"/x\"\ncomponent = \"nobody\"\n\n[[upstreams]]\nhost = \"api.example.com\"\nrate = \"lots\"\n";
    let error = Manifest::parse(text, PathBuf::from(".")).expect_err("four problems");
    let messages = error.messages();
    assert_eq!(messages.len(), 4, "{messages:?}");
    for needle in ["\"a\"", "\"b\"", "nobody", "api.example.com"] {
        assert!(
            messages.iter().any(|m| m.contains(needle)),
            "{needle}: {messages:?}"
        );
    }
}

#[test]
fn every_missing_variable_is_listed_with_the_other_problems() {
    let text = "[components.a]\nsource = \"${STRATA_TEST_UNSET_A}\"\nconfig = { b = \"${STRATA_TEST_UNSET_B}\" }\n\n[[routes]]\npath = \"/x\"\ncomponent = \"nobody\"\n";
    let messages = parse(text).expect_err("three problems").messages();
    assert_eq!(messages.len(), 3, "{messages:?}");
    for needle in ["STRATA_TEST_UNSET_A", "STRATA_TEST_UNSET_B", "nobody"] {
        assert!(
            messages.iter().any(|m| m.contains(needle)),
            "{needle}: {messages:?}"
        );
    }
}

#[test]
fn keyvalue_buckets_are_parsed_into_the_grant_and_denied_by_default() {
    let manifest = parse(
        "[components.a]\nsource = \"a.wasm\"\nkeyvalue = { default = \"session:\", carts = \"cart:v1:\" }\n\n[components.b]\nsource = \"b.wasm\"\n",
    )
    .expect("parses");
    let grants = &manifest.plan("a").expect("planned").grants;
    assert_eq!(grants.keyvalue["default"], "session:");
    assert_eq!(grants.keyvalue["carts"], "cart:v1:");
    assert!(
        manifest
            .plan("b")
            .expect("planned")
            .grants
            .keyvalue
            .is_empty()
    );
}

#[test]
fn keyvalue_prefixes_are_checked_like_cache_prefixes() {
    for (grant, needle) in [
        ("{ default = \"\" }", "empty prefix"),
        ("{ default = \"a b\" }", "not allowed"),
        ("{ default = \"x:*\" }", "not allowed"),
        ("{ \"bad\\u0001name\" = \"x:\" }", "control characters"),
    ] {
        let text = format!("[components.a]\nsource = \"a.wasm\"\nkeyvalue = {grant}\n");
        let err = parse(&text).expect_err(grant);
        assert!(err.to_string().contains(needle), "{grant}: {err}");
    }
    let many: Vec<String> = (0..65).map(|i| format!("b{i} = \"b{i}:\"")).collect();
    let text = format!(
        "[components.a]\nsource = \"a.wasm\"\nkeyvalue = {{ {} }}\n",
        many.join(", ")
    );
    assert!(
        parse(&text)
            .expect_err("too many")
            .to_string()
            .contains("at most 64")
    );
}

#[test]
fn a_changed_keyvalue_grant_is_not_the_same_terms() {
    let spec = |grant: &str| {
        let text = format!("[components.a]\nsource = \"a.wasm\"\nkeyvalue = {grant}\n");
        parse(&text).expect("parses").components["a"].clone()
    };
    let before = spec("{ default = \"session:\" }");
    assert!(before.same_terms(&spec("{ default = \"session:\" }")));
    assert!(!before.same_terms(&spec("{ default = \"other:\" }")));
    assert!(!before.same_terms(&spec("{ default = \"session:\", more = \"m:\" }")));
}

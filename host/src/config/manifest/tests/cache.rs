//! The manifest's cache settings: family TTLs and early refresh, the
//! prefixes components are granted and their L1 budgets.

use super::parse;

#[test]
fn family_ttls_beyond_what_the_cache_can_honour_are_refused() {
    for (setting, limit) in [
        ("ttl_seconds = 315360001", "315360000"),
        ("ttl_seconds = 60\nmax_ttl_seconds = 315360001", "315360000"),
        ("ttl_seconds = 60\nnegative_ttl_seconds = 86401", "86400"),
    ] {
        let text = format!("[cache.families.market]\n{setting}\n");
        let err = parse(&text).expect_err(setting).to_string();
        assert!(
            err.contains("over the limit of") && err.contains(limit),
            "{setting}: {err}"
        );
    }
    let fine = "[cache.families.market]\nttl_seconds = 60\nnegative_ttl_seconds = 0\n";
    assert!(parse(fine).is_ok(), "0 means: never remember a failure");
}

#[test]
fn early_refresh_betas_the_cache_cannot_use_are_refused() {
    let family =
        |settings: &str| format!("[cache.families.market]\nttl_seconds = 60\n{settings}\n");
    for (beta, expected) in [
        ("0.0", "= 0 must be over 0"),
        ("-1.0", "= -1 must be over 0"),
        ("10.5", "= 10.5 must be over 0 and at most 10"),
        ("nan", "= NaN must be over 0"),
        ("inf", "= inf must be over 0"),
    ] {
        let text = family(&format!(
            "early_refresh = true\nearly_refresh_beta = {beta}"
        ));
        let err = parse(&text).expect_err(beta).to_string();
        assert!(
            err.contains("cache family \"market\": early_refresh_beta") && err.contains(expected),
            "{beta}: {err}"
        );
    }
    let ignored = parse(&family("early_refresh_beta = 2.0")).expect_err("beta alone");
    assert!(
        ignored.to_string().contains("early_refresh is not"),
        "{ignored}"
    );
}

#[test]
fn early_refresh_is_off_unless_a_family_opts_in() {
    let text = "[cache.families.market]\nttl_seconds = 60\n\
                [cache.families.hot]\nttl_seconds = 60\nearly_refresh = true\n\
                [cache.families.eager]\nttl_seconds = 60\nearly_refresh = true\nearly_refresh_beta = 10\n";
    let families = parse(text).expect("parses").cache.families;
    assert_eq!(families["market"].early_refresh(), None);
    assert_eq!(
        families["hot"].early_refresh(),
        Some(strata_cache::DEFAULT_EARLY_REFRESH_BETA)
    );
    assert_eq!(families["eager"].early_refresh(), Some(10.0));
}

#[test]
fn a_prefix_that_does_not_fix_its_key_family_is_rejected() {
    for component in [
        "cache_prefixes = [\"tmp\"]",
        "keyvalue = { default = \"cart-\" }",
    ] {
        let text = format!("[components.a]\nsource = \"a.wasm\"\n{component}\n");
        let err = parse(&text).expect_err("fails");
        assert!(err.to_string().contains("key family"), "{err}");
    }
}

#[test]
fn an_l1_budget_of_zero_or_beyond_any_machine_is_rejected() {
    for mib in ["0", "1048577"] {
        let text = format!("[components.a]\nsource = \"a.wasm\"\ncache_l1_mib = {mib}\n");
        let err = parse(&text).expect_err("fails");
        assert!(err.to_string().contains("cache_l1_mib"), "{err}");
    }
}

#[test]
fn a_components_l1_claim_covers_its_cache_grants_and_buckets() {
    let manifest = parse(
        "[components.a]\nsource = \"a.wasm\"\ncache_prefixes = [\"market:\"]\n\
         keyvalue = { default = \"session:\" }\ncache_l1_mib = 2\n",
    )
    .expect("parses");
    let tenants = manifest.cache_tenants();
    assert_eq!(tenants.len(), 1);
    assert_eq!(tenants[0].prefixes, ["market:", "session:"]);
    assert_eq!(tenants[0].l1_bytes, Some(2 << 20));
}

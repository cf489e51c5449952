//! The outbound client's series: requests, denials, retries and breakers
//! per (component, allow-list entry), and the request budgets per upstream.
//!
//! Every label comes from the manifest (component names, allow-list
//! entries, `[[upstreams]]` hosts), whatever hosts a guest tries to call,
//! so no client or guest can add series.

use strata_upstream::OutboundStats;

use super::Exposition;

/// Renders `outbound`'s figures into `out`.
pub fn render(outbound: &OutboundStats, out: &mut Exposition) {
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
    out.per_label(
        "strata_upstream_denied_total",
        "counter",
        "Outbound calls refused by policy (allow-list, address, redirect hop), by component.",
        "component",
        outbound
            .denied
            .iter()
            .map(|(component, count)| (component.as_str(), *count as f64)),
    );
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
    budgets(outbound, out);
}

/// The `[[upstreams]]` budgets (and upstreams without one that a 429 held).
fn budgets(outbound: &OutboundStats, out: &mut Exposition) {
    let budgeted = || outbound.budgets.iter().filter(|b| b.rate.is_some());
    out.per_label(
        "strata_upstream_budget_admitted_total",
        "counter",
        "Requests an upstream's request budget let through (each retry and redirect hop counts).",
        "upstream",
        budgeted().map(|b| (b.upstream.as_str(), b.admitted as f64)),
    );
    out.per_label(
        "strata_upstream_budget_denied_total",
        "counter",
        "Outbound calls refused unsent: the upstream's budget was spent, or a 429 held it.",
        "upstream",
        outbound
            .budgets
            .iter()
            .map(|b| (b.upstream.as_str(), b.denied as f64)),
    );
    out.per_label(
        "strata_upstream_budget_holds_total",
        "counter",
        "429 answers with Retry-After that held an upstream (emptied its budget) until then.",
        "upstream",
        outbound
            .budgets
            .iter()
            .map(|b| (b.upstream.as_str(), b.holds as f64)),
    );
    out.single(
        "strata_upstream_budget_redis_fallbacks_total",
        "counter",
        "Budget decisions this instance made alone because Redis could not be asked.",
        outbound.budget_fallbacks as f64,
    );
}

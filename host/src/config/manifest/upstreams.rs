//! `[[upstreams]]`: a request budget per upstream host, shared by every
//! component (and, with Redis, every instance) that calls it.
//!
//! Budgets protect the upstream's quota, not a component's share of it,
//! which is why they sit beside the components rather than inside one:
//! two components allowed to call the same API spend one budget.

use std::collections::HashSet;

use serde::Deserialize;
use strata_upstream::UpstreamBudget;

use super::ManifestError;

/// One `[[upstreams]]` entry as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// `host`, `host:port` or a base URL, as in a component's `outbound`.
    pub host: String,
    /// Tokens per period: `30/min`, `5/s`, `1000/h`.
    pub rate: String,
    /// Bucket capacity (calls that may go at once); the rate's `N` if unset.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// Checks every entry; the budgets, in manifest order.
pub(super) fn validate(specs: &[UpstreamSpec]) -> Result<Vec<UpstreamBudget>, ManifestError> {
    let mut seen = HashSet::new();
    specs
        .iter()
        .map(|spec| {
            let bad = |message: String| ManifestError::BadUpstream {
                host: spec.host.clone(),
                message,
            };
            let budget = UpstreamBudget::new(&spec.host, &spec.rate, spec.burst)
                .map_err(|e| bad(e.to_string()))?;
            if !seen.insert(budget.label()) {
                return Err(bad(format!(
                    "{} has a budget already; one entry per host",
                    budget.label()
                )));
            }
            Ok(budget)
        })
        .collect()
}

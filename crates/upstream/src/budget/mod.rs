//! Request budgets per upstream: the manifest's `[[upstreams]]` token
//! buckets, and holds after a 429.
//!
//! Caching protects an upstream only from repeats; a client asking for
//! many different things can still spend a metered API's whole quota, after
//! which the legitimate calls get 429s too. A budget caps what every
//! component of every instance sends to one upstream together: each request
//! actually sent (each retry, each redirect hop to a budgeted host) takes a
//! token, and a call that finds the bucket empty fails at once with
//! [`FetchError::RateLimited`](crate::FetchError::RateLimited), unsent, so
//! the component can serve stale data or answer 503 with `Retry-After`.
//!
//! With Redis the bucket is shared by all instances ([`shared`]), else (and
//! while Redis is away) each instance keeps its own at the same rate
//! ([`local`]): an outage may let N instances spend N budgets, but never
//! stops calls or makes one wait. When an upstream answers 429 with
//! `Retry-After`, its bucket is emptied until then; an upstream with no
//! budget gets an in-process hold instead ([`holds`]).
//!
//! Everything here is keyed by manifest entries (budget hosts, allow-list
//! entries), never by what a guest wrote, so neither Redis keys nor
//! metric series can be grown by calling made-up hosts.

mod holds;
mod local;
mod rate;
mod shared;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata_backplane::Backplane;
use thiserror::Error;
use url::Url;

use crate::allow::AllowedHost;
use holds::{HoldCounts, Holds};
use local::LocalBucket;
pub use rate::Rate;
use shared::SharedBuckets;

/// Why a `[[upstreams]]` entry cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BudgetError {
    /// The rate is not `N/unit` with a known unit and a whole `N`.
    #[error(
        "rate {0:?} is not N/s, N/min or N/h (also sec, second, minute, hour) with N a whole number from 1 to 1000000"
    )]
    BadRate(String),
    /// The rate admits nothing, which would stop every call for good.
    #[error("rate {0:?} admits no call at all; give a positive rate or remove the entry")]
    ZeroRate(String),
    /// A bucket that holds no token admits nothing either.
    #[error("burst must be at least 1 (it is how many calls may go at once)")]
    ZeroBurst,
    /// The host is not an allow-list entry (the same syntax as `outbound`).
    #[error("host {host:?}: {reason}")]
    BadHost {
        /// The host as written (after `${VAR}` expansion).
        host: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// One validated `[[upstreams]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamBudget {
    host: AllowedHost,
    rate: Rate,
    burst: u32,
}

impl UpstreamBudget {
    /// `host` as an `outbound` entry (`host`, `host:port` or a base URL),
    /// `rate` as `N/unit`, `burst` defaulting to the rate's `N`.
    pub fn new(host: &str, rate: &str, burst: Option<u32>) -> Result<Self, BudgetError> {
        let parsed = AllowedHost::parse(host).map_err(|reason| BudgetError::BadHost {
            host: host.to_string(),
            reason,
        })?;
        let rate = Rate::parse(rate)?;
        let burst = burst.unwrap_or(rate.tokens());
        if burst == 0 {
            return Err(BudgetError::ZeroBurst);
        }
        Ok(Self {
            host: parsed,
            rate,
            burst,
        })
    }

    /// The entry, as its metrics label and Redis key (`host[:port]`).
    pub fn label(&self) -> String {
        self.host.to_string()
    }

    /// The refill rate.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// The bucket's capacity.
    pub fn burst(&self) -> u32 {
        self.burst
    }
}

/// One budget at work.
struct Budget {
    spec: UpstreamBudget,
    label: String,
    local: LocalBucket,
    admitted: AtomicU64,
    denied: AtomicU64,
    holds: AtomicU64,
}

/// Every budget of the host, and the holds of upstreams without one.
pub struct Budgets {
    budgets: Vec<Budget>,
    shared: Option<SharedBuckets>,
    holds: Holds,
}

/// One budget's (or one held upstream's) figures, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetStats {
    /// The `[[upstreams]]` host, or the allow-list entry of an upstream
    /// without a budget that was held after a 429.
    pub upstream: String,
    /// `N/unit`; `None` for an upstream with no budget (holds only).
    pub rate: Option<String>,
    /// Requests the budget let through (each retry and redirect hop counts).
    pub admitted: u64,
    /// Calls refused unsent: bucket empty, or held after a 429.
    pub denied: u64,
    /// 429s with `Retry-After` that emptied the bucket (or held the upstream).
    pub holds: u64,
}

impl Default for Budgets {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Budgets {
    /// Budgets kept in this process only; see [`shared_through`](Self::shared_through).
    pub fn new(entries: Vec<UpstreamBudget>) -> Self {
        let now = Instant::now();
        let budgets = entries
            .into_iter()
            .map(|spec| Budget {
                label: spec.label(),
                local: LocalBucket::new(spec.rate, spec.burst, now),
                spec,
                admitted: AtomicU64::new(0),
                denied: AtomicU64::new(0),
                holds: AtomicU64::new(0),
            })
            .collect();
        Self {
            budgets,
            shared: None,
            holds: Holds::default(),
        }
    }

    /// Shares the buckets (and 429 holds) with every instance on
    /// `backplane`; each round trip may take `timeout` before this instance
    /// decides on its own.
    pub fn shared_through(mut self, backplane: Arc<Backplane>, timeout: Duration) -> Self {
        self.shared = Some(SharedBuckets::new(backplane, timeout));
        self
    }

    /// The budget covering `url`: an entry pinned to the URL's port before
    /// one for the whole host.
    fn budget_for(&self, url: &Url) -> Option<&Budget> {
        let covering = || self.budgets.iter().filter(|b| b.spec.host.permits(url));
        covering()
            .find(|b| {
                url.port_or_known_default()
                    .is_some_and(|p| b.spec.host.pins_port(p))
            })
            .or_else(|| covering().next())
    }

    /// Takes a token for one request of `component` to `url`, admitted by
    /// allow-list `entry`; refused with how long until one may go.
    pub(crate) async fn admit(
        &self,
        url: &Url,
        component: &str,
        entry: &str,
    ) -> Result<(), Duration> {
        let Some(budget) = self.budget_for(url) else {
            return match self.holds.held(component, entry, Instant::now()) {
                Some(wait) => Err(wait),
                None => Ok(()),
            };
        };
        let verdict = if let Some(wait) = budget.local.held(Instant::now()) {
            Err(wait)
        } else {
            let from_redis = match &self.shared {
                Some(shared) => {
                    let key = shared.key(&budget.label);
                    shared.take(&key, budget.spec.rate, budget.spec.burst).await
                }
                None => None,
            };
            from_redis.unwrap_or_else(|| budget.local.take(Instant::now()))
        };
        let counter = match verdict {
            Ok(()) => &budget.admitted,
            Err(_) => &budget.denied,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        verdict
    }

    /// The upstream behind `url` (admitted by `entry`) answered
    /// `component`'s call with 429 and asked to wait `after`: with a
    /// budget, no request to it before then from any component or
    /// instance that shares the budget; without one, none from `component`
    /// in this process.
    pub(crate) async fn hold(&self, url: &Url, component: &str, entry: &str, after: Duration) {
        let Some(budget) = self.budget_for(url) else {
            if self.holds.hold(component, entry, Instant::now(), after) {
                tracing::info!(component, upstream = %entry, ?after, "upstream answered 429: holding this component's calls to it");
            }
            return;
        };
        budget.local.hold(Instant::now(), after);
        budget.holds.fetch_add(1, Ordering::Relaxed);
        if let Some(shared) = &self.shared {
            let key = shared.key(&budget.label);
            shared
                .hold(&key, budget.spec.rate, budget.spec.burst, after)
                .await;
        }
        tracing::info!(upstream = %budget.label, ?after, "upstream answered 429: its budget is empty until then");
    }

    /// Figures per budget, then per held upstream without one.
    pub fn stats(&self) -> Vec<BudgetStats> {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut stats: Vec<BudgetStats> = self
            .budgets
            .iter()
            .map(|budget| BudgetStats {
                upstream: budget.label.clone(),
                rate: Some(budget.spec.rate.to_string()),
                admitted: load(&budget.admitted),
                denied: load(&budget.denied),
                holds: load(&budget.holds),
            })
            .collect();
        stats.extend(self.holds.counts().into_iter().map(
            |(upstream, HoldCounts { denied, holds })| BudgetStats {
                upstream,
                rate: None,
                admitted: 0,
                denied,
                holds,
            },
        ));
        stats
    }

    /// Budget decisions made locally because Redis could not be asked.
    pub fn fallbacks(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |shared| shared.fallbacks.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests;

//! Breakers and counters per (component, allow-list entry).
//!
//! Keyed by what the manifest granted, never by what a guest wrote: the set
//! of keys is bounded by the manifest, so no guest can grow it (or
//! `/metrics`) by calling made-up hosts, and one component's failures (or
//! timeouts it chose itself) cannot open another component's breaker for a
//! shared upstream. A record exists only once a call passed the allow-list;
//! denials are counted per component, with no per-host series at all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_breaker::CircuitBreaker;

use crate::allow::AllowedHost;
use crate::budget::BudgetStats;

/// One component's use of one allow-list entry.
pub(crate) struct Upstream {
    /// The entry, as its metrics label and in error messages.
    pub(crate) label: String,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) ok: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) short_circuited: AtomicU64,
    pub(crate) guest_timeouts: AtomicU64,
    pub(crate) retries: AtomicU64,
}

/// How one request to an upstream went, as far as its breaker is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The upstream answered (a status below 500, other than 429).
    Answered,
    /// The upstream failed: 5xx, 429, a transport error, a timeout.
    Failed,
    /// The guest's own budget, shorter than the host's, ran out: that says
    /// nothing about the upstream.
    GuestTimeout,
    /// The call failed here (the answer was over the size cap): not the
    /// upstream's failure, nor proof that it works.
    Neutral,
    /// Refused here before anything was sent (a denied address, a request
    /// the client cannot send): counted elsewhere, if at all.
    Refused,
}

impl Upstream {
    /// Asks the breaker whether a request may go now; `None` (counted) when
    /// it is open.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Permit> {
        if self.breaker.allow() {
            Some(Permit {
                upstream: self.clone(),
                settled: false,
            })
        } else {
            bump(&self.short_circuited);
            None
        }
    }
}

/// One request the breaker let through. Its outcome is recorded with
/// [`settle`](Self::settle); dropped unsettled (the guest's call was
/// cancelled, say by its deadline) it records nothing but frees the
/// breaker's half-open probe slot, which would otherwise stay taken and
/// keep the breaker from ever letting a call through again.
pub(crate) struct Permit {
    upstream: Arc<Upstream>,
    settled: bool,
}

impl Permit {
    /// Records how the request went.
    pub(crate) fn settle(mut self, verdict: Verdict) {
        self.settled = true;
        let upstream = &self.upstream;
        match verdict {
            Verdict::Answered => {
                upstream.breaker.record_success();
                bump(&upstream.ok);
            }
            Verdict::Failed => {
                upstream.breaker.record_failure();
                bump(&upstream.failed);
            }
            Verdict::GuestTimeout => {
                upstream.breaker.release();
                bump(&upstream.guest_timeouts);
            }
            Verdict::Neutral => {
                upstream.breaker.release();
                bump(&upstream.failed);
            }
            Verdict::Refused => upstream.breaker.release(),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled {
            self.upstream.breaker.release();
        }
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One record's figures, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStats {
    /// The calling component.
    pub component: String,
    /// The allow-list entry (`host` or `host:port`).
    pub upstream: String,
    /// Requests the upstream answered (a status below 500, other than 429).
    pub ok: u64,
    /// Requests that failed: 5xx, 429, transport errors, timeouts of the
    /// host's budget, or a body over the size cap.
    pub failed: u64,
    /// Calls refused unsent because the breaker was open.
    pub short_circuited: u64,
    /// Requests cut off by the guest's own shorter budget; not held against
    /// the upstream.
    pub guest_timeouts: u64,
    /// Retries of calls that started with this entry.
    pub retries: u64,
    /// Breaker state: `closed`, `open` or `half-open`.
    pub breaker: &'static str,
}

/// Everything the outbound client counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundStats {
    /// One per (component, allow-list entry) pair called so far, sorted.
    pub upstreams: Vec<UpstreamStats>,
    /// Calls refused by policy, per component.
    pub denied: Vec<(String, u64)>,
    /// One per `[[upstreams]]` budget, then one per upstream without a
    /// budget that a 429 held.
    pub budgets: Vec<BudgetStats>,
    /// Budget decisions made in this instance alone because Redis could
    /// not be asked.
    pub budget_fallbacks: u64,
}

/// (component, allow-list entry label).
type Key = (Arc<str>, String);

/// See the module documentation.
pub(crate) struct Records {
    breaker_threshold: u32,
    breaker_cool_down: Duration,
    upstreams: Mutex<HashMap<Key, Arc<Upstream>>>,
    denied: Mutex<HashMap<Arc<str>, u64>>,
}

impl Records {
    pub(crate) fn new(breaker_threshold: u32, breaker_cool_down: Duration) -> Self {
        Self {
            breaker_threshold,
            breaker_cool_down,
            upstreams: Mutex::default(),
            denied: Mutex::default(),
        }
    }

    /// The record of `component` calling through `entry` (created on first use).
    pub(crate) fn upstream(&self, component: &Arc<str>, entry: &AllowedHost) -> Arc<Upstream> {
        let label = entry.to_string();
        let mut upstreams = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        upstreams
            .entry((component.clone(), label.clone()))
            .or_insert_with(|| {
                Arc::new(Upstream {
                    label,
                    breaker: CircuitBreaker::new(self.breaker_threshold, self.breaker_cool_down),
                    ok: AtomicU64::new(0),
                    failed: AtomicU64::new(0),
                    short_circuited: AtomicU64::new(0),
                    guest_timeouts: AtomicU64::new(0),
                    retries: AtomicU64::new(0),
                })
            })
            .clone()
    }

    /// Counts one call of `component` refused by policy.
    pub(crate) fn deny(&self, component: &Arc<str>) {
        let mut denied = self.denied.lock().unwrap_or_else(|e| e.into_inner());
        *denied.entry(component.clone()).or_default() += 1;
    }

    pub fn stats(&self) -> OutboundStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut upstreams: Vec<UpstreamStats> = self
            .upstreams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((component, _), record)| UpstreamStats {
                component: component.to_string(),
                upstream: record.label.clone(),
                ok: load(&record.ok),
                failed: load(&record.failed),
                short_circuited: load(&record.short_circuited),
                guest_timeouts: load(&record.guest_timeouts),
                retries: load(&record.retries),
                breaker: record.breaker.state().as_str(),
            })
            .collect();
        upstreams.sort_by(|a, b| (&a.component, &a.upstream).cmp(&(&b.component, &b.upstream)));
        let mut denied: Vec<(String, u64)> = self
            .denied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(component, count)| (component.to_string(), *count))
            .collect();
        denied.sort();
        OutboundStats {
            upstreams,
            denied,
            ..OutboundStats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_sharing_an_upstream_have_separate_breakers() {
        let records = Records::new(1, Duration::from_secs(60));
        let entry = AllowedHost::parse("api.example.com").expect("entry");
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let permit = records.upstream(&a, &entry).admit().expect("closed");
        permit.settle(Verdict::Failed);
        assert!(
            records.upstream(&a, &entry).admit().is_none(),
            "a's is open"
        );
        assert!(records.upstream(&b, &entry).admit().is_some(), "b's is not");
    }

    #[test]
    fn a_guest_timeout_neither_opens_nor_holds_the_breaker() {
        let records = Records::new(1, Duration::ZERO);
        let entry = AllowedHost::parse("api.example.com").expect("entry");
        let record = records.upstream(&Arc::from("a"), &entry);
        record
            .admit()
            .expect("closed")
            .settle(Verdict::GuestTimeout);
        assert_eq!(record.breaker.state().as_str(), "closed");
    }

    #[test]
    fn a_cancelled_probe_frees_the_half_open_slot() {
        let records = Records::new(1, Duration::ZERO);
        let entry = AllowedHost::parse("api.example.com").expect("entry");
        let record = records.upstream(&Arc::from("a"), &entry);
        record.admit().expect("closed").settle(Verdict::Failed);
        drop(record.admit().expect("the half-open probe"));
        assert!(record.admit().is_some(), "the next caller may probe");
    }

    #[test]
    fn denials_make_one_series_per_component() {
        let records = Records::new(1, Duration::ZERO);
        let a: Arc<str> = Arc::from("a");
        for _ in 0..1000 {
            records.deny(&a);
        }
        let stats = records.stats();
        assert_eq!(stats.denied, [("a".to_string(), 1000)]);
        assert!(stats.upstreams.is_empty());
    }
}

//! One `/metrics` scrape: every subsystem's counters gathered at the
//! moment of the request, each from where it is kept (the cache, the
//! outbound client, the deployer, the runtime) rather than from a global
//! registry.

use std::sync::Arc;
use std::time::Duration;

use strata_runtime::{InstancePolicy, InstanceStats, LoadedComponent, Retirement};

use super::{Exposition, RequestMetrics};

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
        "Cache-or-compute leases handed out on a miss (one per computation).",
        stats.computes as f64,
    );
    for (name, help, value) in [
        (
            "strata_cache_warmed_keys_total",
            "Values a start-up warm-up loaded into L1 from the deployment's hot-key record.",
            stats.warmed_keys,
        ),
        (
            "strata_cache_family_clears_total",
            "Family clears done by moving the family to a new generation (one Redis command).",
            stats.family_clears,
        ),
        (
            "strata_cache_resync_family_drops_total",
            "Families whose L1 entries a resync after missed invalidations dropped.",
            stats.resync_family_drops,
        ),
        (
            "strata_cache_resync_full_drops_total",
            "Resyncs after missed invalidations that dropped the whole L1.",
            stats.resync_full_drops,
        ),
    ] {
        out.single(name, "counter", help, value as f64);
    }
    out.single(
        "strata_cache_early_refreshes_total",
        "counter",
        "Leases handed out to refresh a still-fresh value ahead of its expiry.",
        stats.early_refreshes as f64,
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
    out.per_label(
        "strata_cache_negative_hits_total",
        "counter",
        "Remembered failures (an unknown symbol, say) answered without a computation, per key family.",
        "family",
        stats
            .negative_hits_by_family
            .iter()
            .map(|(family, hits)| (family.as_str(), *hits as f64)),
    );
    out.single(
        "strata_cache_negative_fills_total",
        "counter",
        "Failures remembered for their family's negative TTL.",
        stats.negative_fills as f64,
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
    let shares = &stats.l1.partitions;
    out.per_label(
        "strata_cache_l1_share_bytes",
        "gauge",
        "Weighted size of each component share of L1 (the manifest's components; `host` for the rest).",
        "share",
        shares
            .iter()
            .map(|share| (share.name.as_str(), share.weighted_size_bytes as f64)),
    );
    out.per_label(
        "strata_cache_l1_share_max_bytes",
        "gauge",
        "Byte budget of each component share of L1.",
        "share",
        shares
            .iter()
            .map(|share| (share.name.as_str(), share.max_bytes as f64)),
    );
    out.per_label(
        "strata_cache_l1_share_evictions_total",
        "counter",
        "Entries evicted to keep a component share of L1 within its budget.",
        "share",
        shares
            .iter()
            .map(|share| (share.name.as_str(), share.evictions as f64)),
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

    super::upstream::render(&app.runtime.outbound_stats(), &mut out);

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
        "strata_manifest_id",
        "gauge",
        "The stored manifest this instance serves (0: none stored); instances that differ have not followed a deploy yet.",
        app.dispatcher.current().manifest_id as f64,
    );
    out.single(
        "strata_components_deployed",
        "gauge",
        "Components with an active version.",
        app.dispatcher.current().registry.deployed() as f64,
    );
    out.single(
        "strata_instances_active",
        "gauge",
        "Component instances alive right now (pool slots in use), parked warm ones included.",
        app.runtime.active_instances() as f64,
    );
    render_instances(&app.dispatcher.current().registry.all(), &mut out);
    out.single(
        "strata_instances_max",
        "gauge",
        "Size of the instance pool.",
        f64::from(app.runtime.max_instances()),
    );
    out.finish()
}

/// Instance reuse per component, labelled with its `instances` mode
/// (`fresh`: a new instance per request, nothing persists; `warm`: linear
/// memory and globals persist between the requests one instance serves).
/// Counters belong to the active version, so they restart at a deploy.
fn render_instances(components: &[Arc<LoadedComponent>], out: &mut Exposition) {
    let stats: Vec<_> = components
        .iter()
        .map(|component| (component, component.instance_stats()))
        .collect();
    out.header(
        "strata_instances_started_total",
        "counter",
        "Instances created for requests, by component and instances mode (fresh or warm).",
    );
    for (component, stats) in &stats {
        out.sample(
            "strata_instances_started_total",
            &[
                ("component", &component.name),
                ("instances", component.instances.label()),
            ],
            stats.started as f64,
        );
    }
    let warm: Vec<_> = stats
        .iter()
        .filter(|(component, _)| component.instances != InstancePolicy::Fresh)
        .collect();
    let mut per_warm_component =
        |name: &str, kind: &str, help: &str, value: fn(&InstanceStats) -> u64| {
            out.header(name, kind, help);
            for (component, stats) in &warm {
                out.sample(
                    name,
                    &[("component", &component.name), ("instances", "warm")],
                    value(stats) as f64,
                );
            }
        };
    per_warm_component(
        "strata_instances_reused_total",
        "counter",
        "Requests served by a warm instance that had served an earlier request.",
        |stats| stats.reused,
    );
    per_warm_component(
        "strata_instances_parked",
        "gauge",
        "Warm instances waiting for their next request.",
        |stats| stats.parked,
    );
    let reasons: Vec<&str> = Retirement::ALL.iter().map(|why| why.label()).collect();
    out.header(
        "strata_instances_retired_total",
        "counter",
        &format!(
            "Warm instances not reused again, by reason ({}).",
            reasons.join(", ")
        ),
    );
    for (component, stats) in &warm {
        for (why, count) in &stats.retired {
            out.sample(
                "strata_instances_retired_total",
                &[
                    ("component", &component.name),
                    ("instances", "warm"),
                    ("reason", why.label()),
                ],
                *count as f64,
            );
        }
    }
}

//! Checking a manifest as a whole: every problem found is reported, so a
//! deploy lists them all instead of one per round trip.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use strata_cache::FamilyPolicy;
use strata_runtime::{ComponentPlan, Grants};
use strata_upstream::AllowedHost;

use super::instances::instance_policy;
use super::{ComponentSpec, Manifest, ManifestError};
use crate::routes::Router;

/// Components one manifest may declare: each is compiled and kept in
/// memory, and a deploy compiles them all before it answers.
const MAX_COMPONENTS: usize = 256;
/// Routes one manifest may list (the router is built on every deploy).
const MAX_ROUTES: usize = 4096;
/// `wasi:keyvalue` buckets one component may be granted.
const MAX_BUCKETS: usize = 64;
/// Longest bucket name, in bytes.
const MAX_BUCKET_NAME: usize = 128;

impl Manifest {
    /// Checks the whole manifest; returns each component's plan and the
    /// routing table, which the host then uses as they are.
    pub(super) fn validate(
        &self,
    ) -> Result<(BTreeMap<String, ComponentPlan>, Router), ManifestError> {
        let mut errors = Vec::new();
        if self.components.len() > MAX_COMPONENTS {
            errors.push(ManifestError::Parse(format!(
                "{} components; at most {MAX_COMPONENTS}",
                self.components.len()
            )));
        }
        if self.routes.len() > MAX_ROUTES {
            errors.push(ManifestError::Parse(format!(
                "{} routes; at most {MAX_ROUTES}",
                self.routes.len()
            )));
        }
        let mut plans = BTreeMap::new();
        for (name, spec) in &self.components {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            {
                errors.push(ManifestError::BadComponentName(name.clone()));
                continue;
            }
            match validate_component(name, spec) {
                Ok(plan) => {
                    plans.insert(name.clone(), plan);
                }
                Err(e) => errors.push(e),
            }
        }
        for (family, policy) in &self.cache.families {
            if let Err(e) = check_family_ttls(family, policy) {
                errors.push(e);
            } else if policy
                .max_ttl_seconds
                .is_some_and(|max| max < policy.ttl_seconds)
            {
                errors.push(ManifestError::Parse(format!(
                    "cache family {family:?}: max_ttl_seconds is below its ttl_seconds"
                )));
            }
            if let Err(e) = check_early_refresh(family, policy) {
                errors.push(e);
            }
        }
        for route in &self.routes {
            if !self.components.contains_key(&route.component) {
                errors.push(ManifestError::UnknownComponent {
                    path: route.path.clone(),
                    component: route.component.clone(),
                });
            }
            if let Some(endpoint) = crate::routes::endpoints::shadows(&route.path) {
                errors.push(ManifestError::ShadowedRoute {
                    path: route.path.clone(),
                    endpoint,
                });
            }
        }
        let router = Router::new(&self.routes).map_err(|e| errors.push(e.into()));
        ManifestError::from_list(errors)?;
        let router = router.map_err(|()| ManifestError::Parse("invalid routes".into()))?;
        Ok((plans, router))
    }
}

/// Largest `cache_l1_mib` (1 TiB): beyond any machine, and far from
/// overflowing when turned into bytes.
const MAX_L1_MIB: u64 = 1 << 20;

fn validate_component(name: &str, spec: &ComponentSpec) -> Result<ComponentPlan, ManifestError> {
    let bad = |message: String| ManifestError::BadComponent {
        component: name.to_string(),
        message,
    };
    if spec.source.trim().is_empty() {
        return Err(bad("source is empty".into()));
    }
    let mut seen = HashSet::new();
    for prefix in &spec.cache_prefixes {
        if prefix.is_empty() {
            return Err(bad(
                "an empty cache prefix would grant every key; list the families instead".into(),
            ));
        }
        strata_keys::validate_key(prefix)
            .map_err(|e| bad(format!("cache prefix {prefix:?}: {e}")))?;
        if !prefix.contains(':') {
            return Err(bad(format!(
                "cache prefix {prefix:?} must name its key family with the ':' ({prefix:?} -> \"{prefix}:\"): \
                 without it every key could start a family of its own"
            )));
        }
        if !seen.insert(prefix) {
            return Err(bad(format!("cache prefix {prefix:?} is listed twice")));
        }
    }
    check_buckets(&spec.keyvalue).map_err(bad)?;
    if spec
        .cache_l1_mib
        .is_some_and(|mib| mib == 0 || mib > MAX_L1_MIB)
    {
        return Err(bad(format!("cache_l1_mib must be from 1 to {MAX_L1_MIB}")));
    }
    let outbound = spec
        .outbound
        .iter()
        .map(|host| {
            AllowedHost::parse(host).map_err(|e| bad(format!("outbound entry {host:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if spec.timeout_ms == Some(0) {
        return Err(bad("timeout_ms must be positive".into()));
    }
    if spec.max_concurrency == Some(0) {
        return Err(bad("max_concurrency must be positive".into()));
    }
    for path in &spec.warmup {
        if !path.starts_with('/') || path.chars().any(char::is_control) {
            return Err(bad(format!("warmup path {path:?} must start with '/'")));
        }
    }
    let instances = instance_policy(spec).map_err(bad)?;
    Ok(ComponentPlan {
        grants: Arc::new(Grants {
            cache_prefixes: spec.cache_prefixes.clone(),
            sql: spec.sql,
            outbound,
            config: spec.config.clone(),
            keyvalue: spec.keyvalue.clone(),
        }),
        timeout: spec.timeout_ms.map(Duration::from_millis),
        warmup: spec.warmup.clone(),
        instances,
    })
}

/// `wasi:keyvalue` buckets: a bounded number of names, each a prefix
/// checked as cache prefixes are (a bucket reaches every key starting with
/// it, so an empty one would reach the whole cache). Names are what guests
/// pass to `open`; any text without control characters will do (SDKs use
/// `default`, and some the empty name).
fn check_buckets(buckets: &BTreeMap<String, String>) -> Result<(), String> {
    if buckets.len() > MAX_BUCKETS {
        return Err(format!(
            "{} keyvalue buckets; at most {MAX_BUCKETS}",
            buckets.len()
        ));
    }
    for (name, prefix) in buckets {
        if name.len() > MAX_BUCKET_NAME || name.chars().any(char::is_control) {
            return Err(format!(
                "keyvalue bucket name {:?} must be at most {MAX_BUCKET_NAME} bytes without control characters",
                name.chars().take(MAX_BUCKET_NAME).collect::<String>()
            ));
        }
        if prefix.is_empty() {
            return Err(format!(
                "keyvalue bucket {name:?}: an empty prefix would reach every cache key; give it one (\"{name}:\")"
            ));
        }
        strata_keys::validate_key(prefix)
            .map_err(|e| format!("keyvalue bucket {name:?}: prefix {prefix:?}: {e}"))?;
        if !prefix.contains(':') {
            return Err(format!(
                "keyvalue bucket {name:?}: prefix {prefix:?} must name its key family with the ':' (\"{prefix}:\")"
            ));
        }
    }
    Ok(())
}

/// TTLs the cache can honour: a year-2500 deadline or a negative TTL of
/// days is a typo, and refused with the limit rather than cut silently.
fn check_family_ttls(family: &str, policy: &FamilyPolicy) -> Result<(), ManifestError> {
    let longest = strata_cache::LONGEST_TTL.as_secs();
    let longest_negative = strata_cache::LONGEST_NEGATIVE_TTL.as_secs();
    let over = |what: &str, value: u64, limit: u64| {
        ManifestError::Parse(format!(
            "cache family {family:?}: {what} = {value} is over the limit of {limit}"
        ))
    };
    for (what, value) in [
        ("ttl_seconds", Some(policy.ttl_seconds)),
        ("max_ttl_seconds", policy.max_ttl_seconds),
    ] {
        if let Some(value) = value.filter(|v| *v > longest) {
            return Err(over(what, value, longest));
        }
    }
    match policy.negative_ttl_seconds {
        Some(value) if value > longest_negative => {
            Err(over("negative_ttl_seconds", value, longest_negative))
        }
        _ => Ok(()),
    }
}

/// An early-refresh beta the cache can use, where it does something: over
/// 0 (at 0 nothing is refreshed before expiry, and a negative one is a
/// typo), at most [`strata_cache::MAX_EARLY_REFRESH_BETA`] (past it keys
/// are recomputed many compute times sooner than needed), and only with
/// `early_refresh = true` (without it the beta would be silently ignored).
fn check_early_refresh(family: &str, policy: &FamilyPolicy) -> Result<(), ManifestError> {
    let Some(beta) = policy.early_refresh_beta else {
        return Ok(());
    };
    if !policy.early_refresh {
        return Err(ManifestError::Parse(format!(
            "cache family {family:?}: early_refresh_beta is set but early_refresh is not; \
             add early_refresh = true, or remove early_refresh_beta"
        )));
    }
    let max = strata_cache::MAX_EARLY_REFRESH_BETA;
    // Written so that NaN (`nan` in TOML) fails it too.
    let usable = beta > 0.0 && beta <= max;
    if !usable {
        return Err(ManifestError::Parse(format!(
            "cache family {family:?}: early_refresh_beta = {beta} must be over 0 and at most {max}"
        )));
    }
    Ok(())
}

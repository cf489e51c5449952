//! A component's instance policy: a fresh instance per request (the
//! default), or warm instances reused within bounds the manifest sets.

use std::time::Duration;

use serde::Deserialize;
use strata_runtime::{InstancePolicy, WarmPolicy};

use super::ComponentSpec;

/// How a component's requests get their instance (see `instances`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceMode {
    #[default]
    Fresh,
    Warm,
}

/// Bounds on the warm settings: beyond them a value is a typo, and an
/// unbounded pool or idle time would let one manifest entry hold instance
/// slots and memory for ever.
const MAX_POOL_SIZE: u32 = 256;
const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// The entry's instance policy; warm settings on a fresh component are
/// refused rather than ignored, since they would suggest reuse that never
/// happens.
pub(super) fn instance_policy(spec: &ComponentSpec) -> Result<InstancePolicy, String> {
    let warm_settings = [
        (
            "max_requests_per_instance",
            spec.max_requests_per_instance.is_some(),
        ),
        ("idle_timeout_ms", spec.idle_timeout_ms.is_some()),
        ("pool_size", spec.pool_size.is_some()),
        (
            "memory_high_water_mib",
            spec.memory_high_water_mib.is_some(),
        ),
    ];
    if spec.instances == InstanceMode::Fresh {
        return match warm_settings.iter().find(|(_, set)| *set) {
            Some((name, _)) => Err(format!(
                "{name} applies to warm instances only; add instances = \"warm\" or remove it"
            )),
            None => Ok(InstancePolicy::Fresh),
        };
    }
    let defaults = WarmPolicy::default();
    let positive = |name: &str, value: Option<u64>| match value {
        Some(0) => Err(format!("{name} must be positive")),
        other => Ok(other),
    };
    let max_requests = positive(
        "max_requests_per_instance",
        spec.max_requests_per_instance.map(u64::from),
    )?;
    let idle = positive("idle_timeout_ms", spec.idle_timeout_ms)?.map(Duration::from_millis);
    if idle.is_some_and(|idle| idle > MAX_IDLE_TIMEOUT) {
        return Err(format!(
            "idle_timeout_ms is over the limit of {}",
            MAX_IDLE_TIMEOUT.as_millis()
        ));
    }
    let pool_size = positive("pool_size", spec.pool_size.map(u64::from))?;
    if pool_size.is_some_and(|size| size > u64::from(MAX_POOL_SIZE)) {
        return Err(format!("pool_size is over the limit of {MAX_POOL_SIZE}"));
    }
    let high_water = positive("memory_high_water_mib", spec.memory_high_water_mib)?;
    Ok(InstancePolicy::Warm(WarmPolicy {
        max_requests_per_instance: max_requests
            .map_or(defaults.max_requests_per_instance, |n| n as u32),
        idle_timeout: idle.unwrap_or(defaults.idle_timeout),
        pool_size: pool_size.map_or(defaults.pool_size, |n| n as usize),
        memory_high_water_bytes: high_water.map(|mib| mib.saturating_mul(1 << 20)),
    }))
}

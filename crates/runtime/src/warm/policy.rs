//! What a manifest may ask of the warm tier, and what it reports.

use std::time::Duration;

/// How a component's requests get their instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstancePolicy {
    /// One new instance per request, dropped when it finishes: no request
    /// sees anything another left in memory.
    #[default]
    Fresh,
    /// Instances reused for sequential requests under [`WarmPolicy`].
    Warm(WarmPolicy),
}

impl InstancePolicy {
    /// The `instances` label of metrics and listings.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Fresh => "fresh",
            Self::Warm(_) => "warm",
        }
    }
}

/// When a warm instance is reused and when it is retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmPolicy {
    /// Requests one instance serves before it is retired.
    pub max_requests_per_instance: u32,
    /// How long a parked instance may wait for its next request.
    pub idle_timeout: Duration,
    /// Most instances of the component parked at once.
    pub pool_size: usize,
    /// Linear memory (all of the instance's memories together) above which
    /// an instance is retired instead of parked; `None` takes half the
    /// per-instance memory limit.
    pub memory_high_water_bytes: Option<u64>,
}

impl Default for WarmPolicy {
    fn default() -> Self {
        Self {
            max_requests_per_instance: 1000,
            idle_timeout: Duration::from_secs(30),
            pool_size: 16,
            memory_high_water_bytes: None,
        }
    }
}

/// Why an instance was not parked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retirement {
    /// The guest trapped.
    Trap,
    /// The guest ran past its deadline.
    Deadline,
    /// Instantiation or the call failed in the host.
    Error,
    /// The request was dropped (client gone, response abandoned) while
    /// the guest ran.
    Cancelled,
    /// The guest kept a host resource of its request (a request, body,
    /// lease or outparam handle) past the end of its call, or hoarded
    /// streams.
    HeldResource,
    /// Its memory grew past the high-water mark.
    Memory,
    /// It served `max_requests_per_instance` requests.
    MaxRequests,
    /// It waited parked longer than `idle_timeout`.
    Idle,
    /// The component's pool, or the host's share of instance slots for
    /// parked instances, was full.
    PoolFull,
    /// An instantiation found the engine's pool full, and parked instances
    /// were dropped to make room.
    Evicted,
}

impl Retirement {
    /// Every reason, in the order metrics list them.
    pub const ALL: [Retirement; 10] = [
        Self::Trap,
        Self::Deadline,
        Self::Error,
        Self::Cancelled,
        Self::HeldResource,
        Self::Memory,
        Self::MaxRequests,
        Self::Idle,
        Self::PoolFull,
        Self::Evicted,
    ];

    /// The `reason` label of metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Trap => "trap",
            Self::Deadline => "deadline",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
            Self::HeldResource => "held_resource",
            Self::Memory => "memory",
            Self::MaxRequests => "max_requests",
            Self::Idle => "idle",
            Self::PoolFull => "pool_full",
            Self::Evicted => "evicted",
        }
    }
}

/// A component version's instance counters, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct InstanceStats {
    /// Instances created for requests.
    pub started: u64,
    /// Requests served by an instance that had served another before.
    pub reused: u64,
    /// Instances parked right now.
    pub parked: u64,
    /// Warm instances retired, by reason (in [`Retirement::ALL`] order).
    pub retired: Vec<(Retirement, u64)>,
}

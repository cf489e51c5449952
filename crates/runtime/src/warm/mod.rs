//! The warm tier: instances kept between requests, for components that opt
//! in with `instances = "warm"`.
//!
//! A fresh instance per request is the isolation default; for a component
//! whose author accepts that its linear memory and globals outlive one
//! request, reusing an instance skips instantiation, memory reset and store
//! set-up. The rules follow `wasmtime serve`'s instance reuse and
//! wasmCloud's warm policy: an instance is parked only after a call that
//! returned cleanly and left nothing of the request behind in the host (no
//! handle of request A's headers, body, leases or outparam survives into
//! request B: see [`leftovers`]); it is retired on a trap, deadline, host
//! error or cancelled request, when its memory grew past the high-water
//! mark, after `max_requests_per_instance` calls, or after `idle_timeout`
//! parked. A request that finds no parked instance gets a fresh one: the
//! pool never queues a request behind another.
//!
//! Parked instances hold slots of the engine's instance pool, so how many
//! may wait at once is bounded per component (`pool_size`) and for the
//! whole host ([`ParkingSpace`]), and when an instantiation still finds the
//! engine's pool full, every parked instance is dropped to make room.
//!
//! wasmtime-wasi-http's `handler::ProxyHandler` implements reuse with a
//! worker task per instance fed from a request queue; Strata runs each
//! guest on its connection's task (see [`Runtime::invoke`](crate::Runtime))
//! and sends overflow to fresh instances, so the pool here is a stack of
//! parked stores rather than a set of workers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::Proxy;

use crate::state::HostState;

mod leftovers;
mod policy;
mod space;

pub use policy::{InstancePolicy, InstanceStats, Retirement, WarmPolicy};
pub(crate) use space::ParkingSpace;

/// An instance waiting for its next request.
pub(crate) struct Parked {
    pub(crate) store: Store<HostState>,
    pub(crate) proxy: Proxy,
    /// Requests it has served.
    pub(crate) served: u32,
    parked_at: Instant,
}

/// One component version's parked instances.
pub(crate) struct WarmPool {
    policy: WarmPolicy,
    high_water: u64,
    space: Arc<ParkingSpace>,
    /// Most recently parked last: it is taken first, its caches warmest.
    parked: Mutex<Vec<Parked>>,
    sweeping: AtomicBool,
    reused: AtomicU64,
    retired: [AtomicU64; Retirement::ALL.len()],
}

impl WarmPool {
    /// A pool registered with the host-wide `space`, which may empty it.
    pub(crate) fn new(
        policy: WarmPolicy,
        instance_memory: u64,
        space: Arc<ParkingSpace>,
    ) -> Arc<Self> {
        let pool = Arc::new(Self {
            high_water: policy
                .memory_high_water_bytes
                .unwrap_or(instance_memory / 2)
                .min(instance_memory),
            policy,
            space,
            parked: Mutex::new(Vec::new()),
            sweeping: AtomicBool::new(false),
            reused: AtomicU64::new(0),
            retired: Default::default(),
        });
        pool.space.register(&pool);
        pool
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Parked>> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A parked instance that has not idled out, if there is one.
    pub(crate) fn checkout(&self) -> Option<Parked> {
        let now = Instant::now();
        let mut expired = Vec::new();
        let found = {
            let mut parked = self.lock();
            loop {
                match parked.pop() {
                    Some(p) if now.duration_since(p.parked_at) >= self.policy.idle_timeout => {
                        expired.push(p)
                    }
                    other => break other,
                }
            }
        };
        self.space
            .give_back(expired.len() + usize::from(found.is_some()));
        self.count_retired(Retirement::Idle, expired.len());
        // Dropped outside the lock: dropping a store resets its memory.
        drop(expired);
        found
    }

    /// Counts a request a checked-out instance took on.
    pub(crate) fn reused(&self) {
        self.reused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an instance that ended without being offered back.
    pub(crate) fn retire(&self, why: Retirement) {
        self.count_retired(why, 1);
    }

    fn count_retired(&self, why: Retirement, count: usize) {
        if count == 0 {
            return;
        }
        let index = Retirement::ALL
            .iter()
            .position(|r| *r == why)
            .unwrap_or_default();
        self.retired[index].fetch_add(count as u64, Ordering::Relaxed);
    }

    /// Parks an instance whose call returned cleanly, unless a retirement
    /// rule says otherwise. `served` counts the requests it has finished.
    pub(crate) fn park(self: &Arc<Self>, mut store: Store<HostState>, proxy: Proxy, served: u32) {
        let why = if !leftovers::only_instance_state(&mut store.data_mut().table) {
            Some(Retirement::HeldResource)
        } else if store.data().limits.memory_bytes() > self.high_water {
            Some(Retirement::Memory)
        } else if served >= self.policy.max_requests_per_instance {
            Some(Retirement::MaxRequests)
        } else {
            None
        };
        if let Some(why) = why {
            self.retire(why);
            return;
        }
        {
            // One lock for the check and the push, so racing parks cannot
            // both see room for one.
            let mut parked = self.lock();
            if parked.len() < self.policy.pool_size && self.space.try_take() {
                parked.push(Parked {
                    store,
                    proxy,
                    served,
                    parked_at: Instant::now(),
                });
            } else {
                drop(parked);
                self.retire(Retirement::PoolFull);
                return;
            }
        }
        self.start_sweeper();
    }

    /// Drops every parked instance (their instance slots are needed).
    pub(crate) fn evict(&self) -> usize {
        let evicted: Vec<Parked> = std::mem::take(&mut *self.lock());
        self.space.give_back(evicted.len());
        self.count_retired(Retirement::Evicted, evicted.len());
        evicted.len()
    }

    /// Retires instances that idled out even when no request comes to find
    /// them, so an idle component gives its memory back. One sweeper per
    /// pool, running while anything is parked; it holds the pool weakly
    /// so a replaced version's pool is dropped with its last request.
    fn start_sweeper(self: &Arc<Self>) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Release);
            return;
        };
        let pool = Arc::downgrade(self);
        let period = (self.policy.idle_timeout / 2).max(Duration::from_millis(10));
        runtime.spawn(sweep(pool, period));
    }

    /// Retires what idled out; false once nothing is parked (the sweeper
    /// stops, and the next park starts another).
    fn sweep_once(&self) -> bool {
        let now = Instant::now();
        let (expired, more) = {
            let mut parked = self.lock();
            let (expired, keep): (Vec<_>, Vec<_>) = parked
                .drain(..)
                .partition(|p| now.duration_since(p.parked_at) >= self.policy.idle_timeout);
            *parked = keep;
            if parked.is_empty() {
                self.sweeping.store(false, Ordering::Release);
            }
            (expired, !parked.is_empty())
        };
        self.space.give_back(expired.len());
        self.count_retired(Retirement::Idle, expired.len());
        drop(expired);
        more
    }

    /// This version's counters; `started` is counted by the caller, for
    /// fresh and warm components alike.
    pub(crate) fn stats(&self, started: u64) -> InstanceStats {
        InstanceStats {
            started,
            reused: self.reused.load(Ordering::Relaxed),
            parked: self.lock().len() as u64,
            retired: Retirement::ALL
                .iter()
                .zip(&self.retired)
                .map(|(why, n)| (*why, n.load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        let parked = self.parked.get_mut().unwrap_or_else(|e| e.into_inner());
        self.space.give_back(parked.len());
    }
}

async fn sweep(pool: Weak<WarmPool>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        if !pool.sweep_once() {
            return;
        }
    }
}

/// A warm instance's way out of one request: parked again by
/// [`Retiring::park`], or retired for the reason last noted; a request's
/// future dropped mid-call counts as [`Retirement::Deadline`] when its
/// deadline had passed (the host stopped it) and [`Retirement::Cancelled`]
/// otherwise (the client went away).
pub(crate) struct Retiring {
    pool: Option<Arc<WarmPool>>,
    why: Option<Retirement>,
    deadline: Instant,
}

impl Retiring {
    pub(crate) fn new(pool: Option<Arc<WarmPool>>, deadline: Instant) -> Self {
        Self {
            pool,
            why: None,
            deadline,
        }
    }

    pub(crate) fn because(&mut self, why: Retirement) {
        self.why = Some(why);
    }

    /// Offers the instance back to its pool (a fresh component's instance
    /// is simply dropped).
    pub(crate) fn park(mut self, store: Store<HostState>, proxy: Proxy, served: u32) {
        if let Some(pool) = self.pool.take() {
            pool.park(store, proxy, served);
        }
    }
}

impl Drop for Retiring {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let why = self.why.unwrap_or(if Instant::now() >= self.deadline {
                Retirement::Deadline
            } else {
                Retirement::Cancelled
            });
            pool.retire(why);
        }
    }
}

//! Request counters exposed at `/__sim/stats`.
//!
//! Tests use these to assert how much *upstream* traffic a client generated
//! (e.g. "the cache turned 100 reads into 1 request"), so only `/api/v3/...`
//! requests are counted — never the `/__sim/` control calls themselves.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// The API routes that have their own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRoute {
    /// `/api/v3/global`
    Global,
    /// `/api/v3/coins/list`
    CoinsList,
    /// `/api/v3/coins/markets`
    Markets,
    /// `/api/v3/simple/price`
    SimplePrice,
    /// `/api/v3/coins/{id}/market_chart`
    MarketChart,
    /// Any other `/api/v3/...` path (counted in the total only).
    Other,
}

/// Lock-free counters shared by all connections.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    global: AtomicU64,
    coins_list: AtomicU64,
    markets: AtomicU64,
    simple_price: AtomicU64,
    market_chart: AtomicU64,
    faults_injected: AtomicU64,
}

/// Serialised form of [`Stats`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Total `/api/v3/...` requests, including ones answered with a fault.
    pub requests: u64,
    /// Per-route request counts.
    pub by_route: RouteCounts,
    /// Requests answered with an injected fault (latency alone does not count).
    pub faults_injected: u64,
}

/// Per-route part of [`StatsSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteCounts {
    /// `/api/v3/global`
    pub global: u64,
    /// `/api/v3/coins/list`
    pub coins_list: u64,
    /// `/api/v3/coins/markets`
    pub markets: u64,
    /// `/api/v3/simple/price`
    pub simple_price: u64,
    /// `/api/v3/coins/{id}/market_chart`
    pub market_chart: u64,
}

impl Stats {
    /// Counts one API request.
    pub fn record(&self, route: ApiRoute) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let counter = match route {
            ApiRoute::Global => &self.global,
            ApiRoute::CoinsList => &self.coins_list,
            ApiRoute::Markets => &self.markets,
            ApiRoute::SimplePrice => &self.simple_price,
            ApiRoute::MarketChart => &self.market_chart,
            ApiRoute::Other => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one injected fault.
    pub fn record_fault(&self) {
        self.faults_injected.fetch_add(1, Ordering::Relaxed);
    }

    /// Zeroes every counter.
    pub fn reset(&self) {
        for counter in [
            &self.requests,
            &self.global,
            &self.coins_list,
            &self.markets,
            &self.simple_price,
            &self.market_chart,
            &self.faults_injected,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// A point-in-time copy of the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: get(&self.requests),
            by_route: RouteCounts {
                global: get(&self.global),
                coins_list: get(&self.coins_list),
                markets: get(&self.markets),
                simple_price: get(&self.simple_price),
                market_chart: get(&self.market_chart),
            },
            faults_injected: get(&self.faults_injected),
        }
    }
}

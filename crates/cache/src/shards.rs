//! One circuit breaker per failure domain of the Redis tier.
//!
//! A single server is one domain. A Redis Cluster has one per primary: when
//! a primary is lost, only the keys in its slots should skip L2 (and fall
//! back to L1 and recomputation); keys on the surviving primaries keep
//! their shared cache. Work that is not tied to one key (publishing, the
//! keyspace listing) uses the deployment-wide breaker.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use strata_backplane::NodeAddr;
use strata_breaker::{BreakerState, CircuitBreaker};

/// Consecutive failures that open a breaker.
const THRESHOLD: u32 = 3;
/// How long an open breaker skips Redis before one probe.
const COOL_DOWN: Duration = Duration::from_secs(2);

/// See the module documentation.
pub(crate) struct ShardBreakers {
    shared: Arc<CircuitBreaker>,
    per_node: RwLock<HashMap<NodeAddr, Arc<CircuitBreaker>>>,
}

impl Default for ShardBreakers {
    fn default() -> Self {
        Self {
            shared: Arc::new(CircuitBreaker::new(THRESHOLD, COOL_DOWN)),
            per_node: RwLock::default(),
        }
    }
}

impl ShardBreakers {
    /// The breaker of `node`, or the deployment-wide one when the node is
    /// unknown (a single server, or a slot map not read yet).
    pub(crate) fn for_node(&self, node: Option<&NodeAddr>) -> Arc<CircuitBreaker> {
        let Some(node) = node else {
            return self.shared.clone();
        };
        if let Some(breaker) = self
            .per_node
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(node)
        {
            return breaker.clone();
        }
        self.per_node
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(node.clone())
            .or_insert_with(|| Arc::new(CircuitBreaker::new(THRESHOLD, COOL_DOWN)))
            .clone()
    }

    /// The worst state of any breaker: one lost primary makes L2 as a whole
    /// not fully healthy.
    pub(crate) fn worst_state(&self) -> BreakerState {
        let per_node = self.per_node.read().unwrap_or_else(|e| e.into_inner());
        std::iter::once(&self.shared)
            .chain(per_node.values())
            .map(|breaker| breaker.state())
            .max_by_key(|state| match state {
                BreakerState::Closed => 0,
                BreakerState::HalfOpen => 1,
                BreakerState::Open => 2,
            })
            .unwrap_or(BreakerState::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(port: u16) -> NodeAddr {
        NodeAddr {
            host: "127.0.0.1".into(),
            port,
        }
    }

    fn trip(breaker: &CircuitBreaker) {
        for _ in 0..THRESHOLD {
            breaker.record_failure();
        }
    }

    #[test]
    fn a_lost_primary_opens_only_its_own_breaker() {
        let breakers = ShardBreakers::default();
        trip(&breakers.for_node(Some(&node(7000))));
        assert!(!breakers.for_node(Some(&node(7000))).allow());
        assert!(breakers.for_node(Some(&node(7001))).allow());
        assert!(breakers.for_node(None).allow());
    }

    #[test]
    fn the_reported_state_is_the_worst_one() {
        let breakers = ShardBreakers::default();
        assert_eq!(breakers.worst_state(), BreakerState::Closed);
        trip(&breakers.for_node(Some(&node(7002))));
        assert_eq!(breakers.worst_state(), BreakerState::Open);
    }
}

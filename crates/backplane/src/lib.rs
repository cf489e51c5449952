//! The Redis backplane every host instance shares: the L2 cache's
//! commands, the invalidation and dashboard channels, and the refresh lock.
//!
//! The operator picks the deployment: one server (`REDIS_URL`) or a Redis
//! Cluster (`REDIS_CLUSTER_URLS`, a comma-separated list of nodes). Callers
//! see one [`Conn`] either way; what differs is hidden here:
//!
//! - Keyspace walks: SCAN covers one node, so a cluster clear visits every
//!   primary ([`Backplane::keyspace_nodes`]).
//! - Pub/sub: classic PUBLISH reaches subscribers on every node of a
//!   cluster, but its reply counts only the receiving node's subscribers, so
//!   [`Backplane::publish`] adds up `PUBSUB NUMSUB` over all members.
//! - Subscriptions hold one connection to one node. [`Backplane::subscribe`]
//!   rotates through the known nodes, so a subscriber whose node dies moves
//!   to a live one (and the caller learns that it may have missed messages).
//! - Failure domains: [`Backplane::owner_of`] names the primary that serves
//!   a key, from a slot map refreshed in the background, so the cache can
//!   trip a breaker for one lost primary without giving up on the others.
//!
//! Nothing here connects eagerly: a host starts while Redis is down and
//! picks it up when it arrives.
//!
//! Every key and channel of an installation lives under its [`Namespace`],
//! so several installations (or other applications) can share a Redis, and
//! cache keys, which components choose, can never collide with the host's
//! own keys (the refresh lock).
//!
//! This file holds the [`Backplane`] itself; building it lives in `connect`
//! (from the `topology` and `namespace` settings), cluster knowledge in
//! `membership`, `slot_map` and `nodes`, commands go through `conn`, and
//! messages through `pubsub`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod conn;
mod connect;
mod membership;
mod namespace;
mod nodes;
mod pubsub;
mod slot_map;
mod topology;

use std::sync::atomic::{AtomicBool, AtomicUsize};

use arc_swap::ArcSwap;
use redis::ConnectionInfo;
use thiserror::Error;

pub use conn::Conn;
pub use connect::Timeouts;
pub use namespace::Namespace;
pub use nodes::NodeAddr;
use nodes::{Member, SLOTS, hash_slot, parse_cluster_nodes};
use slot_map::SlotMap;
pub use topology::Topology;

/// Why the Redis settings cannot be used.
#[derive(Debug, Error)]
pub enum BackplaneError {
    /// Both `REDIS_URL` and `REDIS_CLUSTER_URLS` are set; which one is meant
    /// is not guessed.
    #[error("set REDIS_URL or REDIS_CLUSTER_URLS, not both")]
    BothConfigured,
    /// `REDIS_CLUSTER_URLS` is set but holds only commas and blanks.
    #[error("REDIS_CLUSTER_URLS lists no node")]
    NoClusterNodes,
    /// A configured URL does not parse as a Redis URL, or the client refuses it.
    #[error("{url:?} is not a valid Redis URL: {reason}")]
    BadUrl {
        /// The URL (or the cluster list), credentials redacted.
        url: String,
        /// The parser's or client's complaint, redacted the same way.
        reason: String,
    },
    /// `STRATA_REDIS_NAMESPACE` is empty, over 64 characters, or holds one
    /// that is not an ASCII letter, digit, `_`, `-` or `.`.
    #[error(
        "Redis namespace {0:?} must be 1 to 64 letters, digits, '_', '-' or '.' (STRATA_REDIS_NAMESPACE)"
    )]
    BadNamespace(String),
}

/// See the module documentation.
pub struct Backplane {
    topology: Topology,
    namespace: Namespace,
    conn: Conn,
    /// Connection settings of the first seed; pub/sub connections to other
    /// nodes reuse its credentials with another address.
    template: ConnectionInfo,
    /// Nodes a subscriber may attach to: the seeds, then every member seen
    /// in `CLUSTER NODES` since.
    candidates: ArcSwap<Vec<NodeAddr>>,
    next_candidate: AtomicUsize,
    timeouts: Timeouts,
    /// Which primary serves each slot (cluster only).
    slot_map: ArcSwap<SlotMap>,
    refreshing: AtomicBool,
}

impl Backplane {
    /// A handle for ordinary commands, routed by key in a cluster.
    pub fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// The deployment this backplane was built for, as configured.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// This installation's key and channel names.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }
}

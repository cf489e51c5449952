//! Building the backplane's connections without connecting yet.
//!
//! A host must start while Redis is down and pick it up when it arrives, so
//! the command connection is created lazily, with short connect and
//! response timeouts and few retries: a dead Redis (or a dead primary of a
//! cluster) should make a request fall back to L1 and recomputation
//! quickly, not hang it. The seeds also become the first nodes a
//! subscriber may attach to.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::{ConnectionAddr, ConnectionInfo};

use crate::topology::parse_url;
use crate::{Backplane, BackplaneError, Conn, Namespace, NodeAddr, SlotMap, Topology};

/// How long connecting and answering may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Longest wait for a new connection to Redis.
    pub connect: Duration,
    /// Longest wait for the answer to one command.
    pub response: Duration,
}

impl Backplane {
    /// Prepares the (lazy) connection; fails only on malformed settings.
    /// Must run inside the tokio runtime: a cluster connection starts its
    /// driver task here.
    pub fn new(
        topology: Topology,
        timeouts: Timeouts,
        namespace: Namespace,
    ) -> Result<Arc<Self>, BackplaneError> {
        let seeds: Vec<ConnectionInfo> = match &topology {
            Topology::Standalone(url) => vec![parse_url(url)?],
            Topology::Cluster(urls) => urls
                .iter()
                .map(|url| parse_url(url))
                .collect::<Result<_, _>>()?,
        };
        let template = seeds
            .first()
            .cloned()
            .ok_or(BackplaneError::NoClusterNodes)?;
        let bad = |e: redis::RedisError| BackplaneError::BadUrl {
            url: strata_logtext::redact(&match &topology {
                Topology::Standalone(url) => url.clone(),
                Topology::Cluster(urls) => urls.join(","),
            }),
            reason: strata_logtext::redact(&e.to_string()),
        };
        let conn = match &topology {
            Topology::Standalone(_) => {
                let client = redis::Client::open(template.clone()).map_err(bad)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeouts.connect))
                    .set_response_timeout(Some(timeouts.response))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                Conn::Standalone(
                    ConnectionManager::new_lazy_with_config(client, config).map_err(bad)?,
                )
            }
            Topology::Cluster(_) => {
                let client = ClusterClientBuilder::new(seeds.clone())
                    .connection_timeout(timeouts.connect)
                    .response_timeout(timeouts.response)
                    // A dead primary's slots should fail fast so the request
                    // falls back to L1 and compute; the cache's own timeout
                    // bounds the total anyway.
                    .retries(2)
                    .min_retry_wait(5)
                    .max_retry_wait(50)
                    .build()
                    .map_err(bad)?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(timeouts.connect)
                    .set_response_timeout(timeouts.response);
                Conn::Cluster(client.get_pending_async_connection_with_config(config))
            }
        };
        let candidates = seeds
            .iter()
            .filter_map(|info| node_addr(info.addr()))
            .collect();
        Ok(Arc::new(Self {
            topology,
            namespace,
            conn,
            template,
            candidates: ArcSwap::from_pointee(candidates),
            next_candidate: AtomicUsize::new(0),
            timeouts,
            slot_map: ArcSwap::from_pointee(SlotMap::default()),
            refreshing: AtomicBool::new(false),
        }))
    }
}

/// The client address of a TCP connection target; other kinds (Unix
/// sockets, TLS, which this build does not enable) have none to rotate to.
fn node_addr(addr: &ConnectionAddr) -> Option<NodeAddr> {
    match addr {
        ConnectionAddr::Tcp(host, port) => Some(NodeAddr {
            host: host.clone(),
            port: *port,
        }),
        _ => None,
    }
}

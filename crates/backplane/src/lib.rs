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

#![forbid(unsafe_code)]

mod conn;
mod nodes;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisResult};
use thiserror::Error;

pub use conn::Conn;
pub use nodes::{Member, NodeAddr, SLOTS, hash_slot, parse_cluster_nodes};

/// How old the slot map may get before a lookup refreshes it.
const SLOT_MAP_MAX_AGE: Duration = Duration::from_secs(5);

/// Why the Redis settings cannot be used.
#[derive(Debug, Error)]
pub enum BackplaneError {
    #[error("set REDIS_URL or REDIS_CLUSTER_URLS, not both")]
    BothConfigured,
    #[error("REDIS_CLUSTER_URLS lists no node")]
    NoClusterNodes,
    #[error("{url:?} is not a valid Redis URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(
        "Redis namespace {0:?} must be 1 to 64 letters, digits, '_', '-' or '.' (STRATA_REDIS_NAMESPACE)"
    )]
    BadNamespace(String),
}

/// The prefix of every Redis key and channel of one installation:
/// `NS:cache:KEY` for cache values, `NS:host:NAME` for the host's own keys
/// and `NS:NAME` for channels. Its characters are never glob or hash-tag
/// syntax, so a pattern built on it matches only inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace(Arc<str>);

impl Namespace {
    pub fn new(name: &str) -> Result<Self, BackplaneError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if valid {
            Ok(Self(name.into()))
        } else {
            Err(BackplaneError::BadNamespace(name.to_string()))
        }
    }

    /// The Redis key of cache key `key`.
    pub fn cache_key(&self, key: &str) -> String {
        format!("{}:cache:{key}", self.0)
    }

    /// The Redis pattern of cache pattern `pattern` (already validated to
    /// hold only key characters, `*` and `?`).
    pub fn cache_pattern(&self, pattern: &str) -> String {
        self.cache_key(pattern)
    }

    /// A key the host itself uses (locks), out of every component's reach.
    pub fn host_key(&self, name: &str) -> String {
        format!("{}:host:{name}", self.0)
    }

    /// A pub/sub channel of this installation.
    pub fn channel(&self, name: &str) -> String {
        format!("{}:{name}", self.0)
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self("strata".into())
    }
}

/// The Redis deployment the operator configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    Standalone(String),
    /// Seed nodes; the rest of the cluster is discovered from them.
    Cluster(Vec<String>),
}

impl Topology {
    /// Reads `REDIS_URL` and `REDIS_CLUSTER_URLS` (either may be unset or
    /// empty); `None` means no Redis at all.
    pub fn from_settings(
        url: Option<&str>,
        cluster_urls: Option<&str>,
    ) -> Result<Option<Self>, BackplaneError> {
        let url = url.map(str::trim).filter(|url| !url.is_empty());
        let cluster_urls = cluster_urls.map(str::trim).filter(|urls| !urls.is_empty());
        match (url, cluster_urls) {
            (Some(_), Some(_)) => Err(BackplaneError::BothConfigured),
            (None, None) => Ok(None),
            (Some(url), None) => {
                parse_url(url)?;
                Ok(Some(Topology::Standalone(url.to_string())))
            }
            (None, Some(list)) => {
                let seeds: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|url| !url.is_empty())
                    .map(str::to_string)
                    .collect();
                if seeds.is_empty() {
                    return Err(BackplaneError::NoClusterNodes);
                }
                for seed in &seeds {
                    parse_url(seed)?;
                }
                Ok(Some(Topology::Cluster(seeds)))
            }
        }
    }

    /// "standalone" or "cluster", for health and stats.
    pub fn mode(&self) -> &'static str {
        match self {
            Topology::Standalone(_) => "standalone",
            Topology::Cluster(_) => "cluster",
        }
    }
}

fn parse_url(url: &str) -> Result<ConnectionInfo, BackplaneError> {
    url.into_connection_info()
        .map_err(|e| BackplaneError::BadUrl {
            url: strata_logtext::redact(url),
            reason: strata_logtext::redact(&e.to_string()),
        })
}

/// How long connecting and answering may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub response: Duration,
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

/// Slot ownership as last read from the cluster.
#[derive(Default)]
struct SlotMap {
    /// Index into `primaries` for every slot; `u16::MAX` when unassigned.
    owners: Vec<u16>,
    primaries: Vec<NodeAddr>,
    read_at: Option<Instant>,
}

impl SlotMap {
    fn from_members(members: &[Member]) -> Self {
        let mut owners = vec![u16::MAX; SLOTS];
        let mut primaries = Vec::new();
        for member in members.iter().filter(|m| m.primary && !m.slots.is_empty()) {
            let Ok(index) = u16::try_from(primaries.len()) else {
                break;
            };
            primaries.push(member.addr.clone());
            for range in &member.slots {
                for slot in range.clone() {
                    owners[usize::from(slot)] = index;
                }
            }
        }
        Self {
            owners,
            primaries,
            read_at: Some(Instant::now()),
        }
    }

    fn owner(&self, slot: u16) -> Option<&NodeAddr> {
        let index = *self.owners.get(usize::from(slot))?;
        self.primaries.get(usize::from(index))
    }

    fn is_stale(&self) -> bool {
        self.read_at
            .is_none_or(|read_at| read_at.elapsed() > SLOT_MAP_MAX_AGE)
    }
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

    /// A handle for ordinary commands, routed by key in a cluster.
    pub fn conn(&self) -> Conn {
        self.conn.clone()
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// This installation's key and channel names.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The members (up or flagged failed), from the first node that answers
    /// `CLUSTER NODES`. Every member becomes a candidate for later
    /// subscriptions, and the slot map is renewed on the way.
    async fn members(&self) -> RedisResult<Vec<Member>> {
        let mut last_error = None;
        let mut conn = self.conn();
        for node in self.candidates.load().iter() {
            let mut command = redis::cmd("CLUSTER");
            command.arg("NODES");
            match conn.query_on::<String>(node, command).await {
                Ok(reply) => {
                    let members = parse_cluster_nodes(&reply);
                    self.remember(&members);
                    self.slot_map
                        .store(Arc::new(SlotMap::from_members(&members)));
                    return Ok(members);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Io, "no Redis Cluster node is known"))
        }))
    }

    fn remember(&self, members: &[Member]) {
        let known = self.candidates.load();
        let new: Vec<NodeAddr> = members
            .iter()
            .map(|m| m.addr.clone())
            .filter(|addr| !known.contains(addr))
            .collect();
        if !new.is_empty() {
            let mut all = known.as_ref().clone();
            all.extend(new);
            self.candidates.store(Arc::new(all));
        }
    }

    /// The nodes a keyspace walk must visit: the server, or every primary
    /// that owns slots, including one the cluster has flagged failed (its
    /// keys are out of reach, and the caller should say so).
    pub async fn keyspace_nodes(&self) -> RedisResult<Vec<NodeAddr>> {
        match &self.topology {
            Topology::Standalone(_) => Ok(vec![server_label(self.template.addr())]),
            Topology::Cluster(_) => Ok(self
                .members()
                .await?
                .into_iter()
                .filter(|m| m.primary && !m.slots.is_empty())
                .map(|m| m.addr)
                .collect()),
        }
    }

    /// The primary that serves `key`, when the deployment is a cluster and
    /// the slot map knows. A stale map is refreshed in the background, so
    /// this never waits for Redis.
    pub fn owner_of(self: &Arc<Self>, key: &str) -> Option<NodeAddr> {
        if matches!(self.topology, Topology::Standalone(_)) {
            return None;
        }
        let map = self.slot_map.load();
        if map.is_stale()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
            && !self.refreshing.swap(true, Ordering::AcqRel)
        {
            let backplane = self.clone();
            runtime.spawn(async move {
                if let Err(e) = backplane.members().await {
                    tracing::debug!(error = %e, "cannot refresh the cluster slot map");
                    // Keep the old map for another period rather than
                    // retrying on every lookup while the cluster is away.
                    let old = backplane.slot_map.load();
                    backplane.slot_map.store(Arc::new(SlotMap {
                        owners: old.owners.clone(),
                        primaries: old.primaries.clone(),
                        read_at: Some(Instant::now()),
                    }));
                }
                backplane.refreshing.store(false, Ordering::Release);
            });
        }
        map.owner(hash_slot(key.as_bytes())).cloned()
    }

    /// Publishes `payload` and returns how many subscribers exist across
    /// the whole deployment (in a cluster, the sum of every reachable
    /// node's `PUBSUB NUMSUB`, since PUBLISH counts only its own node).
    pub async fn publish(&self, channel: &str, payload: &str) -> RedisResult<u64> {
        let local: u64 = self.notify_counted(channel, payload).await?;
        if matches!(self.topology, Topology::Standalone(_)) {
            return Ok(local);
        }
        let Ok(members) = self.members().await else {
            return Ok(local);
        };
        let up = members.iter().filter(|member| member.up);
        let counts = futures::future::join_all(up.map(|member| async move {
            let mut command = redis::cmd("PUBSUB");
            command.arg("NUMSUB").arg(channel);
            let reply: RedisResult<(String, u64)> =
                self.conn().query_on(&member.addr, command).await;
            reply.map(|(_, count)| count).unwrap_or(0)
        }))
        .await;
        Ok(counts.into_iter().sum())
    }

    /// Publishes `payload` when nobody needs to know who received it (an
    /// acknowledgement, say).
    pub async fn notify(&self, channel: &str, payload: &str) -> RedisResult<()> {
        self.notify_counted(channel, payload).await.map(|_| ())
    }

    /// PUBLISH through the normal route; in a cluster, when the node that
    /// owns the channel's slot is down, through any other member (the
    /// cluster bus forwards classic pub/sub everywhere).
    async fn notify_counted(&self, channel: &str, payload: &str) -> RedisResult<u64> {
        let publish = || {
            let mut command = redis::cmd("PUBLISH");
            command.arg(channel).arg(payload);
            command
        };
        let first = publish().query_async(&mut self.conn()).await;
        match (&self.topology, first) {
            (_, Ok(count)) => Ok(count),
            (Topology::Standalone(_), Err(e)) => Err(e),
            (Topology::Cluster(_), Err(e)) => {
                let mut last_error = e;
                for member in self.members().await?.into_iter().filter(|m| m.up) {
                    match self.conn().query_on(&member.addr, publish()).await {
                        Ok(count) => return Ok(count),
                        Err(e) => last_error = e,
                    }
                }
                Err(last_error)
            }
        }
    }

    /// A dedicated pub/sub connection subscribed to `channels`, on the next
    /// node that accepts one. Messages published anywhere in the
    /// deployment arrive on it.
    pub async fn subscribe(&self, channels: &[&str]) -> RedisResult<PubSub> {
        if matches!(self.topology, Topology::Standalone(_)) {
            return self.subscribe_on(self.template.clone(), channels).await;
        }
        // Learn about nodes added since start; a failure here just leaves
        // the known list as it is.
        let _ = self.members().await;
        let candidates = self.candidates.load_full();
        let start = self.next_candidate.fetch_add(1, Ordering::Relaxed);
        let mut last_error = None;
        for offset in 0..candidates.len() {
            let node = &candidates[(start + offset) % candidates.len()];
            let info = self
                .template
                .clone()
                .set_addr(ConnectionAddr::Tcp(node.host.clone(), node.port));
            match self.subscribe_on(info, channels).await {
                Ok(pubsub) => {
                    tracing::debug!(%node, ?channels, "subscribed");
                    return Ok(pubsub);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Io, "no Redis node to subscribe on"))
        }))
    }

    async fn subscribe_on(&self, info: ConnectionInfo, channels: &[&str]) -> RedisResult<PubSub> {
        let client = redis::Client::open(info)?;
        let attempt = async {
            let mut pubsub = client.get_async_pubsub().await?;
            for channel in channels {
                pubsub.subscribe(*channel).await?;
            }
            Ok(pubsub)
        };
        tokio::time::timeout(self.timeouts.connect, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "subscribing timed out",
                )))
            })
    }
}

/// How a single server is named in results (a clear that could not reach
/// it, say); the command connection does the actual addressing.
fn server_label(addr: &ConnectionAddr) -> NodeAddr {
    match addr {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => NodeAddr {
            host: host.clone(),
            port: *port,
        },
        ConnectionAddr::Unix(path) => NodeAddr {
            host: path.display().to_string(),
            port: 0,
        },
        _ => NodeAddr {
            host: "redis".into(),
            port: 0,
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_settings_means_no_redis() {
        assert_eq!(Topology::from_settings(None, Some(" ")).ok(), Some(None));
    }

    #[test]
    fn a_single_url_is_standalone() {
        let topology = Topology::from_settings(Some("redis://127.0.0.1:6379/"), None);
        assert_eq!(
            topology.ok().flatten(),
            Some(Topology::Standalone("redis://127.0.0.1:6379/".into()))
        );
    }

    #[test]
    fn cluster_urls_are_split_on_commas() {
        let topology = Topology::from_settings(
            None,
            Some("redis://127.0.0.1:7000, redis://127.0.0.1:7001,"),
        );
        assert_eq!(
            topology.ok().flatten(),
            Some(Topology::Cluster(vec![
                "redis://127.0.0.1:7000".into(),
                "redis://127.0.0.1:7001".into()
            ]))
        );
    }

    #[test]
    fn both_settings_at_once_are_refused() {
        let refused = Topology::from_settings(Some("redis://a"), Some("redis://b"));
        assert!(matches!(refused, Err(BackplaneError::BothConfigured)));
    }

    #[test]
    fn a_bad_cluster_url_is_named() {
        let refused = Topology::from_settings(None, Some("redis://127.0.0.1:7000,http://x"));
        match refused {
            Err(BackplaneError::BadUrl { url, .. }) => assert_eq!(url, "http://x"),
            other => panic!("expected a bad URL error, got {other:?}"),
        }
    }

    #[test]
    fn a_list_of_only_commas_names_no_node() {
        let refused = Topology::from_settings(None, Some(",,"));
        assert!(matches!(refused, Err(BackplaneError::NoClusterNodes)));
    }
}

#[cfg(test)]
mod namespace_tests {
    use super::{BackplaneError, Namespace};

    #[test]
    fn cache_keys_host_keys_and_channels_never_overlap() {
        let ns = Namespace::new("shop").expect("valid");
        assert_eq!(ns.cache_key("market:btc"), "shop:cache:market:btc");
        assert_eq!(ns.host_key("lock:x"), "shop:host:lock:x");
        assert_eq!(ns.channel("cache:invalidate"), "shop:cache:invalidate");
        // A component key that spells the host's key stays a cache key.
        assert_ne!(ns.cache_key("host:lock:x"), ns.host_key("lock:x"));
        assert!(ns.cache_pattern("*").starts_with("shop:cache:"));
    }

    #[test]
    fn glob_and_hash_tag_characters_are_refused() {
        for bad in [
            "",
            "a*",
            "a?",
            "a[b]",
            "{tag}",
            "a b",
            "a:b",
            &"x".repeat(65),
        ] {
            assert!(
                matches!(Namespace::new(bad), Err(BackplaneError::BadNamespace(_))),
                "{bad:?}"
            );
        }
    }
}

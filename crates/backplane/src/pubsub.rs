//! Publishing and subscribing across the whole deployment.
//!
//! Cache coherence and the live dashboard feed rely on every instance
//! hearing every message. In a cluster, classic PUBLISH is forwarded to
//! every node, but its reply counts only one node's subscribers and it
//! fails when the channel's own node is down; a subscription holds one
//! connection to one node. So publishing adds up the subscriber counts of
//! all members and falls back to another member, and subscribing rotates
//! through the known nodes so a subscriber whose node died lands on a live
//! one.

use std::sync::atomic::Ordering;

use redis::aio::PubSub;
use redis::{ConnectionAddr, ConnectionInfo, RedisResult};

use crate::{Backplane, Topology};

impl Backplane {
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

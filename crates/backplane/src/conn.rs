//! One command connection type for both Redis deployments.
//!
//! The cache and the live feed issue ordinary commands and pipelines; they
//! should not care whether a single server or a cluster answers. Both
//! redis-rs connection types implement [`ConnectionLike`], so this enum
//! forwards to whichever is configured and adds one thing only a cluster
//! needs: sending a command to one named node (SCAN and PUBSUB NUMSUB are
//! per-node in a cluster).

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};

use super::nodes::NodeAddr;

/// A cheap-to-clone handle on the shared connection.
#[derive(Clone)]
pub enum Conn {
    /// A single server through a reconnecting multiplexed connection.
    Standalone(ConnectionManager),
    /// A Redis Cluster; commands are routed by key slot.
    Cluster(ClusterConnection),
}

impl Conn {
    /// Runs `cmd` on `node` in a cluster. A standalone server is the only
    /// node there is, so the address is ignored.
    pub async fn query_on<T: FromRedisValue>(
        &mut self,
        node: &NodeAddr,
        cmd: Cmd,
    ) -> RedisResult<T> {
        match self {
            Conn::Standalone(conn) => cmd.query_async(conn).await,
            Conn::Cluster(conn) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: node.host.clone(),
                    port: node.port,
                });
                let value = conn.route_command(cmd, routing).await?;
                T::from_redis_value(value).map_err(Into::into)
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Standalone(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Standalone(conn) => conn.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Standalone(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

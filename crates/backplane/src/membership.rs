//! Who is in the deployment: the cluster's members, read on demand.
//!
//! A cluster grows and fails over while the host runs. Keyspace walks must
//! visit every primary, publishing needs the live members, and subscribers
//! need somewhere to move when their node dies; all of that comes from
//! `CLUSTER NODES`, asked of any node that answers. Each reading also
//! renews the slot map and adds newly seen nodes to the subscription
//! candidates.

use std::sync::Arc;

use redis::{ConnectionAddr, RedisResult};

use crate::{Backplane, Member, NodeAddr, SlotMap, Topology, parse_cluster_nodes};

impl Backplane {
    /// The members (up or flagged failed), from the first node that answers
    /// `CLUSTER NODES`. Every member becomes a candidate for later
    /// subscriptions, and the slot map is renewed on the way.
    pub(crate) async fn members(&self) -> RedisResult<Vec<Member>> {
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

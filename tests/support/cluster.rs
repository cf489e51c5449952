//! A private Redis Cluster for scale-out tests: three primaries without
//! replicas, each a `redis-server` on its own loopback port, joined with
//! `redis-cli --cluster create`. Losing a primary loses its slots (there is
//! no replica to promote), which is exactly the failure the host must ride
//! out with L1 and recomputation.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Redis;

const PRIMARIES: usize = 3;

/// A port whose cluster bus port (`port + 10000`) is free as well.
fn free_cluster_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().expect("address").port();
        if port <= 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// See the module documentation.
pub struct RedisCluster {
    /// `None` once a test has killed that node.
    pub nodes: Vec<Option<Redis>>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<Redis> = (0..PRIMARIES)
            .map(|_| {
                Redis::start_with(
                    free_cluster_port(),
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                        // Keep serving the surviving primaries' slots when
                        // one is lost: that is what a cache cluster wants.
                        "--cluster-require-full-coverage",
                        "no",
                    ],
                )
            })
            .collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli is installed (apt-get install redis-tools)");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Self {
            nodes: nodes.into_iter().map(Some).collect(),
        };
        cluster.wait_converged();
        cluster
    }

    /// Every node sees a healthy cluster of all primaries.
    fn wait_converged(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let converged = self.live().all(|node| {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut node.connection())
                    .unwrap_or_default();
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{PRIMARIES}"))
                    && info.contains("cluster_slots_ok:16384")
            });
            if converged {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Redis Cluster did not converge"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn live(&self) -> impl Iterator<Item = &Redis> {
        self.nodes.iter().flatten()
    }

    /// The `REDIS_CLUSTER_URLS` value naming every node.
    pub fn urls(&self) -> String {
        self.live().map(Redis::url).collect::<Vec<_>>().join(",")
    }

    /// The index of the live node whose slots hold cache key `key`: the
    /// only one that answers a read of it instead of redirecting.
    pub fn owner_of(&self, key: &str) -> Option<usize> {
        let key = super::l2_key(key);
        self.nodes.iter().position(|node| {
            node.as_ref().is_some_and(|node| {
                redis::cmd("EXISTS")
                    .arg(&key)
                    .query::<i64>(&mut node.connection())
                    .is_ok()
            })
        })
    }

    /// Cache keys matching `pattern` stored on every live node (KEYS is
    /// fine in a test).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let prefix = super::l2_key("");
        let mut keys: Vec<String> = self
            .live()
            .flat_map(|node| {
                redis::cmd("KEYS")
                    .arg(super::l2_key(pattern))
                    .query::<Vec<String>>(&mut node.connection())
                    .expect("KEYS")
            })
            .map(|key| {
                key.strip_prefix(&prefix)
                    .map_or(key.clone(), str::to_string)
            })
            .collect();
        keys.sort();
        keys
    }

    /// Kills node `index` the way a crash would.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index] = None;
    }
}

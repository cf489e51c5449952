//! Private Redis servers: one `redis-server` per test (or benchmark run) on
//! its own loopback port and folder, so nothing shares keys and a test may
//! stop one at will; and a three-primary Redis Cluster made of them.
//!
//! The cluster has no replicas: losing a primary loses its slots (there is
//! no replica to promote), which is exactly the failure a host must ride
//! out with L1 and recomputation.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::{free_port, l2_key};

/// How long `redis-server` may take to answer `PING`.
const STARTUP: Duration = Duration::from_secs(60);

/// A private, non-persistent Redis server, killed on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Starts a server on a free port.
    pub fn start() -> Result<Self> {
        Self::start_on(free_port())
    }

    /// Starts a server on a given port (to bring a "crashed" one back).
    pub fn start_on(port: u16) -> Result<Self> {
        Self::start_with(port, &[])
    }

    /// Starts a server on `port` with extra `redis-server` options.
    pub fn start_with(port: u16, options: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir().context("a folder for redis-server")?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(options)
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (is it installed? scripts/setup.sh installs it)")?;
        let redis = Self {
            child,
            port,
            _dir: dir,
        };
        redis.wait_ready()?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut conn) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("redis-server on port {} did not come up", self.port)
    }

    /// A synchronous connection, for inspecting what a host stored.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect to the private redis")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// Three primaries without replicas, each a [`Redis`] on its own port,
/// joined with `redis-cli --cluster create`.
pub struct RedisCluster {
    /// `None` once a test has killed that node.
    pub nodes: Vec<Option<Redis>>,
}

impl RedisCluster {
    pub fn start() -> Result<Self> {
        let nodes = (0..PRIMARIES)
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
            .collect::<Result<Vec<Redis>>>()?;
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .context("running redis-cli (is redis-tools installed?)")?;
        ensure!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Self {
            nodes: nodes.into_iter().map(Some).collect(),
        };
        cluster.wait_converged()?;
        Ok(cluster)
    }

    /// Every node sees a healthy cluster of all primaries.
    fn wait_converged(&self) -> Result<()> {
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
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "the Redis Cluster did not converge"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn live(&self) -> impl Iterator<Item = &Redis> {
        self.nodes.iter().flatten()
    }

    /// The `REDIS_CLUSTER_URLS` value naming every live node.
    pub fn urls(&self) -> String {
        self.live().map(Redis::url).collect::<Vec<_>>().join(",")
    }

    /// The index of the live node whose slots hold cache key `key`: the
    /// only one that answers a read of it instead of redirecting.
    pub fn owner_of(&self, key: &str) -> Option<usize> {
        let key = l2_key(key);
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
        let prefix = l2_key("");
        let mut keys: Vec<String> = self
            .live()
            .flat_map(|node| {
                redis::cmd("KEYS")
                    .arg(l2_key(pattern))
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

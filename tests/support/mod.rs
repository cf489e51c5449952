//! Test harness: real servers on loopback for end-to-end tests.
//!
//! - [`Redis`]: a private `redis-server` on a free port, killed on drop, so
//!   tests never share keys and may stop it at will; [`RedisCluster`]: three
//!   of them joined into a Redis Cluster.
//! - [`PgDatabase`]: a fresh database on the machine's Postgres (dropped
//!   afterwards), so every test sees exactly the migrated seed data.
//! - [`Simulator`]: the market simulator, in-process on a free port.
//! - [`Host`]: the real `strata` binary, started with a given backend.

#![allow(dead_code)]

mod cluster;
pub mod echo;
pub mod ws;

pub use cluster::RedisCluster;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a server may take to come up before the test fails.
const STARTUP: Duration = Duration::from_secs(60);

/// The Redis key under which the host stores cache key `key` (the default
/// namespace, `STRATA_REDIS_NAMESPACE=strata`).
pub fn l2_key(key: &str) -> String {
    format!("strata:cache:{key}")
}

/// One HTTP client for the whole test binary (reqwest is built without a
/// default TLS provider, so the host's choice, ring, is installed first).
pub fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .build()
            .expect("HTTP client for tests")
    })
}

/// The test components (`tests/components/build.sh`), built once per test
/// binary: echo-v1/v2, hostile, badinit, wrongworld.
pub fn test_components() -> &'static Path {
    static OUT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    OUT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-components");
        let status = Command::new("bash")
            .arg(root.join("tests/components/build.sh"))
            .arg(&out)
            .status()
            .expect("run tests/components/build.sh");
        assert!(status.success(), "building the test components failed");
        out
    })
}

/// Whether the peer closes `stream` within `within` (whatever it sends
/// first, such as an error response, is read and discarded).
pub async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = vec![0u8; 64 * 1024];
    let until_closed = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, until_closed).await.is_ok()
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A private Redis server.
pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a server on a given port (to bring a "crashed" one back).
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// Starts a server on `port` with extra `redis-server` options.
    pub fn start_with(port: u16, options: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(options)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (apt-get install redis-server)");
        let redis = Self {
            child,
            port,
            _dir: dir,
        };
        redis.wait_ready();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut conn) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not come up", self.port);
    }

    /// A synchronous connection for inspecting L2 directly.
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

/// Postgres server used for database-backed tests (the machine's shared
/// server; each test gets its own database on it).
pub fn postgres_admin_url() -> String {
    std::env::var("STRATA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty Postgres database, dropped at the end of the test.
pub struct PgDatabase {
    pub name: String,
}

/// Runs `sql` on the test server as its administrator.
pub fn psql(sql: &str) {
    let url = postgres_admin_url();
    let output = Command::new("psql")
        .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .expect("psql is installed");
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PgDatabase {
    pub fn create() -> Self {
        let name = format!(
            "strata_e2e_{}_{}",
            std::process::id(),
            DB_COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        psql(&format!("CREATE DATABASE {name}"));
        Self { name }
    }

    pub fn url(&self) -> String {
        let admin = postgres_admin_url();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        format!("{base}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    /// Drops the database, then the login roles a host made for it (roles
    /// are cluster-wide; their grants went with the database).
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
        let roles = strata::data::component_role_names(&self.name);
        psql(&format!(
            "DROP ROLE IF EXISTS \"{}\", \"{}\"",
            roles.read_only, roles.read_write
        ));
    }
}

/// A TCP proxy that a test can cut and restore: "the database goes away"
/// from the host's point of view, without touching the shared server.
pub struct Proxy {
    pub port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("address").port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flag, conns) = (cut.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let handle = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().expect("proxy connections").push(handle);
            }
        });
        Self {
            port,
            cut,
            connections,
            task,
        }
    }

    /// Severs every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for connection in self
            .connections
            .lock()
            .expect("proxy connections")
            .drain(..)
        {
            connection.abort();
        }
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

/// The market simulator, serving in-process.
pub struct Simulator {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind simulator");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = strata_market_sim::SimState::new(strata_market_sim::SimConfig::default());
        let task = tokio::spawn(async move {
            let _ = strata_market_sim::serve(listener, state).await;
        });
        Self { url, task }
    }

    /// Changes the simulator's fault injection (see `PUT /__sim/faults`).
    pub async fn set_faults(&self, faults: Value) {
        let response = http()
            .put(format!("{}/__sim/faults", self.url))
            .json(&faults)
            .send()
            .await
            .expect("set faults");
        assert!(response.status().is_success(), "faults rejected: {faults}");
    }

    /// Upstream API requests the simulator has answered so far.
    pub async fn requests(&self) -> u64 {
        let stats: Value = http()
            .get(format!("{}/__sim/stats", self.url))
            .send()
            .await
            .expect("simulator stats")
            .json()
            .await
            .expect("stats JSON");
        stats["requests"].as_u64().expect("requests counter")
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Which real services a host is started against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Private Redis L2 and a fresh Postgres database.
    RedisPostgres,
    /// A private three-primary Redis Cluster and a fresh Postgres database.
    ClusterPostgres,
    /// No Redis (L1 only) and the embedded SQLite file.
    Bare,
}

/// The services behind one or more hosts.
pub struct Services {
    pub redis: Option<Redis>,
    pub cluster: Option<RedisCluster>,
    pub postgres: Option<PgDatabase>,
    pub simulator: Simulator,
    pub dir: tempfile::TempDir,
}

impl Services {
    pub async fn start(backend: Backend) -> Self {
        let (redis, cluster, postgres) = match backend {
            Backend::RedisPostgres => (Some(Redis::start()), None, Some(PgDatabase::create())),
            Backend::ClusterPostgres => (
                None,
                Some(RedisCluster::start()),
                Some(PgDatabase::create()),
            ),
            Backend::Bare => (None, None, None),
        };
        Self {
            redis,
            cluster,
            postgres,
            simulator: Simulator::start().await,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Starts a host against these services.
    pub fn host(&self) -> Host {
        self.host_with(&[])
    }

    /// Starts a host with extra environment variables.
    pub fn host_with(&self, env: &[(&str, &str)]) -> Host {
        self.host_from(Host::command(), env)
    }

    /// Starts a host through `sh -c WRAPPER` (which ends in `exec "$0"`),
    /// to run it under limits the shell sets.
    pub fn host_wrapped(&self, env: &[(&str, &str)], wrapper: &str) -> Host {
        self.host_from(Host::wrapped(wrapper), env)
    }

    fn host_from(&self, mut command: Command, env: &[(&str, &str)]) -> Host {
        for (name, value) in env {
            command.env(name, value);
        }
        command
            .env("STRATA_UPSTREAM_URL", &self.simulator.url)
            .env("STRATA_SQLITE_PATH", self.dir.path().join("strata.db"));
        if let Some(redis) = &self.redis {
            command.env("REDIS_URL", redis.url());
        }
        if let Some(cluster) = &self.cluster {
            command.env("REDIS_CLUSTER_URLS", cluster.urls());
        }
        if let Some(pg) = &self.postgres {
            command.env("DATABASE_URL", pg.url());
        }
        Host::spawn(command, self.dir.path())
    }
}

static HOST_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Folder shared by all test hosts for compiled components, so only the
/// first start of a run pays for compilation.
fn compile_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}

/// A running `strata` process.
pub struct Host {
    child: Child,
    pub url: String,
    /// The loopback admin listener (absent when an admin token is set).
    pub admin_url: Option<String>,
    pub log: PathBuf,
}

impl Host {
    /// The binary with a clean environment: only what a test sets applies.
    pub fn command() -> Command {
        Self::clean(Command::new(env!("CARGO_BIN_EXE_strata")))
    }

    /// The binary run by `sh -c WRAPPER` (which ends in `exec "$0"`), with
    /// the same clean environment.
    pub fn wrapped(wrapper: &str) -> Command {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(wrapper)
            .arg(env!("CARGO_BIN_EXE_strata"));
        Self::clean(command)
    }

    fn clean(mut command: Command) -> Command {
        for var in [
            "REDIS_URL",
            "REDIS_CLUSTER_URLS",
            "DATABASE_URL",
            "STRATA_MANIFEST",
            "STRATA_UPSTREAM_URL",
        ] {
            command.env_remove(var);
        }
        command
            .env("STRATA_LISTEN", "127.0.0.1:0")
            .env("STRATA_ADMIN_LISTEN", "127.0.0.1:0")
            // No scheduled dashboard refresh unless a test asks for one: it
            // would call upstream behind the back of tests that count calls.
            .env("STRATA_DASHBOARD_REFRESH_SECONDS", "0")
            .env_remove("STRATA_ADMIN_TOKEN")
            .env("STRATA_LOG", "info,strata=debug")
            .env("STRATA_COMPILE_CACHE_DIR", compile_cache_dir());
        command
    }

    /// Spawns `command` and waits for its "listening" line.
    pub fn spawn(mut command: Command, log_dir: &Path) -> Self {
        let log = log_dir.join(format!(
            "host-{}.log",
            HOST_COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let log_file = std::fs::File::create(&log).expect("host log file");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("start strata");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut admin = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("strata admin listening on ") {
                    admin = Some(url.trim().to_string());
                } else if let Some(url) = line.strip_prefix("strata listening on ") {
                    let _ = tx.send((url.trim().to_string(), admin.take()));
                }
            }
        });
        match rx.recv_timeout(STARTUP) {
            Ok((url, admin_url)) => Self {
                child,
                url,
                admin_url,
                log,
            },
            Err(_) => {
                let _ = child.kill();
                let log_text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("strata did not start; its log:\n{log_text}");
            }
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(
            http()
                .get(format!("{}{path}", self.url))
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {path}: {e}")),
        )
        .await
    }

    pub async fn request(&self, method: &str, path: &str) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = http()
            .request(method, format!("{}{path}", self.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        Reply::from(response).await
    }
}

impl Host {
    /// A request to the loopback admin listener.
    pub async fn admin(&self, method: &str, path: &str) -> Reply {
        let admin = self
            .admin_url
            .as_deref()
            .expect("host has an admin listener");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = http()
            .request(method, format!("{admin}{path}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        Reply::from(response).await
    }

    /// `POST` to the loopback admin listener.
    pub async fn admin_post(&self, path: &str) -> Reply {
        self.admin("POST", path).await
    }

    /// The process id, for reading its memory use from /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the process, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Stops the process (as a crash would: no graceful shutdown).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop, as a process manager would (SIGTERM).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// The exit status, if the process ends within `within`.
    pub fn wait_for_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The host's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("response body");
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The cache outcome the component reported (`x-strata-cache`).
    pub fn cache(&self) -> &str {
        self.header("x-strata-cache").unwrap_or("none")
    }
}

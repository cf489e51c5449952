//! The end-to-end tests' harness: what is specific to testing the host.
//! The servers themselves (the `strata` process, Redis, Postgres, the
//! simulator) come from `strata-testkit`, shared with the benchmark; the
//! test components from `test-programs`.
//!
//! - [`Services`]: the backends behind one or more hosts ([`Backend`]).
//! - [`Host`]: the real `strata` binary with a clean environment, started
//!   against them, and [`Reply`], a fully read response.
//! - [`Proxy`]: a TCP proxy a test cuts to make a database "go away".
//! - Test-style wrappers: a failure to start something panics with the
//!   reason, which is how a test fails.

pub mod echo;
pub mod ws;

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

pub use strata_testkit::{PgDatabase, Redis, RedisCluster, free_port, http, l2_key};

/// How long a host may take to come up before the test fails.
const STARTUP: Duration = Duration::from_secs(60);
/// As [`STARTUP`], for a host whose manifest names a large component (an
/// 18 MB Python or 13 MB JavaScript one): its first start compiles it,
/// which has taken over a minute on a loaded 2-core machine.
const LARGE_STARTUP: Duration = Duration::from_secs(300);

/// Held by every test that starts hosts with large components, so they
/// run one at a time: the first compiles each component into the shared
/// compile cache and the others load it from there, instead of all of
/// them compiling the same bytes at once.
pub async fn one_large_component_test_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Panics with an error's whole chain: how a harness failure fails a test.
fn or_fail<T>(result: anyhow::Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("{e:#}"))
}

/// A private Redis server on a free port.
pub fn redis() -> Redis {
    or_fail(Redis::start())
}

/// A fresh Postgres database, dropped at the end of the test together with
/// the login roles a host made for it.
pub fn pg_database() -> PgDatabase {
    let mut database = or_fail(PgDatabase::create());
    let roles = strata::data::component_role_names(&database.name);
    database.drop_roles_too([roles.read_only, roles.read_write]);
    database
}

/// Runs `sql` on the test Postgres server as its administrator.
pub fn psql(sql: &str) {
    or_fail(strata_testkit::psql(sql));
}

/// The market simulator, serving in-process on the test's runtime.
pub struct Simulator(strata_testkit::Simulator);

impl Simulator {
    pub async fn start() -> Self {
        Self(or_fail(strata_testkit::Simulator::start().await))
    }

    /// Changes the simulator's fault injection (see `PUT /__sim/faults`).
    pub async fn set_faults(&self, faults: Value) {
        or_fail(self.0.set_faults(&faults).await);
    }

    /// Upstream API requests the simulator has answered so far.
    pub async fn requests(&self) -> u64 {
        or_fail(self.0.requests().await)
    }
}

impl Deref for Simulator {
    type Target = strata_testkit::Simulator;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
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
            Backend::RedisPostgres => (Some(redis()), None, Some(pg_database())),
            Backend::ClusterPostgres => (
                None,
                Some(or_fail(RedisCluster::start())),
                Some(pg_database()),
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

    /// As [`Self::host_with`], allowing for the compile of large
    /// components (see [`LARGE_STARTUP`]).
    pub fn host_with_large_components(&self, env: &[(&str, &str)]) -> Host {
        let command = self.configure(Host::command(), env);
        Host::spawn_within(command, self.dir.path(), LARGE_STARTUP)
    }

    /// Starts a host through `sh -c WRAPPER` (which ends in `exec "$0"`),
    /// to run it under limits the shell sets.
    pub fn host_wrapped(&self, env: &[(&str, &str)], wrapper: &str) -> Host {
        self.host_from(Host::wrapped(wrapper), env)
    }

    fn host_from(&self, command: Command, env: &[(&str, &str)]) -> Host {
        let command = self.configure(command, env);
        Host::spawn(command, self.dir.path())
    }

    /// `command` with `env` and the variables naming these services.
    fn configure(&self, mut command: Command, env: &[(&str, &str)]) -> Command {
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
        command
    }
}

/// Hosts started by this test binary, for naming their logs.
static HOSTS: AtomicU32 = AtomicU32::new(0);

/// Folder shared by all test hosts for compiled components, so only the
/// first start of a run pays for compilation.
fn compile_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}

/// A running `strata` process (testkit's [`StrataProcess`], whose `url`,
/// `admin_url`, `log`, `pid()`, `kill()`, `wait_for_exit()` and
/// `log_text()` it derefs to), with test-style requests.
///
/// [`StrataProcess`]: strata_testkit::StrataProcess
pub struct Host(strata_testkit::StrataProcess);

impl Deref for Host {
    type Target = strata_testkit::StrataProcess;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Host {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
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
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
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

    /// Spawns `command` (its log in `log_dir`) and waits for its
    /// "listening" line.
    pub fn spawn(command: Command, log_dir: &Path) -> Self {
        Self::spawn_within(command, log_dir, STARTUP)
    }

    /// As [`Self::spawn`], waiting up to `startup`.
    pub fn spawn_within(command: Command, log_dir: &Path, startup: Duration) -> Self {
        let log = log_dir.join(format!("host-{}.log", HOSTS.fetch_add(1, Ordering::SeqCst)));
        Self(or_fail(strata_testkit::StrataProcess::spawn(
            command, &log, startup,
        )))
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

    /// Resident memory of the process, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        or_fail(self.0.rss_kib()) * 1024
    }

    /// Asks the process to stop, as a process manager would (SIGTERM).
    pub fn terminate(&self) {
        or_fail(self.0.terminate());
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
    /// Reads `response` in full.
    pub async fn from(response: reqwest::Response) -> Self {
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

    /// The id the host gave the request (`x-request-id`).
    pub fn request_id(&self) -> String {
        self.header("x-request-id")
            .expect("a request id header")
            .to_string()
    }

    /// Checks that this is the generic answer to a component that failed:
    /// a JSON 500 `component_trapped` naming the request id, with none of
    /// `hidden` in the body; returns the id.
    pub fn assert_generic_trap(&self, hidden: &[&str]) -> String {
        assert_eq!(self.status, 500, "{}", self.body);
        for detail in hidden {
            assert!(!self.body.contains(detail), "{detail}: {}", self.body);
        }
        let body = self.json();
        assert_eq!(body["code"], "component_trapped");
        let id = self.request_id();
        assert_eq!(
            body["request_id"],
            id.as_str(),
            "the body names the logged id"
        );
        id
    }
}

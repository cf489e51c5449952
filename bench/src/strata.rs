//! External processes: the `strata` binary under test, a private
//! `redis-server` for its L2, and the test-component build.
//!
//! Strata runs exactly as deployed (a release binary in its own process),
//! configured only through its documented environment variables and a
//! manifest file, so the benchmark measures the product and not a test
//! double. Every child is killed when its handle drops, so an early error
//! never leaves servers behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// How long a server may take to come up (strata compiles the echo
/// component on its first start).
const STARTUP: Duration = Duration::from_secs(120);

/// The embedded default manifest, copied so the benchmark serves exactly
/// what a default deployment serves (builtin dashboard, market, report).
const DEFAULT_MANIFEST: &str = include_str!("../../host/src/config/default-manifest.toml");

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().unwrap_or(crate_dir).to_path_buf()
}

/// The release `strata` binary, or an error telling how to build it.
pub fn strata_binary(root: &Path) -> Result<PathBuf> {
    let path = root.join("target/release/strata");
    if !path.is_file() {
        bail!(
            "{} not found.\nBuild it first with:\n\n    cargo build --release -p strata\n",
            path.display()
        );
    }
    Ok(path)
}

/// Builds the test components with `tests/components/build.sh` and returns
/// the folder holding `echo-v1.wasm` and `echo-v2.wasm`.
pub fn build_test_components(root: &Path) -> Result<PathBuf> {
    let out = root.join("target/test-components/out");
    let status = Command::new("bash")
        .arg(root.join("tests/components/build.sh"))
        .arg(&out)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("running tests/components/build.sh")?;
    if !status.success() {
        bail!("tests/components/build.sh failed ({status})");
    }
    for name in ["echo-v1.wasm", "echo-v2.wasm"] {
        if !out.join(name).is_file() {
            bail!(
                "{} missing after the component build",
                out.join(name).display()
            );
        }
    }
    Ok(out)
}

/// The default manifest's dashboard cache policy, which
/// [`write_l2_manifest`] replaces.
const DASHBOARD_FAMILY: &str = "[cache.families.dashboard]\nttl_seconds = 300\n";

/// Writes the benchmark manifest into `dir`: the default manifest plus the
/// echo component at `/hello`.
pub fn write_manifest(dir: &Path, echo_wasm: &Path) -> Result<PathBuf> {
    write_manifest_as(dir, "bench-manifest.toml", echo_wasm, None)
}

/// The manifest of the instance measuring L2 hits: as [`write_manifest`],
/// but a dashboard value promoted into its L1 is never fresh (TTL 0), so
/// every read goes to Redis. That instance only reads the dashboard, which
/// the main instance wrote to Redis with the normal 300 s TTL.
pub fn write_l2_manifest(dir: &Path, echo_wasm: &Path) -> Result<PathBuf> {
    write_manifest_as(
        dir,
        "bench-manifest-l2.toml",
        echo_wasm,
        Some("[cache.families.dashboard]\nttl_seconds = 0\n"),
    )
}

fn write_manifest_as(
    dir: &Path,
    file: &str,
    echo_wasm: &Path,
    dashboard_family: Option<&str>,
) -> Result<PathBuf> {
    let base = match dashboard_family {
        None => DEFAULT_MANIFEST.to_string(),
        Some(replacement) => {
            if !DEFAULT_MANIFEST.contains(DASHBOARD_FAMILY) {
                bail!("the default manifest no longer has the expected dashboard cache policy");
            }
            DEFAULT_MANIFEST.replace(DASHBOARD_FAMILY, replacement)
        }
    };
    let echo = echo_wasm
        .canonicalize()
        .with_context(|| format!("resolving {}", echo_wasm.display()))?;
    // TOML basic strings take the path literally except for `\` and `"`.
    let echo = echo
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let manifest = format!(
        "{base}\n\
         # Added by strata-bench: a trivial component, to measure the cost of\n\
         # a fresh instance per request.\n\
         [components.echo]\n\
         source = \"{echo}\"\n\n\
         [[routes]]\n\
         path = \"/hello\"\n\
         component = \"echo\"\n\
         methods = [\"GET\"]\n"
    );
    let path = dir.join(file);
    std::fs::write(&path, manifest).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A free loopback port (bound, read, released).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A private, non-persistent Redis server on a free loopback port.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    pub fn start(dir: &Path) -> Result<Self> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (is it installed? scripts/setup.sh installs it)")?;
        let redis = Self { child, port };
        redis.wait_ready()?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Waits for `PING` to answer `+PONG` (raw RESP: no client needed).
    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut reply = [0u8; 7];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read_exact(&mut reply).is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("redis-server on port {} did not come up", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// How to start one strata instance.
pub struct StrataConfig<'a> {
    pub binary: &'a Path,
    pub manifest: &'a Path,
    pub redis_url: &'a str,
    pub upstream_url: &'a str,
    /// Working folder: SQLite file and log.
    pub dir: &'a Path,
    pub compile_cache: &'a Path,
    /// Extra environment (e.g. L1 sizing).
    pub env: Vec<(&'static str, String)>,
}

/// A running `strata` process.
pub struct Strata {
    child: Child,
    pub url: String,
    pub admin_url: String,
}

impl Strata {
    /// Starts strata and waits for its "listening" lines.
    pub fn start(config: &StrataConfig<'_>) -> Result<Self> {
        let n = INSTANCE.fetch_add(1, Ordering::SeqCst);
        let log = config.dir.join(format!("strata-{n}.log"));
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(config.binary);
        // Only what is set here applies, not the caller's shell settings.
        for var in [
            "DATABASE_URL",
            "STRATA_ADMIN_TOKEN",
            "STRATA_SIMULATE_UPSTREAM",
            "CACHE_L1_CAPACITY",
            "STRATA_CACHE_L1_MAX_BYTES",
            "CACHE_L1_TTL_SECONDS",
            "CACHE_L2_TTL_SECONDS",
        ] {
            command.env_remove(var);
        }
        command
            .env("STRATA_MANIFEST", config.manifest)
            .env("REDIS_URL", config.redis_url)
            .env("STRATA_UPSTREAM_URL", config.upstream_url)
            .env("STRATA_LISTEN", "127.0.0.1:0")
            .env("STRATA_ADMIN_LISTEN", "127.0.0.1:0")
            .env("STRATA_LOG", "warn")
            // The scheduled dashboard refresh would add upstream calls the
            // workloads count; the stampede row needs room for 1,000
            // requests at once (admission control sheds the rest by design).
            .env("STRATA_DASHBOARD_REFRESH_SECONDS", "0")
            .env("STRATA_MAX_CONCURRENT_REQUESTS", "1500")
            .env("STRATA_MAX_INSTANCES", "2000")
            .env(
                "STRATA_SQLITE_PATH",
                config.dir.join(format!("strata-{n}.db")),
            )
            .env("STRATA_COMPILE_CACHE_DIR", config.compile_cache);
        for (name, value) in &config.env {
            command.env(name, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", config.binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("strata stdout not captured"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the start-up lines, then keeps draining stdout so strata
        // never blocks on a full pipe.
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
            Ok((url, Some(admin_url))) => Ok(Self {
                child,
                url,
                admin_url,
            }),
            Ok((_, None)) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "strata started without an admin listener; log: {}",
                    log.display()
                )
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("strata did not start; its log ({}):\n{text}", log.display())
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (`VmRSS` from `/proc/PID/status`).
    pub fn rss_kib(&self) -> Result<u64> {
        rss_kib(self.pid())
    }
}

impl Drop for Strata {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss(&status).ok_or_else(|| anyhow!("no VmRSS line in {path}"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tstrata\nVmPeak:\t  100 kB\nVmRSS:\t   52344 kB\nThreads: 9\n";
        assert_eq!(parse_vm_rss(status), Some(52_344));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn a_missing_binary_says_how_to_build_it() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let message = match strata_binary(dir.path()) {
            Ok(path) => panic!("found {}", path.display()),
            Err(err) => err.to_string(),
        };
        assert!(
            message.contains("cargo build --release -p strata"),
            "{message}"
        );
        Ok(())
    }

    #[test]
    fn manifest_adds_echo_to_the_default() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let wasm = dir.path().join("echo.wasm");
        std::fs::write(&wasm, b"\0asm")?;
        let path = write_manifest(dir.path(), &wasm)?;
        let text = std::fs::read_to_string(path)?;
        assert!(text.starts_with(DEFAULT_MANIFEST));
        assert!(text.contains("[components.echo]"));
        assert!(text.contains("path = \"/hello\""));
        assert!(text.contains(&wasm.canonicalize()?.display().to_string()));
        assert!(text.contains(DASHBOARD_FAMILY));

        let l2 = std::fs::read_to_string(write_l2_manifest(dir.path(), &wasm)?)?;
        assert!(l2.contains("[cache.families.dashboard]\nttl_seconds = 0\n"));
        assert!(!l2.contains(DASHBOARD_FAMILY));
        assert!(l2.contains("[components.echo]"));
        Ok(())
    }
}

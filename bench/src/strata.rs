//! The `strata` binary under test, as the benchmark configures it: the
//! release build, the benchmark manifest (the default one plus the echo
//! test component), and the environment of a run.
//!
//! Strata runs exactly as deployed (a release binary in its own process,
//! started by testkit's [`StrataProcess`]), configured only through its
//! documented environment variables and a manifest file, so the benchmark
//! measures the product and not a test double. Every child is killed when
//! its handle drops, so an early error never leaves servers behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use strata_testkit::StrataProcess;

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

/// The default manifest's dashboard cache policy, which
/// [`write_l2_manifest`] replaces.
const DASHBOARD_FAMILY: &str = "[cache.families.dashboard]\nttl_seconds = 300\n";

/// Writes the benchmark manifest into `dir`: the default manifest plus the
/// echo component at `/hello`.
pub fn write_manifest(dir: &Path, echo_wasm: &Path) -> Result<PathBuf> {
    write_manifest_as(
        dir,
        "bench-manifest.toml",
        echo_wasm,
        None,
        Instances::Fresh,
    )
}

/// How the benchmark manifest's measured components get their instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    Fresh,
    /// `instances = "warm"` on the dashboard, echo and plain hello
    /// components (the warm tier's rows).
    Warm,
}

/// The default dashboard entry's source line, which the warm manifest
/// extends.
const DASHBOARD_SOURCE: &str = "source = \"builtin:dashboard\"\n";

/// As [`write_manifest`], with the measured components warm.
pub fn write_warm_manifest(dir: &Path, echo_wasm: &Path) -> Result<PathBuf> {
    write_manifest_as(
        dir,
        "bench-manifest-warm.toml",
        echo_wasm,
        None,
        Instances::Warm,
    )
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
        Instances::Fresh,
    )
}

fn write_manifest_as(
    dir: &Path,
    file: &str,
    echo_wasm: &Path,
    dashboard_family: Option<&str>,
    instances: Instances,
) -> Result<PathBuf> {
    let mut base = match dashboard_family {
        None => DEFAULT_MANIFEST.to_string(),
        Some(replacement) => {
            if !DEFAULT_MANIFEST.contains(DASHBOARD_FAMILY) {
                bail!("the default manifest no longer has the expected dashboard cache policy");
            }
            DEFAULT_MANIFEST.replace(DASHBOARD_FAMILY, replacement)
        }
    };
    let mode = match instances {
        Instances::Fresh => "",
        Instances::Warm => {
            if !base.contains(DASHBOARD_SOURCE) {
                bail!("the default manifest no longer has the expected dashboard source");
            }
            base = base.replace(
                DASHBOARD_SOURCE,
                &format!("{DASHBOARD_SOURCE}instances = \"warm\"\n"),
            );
            "instances = \"warm\"\n"
        }
    };
    let echo = toml_path(echo_wasm)?;
    let manifest = format!(
        "{base}\n\
         # Added by strata-bench: a trivial component, to measure the cost of\n\
         # a fresh instance per request.\n\
         [components.echo]\n\
         source = \"{echo}\"\n\
         {mode}\n\
         [[routes]]\n\
         path = \"/hello\"\n\
         component = \"echo\"\n\
         methods = [\"GET\"]\n\n\
         # The plain wasi:http hello component `--peers` also serves with\n\
         # wasmtime serve.\n\
         [components.plain-hello]\n\
         source = \"{hello}\"\n\
         {mode}\n\
         [[routes]]\n\
         path = \"{hello_path}\"\n\
         component = \"plain-hello\"\n\
         methods = [\"GET\"]\n",
        hello = toml_path(Path::new(test_programs::HELLO))?,
        hello_path = crate::peers::STRATA_PATH,
    );
    let path = dir.join(file);
    std::fs::write(&path, manifest).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `path`, absolute, as the inside of a TOML basic string (which takes it
/// literally except for `\` and `"`).
pub(crate) fn toml_path(path: &Path) -> Result<String> {
    let path = path
        .canonicalize()
        .with_context(|| format!("resolving {}", path.display()))?;
    Ok(path
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\""))
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

/// A running `strata` process with its admin listener.
pub struct Strata {
    process: StrataProcess,
    pub url: String,
    pub admin_url: String,
}

impl Strata {
    /// Starts strata and waits for its "listening" lines.
    pub fn start(config: &StrataConfig<'_>) -> Result<Self> {
        let n = INSTANCE.fetch_add(1, Ordering::SeqCst);
        let log = config.dir.join(format!("strata-{n}.log"));
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
        let process = StrataProcess::spawn(command, &log, STARTUP)?;
        let Some(admin_url) = process.admin_url.clone() else {
            bail!(
                "strata started without an admin listener; log: {}",
                log.display()
            )
        };
        Ok(Self {
            url: process.url.clone(),
            admin_url,
            process,
        })
    }

    /// Resident memory in KiB (`VmRSS` from `/proc/PID/status`).
    pub fn rss_kib(&self) -> Result<u64> {
        self.process.rss_kib()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!text.contains("instances"), "fresh unless asked");
        Ok(())
    }

    #[test]
    fn the_warm_manifest_makes_the_measured_components_warm() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let wasm = dir.path().join("echo.wasm");
        std::fs::write(&wasm, b"\0asm")?;
        let text = std::fs::read_to_string(write_warm_manifest(dir.path(), &wasm)?)?;
        assert_eq!(text.matches("instances = \"warm\"").count(), 3, "{text}");
        assert!(text.contains(&format!("{DASHBOARD_SOURCE}instances = \"warm\"\n")));
        Ok(())
    }
}

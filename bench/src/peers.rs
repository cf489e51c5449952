//! Peer rows (`--peers`): one plain `wasi:http` hello component (the test
//! component `hello`, no Strata SDK) served by `wasmtime serve` of the very
//! wasmtime version strata embeds, three ways, and by strata, in the same
//! run, so "faster than the alternatives" is a measured ratio rather than
//! a claim.
//!
//! The `wasmtime` CLI comes from the crate registry, installed once under
//! `target/peers` (`cargo install wasmtime-cli --version <ours> --locked`;
//! the first `--peers` run compiles it, about 15 minutes on two cores).
//! The three ways, after `shared/notes/per-request-instances.md`:
//! - defaults (a fresh instance per request for a p2 component);
//! - tuned: pooling allocator, memory and tables kept resident, batched
//!   decommits and PAGEMAP_SCAN resets, the best fresh-instance settings
//!   measured there;
//! - `--max-instance-reuse-count 128`: one instance serves up to 128
//!   requests in turn, the reuse wasmtime offers p2 components.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::client;
use crate::load::LoadResult;
use crate::report::Report;
use crate::rows::{row, sample};
use crate::run::Env;

/// The route strata serves the hello component on (see the bench manifest).
pub const STRATA_PATH: &str = "/plain-hello";
/// How long `wasmtime serve` may take to compile the component and listen.
const STARTUP: Duration = Duration::from_secs(60);

/// One way to run `wasmtime serve`.
struct Way {
    name: &'static str,
    args: &'static [&'static str],
    /// Strata's fresh instance must serve at least this many times as many
    /// requests per second, to count as faster (issue #16's targets).
    target: Option<f64>,
}

const WAYS: &[Way] = &[
    Way {
        name: "wasmtime serve, defaults",
        args: &[],
        target: Some(4.0),
    },
    Way {
        name: "wasmtime serve, tuned (pooling, keep-resident, pagemap scan)",
        args: &[
            "-O",
            "pooling-allocator=y",
            "-O",
            "pooling-memory-keep-resident=4194304",
            "-O",
            "pooling-table-keep-resident=1048576",
            "-O",
            "pooling-decommit-batch-size=64",
            "-O",
            "pooling-pagemap-scan=y",
        ],
        target: Some(1.5),
    },
    Way {
        name: "wasmtime serve, --max-instance-reuse-count 128",
        args: &["--max-instance-reuse-count", "128"],
        // Its target belongs to strata's warm tier, which does not exist
        // yet; the fresh row's ratio is shown for reference.
        target: None,
    },
];

/// A `wasmtime serve` process, killed when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The wasmtime version strata links, from `Cargo.lock`.
fn embedded_version(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasmtime\""
            && let Some(version) = lines
                .next()
                .and_then(|v| v.strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'))
        {
            return Ok(version.to_string());
        }
    }
    bail!("Cargo.lock names no wasmtime package")
}

/// `target/peers/bin/wasmtime` at `version`, installed from the crate
/// registry when missing or of another version.
fn wasmtime_cli(root: &Path, version: &str) -> Result<PathBuf> {
    let prefix = root.join("target/peers");
    let binary = prefix.join("bin/wasmtime");
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned());
    if installed.is_some_and(|v| v.split_whitespace().nth(1) == Some(version)) {
        return Ok(binary);
    }
    eprintln!(
        "strata-bench: installing wasmtime-cli {version} into {} (once; compiles for a while)...",
        prefix.display()
    );
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "install",
            "wasmtime-cli",
            "--locked",
            "--version",
            version,
            "--root",
        ])
        .arg(&prefix)
        .arg("--target-dir")
        .arg(prefix.join("build"))
        .status()
        .context("running cargo install wasmtime-cli")?;
    if !status.success() {
        bail!("cargo install wasmtime-cli {version} failed ({status})");
    }
    Ok(binary)
}

/// Starts `wasmtime serve` one way on a free port and waits until the
/// component answers.
async fn serve(binary: &Path, way: &Way, wasm: &str, log: &Path) -> Result<Served> {
    let port = strata_testkit::free_port();
    let log_file = std::fs::File::create(log).with_context(|| format!("{}", log.display()))?;
    let child = Command::new(binary)
        .arg("serve")
        // Rust std components import wasi:cli.
        .args(["-S", "cli=y", "--addr", &format!("127.0.0.1:{port}")])
        .args(way.args)
        .arg(wasm)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let served = Served {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + STARTUP;
    loop {
        if let Ok(reply) = client::get(&format!("{}/", served.url)).await
            && reply.status == 200
        {
            return Ok(served);
        }
        if Instant::now() > deadline {
            bail!(
                "'{}' did not answer within {STARTUP:?}; see {}",
                way.name,
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the peer rows and adds the ratios, with met / not met for each
/// target, to the report.
pub async fn rows(env: &Env, report: &mut Report, root: &Path) -> Result<()> {
    let version = embedded_version(root)?;
    let binary = wasmtime_cli(root, &version)?;
    let wasm = test_programs::HELLO;
    let d = env.args.duration;

    let strata_name = "strata, plain hello (fresh instance)";
    let strata_url = format!("{}{STRATA_PATH}", env.strata.url);
    let check = sample(&strata_url, None).await;
    let strata = row(
        report,
        strata_name,
        &format!("GET {STRATA_PATH}"),
        env.load(&env.strata.url, STRATA_PATH, d),
        check,
        None,
    )
    .await?;

    for (n, way) in WAYS.iter().enumerate() {
        let log = env.dir.path().join(format!("wasmtime-serve-{n}.log"));
        let served = serve(&binary, way, wasm, &log).await?;
        let check = sample(&format!("{}/", served.url), None).await;
        let name = format!("{} ({version})", way.name);
        let peer = row(
            report,
            &name,
            "GET /",
            env.load(&served.url, "/", d),
            check,
            None,
        )
        .await?;
        drop(served);
        report.notes.push(ratio_note(&strata, &peer, way));
    }
    Ok(())
}

/// "strata fresh / peer: 2.1x (target ≥ 1.5x: met)".
fn ratio_note(strata: &LoadResult, peer: &LoadResult, way: &Way) -> String {
    let ratio = strata.rps / peer.rps.max(f64::MIN_POSITIVE);
    let verdict = match way.target {
        Some(target) if ratio >= target => format!("target ≥ {target}x: met"),
        Some(target) => format!("target ≥ {target}x: not met"),
        None => "its target (≥ 1.5x) is for strata's warm tier, which does not exist yet".into(),
    };
    format!(
        "Peers: strata's fresh instance serves the plain hello component at {ratio:.2}x the \
         requests/s of {} ({verdict}).",
        way.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_wasmtime_version_is_read_from_the_lock_file() {
        let root = crate::strata::workspace_root();
        let version = embedded_version(&root).expect("wasmtime in Cargo.lock");
        assert!(
            version.split('.').count() == 3
                && version.chars().all(|c| c.is_ascii_digit() || c == '.'),
            "{version}"
        );
    }
}

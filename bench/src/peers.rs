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
use crate::strata::Strata;

/// The route strata serves the hello component on (see the bench manifest).
pub const STRATA_PATH: &str = "/plain-hello";
/// How long `wasmtime serve` may take to compile the component and listen.
const STARTUP: Duration = Duration::from_secs(60);

/// One way to run `wasmtime serve`.
struct Way {
    name: &'static str,
    args: &'static [&'static str],
    /// How many times this peer's requests per second strata must serve to
    /// count as faster (issue #16's targets), and with which of its tiers.
    target: (Tier, f64),
}

/// Which of strata's instance tiers a peer is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Fresh,
    Warm,
}

const WAYS: &[Way] = &[
    Way {
        name: "wasmtime serve, defaults",
        args: &[],
        target: (Tier::Fresh, 4.0),
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
        target: (Tier::Fresh, 1.5),
    },
    Way {
        name: "wasmtime serve, --max-instance-reuse-count 128",
        args: &["--max-instance-reuse-count", "128"],
        target: (Tier::Warm, 1.5),
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
/// target, to the report. `warm` is the strata instance whose components
/// are warm.
pub async fn rows(env: &Env, warm: &Strata, report: &mut Report, root: &Path) -> Result<()> {
    let version = embedded_version(root)?;
    let binary = wasmtime_cli(root, &version)?;
    let wasm = test_programs::HELLO;
    let d = env.args.duration;

    let mut strata = Vec::new();
    for (tier, name, base) in [
        (
            Tier::Fresh,
            "strata, plain hello (fresh instance)",
            &env.strata.url,
        ),
        (
            Tier::Warm,
            "strata, plain hello (warm instances)",
            &warm.url,
        ),
    ] {
        let url = format!("{base}{STRATA_PATH}");
        let check = sample(&url, None).await;
        let result = row(
            report,
            name,
            &format!("GET {STRATA_PATH}"),
            env.load(base, STRATA_PATH, d),
            check,
            None,
        )
        .await?;
        strata.push((tier, result));
    }

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
        for (tier, result) in &strata {
            report.notes.push(ratio_note(*tier, result, &peer, way));
        }
    }
    Ok(())
}

/// "strata fresh / peer: 2.1x (target ≥ 1.5x: met)"; a tier without a
/// target against this peer is shown for reference.
fn ratio_note(tier: Tier, strata: &LoadResult, peer: &LoadResult, way: &Way) -> String {
    let ratio = strata.rps / peer.rps.max(f64::MIN_POSITIVE);
    let (target_tier, target) = way.target;
    let verdict = if tier != target_tier {
        "for reference".to_string()
    } else if ratio >= target {
        format!("target ≥ {target}x: met")
    } else {
        format!("target ≥ {target}x: not met")
    };
    let tier = match tier {
        Tier::Fresh => "fresh instance serves",
        Tier::Warm => "warm instances serve",
    };
    format!(
        "Peers: strata's {tier} the plain hello component at {ratio:.2}x the \
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

//! The default command: set everything up, run every row and workload,
//! write the report.
//!
//! Order matters: rows that need a warm cache run before the ones that clear
//! it, and the hot-deploy workload runs last because it replaces the echo
//! component the `/hello` row measures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use hyper::Method;
use serde_json::json;
use strata_testkit::{Redis, Simulator};

use crate::client;
use crate::load::LoadArgs;
use crate::report::{self, Report};
use crate::rows;
use crate::servers::{self, Server};
use crate::strata::{self, Strata, StrataConfig};
use crate::workloads;

/// Options of a benchmark run.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Seconds of load per row.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Concurrent keep-alive connections per row.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Seconds of the Zipf workload.
    #[arg(long, default_value_t = 30.0)]
    pub zipf_seconds: f64,
    /// Simultaneous requests of the cold-key stampede.
    #[arg(long, default_value_t = 1_000)]
    pub stampede: usize,
    /// Worker threads of the load generator process.
    #[arg(long, default_value_t = 1)]
    pub load_threads: usize,
    /// Also serve the plain hello component with `wasmtime serve` (the
    /// version strata embeds, installed once under `target/peers`) three
    /// ways, and report strata's ratio to each.
    #[arg(long)]
    pub peers: bool,
    /// Where the Markdown report goes (default `target/bench/results.md`).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// The long-lived services every row shares.
pub struct Env {
    pub args: RunArgs,
    strata_bin: PathBuf,
    compile_cache: PathBuf,
    /// The instance most rows measure (default L1 sizing).
    pub strata: Strata,
    pub hello: Server,
    pub simulator: Simulator,
    redis: Redis,
    /// Temp folder: manifest, SQLite files, logs, path lists. Declared
    /// last so it is removed after the processes using it are gone.
    pub dir: tempfile::TempDir,
}

impl Env {
    /// Starts a further strata instance against the same Redis and
    /// upstream, with its own manifest and extra environment.
    pub fn start_strata(
        &self,
        manifest: &std::path::Path,
        env: Vec<(&'static str, String)>,
    ) -> Result<Strata> {
        self.start_strata_with_cache(manifest, env, &self.compile_cache)
    }

    /// As [`Self::start_strata`], with a compile cache of its own (so
    /// what it loads is compiled, not found in the run's cache).
    pub fn start_strata_with_cache(
        &self,
        manifest: &std::path::Path,
        env: Vec<(&'static str, String)>,
        compile_cache: &std::path::Path,
    ) -> Result<Strata> {
        Strata::start(&StrataConfig {
            binary: &self.strata_bin,
            manifest,
            redis_url: &self.redis.url(),
            upstream_url: &self.simulator.url,
            dir: self.dir.path(),
            compile_cache,
            env,
        })
    }

    /// A timed load plan with this run's connections and threads.
    pub fn load(&self, url: &str, path: &str, duration: f64) -> LoadArgs {
        let mut plan = LoadArgs::fixed(url, path, duration, self.args.connections);
        plan.threads = self.args.load_threads;
        plan
    }

    /// Upstream API requests the simulator has answered so far.
    pub async fn upstream_requests(&self) -> Result<u64> {
        self.simulator.requests().await
    }

    /// Sets the simulator's added latency for every upstream API request.
    pub async fn set_upstream_latency(&self, ms: u64) -> Result<()> {
        self.simulator
            .set_faults(&json!({ "latency_ms": ms }))
            .await
    }

    /// Empties strata's L1 and L2 (admin `POST /clear-cache`), so a
    /// workload starts cold.
    pub async fn clear_cache(&self) -> Result<()> {
        let url = format!("{}/clear-cache", self.strata.admin_url);
        let reply = client::request(Method::POST, &url, None).await?;
        if !(200..300).contains(&reply.status) {
            bail!(
                "POST {url}: status {}: {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
        }
        Ok(())
    }
}

/// Runs the whole benchmark.
pub async fn main(args: RunArgs) -> Result<()> {
    let started = Instant::now();
    let root = strata::workspace_root();
    let strata_bin = strata::strata_binary(&root)?;

    let dir = tempfile::Builder::new()
        .prefix("strata-bench-")
        .tempdir()
        .context("creating a temp dir")?;
    let compile_cache = root.join("target/bench/compile-cache");
    std::fs::create_dir_all(&compile_cache)
        .with_context(|| format!("creating {}", compile_cache.display()))?;
    let manifest = strata::write_manifest(dir.path(), Path::new(test_programs::ECHO_V1))?;

    eprintln!("strata-bench: starting simulator, redis, hello server and strata...");
    let simulator = servers::start_simulator()?;
    let redis = Redis::start()?;
    let hello = servers::start_hello()?;
    let strata = Strata::start(&StrataConfig {
        binary: &strata_bin,
        manifest: &manifest,
        redis_url: &redis.url(),
        upstream_url: &simulator.url,
        dir: dir.path(),
        compile_cache: &compile_cache,
        env: Vec::new(),
    })?;
    let env = Env {
        args: args.clone(),
        strata_bin,
        compile_cache,
        strata,
        hello,
        simulator,
        redis,
        dir,
    };

    let mut report = Report {
        machine: report::machine_description(&root),
        settings: vec![
            (
                "load".into(),
                format!(
                    "{} keep-alive HTTP/1.1 connections, {} s per row, generator on {} thread(s) in its own process",
                    args.connections, args.duration, args.load_threads
                ),
            ),
            (
                "strata".into(),
                "release binary, default settings, Redis L2 (private redis-server), SQLite, simulator upstream".into(),
            ),
        ],
        ..Report::default()
    };

    rows::side_by_side(&env, &mut report).await?;
    let warm = crate::warm::start(&env)?;
    crate::warm::rows(&env, &warm, &mut report).await?;
    if args.peers {
        crate::peers::rows(&env, &warm, &mut report, &root).await?;
    }
    drop(warm);
    crate::languages::rows(&env, &mut report).await?;
    workloads::run_all(&env, &mut report).await?;

    let end_rss = env.strata.rss_kib()?;
    report.notes.push(format!(
        "strata RSS at the end of the run: {:.1} MiB",
        end_rss as f64 / 1024.0
    ));
    report.settings.push((
        "total run time".into(),
        format!("{:.0} s", started.elapsed().as_secs_f64()),
    ));

    let markdown = report.to_markdown(rows::CEILING, rows::BASELINE);
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| root.join("target/bench/results.md"));
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&output, &markdown).with_context(|| format!("writing {}", output.display()))?;
    println!("{markdown}");
    println!("Results written to {}", output.display());
    Ok(())
}

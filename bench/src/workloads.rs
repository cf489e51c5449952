//! The workloads: what the cache achieves on realistic and adversarial
//! traffic, and whether hot deploys drop requests.
//!
//! - Zipf(1.0) over the simulator's 1,000 coins: how much is served from
//!   cache, and how many upstream calls that leaves.
//! - A stampede: many simultaneous cold requests for one key must cost
//!   exactly one upstream call (single flight).
//! - Hot deploys every 200 ms under load: no request may fail.
//! - A market mix with made-up symbols ([`crate::unknown`]): what they
//!   cost the upstream.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hyper::Method;

use crate::client;
use crate::load::{self, Pick};
use crate::report::{Check, Report, Workload, percent};
use crate::rows::{CACHE_HEADER, ECHO_HEADER};
use crate::run::Env;

/// Coins the simulator serves, fetched 250 per page.
const MARKET_PAGES: u32 = 4;
/// Simulated upstream latency during the stampede: long enough that every
/// request arrives while the first computation is still in flight.
const STAMPEDE_LATENCY_MS: u64 = 300;
/// The stampede's key; the cache is cleared first, so it is cold.
const STAMPEDE_SYMBOL: &str = "c0999";
/// Interval between hot deploys.
const DEPLOY_EVERY: Duration = Duration::from_millis(200);
/// TTL of the `market` family in the default manifest.
const MARKET_TTL_SECONDS: f64 = 60.0;

/// Runs every workload and appends the outcomes.
pub async fn run_all(env: &Env, report: &mut Report) -> Result<()> {
    let symbols = coin_symbols(env).await?;
    for workload in [
        zipf(env, &symbols).await?,
        stampede(env).await?,
        hot_deploys(env).await?,
        crate::unknown::unknown_symbols(env, &symbols).await?,
    ] {
        if !workload.check.ok {
            report
                .warnings
                .push(format!("{}: {}", workload.name, workload.check.text));
        }
        report.workloads.push(workload);
    }
    Ok(())
}

/// Symbols of the simulator's coins in its default order (market cap,
/// descending): the most valuable coin is the most requested.
async fn coin_symbols(env: &Env) -> Result<Vec<String>> {
    let mut symbols = Vec::new();
    for page in 1..=MARKET_PAGES {
        let url = format!(
            "{}/api/v3/coins/markets?vs_currency=usd&per_page=250&page={page}",
            env.simulator.url
        );
        let coins = client::get_ok(&url).await?.json()?;
        let coins = coins.as_array().context("coins/markets is not a list")?;
        symbols.extend(
            coins
                .iter()
                .filter_map(|c| c["symbol"].as_str())
                .map(str::to_string),
        );
    }
    // Pages are computed per request from moving prices, so a coin can
    // shift across a page boundary between two fetches: keep first sightings.
    let mut seen = std::collections::HashSet::new();
    symbols.retain(|s| seen.insert(s.clone()));
    if symbols.is_empty() {
        bail!("the simulator listed no coins");
    }
    Ok(symbols)
}

async fn zipf(env: &Env, symbols: &[String]) -> Result<Workload> {
    let name = "Zipf(s=1.0) over 1,000 coins, cold start".to_string();
    let paths: String = symbols
        .iter()
        .map(|s| format!("/api/market/{s}\n"))
        .collect();
    let file = env.dir.path().join("zipf-paths.txt");
    std::fs::write(&file, paths).with_context(|| format!("writing {}", file.display()))?;

    env.clear_cache().await?;
    let upstream_before = env.upstream_requests().await?;
    let mut plan = env.load(&env.strata.url, "/", env.args.zipf_seconds);
    plan.paths.clear();
    plan.paths_file = Some(file);
    plan.pick = Pick::Zipf;
    plan.zipf_s = 1.0;
    eprintln!(
        "strata-bench: workload '{name}' ({} s)...",
        env.args.zipf_seconds
    );
    let result = load::run_child(&plan.counting(CACHE_HEADER)).await?;
    let upstream = env.upstream_requests().await? - upstream_before;

    let l1 = result.header_count("hit-l1");
    let l2 = result.header_count("hit-l2");
    let misses = result.header_count("miss");
    let total = result.requests as f64;
    let outcome = format!(
        "served from cache {} (L1 {}, L2 {}); misses {}; upstream calls {} for {} keys \
         ({} of requests)",
        percent((l1 + l2) as f64, total),
        percent(l1 as f64, total),
        percent(l2 as f64, total),
        misses,
        upstream,
        symbols.len(),
        percent(upstream as f64, total),
    );
    // Each key may be fetched once per TTL, and the symbol list the market
    // component checks symbols against once (its TTL is longer than any
    // run); more means the cache leaked.
    let windows = (env.args.zipf_seconds / MARKET_TTL_SECONDS).ceil().max(1.0);
    let bound = (symbols.len() as f64 * windows) as u64 + 1;
    let check = if result.failed() > 0 {
        Check::warn(format!("{} failed requests", result.failed()))
    } else if upstream > bound {
        Check::warn(format!(
            "{upstream} upstream calls for {} keys within {windows} TTL window(s): \
             some keys were computed more than once",
            symbols.len()
        ))
    } else {
        Check::ok(format!("upstream ≤ {bound}, no failures"))
    };
    Ok(Workload {
        name,
        result: Some(result),
        outcome,
        check,
    })
}

async fn stampede(env: &Env) -> Result<Workload> {
    let n = env.args.stampede;
    let name = format!("{n} simultaneous cold requests, one key");
    env.clear_cache().await?;
    // Another symbol first, so the market component's symbol list is cached
    // and the cold key costs exactly its own quote.
    client::get_ok(&format!("{}/api/market/btc", env.strata.url)).await?;
    env.set_upstream_latency(STAMPEDE_LATENCY_MS).await?;
    let measured = async {
        let before = env.upstream_requests().await?;
        let mut plan = env.load(
            &env.strata.url,
            &format!("/api/market/{STAMPEDE_SYMBOL}"),
            0.0,
        );
        plan.connections = n;
        plan.burst = true;
        eprintln!("strata-bench: workload '{name}'...");
        let result = load::run_child(&plan.counting(CACHE_HEADER)).await?;
        let upstream = env.upstream_requests().await? - before;
        Ok::<_, anyhow::Error>((result, upstream))
    }
    .await;
    env.set_upstream_latency(0).await?;
    let (result, upstream) = measured?;
    let outcome = format!(
        "upstream calls {upstream} (upstream latency {STAMPEDE_LATENCY_MS} ms); {CACHE_HEADER} {:?}",
        result.header_counts
    );
    let check = if upstream == 1 && result.failed() == 0 && result.requests == n as u64 {
        Check::ok("exactly 1 upstream call, every request answered")
    } else {
        Check::warn(format!(
            "expected 1 upstream call and {n} answers: {upstream} calls, {} answers, {} failed",
            result.requests,
            result.failed()
        ))
    };
    Ok(Workload {
        name,
        result: Some(result),
        outcome,
        check,
    })
}

/// Deploys `wasm` as the echo component through the admin API.
async fn deploy(env: &Env, wasm: &Bytes) -> Result<u16> {
    let url = format!("{}/admin/components/echo", env.strata.admin_url);
    let reply =
        client::request(Method::POST, &url, Some(("application/wasm", wasm.clone()))).await?;
    Ok(reply.status)
}

async fn hot_deploys(env: &Env) -> Result<Workload> {
    let name = format!(
        "hot deploy every {} ms under load on /hello",
        DEPLOY_EVERY.as_millis()
    );
    let read = |path: &str| -> Result<Bytes> {
        std::fs::read(path)
            .map(Bytes::from)
            .with_context(|| format!("reading {path}"))
    };
    let versions = [read(test_programs::ECHO_V1)?, read(test_programs::ECHO_V2)?];

    // The endpoint is new; without it the workload cannot run.
    let probe = deploy(env, &versions[0]).await?;
    if probe == 404 || probe == 405 {
        return Ok(Workload {
            name,
            result: None,
            outcome: format!(
                "skipped: admin deploy endpoint not available (POST /admin/components/echo → {probe})"
            ),
            check: Check::ok("skipped"),
        });
    }
    if !(200..300).contains(&probe) {
        return Ok(Workload {
            name,
            result: None,
            outcome: format!("first deploy answered {probe}"),
            check: Check::warn(format!("deploy refused with status {probe}")),
        });
    }

    eprintln!(
        "strata-bench: workload '{name}' ({} s)...",
        env.args.duration
    );
    let plan = env
        .load(&env.strata.url, "/hello", env.args.duration)
        .counting(ECHO_HEADER);
    let mut loader = tokio::spawn(load::wait_child(load::spawn_child(&plan)?));
    let mut deploys = 0u64;
    let mut refused = Vec::new();
    let mut next = 1;
    let result = loop {
        tokio::select! {
            joined = &mut loader => break joined.context("load task")??,
            () = tokio::time::sleep(DEPLOY_EVERY) => {
                match deploy(env, &versions[next]).await {
                    Ok(status) if (200..300).contains(&status) => deploys += 1,
                    Ok(status) => refused.push(status.to_string()),
                    Err(err) => refused.push(format!("{err:#}")),
                }
                next = 1 - next;
            }
        }
    };
    let outcome = format!(
        "{deploys} deploys ({} refused); failed requests {}; versions served {:?}",
        refused.len(),
        result.failed(),
        result.header_counts
    );
    let check = if result.failed() == 0 && refused.is_empty() && deploys > 0 {
        Check::ok("no failed requests")
    } else {
        Check::warn(format!(
            "{} failed requests, deploys refused: {refused:?}",
            result.failed()
        ))
    };
    Ok(Workload {
        name,
        result: Some(result),
        outcome,
        check,
    })
}

//! The side-by-side rows: the same load against the ceiling, the native
//! baseline and strata's request paths (L1 hit, L2 hit, upstream miss, a
//! trivial component).
//!
//! Each row first checks a sample response (status and the cache header the
//! row claims to measure), then runs the load, and also tallies that header
//! on every response of the load: a row that silently measured something
//! else (say L1 hits in the "L2" row) is flagged, not reported as fact.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::client;
use crate::load::{self, LoadArgs, LoadResult, Pick};
use crate::report::{Check, Report, Row, latency, percent};
use crate::run::Env;
use crate::servers;
use crate::strata;

pub const CEILING: &str = "hyper hello (ceiling)";
pub const BASELINE: &str = "native moka lookup (baseline)";
pub(crate) const DASHBOARD_L1: &str = "dashboard component, L1 hit";
const DASHBOARD_L1_HALF: &str = "dashboard component, L1 hit, 50% of peak (open loop)";
const DASHBOARD_L2: &str = "dashboard component, L2 hit";
const MARKET_MISS: &str = "market component, miss (upstream +200 ms)";
pub(crate) const ECHO: &str = "echo component (fresh instance)";

/// The cache outcome header strata's components set.
pub const CACHE_HEADER: &str = "x-strata-cache";
/// The version header of the echo component.
pub const ECHO_HEADER: &str = "x-echo-version";

/// Share of responses that must carry the expected header value.
const EXPECTED_SHARE: f64 = 0.99;
/// Simulated upstream latency of the miss row.
const MISS_LATENCY_MS: u64 = 200;
/// Longest the miss row runs: at 200 ms per request the synthetic coins
/// last about 6 s at 32 connections.
const MISS_MAX_SECONDS: f64 = 5.0;
/// Longest warm-up before a timed row.
const WARMUP_MAX_SECONDS: f64 = 1.0;
/// Duration of the single-connection latency probes.
const SINGLE_MAX_SECONDS: f64 = 3.0;
/// Target: p99 of the L1-hit route at half of its measured peak.
const HALF_PEAK_P99_TARGET_US: f64 = 1_000.0;

/// Checks one response: status 200 and, if given, a header value.
pub(crate) async fn sample(url: &str, header: Option<(&str, &str)>) -> Check {
    match client::get(url).await {
        Err(err) => Check::warn(format!("sample request failed: {err:#}")),
        Ok(reply) if reply.status != 200 => Check::warn(format!(
            "sample: status {} ({})",
            reply.status,
            String::from_utf8_lossy(&reply.body)
                .chars()
                .take(120)
                .collect::<String>()
        )),
        Ok(reply) => match header {
            None => Check::ok("200"),
            Some((name, expected)) => match reply.header(name) {
                Some(value) if value == expected => Check::ok(format!("200, {name}: {value}")),
                other => Check::warn(format!(
                    "sample: {name} is {} (expected {expected})",
                    other.unwrap_or("absent")
                )),
            },
        },
    }
}

/// Checks a whole load: no failures and, if given, the expected header
/// value on at least [`EXPECTED_SHARE`] of responses.
fn tally(result: &LoadResult, header: Option<(&str, &str)>) -> Check {
    let mut problems = String::new();
    if result.requests == 0 {
        problems.push_str("no responses; ");
    }
    if result.failed() > 0 {
        let _ = write!(
            problems,
            "{} failed (statuses {:?}{}); ",
            result.failed(),
            result.statuses,
            result
                .first_error
                .as_deref()
                .map(|e| format!(", first error: {e}"))
                .unwrap_or_default()
        );
    }
    let mut text = String::from("all 2xx");
    if let Some((name, expected)) = header {
        let share = result.header_count(expected) as f64 / result.requests.max(1) as f64;
        text = format!(
            "{name}: {expected} on {}",
            percent(result.header_count(expected) as f64, result.requests as f64)
        );
        if share < EXPECTED_SHARE {
            let _ = write!(problems, "{name} values {:?}; ", result.header_counts);
        }
    }
    if problems.is_empty() {
        Check::ok(text)
    } else {
        Check::warn(format!("{text}; {}", problems.trim_end_matches("; ")))
    }
}

/// A sample check first, then the load's own tally; a failed sample is
/// shown together with what the load saw.
fn combine(sample: Check, tally: Check) -> Check {
    if sample.ok {
        tally
    } else {
        Check::warn(format!("{}; load: {}", sample.text, tally.text))
    }
}

/// Runs a row and appends it (and any warning) to the report.
pub(crate) async fn row(
    report: &mut Report,
    name: &str,
    target: &str,
    plan: LoadArgs,
    sample: Check,
    header: Option<(&str, &str)>,
) -> Result<LoadResult> {
    eprintln!(
        "strata-bench: row '{name}' ({target}, {} s)...",
        plan.duration
    );
    if plan.pick == Pick::Fixed && !plan.burst {
        // Warm up connections, caches and the server's allocator so the
        // first row is not penalised for going first.
        let mut warmup = plan.clone();
        warmup.duration = (plan.duration / 4.0).min(WARMUP_MAX_SECONDS);
        load::run_child(&warmup)
            .await
            .with_context(|| format!("warming up row '{name}'"))?;
    }
    let result = load::run_child(&plan)
        .await
        .with_context(|| format!("row '{name}'"))?;
    let check = combine(sample, tally(&result, header));
    if !check.ok {
        report.warnings.push(format!("{name}: {}", check.text));
    }
    report.rows.push(Row {
        name: name.to_string(),
        target: target.to_string(),
        result: result.clone(),
        connections: plan.connections,
        check,
    });
    Ok(result)
}

/// Runs every side-by-side row.
pub async fn side_by_side(env: &Env, report: &mut Report) -> Result<()> {
    let d = env.args.duration;
    let strata = &env.strata;
    let dashboard_url = format!("{}{}", strata.url, servers::DASHBOARD_PATH);
    let hit_l1 = Some((CACHE_HEADER, "hit-l1"));

    // The ceiling.
    let hello_url = format!("{}/hello", env.hello.url);
    let check = sample(&hello_url, None).await;
    let hello = row(
        report,
        CEILING,
        "GET /hello",
        env.load(&env.hello.url, "/hello", d),
        check,
        None,
    )
    .await?;

    // Warm the dashboard in strata (the first call computes it from the
    // upstream and writes L1 and L2), then give the baseline the very
    // bytes strata serves.
    client::get_ok(&dashboard_url)
        .await
        .context("warming the dashboard")?;
    let warm = client::get_ok(&dashboard_url).await?;
    let baseline_server = servers::start_moka_baseline(warm.body.clone())?;
    let check = sample(
        &format!("{}{}", baseline_server.url, servers::DASHBOARD_PATH),
        hit_l1,
    )
    .await;
    row(
        report,
        BASELINE,
        "GET /api/crypto/dashboard-summary",
        env.load(&baseline_server.url, servers::DASHBOARD_PATH, d)
            .counting(CACHE_HEADER),
        check,
        hit_l1,
    )
    .await?;
    drop(baseline_server);

    // Strata, L1 hit.
    let check = sample(&dashboard_url, hit_l1).await;
    let peak = row(
        report,
        DASHBOARD_L1,
        "GET /api/crypto/dashboard-summary",
        env.load(&strata.url, servers::DASHBOARD_PATH, d)
            .counting(CACHE_HEADER),
        check,
        hit_l1,
    )
    .await?;

    // The same route open loop at half that peak: the latency target.
    dashboard_l1_half_peak(env, report, &strata.url, DASHBOARD_L1_HALF, peak.rps).await?;

    // Strata, L2 hit: a second instance on the same Redis whose L1 can
    // hold nothing (1 entry of at most 1 byte: every value outweighs the
    // whole L1, so moka evicts it at once and each read goes to Redis).
    dashboard_l2(env, report, d).await?;

    // The echo component: a fresh instance per request doing nothing, so
    // the row is the sandbox's fixed cost. Memory is read around it.
    let hit_echo = Some((ECHO_HEADER, "v1"));
    let echo_url = format!("{}/hello", strata.url);
    let check = sample(&echo_url, hit_echo).await;
    let rss_before = strata.rss_kib()?;
    let echo = row(
        report,
        ECHO,
        "GET /hello",
        env.load(&strata.url, "/hello", d).counting(ECHO_HEADER),
        check,
        hit_echo,
    )
    .await?;
    let rss_after = strata.rss_kib()?;

    market_miss(env, report).await?;

    // Per-request overhead, twice: under the row's load (includes queueing
    // at 32 connections) and at one connection (pure service time).
    let single = (d).min(SINGLE_MAX_SECONDS);
    let mut one = env.load(&env.hello.url, "/hello", single);
    one.connections = 1;
    eprintln!("strata-bench: single-connection latency probes ({single} s each)...");
    let hello_one = load::run_child(&one).await?;
    let mut one = env.load(&strata.url, "/hello", single);
    one.connections = 1;
    let echo_one = load::run_child(&one).await?;

    report.notes.push(format!(
        "Per-request instance overhead (echo p50 − hyper hello p50): {} at {} connections \
         ({} vs {}); {} at 1 connection ({} vs {}, {} vs {} req/s).",
        latency(echo.p50_us - hello.p50_us),
        env.args.connections,
        latency(echo.p50_us),
        latency(hello.p50_us),
        latency(echo_one.p50_us - hello_one.p50_us),
        latency(echo_one.p50_us),
        latency(hello_one.p50_us),
        crate::report::thousands(echo_one.rps),
        crate::report::thousands(hello_one.rps),
    ));
    report.notes.push(format!(
        "strata RSS (VmRSS) around the echo row: {:.1} MiB before, {:.1} MiB after {} requests \
         ({:+.1} MiB).",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        crate::report::thousands(echo.requests as f64),
        (rss_after as f64 - rss_before as f64) / 1024.0,
    ));
    Ok(())
}

/// Target check of the half-peak row: p99 ≤ 1 ms (information only).
fn half_peak_check(p99_us: f64) -> Check {
    if p99_us <= HALF_PEAK_P99_TARGET_US {
        Check::ok(format!("p99 ≤ 1 ms ok ({})", latency(p99_us)))
    } else {
        Check::warn(format!("p99 {} > 1 ms at half of peak", latency(p99_us)))
    }
}

/// The L1-hit route of the strata at `base` open loop at 50% of
/// `peak_rps` (the closed-loop row's req/s), latency from each request's
/// intended send time.
pub(crate) async fn dashboard_l1_half_peak(
    env: &Env,
    report: &mut Report,
    base: &str,
    name: &str,
    peak_rps: f64,
) -> Result<()> {
    let rate = peak_rps / 2.0;
    if !(rate.is_finite() && rate > 0.0) {
        report.warnings.push(format!(
            "{name}: skipped, the peak row measured {peak_rps} req/s"
        ));
        return Ok(());
    }
    let hit_l1 = Some((CACHE_HEADER, "hit-l1"));
    let check = sample(&format!("{base}{}", servers::DASHBOARD_PATH), hit_l1).await;
    let mut plan = env
        .load(base, servers::DASHBOARD_PATH, env.args.duration)
        .counting(CACHE_HEADER);
    plan.rate = Some(rate);
    let result = row(
        report,
        name,
        "GET /api/crypto/dashboard-summary",
        plan,
        check,
        hit_l1,
    )
    .await?;
    let target = half_peak_check(result.p99_us);
    if !target.ok {
        report.warnings.push(format!("{name}: {}", target.text));
    }
    if let Some(last) = report.rows.last_mut() {
        last.check = Check {
            ok: last.check.ok && target.ok,
            text: format!(
                "offered {} req/s; {}; {}",
                crate::report::thousands(rate),
                target.text,
                last.check.text
            ),
        };
    }
    Ok(())
}

async fn dashboard_l2(env: &Env, report: &mut Report, d: f64) -> Result<()> {
    let hit_l2 = Some((CACHE_HEADER, "hit-l2"));
    eprintln!("strata-bench: starting a strata instance whose L1 cannot serve the dashboard...");
    // Two measures, because either alone leaks L1 hits: a 1-entry, 1-byte
    // L1 evicts every promoted value, but only at moka's next maintenance,
    // so reads in between still hit; a dashboard TTL of 0 in this
    // instance's manifest makes a promoted copy stale at once, so L1 never
    // answers. The value itself comes from Redis, written by the main
    // instance with the normal TTL.
    let manifest =
        strata::write_l2_manifest(env.dir.path(), std::path::Path::new(test_programs::ECHO_V1))?;
    let l2_only = env.start_strata(
        &manifest,
        vec![
            ("CACHE_L1_CAPACITY", "1".into()),
            ("STRATA_CACHE_L1_MAX_BYTES", "1".into()),
        ],
    )?;
    let url = format!("{}{}", l2_only.url, servers::DASHBOARD_PATH);
    // Two samples: the second proves the first did not stick in L1.
    let first = sample(&url, hit_l2).await;
    let second = sample(&url, hit_l2).await;
    let check = combine(first, second);
    row(
        report,
        DASHBOARD_L2,
        "GET /api/crypto/dashboard-summary",
        env.load(&l2_only.url, servers::DASHBOARD_PATH, d)
            .counting(CACHE_HEADER),
        check,
        hit_l2,
    )
    .await?;
    Ok(())
}

/// Every request a distinct cold key, each costing one upstream call with
/// [`MISS_LATENCY_MS`] of simulated latency.
async fn market_miss(env: &Env, report: &mut Report) -> Result<()> {
    let miss = Some((CACHE_HEADER, "miss"));
    env.clear_cache().await?;
    env.set_upstream_latency(MISS_LATENCY_MS).await?;
    let outcome = async {
        // A named coin, so the synthetic ones all stay cold for the load.
        let check = sample(&format!("{}/api/market/btc", env.strata.url), miss).await;
        let paths: String = (16..=1000)
            .map(|n| format!("/api/market/c{n:04}\n"))
            .collect();
        let file = env.dir.path().join("miss-paths.txt");
        std::fs::write(&file, paths).with_context(|| format!("writing {}", file.display()))?;
        let mut plan = env.load(
            &env.strata.url,
            "/",
            env.args.duration.min(MISS_MAX_SECONDS),
        );
        plan.paths.clear();
        plan.paths_file = Some(file);
        plan.pick = Pick::Sequence;
        row(
            report,
            MARKET_MISS,
            "GET /api/market/{c0016..c1000}",
            plan.counting(CACHE_HEADER),
            check,
            miss,
        )
        .await
    }
    .await;
    // Restore the upstream even if the row failed.
    env.set_upstream_latency(0).await?;
    outcome.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(statuses: &[(u16, u64)], headers: &[(&str, u64)]) -> LoadResult {
        let mut r = LoadResult::default();
        for (s, n) in statuses {
            r.statuses.insert(*s, *n);
            r.requests += n;
        }
        for (h, n) in headers {
            r.header_counts.insert((*h).to_string(), *n);
        }
        r
    }

    #[test]
    fn tally_accepts_the_expected_header_everywhere() {
        let r = result(&[(200, 1_000)], &[("hit-l2", 1_000)]);
        let check = tally(&r, Some((CACHE_HEADER, "hit-l2")));
        assert!(check.ok, "{}", check.text);
    }

    #[test]
    fn tally_flags_rows_measuring_something_else() {
        let r = result(&[(200, 1_000)], &[("hit-l2", 800), ("hit-l1", 200)]);
        let check = tally(&r, Some((CACHE_HEADER, "hit-l2")));
        assert!(!check.ok);
        assert!(check.text.contains("hit-l1"), "{}", check.text);
    }

    #[test]
    fn half_peak_target_is_p99_of_one_millisecond() {
        assert!(half_peak_check(1_000.0).ok);
        let over = half_peak_check(2_500.0);
        assert!(!over.ok);
        assert_eq!(over.text, "p99 2.50 ms > 1 ms at half of peak");
    }

    #[test]
    fn tally_flags_failures() {
        let r = result(&[(200, 10), (502, 1)], &[]);
        assert!(!tally(&r, None).ok);
        assert!(!tally(&LoadResult::default(), None).ok);
    }
}

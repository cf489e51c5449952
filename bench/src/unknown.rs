//! What made-up symbols cost the upstream: a market mix where one request
//! in twenty asks for a symbol nobody lists, each a different one, as a
//! client probing (or wasting) the upstream's quota would send.
//!
//! Every known quote and the market component's symbol list are cached
//! before the run, and the run is shorter than the quotes' TTL, so every
//! upstream call made during it is one an unknown symbol caused. Before
//! negative caching and the symbol list, each unknown symbol was one call
//! (about 50 per 1,000 requests of this mix); the target is at most 1 per
//! 1,000 unknown ones.

use anyhow::{Context, Result};

use crate::load::{self, Pick};
use crate::report::{Check, Workload, percent};
use crate::rows::CACHE_HEADER;
use crate::run::Env;
use crate::zipf::{XorShift64, Zipf};

/// Share of requests for made-up symbols.
const UNKNOWN_SHARE: f64 = 0.05;
/// Requests in the mix (the run ends when they are used up).
const REQUESTS: usize = 60_000;
/// Longest run: well inside the market family's 60 s TTL, so the warmed
/// quotes stay fresh throughout.
const MAX_SECONDS: f64 = 40.0;
/// Target: upstream calls per 1,000 requests for unknown symbols.
const TARGET_PER_THOUSAND: f64 = 1.0;

/// The mix: Zipf(1.0) over the known symbols, and a distinct made-up
/// symbol for [`UNKNOWN_SHARE`] of the requests.
fn mix(symbols: &[String]) -> String {
    let mut rng = XorShift64::new(20);
    let zipf = Zipf::new(symbols.len(), 1.0);
    (0..REQUESTS)
        .map(|i| {
            if rng.next_f64() < UNKNOWN_SHARE {
                format!("/api/market/zznotlisted{i}\n")
            } else {
                format!("/api/market/{}\n", symbols[zipf.sample(&mut rng)])
            }
        })
        .collect()
}

pub async fn unknown_symbols(env: &Env, symbols: &[String]) -> Result<Workload> {
    let name = format!(
        "market mix with {:.0}% unknown symbols, each distinct",
        UNKNOWN_SHARE * 100.0
    );
    let write = |file: &str, text: String| -> Result<std::path::PathBuf> {
        let path = env.dir.path().join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    env.clear_cache().await?;
    let known: String = symbols
        .iter()
        .map(|s| format!("/api/market/{s}\n"))
        .collect();
    let mut warm = env.load(&env.strata.url, "/", MAX_SECONDS);
    warm.paths.clear();
    warm.paths_file = Some(write("known-paths.txt", known)?);
    warm.pick = Pick::Sequence;
    eprintln!("strata-bench: workload '{name}': caching the known quotes...");
    load::run_child(&warm).await?;

    let before = env.upstream_requests().await?;
    let mut plan = env.load(&env.strata.url, "/", MAX_SECONDS);
    plan.paths.clear();
    plan.paths_file = Some(write("unknown-mix-paths.txt", mix(symbols))?);
    plan.pick = Pick::Sequence;
    eprintln!("strata-bench: workload '{name}'...");
    let result = load::run_child(&plan.counting(CACHE_HEADER)).await?;
    let upstream = env.upstream_requests().await? - before;

    let status = |code: u16| result.statuses.get(&code).copied().unwrap_or(0);
    let (found, unknown) = (status(200), status(404));
    let other = result.requests - found - unknown;
    let per_thousand = |calls: u64, of: u64| {
        if of == 0 {
            0.0
        } else {
            calls as f64 * 1000.0 / of as f64
        }
    };
    let unknown_rate = per_thousand(upstream, unknown);
    let outcome = format!(
        "{} requests ({} unknown, {}): upstream calls {upstream}, {:.2} per 1,000 requests, \
         {unknown_rate:.2} per 1,000 unknown; remembered answers (hit-negative) {}",
        result.requests,
        unknown,
        percent(unknown as f64, result.requests as f64),
        per_thousand(upstream, result.requests),
        result.header_count("hit-negative"),
    );
    let check = if other > 0 || unknown == 0 {
        Check::warn(format!(
            "{other} answers were neither 200 nor 404, {unknown} were 404"
        ))
    } else if unknown_rate > TARGET_PER_THOUSAND {
        Check::warn(format!(
            "not met: {unknown_rate:.2} upstream calls per 1,000 unknown symbols \
             (target ≤ {TARGET_PER_THOUSAND})"
        ))
    } else {
        Check::ok(format!(
            "met: ≤ {TARGET_PER_THOUSAND} upstream call per 1,000 unknown symbols"
        ))
    };
    Ok(Workload {
        name,
        result: Some(result),
        outcome,
        check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_the_unknown_share_and_no_repeated_unknown_symbol() {
        let symbols: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
        let paths = mix(&symbols);
        let unknown: Vec<&str> = paths.lines().filter(|p| p.contains("zz")).collect();
        let share = unknown.len() as f64 / REQUESTS as f64;
        assert!((share - UNKNOWN_SHARE).abs() < 0.01, "{share}");
        let distinct: std::collections::HashSet<&&str> = unknown.iter().collect();
        assert_eq!(distinct.len(), unknown.len());
    }
}

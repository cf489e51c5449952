//! Clearing a family of 100k keys: the generation path (`clear_pattern`
//! of `family:*`, one bump) against the SCAN+UNLINK path it replaces
//! (`L2::clear_pattern`, which walks the keyspace), on a private Redis
//! started for the run. Reports each path's wall time and the commands the
//! server ran for it (`INFO commandstats`, script-internal ones included),
//! and the ratios; the machine's noise moves the times, not the counts.
//!
//! `cargo bench -p strata-cache --bench family_clear`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use strata_backplane::{Backplane, Namespace, Timeouts, Topology};
use strata_cache::{CacheSettings, L1Limits, L2, TieredCache};
use strata_testkit::Redis;

const KEYS: usize = 100_000;
const ROUNDS: usize = 3;

fn settings() -> CacheSettings {
    CacheSettings {
        l1: L1Limits {
            max_entries: 10_000,
            max_bytes: 64 << 20,
        },
        l1_ttl: Duration::from_secs(600),
        l2_ttl: Duration::from_secs(600),
        stale_grace: Duration::ZERO,
        max_value_bytes: 1 << 20,
        l1_max_value_bytes: 1 << 20,
        max_ttl: Duration::from_secs(3600),
        families: BTreeMap::new(),
        flight_wait: Duration::from_secs(10),
        negative_ttl: Duration::from_secs(30),
        hot: strata_cache::HotKeySettings::default(),
    }
}

fn l2(redis: &Redis) -> L2 {
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_secs(10),
    };
    let backplane = Backplane::new(
        Topology::Standalone(redis.url()),
        timeouts,
        Namespace::default(),
    )
    .expect("backplane");
    L2::new(backplane, Duration::from_secs(60))
}

/// `fam:0..KEYS`, pipelined, under the family's current generation (as
/// the host names them: `fam@N:i`), so they are the family's live keys.
fn seed(conn: &mut redis::Connection) {
    let generation: Option<u64> = redis::cmd("HGET")
        .arg("strata:host:cache:families")
        .arg("g:fam")
        .query(conn)
        .expect("HGET");
    let family = match generation {
        Some(g) if g > 0 => format!("fam@{g}"),
        _ => "fam".to_string(),
    };
    for start in (0..KEYS).step_by(10_000) {
        let mut pipe = redis::pipe();
        for i in start..(start + 10_000).min(KEYS) {
            pipe.cmd("SET")
                .arg(strata_testkit::l2_key(&format!("{family}:{i}")))
                .arg("v")
                .arg("EX")
                .arg(600)
                .ignore();
        }
        pipe.query::<()>(conn).expect("seed");
    }
}

fn commands_run(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(conn)
        .expect("INFO");
    info.lines()
        .filter(|line| !line.starts_with("cmdstat_info:"))
        .filter_map(|line| {
            line.split_once("calls=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Median wall time and command count of `ROUNDS` clears, each of a
/// freshly seeded family.
async fn measure<F: Future<Output = ()>>(
    conn: &mut redis::Connection,
    mut clear: impl FnMut() -> F,
) -> (Duration, u64) {
    let mut runs = Vec::new();
    for _ in 0..ROUNDS {
        seed(conn);
        let before = commands_run(conn);
        let started = Instant::now();
        clear().await;
        let took = started.elapsed();
        runs.push((took, commands_run(conn) - before));
    }
    runs.sort();
    runs[ROUNDS / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let redis = match Redis::start() {
        Ok(redis) => redis,
        Err(e) => {
            eprintln!("family_clear: no private Redis ({e:#}); skipped");
            return;
        }
    };
    let mut conn = redis.connection();
    runtime.block_on(async {
        let cache = TieredCache::new(settings(), Some(l2(&redis)));
        let scan = l2(&redis);
        // Warm both (script cached, subscription made) so the rows count
        // the steady state.
        cache.clear_pattern("warm:*").await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        let (generation_time, generation_commands) = measure(&mut conn, || async {
            let cleared = cache.clear_pattern("fam:*").await;
            assert!(cleared.generation.is_some(), "{cleared:?}");
        })
        .await;
        let (scan_time, scan_commands) = measure(&mut conn, || async {
            let removed = scan.clear_pattern("fam:*").await.expect("scan clear");
            assert_eq!(removed, KEYS as u64);
        })
        .await;
        println!("family clear of {KEYS} keys (median of {ROUNDS}):");
        println!(
            "  generation bump : {:>10.3} ms, {generation_commands:>6} Redis commands",
            generation_time.as_secs_f64() * 1e3
        );
        println!(
            "  SCAN + UNLINK   : {:>10.3} ms, {scan_commands:>6} Redis commands",
            scan_time.as_secs_f64() * 1e3
        );
        println!(
            "  ratio (scan / generation): time {:.0}x, commands {:.0}x",
            scan_time.as_secs_f64() / generation_time.as_secs_f64().max(1e-9),
            scan_commands as f64 / generation_commands.max(1) as f64
        );
    });
}

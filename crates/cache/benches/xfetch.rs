//! Early refresh (XFetch) against plain expiry, on a Zipf workload.
//!
//! 16 readers look up 1000 keys drawn Zipf(1) for a fixed time, each key
//! fresh for 1 s and costing 2 ms to compute, so every key read at least
//! once a second expires several times in a run. Each mode (early refresh
//! off, on with beta 1, on with beta 4) runs against a fresh L1-only cache
//! (early refresh is L1 logic; Redis would only add its latency): a warm-up
//! of two TTLs, then the measured window. Reported per mode, for the hot,
//! warm and tail keys and for all:
//!
//! - misses at expiry: lookups that found the key's value expired and
//!   computed it (a lease offering the expired copy), or waited for another
//!   caller's computation of a key that had a value before (a hit whose
//!   value was filled after the lookup began; their total is checked
//!   against the cache's own `coalesced_waits`);
//! - cold misses (a key's first computation, or a wait on it), early
//!   refreshes, and computes (upstream calls: expiry misses plus early
//!   refreshes);
//! - request latency (the lookup, plus compute and fill when leased) p50,
//!   p99, p99.9;
//!
//! and the ratios of each "on" row to "off". Readers pause 1 ms between
//! requests so the load is steady rather than CPU-bound.
//!
//! `cargo bench -p strata-cache --bench xfetch`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use strata_cache::{CacheSettings, FamilyPolicy, L1Limits, Lookup, TieredCache};

const KEYS: usize = 1000;
const READERS: usize = 16;
const COMPUTE: Duration = Duration::from_millis(2);
const TTL_SECONDS: u64 = 1;
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURED: Duration = Duration::from_secs(8);

/// A xorshift64* generator (as in `bench/src/zipf.rs`): seeded, so every
/// mode sees the same key sequence per reader.
struct XorShift64(u64);

impl XorShift64 {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(s) over ranks `0..n` by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let weights: Vec<f64> = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                sum += w / total;
                sum
            })
            .collect();
        Self { cdf }
    }

    fn sample(&self, rng: &mut XorShift64) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

fn settings(early_refresh_beta: Option<f64>) -> CacheSettings {
    let mut families = BTreeMap::new();
    families.insert(
        "zipf".to_string(),
        FamilyPolicy {
            ttl_seconds: TTL_SECONDS,
            l1_only: true,
            max_ttl_seconds: None,
            negative_ttl_seconds: None,
            early_refresh: early_refresh_beta.is_some(),
            early_refresh_beta,
        },
    );
    CacheSettings {
        l1: L1Limits {
            max_entries: 100_000,
            max_bytes: 64 << 20,
        },
        l1_ttl: Duration::from_secs(TTL_SECONDS),
        l2_ttl: Duration::from_secs(TTL_SECONDS),
        // Long enough that an expired value is still offered as stale.
        stale_grace: Duration::from_secs(60),
        max_value_bytes: 1 << 20,
        l1_max_value_bytes: 1 << 20,
        max_ttl: Duration::from_secs(3600),
        families,
        flight_wait: Duration::from_secs(10),
        negative_ttl: Duration::from_secs(30),
        hot: strata_cache::HotKeySettings::default(),
    }
}

/// Key ranks grouped by how hot they are: Zipf(1) over 1000 keys at this
/// load reads the top 10 hundreds of times per TTL, ranks 10-99 a few
/// times to tens, the tail about once or less.
const BUCKETS: [(&str, std::ops::Range<usize>); 3] = [
    ("hot 0-9", 0..10),
    ("warm 10-99", 10..100),
    ("tail 100+", 100..KEYS),
];

fn bucket(rank: usize) -> usize {
    BUCKETS
        .iter()
        .position(|(_, ranks)| ranks.contains(&rank))
        .unwrap_or(BUCKETS.len() - 1)
}

/// What the readers saw of one bucket in the measured window.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u32>,
    /// Leases offering an expired copy: the value expired and this caller
    /// computes it.
    expiry_computes: u64,
    /// Hits on a value filled after the lookup began: the caller waited
    /// for another's computation of a key that had a value before.
    expiry_waits: u64,
    /// First computations of a key (and waits on them).
    cold: u64,
    early: u64,
}

impl Seen {
    fn add(&mut self, other: Seen) {
        self.latencies_us.extend(other.latencies_us);
        self.expiry_computes += other.expiry_computes;
        self.expiry_waits += other.expiry_waits;
        self.cold += other.cold;
        self.early += other.early;
    }
}

/// Shared by the readers: which keys ever had a value, and the fill
/// sequence each value carries in its first 8 bytes.
struct World {
    cache: TieredCache,
    keys: Vec<String>,
    zipf: Zipf,
    filled: Vec<AtomicBool>,
    fills: AtomicU64,
}

impl World {
    fn value(&self) -> Bytes {
        let mut value = vec![b'x'; 512];
        let sequence = self.fills.fetch_add(1, Ordering::SeqCst) + 1;
        value[..8].copy_from_slice(&sequence.to_be_bytes());
        Bytes::from(value)
    }
}

fn sequence(value: &Bytes) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&value[..8]);
    u64::from_be_bytes(bytes)
}

async fn reader(world: Arc<World>, seed: u64, measure_from: Instant, until: Instant) -> [Seen; 3] {
    let mut rng = XorShift64::new(seed);
    let mut seen: [Seen; 3] = Default::default();
    while Instant::now() < until {
        let rank = world.zipf.sample(&mut rng);
        let key = &world.keys[rank];
        let started = Instant::now();
        let measured = started >= measure_from;
        let had_value = world.filled[rank].load(Ordering::SeqCst);
        let fills_before = world.fills.load(Ordering::SeqCst);
        let seen = &mut seen[bucket(rank)];
        match world.cache.get_or_lease(key).await.expect("lookup") {
            Lookup::Hit(hit) => {
                if measured && sequence(&hit.value) > fills_before {
                    if had_value {
                        seen.expiry_waits += 1;
                    } else {
                        seen.cold += 1;
                    }
                }
            }
            Lookup::Negative(_) => unreachable!("nothing is remembered"),
            Lookup::Compute(lease) => {
                if measured {
                    let counter = match (lease.early(), lease.stale().is_some()) {
                        (true, _) => &mut seen.early,
                        (false, true) => &mut seen.expiry_computes,
                        (false, false) => &mut seen.cold,
                    };
                    *counter += 1;
                }
                tokio::time::sleep(COMPUTE).await;
                let value = world.value();
                world.cache.fill(lease, value, None).await.expect("fill");
                world.filled[rank].store(true, Ordering::SeqCst);
            }
        }
        if measured {
            let us = started.elapsed().as_micros();
            seen.latencies_us
                .push(u32::try_from(us).unwrap_or(u32::MAX));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    seen
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

/// One mode's figures for one bucket (or all).
struct Row {
    lookups: u64,
    misses_at_expiry: u64,
    waits: u64,
    cold: u64,
    early: u64,
    computes: u64,
    p50: u32,
    p99: u32,
    p999: u32,
}

impl Row {
    fn of(mut seen: Seen) -> Self {
        seen.latencies_us.sort_unstable();
        Self {
            lookups: seen.latencies_us.len() as u64,
            misses_at_expiry: seen.expiry_computes + seen.expiry_waits,
            waits: seen.expiry_waits,
            cold: seen.cold,
            early: seen.early,
            computes: seen.expiry_computes + seen.early,
            p50: percentile(&seen.latencies_us, 0.50),
            p99: percentile(&seen.latencies_us, 0.99),
            p999: percentile(&seen.latencies_us, 0.999),
        }
    }
}

/// Runs one mode; returns a row per bucket, then one for all keys, and
/// the cache's own count of waits (a check on the readers' count).
async fn run(beta: Option<f64>) -> (Vec<Row>, u64) {
    let world = Arc::new(World {
        cache: TieredCache::new(settings(beta), None),
        keys: (0..KEYS).map(|k| format!("zipf:{k}")).collect(),
        zipf: Zipf::new(KEYS, 1.0),
        filled: (0..KEYS).map(|_| AtomicBool::new(false)).collect(),
        fills: AtomicU64::new(0),
    });
    let start = Instant::now();
    let measure_from = start + WARM_UP;
    let until = measure_from + MEASURED;
    let readers: Vec<_> = (0..READERS)
        .map(|i| tokio::spawn(reader(world.clone(), i as u64 + 1, measure_from, until)))
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let before = world.cache.stats().await.coalesced_waits;
    let mut buckets: [Seen; 3] = Default::default();
    for reader in readers {
        for (total, seen) in buckets.iter_mut().zip(reader.await.expect("reader")) {
            total.add(seen);
        }
    }
    let waits = world.cache.stats().await.coalesced_waits - before;
    let mut all = Seen::default();
    let mut rows = Vec::new();
    for seen in buckets {
        all.latencies_us.extend(&seen.latencies_us);
        all.expiry_computes += seen.expiry_computes;
        all.expiry_waits += seen.expiry_waits;
        all.cold += seen.cold;
        all.early += seen.early;
        rows.push(Row::of(seen));
    }
    rows.push(Row::of(all));
    (rows, waits)
}

fn ratio(on: u64, off: u64) -> String {
    if off == 0 {
        "-".to_string()
    } else {
        format!("{:.2}", on as f64 / off as f64)
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not and
    // should not spend half a minute here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let modes = [("off", None), ("beta 1", Some(1.0)), ("beta 4", Some(4.0))];
    let results: Vec<(Vec<Row>, u64)> = runtime.block_on(async {
        let mut results = Vec::new();
        for (_, beta) in modes {
            results.push(run(beta).await);
        }
        results
    });
    println!(
        "xfetch: {KEYS} keys Zipf(1), {READERS} readers, TTL {TTL_SECONDS} s, compute {} ms, {} s measured",
        COMPUTE.as_millis(),
        MEASURED.as_secs()
    );
    println!(
        "{:<7} {:<11} {:>8} {:>9} {:>7} {:>6} {:>6} {:>8} {:>6} {:>7} {:>7}",
        "mode",
        "keys",
        "lookups",
        "miss@exp",
        "(waits)",
        "cold",
        "early",
        "computes",
        "p50 us",
        "p99 us",
        "p999 us"
    );
    let names = BUCKETS.iter().map(|(name, _)| *name).chain(["all"]);
    for ((mode, _), (rows, waits)) in modes.iter().zip(&results) {
        for (keys, r) in names.clone().zip(rows) {
            println!(
                "{:<7} {:<11} {:>8} {:>9} {:>7} {:>6} {:>6} {:>8} {:>6} {:>7} {:>7}",
                mode,
                keys,
                r.lookups,
                r.misses_at_expiry,
                r.waits,
                r.cold,
                r.early,
                r.computes,
                r.p50,
                r.p99,
                r.p999
            );
        }
        println!("{mode:<7} (the cache counted {waits} coalesced waits)");
    }
    let off = &results[0].0;
    for ((mode, _), (rows, _)) in modes.iter().zip(&results).skip(1) {
        for ((keys, on), off) in names.clone().zip(rows).zip(off) {
            println!(
                "{mode} / off, {keys}: misses at expiry {}, computes {}, p99 {}, p99.9 {}",
                ratio(on.misses_at_expiry, off.misses_at_expiry),
                ratio(on.computes, off.computes),
                ratio(u64::from(on.p99), u64::from(off.p99)),
                ratio(u64::from(on.p999), u64::from(off.p999)),
            );
        }
    }
}

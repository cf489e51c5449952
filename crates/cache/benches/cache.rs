//! The tiered cache against the raw stores it is built from, in one run.
//!
//! Baselines: a bare moka `get` and a bare Redis `GET` over the same kind of
//! connection. Measured paths: an L1 hit, an L2 hit (L1 evicted first, so the
//! promotion is included), a miss that computes and fills, and a coalesced
//! miss (8 concurrent callers, one computes); ten keys looked up in one
//! batch against ten single lookups, from L2 and from L1. Redis comes from
//! `REDIS_URL` (default `redis://127.0.0.1:6379/`); without it the L2 rows
//! are skipped.
//!
//! `cargo bench -p strata-cache --bench cache`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use strata_backplane::{Backplane, Namespace, Timeouts, Topology};
use strata_cache::FamilyPolicy;
use strata_cache::{CacheSettings, HotKeySettings, L1Limits, L2, Lookup, TieredCache};

/// A dashboard-sized value (the real summary is about 2 KiB of JSON).
fn value() -> Bytes {
    Bytes::from(vec![b'x'; 2048])
}

fn settings() -> CacheSettings {
    let mut families = BTreeMap::new();
    families.insert(
        "bench".to_string(),
        FamilyPolicy {
            ttl_seconds: 600,
            l1_only: false,
            max_ttl_seconds: None,
            negative_ttl_seconds: None,
            early_refresh: false,
            early_refresh_beta: None,
        },
    );
    CacheSettings {
        l1: L1Limits {
            max_entries: 100_000,
            max_bytes: 512 << 20,
        },
        l1_ttl: Duration::from_secs(600),
        l2_ttl: Duration::from_secs(600),
        stale_grace: Duration::from_secs(60),
        max_value_bytes: 1 << 20,
        l1_max_value_bytes: 1 << 20,
        max_ttl: Duration::from_secs(86_400),
        families,
        flight_wait: Duration::from_secs(10),
        negative_ttl: Duration::from_secs(30),
        hot: HotKeySettings::default(),
    }
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let mut group = c.benchmark_group("cache");

    // Baseline: raw moka.
    let moka: moka::future::Cache<String, Bytes> = moka::future::Cache::new(100_000);
    runtime.block_on(moka.insert("bench:key".into(), value()));
    group.bench_function("raw_moka_get", |b| {
        b.to_async(&runtime)
            .iter(|| async { moka.get("bench:key").await })
    });

    // L1 hit through the tiered cache, L1 only.
    let l1_only = TieredCache::new(settings(), None);
    runtime.block_on(async {
        l1_only.set("bench:key", value(), None).await.expect("set");
    });
    group.bench_function("tiered_l1_hit", |b| {
        b.to_async(&runtime)
            .iter(|| async { l1_only.get("bench:key").await })
    });

    // A miss that computes and fills (unique keys, L1 only).
    let counter = Arc::new(AtomicU64::new(0));
    group.bench_function("tiered_miss_and_fill", |b| {
        b.to_async(&runtime).iter(|| async {
            let key = format!("bench:miss:{}", counter.fetch_add(1, Ordering::Relaxed));
            if let Ok(Lookup::Compute(lease)) = l1_only.get_or_lease(&key).await {
                let _ = l1_only.fill(lease, value(), None).await;
            }
        })
    });

    // Coalesced miss: 8 callers at once, one computes, seven wait.
    let shared = Arc::new(TieredCache::new(settings(), None));
    group.bench_function("tiered_coalesced_miss_8_callers", |b| {
        b.to_async(&runtime).iter(|| {
            let shared = shared.clone();
            let key = format!("bench:flight:{}", counter.fetch_add(1, Ordering::Relaxed));
            async move {
                let callers = (0..8).map(|_| {
                    let shared = shared.clone();
                    let key = key.clone();
                    tokio::spawn(async move {
                        if let Ok(Lookup::Compute(lease)) = shared.get_or_lease(&key).await {
                            tokio::task::yield_now().await;
                            let _ = shared.fill(lease, value(), None).await;
                        }
                    })
                });
                for caller in callers {
                    let _ = caller.await;
                }
            }
        })
    });

    // Redis rows: raw GET and an L2 hit (with promotion).
    let redis = runtime.block_on(async {
        let client = redis::Client::open(redis_url()).ok()?;
        let mut conn = client.get_connection_manager().await.ok()?;
        redis::cmd("SET")
            .arg("bench:raw")
            .arg(value().as_ref())
            .query_async::<()>(&mut conn)
            .await
            .ok()?;
        Some(conn)
    });
    match redis {
        None => eprintln!("skipping Redis rows: no Redis at {}", redis_url()),
        Some(conn) => {
            group.bench_function("raw_redis_get", |b| {
                b.to_async(&runtime).iter(|| {
                    let mut conn = conn.clone();
                    async move {
                        redis::cmd("GET")
                            .arg("bench:raw")
                            .query_async::<Option<Vec<u8>>>(&mut conn)
                            .await
                    }
                })
            });
            let tiered = runtime.block_on(async {
                let timeouts = Timeouts {
                    connect: Duration::from_millis(500),
                    response: Duration::from_millis(500),
                };
                let backplane = Backplane::new(
                    Topology::Standalone(redis_url()),
                    timeouts,
                    Namespace::default(),
                )
                .expect("redis url");
                let l2 = L2::new(backplane, Duration::from_millis(500));
                let cache = TieredCache::new(settings(), Some(l2));
                cache.set("bench:l2", value(), None).await.expect("set");
                // Let the background write-through land before measuring.
                tokio::time::sleep(Duration::from_millis(200)).await;
                cache
            });
            // Only the read is timed; the eviction before it is not.
            group.bench_function("tiered_l2_hit_with_promotion", |b| {
                b.to_async(&runtime).iter_custom(|iters| {
                    let tiered = &tiered;
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            tiered.evict_l1("bench:l2").await;
                            let started = Instant::now();
                            std::hint::black_box(tiered.get("bench:l2").await);
                            total += started.elapsed();
                        }
                        total
                    }
                })
            });
            // Ten keys in L2 only: one batch against ten single lookups,
            // each promotion included (the L1 copies are evicted untimed).
            let keys: Vec<String> = (0..10).map(|n| format!("bench:batch:{n}")).collect();
            runtime.block_on(async {
                for key in &keys {
                    tiered.set(key, value(), None).await.expect("set");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            });
            group.bench_function("ten_l2_hits_one_batch", |b| {
                b.to_async(&runtime).iter_custom(|iters| {
                    let (tiered, keys) = (&tiered, &keys);
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            evict_all(tiered, keys).await;
                            let started = Instant::now();
                            std::hint::black_box(tiered.get_many_or_lease(keys).await.ok());
                            total += started.elapsed();
                        }
                        total
                    }
                })
            });
            group.bench_function("ten_l2_hits_ten_lookups", |b| {
                b.to_async(&runtime).iter_custom(|iters| {
                    let (tiered, keys) = (&tiered, &keys);
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            evict_all(tiered, keys).await;
                            let started = Instant::now();
                            for key in keys {
                                std::hint::black_box(tiered.get_or_lease(key).await.ok());
                            }
                            total += started.elapsed();
                        }
                        total
                    }
                })
            });
            group.bench_function("ten_l1_hits_one_batch", |b| {
                b.to_async(&runtime).iter(|| async {
                    std::hint::black_box(tiered.get_many_or_lease(&keys).await.ok())
                })
            });
            group.bench_function("ten_l1_hits_ten_lookups", |b| {
                b.to_async(&runtime).iter(|| async {
                    for key in &keys {
                        std::hint::black_box(tiered.get_or_lease(key).await.ok());
                    }
                })
            });
        }
    }
    group.finish();
}

/// Drops the L1 copies of `keys`, so the next lookups go to Redis.
async fn evict_all(tiered: &TieredCache, keys: &[String]) {
    for key in keys {
        tiered.evict_l1(key).await;
    }
}

criterion_group!(cache, benches);
criterion_main!(cache);

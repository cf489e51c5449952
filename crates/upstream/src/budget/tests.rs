//! Budgets as calls see them: which entry covers a URL, what is counted,
//! and (against a private Redis) one bucket shared by several hosts.

use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).expect("test URL")
}

fn budgets(entries: &[(&str, &str, Option<u32>)]) -> Budgets {
    Budgets::new(
        entries
            .iter()
            .map(|(host, rate, burst)| UpstreamBudget::new(host, rate, *burst).expect("entry"))
            .collect(),
    )
}

#[test]
fn burst_defaults_to_the_rate_and_zero_is_refused() {
    let entry = UpstreamBudget::new("api.example.com", "30/min", None).expect("entry");
    assert_eq!(entry.burst(), 30);
    assert_eq!(
        UpstreamBudget::new("api.example.com", "30/min", Some(0)),
        Err(BudgetError::ZeroBurst)
    );
    assert!(matches!(
        UpstreamBudget::new("ftp://x", "1/s", None),
        Err(BudgetError::BadHost { .. })
    ));
}

#[tokio::test]
async fn a_spent_budget_refuses_with_the_wait_and_counts_it() {
    let budgets = budgets(&[("https://api.example.com", "1/s", Some(2))]);
    let api = url("https://api.example.com/v3/x");
    assert_eq!(budgets.admit(&api, "c", "api.example.com").await, Ok(()));
    assert_eq!(budgets.admit(&api, "c", "api.example.com").await, Ok(()));
    let wait = budgets
        .admit(&api, "c", "api.example.com")
        .await
        .expect_err("spent");
    assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
    let stats = budgets.stats();
    assert_eq!(stats.len(), 1);
    assert_eq!((stats[0].admitted, stats[0].denied), (2, 1));
    assert_eq!(stats[0].rate.as_deref(), Some("1/s"));
}

#[tokio::test]
async fn hosts_without_a_budget_are_not_limited() {
    let budgets = budgets(&[("https://api.example.com", "1/s", Some(1))]);
    let other = url("https://other.example.com/");
    for _ in 0..10 {
        assert_eq!(
            budgets.admit(&other, "c", "other.example.com").await,
            Ok(())
        );
    }
    let wrong_port = url("http://api.example.com/");
    assert_eq!(
        budgets.admit(&wrong_port, "c", "api.example.com").await,
        Ok(())
    );
}

#[tokio::test]
async fn an_entry_pinned_to_the_port_wins_over_the_whole_host() {
    let budgets = budgets(&[
        ("api.example.com", "100/s", None),
        ("api.example.com:8443", "1/s", Some(1)),
    ]);
    let pinned = url("https://api.example.com:8443/");
    assert_eq!(budgets.admit(&pinned, "c", "api.example.com").await, Ok(()));
    assert!(
        budgets
            .admit(&pinned, "c", "api.example.com")
            .await
            .is_err()
    );
    let other_port = url("https://api.example.com/");
    assert_eq!(
        budgets.admit(&other_port, "c", "api.example.com").await,
        Ok(())
    );
}

#[tokio::test]
async fn a_429_hold_empties_a_budgeted_bucket() {
    let budgets = budgets(&[("api.example.com", "100/s", None)]);
    let api = url("https://api.example.com/");
    budgets
        .hold(&api, "c", "api.example.com", Duration::from_secs(5))
        .await;
    let wait = budgets
        .admit(&api, "c", "api.example.com")
        .await
        .expect_err("held");
    assert!(wait > Duration::from_secs(4), "{wait:?}");
    assert_eq!(budgets.stats()[0].holds, 1);
}

#[tokio::test]
async fn a_429_hold_stops_an_unbudgeted_upstream_by_its_allow_list_entry() {
    let budgets = Budgets::default();
    let api = url("http://127.0.0.1:9100/api");
    budgets
        .hold(&api, "c", "127.0.0.1:9100", Duration::from_secs(5))
        .await;
    assert!(budgets.admit(&api, "c", "127.0.0.1:9100").await.is_err());
    assert_eq!(
        budgets.admit(&url("http://other/"), "c", "other").await,
        Ok(()),
        "another entry is not held"
    );
    assert_eq!(
        budgets
            .admit(&api, "another-component", "127.0.0.1:9100")
            .await,
        Ok(()),
        "nor another component without a shared budget"
    );
    let stats = budgets.stats();
    assert_eq!(stats[0].upstream, "127.0.0.1:9100");
    assert_eq!((stats[0].rate.as_deref(), stats[0].holds), (None, 1));
}

/// A backplane on `redis`, as the host builds one.
fn backplane(redis: &strata_testkit::Redis) -> Arc<Backplane> {
    let timeouts = strata_backplane::Timeouts {
        connect: Duration::from_millis(500),
        response: Duration::from_millis(250),
    };
    Backplane::new(
        strata_backplane::Topology::Standalone(redis.url()),
        timeouts,
        strata_backplane::Namespace::default(),
    )
    .expect("backplane")
}

fn shared(redis: &strata_testkit::Redis, rate: &str, burst: u32) -> Budgets {
    budgets(&[("api.example.com", rate, Some(burst))])
        .shared_through(backplane(redis), Duration::from_millis(250))
}

#[tokio::test]
async fn hosts_sharing_redis_share_one_bucket() {
    let redis = strata_testkit::Redis::start().expect("redis");
    let hosts = [
        shared(&redis, "1/min", 3),
        shared(&redis, "1/min", 3),
        shared(&redis, "1/min", 3),
    ];
    let api = url("https://api.example.com/");
    let mut admitted = 0;
    for _ in 0..4 {
        for host in &hosts {
            if host.admit(&api, "c", "api.example.com").await.is_ok() {
                admitted += 1;
            }
        }
    }
    assert_eq!(admitted, 3, "one burst for all three, not one each");
    let wait = hosts[0]
        .admit(&api, "c", "api.example.com")
        .await
        .expect_err("spent");
    assert!(wait > Duration::from_secs(50), "about a minute: {wait:?}");
    assert_eq!(hosts[0].fallbacks(), 0, "every decision came from Redis");
    let ttl: i64 = redis::cmd("PTTL")
        .arg("strata:host:budget:api.example.com")
        .query(&mut redis.connection())
        .expect("PTTL");
    assert!(
        ttl > 0 && ttl <= 181_000,
        "expires once full again: {ttl} ms"
    );
}

#[tokio::test]
async fn a_429_hold_in_one_host_holds_the_others() {
    let redis = strata_testkit::Redis::start().expect("redis");
    let (a, b) = (shared(&redis, "100/s", 100), shared(&redis, "100/s", 100));
    let api = url("https://api.example.com/");
    a.hold(&api, "c", "api.example.com", Duration::from_millis(1500))
        .await;
    let wait = b
        .admit(&api, "c", "api.example.com")
        .await
        .expect_err("held elsewhere");
    assert!(wait > Duration::from_millis(1000), "{wait:?}");
    tokio::time::sleep(wait).await;
    assert_eq!(
        b.admit(&api, "c", "api.example.com").await,
        Ok(()),
        "one call exactly at the hold's end"
    );
}

#[tokio::test]
async fn without_redis_the_local_bucket_decides_quickly() {
    let redis = strata_testkit::Redis::start().expect("redis");
    let budgets = shared(&redis, "1/min", 2);
    drop(redis);
    let api = url("https://api.example.com/");
    let started = Instant::now();
    let verdicts = [
        budgets.admit(&api, "c", "api.example.com").await,
        budgets.admit(&api, "c", "api.example.com").await,
        budgets.admit(&api, "c", "api.example.com").await,
    ];
    assert!(verdicts[0].is_ok() && verdicts[1].is_ok() && verdicts[2].is_err());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(budgets.fallbacks(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_shares_the_bucket_too() {
    let cluster = strata_testkit::RedisCluster::start().expect("cluster");
    let seeds: Vec<String> = cluster.urls().split(',').map(str::to_string).collect();
    let timeouts = strata_backplane::Timeouts {
        connect: Duration::from_millis(500),
        response: Duration::from_millis(500),
    };
    let host = || {
        let backplane = Backplane::new(
            strata_backplane::Topology::Cluster(seeds.clone()),
            timeouts,
            strata_backplane::Namespace::default(),
        )
        .expect("backplane");
        budgets(&[("api.example.com", "1/min", Some(2))])
            .shared_through(backplane, Duration::from_millis(500))
    };
    let (a, b) = (host(), host());
    let api = url("https://api.example.com/");
    assert_eq!(a.admit(&api, "c", "api.example.com").await, Ok(()));
    assert_eq!(b.admit(&api, "c", "api.example.com").await, Ok(()));
    assert!(a.admit(&api, "c", "api.example.com").await.is_err());
    assert_eq!(a.fallbacks() + b.fallbacks(), 0, "the cluster answered");
}

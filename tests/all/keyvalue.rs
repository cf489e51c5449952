//! The standard `wasi:keyvalue` interfaces on the tiered cache, from a
//! component built from the upstream WIT only (`test-keyvalue`): buckets
//! are granted key prefixes, keys cannot leave them, increments are atomic
//! across instances sharing Redis, and a component importing the
//! interface without a grant is refused at deploy. Both drafts are
//! exercised: `0.2.0-draft2` at `/kv/...`, `0.2.0-draft` at `/d/kv/...`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::support::echo::{echo_host, upload, wasm};
use crate::support::{Backend, Host, Reply, Services, http};

/// The manifest of both keyvalue components, with `grant` as their
/// `keyvalue` table (or none when empty) and a `session` family.
fn manifest(services: &Services, grant: &str) -> String {
    let grant = if grant.is_empty() {
        String::new()
    } else {
        format!("keyvalue = {grant}\n")
    };
    let text = format!(
        "[components.kv]\nsource = {:?}\n{grant}\n[components.kvdraft]\nsource = {:?}\n{grant}\n\
         [[routes]]\npath = \"/kv/*\"\ncomponent = \"kv\"\n\n\
         [[routes]]\npath = \"/d/kv/*\"\ncomponent = \"kvdraft\"\n\n\
         [cache.families.session]\nttl_seconds = 120\n",
        test_programs::KEYVALUE,
        test_programs::KEYVALUE_DRAFT,
    );
    let path = services.dir.path().join("keyvalue.toml");
    std::fs::write(&path, text).expect("write manifest");
    path.to_str().expect("utf-8 path").to_string()
}

/// A host serving both components with bucket `default` = `session:`.
fn kv_host(services: &Services) -> Host {
    let path = manifest(services, "{ default = \"session:\" }");
    services.host_with(&[("STRATA_MANIFEST", &path)])
}

async fn put(host: &Host, path: &str, body: &str) -> Reply {
    let response = http()
        .put(format!("{}{path}", host.url))
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
    Reply::from(response).await
}

fn answer(reply: &Reply) -> (u16, &str) {
    (reply.status, reply.body.as_str())
}

/// Set, get, exists, list and delete through `base` (`/kv` or `/d/kv`).
async fn round_trip(host: &Host, base: &str) {
    assert_eq!(
        answer(&put(host, &format!("{base}/set/default/a"), "1").await),
        (200, "ok")
    );
    assert_eq!(
        answer(&put(host, &format!("{base}/set/default/b"), "2").await),
        (200, "ok")
    );
    assert_eq!(
        answer(&host.get(&format!("{base}/get/default/a")).await),
        (200, "1")
    );
    assert_eq!(
        answer(&host.get(&format!("{base}/exists/default/a")).await),
        (200, "true")
    );
    assert_eq!(
        answer(&host.get(&format!("{base}/exists/default/zz")).await),
        (200, "false")
    );
    assert_eq!(
        answer(&host.get(&format!("{base}/list/default")).await),
        (200, "a\nb")
    );
    assert_eq!(
        answer(&host.get(&format!("{base}/delete/default/a")).await),
        (200, "ok")
    );
    assert_eq!(host.get(&format!("{base}/get/default/a")).await.status, 404);
    assert_eq!(
        answer(&host.get(&format!("{base}/list/default")).await),
        (200, "b")
    );
    assert_eq!(
        answer(&host.get(&format!("{base}/delete/default/b")).await),
        (200, "ok")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_round_trips_through_redis_with_its_familys_ttl() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = kv_host(&services);
    round_trip(&host, "/kv").await;
    round_trip(&host, "/d/kv").await;

    assert_eq!(
        answer(&put(&host, "/kv/set/default/user.1", "alice").await),
        (200, "ok")
    );
    let mut conn = services.redis.as_ref().expect("redis").connection();
    let stored: Option<String> = redis::cmd("GET")
        .arg("strata:cache:session:user.1")
        .query(&mut conn)
        .expect("GET");
    assert_eq!(
        stored.as_deref(),
        Some("alice"),
        "the cache key is prefix + key"
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg("strata:cache:session:user.1")
        .query(&mut conn)
        .expect("PTTL");
    assert!(
        (100_000..=120_000).contains(&ttl),
        "the session family's TTL: {ttl} ms"
    );
    // Written through Redis before the call returned: the draft component
    // (another component, same bucket grant) reads it.
    assert_eq!(
        answer(&host.get("/d/kv/get/default/user.1").await),
        (200, "alice")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungranted_bucket_is_access_denied_and_reads_nothing() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = kv_host(&services);
    let mut conn = services.redis.as_ref().expect("redis").connection();
    let _: () = redis::cmd("SET")
        .arg("strata:cache:secret:a")
        .arg("hidden")
        .query(&mut conn)
        .expect("SET");
    for bucket in ["secret", "Default", "", "session", "session:"] {
        for base in ["/kv", "/d/kv"] {
            let reply = host.get(&format!("{base}/get/{bucket}/a")).await;
            assert_eq!(
                answer(&reply),
                (409, "access-denied"),
                "{base} bucket {bucket:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_cannot_leave_their_bucket() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = kv_host(&services);
    let long = "k".repeat(250);
    for key in [
        "..%2Fsecret%3Aa",
        "*",
        "secret%3A*",
        "a%20b",
        "na%C3%AFve",
        "%E2%9C%93",
        "",
        long.as_str(),
    ] {
        for base in ["/kv", "/d/kv"] {
            let reply = put(&host, &format!("{base}/set/default/{key}"), "x").await;
            assert_eq!(reply.status, 409, "{base} key {key:?}: {}", reply.body);
            assert!(
                reply.body.starts_with("other: invalid key"),
                "{key:?}: {}",
                reply.body
            );
            let reply = host.get(&format!("{base}/get/default/{key}")).await;
            assert_eq!(reply.status, 409, "{key:?}: {}", reply.body);
        }
    }
    let reply = put(&host, &format!("/kv/set/default/{long}"), "x").await;
    assert!(
        reply.body.contains("over the limit of 250"),
        "{}",
        reply.body
    );
    // Dots and colons are key characters: still inside the prefix.
    assert_eq!(
        answer(&put(&host, "/kv/set/default/..%3Ax", "1").await),
        (200, "ok")
    );
    let mut conn = services.redis.as_ref().expect("redis").connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("strata:cache:*")
        .query(&mut conn)
        .expect("KEYS");
    assert_eq!(keys, ["strata:cache:session:..:x"]);
}

/// `count` increments by 1 of `key` through `host`, all at once; the
/// values they returned.
async fn increments(host: &Host, base: &str, key: &str, count: usize) -> Vec<i64> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let url = format!("{}{base}/incr/default/{key}/1", host.url);
        tasks.spawn(async move {
            let response = http().get(&url).send().await.expect("increment");
            assert_eq!(response.status().as_u16(), 200);
            response
                .text()
                .await
                .expect("body")
                .parse::<i64>()
                .expect("a number")
        });
    }
    tasks.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_are_atomic_across_instances_sharing_redis() {
    let services = Services::start(Backend::RedisPostgres).await;
    let (a, b) = (kv_host(&services), kv_host(&services));
    // Instance b holds the counter in its L1 before a changes it.
    assert_eq!(answer(&b.get("/kv/incr/default/hits/0").await), (200, "0"));
    assert_eq!(answer(&b.get("/kv/get/default/hits").await), (200, "0"));
    let (from_a, from_b) = tokio::join!(
        increments(&a, "/kv", "hits", 100),
        increments(&b, "/d/kv", "hits", 100)
    );
    let seen: HashSet<i64> = from_a.iter().chain(&from_b).copied().collect();
    assert_eq!(
        seen,
        (1..=200).collect::<HashSet<i64>>(),
        "every increment saw its own value"
    );
    assert_eq!(answer(&a.get("/kv/get/default/hits").await), (200, "200"));
    assert_eq!(
        answer(&a.get("/kv/incr/default/hits/-5").await),
        (200, "195")
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while b.get("/kv/get/default/hits").await.body != "195" {
        assert!(Instant::now() < deadline, "instance b kept a stale counter");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        answer(&put(&a, "/kv/set/default/name", "x").await),
        (200, "ok")
    );
    let reply = a.get("/kv/incr/default/name/1").await;
    assert_eq!(reply.status, 409);
    assert!(
        reply.body.contains("not a 64-bit integer"),
        "{}",
        reply.body
    );
    assert_eq!(
        answer(&a.get("/kv/get/default/name").await),
        (200, "x"),
        "left unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_get_set_and_delete_several_keys() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = kv_host(&services);
    for base in ["/kv", "/d/kv"] {
        let set = put(&host, &format!("{base}/set-many/default"), "x=1\ny=2\nz=3").await;
        assert_eq!(answer(&set), (200, "ok"));
        let got = host.get(&format!("{base}/get-many/default/x,y,w")).await;
        assert_eq!(answer(&got), (200, "x=1\ny=2\nw absent"));
        assert_eq!(
            answer(&host.get(&format!("{base}/delete-many/default/x,z")).await),
            (200, "ok")
        );
        let got = host.get(&format!("{base}/get-many/default/x,y,z")).await;
        assert_eq!(answer(&got), (200, "x absent\ny=2\nz absent"));
        let bad = put(&host, &format!("{base}/set-many/default"), "ok=1\nbad*=2").await;
        assert_eq!(bad.status, 409, "{}", bad.body);
        assert_eq!(
            host.get(&format!("{base}/get/default/ok")).await.status,
            404,
            "a refused batch stores nothing"
        );
    }
    let many: Vec<String> = (0..257).map(|i| format!("k{i}")).collect();
    let reply = host
        .get(&format!("/kv/get-many/default/{}", many.join(",")))
        .await;
    assert_eq!(reply.status, 409);
    assert!(
        reply.body.contains("over the limit of 256"),
        "{}",
        reply.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_swaps_only_over_the_value_it_read() {
    let services = Services::start(Backend::RedisPostgres).await;
    let host = kv_host(&services);
    assert_eq!(
        answer(&host.get("/kv/cas/default/c/one").await),
        (200, "swapped over nothing")
    );
    assert_eq!(
        answer(&host.get("/kv/cas/default/c/two").await),
        (200, "swapped over one")
    );
    assert_eq!(
        answer(&host.get("/kv/cas-race/default/c/three").await),
        (200, "cas-failed, current intruder")
    );
    assert_eq!(
        answer(&host.get("/kv/get/default/c").await),
        (200, "intruder")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_store_is_this_instances_l1() {
    let services = Services::start(Backend::Bare).await;
    let host = kv_host(&services);
    round_trip(&host, "/kv").await;
    let counted = increments(&host, "/kv", "n", 50).await;
    assert_eq!(
        counted.iter().copied().collect::<HashSet<i64>>(),
        (1..=50).collect::<HashSet<i64>>()
    );
    assert_eq!(
        answer(&host.get("/kv/cas-race/default/c/v").await),
        (200, "cas-failed, current intruder")
    );
    let lines: Vec<String> = (0..300).map(|i| format!("p{i:03}=v")).collect();
    for chunk in lines.chunks(150) {
        assert_eq!(
            answer(&put(&host, "/kv/set-many/default", &chunk.join("\n")).await),
            (200, "ok")
        );
    }
    let listed = host.get("/kv/list/default").await;
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.body.lines().filter(|k| k.starts_with('p')).count(),
        300
    );
    assert_eq!(
        listed.header("kv-pages"),
        Some("2"),
        "pages of at most 256 keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cannot_hold_unbounded_handles() {
    let services = Services::start(Backend::Bare).await;
    let host = kv_host(&services);
    assert_eq!(
        answer(&host.get("/kv/hold/default/64").await),
        (200, "opened 64")
    );
    let reply = host.get("/kv/hold/default/65").await;
    assert_eq!(reply.status, 409);
    assert!(
        reply
            .body
            .starts_with("refused at 64: other: this instance holds 64"),
        "{}",
        reply.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_importing_keyvalue_without_a_grant_is_refused() {
    let services = Services::start(Backend::Bare).await;
    let host = echo_host(&services, &[]);
    let admin = host.admin_url.clone().expect("admin listener");
    for program in [test_programs::KEYVALUE, test_programs::KEYVALUE_DRAFT] {
        let started = Instant::now();
        let (status, body) = upload(&admin, "echo", wasm(program)).await;
        assert_eq!(status, 422, "{body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(
            message.contains("imports wasi:keyvalue/")
                && message.contains("grants no keyvalue buckets"),
            "{message}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "refused before compiling"
        );
    }
    // At start, too: a manifest without buckets for it does not load.
    let path = manifest(&services, "");
    let mut command = Host::command();
    command
        .env("STRATA_MANIFEST", &path)
        .env("STRATA_SQLITE_PATH", services.dir.path().join("refused.db"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("run strata");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("strata started with a keyvalue component and no bucket");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(stderr.contains("grants no keyvalue buckets"), "{stderr}");
}

//! Checks what a received invalidation does to this instance's L1 and pins
//! the wire format other instances (maybe of another version) read, since a
//! wrong match would either serve removed values or throw away good ones.

use super::*;
use crate::l1::{L1Entry, L1Limits};
use bytes::Bytes;
use std::time::Instant;

async fn l1_with(keys: &[&str]) -> L1 {
    let l1 = L1::new(L1Limits {
        max_entries: 100,
        max_bytes: 1 << 20,
    });
    for key in keys {
        l1.insert(
            key.to_string(),
            L1Entry {
                value: Bytes::from_static(b"v"),
                fresh_until: Instant::now() + Duration::from_secs(60),
                grace: Duration::ZERO,
                delta: None,
                generation: 0,
            },
        )
        .await;
    }
    l1
}

fn message(origin: &str, target: Target) -> Invalidation {
    Invalidation {
        origin: origin.into(),
        id: 7,
        target,
        mark: None,
    }
}

#[tokio::test]
async fn a_remote_key_invalidation_drops_the_key() {
    let l1 = l1_with(&["market:btc", "market:eth"]).await;
    apply(
        &l1,
        &Generations::default(),
        "me",
        &message("other", Target::Key("market:btc".into())),
    )
    .await;
    assert!(l1.get("market:btc").await.is_none());
    assert!(l1.get("market:eth").await.is_some());
}

#[tokio::test]
async fn a_remote_pattern_invalidation_drops_matching_keys() {
    let l1 = l1_with(&["market:btc", "market:eth", "report:1"]).await;
    apply(
        &l1,
        &Generations::default(),
        "me",
        &message("other", Target::Pattern("market:*".into())),
    )
    .await;
    assert!(l1.get("market:btc").await.is_none());
    assert!(l1.get("report:1").await.is_some());
}

#[tokio::test]
async fn a_stored_value_replaces_a_different_copy() {
    let l1 = l1_with(&["market:btc"]).await;
    let digest = content_hash(b"newer");
    let target = Target::Stored {
        key: "market:btc".into(),
        digest,
    };
    apply(
        &l1,
        &Generations::default(),
        "me",
        &message("other", target),
    )
    .await;
    assert!(l1.get("market:btc").await.is_none());
}

#[tokio::test]
async fn a_stored_value_already_held_is_kept() {
    let l1 = l1_with(&["market:btc"]).await;
    let target = Target::Stored {
        key: "market:btc".into(),
        digest: content_hash(b"v"),
    };
    apply(
        &l1,
        &Generations::default(),
        "me",
        &message("other", target),
    )
    .await;
    assert!(l1.get("market:btc").await.is_some());
}

#[tokio::test]
async fn an_instance_ignores_its_own_invalidations() {
    let l1 = l1_with(&["market:btc"]).await;
    apply(
        &l1,
        &Generations::default(),
        "me",
        &message("me", Target::Key("market:btc".into())),
    )
    .await;
    assert!(l1.get("market:btc").await.is_some());
}

#[test]
fn the_wire_format_is_tagged_json() {
    let text = serde_json::to_string(&message("a", Target::Key("k:1".into()))).expect("json");
    assert_eq!(
        text,
        r#"{"origin":"a","id":7,"target":{"kind":"key","value":"k:1"}}"#
    );
}

#[tokio::test]
async fn a_remote_family_clear_raises_the_generation_and_drops_the_family() {
    let l1 = l1_with(&["market:btc", "report:1"]).await;
    let generations = Generations::default();
    let target = Target::Family {
        family: "market".into(),
        generation: 4,
    };
    apply(&l1, &generations, "me", &message("other", target)).await;
    assert_eq!(generations.current("market"), 4);
    assert!(l1.get("market:btc").await.is_none());
    assert!(l1.get("report:1").await.is_some());
}

#[test]
fn a_mark_rides_along_with_its_invalidation() {
    let mut marked = message("a", Target::Key("k:1".into()));
    marked.mark = Some(Mark {
        family: Some("k".into()),
        value: 3,
    });
    let text = serde_json::to_string(&marked).expect("json");
    assert_eq!(
        text,
        r#"{"origin":"a","id":7,"target":{"kind":"key","value":"k:1"},"mark":{"family":"k","value":3}}"#
    );
    let family = message(
        "a",
        Target::Family {
            family: "k".into(),
            generation: 2,
        },
    );
    assert_eq!(
        serde_json::to_string(&family).expect("json"),
        r#"{"origin":"a","id":7,"target":{"kind":"family","value":{"family":"k","generation":2}}}"#
    );
}

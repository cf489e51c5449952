//! The settings every test module builds its cache from, kept in one place
//! so that tests of different paths agree on the families, caps and limits
//! their assertions rely on.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{CacheSettings, FamilyPolicy, HotKeySettings, L1Limits};

/// `market` has a 60 s TTL capped at 600 s and remembers failures for 5 s
/// (everything else for 30 s); everything else uses the
/// defaults (300 s in L1, 3600 s cap); values over 1 KiB are refused.
pub(crate) fn settings() -> CacheSettings {
    let mut families = BTreeMap::new();
    families.insert(
        "market".to_string(),
        FamilyPolicy {
            ttl_seconds: 60,
            l1_only: false,
            max_ttl_seconds: Some(600),
            negative_ttl_seconds: Some(5),
            early_refresh: false,
            early_refresh_beta: None,
        },
    );
    CacheSettings {
        l1: L1Limits {
            max_entries: 100,
            max_bytes: 1 << 20,
        },
        l1_ttl: Duration::from_secs(300),
        l2_ttl: Duration::from_secs(3600),
        stale_grace: Duration::from_secs(600),
        max_value_bytes: 1024,
        l1_max_value_bytes: 1024,
        max_ttl: Duration::from_secs(3600),
        families,
        flight_wait: Duration::from_secs(10),
        negative_ttl: Duration::from_secs(30),
        hot: HotKeySettings::default(),
    }
}

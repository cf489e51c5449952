//! The standard `wasi:keyvalue` interfaces (store, atomics, batch) on the
//! tiered cache, limited to the buckets the manifest grants.
//!
//! A bucket is a key prefix granted under a name (`keyvalue = { default =
//! "session:" }`): `open("default")` lends the guest a handle on it, and
//! key `k` of that bucket is cache key `session:k`, with the cache's key
//! rules (at most 250 bytes with the prefix; letters, digits and `:_-.`)
//! and the TTL and tiers of its family. A key is only ever appended to the
//! prefix, and checked as a whole afterwards, so no key reaches outside
//! its bucket. A name the manifest does not grant this component is
//! `access-denied`, whether or not another component has it, so a guest
//! learns nothing of other grants.
//!
//! Both drafts are served, from this one implementation: `0.2.0-draft2`
//! (`draft2.rs`), which Spin 3 and its SDKs use, and `0.2.0-draft`
//! (`draft.rs`), which the wasmCloud 1.x host and wasmtime's own
//! `wasi-keyvalue` implement. They differ only in the `list-keys` cursor
//! (a string or a number: both carry the same number here), the sign of
//! `increment`, and draft2's compare-and-swap, so each is a thin
//! translation onto the operations in `ops.rs`.
//!
//! What a guest can hold is bounded: at most [`MAX_HANDLES`] bucket and
//! CAS handles at once (a CAS handle keeps a value of up to the cache's
//! per-entry limit), at most [`MAX_BATCH`] keys per batch call, listing
//! pages of about `strata_cache::LIST_PAGE` keys. Refusals are the WIT
//! `error` (`access-denied`, or `other` with a message); only a handle the
//! table does not hold (a host fault) traps.

mod draft;
mod draft2;
mod ops;

use std::sync::Arc;

use bytes::Bytes;
use wasmtime::component::{HasData, Linker, ResourceTable, ResourceTableError};

use strata_cache::TieredCache;
use strata_keys::{KeyError, MAX_KEY_LEN};

use super::{Grants, Instance, Services};

/// Bucket and CAS handles one instance may hold at once.
pub(crate) const MAX_HANDLES: usize = 64;
/// Keys one batch call may name.
pub(crate) const MAX_BATCH: usize = 256;
/// Longest piece of a guest's key quoted back in an error.
const MAX_QUOTED: usize = 64;

/// The host side of a `bucket`: the granted prefix its keys live under.
pub struct BucketHandle {
    prefix: Arc<str>,
}

/// The host side of a draft2 `cas`: the key and the value it held when
/// the handle was made, which `swap` compares against.
pub struct CasHandle {
    key: String,
    snapshot: Option<Bytes>,
}

/// Why a call was refused, in the terms both drafts' `error` share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `access-denied`: the bucket is not granted to this component.
    AccessDenied,
    /// `other`: anything else, with what went wrong.
    Other(String),
}

/// A call that did not succeed: a refusal the guest handles, or a host
/// fault that traps.
#[derive(Debug)]
pub enum KvFault {
    /// Returned to the guest as its `error`.
    Refused(Refusal),
    /// Traps the instance.
    Trap(wasmtime::Error),
}

impl From<Refusal> for KvFault {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<ResourceTableError> for KvFault {
    fn from(error: ResourceTableError) -> Self {
        Self::Trap(error.into())
    }
}

impl From<strata_cache::KvError> for KvFault {
    fn from(error: strata_cache::KvError) -> Self {
        Self::Refused(Refusal::Other(error.to_string()))
    }
}

impl From<strata_cache::CacheError> for KvFault {
    fn from(error: strata_cache::CacheError) -> Self {
        Self::Refused(Refusal::Other(error.to_string()))
    }
}

/// Key-value access limited to the component's granted buckets.
pub(crate) struct KeyValueContext {
    cache: Arc<TieredCache>,
    grants: Arc<Grants>,
    /// Bucket and CAS handles this context lent and the guest has not
    /// dropped.
    handles: usize,
}

impl KeyValueContext {
    pub(in crate::capabilities) fn new(services: &Services, instance: &Instance<'_>) -> Self {
        Self {
            cache: services.cache.clone(),
            grants: instance.grants.clone(),
            handles: 0,
        }
    }
}

/// The context with the instance's resource table, where its handles live.
pub(crate) struct KeyValueView<'a> {
    pub context: &'a mut KeyValueContext,
    pub table: &'a mut ResourceTable,
}

struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValueView<'a>;
}

/// Links both drafts' interfaces.
pub(in crate::capabilities) fn link<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    draft2::link(linker, get)?;
    draft::link(linker, get)
}

/// A fault where no guest error fits (a resource drop): it traps, though
/// a drop only ever fails on a handle the table does not hold.
fn into_trap(fault: KvFault) -> wasmtime::Error {
    match fault {
        KvFault::Trap(trap) => trap,
        KvFault::Refused(refusal) => wasmtime::Error::msg(format!("{refusal:?}")),
    }
}

/// `text` as quoted in an error: at most [`MAX_QUOTED`] characters.
fn quoted(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_QUOTED).collect();
    if out.len() < text.len() {
        out.push_str("...");
    }
    format!("{out:?}")
}

/// The cache key of `key` in the bucket with `prefix`, or why there is
/// none. The key is appended to the prefix and the whole checked against
/// the cache's rules, so it can only ever name a key inside the bucket.
fn cache_key(prefix: &str, key: &str) -> Result<String, Refusal> {
    if key.is_empty() {
        return Err(Refusal::Other("invalid key: the key is empty".into()));
    }
    let full = format!("{prefix}{key}");
    strata_keys::validate_key(&full).map_err(|e| {
        Refusal::Other(match e {
            KeyError::TooLong(len) => format!(
                "invalid key: {} bytes after the bucket's {}-byte prefix is {len}, over the limit of {MAX_KEY_LEN}",
                key.len(),
                prefix.len()
            ),
            KeyError::BadChar(c, at) => format!(
                "invalid key {}: character {c:?} at byte {} is not allowed (use ASCII letters, digits and ':_-.')",
                quoted(key),
                at.saturating_sub(prefix.len())
            ),
            KeyError::Empty => "invalid key: the key is empty".into(),
        })
    })?;
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_appended_to_the_prefix_and_checked_whole() {
        assert_eq!(cache_key("session:", "abc"), Ok("session:abc".into()));
        for bad in ["", "../x", "a/b", "*", "a?", "sp ace", "naïve", "\u{0}"] {
            assert!(
                matches!(cache_key("session:", bad), Err(Refusal::Other(_))),
                "{bad:?} accepted"
            );
        }
        let longest = "k".repeat(MAX_KEY_LEN - "session:".len());
        assert!(cache_key("session:", &longest).is_ok());
        let over = format!("{longest}k");
        let Err(Refusal::Other(message)) = cache_key("session:", &over) else {
            panic!("a key over the limit was accepted");
        };
        assert!(message.contains("over the limit of 250"), "{message}");
    }

    #[test]
    fn errors_quote_a_bounded_piece_of_the_key() {
        let long = format!("{}/", "x".repeat(1000));
        let Err(Refusal::Other(message)) = cache_key("p:", &long) else {
            panic!("accepted");
        };
        assert!(message.len() < 300, "{message}");
    }
}

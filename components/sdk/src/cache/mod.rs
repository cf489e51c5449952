//! The host's two-tier cache (L1 in process, L2 Redis).
//!
//! Cache outages are not errors at this level: the host turns them into
//! misses. The errors left are about the call itself (bad key, key outside
//! the manifest grant, value too large, waiting too long on another
//! request's computation).
//!
//! Cache-or-compute also remembers definitive failures: when a computation
//! fails in a way that holds for whoever asks (an unknown symbol), the
//! error is kept in place of a value for the key family's short negative
//! TTL, so the next requests get the same answer without a computation
//! (and without an upstream call). [`Remembered`] says which errors those
//! are; an [`HttpError`](crate::HttpError) is remembered when the component
//! marks it [`definitive`](crate::HttpError::definitive).

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::strata::host::cache as wit;
use crate::log;

mod batch;
mod tag;

pub use batch::{MAX_BATCH_KEYS, get_many_or_compute_json};
pub use wit::{Cleared, Entry, Tier};

/// Why the host refused a cache call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheError {
    InvalidKey(String),
    Denied(String),
    TooLarge(u64),
    Timeout,
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::InvalidKey(msg) => write!(f, "invalid cache key: {msg}"),
            CacheError::Denied(msg) => write!(f, "cache access denied: {msg}"),
            CacheError::TooLarge(limit) => write!(f, "cache value exceeds {limit} bytes"),
            CacheError::Timeout => write!(f, "timed out waiting for a concurrent computation"),
        }
    }
}

impl std::error::Error for CacheError {}

impl From<wit::CacheError> for CacheError {
    fn from(err: wit::CacheError) -> Self {
        match err {
            wit::CacheError::InvalidKey(msg) => CacheError::InvalidKey(msg),
            wit::CacheError::Denied(msg) => CacheError::Denied(msg),
            wit::CacheError::TooLarge(limit) => CacheError::TooLarge(limit),
            wit::CacheError::Timeout => CacheError::Timeout,
        }
    }
}

/// Fresh value for `key`, or `None`.
pub fn get(key: &str) -> Result<Option<Entry>, CacheError> {
    Ok(wit::get(key)?)
}

/// Stores `value`; `ttl_seconds` overrides the key family's default.
pub fn set(key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), CacheError> {
    Ok(wit::set(key, value, ttl_seconds)?)
}

/// Removes `key` everywhere; `true` when this instance held it.
pub fn delete(key: &str) -> Result<bool, CacheError> {
    Ok(wit::delete(key)?)
}

/// Removes every key matching the glob `pattern` (`*`, `?`).
pub fn clear_pattern(pattern: &str) -> Result<Cleared, CacheError> {
    Ok(wit::clear_pattern(pattern)?)
}

/// Why [`set_json`] did not store its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetJsonError {
    /// The value could not be encoded as JSON.
    Encode(String),
    /// The host refused to store it; the encoded value is still here for
    /// the caller to send.
    Cache { json: Vec<u8>, error: CacheError },
}

impl fmt::Display for SetJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetJsonError::Encode(msg) => write!(f, "encoding failed: {msg}"),
            SetJsonError::Cache { error, .. } => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for SetJsonError {}

/// Stores `value` as JSON the way cache-or-compute does (tagged with this
/// component version and `T`, so a later
/// [`get_or_compute_json_bytes`]`::<T>` hit is served without a decode
/// check) and returns the JSON text, to send on.
pub fn set_json<T: Serialize>(
    key: &str,
    value: &T,
    ttl_seconds: Option<u32>,
) -> Result<Vec<u8>, SetJsonError> {
    let json = encode(value).map_err(SetJsonError::Encode)?;
    match set(
        key,
        &tag::prefixed(tag::of::<T>().as_ref(), &json),
        ttl_seconds,
    ) {
        Ok(()) => Ok(json),
        Err(error) => Err(SetJsonError::Cache { json, error }),
    }
}

/// How a cache-or-compute call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    HitL1,
    HitL2,
    /// This request computed the value (and filled the cache).
    Computed,
    /// The computation failed and an expired value was served instead.
    Stale,
}

impl Outcome {
    /// Value for the [`crate::CACHE_HEADER`] response header.
    pub fn header_value(self) -> &'static str {
        match self {
            Outcome::HitL1 => "hit-l1",
            Outcome::HitL2 => "hit-l2",
            Outcome::Computed => "miss",
            Outcome::Stale => "stale",
        }
    }

    fn of_entry(entry: &Entry) -> Self {
        match (entry.stale, entry.tier) {
            (true, _) => Outcome::Stale,
            (false, Tier::L1) => Outcome::HitL1,
            (false, Tier::L2) => Outcome::HitL2,
        }
    }
}

/// Bytes from [`get_or_compute`] and how they were obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub bytes: Vec<u8>,
    pub outcome: Outcome,
}

impl Cached {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Value for the [`crate::CACHE_HEADER`] response header.
    pub fn header_value(&self) -> &'static str {
        self.outcome.header_value()
    }
}

/// A typed value from [`get_or_compute_json`] and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedJson<T> {
    pub value: T,
    pub outcome: Outcome,
}

impl<T> CachedJson<T> {
    /// Value for the [`crate::CACHE_HEADER`] response header.
    pub fn header_value(&self) -> &'static str {
        self.outcome.header_value()
    }
}

/// [`crate::CACHE_HEADER`] value of an answer that is a remembered failure.
pub const NEGATIVE_HIT: &str = "hit-negative";

/// An error cache-or-compute may remember in place of a value.
///
/// Only definitive failures belong there, ones that say something about
/// the key whoever asks (an unknown symbol, a malformed identifier); a
/// timeout or an unreachable upstream says nothing about the key and must
/// not be remembered, or an outage would outlive itself in the cache. The
/// defaults remember nothing, so an error type opts in.
pub trait Remembered: Sized {
    /// The bytes that record this failure, when it is definitive.
    fn remember(&self) -> Option<Vec<u8>> {
        None
    }

    /// The failure back from what [`remember`](Self::remember) kept; `None`
    /// when the bytes are not such a record (another component version
    /// wrote them), and then the value is computed again.
    fn recall(_bytes: &[u8]) -> Option<Self> {
        None
    }
}

impl Remembered for String {}

impl Remembered for &'static str {}

/// Why a cache-or-compute call produced no value.
#[derive(Debug, Clone, PartialEq)]
pub enum ComputeError<E> {
    /// The host refused the cache call (bad or ungranted key).
    Cache(CacheError),
    /// The computation failed and no stale value was available.
    Compute(E),
    /// No computation ran: the key's last computation failed for good and
    /// the cache remembered it ([`Remembered`]).
    Remembered(E),
    /// A value could not be encoded or a stale value could not be decoded.
    Codec(String),
}

impl<E: fmt::Display> fmt::Display for ComputeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComputeError::Cache(err) => write!(f, "{err}"),
            ComputeError::Compute(err) | ComputeError::Remembered(err) => write!(f, "{err}"),
            ComputeError::Codec(msg) => write!(f, "cached value encoding: {msg}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for ComputeError<E> {}

/// Cache-or-compute with single flight and stale-on-error.
///
/// Concurrent callers for the same key wait for one computation instead of
/// all hitting the upstream. If `compute` fails, an expired copy is served
/// (marked [`Outcome::Stale`]) when the host still has one. Otherwise the
/// error is returned; when it is definitive ([`Remembered`]) it is also
/// remembered for the family's negative TTL, and meanwhile callers get it
/// back as [`ComputeError::Remembered`] without computing. Either way the
/// lease ends, which hands the computation to a waiting request rather
/// than leaving it hanging.
///
/// If the host gives up waiting for another request's computation
/// ([`CacheError::Timeout`]), the value is computed here without the lease
/// and stored best-effort: the caller asked for a value, and a slow peer is
/// no reason to fail.
pub fn get_or_compute<E: Remembered>(
    key: &str,
    ttl_seconds: Option<u32>,
    compute: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<Cached, ComputeError<E>> {
    let lease = match wit::resolve(key).map_err(CacheError::from) {
        Ok(wit::Resolution::Hit(entry)) => {
            let outcome = Outcome::of_entry(&entry);
            return Ok(Cached {
                bytes: entry.value,
                outcome,
            });
        }
        Ok(wit::Resolution::Negative(entry)) => match E::recall(&entry.value) {
            Some(err) => return Err(ComputeError::Remembered(err)),
            None => {
                log::warn(&format!(
                    "remembered failure of {key} is unreadable; computing without the lease"
                ));
                let bytes = compute().map_err(ComputeError::Compute)?;
                return Ok(Cached {
                    bytes,
                    outcome: Outcome::Computed,
                });
            }
        },
        Ok(wit::Resolution::Compute(lease)) => lease,
        Err(CacheError::Timeout) => {
            log::warn(&format!(
                "cache wait for {key} timed out; computing without the lease"
            ));
            let bytes = compute().map_err(ComputeError::Compute)?;
            if let Err(err) = set(key, &bytes, ttl_seconds) {
                log::warn(&format!("cache set for {key} failed: {err}"));
            }
            return Ok(Cached {
                bytes,
                outcome: Outcome::Computed,
            });
        }
        Err(err) => return Err(ComputeError::Cache(err)),
    };

    match compute() {
        Ok(bytes) => {
            // The value is good even if the cache will not hold it (too
            // large, say); serve it and leave a trace.
            if let Err(err) = lease.fill(&bytes, ttl_seconds) {
                log::warn(&format!(
                    "cache fill for {key} failed: {}",
                    CacheError::from(err)
                ));
            }
            Ok(Cached {
                bytes,
                outcome: Outcome::Computed,
            })
        }
        // A stale value outranks even a definitive failure: a key that had
        // a value is far more likely to meet a glitch (an upstream that
        // answers nothing for a moment) than to have stopped existing, and
        // remembering the failure would replace the stale copy for good.
        Err(err) => match lease.stale() {
            Some(bytes) => {
                log::warn(&format!("serving stale {key}: computation failed"));
                Ok(Cached {
                    bytes,
                    outcome: Outcome::Stale,
                })
            }
            None => {
                if let Some(record) = err.remember()
                    && let Err(fill) = lease.fill_negative(&record)
                {
                    log::warn(&format!(
                        "remembering the failure of {key} failed: {}",
                        CacheError::from(fill)
                    ));
                }
                Err(ComputeError::Compute(err))
            }
        },
    }
}

/// [`get_or_compute`] for a JSON-encoded value.
///
/// A fresh cached value that no longer decodes as `T` (say, written by an
/// older version of the component) is recomputed and overwritten instead of
/// failing the request; an undecodable stale value is an error, since the
/// computation has already failed.
pub fn get_or_compute_json<T, E>(
    key: &str,
    ttl_seconds: Option<u32>,
    compute: impl FnOnce() -> Result<T, E>,
) -> Result<CachedJson<T>, ComputeError<E>>
where
    T: Serialize + DeserializeOwned,
    E: Remembered,
{
    // `compute` runs at most once, either inside the lease or below after a
    // hit that failed to decode; the Option lets both paths own it.
    let mut compute = Some(compute);
    let mut computed: Option<T> = None;
    let tag = tag::of::<T>();
    let result = get_or_compute(key, ttl_seconds, || {
        let value = run_once(&mut compute)?;
        let bytes = encode(&value).map_err(JsonFailure::Codec)?;
        computed = Some(value);
        Ok(tag::prefixed(tag.as_ref(), &bytes))
    });
    let cached = result.map_err(flatten_json_error)?;
    if let Some(value) = computed {
        return Ok(CachedJson {
            value,
            outcome: cached.outcome,
        });
    }
    match serde_json::from_slice(&cached.bytes) {
        Ok(value) => Ok(CachedJson {
            value,
            outcome: cached.outcome,
        }),
        Err(err) => {
            let (value, bytes) = recompute_unreadable(
                key,
                ttl_seconds,
                cached.outcome,
                &err,
                &mut compute,
                tag.as_ref(),
            )?;
            if let Err(msg) = bytes {
                log::warn(&msg);
            }
            Ok(CachedJson {
                value,
                outcome: Outcome::Computed,
            })
        }
    }
}

/// [`get_or_compute_json`] for a handler that only sends the value on: the
/// result is the JSON text itself, so a cache hit is served without
/// re-encoding it. Re-encoding a decoded value reproduces the stored bytes
/// anyway, and it was most of the guest's work on a hit.
///
/// The contract is the same as [`get_or_compute_json`]: a cached value that
/// no longer decodes as `T` is recomputed and overwritten (or, when stale,
/// is an error). Checking costs a decode, so it is skipped for a value this
/// very component version wrote as `T` (see [`tag`]): those decode by
/// construction.
pub fn get_or_compute_json_bytes<T, E>(
    key: &str,
    ttl_seconds: Option<u32>,
    compute: impl FnOnce() -> Result<T, E>,
) -> Result<Cached, ComputeError<E>>
where
    T: Serialize + DeserializeOwned,
    E: Remembered,
{
    let mut compute = Some(compute);
    let mut computed_here = false;
    let tag = tag::of::<T>();
    let mut cached = get_or_compute(key, ttl_seconds, || {
        let value = run_once(&mut compute)?;
        computed_here = true;
        let bytes = encode(&value).map_err(JsonFailure::Codec)?;
        Ok(tag::prefixed(tag.as_ref(), &bytes))
    })
    .map_err(flatten_json_error)?;
    if let Some(tag) = &tag
        && cached.bytes.starts_with(tag)
    {
        cached.bytes.drain(..tag::LEN);
        return Ok(cached);
    }
    if computed_here {
        return Ok(cached);
    }
    match serde_json::from_slice::<T>(&cached.bytes) {
        Ok(_) => {
            // Another writer's tag (an older version's) is whitespace the
            // client need not get.
            let tagged = cached
                .bytes
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            cached.bytes.drain(..tagged);
            Ok(cached)
        }
        Err(err) => {
            let (_, bytes) = recompute_unreadable(
                key,
                ttl_seconds,
                cached.outcome,
                &err,
                &mut compute,
                tag.as_ref(),
            )?;
            Ok(Cached {
                bytes: bytes.map_err(ComputeError::Codec)?,
                outcome: Outcome::Computed,
            })
        }
    }
}

/// A recomputed value and its encoding (or why it could not be encoded).
type Recomputed<T> = (T, Result<Vec<u8>, String>);

/// A cached value that no longer decodes: when stale it is an error (the
/// computation has already failed); when fresh it is recomputed and
/// overwritten (with `tag`). Returns the value and its encoding, untagged
/// (or why it has none).
fn recompute_unreadable<T: Serialize, E>(
    key: &str,
    ttl_seconds: Option<u32>,
    outcome: Outcome,
    err: &serde_json::Error,
    compute: &mut Option<impl FnOnce() -> Result<T, E>>,
    tag: Option<&[u8; tag::LEN]>,
) -> Result<Recomputed<T>, ComputeError<E>> {
    if outcome == Outcome::Stale {
        return Err(ComputeError::Codec(format!(
            "stale {key} is unreadable: {err}"
        )));
    }
    log::warn(&format!("cached {key} is unreadable ({err}); recomputing"));
    let value = run_once(compute).map_err(|err| match err {
        JsonFailure::Compute(err) => ComputeError::Compute(err),
        JsonFailure::Codec(msg) => ComputeError::Codec(msg),
    })?;
    let bytes = encode(&value);
    if let Ok(bytes) = &bytes
        && let Err(err) = set(key, &tag::prefixed(tag, bytes), ttl_seconds)
    {
        log::warn(&format!("cache set for {key} failed: {err}"));
    }
    Ok((value, bytes))
}

fn flatten_json_error<E>(err: ComputeError<JsonFailure<E>>) -> ComputeError<E> {
    match err {
        ComputeError::Cache(err) => ComputeError::Cache(err),
        ComputeError::Codec(msg) | ComputeError::Compute(JsonFailure::Codec(msg)) => {
            ComputeError::Codec(msg)
        }
        ComputeError::Compute(JsonFailure::Compute(err)) => ComputeError::Compute(err),
        ComputeError::Remembered(JsonFailure::Compute(err)) => ComputeError::Remembered(err),
        ComputeError::Remembered(JsonFailure::Codec(msg)) => ComputeError::Codec(msg),
    }
}

enum JsonFailure<E> {
    Compute(E),
    Codec(String),
}

/// A computation's own failure is remembered as the caller's error type
/// says; failing to encode a value says nothing about the key.
impl<E: Remembered> Remembered for JsonFailure<E> {
    fn remember(&self) -> Option<Vec<u8>> {
        match self {
            JsonFailure::Compute(err) => err.remember(),
            JsonFailure::Codec(_) => None,
        }
    }

    fn recall(bytes: &[u8]) -> Option<Self> {
        E::recall(bytes).map(JsonFailure::Compute)
    }
}

fn run_once<T, E>(
    compute: &mut Option<impl FnOnce() -> Result<T, E>>,
) -> Result<T, JsonFailure<E>> {
    match compute.take() {
        Some(compute) => compute().map_err(JsonFailure::Compute),
        None => Err(JsonFailure::Codec("value computed twice".to_string())),
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|err| format!("encode failed: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tier: Tier, stale: bool) -> Entry {
        Entry {
            value: b"v".to_vec(),
            tier,
            stale,
        }
    }

    #[test]
    fn header_values_follow_the_contract() {
        assert_eq!(
            Outcome::of_entry(&entry(Tier::L1, false)).header_value(),
            "hit-l1"
        );
        assert_eq!(
            Outcome::of_entry(&entry(Tier::L2, false)).header_value(),
            "hit-l2"
        );
        assert_eq!(
            Outcome::of_entry(&entry(Tier::L2, true)).header_value(),
            "stale"
        );
        let cached = Cached {
            bytes: Vec::new(),
            outcome: Outcome::Computed,
        };
        assert_eq!(cached.header_value(), "miss");
    }
}

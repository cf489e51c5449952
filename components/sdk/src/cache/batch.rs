//! Cache-or-compute for many keys at once.
//!
//! A handler that needs ten values would otherwise pay ten host calls and,
//! on misses, ten computations (ten upstream calls). A batch asks the host
//! once; the keys no tier holds come back together, so one computation
//! (one upstream call) can produce all of them, and one call stores them.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{CacheError, CachedJson, ComputeError, Outcome, encode, set, tag, wit};
use crate::log;

/// Most keys one batch may name (the host refuses more).
pub const MAX_BATCH_KEYS: usize = 256;

/// A key the computation must produce, with its lease when this request
/// holds one (none when its cached value no longer decodes, which is then
/// recomputed and overwritten without a lease).
struct Missing {
    index: usize,
    lease: Option<wit::Lease>,
}

/// [`get_or_compute_json`](super::get_or_compute_json) for many keys: one
/// answer per key, in the order of `keys`.
///
/// Hits are served from the cache. Every key no tier holds (or whose value
/// no longer decodes as `T`) is handed to one call of `compute`, which
/// gets those keys in the order of `keys` and returns one entry per key:
/// `Some(value)` is stored and served, `None` means the key has no value
/// (an unknown symbol, say; nothing is stored and its answer is `None`).
/// Keys another request is computing are waited for, not computed twice.
///
/// If `compute` fails, each missing key is answered with its expired copy
/// ([`Outcome::Stale`]) when the host still has one; if any key has none,
/// the error is returned. If the host gives up waiting for another
/// request's computation, every key is computed here without leases.
pub fn get_many_or_compute_json<T, E>(
    keys: &[String],
    ttl_seconds: Option<u32>,
    compute: impl FnOnce(&[String]) -> Result<Vec<Option<T>>, E>,
) -> Result<Vec<Option<CachedJson<T>>>, ComputeError<E>>
where
    T: Serialize + DeserializeOwned,
{
    let lookups = match wit::get_many_or_lease(keys).map_err(CacheError::from) {
        Ok(lookups) => lookups,
        Err(CacheError::Timeout) => {
            log::warn("cache wait for a batch timed out; computing it without leases");
            let missing = (0..keys.len())
                .map(|index| Missing { index, lease: None })
                .collect();
            let mut answers: Vec<Option<CachedJson<T>>> = keys.iter().map(|_| None).collect();
            compute_missing(keys, ttl_seconds, missing, &mut answers, compute)?;
            return Ok(answers);
        }
        Err(err) => return Err(ComputeError::Cache(err)),
    };
    let mut answers: Vec<Option<CachedJson<T>>> = keys.iter().map(|_| None).collect();
    let mut missing = Vec::new();
    for (index, lookup) in lookups.into_iter().enumerate() {
        match lookup {
            wit::Lookup::Hit(entry) => match serde_json::from_slice::<T>(&entry.value) {
                Ok(value) => {
                    answers[index] = Some(CachedJson {
                        value,
                        outcome: Outcome::of_entry(&entry),
                    });
                }
                Err(err) => {
                    log::warn(&format!(
                        "cached {} is unreadable ({err}); recomputing",
                        keys[index]
                    ));
                    missing.push(Missing { index, lease: None });
                }
            },
            wit::Lookup::Compute(lease) => missing.push(Missing {
                index,
                lease: Some(lease),
            }),
        }
    }
    if !missing.is_empty() {
        compute_missing(keys, ttl_seconds, missing, &mut answers, compute)?;
    }
    Ok(answers)
}

/// Computes the `missing` keys in one call and stores what it produced:
/// leased keys with one `fill-many`, the others with `set`.
fn compute_missing<T, E>(
    keys: &[String],
    ttl_seconds: Option<u32>,
    missing: Vec<Missing>,
    answers: &mut [Option<CachedJson<T>>],
    compute: impl FnOnce(&[String]) -> Result<Vec<Option<T>>, E>,
) -> Result<(), ComputeError<E>>
where
    T: Serialize + DeserializeOwned,
{
    let wanted: Vec<String> = missing.iter().map(|m| keys[m.index].clone()).collect();
    let values = match compute(&wanted) {
        Ok(values) => values,
        Err(err) => return serve_stale(keys, missing, answers, err),
    };
    if values.len() != wanted.len() {
        return Err(ComputeError::Codec(format!(
            "the computation returned {} values for {} keys",
            values.len(),
            wanted.len()
        )));
    }
    let tag = tag::of::<T>();
    let mut fills = Vec::new();
    for (Missing { index, lease }, value) in missing.into_iter().zip(values) {
        // A key without a value drops its lease: the next request asks.
        let Some(value) = value else { continue };
        let stored = tag::prefixed(tag.as_ref(), &encode(&value).map_err(ComputeError::Codec)?);
        match lease {
            Some(lease) => fills.push((lease, stored)),
            None => {
                if let Err(err) = set(&keys[index], &stored, ttl_seconds) {
                    log::warn(&format!("cache set for {} failed: {err}", keys[index]));
                }
            }
        }
        answers[index] = Some(CachedJson {
            value,
            outcome: Outcome::Computed,
        });
    }
    if !fills.is_empty()
        && let Err(err) = wit::fill_many(fills, ttl_seconds)
    {
        // The values are good even if the cache will not hold them.
        log::warn(&format!(
            "cache fill of a batch failed: {}",
            CacheError::from(err)
        ));
    }
    Ok(())
}

/// After a failed computation: each missing key's expired copy, or the
/// error when some key has none that decodes.
fn serve_stale<T: DeserializeOwned, E>(
    keys: &[String],
    missing: Vec<Missing>,
    answers: &mut [Option<CachedJson<T>>],
    err: E,
) -> Result<(), ComputeError<E>> {
    for Missing { index, lease } in missing {
        let stale = lease
            .and_then(|lease| lease.stale())
            .and_then(|bytes| serde_json::from_slice::<T>(&bytes).ok());
        let Some(value) = stale else {
            return Err(ComputeError::Compute(err));
        };
        log::warn(&format!(
            "serving stale {}: computation failed",
            keys[index]
        ));
        answers[index] = Some(CachedJson {
            value,
            outcome: Outcome::Stale,
        });
    }
    Ok(())
}

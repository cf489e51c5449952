//! Which component version wrote a cached JSON value, so a hit that this
//! very version wrote is served without the decode that checks it.
//!
//! A hit is checked by decoding it as the caller's type, because another
//! version of the component (or another type under the same key) may have
//! written something else; for a handler that only sends the bytes on,
//! that check was most of its work per hit. Values are written with a tag
//! naming the writer's version (the host's `STRATA_COMPONENT_VERSION`, the
//! binary's content hash) and the Rust type: a hit carrying this
//! version's tag for this type was encoded by this very code, so it decodes.
//!
//! The tag is leading JSON whitespace (32 characters of space, tab, line
//! feed and carriage return, two bits each), so a tagged value is still one
//! JSON document for every other reader: older versions, other languages,
//! the host's cache-only endpoints.

use std::any::type_name;
use std::sync::OnceLock;

/// Length of a tag, in bytes.
pub(super) const LEN: usize = 32;

/// The four JSON whitespace bytes, one per two-bit digit.
const DIGITS: [u8; 4] = [b' ', b'\t', b'\n', b'\r'];

/// Environment variable the host sets to the component's version.
const VERSION_VAR: &str = "STRATA_COMPONENT_VERSION";

/// This version's and `T`'s tag; `None` when the host names no version
/// (then values are written untagged and every hit is checked).
pub(super) fn of<T>() -> Option<[u8; LEN]> {
    let version = version()?;
    Some(encode(fnv1a(
        version
            .as_bytes()
            .iter()
            .chain(b"\0")
            .chain(type_name::<T>().as_bytes()),
    )))
}

/// The writer's version, read once per instance.
fn version() -> Option<&'static str> {
    static VERSION: OnceLock<Option<String>> = OnceLock::new();
    VERSION
        .get_or_init(|| std::env::var(VERSION_VAR).ok().filter(|v| !v.is_empty()))
        .as_deref()
}

fn fnv1a<'a>(bytes: impl Iterator<Item = &'a u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn encode(hash: u64) -> [u8; LEN] {
    let mut tag = [0; LEN];
    for (i, byte) in tag.iter_mut().enumerate() {
        *byte = DIGITS[((hash >> (2 * i)) & 3) as usize];
    }
    tag
}

/// `json` with `tag` in front, for storing.
pub(super) fn prefixed(tag: Option<&[u8; LEN]>, json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + LEN);
    if let Some(tag) = tag {
        out.extend_from_slice(tag);
    }
    out.extend_from_slice(json);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_json_whitespace_so_tagged_values_still_parse() {
        let tag = encode(0x0123_4567_89ab_cdef);
        let value = prefixed(Some(&tag), br#"{"a":1}"#);
        let parsed: serde_json::Value = serde_json::from_slice(&value).expect("still JSON");
        assert_eq!(parsed["a"], 1);
    }

    #[test]
    fn different_writers_get_different_tags() {
        let a = encode(fnv1a(b"v1\0T".iter()));
        let b = encode(fnv1a(b"v2\0T".iter()));
        let c = encode(fnv1a(b"v1\0U".iter()));
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}

//! Content addresses. A component version and a cache value are both named
//! by the SHA-256 of their bytes: deploys compare versions by it, and
//! instances tell each other which cache value an invalidation is about.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` as lower-case hex.
pub fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_address_is_the_sha256_hex_of_the_bytes() {
        assert_eq!(
            super::content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

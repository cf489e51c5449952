//! How an entry is held in both tiers: a value, or a remembered failure.
//!
//! A negative entry ("this symbol does not exist") must travel through L1,
//! Redis, promotion and the coherence digests exactly like a value, so it
//! is stored as bytes too, told apart by a marker no value can carry: a
//! value that happens to begin with the marker is escaped. Values that do
//! not (every JSON and UTF-8 text does not, since the marker begins with
//! 0xFF) are stored as they are, without a copy, so Redis keeps plain
//! values any other client can read.

use bytes::{BufMut, Bytes, BytesMut};

/// Begins every escaped value and every negative entry; 0xFF never occurs
/// in UTF-8.
const MARKER: &[u8] = b"\xffstrata\x00";
/// Follows the marker in a negative entry.
const NEGATIVE: u8 = b'N';
/// Follows the marker in an escaped value.
const ESCAPED: u8 = b'V';

/// One entry as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    /// A value, as it was written.
    Value(Bytes),
    /// A remembered failure: what the component chose to keep about it
    /// (for the SDK, the status and message it answers with again).
    Negative(Bytes),
}

impl Stored {
    /// The tiers' bytes for this entry.
    pub(crate) fn encode(self) -> Bytes {
        match self {
            Stored::Value(value) if !value.starts_with(MARKER) => value,
            Stored::Value(value) => tagged(ESCAPED, &value),
            Stored::Negative(body) => tagged(NEGATIVE, &body),
        }
    }

    /// The entry the tiers' bytes stand for. Bytes with the marker and an
    /// unknown tag (written by a newer host) read as a value, unchanged.
    pub(crate) fn decode(bytes: Bytes) -> Self {
        let Some(rest) = bytes.strip_prefix(MARKER) else {
            return Stored::Value(bytes);
        };
        let body = bytes.slice(MARKER.len() + 1..);
        match rest.first() {
            Some(&NEGATIVE) => Stored::Negative(body),
            Some(&ESCAPED) => Stored::Value(body),
            _ => Stored::Value(bytes),
        }
    }
}

fn tagged(tag: u8, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(MARKER.len() + 1 + body.len());
    out.put_slice(MARKER);
    out.put_u8(tag);
    out.put_slice(body);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(stored: Stored) -> Stored {
        Stored::decode(stored.encode())
    }

    #[test]
    fn plain_values_are_stored_as_written() {
        let value = Bytes::from_static(br#"{"price":1}"#);
        assert_eq!(Stored::Value(value.clone()).encode(), value);
        assert_eq!(
            round_trip(Stored::Value(value.clone())),
            Stored::Value(value)
        );
    }

    #[test]
    fn negative_entries_read_back_as_negative() {
        let body = Bytes::from_static(br#"{"status":404}"#);
        assert_eq!(
            round_trip(Stored::Negative(body.clone())),
            Stored::Negative(body)
        );
        assert_eq!(
            round_trip(Stored::Negative(Bytes::new())),
            Stored::Negative(Bytes::new())
        );
    }

    #[test]
    fn a_value_that_looks_like_a_negative_entry_stays_a_value() {
        let forged = Stored::Negative(Bytes::from_static(b"404")).encode();
        assert_eq!(
            round_trip(Stored::Value(forged.clone())),
            Stored::Value(forged)
        );
        let bare_marker = Bytes::from_static(MARKER);
        assert_eq!(
            round_trip(Stored::Value(bare_marker.clone())),
            Stored::Value(bare_marker)
        );
    }

    #[test]
    fn an_unknown_tag_reads_as_the_bytes_themselves() {
        let mut future = MARKER.to_vec();
        future.extend_from_slice(b"Zrest");
        let future = Bytes::from(future);
        assert_eq!(Stored::decode(future.clone()), Stored::Value(future));
    }
}

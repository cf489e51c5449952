//! The one body type the host uses both for requests it hands to guests and
//! for responses it writes, so a host-made response and a component's pass
//! through the same HTTP code.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A complete in-memory body.
pub fn full(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> HyperOutgoingBody {
    full(Bytes::new())
}

//! A call as the guest sees it: what it asks for and what it gets back.
//!
//! Guests describe requests in plain strings and bytes through WIT, not in
//! `reqwest` types; these are that shape on the host side, checked and
//! converted only once a call is under way.

use std::time::Duration;

use bytes::Bytes;

/// A request as a guest describes it.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// HTTP method token; only GET, HEAD, PUT, DELETE and OPTIONS are retried.
    pub method: String,
    /// Absolute `http` or `https` URL; it must be covered by the allow-list.
    pub url: String,
    /// Header pairs; the ones the client owns (`Host`, hop-by-hop, framing)
    /// are dropped.
    pub headers: Vec<(String, String)>,
    /// Request body; `None` sends none.
    pub body: Option<Vec<u8>>,
    /// The guest's budget for the whole call; capped at the host's default,
    /// which `None` takes.
    pub timeout: Option<Duration>,
}

/// The final response after retries.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    /// Status of the last attempt; a 5xx or 429 comes back as a response
    /// once no retry is left.
    pub status: u16,
    /// Response headers; values that are not visible ASCII are left out.
    pub headers: Vec<(String, String)>,
    /// The whole body, at most `max_response_bytes`.
    pub body: Bytes,
}

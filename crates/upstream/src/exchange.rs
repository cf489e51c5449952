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
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

/// The final response after retries.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

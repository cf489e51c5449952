//! The one error a guest's outbound call can end in.
//!
//! Every failure, from policy to transport, has to reach the guest as a
//! `strata:host/outbound` fetch error, so the kinds a guest can tell apart
//! (and handle differently) are fixed here, apart from how they arise.

use thiserror::Error;

/// Why no response was obtained.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Refused by policy: the host is not on the allow-list, or the address
    /// it stands for may not be reached.
    #[error("outbound call denied: {0}")]
    Denied(String),
    /// The request cannot be sent as written: a bad URL, scheme, method or
    /// header, or credentials in the URL.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The call's deadline (the guest's budget, capped at the host's
    /// default) passed before a full response arrived.
    #[error("no response within the time budget")]
    Timeout,
    /// The breaker for this component and allow-list entry (carried) is open;
    /// nothing was sent.
    #[error("circuit breaker open for {0}")]
    CircuitOpen(String),
    /// The response body is over `max_response_bytes` (carried).
    #[error("response body over {0} bytes")]
    TooLarge(u64),
    /// Connecting or talking to the upstream failed (after any retries).
    #[error("transport error: {0}")]
    Transport(String),
    /// The upstream's request budget (the manifest's `[[upstreams]]` rate,
    /// shared by every component and instance) is spent, or the upstream
    /// asked with a 429 and `Retry-After` to wait; nothing was sent. Carries
    /// how long until a call may be admitted again.
    #[error("request budget for this upstream is spent; retry after {} s", .0.as_secs().max(1))]
    RateLimited(std::time::Duration),
}

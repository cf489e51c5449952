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
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("no response within the time budget")]
    Timeout,
    #[error("circuit breaker open for {0}")]
    CircuitOpen(String),
    #[error("response body over {0} bytes")]
    TooLarge(u64),
    #[error("transport error: {0}")]
    Transport(String),
}

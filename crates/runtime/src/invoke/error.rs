//! Why a request got no response of the guest's own.
//!
//! The host answers each failure differently (a 504 for a deadline, a 502
//! for a trap, the guest's own error code passed on), so a run's outcome
//! is classified once, including telling the epoch deadline's trap apart
//! from every other trap.

use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;

use crate::describe;

/// Why a request to a component produced no response of its own.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// No instance could be made for this request (the instance pool is
    /// full, or instantiation failed), or the request could not be handed to it.
    #[error("no instance available: {0}")]
    Instantiate(String),
    /// The guest trapped before sending its response head, other than at
    /// its deadline.
    #[error("the component trapped: {0}")]
    Trap(String),
    /// The component's per-request timeout (carried, in milliseconds) ran
    /// out before it sent a response head.
    #[error("the component ran past its {0} ms deadline")]
    Deadline(u128),
    /// The guest finished without ever setting its response.
    #[error("the component finished without sending a response")]
    NoResponse,
    /// The guest answered with an error code of its own, passed on as is.
    #[error("the component reported an error: {0:?}")]
    Guest(ErrorCode),
}

/// The marker error a deadline trap carries, to tell it from other traps.
#[derive(Debug)]
pub(super) struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

pub(super) fn classify_trap(error: wasmtime::Error, timeout: std::time::Duration) -> InvokeError {
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        return InvokeError::Deadline(timeout.as_millis());
    }
    InvokeError::Trap(describe(&error))
}

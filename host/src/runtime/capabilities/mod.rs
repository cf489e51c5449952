//! Implementations of the `strata:host` imports, one module per interface.
//! Each checks the component's grant first and reports refusals as typed
//! WIT errors; only host bugs (a missing resource) trap.

pub mod cache;
mod config;
mod log;
mod outbound;
mod sql;

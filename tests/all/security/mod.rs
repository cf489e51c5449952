//! Attacks on the isolation promise (docs/security.md), one test per attack,
//! each against the real `strata` binary and real databases: a hostile
//! component probing its capabilities, and a hostile client probing the
//! listeners.

mod admin;
mod cache;
mod client;
mod disclosure;
mod feed;
pub(crate) mod hostile;
mod manifest;
mod outbound;
mod sql;

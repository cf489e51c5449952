//! Strata's end-to-end tests, as one test binary with a module per area
//! (as wasmtime's `tests/all`): the host library, wasmtime included, is
//! linked once for all of them instead of once per area, and the harness
//! (`support`) is compiled once.
//!
//! Each test starts what it needs and owns it: its own `strata` processes
//! on port 0, a private Redis, a fresh Postgres database, an in-process
//! simulator, a temp folder. Nothing here sets process environment
//! variables, so tests of different areas can run side by side in this
//! one process.
//!
//! Run one area with a filter: `cargo test --release -p strata --test all
//! security::` (or `-- deploy::`).

mod support;

mod admin;
mod apps;
mod batch;
mod budget;
mod cluster;
mod compat;
mod contract;
mod data;
mod deploy;
mod examples;
mod guest_output;
mod imports;
mod keyvalue;
mod layout;
mod live;
mod negative;
mod observability;
mod properties;
mod quotas;
mod resilience;
mod routes;
mod sandbox;
mod scaffold;
mod security;
mod standard;
mod startup;
mod telemetry;
mod tiers;
mod upstream;
mod warm;
mod warm_start;

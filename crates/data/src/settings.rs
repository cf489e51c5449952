//! How big the pools are and how long statements may take.
//!
//! The operator sizes the database from the CLI once, for both engines and
//! all three pools alike, so the knobs live apart from either engine.

use std::time::Duration;

/// Pool sizing and limits.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections of each pool (host, read-only, read-write).
    pub max_connections: u32,
    /// Longest a statement waits for a free connection; on SQLite also how
    /// long it waits for a locked file.
    pub acquire_timeout: Duration,
    /// Most rows a query returns to a guest.
    pub row_limit: usize,
    /// Longest a component statement may run, whatever its deadline.
    pub statement_timeout: Duration,
    /// Whether start must fail when the component roles (Postgres) cannot
    /// be provisioned: true when some component has an SQL grant.
    pub require_component_roles: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            row_limit: 1000,
            statement_timeout: Duration::from_secs(5),
            require_component_roles: true,
        }
    }
}

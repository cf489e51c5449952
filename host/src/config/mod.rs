//! Everything the operator decides: process settings (CLI / environment) and
//! the manifest of components, grants and routes.

mod cli;
mod commands;
pub mod manifest;
mod telemetry;

pub use cli::{Cli, Command, LogFormat};
pub use manifest::{
    ComponentSource, ComponentSpec, Manifest, ManifestError, RouteSpec, STORED_PREFIX,
};
pub use strata_cache::FamilyPolicy;
pub use strata_data::SqlGrant;
pub use telemetry::TelemetryArgs;

/// Margin the no-progress limit keeps past the longest component deadline.
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a response may go without progress of any kind: the CLI's
/// setting, raised so it never undercuts a component deadline `manifest`
/// sets (a connection waiting on a component is not idle).
pub fn body_idle_timeout(cli: &Cli, manifest: &Manifest) -> std::time::Duration {
    let longest = manifest
        .components
        .values()
        .filter_map(|spec| spec.timeout_ms)
        .chain([cli.request_timeout_ms])
        .max()
        .map_or(std::time::Duration::ZERO, std::time::Duration::from_millis);
    std::time::Duration::from_secs(cli.body_idle_timeout_seconds.max(1))
        .max(longest + DEADLINE_MARGIN)
}

/// The longest component deadline a no-progress limit of `body_idle`
/// leaves room for: what a manifest deployed later may set.
pub fn deadline_room(body_idle: std::time::Duration) -> std::time::Duration {
    body_idle.saturating_sub(DEADLINE_MARGIN)
}

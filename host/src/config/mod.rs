//! Everything the operator decides: process settings (CLI / environment) and
//! the manifest of components, grants and routes.

mod cli;
pub mod manifest;

pub use cli::{Cli, Command, LogFormat};
pub use manifest::{ComponentSource, ComponentSpec, Manifest, ManifestError, RouteSpec};
pub use strata_cache::FamilyPolicy;
pub use strata_data::SqlGrant;

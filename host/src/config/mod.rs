//! Everything the operator decides: process settings (CLI / environment) and
//! the manifest of components, grants and routes.

mod cli;
pub mod manifest;
mod redact;

pub use cli::{Cli, Command, LogFormat};
pub use manifest::{
    ComponentSource, ComponentSpec, FamilyPolicy, Manifest, ManifestError, RouteSpec, SqlGrant,
};
pub use redact::redact;

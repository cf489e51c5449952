//! Where a request path leads: one of the host's own endpoints
//! ([`endpoints`], one table) or a manifest route to a component
//! ([`router`]). Both match on path segments, so every spelling of a path
//! gets the same answer from either.
//!
//! This sits below configuration (the manifest's routes are validated by
//! building a [`Router`]) and below the HTTP layer and the dispatcher,
//! which both read it.

pub mod endpoints;
mod router;

pub use router::{RouteError, RouteMatch, RouteSpec, Routed, Router};

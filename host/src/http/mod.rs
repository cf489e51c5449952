//! The HTTP surface: accept connections ([`serve`], bounded per connection
//! by `conn`), answer the host's own endpoints (the table in
//! `routes::endpoints`), and hand component routes to the dispatcher after
//! the HTTP checks (`component`). [`error`] is the one place failures
//! become statuses.
//!
//! [`Server::respond`] answers one request without a socket, so request
//! handling is testable in-process.

mod admin;
mod apps;
pub mod auth;
mod cached;
mod component;
mod conn;
mod endpoint;
pub mod error;
mod feed;
mod handle;
mod health;
pub mod metrics;
mod openapi;
mod origin;
mod request_id;
mod serve;
mod settings;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Body;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::app::App;
use auth::AdminAccess;
pub use conn::{ConnectionSettings, fit_descriptors};
pub use request_id::{REQUEST_ID_HEADER, request_id};
pub use serve::serve;
pub use settings::Settings;

/// What one listener serves.
#[derive(Clone)]
pub struct ListenerRole {
    /// How admin endpoints are guarded here (or that they are absent).
    pub admin: AdminAccess,
    /// Whether component routes are served here (not on the admin listener).
    pub components: bool,
}

/// A request body as a client sends it: hyper's own on a socket, any
/// in-memory body in a test.
pub trait ClientBody:
    Body<Data = Bytes, Error: std::error::Error + Send + Sync + 'static> + Send + 'static
{
}

impl<B> ClientBody for B where
    B: Body<Data = Bytes, Error: std::error::Error + Send + Sync + 'static> + Send + 'static
{
}

/// The HTTP layer's state: the application, and what only HTTP needs
/// (its limits and its request metrics).
pub struct Server {
    app: Arc<App>,
    settings: Settings,
    requests: metrics::RequestMetrics,
    scrapes: metrics::Scrapes,
}

impl Server {
    /// Serves `app` under `settings`.
    pub fn new(app: Arc<App>, settings: Settings) -> Self {
        Self {
            requests: metrics::RequestMetrics::exported(app.telemetry.meter()),
            app,
            settings,
            scrapes: Default::default(),
        }
    }

    /// Answers `req` as if it arrived from `peer` on a listener with
    /// `role`, on a connection of its own.
    pub async fn respond<B: ClientBody>(
        &self,
        role: &ListenerRole,
        req: hyper::Request<B>,
        peer: SocketAddr,
    ) -> hyper::Response<HyperOutgoingBody> {
        let connection = conn::Connection::new(&self.settings.connections);
        handle::handle(self, role, &connection, req, peer).await
    }
}

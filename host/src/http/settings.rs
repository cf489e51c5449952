//! What the operator bounds at the HTTP layer: request sizes, the time a
//! client gets for each step, and the connection limits.

use std::time::Duration;

use super::ConnectionSettings;
use crate::config::{Cli, Manifest};

/// HTTP limits, from the CLI and the manifest.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Largest request body accepted.
    pub max_body_bytes: u64,
    /// Largest request line and headers accepted.
    pub max_header_bytes: usize,
    /// Time a client has to send a request head.
    pub header_read_timeout: Duration,
    /// Time a client has to send a component request's whole body.
    pub body_read_timeout: Duration,
    /// Per-connection limits.
    pub connections: ConnectionSettings,
    /// How long open connections get to finish at shutdown.
    pub shutdown_grace: Duration,
}

impl Settings {
    /// The settings `cli` asks for, fitted to `manifest`'s components.
    pub fn new(cli: &Cli, manifest: &Manifest) -> Self {
        let header_read_timeout = Duration::from_secs(cli.header_read_timeout_seconds.max(1));
        Self {
            max_body_bytes: cli.max_body_bytes,
            max_header_bytes: cli.max_header_bytes,
            header_read_timeout,
            body_read_timeout: Duration::from_secs(cli.body_read_timeout_seconds.max(1)),
            connections: connection_settings(cli, manifest, header_read_timeout),
            shutdown_grace: Duration::from_secs(cli.shutdown_grace_seconds),
        }
    }
}

/// Connection limits. A connection waiting on a component is not idle, so
/// the body-progress limit never undercuts the longest component deadline.
fn connection_settings(cli: &Cli, manifest: &Manifest, header: Duration) -> ConnectionSettings {
    ConnectionSettings {
        max_connections: cli.max_connections,
        max_requests_per_connection: cli.max_requests_per_connection,
        first_request_timeout: header,
        idle_timeout: Duration::from_secs(cli.idle_timeout_seconds.max(1)),
        send_timeout: Duration::from_secs(cli.send_timeout_seconds.max(1)),
        body_idle_timeout: crate::config::body_idle_timeout(cli, manifest),
    }
}

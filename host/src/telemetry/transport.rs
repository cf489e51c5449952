//! How exports are sent: the reqwest client the host already links, run
//! on the host's tokio runtime.
//!
//! The SDK exports from threads of its own (the batch span processor's,
//! the periodic metric reader's) that drive the exporter with a plain
//! `block_on`, where an async client finds no runtime; the crates' answer
//! is a second, blocking client with a runtime of its own. Instead each
//! send is spawned onto the host's runtime and its handle awaited from the
//! exporter thread, so no second client or runtime is built, and a send
//! that outlives the export timeout is dropped there.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};

use super::TelemetryError;

/// An export's send took longer than the export timeout.
#[derive(Debug, thiserror::Error)]
#[error("OTLP export timed out after {0:?}")]
struct TimedOut(Duration);

/// Sends exports with `client` on `runtime`, each within `timeout`.
#[derive(Debug)]
pub(super) struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

impl OnRuntime {
    pub(super) fn new(
        runtime: tokio::runtime::Handle,
        timeout: Duration,
    ) -> Result<Self, TelemetryError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TelemetryError::Client(e.to_string()))?;
        Ok(Self {
            client,
            runtime,
            timeout,
        })
    }
}

#[async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let timeout = self.timeout;
        // After the runtime has shut down the handle resolves at once, as
        // an error: an export at exit never hangs.
        let sent = self
            .runtime
            .spawn(async move { tokio::time::timeout(timeout, client.send_bytes(request)).await });
        match sent.await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(Box::new(TimedOut(timeout))),
            Err(stopped) => Err(Box::new(stopped)),
        }
    }
}

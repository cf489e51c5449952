//! `strata:host/outbound`: HTTP through the host's policed client.

use std::time::Duration;

use crate::runtime::bindings::outbound as wit;
use crate::runtime::state::HostState;
use crate::upstream::{FetchError, OutboundRequest};

fn to_wit_error(error: FetchError) -> wit::FetchError {
    match error {
        FetchError::Denied(host) => wit::FetchError::Denied(host),
        FetchError::InvalidRequest(m) => wit::FetchError::InvalidRequest(m),
        FetchError::Timeout => wit::FetchError::Timeout,
        FetchError::CircuitOpen(host) => wit::FetchError::CircuitOpen(host),
        FetchError::TooLarge(n) => wit::FetchError::TooLarge(n),
        FetchError::Transport(m) => wit::FetchError::Transport(m),
    }
}

impl wit::Host for HostState {
    async fn fetch(
        &mut self,
        req: wit::Request,
    ) -> wasmtime::Result<Result<wit::Response, wit::FetchError>> {
        let request = OutboundRequest {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            timeout: req
                .timeout_ms
                .map(|ms| Duration::from_millis(u64::from(ms))),
        };
        let outcome = self
            .outbound
            .client
            .fetch(
                &self.outbound.component,
                &self.outbound.grants.outbound,
                request,
            )
            .await;
        Ok(outcome
            .map(|response| wit::Response {
                status: response.status,
                headers: response.headers,
                body: response.body.to_vec(),
            })
            .map_err(to_wit_error))
    }
}

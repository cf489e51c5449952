//! Sending one hop, and what a hop that got no response means.
//!
//! The client's errors mix up causes the guest and the breaker must tell
//! apart: a name the resolver refused is a denial (not the upstream's
//! fault), a timeout the guest chose says nothing about the upstream, and
//! only real failures may be retried or count against the breaker.

use std::time::Instant;

use crate::client::Outbound;
use crate::error::FetchError;
use crate::fetch::{Attempt, Call};
use crate::records::{Permit, Verdict};
use crate::redirect::Hop;
use crate::resolve::BlockedName;
use crate::shown;

/// Why one hop got no response.
pub(crate) enum HopFailure {
    /// The resolver refused every address of the name.
    Denied(String),
    Invalid(String),
    Timeout,
    Transport(String),
}

impl Outbound {
    pub(crate) async fn send(
        &self,
        hop: &Hop,
        deadline: Instant,
    ) -> Result<reqwest::Response, HopFailure> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let headers = match &self.trace {
            Some(context) => crate::trace::traced(context.as_ref(), &hop.headers),
            None => hop.headers.clone(),
        };
        let mut builder = self
            .client
            .request(hop.method.clone(), hop.url.clone())
            .headers(headers)
            .timeout(remaining);
        if let Some(body) = &hop.body {
            builder = builder.body(body.clone());
        }
        builder.send().await.map_err(|e| {
            if let Some(blocked) = blocked_name(&e) {
                HopFailure::Denied(blocked.to_string())
            } else if e.is_timeout() {
                HopFailure::Timeout
            } else if e.is_builder() {
                HopFailure::Invalid(e.to_string())
            } else {
                HopFailure::Transport(e.to_string())
            }
        })
    }

    /// Records a hop that got no response, and what the attempt becomes.
    pub(crate) fn failed(&self, call: &Call<'_>, permit: Permit, failure: HopFailure) -> Attempt {
        let retry = |error| Attempt::Retry {
            error,
            response: None,
            after: None,
        };
        match failure {
            HopFailure::Denied(reason) => {
                permit.settle(Verdict::Refused);
                self.records.deny(call.component);
                tracing::warn!(component = %call.component, reason = %shown(&reason), "outbound call denied");
                Attempt::Fail(FetchError::Denied(reason))
            }
            HopFailure::Invalid(message) => {
                permit.settle(Verdict::Refused);
                Attempt::Fail(FetchError::InvalidRequest(message))
            }
            HopFailure::Timeout => {
                permit.settle(if call.guest_budget {
                    Verdict::GuestTimeout
                } else {
                    Verdict::Failed
                });
                retry(FetchError::Timeout)
            }
            HopFailure::Transport(message) => {
                permit.settle(Verdict::Failed);
                retry(FetchError::Transport(message))
            }
        }
    }
}

/// The resolver's refusal, if that is why `error` happened (it arrives
/// wrapped in the client's and the connector's errors).
fn blocked_name(error: &reqwest::Error) -> Option<&BlockedName> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if let Some(blocked) = error.downcast_ref::<BlockedName>() {
            return Some(blocked);
        }
        source = error.source();
    }
    None
}

//! One guest call, retried while retrying can still help.
//!
//! A failed attempt is only worth repeating for an idempotent request and
//! only within the call's time budget; backing off (longer when the
//! upstream says it is rate limiting) keeps retries from piling onto an
//! upstream that is already struggling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use url::Url;

use crate::allow::AllowedHost;
use crate::client::Outbound;
use crate::error::FetchError;
use crate::exchange::{OutboundRequest, OutboundResponse};
use crate::headers;
use crate::records::bump;
use crate::redirect::Hop;

/// One guest call, as every hop of it is checked.
pub(crate) struct Call<'a> {
    pub(crate) component: &'a Arc<str>,
    pub(crate) allowed: &'a [AllowedHost],
    pub(crate) deadline: Instant,
    /// The guest asked for less time than the host allows, so running out
    /// of it says nothing about the upstream.
    pub(crate) guest_budget: bool,
}

/// How one attempt (a request and its redirects) ended.
pub(crate) enum Attempt {
    Done(OutboundResponse),
    /// Worth retrying after the given minimum delay (from `Retry-After`).
    Retry {
        error: FetchError,
        response: Option<OutboundResponse>,
        after: Option<Duration>,
    },
    Fail(FetchError),
}

impl Outbound {
    /// Sends `request` for `component` if `allowed` and the address policy
    /// permit it (and every redirect it leads to), applying the policy.
    /// When the host exports traces the call is an `outbound` span (the
    /// parent its requests name in `traceparent`); otherwise no span is made.
    pub async fn fetch(
        &self,
        component: &Arc<str>,
        allowed: &[AllowedHost],
        request: OutboundRequest,
    ) -> Result<OutboundResponse, FetchError> {
        if self.trace.is_none() {
            return self.call(component, allowed, request).await;
        }
        let host = Url::parse(&request.url)
            .ok()
            .and_then(|url| url.host_str().map(|host| crate::shown(host).into_owned()))
            .unwrap_or_default();
        let span = tracing::info_span!(
            "outbound",
            "otel.kind" = "client",
            component = %component,
            method = %crate::shown(&request.method),
            host = %host,
            status = tracing::field::Empty,
            error = tracing::field::Empty,
        );
        let outcome =
            tracing::Instrument::instrument(self.call(component, allowed, request), span.clone())
                .await;
        match &outcome {
            Ok(response) => span.record("status", response.status),
            Err(error) => span.record("error", tracing::field::display(error)),
        };
        outcome
    }

    async fn call(
        &self,
        component: &Arc<str>,
        allowed: &[AllowedHost],
        request: OutboundRequest,
    ) -> Result<OutboundResponse, FetchError> {
        let url = Url::parse(&request.url)
            .map_err(|e| FetchError::InvalidRequest(format!("bad URL '{}': {e}", request.url)))?;
        let first = self.check_hop(component, allowed, &url)?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| FetchError::InvalidRequest(format!("bad method '{}'", request.method)))?;
        let headers = headers::from_guest(&request.headers).map_err(FetchError::InvalidRequest)?;
        let host_budget = self.settings.default_timeout;
        let budget = request.timeout.map_or(host_budget, |t| t.min(host_budget));
        let call = Call {
            component,
            allowed,
            deadline: Instant::now() + budget,
            guest_budget: budget < host_budget,
        };
        let idempotent = matches!(
            method,
            reqwest::Method::GET
                | reqwest::Method::HEAD
                | reqwest::Method::PUT
                | reqwest::Method::DELETE
                | reqwest::Method::OPTIONS
        );
        let hop = Hop {
            method,
            url,
            headers,
            body: request.body.map(Bytes::from),
        };
        let mut attempt_no = 0u32;
        loop {
            let (error, response, after) = match self.follow(&call, hop.clone()).await {
                Attempt::Done(response) => return Ok(response),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry {
                    error,
                    response,
                    after,
                } => (error, response, after),
            };
            let final_outcome = || match response.clone() {
                Some(response) => Ok(response),
                None => Err(error.clone()),
            };
            if !idempotent || attempt_no >= self.settings.retries {
                return final_outcome();
            }
            let rate_limited = response.as_ref().is_some_and(|r| r.status == 429);
            let factor = if rate_limited { 4 } else { 1 };
            let backoff = self.settings.backoff * factor * 2u32.saturating_pow(attempt_no);
            let delay = after.map_or(backoff, |after| after.max(backoff));
            if Instant::now() + delay >= call.deadline {
                tracing::debug!(url = %hop.url, ?delay, "no time left for another retry");
                return final_outcome();
            }
            attempt_no += 1;
            bump(&first.retries);
            tracing::info!(url = %hop.url, attempt = attempt_no, ?delay, error = %error, "retrying outbound call");
            tokio::time::sleep(delay).await;
        }
    }
}

//! One attempt: a request and the redirects it leads to.
//!
//! The client is told never to follow redirects, so this loop is where
//! they are followed instead, each hop re-admitted, put through its own
//! entry's breaker and charged to its upstream's budget (every hop is a
//! real request to someone's quota), with a cap on how many one attempt
//! may take.

use std::time::Instant;

use crate::client::Outbound;
use crate::error::FetchError;
use crate::fetch::{Attempt, Call};
use crate::records::Verdict;
use crate::redirect::{self, Hop};
use crate::retry_after;

impl Outbound {
    /// One attempt: `hop` and the redirects it leads to, each checked and
    /// put through its entry's breaker before it is sent.
    pub(crate) async fn follow(&self, call: &Call<'_>, mut hop: Hop) -> Attempt {
        let mut redirects = 0;
        loop {
            let upstream = match self.check_hop(call.component, call.allowed, &hop.url) {
                Ok(upstream) => upstream,
                Err(error) => return Attempt::Fail(error),
            };
            if Instant::now() >= call.deadline {
                return Attempt::Fail(FetchError::Timeout);
            }
            let Some(permit) = upstream.admit() else {
                tracing::debug!(upstream = %upstream.label, "outbound call skipped: breaker open");
                return Attempt::Fail(FetchError::CircuitOpen(upstream.label.clone()));
            };
            // Checked after the breaker, so a refused call spends no token;
            // refused, it releases the breaker's slot and counts as nothing
            // against the upstream, which never saw it. A retry or redirect
            // refused here ends the call as `RateLimited` rather than with
            // the previous response: the wait it carries is what the
            // component needs to answer 503 + `Retry-After` or serve stale,
            // and the previous response was a failure anyway.
            if let Err(wait) = self
                .budgets
                .admit(&hop.url, call.component, &upstream.label)
                .await
            {
                permit.settle(Verdict::Refused);
                tracing::debug!(upstream = %upstream.label, ?wait, "outbound call refused: request budget spent");
                return Attempt::Fail(FetchError::RateLimited(wait));
            }
            let response = match self.send(&hop, call.deadline).await {
                Ok(response) => response,
                Err(failure) => return self.failed(call, permit, failure),
            };
            let status = response.status().as_u16();
            if status == 429
                && let Some(after) = retry_after::parse(response.headers())
                && !after.is_zero()
            {
                self.budgets
                    .hold(&hop.url, call.component, &upstream.label, after)
                    .await;
            }
            let location = response.headers().get(reqwest::header::LOCATION);
            let Some(location) = location.filter(|_| redirect::is_redirect(status)) else {
                return self.finish(call, permit, response).await;
            };
            permit.settle(Verdict::Answered);
            if redirects >= self.settings.max_redirects {
                return Attempt::Fail(FetchError::Transport(format!(
                    "gave up after {redirects} redirects"
                )));
            }
            let next = location
                .to_str()
                .map_err(|_| "a redirect Location that is not text".to_string())
                .and_then(|location| redirect::next_hop(&hop, status, location));
            hop = match next {
                Ok(next) => next,
                Err(message) => return Attempt::Fail(FetchError::Transport(message)),
            };
            redirects += 1;
        }
    }
}

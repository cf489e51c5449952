//! One attempt: a request and the redirects it leads to.
//!
//! The client is told never to follow redirects, so this loop is where
//! they are followed instead, each hop re-admitted and put through its own
//! entry's breaker, with a cap on how many one attempt may take.

use std::time::Instant;

use crate::client::Outbound;
use crate::error::FetchError;
use crate::fetch::{Attempt, Call};
use crate::records::Verdict;
use crate::redirect::{self, Hop};

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
            let response = match self.send(&hop, call.deadline).await {
                Ok(response) => response,
                Err(failure) => return self.failed(call, permit, failure),
            };
            let status = response.status().as_u16();
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

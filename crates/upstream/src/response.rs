//! Reading and judging a final (non-redirect) response.
//!
//! The body is read under the host's size cap, since a guest's memory and
//! the host's are both at stake, and the status decides what the breaker
//! records and whether the call is worth retrying.

use bytes::Bytes;

use crate::client::Outbound;
use crate::error::FetchError;
use crate::exchange::OutboundResponse;
use crate::fetch::{Attempt, Call};
use crate::records::{Permit, Verdict};
use crate::retry_after;

impl Outbound {
    /// Reads a final (non-redirect) response and judges it.
    pub(crate) async fn finish(
        &self,
        call: &Call<'_>,
        permit: Permit,
        response: reqwest::Response,
    ) -> Attempt {
        let status = response.status().as_u16();
        let retry_after = retry_after::parse(response.headers());
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect();
        let body = match self.read_body(response).await {
            Ok(body) => body,
            Err(error) => {
                permit.settle(match error {
                    FetchError::TooLarge(_) => Verdict::Neutral,
                    FetchError::Timeout if call.guest_budget => Verdict::GuestTimeout,
                    _ => Verdict::Failed,
                });
                return Attempt::Fail(error);
            }
        };
        let response = OutboundResponse {
            status,
            headers,
            body,
        };
        if status == 429 || status >= 500 {
            permit.settle(Verdict::Failed);
            Attempt::Retry {
                error: FetchError::Transport(format!("upstream answered HTTP {status}")),
                response: Some(response),
                after: retry_after,
            }
        } else {
            permit.settle(Verdict::Answered);
            Attempt::Done(response)
        }
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Bytes, FetchError> {
        let cap = self.settings.max_response_bytes;
        if let Some(len) = response.content_length()
            && len > cap as u64
        {
            return Err(FetchError::TooLarge(cap as u64));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > cap {
                        return Err(FetchError::TooLarge(cap as u64));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(Bytes::from(body)),
                Err(e) if e.is_timeout() => return Err(FetchError::Timeout),
                Err(e) => return Err(FetchError::Transport(e.to_string())),
            }
        }
    }
}

//! Outbound HTTP for components, through one shared reqwest client.
//!
//! The host, not the guest, owns the policy: the per-component allow-list,
//! a total time budget per call, retries with exponential backoff for
//! idempotent requests (longer after HTTP 429, honouring `Retry-After`), a
//! response size cap, and a circuit breaker per upstream host so a dead
//! upstream fails fast instead of holding every request for its timeout.

mod allow;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use thiserror::Error;
use url::Url;

pub use allow::AllowedHost;

use crate::breaker::CircuitBreaker;

/// Why no response was obtained.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FetchError {
    #[error("host '{0}' is not on this component's outbound allow-list")]
    Denied(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("no response within the time budget")]
    Timeout,
    #[error("circuit breaker open for {0}")]
    CircuitOpen(String),
    #[error("response body over {0} bytes")]
    TooLarge(u64),
    #[error("transport error: {0}")]
    Transport(String),
}

/// Client policy, from the CLI.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    pub default_timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
    pub max_response_bytes: usize,
    pub breaker_threshold: u32,
    pub breaker_cool_down: Duration,
}

/// A request as a guest describes it.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

/// The final response after retries.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// Per-upstream-host state: its breaker and counters for metrics.
struct HostRecord {
    breaker: CircuitBreaker,
    ok: AtomicU64,
    failed: AtomicU64,
    denied: AtomicU64,
    short_circuited: AtomicU64,
    retries: AtomicU64,
}

/// One upstream host's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStats {
    pub ok: u64,
    pub failed: u64,
    pub denied: u64,
    pub short_circuited: u64,
    pub retries: u64,
    pub breaker: &'static str,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// See the module documentation.
pub struct Outbound {
    client: reqwest::Client,
    settings: OutboundSettings,
    hosts: Mutex<HashMap<String, Arc<HostRecord>>>,
}

enum Attempt {
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
    pub fn new(settings: OutboundSettings) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5).min(settings.default_timeout))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        Ok(Self {
            client,
            settings,
            hosts: Mutex::default(),
        })
    }

    fn host(&self, authority: &str) -> Arc<HostRecord> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .entry(authority.to_string())
            .or_insert_with(|| {
                Arc::new(HostRecord {
                    breaker: CircuitBreaker::new(
                        self.settings.breaker_threshold,
                        self.settings.breaker_cool_down,
                    ),
                    ok: AtomicU64::new(0),
                    failed: AtomicU64::new(0),
                    denied: AtomicU64::new(0),
                    short_circuited: AtomicU64::new(0),
                    retries: AtomicU64::new(0),
                })
            })
            .clone()
    }

    /// Figures per upstream host (`host:port`), for metrics.
    pub fn stats(&self) -> Vec<(String, HostStats)> {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = hosts
            .iter()
            .map(|(authority, record)| {
                (
                    authority.clone(),
                    HostStats {
                        ok: record.ok.load(Ordering::Relaxed),
                        failed: record.failed.load(Ordering::Relaxed),
                        denied: record.denied.load(Ordering::Relaxed),
                        short_circuited: record.short_circuited.load(Ordering::Relaxed),
                        retries: record.retries.load(Ordering::Relaxed),
                        breaker: record.breaker.state().as_str(),
                    },
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Sends `request` if `allowed` covers its host, applying the policy.
    pub async fn fetch(
        &self,
        allowed: &[AllowedHost],
        request: OutboundRequest,
    ) -> Result<OutboundResponse, FetchError> {
        let url = Url::parse(&request.url)
            .map_err(|e| FetchError::InvalidRequest(format!("bad URL '{}': {e}", request.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::InvalidRequest(format!(
                "scheme '{}' is not http or https",
                url.scheme()
            )));
        }
        let authority = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        );
        let host = self.host(&authority);
        if !allowed.iter().any(|a| a.permits(&url)) {
            bump(&host.denied);
            tracing::warn!(url = %url, "outbound call denied by allow-list");
            return Err(FetchError::Denied(authority));
        }
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| FetchError::InvalidRequest(format!("bad method '{}'", request.method)))?;
        let budget = request
            .timeout
            .unwrap_or(self.settings.default_timeout)
            .min(self.settings.default_timeout);
        let deadline = Instant::now() + budget;
        let breaker = &host.breaker;
        let idempotent = matches!(
            method,
            reqwest::Method::GET
                | reqwest::Method::HEAD
                | reqwest::Method::PUT
                | reqwest::Method::DELETE
                | reqwest::Method::OPTIONS
        );
        let mut attempt_no = 0u32;
        loop {
            if !breaker.allow() {
                bump(&host.short_circuited);
                tracing::debug!(%authority, "outbound call skipped: breaker open");
                return Err(FetchError::CircuitOpen(authority));
            }
            let outcome = self.attempt(&method, &url, &request, deadline).await;
            let (error, response, after) = match outcome {
                Attempt::Done(response) => {
                    breaker.record_success();
                    bump(&host.ok);
                    return Ok(response);
                }
                Attempt::Fail(error) => {
                    bump(&host.failed);
                    return Err(error);
                }
                Attempt::Retry {
                    error,
                    response,
                    after,
                } => {
                    breaker.record_failure();
                    (error, response, after)
                }
            };
            let final_outcome = || match response.clone() {
                Some(response) => Ok(response),
                None => Err(error.clone()),
            };
            if !idempotent || attempt_no >= self.settings.retries {
                bump(&host.failed);
                return final_outcome();
            }
            let rate_limited = response.as_ref().is_some_and(|r| r.status == 429);
            let factor = if rate_limited { 4 } else { 1 };
            let backoff = self.settings.backoff * factor * 2u32.saturating_pow(attempt_no);
            let delay = after.map_or(backoff, |after| after.max(backoff));
            if Instant::now() + delay >= deadline {
                bump(&host.failed);
                tracing::debug!(%url, ?delay, "no time left for another retry");
                return final_outcome();
            }
            attempt_no += 1;
            bump(&host.retries);
            tracing::info!(%url, attempt = attempt_no, ?delay, error = %error, "retrying outbound call");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        method: &reqwest::Method,
        url: &Url,
        request: &OutboundRequest,
        deadline: Instant,
    ) -> Attempt {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Attempt::Fail(FetchError::Timeout);
        }
        let mut builder = self
            .client
            .request(method.clone(), url.clone())
            .timeout(remaining);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Attempt::Retry {
                    error: FetchError::Timeout,
                    response: None,
                    after: None,
                };
            }
            Err(e) if e.is_builder() => {
                return Attempt::Fail(FetchError::InvalidRequest(e.to_string()));
            }
            Err(e) => {
                return Attempt::Retry {
                    error: FetchError::Transport(e.to_string()),
                    response: None,
                    after: None,
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect();
        let body = match self.read_body(response).await {
            Ok(body) => body,
            Err(error) => return Attempt::Fail(error),
        };
        let response = OutboundResponse {
            status,
            headers,
            body,
        };
        if status == 429 || status >= 500 {
            Attempt::Retry {
                error: FetchError::Transport(format!("upstream answered HTTP {status}")),
                response: Some(response),
                after: retry_after,
            }
        } else {
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

//! Outbound HTTP for components, through one shared reqwest client.
//!
//! The host, not the guest, owns the policy, and checks it on every hop:
//! the component's allow-list ([`allow`]); the addresses a call may reach
//! ([`policy`]), checked before connecting for IP literals and by the
//! client's own DNS resolver for names ([`resolve`]), with no proxy that
//! could resolve and connect behind its back; redirects, followed here one
//! checked hop at a time rather than by the client ([`redirect`]); the
//! headers a guest may set ([`headers`]). Then reliability: a total time
//! budget per call, retries with exponential backoff for idempotent
//! requests (longer after HTTP 429, honouring `Retry-After`), a response
//! size cap, and a circuit breaker per component and allow-list entry
//! ([`records`]) so a dead upstream fails fast instead of holding every
//! request for its timeout.

#![forbid(unsafe_code)]

mod allow;
mod headers;
mod policy;
mod records;
mod redirect;
mod resolve;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ipnet::IpNet;
use thiserror::Error;
use url::{Host, Url};

pub use allow::AllowedHost;
pub use policy::{Networks, parse_networks};
pub use records::{OutboundStats, UpstreamStats};

use policy::AddressPolicy;
use records::{Permit, Records, Upstream, Verdict, bump};
use redirect::Hop;
use resolve::{BlockedName, GuardedResolver};

/// Why no response was obtained.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Refused by policy: the host is not on the allow-list, or the address
    /// it stands for may not be reached.
    #[error("outbound call denied: {0}")]
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
    /// Redirects followed in one call before giving up.
    pub max_redirects: u32,
    /// Networks that names may resolve into although they are refused by
    /// default (internal upstreams).
    pub allow_networks: Vec<IpNet>,
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

/// See the module documentation.
pub struct Outbound {
    client: reqwest::Client,
    settings: OutboundSettings,
    policy: Arc<AddressPolicy>,
    records: Records,
}

/// One guest call, as every hop of it is checked.
struct Call<'a> {
    component: &'a Arc<str>,
    allowed: &'a [AllowedHost],
    deadline: Instant,
    /// The guest asked for less time than the host allows, so running out
    /// of it says nothing about the upstream.
    guest_budget: bool,
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

/// Why one hop got no response.
enum HopFailure {
    /// The resolver refused every address of the name.
    Denied(String),
    Invalid(String),
    Timeout,
    Transport(String),
}

impl Outbound {
    pub fn new(settings: OutboundSettings) -> Result<Self, FetchError> {
        let policy = Arc::new(AddressPolicy::new(settings.allow_networks.clone()));
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5).min(settings.default_timeout))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            // `fetch` follows redirects itself, checking every hop.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy (`HTTP_PROXY` and friends) would resolve names and
            // connect on our behalf, out of the resolver's sight.
            .no_proxy()
            .dns_resolver(GuardedResolver::new(policy.clone()))
            .build()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        Ok(Self {
            records: Records::new(settings.breaker_threshold, settings.breaker_cool_down),
            client,
            settings,
            policy,
        })
    }

    /// Tells the address policy where this host listens; called once the
    /// listeners are bound (after the client is built).
    pub fn set_listeners(&self, listeners: Vec<SocketAddr>) {
        self.policy.set_listeners(listeners);
    }

    /// Figures per component and upstream, and denials per component.
    pub fn stats(&self) -> OutboundStats {
        self.records.stats()
    }

    /// Sends `request` for `component` if `allowed` and the address policy
    /// permit it (and every redirect it leads to), applying the policy.
    pub async fn fetch(
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

    /// Checks `url` as the next request of `component`: a web URL without
    /// credentials, on the allow-list, and (when its addresses are known
    /// without DNS) to an address the policy lets it reach. Returns the
    /// record of the entry that allowed it.
    fn check_hop(
        &self,
        component: &Arc<str>,
        allowed: &[AllowedHost],
        url: &Url,
    ) -> Result<Arc<Upstream>, FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::InvalidRequest(format!(
                "scheme '{}' is not http or https",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::InvalidRequest(
                "a URL may not carry credentials; send them in a header".into(),
            ));
        }
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return Err(FetchError::InvalidRequest(format!("'{url}' has no host")));
        };
        let deny = |reason: String| {
            self.records.deny(component);
            tracing::warn!(%component, url = %shown(url.as_str()), reason = %shown(&reason), "outbound call denied");
            Err(FetchError::Denied(reason))
        };
        let Some(entry) = allowed.iter().find(|entry| entry.permits(url)) else {
            return deny(format!(
                "{host}:{port} is not on this component's allow-list"
            ));
        };
        let (known, literal) = match host {
            Host::Ipv4(ip) => (vec![IpAddr::V4(ip)], true),
            Host::Ipv6(ip) => (vec![IpAddr::V6(ip)], true),
            Host::Domain(name) if allow::is_localhost(name) => (resolve::LOCALHOST.to_vec(), false),
            // The resolver checks what the name stands for.
            Host::Domain(_) => (Vec::new(), false),
        };
        for ip in known {
            if let Err(reason) = self.policy.check_known(ip, port, entry, literal) {
                return deny(format!("{host}:{port} is {reason}"));
            }
        }
        Ok(self.records.upstream(component, entry))
    }

    /// One attempt: `hop` and the redirects it leads to, each checked and
    /// put through its entry's breaker before it is sent.
    async fn follow(&self, call: &Call<'_>, mut hop: Hop) -> Attempt {
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

    async fn send(&self, hop: &Hop, deadline: Instant) -> Result<reqwest::Response, HopFailure> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut builder = self
            .client
            .request(hop.method.clone(), hop.url.clone())
            .headers(hop.headers.clone())
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
    fn failed(&self, call: &Call<'_>, permit: Permit, failure: HopFailure) -> Attempt {
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

    /// Reads a final (non-redirect) response and judges it.
    async fn finish(
        &self,
        call: &Call<'_>,
        permit: Permit,
        response: reqwest::Response,
    ) -> Attempt {
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

/// Guest-chosen text (a URL, a host name) as a log line shows it.
fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    strata_logtext::bounded(text, 256)
}

//! The shared client and the settings it is built from.
//!
//! One client serves every component so connections are pooled across
//! them; it is built once with the guarded resolver, no proxy and no
//! redirect policy of its own, because those are where a call could slip
//! past the host's checks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use crate::budget::Budgets;
use crate::error::FetchError;
use crate::policy::AddressPolicy;
use crate::records::{OutboundStats, Records};
use crate::resolve::GuardedResolver;
use crate::trace::TraceContext;

/// Client policy, from the CLI.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// Longest one call may take, retries and redirects included; a guest may
    /// ask for less, never more. Also caps the connect timeout (at most 5 s).
    pub default_timeout: Duration,
    /// Further attempts after a failed one, for idempotent methods only and
    /// only while the deadline leaves room.
    pub retries: u32,
    /// Wait before the first retry; it doubles per retry, is four times as
    /// long after a 429, and is never shorter than the upstream's `Retry-After`.
    pub backoff: Duration,
    /// Largest response body accepted; a bigger one fails the call with
    /// [`FetchError::TooLarge`].
    pub max_response_bytes: usize,
    /// Consecutive failures that open the breaker of one (component,
    /// allow-list entry) pair.
    pub breaker_threshold: u32,
    /// How long an open breaker refuses calls before letting one probe through.
    pub breaker_cool_down: Duration,
    /// Redirects followed in one call before giving up.
    pub max_redirects: u32,
    /// Networks that names may resolve into although they are refused by
    /// default (internal upstreams).
    pub allow_networks: Vec<IpNet>,
}

/// Outbound HTTP for components; see the crate documentation.
pub struct Outbound {
    pub(crate) client: reqwest::Client,
    pub(crate) settings: OutboundSettings,
    pub(crate) policy: Arc<AddressPolicy>,
    pub(crate) records: Records,
    pub(crate) budgets: Budgets,
    /// Set when the host exports traces: calls get spans, hops `traceparent`.
    pub(crate) trace: Option<Arc<dyn TraceContext>>,
}

impl Outbound {
    /// Builds the one client every component shares; fails (as
    /// [`FetchError::Transport`]) only when the HTTP client cannot be built.
    /// Call [`set_listeners`](Self::set_listeners) once the listeners are bound.
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
            budgets: Budgets::default(),
            trace: None,
            client,
            settings,
            policy,
        })
    }

    /// Puts calls under `budgets` (the manifest's `[[upstreams]]`); without
    /// this only 429 holds apply.
    pub fn with_budgets(mut self, budgets: Budgets) -> Self {
        self.budgets = budgets;
        self
    }

    /// Makes every call a span and puts `context`'s trace headers on every
    /// request sent (see [`crate::trace`]); without this, neither.
    pub fn with_trace_context(mut self, context: Arc<dyn TraceContext>) -> Self {
        self.trace = Some(context);
        self
    }

    /// Tells the address policy where this host listens; called once the
    /// listeners are bound (after the client is built).
    pub fn set_listeners(&self, listeners: Vec<SocketAddr>) {
        self.policy.set_listeners(listeners);
    }

    /// Figures per component and upstream, denials per component, and
    /// figures per budget.
    pub fn stats(&self) -> OutboundStats {
        OutboundStats {
            budgets: self.budgets.stats(),
            budget_fallbacks: self.budgets.fallbacks(),
            ..self.records.stats()
        }
    }
}

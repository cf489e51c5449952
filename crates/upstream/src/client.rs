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

use crate::error::FetchError;
use crate::policy::AddressPolicy;
use crate::records::{OutboundStats, Records};
use crate::resolve::GuardedResolver;

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

/// Outbound HTTP for components; see the crate documentation.
pub struct Outbound {
    pub(crate) client: reqwest::Client,
    pub(crate) settings: OutboundSettings,
    pub(crate) policy: Arc<AddressPolicy>,
    pub(crate) records: Records,
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
}

//! The admission check every hop of a call passes before it is sent.
//!
//! The first request and each redirect are judged alike, so a redirect can
//! never take a call somewhere the guest could not have asked for directly;
//! doing it in one place keeps the two paths from drifting apart.

use std::net::IpAddr;
use std::sync::Arc;

use url::{Host, Url};

use crate::allow::{self, AllowedHost};
use crate::client::Outbound;
use crate::error::FetchError;
use crate::records::Upstream;
use crate::resolve;
use crate::shown;

impl Outbound {
    /// Checks `url` as the next request of `component`: a web URL without
    /// credentials, on the allow-list, and (when its addresses are known
    /// without DNS) to an address the policy lets it reach. Returns the
    /// record of the entry that allowed it.
    pub(crate) fn check_hop(
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
}

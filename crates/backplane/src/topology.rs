//! Which Redis deployment the operator configured: one server or a cluster.
//!
//! The two settings (`REDIS_URL`, `REDIS_CLUSTER_URLS`) are exclusive and
//! either may be absent, which means no Redis at all. They are checked at
//! start-up, so a malformed URL is named (with credentials redacted) before
//! the host serves anything, rather than surfacing later as a connection
//! error.

use redis::{ConnectionInfo, IntoConnectionInfo};

use crate::BackplaneError;

/// The Redis deployment the operator configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// The `REDIS_URL`, as configured: it may carry credentials, so redact
    /// it before logging.
    Standalone(String),
    /// Seed nodes; the rest of the cluster is discovered from them.
    Cluster(Vec<String>),
}

impl Topology {
    /// Reads `REDIS_URL` and `REDIS_CLUSTER_URLS` (either may be unset or
    /// empty); `None` means no Redis at all.
    pub fn from_settings(
        url: Option<&str>,
        cluster_urls: Option<&str>,
    ) -> Result<Option<Self>, BackplaneError> {
        let url = url.map(str::trim).filter(|url| !url.is_empty());
        let cluster_urls = cluster_urls.map(str::trim).filter(|urls| !urls.is_empty());
        match (url, cluster_urls) {
            (Some(_), Some(_)) => Err(BackplaneError::BothConfigured),
            (None, None) => Ok(None),
            (Some(url), None) => {
                parse_url(url)?;
                Ok(Some(Topology::Standalone(url.to_string())))
            }
            (None, Some(list)) => {
                let seeds: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|url| !url.is_empty())
                    .map(str::to_string)
                    .collect();
                if seeds.is_empty() {
                    return Err(BackplaneError::NoClusterNodes);
                }
                for seed in &seeds {
                    parse_url(seed)?;
                }
                Ok(Some(Topology::Cluster(seeds)))
            }
        }
    }

    /// "standalone" or "cluster", for health and stats.
    pub fn mode(&self) -> &'static str {
        match self {
            Topology::Standalone(_) => "standalone",
            Topology::Cluster(_) => "cluster",
        }
    }
}

/// Parses one Redis URL, naming it (redacted) when it is malformed.
pub(crate) fn parse_url(url: &str) -> Result<ConnectionInfo, BackplaneError> {
    url.into_connection_info()
        .map_err(|e| BackplaneError::BadUrl {
            url: strata_logtext::redact(url),
            reason: strata_logtext::redact(&e.to_string()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_settings_means_no_redis() {
        assert_eq!(Topology::from_settings(None, Some(" ")).ok(), Some(None));
    }

    #[test]
    fn a_single_url_is_standalone() {
        let topology = Topology::from_settings(Some("redis://127.0.0.1:6379/"), None);
        assert_eq!(
            topology.ok().flatten(),
            Some(Topology::Standalone("redis://127.0.0.1:6379/".into()))
        );
    }

    #[test]
    fn cluster_urls_are_split_on_commas() {
        let topology = Topology::from_settings(
            None,
            Some("redis://127.0.0.1:7000, redis://127.0.0.1:7001,"),
        );
        assert_eq!(
            topology.ok().flatten(),
            Some(Topology::Cluster(vec![
                "redis://127.0.0.1:7000".into(),
                "redis://127.0.0.1:7001".into()
            ]))
        );
    }

    #[test]
    fn both_settings_at_once_are_refused() {
        let refused = Topology::from_settings(Some("redis://a"), Some("redis://b"));
        assert!(matches!(refused, Err(BackplaneError::BothConfigured)));
    }

    #[test]
    fn a_bad_cluster_url_is_named() {
        let refused = Topology::from_settings(None, Some("redis://127.0.0.1:7000,http://x"));
        match refused {
            Err(BackplaneError::BadUrl { url, .. }) => assert_eq!(url, "http://x"),
            other => panic!("expected a bad URL error, got {other:?}"),
        }
    }

    #[test]
    fn a_list_of_only_commas_names_no_node() {
        let refused = Topology::from_settings(None, Some(",,"));
        assert!(matches!(refused, Err(BackplaneError::NoClusterNodes)));
    }
}

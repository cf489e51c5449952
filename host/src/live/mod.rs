//! The live dashboard: a scheduled refresh through the dashboard component,
//! broadcast to WebSocket clients on every instance.
//!
//! Every [`LiveSettings::interval`], one instance (the holder of a short
//! Redis lock) asks the dashboard component to recompute the summary. The
//! component's refresh stores it in the cache (and so in Redis); the instance
//! publishes the update on a Redis channel, and every instance, itself
//! included, forwards it to its WebSocket clients. Without Redis, the single
//! instance refreshes and broadcasts locally. Consecutive failures back off
//! exponentially (2, 4, 8, ... minutes by default, capped at 30) and clients
//! keep the last good snapshot meanwhile.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::{broadcast, watch};

use crate::dispatch::Dispatcher;
use crate::routes::Routed;
use strata_backplane::Backplane;

/// The component route the scheduler calls.
pub const REFRESH_PATH: &str = "/api/crypto/dashboard-summary/refresh";
/// The update channel and the refresh lock, inside the Redis namespace.
const CHANNEL: &str = "dashboard:updates";
const LOCK_KEY: &str = "lock:dashboard-refresh";
/// Longest a Redis round trip of the feed may take before it counts as down.
const REDIS_WAIT: Duration = Duration::from_secs(1);
/// Updates a client may fall behind before it is dropped as too slow.
const CLIENT_BACKLOG: usize = 16;

/// Scheduling policy, from the CLI.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// Time between refreshes; zero disables the scheduler.
    pub interval: Duration,
    pub timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// WebSocket clients at once.
    pub max_clients: usize,
    /// Origins besides the host's own whose pages may open the feed.
    pub allowed_origins: Vec<String>,
}

impl LiveSettings {
    /// Delay after `failures` consecutive failures: base, 2×base, 4×base, ...
    /// up to the cap.
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// The feed shared by the scheduler and the WebSocket handlers.
pub struct Live {
    settings: LiveSettings,
    /// One permit per connected WebSocket client.
    client_slots: Arc<tokio::sync::Semaphore>,
    /// The newest update message, sent to every new client first.
    latest: watch::Sender<Option<Arc<str>>>,
    updates: broadcast::Sender<Arc<str>>,
    redis: Option<Arc<Backplane>>,
    instance: String,
}

impl Live {
    /// A feed; with a backplane the updates fan out through Redis.
    pub fn new(settings: LiveSettings, redis: Option<Arc<Backplane>>) -> Self {
        Self {
            client_slots: Arc::new(tokio::sync::Semaphore::new(settings.max_clients.max(1))),
            settings,
            latest: watch::channel(None).0,
            updates: broadcast::channel(CLIENT_BACKLOG).0,
            redis,
            instance: format!("{}", std::process::id()),
        }
    }

    /// Time between scheduled refreshes; zero when the scheduler is off.
    pub fn interval(&self) -> Duration {
        self.settings.interval
    }

    /// The newest update, if any arrived yet.
    pub fn latest(&self) -> Option<Arc<str>> {
        self.latest.borrow().clone()
    }

    /// A receiver of all later updates.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.updates.subscribe()
    }

    /// WebSocket clients connected to this instance.
    pub fn clients(&self) -> usize {
        self.updates.receiver_count()
    }

    /// Origins besides the host's own whose pages may open the feed.
    pub fn allowed_origins(&self) -> &[String] {
        &self.settings.allowed_origins
    }

    /// A slot for one more WebSocket client, if the cap allows.
    pub fn admit_client(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.client_slots.clone().try_acquire_owned().ok()
    }

    fn deliver(&self, message: Arc<str>) {
        self.latest.send_replace(Some(message.clone()));
        // No receivers is fine: nobody is watching right now.
        let _ = self.updates.send(message);
    }

    /// Sends an update to every instance (through Redis) or just this one.
    async fn publish(&self, message: String) {
        if let Some(backplane) = &self.redis {
            let channel = backplane.namespace().channel(CHANNEL);
            let sent =
                tokio::time::timeout(REDIS_WAIT, backplane.publish(&channel, &message)).await;
            match sent {
                Ok(Ok(receivers)) if receivers > 0 => return,
                Ok(Ok(_)) => tracing::debug!(
                    "no instance subscribed to dashboard updates; delivering locally"
                ),
                Err(_) => {
                    tracing::warn!("publishing the dashboard update timed out; delivering locally")
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot publish the dashboard update; delivering locally")
                }
            }
        }
        self.deliver(message.into());
    }

    /// Whether this instance should refresh now (holds the lock for this
    /// interval). Without Redis there is no one to coordinate with.
    async fn acquire_turn(&self) -> bool {
        let Some(backplane) = &self.redis else {
            return true;
        };
        let mut conn = backplane.conn();
        let hold = self
            .settings
            .interval
            .saturating_sub(Duration::from_millis(100))
            .max(Duration::from_millis(100));
        let mut command = redis::cmd("SET");
        command
            .arg(backplane.namespace().host_key(LOCK_KEY))
            .arg(&self.instance)
            .arg("NX")
            .arg("PX")
            .arg(hold.as_millis() as u64);
        let acquire = command.query_async::<Option<String>>(&mut conn);
        let acquired = tokio::time::timeout(REDIS_WAIT, acquire)
            .await
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "the refresh lock timed out",
                )))
            });
        match acquired {
            Ok(reply) => reply.is_some(),
            Err(e) => {
                // Redis is down: nobody else can coordinate either, so refresh
                // locally rather than let the dashboard go stale.
                tracing::debug!(error = %e, "refresh lock unavailable; refreshing locally");
                true
            }
        }
    }
}

/// Starts the scheduler, which refreshes through `dispatcher`, and (with
/// Redis) the update subscriber.
pub fn start(live: Arc<Live>, dispatcher: Arc<Dispatcher>) {
    let settings = &live.settings;
    if let Some(backplane) = &live.redis {
        tokio::spawn(subscribe(live.clone(), backplane.clone()));
    }
    if settings.interval.is_zero() {
        tracing::info!("live dashboard refresh disabled");
        return;
    }
    tokio::spawn(schedule(live, dispatcher));
}

async fn schedule(live: Arc<Live>, dispatcher: Arc<Dispatcher>) {
    let settings = live.settings.clone();
    let mut failures = 0u32;
    let mut routed = None;
    loop {
        // The active manifest may add or drop the route at any deploy.
        let serves = matches!(
            dispatcher.current().router().route("GET", REFRESH_PATH),
            Routed::Found(_)
        );
        if routed != Some(serves) {
            routed = Some(serves);
            if !serves {
                tracing::info!(
                    path = REFRESH_PATH,
                    "live dashboard refresh paused: no route serves it"
                );
            }
        }
        if serves && live.acquire_turn().await {
            match refresh(&dispatcher, settings.timeout).await {
                Ok(data) => {
                    failures = 0;
                    let message = json!({
                        "type": "dashboard_update",
                        "data": data,
                        "timestamp": chrono::Utc::now().to_rfc3339(),
                    });
                    live.publish(message.to_string()).await;
                    tracing::debug!("dashboard refreshed and broadcast");
                }
                Err(e) => {
                    failures += 1;
                    let delay = if failures > 1 {
                        settings.backoff(failures - 1)
                    } else {
                        settings.interval
                    };
                    tracing::warn!(failures, error = %e, next_in = ?delay, "dashboard refresh failed; clients keep the last good data");
                }
            }
        }
        let delay = if failures > 1 {
            settings.backoff(failures - 1)
        } else {
            settings.interval
        };
        tokio::time::sleep(delay).await;
    }
}

/// Runs the dashboard component's refresh route and returns its JSON.
async fn refresh(dispatcher: &Dispatcher, timeout: Duration) -> Result<serde_json::Value, String> {
    let request = hyper::Request::builder()
        .method(hyper::Method::GET)
        .uri(REFRESH_PATH)
        .header(hyper::header::HOST, "localhost")
        .body(crate::body::empty())
        .map_err(|e| e.to_string())?;
    let work = async {
        let response = dispatcher
            .dispatch(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the refresh body: {e}"))?
            .to_bytes();
        if !status.is_success() {
            // The component's text: bounded and escaped before it is logged.
            return Err(format!(
                "refresh answered {status}: {}",
                strata_logtext::bounded(&String::from_utf8_lossy(&body), 256)
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("refresh body is not JSON: {e}"))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("refresh took longer than {timeout:?}"))?
}

/// Forwards updates published by any instance to this instance's clients.
async fn subscribe(live: Arc<Live>, backplane: Arc<Backplane>) {
    loop {
        match backplane
            .subscribe(&[&backplane.namespace().channel(CHANNEL)])
            .await
        {
            Ok(pubsub) => {
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    if let Ok(payload) = message.get_payload::<String>() {
                        live.deliver(payload.into());
                    }
                }
                tracing::warn!("dashboard update subscription lost; reconnecting");
            }
            Err(e) => tracing::debug!(error = %e, "cannot subscribe to dashboard updates"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let settings = LiveSettings {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            backoff_base: Duration::from_secs(120),
            backoff_max: Duration::from_secs(1800),
            max_clients: 1,
            allowed_origins: Vec::new(),
        };
        let minutes: Vec<u64> = (1..=6)
            .map(|n| settings.backoff(n).as_secs() / 60)
            .collect();
        assert_eq!(minutes, [2, 4, 8, 16, 30, 30]);
    }
}

//! The accept loop: one task per connection, each bounded by a slot
//! ([`super::conn`]) and a watchdog, and a graceful, bounded shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use super::handle::handle;
use super::{ListenerRole, Server, conn};

/// Serves `server` on `listener` until `shutdown` resolves, then lets open
/// connections finish for at most the shutdown grace period.
pub async fn serve(
    listener: TcpListener,
    server: Arc<Server>,
    role: ListenerRole,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let settings = &server.settings;
    let limits = settings.connections;
    let slots = conn::ConnectionSlots::new(&limits);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Slow request heads are cut off before they tie up a connection task.
    // The exact head limit (a JSON 431) is checked per request in
    // `serve_one`; hyper's read buffer cap is only the hard memory bound
    // behind it (hyper answers a bare 431 past that).
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(settings.max_header_bytes.saturating_mul(2).max(16 * 1024));
    // HTTP/2: a bounded number of streams, bounded header lists, and pings
    // that drop a peer which stops answering.
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(limits.max_streams())
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and similar: back off briefly
                    // rather than spinning or dying.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = slots.try_open() else {
            server.requests.connection_refused();
            tracing::debug!(%peer, "connection refused: too many open connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = conn::Connection::new(&limits);
        let service = {
            let (server, role, connection) = (server.clone(), role.clone(), connection.clone());
            hyper::service::service_fn(move |req| {
                let server = server.clone();
                let role = role.clone();
                let activity = connection.begin();
                let connection = connection.clone();
                async move {
                    let response = handle(&server, &role, &connection, req, peer).await;
                    Ok::<_, Infallible>(conn::track(response, activity))
                }
            })
        };
        let served = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let served = graceful.watch(served.into_owned());
        tokio::spawn(async move {
            tokio::select! {
                outcome = served => if let Err(e) = outcome {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                },
                reason = conn::watchdog(connection) => {
                    tracing::debug!(%peer, reason, "connection closed by the host");
                }
            }
            drop(slot);
        });
    }
    tracing::info!("shutting down: waiting for open connections");
    if tokio::time::timeout(server.settings.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?server.settings.shutdown_grace,
            "connections still open after the shutdown grace period; closing them"
        );
    }
    Ok(())
}

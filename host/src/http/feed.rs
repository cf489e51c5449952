//! `GET /ws`: the WebSocket feed of dashboard updates.
//!
//! A client gets the newest snapshot at once, then every update. Each send
//! has a deadline and the per-client backlog is bounded, so a slow client is
//! dropped instead of holding memory or delaying others. Pings keep idle
//! connections (and proxies in between) alive.
//!
//! A client that answers no ping for two ping intervals is dropped, so a
//! dead or silent peer does not keep its slot. The feed goes one way, so
//! what a client may send is small: control
//! frames and short messages, at a bounded rate; anything bigger or faster
//! closes its connection. Clients at once are capped (a refusal is a JSON
//! 503 before the upgrade), and a browser page from another origin cannot
//! open the feed (cross-site WebSocket hijacking): its `Origin` must be the
//! host's own or one the operator allows.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyper::StatusCode;
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper_util::rt::TokioIo;
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{
    CloseFrame, Role, WebSocketConfig, frame::coding::CloseCode,
};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::error::ApiError;
use crate::live::Live;

const PING_EVERY: Duration = Duration::from_secs(20);
const SEND_DEADLINE: Duration = Duration::from_secs(5);
/// Largest message or frame a client may send; the feed expects none.
const MAX_INBOUND_BYTES: usize = 4 * 1024;
/// Messages a client may send per [`INBOUND_WINDOW`] before it is dropped.
const MAX_INBOUND_MESSAGES: u32 = 32;
const INBOUND_WINDOW: Duration = Duration::from_secs(10);
/// Bytes of outgoing messages one client may have buffered.
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_INBOUND_BYTES))
        .max_frame_size(Some(MAX_INBOUND_BYTES))
        .read_buffer_size(MAX_INBOUND_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
}

/// Whether `req` asks for a WebSocket upgrade.
fn is_upgrade<B>(req: &hyper::Request<B>) -> bool {
    let has = |name, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    has(CONNECTION, "upgrade") && has(UPGRADE, "websocket")
}

/// Answers the handshake and serves the connection in the background.
pub(super) fn upgrade<B>(
    live: Arc<Live>,
    mut req: hyper::Request<B>,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    if !is_upgrade(&req) {
        return Err(ApiError::UpgradeRequired);
    }
    if let Some(origin) = super::origin::origin(&req)
        && !super::origin::origin_allowed(
            origin,
            super::origin::authority(&req),
            live.allowed_origins(),
        )
    {
        tracing::warn!(origin, "WebSocket refused: foreign origin");
        return Err(ApiError::Forbidden(format!(
            "pages from {origin} may not open this feed (STRATA_WEBSOCKET_ALLOWED_ORIGINS)"
        )));
    }
    let Some(client) = live.admit_client() else {
        tracing::warn!("WebSocket refused: too many clients");
        return Err(ApiError::TooManyClients);
    };
    let key = req
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .ok_or_else(|| ApiError::BadRequest("missing Sec-WebSocket-Key".into()))?;
    if req
        .headers()
        .get("sec-websocket-version")
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Err(ApiError::BadRequest(
            "only WebSocket version 13 is supported".into(),
        ));
    }
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(socket_config()),
                )
                .await;
                serve(live, socket).await;
                drop(client);
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut response = hyper::Response::new(crate::body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    Ok(response)
}

async fn serve<S>(live: Arc<Live>, socket: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut incoming) = socket.split();
    let mut updates = live.subscribe();
    tracing::debug!(clients = live.clients(), "WebSocket client connected");
    if let Some(snapshot) = live.latest()
        && !send(&mut sink, Message::text(snapshot.to_string())).await
    {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut inbound = (tokio::time::Instant::now(), 0u32);
    // A client that answers no ping is gone (or only holds a slot).
    let mut heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            update = updates.recv() => match update {
                Ok(message) => {
                    if !send(&mut sink, Message::text(message.to_string())).await {
                        break;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "dropping a WebSocket client that cannot keep up");
                    let frame = CloseFrame { code: CloseCode::Policy, reason: "too slow".into() };
                    let _ = tokio::time::timeout(SEND_DEADLINE, sink.send(Message::Close(Some(frame)))).await;
                    break;
                }
                Err(RecvError::Closed) => break,
            },
            _ = ping.tick() => {
                if heard.elapsed() > 2 * PING_EVERY {
                    tracing::debug!("dropping a WebSocket client that stopped answering pings");
                    break;
                }
                if !send(&mut sink, Message::Ping(Default::default())).await {
                    break;
                }
            }
            frame = incoming.next() => match frame {
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "dropping a WebSocket client: bad or oversized frame");
                    break;
                }
                Some(Ok(Message::Pong(_))) => heard = tokio::time::Instant::now(),
                Some(Ok(_)) => {
                    let now = tokio::time::Instant::now();
                    heard = now;
                    if now.duration_since(inbound.0) > INBOUND_WINDOW {
                        inbound = (now, 0);
                    }
                    inbound.1 += 1;
                    if inbound.1 > MAX_INBOUND_MESSAGES {
                        tracing::info!("dropping a WebSocket client that floods the feed");
                        let frame = CloseFrame { code: CloseCode::Policy, reason: "too many messages".into() };
                        let _ = tokio::time::timeout(SEND_DEADLINE, sink.send(Message::Close(Some(frame)))).await;
                        break;
                    }
                }
            },
        }
    }
    tracing::debug!("WebSocket client disconnected");
}

/// Sends one message within the deadline; false means drop the client.
async fn send<S>(sink: &mut S, message: Message) -> bool
where
    S: futures::Sink<Message> + Unpin,
{
    matches!(
        tokio::time::timeout(SEND_DEADLINE, sink.send(message)).await,
        Ok(Ok(()))
    )
}

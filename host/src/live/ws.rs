//! `GET /ws`: the WebSocket feed of dashboard updates.
//!
//! A client gets the newest snapshot at once, then every update. Each send
//! has a deadline and the per-client backlog is bounded, so a slow client is
//! dropped instead of holding memory or delaying others. Pings keep idle
//! connections (and proxies in between) alive.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper_util::rt::TokioIo;
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, frame::coding::CloseCode};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::Live;
use crate::http::error::ApiError;

const PING_EVERY: Duration = Duration::from_secs(20);
const SEND_DEADLINE: Duration = Duration::from_secs(5);

/// Whether `req` asks for a WebSocket upgrade.
pub fn is_upgrade(req: &hyper::Request<Incoming>) -> bool {
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
pub fn upgrade(
    live: Arc<Live>,
    mut req: hyper::Request<Incoming>,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    if !is_upgrade(&req) {
        return Err(ApiError::UpgradeRequired);
    }
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
                let socket =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                serve(live, socket).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut response = hyper::Response::new(crate::http::empty_body());
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
                if !send(&mut sink, Message::Ping(Default::default())).await {
                    break;
                }
            }
            frame = incoming.next() => match frame {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
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

//! WebSocket clients of the live dashboard feed.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::Host;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(host: &Host) -> Socket {
    let url = format!("{}/ws", host.url.replacen("http://", "ws://", 1));
    tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket handshake")
        .0
}

/// The next dashboard update within `wait`, or none.
pub async fn next_update(socket: &mut Socket, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, socket.next()).await.ok()?? {
            Ok(Message::Text(text)) => {
                let message: Value = serde_json::from_str(&text).expect("JSON message");
                if message["type"] == "dashboard_update" {
                    return Some(message);
                }
            }
            Ok(_) => {}
            Err(e) => panic!("WebSocket error: {e}"),
        }
    }
}

/// The timestamps of every update `socket` receives during `window`.
pub async fn stamps(mut socket: Socket, window: Duration) -> Vec<String> {
    let mut stamps = Vec::new();
    let until = Instant::now() + window;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match next_update(&mut socket, left).await {
            Some(update) => stamps.push(update["timestamp"].as_str().unwrap_or("").to_string()),
            None => break,
        }
    }
    stamps
}

/// `mine` from the first update `theirs` also saw: a client may get an
/// older snapshot on connect, so two clients' lists are compared from there.
fn from_first_shared(mine: &[String], theirs: &[String]) -> Vec<String> {
    mine.iter()
        .skip_while(|s| !theirs.contains(s))
        .cloned()
        .collect()
}

/// Every client saw a steady feed (at least three updates, none twice),
/// and, from the first update they shared, all saw exactly the same ones.
pub fn assert_every_client_saw_the_same_updates(clients: &[&[String]]) {
    for seen in clients {
        let mut unique = seen.to_vec();
        unique.dedup();
        assert_eq!(&unique, seen, "no update delivered twice");
        assert!(seen.len() >= 3, "updates keep coming: {seen:?}");
    }
    for pair in clients.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let common = from_first_shared(a, b);
        assert!(common.len() >= 3, "A: {a:?}\nB: {b:?}");
        assert_eq!(common, from_first_shared(b, a), "A: {a:?}\nB: {b:?}");
    }
}

/// The instances took turns: one refresh per tick in total (each refresh
/// makes two upstream calls), not one per instance.
pub fn assert_one_refresh_per_tick(upstream_calls: u64, updates_seen: &[String]) {
    let refreshes = updates_seen.len() as u64 - 1;
    assert!(
        upstream_calls <= 2 * (refreshes + 2),
        "{upstream_calls} upstream calls for {refreshes} updates"
    );
}

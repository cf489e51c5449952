//! A hostile client against the live feed (`/ws`): huge and endless
//! inbound messages, more clients than the host serves, and a page from
//! another site opening the feed in a visitor's browser.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Backend, Host, Services, closed_within};

/// Opens the feed over raw TCP with the given extra handshake headers;
/// returns the status line's code and the stream.
async fn handshake(host: &Host, extra: &[(&str, &str)]) -> (u16, TcpStream) {
    let address = host.url.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("handshake answer in time")
            .expect("read");
        assert!(n > 0, "closed during the handshake");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, stream)
}

/// A masked client frame of `len` zero bytes: the first (binary, not
/// final) or a continuation of an unfinished message.
fn fragment(first: bool, len: usize) -> Vec<u8> {
    let opcode = if first { 0x02 } else { 0x00 };
    let mut frame = vec![opcode, 0x80 | 127];
    frame.extend_from_slice(&(len as u64).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.resize(frame.len() + len, 0);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_inbound_messages_close_the_connection_without_being_buffered() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let before = host.rss_bytes();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (status, mut stream) = handshake(&host, &[]).await;
        assert_eq!(status, 101);
        // 15 MiB of a message that never ends, in 1 MiB fragments (each
        // under the codec's default frame limit).
        for i in 0..15 {
            let sent = tokio::time::timeout(
                Duration::from_secs(5),
                stream.write_all(&fragment(i == 0, 1 << 20)),
            )
            .await;
            if !matches!(sent, Ok(Ok(()))) {
                break;
            }
        }
        clients.push(stream);
    }
    for (i, stream) in clients.iter_mut().enumerate() {
        assert!(
            closed_within(stream, Duration::from_secs(10)).await,
            "client {i} with an unfinished 60 MiB message is still connected"
        );
    }
    let grown = host.rss_bytes().saturating_sub(before);
    assert!(
        grown < 32 << 20,
        "RSS grew by {} MiB for four unfinished messages",
        grown >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_small_inbound_messages_closes_the_connection() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let url = format!("{}/ws", host.url.replacen("http://", "ws://", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("handshake");
    let flood = async {
        for i in 0..10_000 {
            if socket
                .send(Message::text(format!("spam {i}")))
                .await
                .is_err()
            {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), flood).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the flooding client is still connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_past_the_cap_are_refused_with_a_json_503() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_MAX_WEBSOCKET_CLIENTS", "2")]);
    let (first, _a) = handshake(&host, &[]).await;
    let (second, _b) = handshake(&host, &[]).await;
    assert_eq!((first, second), (101, 101));
    let (third, mut stream) = handshake(&host, &[]).await;
    assert_eq!(third, 503);
    let mut body = vec![0u8; 512];
    let n = stream.read(&mut body).await.unwrap_or(0);
    assert!(
        String::from_utf8_lossy(&body[..n]).contains("too_many_clients"),
        "a JSON refusal"
    );
    drop(_a);
    // The slot comes back once the server notices the first client left.
    let mut reopened = 0;
    for _ in 0..50 {
        reopened = handshake(&host, &[]).await.0;
        if reopened == 101 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reopened, 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_from_another_origin_cannot_open_the_feed() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[(
        "STRATA_WEBSOCKET_ALLOWED_ORIGINS",
        "https://dashboards.example.com",
    )]);
    let own = host.url.clone();
    let (foreign, _) = handshake(&host, &[("Origin", "https://evil.example")]).await;
    assert_eq!(foreign, 403);
    let (opaque, _) = handshake(&host, &[("Origin", "null")]).await;
    assert_eq!(opaque, 403);
    let (same, _) = handshake(&host, &[("Origin", &own)]).await;
    assert_eq!(same, 101);
    let (listed, _) = handshake(&host, &[("Origin", "https://dashboards.example.com")]).await;
    assert_eq!(listed, 101);
    let (no_browser, _) = handshake(&host, &[]).await;
    assert_eq!(no_browser, 101, "non-browser clients send no Origin");
}

//! Shared harness: an in-process simulator on an ephemeral port and a tiny
//! HTTP/1.1 client built on hyper's connection-level API.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use strata_market_sim::{Clock, SimConfig, SimState, serve};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// 2024-05-01T12:00:00Z — pinned so responses are reproducible.
pub const T0: u64 = 1_714_564_800;

/// A running simulator; aborted when dropped.
pub struct Sim {
    pub addr: SocketAddr,
    pub state: SimState,
    task: JoinHandle<std::io::Result<()>>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a simulator with a pinned clock and 1000 coins.
pub async fn start() -> Sim {
    start_with(SimConfig {
        clock: Clock::Fixed(T0),
        ..SimConfig::default()
    })
    .await
}

/// Starts a simulator with a custom configuration.
pub async fn start_with(config: SimConfig) -> Sim {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let state = SimState::new(config);
    let task = tokio::spawn(serve(listener, state.clone()));
    Sim { addr, state, task }
}

/// A decoded response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Reply {
    /// The `error` message of a JSON error body.
    pub fn error(&self) -> &str {
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.json))
    }
}

impl Sim {
    pub async fn get(&self, path: &str) -> Reply {
        send(self.addr, Method::GET, path, "").await
    }

    pub async fn post(&self, path: &str) -> Reply {
        send(self.addr, Method::POST, path, "").await
    }

    pub async fn put(&self, path: &str, body: &str) -> Reply {
        send(self.addr, Method::PUT, path, body).await
    }

    /// Sets faults through the control API and asserts it was accepted.
    pub async fn set_faults(&self, body: &str) {
        let reply = self.put("/__sim/faults", body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    }

    pub async fn stats(&self) -> Value {
        self.get("/__sim/stats").await.json
    }
}

/// Sends one request on a fresh connection and decodes the JSON body.
pub async fn send(addr: SocketAddr, method: Method, path: &str, body: &str) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, addr.to_string())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|err| {
        panic!(
            "{path}: body is not JSON ({err}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    Reply {
        status: parts.status,
        headers: parts.headers,
        json,
    }
}

/// Like [`send`] with GET, but gives up after `limit`.
pub async fn get_within(addr: SocketAddr, path: &str, limit: Duration) -> Option<Reply> {
    tokio::time::timeout(limit, send(addr, Method::GET, path, ""))
        .await
        .ok()
}

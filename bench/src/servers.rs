//! The in-process servers: the market simulator, the hyper hello-world
//! ceiling and the native moka baseline.
//!
//! Each runs on its own tokio runtime in its own OS thread (testkit's
//! [`start_dedicated`]), so none of them shares a scheduler with the
//! orchestrator or with one another, and so the ceiling and the baseline
//! are measured the way a dedicated native service would run. They stop
//! when their handle is dropped.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use strata_testkit::DedicatedServer as Server;
use strata_testkit::{Simulator, start_dedicated};

/// Body of the hello-world ceiling: about the size of the echo
/// component's answer.
pub const HELLO_BODY: &str =
    r#"{"component":"hello","version":"native","path":"/hello","method":"GET"}"#;

/// The cache key the dashboard component reads on every request.
pub const DASHBOARD_KEY: &str = "dashboard:summary";

/// Path the baseline answers, the same as the dashboard route.
pub const DASHBOARD_PATH: &str = "/api/crypto/dashboard-summary";

/// Worker threads per in-process server: the machine's two cores, the same
/// as strata's multi-threaded runtime gets.
const WORKER_THREADS: usize = 2;

/// Starts `serve` on a runtime of its own with [`WORKER_THREADS`]
/// workers (see [`start_dedicated`]).
fn start<F, Fut>(name: &str, serve: F) -> Result<Server>
where
    F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    start_dedicated(&format!("bench-{name}"), WORKER_THREADS, serve)
}

/// Accepts HTTP/1.1 keep-alive connections and answers each request with
/// `handler` until `shutdown` fires.
async fn serve_http<H, Fut>(listener: TcpListener, mut shutdown: oneshot::Receiver<()>, handler: H)
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Transient (e.g. out of descriptors): keep serving.
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The ceiling: a hyper 1.x server answering every request with a small
/// constant JSON body. Nothing serving HTTP on this machine can beat it.
pub fn start_hello() -> Result<Server> {
    start("hello", |listener, shutdown| {
        serve_http(listener, shutdown, |_req| async {
            json_response(StatusCode::OK, Bytes::from_static(HELLO_BODY.as_bytes()))
        })
    })
}

/// The native baseline: what the dashboard route costs when written as
/// plain Rust with the same L1 structure (a `moka::future::Cache` lookup of
/// the same key holding the same bytes), with no sandbox in between.
pub fn start_moka_baseline(dashboard_json: Bytes) -> Result<Server> {
    let cache: moka::future::Cache<String, Bytes> =
        moka::future::Cache::builder().max_capacity(2_000).build();
    start("baseline", move |listener, shutdown| async move {
        cache
            .insert(DASHBOARD_KEY.to_string(), dashboard_json)
            .await;
        let cache = Arc::new(cache);
        serve_http(listener, shutdown, move |req: Request<Incoming>| {
            let cache = cache.clone();
            async move {
                if req.uri().path() != DASHBOARD_PATH {
                    return json_response(StatusCode::NOT_FOUND, Bytes::from_static(b"{}"));
                }
                match cache.get(DASHBOARD_KEY).await {
                    Some(body) => {
                        let mut response = json_response(StatusCode::OK, body);
                        response.headers_mut().insert(
                            "x-strata-cache",
                            hyper::header::HeaderValue::from_static("hit-l1"),
                        );
                        response
                    }
                    None => json_response(StatusCode::NOT_FOUND, Bytes::from_static(b"{}")),
                }
            }
        })
        .await;
    })
}

/// The market simulator (the upstream of the market and dashboard
/// components), in-process with its default 1,000 coins.
pub fn start_simulator() -> Result<Simulator> {
    Simulator::start_dedicated(WORKER_THREADS)
}

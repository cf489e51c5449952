//! Request handling without a socket: the application built in-process
//! from the default manifest (SQLite in a temporary folder, L1 cache only,
//! no scheduler), each request answered by [`Server::respond`].

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;

use super::auth::AdminAccess;
use super::{ListenerRole, Server, Settings};
use crate::app::App;
use crate::config::Cli;

/// An application of its own for one test (its tasks live on that test's
/// runtime), with its database in a temporary folder.
struct InProcess {
    server: Server,
    _dir: tempfile::TempDir,
}

impl InProcess {
    async fn start() -> Self {
        // The binary installs the TLS provider at start; so does this test.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("temporary folder");
        let database = dir.path().join("strata.db");
        let cli = Cli::parse_from([
            "strata",
            "--sqlite-path",
            database.to_str().expect("UTF-8 temporary path"),
            "--dashboard-refresh-seconds",
            "0",
        ]);
        let app = Arc::new(
            App::build(&cli, None, Arc::new(crate::telemetry::Telemetry::off()))
                .await
                .expect("the default app builds"),
        );
        let settings = Settings::new(&cli, &app.dispatcher.current().manifest);
        Self {
            server: Server::new(app, settings),
            _dir: dir,
        }
    }

    async fn send(&self, role: &ListenerRole, method: &str, path: &str) -> Answer {
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "localhost")
            .body(Full::new(Bytes::new()))
            .expect("a valid request");
        let response = self.server.respond(role, request, PEER).await;
        let (parts, body) = response.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.expect("the whole body").to_bytes(),
        }
    }
}

async fn send(role: &ListenerRole, method: &str, path: &str) -> Answer {
    InProcess::start().await.send(role, method, path).await
}

fn public() -> ListenerRole {
    ListenerRole {
        admin: AdminAccess::Closed,
        components: true,
    }
}

fn admin_loopback() -> ListenerRole {
    ListenerRole {
        admin: AdminAccess::loopback(&[]),
        components: false,
    }
}

const PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);

struct Answer {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[tokio::test]
async fn health_answers_without_a_socket() {
    let answer = send(&public(), "GET", "/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.json().get("status").is_some(), "{:?}", answer.body);
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404_carrying_the_request_id() {
    let answer = send(&public(), "GET", "/no/such/thing").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let id = answer
        .headers
        .get(super::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .expect("an x-request-id header")
        .to_string();
    assert_eq!(answer.json()["request_id"], id.as_str());
    assert_eq!(answer.json()["code"], "not_found");
}

#[tokio::test]
async fn admin_endpoints_do_not_exist_on_a_tokenless_public_listener() {
    let host = InProcess::start().await;
    for path in ["/clear-cache", "/admin/components", "//admin/components/"] {
        let answer = host.send(&public(), "GET", path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn admin_endpoints_answer_on_the_loopback_admin_listener() {
    let answer = send(&admin_loopback(), "GET", "/admin/components").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.json()["components"].is_array());
}

#[tokio::test]
async fn component_routes_are_not_served_on_the_admin_listener() {
    let answer = send(&admin_loopback(), "GET", "/reports/latest").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_method_on_a_host_endpoint_is_405_with_allow() {
    let answer = send(&public(), "DELETE", "/health").await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(answer.headers.contains_key(hyper::header::ALLOW));
}

#[tokio::test]
async fn a_component_route_runs_its_component_in_process() {
    let answer = send(&public(), "GET", "/reports/latest").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert!(
        answer.headers.contains_key("x-strata-report-id"),
        "the report component answered: {:?}",
        answer.headers
    );
}

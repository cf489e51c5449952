//! The `/__sim/` control plane: health, stats, reset and fault configuration.
//!
//! These calls are how tests steer and observe the simulator. They bypass
//! latency and fault injection and are never counted as upstream traffic, so
//! observing the simulator cannot change what is being observed.

use http::{Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use serde::Serialize;

use crate::SimState;
use crate::faults::FaultPatch;
use crate::http_util::{ApiError, HttpResponse, json};

/// Largest accepted `PUT /__sim/faults` body; the config is a few hundred bytes.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Answers a request whose path starts with `/__sim/`.
pub async fn handle<B>(
    state: &SimState,
    method: &Method,
    path: &str,
    body: B,
) -> Result<HttpResponse, ApiError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    #[derive(Serialize)]
    struct Acknowledged {
        ok: bool,
    }
    #[derive(Serialize)]
    struct Health {
        status: &'static str,
    }

    match (path, method) {
        ("/__sim/health", &Method::GET) => Ok(json(StatusCode::OK, &Health { status: "ok" })),
        ("/__sim/health", _) => Err(ApiError::method_not_allowed("GET")),
        ("/__sim/stats", &Method::GET) => Ok(json(StatusCode::OK, &state.stats().snapshot())),
        ("/__sim/stats", _) => Err(ApiError::method_not_allowed("GET")),
        ("/__sim/reset", &Method::POST) => {
            state.stats().reset();
            state.faults().reset();
            Ok(json(StatusCode::OK, &Acknowledged { ok: true }))
        }
        ("/__sim/reset", _) => Err(ApiError::method_not_allowed("POST")),
        ("/__sim/faults", &Method::GET) => Ok(json(StatusCode::OK, &state.faults().config())),
        ("/__sim/faults", &Method::PUT) => {
            let patch = read_patch(body).await?;
            let config = state
                .faults()
                .update(&patch)
                .map_err(|err| ApiError::bad_request(err.to_string()))?;
            tracing::info!(?config, "fault configuration updated");
            Ok(json(StatusCode::OK, &config))
        }
        ("/__sim/faults", _) => Err(ApiError::method_not_allowed("GET, PUT")),
        _ => Err(ApiError::not_found(format!(
            "unknown control path '{path}'"
        ))),
    }
}

/// Reads and parses a size-limited JSON [`FaultPatch`].
async fn read_patch<B>(body: B) -> Result<FaultPatch, ApiError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let bytes = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|err| {
            if err.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("body larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::bad_request(format!("could not read request body: {err}"))
            }
        })?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|err| ApiError::bad_request(format!("invalid fault config: {err}")))
}

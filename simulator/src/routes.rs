//! Request dispatch: splits traffic between the CoinGecko API (counted,
//! delayed, fault-injected) and the `/__sim/` control plane (neither).

use std::convert::Infallible;

use http::{Request, StatusCode};
use hyper::body::Body;

use crate::SimState;
use crate::api;
use crate::control;
use crate::faults::{Fault, HANG_DURATION};
use crate::http_util::{ApiError, HttpResponse, Query};

/// Prefix of the simulated upstream API.
const API_PREFIX: &str = "/api/v3/";
/// Prefix of the control plane.
const CONTROL_PREFIX: &str = "/__sim/";

/// Entry point for every HTTP request.
///
/// Never fails at the service level: every problem becomes a JSON error
/// response, so clients always see a well-formed HTTP answer.
pub async fn handle<B>(state: SimState, req: Request<B>) -> Result<HttpResponse, Infallible>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let result = if path.starts_with(API_PREFIX) {
        upstream(&state, &parts.method, path, parts.uri.query()).await
    } else if path.starts_with(CONTROL_PREFIX) {
        control::handle(&state, &parts.method, path, body).await
    } else {
        Err(ApiError::not_found(format!("unknown path '{path}'")))
    };
    let response = result.unwrap_or_else(ApiError::into_response);
    tracing::debug!(method = %parts.method, %path, status = %response.status(), "request");
    Ok(response)
}

/// Handles one `/api/v3/...` request: count it, apply latency, inject any
/// armed fault, otherwise answer from the market model.
async fn upstream(
    state: &SimState,
    method: &http::Method,
    path: &str,
    raw_query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    state.stats().record(api::classify(path));
    let plan = state.faults().plan(state.latency());
    if plan.fault.is_some() {
        state.stats().record_fault();
    }
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    match plan.fault {
        Some(Fault::Hang) => {
            // Only this request's task sleeps; other connections are served
            // by their own tasks and are unaffected.
            tokio::time::sleep(HANG_DURATION).await;
            Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "request hung (injected fault)",
            ))
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            Err(ApiError::rate_limited(retry_after_secs))
        }
        Some(Fault::Unavailable) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable (injected fault)",
        )),
        Some(Fault::InternalError) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error (injected fault)",
        )),
        None => api::respond(
            state.market(),
            state.now_secs(),
            method,
            path,
            &Query::parse(raw_query),
        ),
    }
}

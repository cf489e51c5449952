//! The one place where failures become HTTP statuses and JSON bodies.

use hyper::StatusCode;
use serde_json::json;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::deploy::DeployError;
use crate::dispatch::DispatchError;
use strata_runtime::InvokeError;

/// A response the host produces itself (not the component).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no route for {method} {path}")]
    NotFound { method: String, path: String },
    #[error("{method} is not allowed here; allowed: {}", allowed.join(", "))]
    MethodNotAllowed {
        method: String,
        allowed: Vec<String>,
    },
    /// A state-changing method answered only to a bearer-token caller (see
    /// `Endpoint::token_methods`), sent without one.
    #[error("{method} {path} changes state, so it is answered only with the admin bearer token (STRATA_ADMIN_TOKEN, on the public listener); without one use {}", allowed.join(" or "))]
    NeedsToken {
        method: String,
        path: &'static str,
        allowed: Vec<String>,
    },
    /// A cache-only read found nothing; it never computes, so the client
    /// is told when to look again.
    #[error("{what} is not cached yet and this route never computes it; retry in {retry_after} s")]
    NotCached {
        what: &'static str,
        retry_after: u64,
    },
    #[error("request body is over the {limit}-byte limit")]
    PayloadTooLarge { limit: u64 },
    #[error("request line and headers are over the {limit}-byte limit")]
    HeadTooLarge { limit: usize },
    #[error("the request body did not arrive within {0} s")]
    RequestTimeout(u64),
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid admin token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("this endpoint takes {expected} (Content-Type), not {got:?}")]
    UnsupportedMediaType { expected: &'static str, got: String },
    #[error("too many WebSocket clients; retry shortly")]
    TooManyClients,
    #[error("this endpoint speaks WebSocket; send an Upgrade: websocket request")]
    UpgradeRequired,
    #[error("too many requests in progress{}; retry shortly", .0.as_deref().map(|c| format!(" for component '{c}'")).unwrap_or_default())]
    Overloaded(Option<String>),
    #[error("component '{0}' is not deployed")]
    ComponentMissing(String),
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Database(#[from] strata_data::SqlError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyClients => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            ApiError::MethodNotAllowed { .. } | ApiError::NeedsToken { .. } => {
                StatusCode::METHOD_NOT_ALLOWED
            }
            ApiError::NotCached { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::HeadTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::ComponentMissing(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Invoke(InvokeError::Deadline(_)) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Invoke(InvokeError::Instantiate(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Invoke(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Database(strata_data::SqlError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Deploy(e) => match e {
                DeployError::UnknownComponent(_) => StatusCode::NOT_FOUND,
                DeployError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                DeployError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                DeployError::NothingToRollBack(_) => StatusCode::CONFLICT,
                DeployError::Store(_) | DeployError::MissingBlob(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                DeployError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                DeployError::Manifest(_) => StatusCode::UNPROCESSABLE_ENTITY,
                DeployError::NoEarlierManifest => StatusCode::CONFLICT,
            },
        }
    }

    /// A stable machine-readable code next to the human message.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::TooManyClients => "too_many_clients",
            ApiError::UpgradeRequired => "upgrade_required",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::NeedsToken { .. } => "method_needs_token",
            ApiError::NotCached { .. } => "not_cached",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::HeadTooLarge { .. } => "head_too_large",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::ComponentMissing(_) => "component_missing",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::Invoke(InvokeError::Deadline(_)) => "deadline_exceeded",
            ApiError::Invoke(InvokeError::Instantiate(_)) => "no_instance",
            ApiError::Invoke(InvokeError::Trap(_)) => "component_trapped",
            ApiError::Invoke(InvokeError::NoResponse) => "no_response",
            ApiError::Invoke(InvokeError::Guest(_)) => "component_error",
            ApiError::Database(strata_data::SqlError::Unavailable(_)) => "database_unavailable",
            ApiError::Database(_) => "database_error",
            ApiError::Deploy(e) => match e {
                DeployError::UnknownComponent(_) => "unknown_component",
                DeployError::TooLarge { .. } => "payload_too_large",
                DeployError::Invalid(_) => "invalid_component",
                DeployError::NothingToRollBack(_) => "nothing_to_roll_back",
                DeployError::Store(_) | DeployError::MissingBlob(_) => "store_unavailable",
                DeployError::Internal(_) => "internal",
                DeployError::Manifest(_) => "invalid_manifest",
                DeployError::NoEarlierManifest => "nothing_to_roll_back",
            },
        }
    }

    /// What the client is told. Failures inside a component or a backing
    /// service carry text the client must not see (trap messages and
    /// backtraces, database errors naming tables and hosts): they get a
    /// generic message, and the details go to the log under the request id
    /// the body and the `x-request-id` header carry.
    fn client_message(&self) -> String {
        match self {
            ApiError::Invoke(InvokeError::Trap(_)) => {
                "the component failed while handling this request".into()
            }
            ApiError::Invoke(InvokeError::Guest(_)) => {
                "the component reported an error instead of a response".into()
            }
            ApiError::Invoke(InvokeError::Instantiate(_)) => {
                "no instance of the component could be started; retry shortly".into()
            }
            ApiError::Database(_) => "the database could not complete the request".into(),
            ApiError::Deploy(DeployError::Store(_)) => {
                "the deployment store is unavailable; retry shortly".into()
            }
            ApiError::Deploy(DeployError::Internal(_)) => {
                "the deploy failed inside the host".into()
            }
            _ => self.to_string(),
        }
    }

    /// What the client can do instead, when the host knows.
    fn hint(&self) -> Option<String> {
        match self {
            ApiError::NeedsToken { path, allowed, .. } => allowed
                .first()
                .map(|method| format!("send {method} {path}")),
            _ => None,
        }
    }

    pub fn into_response(self) -> hyper::Response<HyperOutgoingBody> {
        let status = self.status();
        let id = super::request_id();
        if status.is_server_error() {
            // Debug-formatted: the text may come from a guest, and a newline
            // in it must not start a forged line in a plain-text log. The id
            // is the body's, and the one the guest's output is logged under.
            tracing::warn!(
                code = self.code(),
                request_id = id.as_deref(),
                error = ?self.to_string(),
                "request failed"
            );
        }
        let mut body = json!({ "error": self.client_message(), "code": self.code() });
        if let Some(hint) = self.hint() {
            body["hint"] = json!(hint);
        }
        if let ApiError::Deploy(DeployError::Manifest(errors)) = &self {
            body["errors"] = json!(errors);
        }
        if let Some(id) = &id {
            body["request_id"] = json!(&**id);
        }
        let mut response = json_response(status, &body);
        if matches!(self, ApiError::Overloaded(_) | ApiError::TooManyClients) {
            response.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("1"),
            );
        }
        if let ApiError::NotCached { retry_after, .. } = &self {
            response
                .headers_mut()
                .insert(hyper::header::RETRY_AFTER, (*retry_after).into());
        }
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Bearer"),
            );
        }
        if let ApiError::MethodNotAllowed { allowed, .. } | ApiError::NeedsToken { allowed, .. } =
            &self
            && let Ok(value) = hyper::header::HeaderValue::from_str(&allowed.join(", "))
        {
            response.headers_mut().insert(hyper::header::ALLOW, value);
        }
        response
    }
}

impl From<DispatchError> for ApiError {
    fn from(error: DispatchError) -> Self {
        match error {
            DispatchError::NotFound { method, path } => ApiError::NotFound { method, path },
            DispatchError::MethodNotAllowed { method, allowed } => {
                ApiError::MethodNotAllowed { method, allowed }
            }
            DispatchError::ComponentMissing(name) => ApiError::ComponentMissing(name),
            DispatchError::Overloaded(component) => ApiError::Overloaded(component),
            DispatchError::Invoke(e) => ApiError::Invoke(e),
        }
    }
}

/// A JSON response with the host's own body type.
pub fn json_response(
    status: StatusCode,
    value: &serde_json::Value,
) -> hyper::Response<HyperOutgoingBody> {
    let mut response = hyper::Response::new(crate::body::full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn body_of(response: hyper::Response<HyperOutgoingBody>) -> serde_json::Value {
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("in-memory body")
            .to_bytes();
        serde_json::from_slice(&bytes).expect("JSON body")
    }

    #[tokio::test]
    async fn a_method_needing_the_token_is_a_405_naming_the_safe_request() {
        let response = ApiError::NeedsToken {
            method: "GET".into(),
            path: "/admin/cache/clear",
            allowed: vec!["POST".into()],
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[hyper::header::ALLOW], "POST");
        let body = body_of(response).await;
        assert_eq!(body["code"], "method_needs_token");
        assert_eq!(body["hint"], "send POST /admin/cache/clear");
    }

    #[tokio::test]
    async fn a_cold_cache_only_read_is_a_503_with_retry_after() {
        let response = ApiError::NotCached {
            what: "the dashboard summary",
            retry_after: 30,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[hyper::header::RETRY_AFTER], "30");
        let body = body_of(response).await;
        assert_eq!(body["code"], "not_cached");
        assert!(body.get("hint").is_none(), "{body}");
    }
}

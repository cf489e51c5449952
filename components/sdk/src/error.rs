//! One error type for handlers, mapping capability failures to the HTTP
//! statuses Strata components agree on (400 bad input, 404 unknown, 422
//! unusable data, 502 upstream, 503 database down), always as
//! `{"error": message}`.

use std::fmt;

use crate::cache::{CacheError, ComputeError, NEGATIVE_HIT, Remembered};
use crate::http::FetchError;
use crate::sql::{ColumnError, SqlError};
use crate::{CACHE_HEADER, Response};

/// A failed request, ready to become a JSON error [`Response`].
///
/// Handlers return `Result<Response, HttpError>` and use `?` on SDK calls;
/// the `From` impls below decide the status once for every component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub message: String,
    /// [`CACHE_HEADER`] value when the failure happened on a cache miss, so
    /// clients can tell a failed computation from a cache refusal.
    pub cache: Option<&'static str>,
    /// Seconds for a `Retry-After` header: when the failure is temporary
    /// and its end is known (a spent upstream budget).
    pub retry_after: Option<u32>,
    /// Whether the failure holds for whoever asks (see [`definitive`]), so
    /// cache-or-compute may remember it.
    ///
    /// [`definitive`]: HttpError::definitive
    pub definitive: bool,
}

impl HttpError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            cache: None,
            retry_after: None,
            definitive: false,
        }
    }

    /// Marks the failure as holding for whoever asks (an unknown symbol),
    /// not just now (an unreachable upstream): returned from a cache-or-
    /// compute computation, it is remembered for the key family's negative
    /// TTL and answered again without computing.
    pub fn definitive(self) -> Self {
        Self {
            definitive: true,
            ..self
        }
    }

    /// 503 that tells the client when to come back.
    pub fn unavailable(message: impl Into<String>, retry_after_secs: u32) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(503, message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(405, format!("method {method} not allowed"))
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(502, message)
    }

    pub fn into_response(self) -> Response {
        let mut response = Response::error(self.status, &self.message);
        if let Some(value) = self.cache {
            response = response.with_header(CACHE_HEADER, value);
        }
        if let Some(seconds) = self.retry_after {
            response = response.with_header("retry-after", &seconds.to_string());
        }
        response
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

/// Only failures the component marked [`HttpError::definitive`] are
/// remembered: the component knows which of its answers are about the key.
impl Remembered for HttpError {
    fn remember(&self) -> Option<Vec<u8>> {
        if !self.definitive {
            return None;
        }
        serde_json::to_vec(&serde_json::json!({
            "status": self.status,
            "message": self.message,
        }))
        .ok()
    }

    fn recall(bytes: &[u8]) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Record {
            status: u16,
            message: String,
        }
        let record: Record = serde_json::from_slice(bytes).ok()?;
        Some(HttpError::new(record.status, record.message).definitive())
    }
}

impl From<HttpError> for Response {
    fn from(err: HttpError) -> Self {
        err.into_response()
    }
}

/// Upstream failures are the upstream's (502), except a spent request
/// budget: that is this service pacing itself, so 503 with `Retry-After`.
impl From<FetchError> for HttpError {
    fn from(err: FetchError) -> Self {
        match err {
            FetchError::RateLimited { retry_after_secs } => {
                HttpError::unavailable(err.to_string(), retry_after_secs)
            }
            _ => HttpError::bad_gateway(err.to_string()),
        }
    }
}

impl From<SqlError> for HttpError {
    fn from(err: SqlError) -> Self {
        match err {
            SqlError::Unavailable(_) => HttpError::new(503, err.to_string()),
            _ => HttpError::internal(err.to_string()),
        }
    }
}

impl From<ColumnError> for HttpError {
    fn from(err: ColumnError) -> Self {
        HttpError::internal(format!("unexpected database row: {err}"))
    }
}

impl From<CacheError> for HttpError {
    fn from(err: CacheError) -> Self {
        HttpError::internal(err.to_string())
    }
}

impl<E: Into<HttpError>> From<ComputeError<E>> for HttpError {
    fn from(err: ComputeError<E>) -> Self {
        match err {
            ComputeError::Cache(err) => err.into(),
            ComputeError::Compute(err) => HttpError {
                cache: Some("miss"),
                ..err.into()
            },
            ComputeError::Remembered(err) => HttpError {
                cache: Some(NEGATIVE_HIT),
                ..err.into()
            },
            ComputeError::Codec(msg) => HttpError::internal(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_errors_map_to_agreed_statuses() {
        assert_eq!(HttpError::from(FetchError::Timeout).status, 502);
        let down = HttpError::from(SqlError::Unavailable("pool exhausted".into()));
        assert_eq!(down.status, 503);
        assert_eq!(down.message, "database unavailable: pool exhausted");
        assert_eq!(HttpError::from(SqlError::Other("x".into())).status, 500);
    }

    #[test]
    fn failed_computations_are_marked_as_misses() {
        let err: HttpError =
            ComputeError::Compute(HttpError::not_found("unknown symbol 'xyz'")).into();
        let res = err.into_response();
        assert_eq!(res.status, 404);
        assert_eq!(res.header(CACHE_HEADER), Some("miss"));
        let refused: HttpError =
            ComputeError::<HttpError>::Cache(CacheError::Denied("market:".into())).into();
        assert_eq!(refused.cache, None);
    }

    #[test]
    fn definitive_errors_are_remembered_and_recalled_as_they_were() {
        let unknown = HttpError::not_found("unknown symbol 'zzz'").definitive();
        let record = unknown.remember().expect("marked definitive");
        assert_eq!(HttpError::recall(&record), Some(unknown));
    }

    #[test]
    fn errors_not_marked_definitive_are_never_remembered() {
        for status in [404, 422, 429, 500, 502, 503] {
            assert_eq!(HttpError::new(status, "x").remember(), None, "{status}");
        }
        assert_eq!(HttpError::recall(b"not a record"), None);
    }

    #[test]
    fn a_remembered_failure_answers_with_its_status_and_a_negative_hit() {
        let err: HttpError =
            ComputeError::Remembered(HttpError::not_found("unknown").definitive()).into();
        let res = err.into_response();
        assert_eq!(res.status, 404);
        assert_eq!(res.header(CACHE_HEADER), Some(NEGATIVE_HIT));
    }

    #[test]
    fn a_spent_upstream_budget_is_a_503_with_retry_after() {
        let res = HttpError::from(FetchError::RateLimited {
            retry_after_secs: 7,
        })
        .into_response();
        assert_eq!(res.status, 503);
        assert_eq!(res.header("retry-after"), Some("7"));
    }
}

//! One error type for handlers, mapping capability failures to the HTTP
//! statuses Strata components agree on (400 bad input, 404 unknown, 422
//! unusable data, 502 upstream, 503 database down), always as
//! `{"error": message}`.

use std::fmt;

use crate::cache::{CacheError, ComputeError};
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
}

impl HttpError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            cache: None,
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
        let response = Response::error(self.status, &self.message);
        match self.cache {
            Some(value) => response.with_header(CACHE_HEADER, value),
            None => response,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for Response {
    fn from(err: HttpError) -> Self {
        err.into_response()
    }
}

impl From<FetchError> for HttpError {
    fn from(err: FetchError) -> Self {
        HttpError::bad_gateway(err.to_string())
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
}

//! `Retry-After`, in both forms HTTP allows (RFC 9110 section 10.2.3).
//!
//! The value decides how long a retry sleeps and how long a 429 holds an
//! upstream's budget, so it is capped: an upstream (or anything on the
//! path to it) answering `Retry-After: 99999999999` must neither overflow
//! the clock arithmetic nor shut an upstream off for years.

use std::time::{Duration, SystemTime};

/// The longest wait honoured; a longer one is taken as this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The wait a response asks for: delay-seconds or an HTTP date (a date in
/// the past is no wait). `None` when the header is missing or malformed.
pub(crate) fn parse(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(value).expect("header value"),
        );
        headers
    }

    #[test]
    fn seconds_are_read_as_a_delay() {
        assert_eq!(parse(&with(" 2 ")), Some(Duration::from_secs(2)));
    }

    #[test]
    fn an_http_date_is_the_time_until_it() {
        let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = parse(&with(&date)).expect("a date");
        assert!(
            wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(30));
        assert_eq!(parse(&with(&past)), Some(Duration::ZERO));
    }

    #[test]
    fn huge_values_are_capped() {
        assert_eq!(parse(&with("18446744073709551615")), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn garbage_is_no_value() {
        assert_eq!(parse(&with("soon")), None);
        assert_eq!(parse(&HeaderMap::new()), None);
    }
}

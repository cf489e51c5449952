//! One-off HTTP requests for steering the benchmark (warm-ups, sample
//! checks, admin calls), through testkit's client, the one the tests use.
//! They are rare and come from the orchestrator process, so they share no
//! connection with the measured traffic (the load generator is a process
//! of its own, with its own hyper connections: see `load`).

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use hyper::Method;
use hyper::header::{CONTENT_TYPE, HeaderMap};

/// How long any control request may take (a cold dashboard computation or
/// a component deploy included).
const TIMEOUT: Duration = Duration::from_secs(30);

/// A fully read response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A header's value as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("response body is not JSON")
    }
}

/// Splits `http://host:port/path` into the socket address and the path.
pub fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("only http:// URLs are supported: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        bail!("URL without a host: {url}");
    }
    Ok((authority.to_string(), path.to_string()))
}

/// Sends one request and reads the whole answer.
pub async fn request(
    method: Method,
    url: &str,
    body: Option<(&'static str, Bytes)>,
) -> Result<Reply> {
    tokio::time::timeout(TIMEOUT, request_inner(method.clone(), url, body))
        .await
        .with_context(|| format!("{method} {url} timed out after {TIMEOUT:?}"))?
        .with_context(|| format!("{method} {url}"))
}

async fn request_inner(
    method: Method,
    url: &str,
    body: Option<(&'static str, Bytes)>,
) -> Result<Reply> {
    let mut builder = strata_testkit::http().request(method, url);
    if let Some((content_type, bytes)) = body {
        builder = builder.header(CONTENT_TYPE, content_type).body(bytes);
    }
    let response = builder.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// `GET url`.
pub async fn get(url: &str) -> Result<Reply> {
    request(Method::GET, url, None).await
}

/// `GET url`, failing unless the status is 2xx.
pub async fn get_ok(url: &str) -> Result<Reply> {
    let reply = get(url).await?;
    if !(200..300).contains(&reply.status) {
        bail!(
            "GET {url}: status {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:80/a/b?c=d").ok(),
            Some(("127.0.0.1:80".into(), "/a/b?c=d".into()))
        );
        assert_eq!(
            split_url("http://127.0.0.1:80").ok(),
            Some(("127.0.0.1:80".into(), "/".into()))
        );
        assert!(split_url("https://x/").is_err());
        assert!(split_url("http:///x").is_err());
    }
}

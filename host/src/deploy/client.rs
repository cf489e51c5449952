//! The client side of `strata deploy NAME FILE`: upload a component to a
//! running host's admin API and report what it did.

use std::path::Path;
use std::time::Duration;

use thiserror::Error;

/// Why a deploy from the command line failed.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("cannot reach the admin API at {url}: {error}")]
    Connect { url: String, error: String },
    #[error("the host refused the deploy (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
}

/// Uploads `file` as component `name`; returns the host's JSON answer.
/// `progress` receives one human-readable line per step.
pub async fn deploy(
    admin_url: &str,
    token: Option<&str>,
    name: &str,
    file: &Path,
    mut progress: impl FnMut(String),
) -> Result<serde_json::Value, ClientError> {
    let bytes = std::fs::read(file).map_err(|error| ClientError::Read {
        path: file.display().to_string(),
        error,
    })?;
    let url = format!(
        "{}/admin/components/{name}",
        admin_url.trim_end_matches('/')
    );
    progress(format!(
        "uploading {} ({} bytes) to {url}",
        file.display(),
        bytes.len()
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| ClientError::Connect {
            url: url.clone(),
            error: e.to_string(),
        })?;
    let mut request = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/wasm")
        .body(bytes);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| ClientError::Connect {
        url: url.clone(),
        error: e.to_string(),
    })?;
    let status = response.status().as_u16();
    progress("uploaded; waiting for the host to validate and activate it".into());
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        let message = body["error"]
            .as_str()
            .map_or_else(|| body.to_string(), str::to_string);
        Err(ClientError::Refused { status, message })
    }
}

//! Operator endpoints for the whole app: the active manifest, manifest
//! deploys and rollbacks, and the instances sharing the store.

use std::collections::HashMap;

use base64::Engine as _;
use http_body_util::{BodyExt, Limited};
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::ClientBody;
use super::admin::require_content_type;
use super::error::{ApiError, json_response};
use crate::app::App;
use crate::deploy::{DeployError, ManifestUpload};

/// Components a manifest upload may carry at most: each is compiled before
/// anything is decided, so the count bounds the work one request causes.
const MAX_UPLOADED_COMPONENTS: usize = 64;

/// `POST /admin/apps` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    /// The manifest, TOML.
    manifest: String,
    /// Base64 binaries of the file-sourced components, by component name.
    #[serde(default)]
    components: HashMap<String, String>,
}

/// `GET /admin/apps`.
pub async fn status(app: &App) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &json!(app.deployer.apps().await?),
    ))
}

/// `GET /admin/instances`.
pub async fn instances(app: &App) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let instances = app.deployer.instances().await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "instances": instances }),
    ))
}

/// `POST /admin/apps/rollback`.
pub async fn rollback(app: &App) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    let outcome = app.deployer.rollback_manifest().await?;
    Ok(json_response(StatusCode::OK, &json!(outcome)))
}

/// `POST /admin/apps` with `{"manifest": TOML, "components": {name: base64}}`.
pub async fn deploy<B: ClientBody>(
    app: &App,
    req: hyper::Request<B>,
) -> Result<hyper::Response<HyperOutgoingBody>, ApiError> {
    require_content_type(&req, &["application/json"], "application/json")?;
    // One upload held in memory at a time (each may be hundreds of MiB).
    let _turn = app
        .deployer
        .upload_turn()
        .ok_or(ApiError::Overloaded(None))?;
    let max_component = app.deployer.max_bytes();
    // Base64 is 4/3 of the binary; a few components' worth in one request.
    let limit = max_component.saturating_mul(4).saturating_add(1 << 20);
    let bytes = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::PayloadTooLarge {
                    limit: limit as u64,
                }
            } else {
                ApiError::BadRequest(format!("cannot read the upload: {e}"))
            }
        })?
        .to_bytes();
    let upload: Upload = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("upload JSON: {e}")))?;
    drop(bytes);
    if upload.components.len() > MAX_UPLOADED_COMPONENTS {
        return Err(ApiError::BadRequest(format!(
            "{} component binaries uploaded; at most {MAX_UPLOADED_COMPONENTS}",
            upload.components.len()
        )));
    }
    let mut components = HashMap::new();
    for (name, encoded) in upload.components {
        // Line breaks and spaces (the `base64` tool wraps at 76) are not data.
        let compact: Vec<u8> = encoded
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let binary = base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .map_err(|e| ApiError::BadRequest(format!("component '{name}': not base64: {e}")))?;
        if binary.len() > max_component {
            return Err(ApiError::Deploy(DeployError::TooLarge {
                size: binary.len(),
                limit: max_component,
            }));
        }
        components.insert(name, binary);
    }
    let outcome = app
        .deployer
        .deploy_manifest(ManifestUpload {
            manifest: upload.manifest,
            components,
            source: "upload".into(),
        })
        .await?;
    Ok(json_response(StatusCode::CREATED, &json!(outcome)))
}

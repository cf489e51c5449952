//! The client side of `strata deploy`, `strata rollback`, `strata apps`
//! and `strata status`: calls to a running host's admin API, and what they
//! print.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use thiserror::Error;

/// Why a command against a running host failed.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
    #[error("cannot reach the admin API at {url}: {error}")]
    Connect { url: String, error: String },
    #[error("the host refused (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
}

/// Where the admin API is and how to authenticate to it.
pub struct Admin<'a> {
    pub url: &'a str,
    pub token: Option<&'a str>,
}

impl Admin<'_> {
    /// Sends one request; a JSON answer on success, its error otherwise.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let connect = |e: reqwest::Error| ClientError::Connect {
            url: url.clone(),
            error: e.to_string(),
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(connect)?;
        let mut request = client.request(method, &url);
        if let Some((content_type, bytes)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        if let Some(token) = self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(connect)?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let mut message = body["error"]
            .as_str()
            .map_or_else(|| body.to_string(), str::to_string);
        if let Some(errors) = body["errors"].as_array() {
            message = std::iter::once("the manifest was refused:".to_string())
                .chain(
                    errors
                        .iter()
                        .map(|e| format!("  - {}", e.as_str().unwrap_or_default())),
                )
                .collect::<Vec<_>>()
                .join("\n");
        }
        Err(ClientError::Refused { status, message })
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str) -> Result<Value, ClientError> {
        self.call(reqwest::Method::POST, path, None).await
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|error| ClientError::Read {
        path: path.display().to_string(),
        error,
    })
}

/// Uploads `file` as component `name`; returns the host's JSON answer.
/// `progress` receives one human-readable line per step.
pub async fn deploy(
    admin: &Admin<'_>,
    name: &str,
    file: &Path,
    mut progress: impl FnMut(String),
) -> Result<Value, ClientError> {
    let bytes = read(file)?;
    progress(format!(
        "uploading {} ({} bytes) to {}",
        file.display(),
        bytes.len(),
        admin.url
    ));
    let outcome = admin
        .call(
            reqwest::Method::POST,
            &format!("/admin/components/{name}"),
            Some(("application/wasm", bytes)),
        )
        .await;
    progress("uploaded; the host validated it".into());
    outcome
}

/// Uploads the manifest at `file` with every file its components name
/// (resolved against the manifest's folder); returns the host's answer.
pub async fn deploy_manifest(
    admin: &Admin<'_>,
    file: &Path,
    mut progress: impl FnMut(String),
) -> Result<Value, ClientError> {
    let bad = |message: String| ClientError::Manifest {
        path: file.display().to_string(),
        message,
    };
    let text = String::from_utf8(read(file)?).map_err(|_| bad("not UTF-8".into()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| bad(e.message().trim().into()))?;
    let folder = file.parent().unwrap_or(Path::new("."));
    let mut components = HashMap::new();
    let declared = table.get("components").and_then(toml::Value::as_table);
    for (name, spec) in declared.into_iter().flatten() {
        let Some(source) = spec.get("source").and_then(toml::Value::as_str) else {
            continue;
        };
        if source.starts_with("builtin:") || source.starts_with(crate::config::STORED_PREFIX) {
            continue;
        }
        if source.contains("${") {
            return Err(bad(format!(
                "component '{name}': a file source must be a plain path, not {source:?}"
            )));
        }
        let bytes = read(&folder.join(source))?;
        progress(format!(
            "component {name}: {source} ({} bytes)",
            bytes.len()
        ));
        components.insert(
            name.clone(),
            base64::engine::general_purpose::STANDARD.encode(bytes),
        );
    }
    progress(format!("uploading {} to {}", file.display(), admin.url));
    let body = json!({ "manifest": text, "components": components });
    admin
        .call(
            reqwest::Method::POST,
            "/admin/apps",
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
}

fn names(value: &Value) -> String {
    let list: Vec<&str> = value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn short(hash: &Value) -> &str {
    let hash = hash.as_str().unwrap_or("?");
    &hash[..hash.len().min(12)]
}

/// One line for a manifest deploy or rollback.
pub fn describe_app_outcome(outcome: &Value) -> String {
    format!(
        "manifest #{} active ({}, hash {}): added {}; removed {}; changed {}; unchanged {}; {} routes; validated in {} ms",
        outcome["manifest_id"],
        outcome["action"].as_str().unwrap_or("deploy"),
        short(&outcome["manifest_hash"]),
        names(&outcome["added"]),
        names(&outcome["removed"]),
        names(&outcome["changed"]),
        names(&outcome["unchanged"]),
        outcome["routes"],
        outcome["compile_ms"],
    )
}

/// `strata apps`: the active manifest, this host's serving table, history.
pub fn describe_apps(apps: &Value) -> String {
    let mut out = Vec::new();
    let active = &apps["active"];
    if active.is_object() {
        out.push(format!(
            "active manifest #{} ({} from {}, hash {})",
            active["id"],
            active["action"].as_str().unwrap_or("?"),
            active["source"].as_str().unwrap_or("?"),
            short(&active["hash"])
        ));
    } else {
        out.push("no manifest stored yet".into());
    }
    out.push(format!(
        "this host serves manifest #{}:",
        apps["serving_manifest_id"]
    ));
    for (name, version) in apps["components"].as_object().into_iter().flatten() {
        out.push(format!(
            "  {name:<20} {}",
            version.as_str().unwrap_or("(not deployed)")
        ));
    }
    out.push("routes:".into());
    for route in apps["routes"].as_array().into_iter().flatten() {
        let methods = names(&route["methods"]);
        let methods = if methods == "none" {
            "any".into()
        } else {
            methods
        };
        out.push(format!(
            "  {:<40} -> {} ({methods}{})",
            route["path"].as_str().unwrap_or("?"),
            route["component"].as_str().unwrap_or("?"),
            if route["admin"] == json!(true) {
                ", admin"
            } else {
                ""
            }
        ));
    }
    out.push("history:".into());
    for row in apps["history"].as_array().into_iter().flatten() {
        out.push(format!(
            "  #{:<5} {:<8} {:<12} {}",
            row["id"],
            row["action"].as_str().unwrap_or("?"),
            short(&row["hash"]),
            row["source"].as_str().unwrap_or("?")
        ));
    }
    out.join("\n")
}

/// `strata status`: every instance and what it serves.
pub fn describe_instances(instances: &Value, now_micros: i64) -> String {
    let list = instances["instances"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        return "no instance reported in the last 10 seconds".into();
    }
    let mut out = vec![format!("{} instance(s):", list.len())];
    for instance in &list {
        let age = (now_micros - instance["seen_at"].as_i64().unwrap_or(0)).max(0) / 1000;
        let components: Vec<String> = instance["state"]["components"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, v)| format!("{name}={}", v.as_str().unwrap_or("-")))
            .collect();
        out.push(format!(
            "  {} at {}: manifest #{}, deployment #{}, seen {age} ms ago; {}",
            instance["id"].as_str().unwrap_or("?"),
            instance["state"]["address"].as_str().unwrap_or("?"),
            instance["manifest_id"],
            instance["deployment_id"],
            components.join(" ")
        ));
    }
    out.join("\n")
}

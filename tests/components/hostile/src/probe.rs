//! The probe modes: one capability call described by the request body, and
//! a JSON report of its outcome (see the crate documentation).

use serde_json::{Value as Json, json};
use strata_sdk::http::OutboundRequest;
use strata_sdk::sql::Value;
use strata_sdk::{Request, Response, cache, config, http, log, sql};

use super::{cache_kind, fetch_kind, sql_kind};

/// `200 {"outcome":"ok", ...fields}`.
fn ok(fields: Json) -> Response {
    let mut body = json!({ "outcome": "ok" });
    if let (Some(body), Json::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    Response::json(200, &body)
}

/// `200 {"outcome":"error","error_kind","message"}`.
fn failed((kind, message): (&'static str, String)) -> Response {
    Response::json(
        200,
        &json!({ "outcome": "error", "error_kind": kind, "message": message }),
    )
}

fn text_body(req: &Request) -> String {
    String::from_utf8_lossy(&req.body).into_owned()
}

/// Runs `probe` on the body as JSON; a malformed body is the test's
/// mistake (400).
fn with_json(req: &Request, probe: impl FnOnce(&Json) -> Response) -> Response {
    match serde_json::from_slice(&req.body) {
        Ok(body) => probe(&body),
        Err(e) => Response::error(400, &format!("probe body is not JSON: {e}")),
    }
}

fn field<'a>(body: &'a Json, name: &str) -> &'a str {
    body.get(name).and_then(Json::as_str).unwrap_or_default()
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Boolean(v) => json!(v),
        Value::Int(v) | Value::Timestamp(v) => json!(v),
        Value::Float(v) => json!(v),
        Value::Text(v) => json!(v),
        Value::Bytes(v) => json!(String::from_utf8_lossy(v)),
    }
}

pub fn sql_query(req: &Request) -> Response {
    match sql::query(&text_body(req), &[]) {
        Ok(rows) => {
            let rows: Vec<Vec<Json>> = rows
                .rows
                .iter()
                .map(|row| row.iter().map(to_json).collect())
                .collect();
            ok(json!({ "rows": rows }))
        }
        Err(e) => failed(sql_kind(e)),
    }
}

pub fn sql_execute(req: &Request) -> Response {
    match sql::execute(&text_body(req), &[]) {
        Ok(affected) => ok(json!({ "affected": affected })),
        Err(e) => failed(sql_kind(e)),
    }
}

pub fn fetch(req: &Request) -> Response {
    with_json(req, |body| {
        let mut request = OutboundRequest::get(field(body, "url"));
        if let Some(method) = body.get("method").and_then(Json::as_str) {
            request.method = method.to_string();
        }
        for pair in body
            .get("headers")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(name), Some(value)) = (
                pair.get(0).and_then(Json::as_str),
                pair.get(1).and_then(Json::as_str),
            ) {
                request = request.with_header(name, value);
            }
        }
        if let Some(text) = body.get("body").and_then(Json::as_str) {
            request.body = Some(text.as_bytes().to_vec());
        }
        if let Some(ms) = body.get("timeout_ms").and_then(Json::as_u64) {
            request = request.with_timeout_ms(u32::try_from(ms).unwrap_or(u32::MAX));
        }
        match http::fetch(request) {
            Ok(response) => ok(json!({
                "status": response.status,
                "headers": response.headers,
                "body": String::from_utf8_lossy(&response.body),
            })),
            Err(e) => failed(fetch_kind(e)),
        }
    })
}

pub fn cache_set(req: &Request) -> Response {
    with_json(req, |body| {
        let ttl = body
            .get("ttl")
            .and_then(Json::as_u64)
            .map(|ttl| u32::try_from(ttl).unwrap_or(u32::MAX));
        match cache::set(field(body, "key"), field(body, "value").as_bytes(), ttl) {
            Ok(()) => ok(json!({})),
            Err(e) => failed(cache_kind(e)),
        }
    })
}

pub fn cache_get(req: &Request) -> Response {
    with_json(req, |body| match cache::get(field(body, "key")) {
        Ok(entry) => ok(json!({
            "value": entry.map(|e| String::from_utf8_lossy(&e.value).into_owned()),
        })),
        Err(e) => failed(cache_kind(e)),
    })
}

pub fn cache_delete(req: &Request) -> Response {
    with_json(req, |body| match cache::delete(field(body, "key")) {
        Ok(held) => ok(json!({ "held": held })),
        Err(e) => failed(cache_kind(e)),
    })
}

pub fn cache_clear(req: &Request) -> Response {
    with_json(req, |body| {
        match cache::clear_pattern(field(body, "pattern")) {
            Ok(cleared) => ok(json!({ "l1": cleared.l1, "l2": cleared.l2 })),
            Err(e) => failed(cache_kind(e)),
        }
    })
}

pub fn log_line(req: &Request) -> Response {
    log::info(&text_body(req));
    ok(json!({}))
}

pub fn config_value(req: &Request) -> Response {
    ok(json!({ "value": config::get(&text_body(req)) }))
}

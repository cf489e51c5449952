//! Analyst reports rendered as HTML pages.
//!
//! Routes:
//! - `GET /reports/latest`: the newest report (its id is cached under
//!   `report:latest-id`, so the common case needs no query).
//! - `GET /reports/{id}`: the report as a standalone page.
//! - `GET /reports/{id}/pdf-template`: the same report laid out for A4 print.
//!
//! Caching: the database row is cached as JSON under `report:{id}` (the
//! host's `report` family policy: L1 only, 1800 s by default) and both pages are rendered from it on every request. One entry
//! per report means one key to invalidate when an analyst edits it, and
//! rendering a page from a cached row costs microseconds.

mod render;

use serde::{Deserialize, Serialize};
use strata_sdk::cache::{self, CachedJson};
use strata_sdk::keys::CacheKeys;
use strata_sdk::log;
use strata_sdk::sql::{self, Value};
use strata_sdk::{CACHE_HEADER, Handler, HttpError, Request, Response};

const LATEST_ID_SQL: &str = "SELECT id FROM reports ORDER BY created_at DESC, id DESC LIMIT 1";
const REPORT_SQL: &str =
    "SELECT id, symbol, timeframe, title, body, created_at FROM reports WHERE id = $1";

struct Reports;

impl Handler for Reports {
    fn handle(req: Request) -> Response {
        route(&req).unwrap_or_else(HttpError::into_response)
    }
}

strata_sdk::export_handler!(Reports);

/// Which rendering of a report was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Web,
    Print,
}

fn route(req: &Request) -> Result<Response, HttpError> {
    let segments = req.segments();
    let id_arg = || {
        req.param("id")
            .or_else(|| segments.get(1).copied())
            .unwrap_or("")
    };
    let target = match segments.as_slice() {
        ["reports", "latest"] => None,
        ["reports", _] => Some(Page::Web),
        ["reports", _, "pdf-template"] => Some(Page::Print),
        _ => return Err(HttpError::not_found(format!("no route for {}", req.path))),
    };
    if req.method != "GET" {
        return Err(HttpError::method_not_allowed(&req.method));
    }
    match target {
        None => latest(),
        Some(page) => serve(parse_id(id_arg())?, page),
    }
}

fn parse_id(raw: &str) -> Result<i64, HttpError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        HttpError::bad_request(format!("report id must be a positive integer, got '{raw}'"))
    })
}

/// A report as stored, and as cached under `report:{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub id: i64,
    pub symbol: String,
    pub timeframe: String,
    pub title: String,
    /// Trusted HTML fragment written by analysts; inserted unescaped.
    pub body: String,
    /// Microseconds since the Unix epoch, UTC.
    pub created_at_micros: i64,
}

fn serve(id: i64, page: Page) -> Result<Response, HttpError> {
    let report = cached_report(id)?;
    Ok(render_response(&report, page))
}

fn render_response(report: &CachedJson<Report>, page: Page) -> Response {
    let html = match page {
        Page::Web => render::page(&report.value),
        Page::Print => render::print_template(&report.value),
    };
    Response::html(200, html)
        .with_header(CACHE_HEADER, report.header_value())
        .with_header("x-strata-report-id", &report.value.id.to_string())
}

fn latest() -> Result<Response, HttpError> {
    let key = CacheKeys::report_latest_id();
    let Some(id) = latest_id(&key)? else {
        return Err(HttpError::not_found("no reports published yet"));
    };
    match cached_report(id) {
        Ok(report) => Ok(render_response(&report, Page::Web)),
        Err(err) if err.status == 404 => {
            // The cached id points at a deleted report: forget it so the next
            // request asks the database again.
            if let Err(err) = cache::delete(&key) {
                log::warn(&format!("could not drop stale {key}: {err}"));
            }
            Err(err)
        }
        Err(err) => Err(err),
    }
}

/// The newest report id, from the cache or the database. A cache failure is
/// only logged: the database can always answer.
fn latest_id(key: &str) -> Result<Option<i64>, HttpError> {
    match cache::get(key) {
        Ok(Some(entry)) => match std::str::from_utf8(&entry.value)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
        {
            Some(id) => return Ok(Some(id)),
            None => log::warn(&format!("ignoring unreadable {key}")),
        },
        Ok(None) => {}
        Err(err) => log::warn(&format!("cache read of {key} failed: {err}")),
    }
    let rows = sql::query(LATEST_ID_SQL, &[])?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let id = row.get_i64("id")?;
    if let Err(err) = cache::set(key, id.to_string().as_bytes(), None) {
        log::warn(&format!("could not cache {key}: {err}"));
    }
    Ok(Some(id))
}

fn cached_report(id: i64) -> Result<CachedJson<Report>, HttpError> {
    let key = CacheKeys::report(id);
    Ok(cache::get_or_compute_json(&key, None, || load_report(id))?)
}

fn load_report(id: i64) -> Result<Report, HttpError> {
    let rows = sql::query(REPORT_SQL, &[Value::Int(id)])?;
    let row = rows
        .first()
        .ok_or_else(|| HttpError::not_found(format!("report {id} not found")))?;
    Ok(Report {
        id: row.get_i64("id")?,
        symbol: row.get_str("symbol")?.to_string(),
        timeframe: row.get_str("timeframe")?.to_string(),
        title: row.get_str("title")?.to_string(),
        body: row.get_str("body")?.to_string(),
        created_at_micros: row.get_timestamp_micros("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_positive_integers() {
        assert_eq!(parse_id("42"), Ok(42));
        for bad in ["0", "-3", "abc", "", "1.5", "99999999999999999999"] {
            assert_eq!(parse_id(bad).map_err(|e| e.status), Err(400), "{bad:?}");
        }
    }
}

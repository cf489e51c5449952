//! W3C Trace Context (`traceparent`, `tracestate`) in and out.
//!
//! In: the headers are the client's, so they are read defensively. A
//! header that is too long, repeated, not text or not a valid context is
//! ignored (the request starts a trace of its own); it is never an error.
//! `traceparent` is 55 characters in its current version, and a
//! `tracestate` need only be carried up to 512 (the specification lets a
//! longer one be dropped), so nothing bigger is parsed.
//!
//! Out: the current span's context is written on each outbound request
//! (see `strata_upstream::TraceContext` for why the guest's are replaced).

use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::HeaderInjector;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Longest `traceparent` parsed (later versions may append fields).
const MAX_TRACEPARENT: usize = 256;
/// Longest `tracestate` carried.
const MAX_TRACESTATE: usize = 512;

/// A client's headers as the propagator reads them.
struct Incoming<'a>(&'a HeaderMap);

impl Extractor for Incoming<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let limit = match key {
            "traceparent" => MAX_TRACEPARENT,
            "tracestate" => MAX_TRACESTATE,
            _ => return None,
        };
        let mut values = self.0.get_all(key).iter();
        let value = values.next()?;
        if values.next().is_some() || value.len() > limit {
            return None;
        }
        let text = value.to_str().ok()?;
        (key != "traceparent" || has_traceparent_shape(text)).then_some(text)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// Whether `value` has the fields of a `traceparent` at their fixed
/// widths (2-32-16-2 hex digits, more only after a `-` in later versions):
/// the propagator parses each field as a number and would take a short one.
fn has_traceparent_shape(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() >= 55
        && bytes[2] == b'-'
        && bytes[35] == b'-'
        && bytes[52] == b'-'
        && (bytes.len() == 55 || bytes[55] == b'-')
}

/// The remote parent `headers` name, if they name a valid one.
fn remote_parent(headers: &HeaderMap) -> Option<Context> {
    let context = TraceContextPropagator::new().extract(&Incoming(headers));
    context.span().span_context().is_valid().then_some(context)
}

/// Makes the client's trace (if its headers name one) the parent of
/// `span`, a request's span not yet entered.
pub fn adopt_parent(span: &tracing::Span, headers: &HeaderMap) {
    if let Some(parent) = remote_parent(headers) {
        // Fails only if the span was disabled by the log filter.
        let _ = span.set_parent(parent);
    }
}

/// Writes the current span's context on outbound requests.
pub(super) struct W3c;

impl strata_upstream::TraceContext for W3c {
    fn inject(&self, headers: &mut HeaderMap) {
        let context = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let name = http::HeaderName::from_bytes(name.as_bytes()).expect("name");
            map.append(name, value.parse().expect("value"));
        }
        map
    }

    fn parent_of(pairs: &[(&str, &str)]) -> Option<(String, String)> {
        let context = remote_parent(&headers(pairs))?;
        let span = context.span();
        let ids = span.span_context();
        Some((ids.trace_id().to_string(), ids.span_id().to_string()))
    }

    #[test]
    fn a_valid_traceparent_names_the_parent() {
        let ids = parent_of(&[("traceparent", VALID), ("tracestate", "a=1")]);
        assert_eq!(
            ids,
            Some((
                "0af7651916cd43dd8448eb211c80319c".into(),
                "b7ad6b7169203331".into()
            ))
        );
    }

    #[test]
    fn malformed_repeated_or_oversized_headers_are_ignored() {
        let long = format!("{VALID}-{}", "0".repeat(MAX_TRACEPARENT));
        for pairs in [
            vec![],
            vec![("traceparent", "garbage")],
            vec![(
                "traceparent",
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            )],
            vec![(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            )],
            vec![(
                "traceparent",
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )],
            vec![(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01",
            )],
            vec![("traceparent", VALID), ("traceparent", VALID)],
            vec![("traceparent", long.as_str())],
        ] {
            assert_eq!(parent_of(&pairs), None, "{pairs:?}");
        }
    }

    #[test]
    fn an_oversized_tracestate_is_dropped_but_the_parent_kept() {
        let state = format!("a={}", "b".repeat(MAX_TRACESTATE));
        let context = remote_parent(&headers(&[("traceparent", VALID), ("tracestate", &state)]))
            .expect("the parent");
        assert_eq!(context.span().span_context().trace_state().header(), "");
    }
}

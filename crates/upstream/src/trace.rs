//! Trace context on outbound requests.
//!
//! When the host exports traces, every call it makes for a component is a
//! span of its own (`outbound`), and each request it sends carries the W3C
//! `traceparent` (and `tracestate`) naming that span as the parent, so the
//! upstream's spans join the same trace. The host writes these headers; a
//! guest's own are removed first: a guest that could set them would attach
//! the upstream's spans to a trace of its choosing, or cut them off the
//! host's. When the host exports nothing, a guest's headers go as they are:
//! there is no trace of the host's to keep whole.
//!
//! This crate knows nothing of OpenTelemetry: the host hands it a
//! [`TraceContext`] that writes the current span's context, and without
//! one no span is made and no header touched.

use http::HeaderMap;

/// The trace headers the host owns on a traced outbound request.
pub(crate) const TRACE_HEADERS: [&str; 2] = ["traceparent", "tracestate"];

/// Writes the trace context of the current `tracing` span into a request's
/// headers (W3C Trace Context).
pub trait TraceContext: Send + Sync {
    /// Adds the headers naming the current span as the parent of the
    /// request about to be sent.
    fn inject(&self, headers: &mut HeaderMap);
}

/// `headers` with the guest's trace headers replaced by the host's.
pub(crate) fn traced(context: &dyn TraceContext, headers: &HeaderMap) -> HeaderMap {
    let mut headers = headers.clone();
    for name in TRACE_HEADERS {
        headers.remove(name);
    }
    context.inject(&mut headers);
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl TraceContext for Fixed {
        fn inject(&self, headers: &mut HeaderMap) {
            headers.insert("traceparent", http::HeaderValue::from_static("00-host"));
        }
    }

    #[test]
    fn the_guests_trace_headers_are_replaced_by_the_hosts() {
        let mut guest = HeaderMap::new();
        guest.insert("traceparent", http::HeaderValue::from_static("00-forged"));
        guest.insert("tracestate", http::HeaderValue::from_static("forged=1"));
        guest.insert("accept", http::HeaderValue::from_static("*/*"));
        let sent = traced(&Fixed, &guest);
        assert_eq!(sent["traceparent"], "00-host");
        assert!(sent.get("tracestate").is_none());
        assert_eq!(sent["accept"], "*/*");
    }
}

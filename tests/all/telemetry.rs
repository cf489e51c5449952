//! OpenTelemetry export end to end: a host started with the standard
//! `OTEL_*` variables posts its spans and request metrics to [`Collector`],
//! an OTLP/HTTP receiver in the test, which also plays the upstream a
//! component calls, so the `traceparent` the host sends out is checked
//! against the spans it exports. Waits poll with deadlines; no timing is
//! asserted.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::json;

use crate::security::hostile;
use crate::support::{Backend, Host, Services, http};

/// How long exported data may take to arrive.
const ARRIVAL: Duration = Duration::from_secs(30);

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// What the collector has been sent.
#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    metrics: Vec<ExportMetricsServiceRequest>,
    /// Posts to `/v1/...` that did not decode.
    undecodable: usize,
    /// Headers of every other request (the component's outbound calls).
    upstream: Vec<hyper::HeaderMap>,
}

/// An OTLP/HTTP (protobuf) receiver on loopback that answers any other
/// path as an upstream would.
struct Collector {
    url: String,
    received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the collector");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let received = Arc::new(Mutex::new(Received::default()));
        let shared = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| receive(req, shared.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url,
            received,
            task,
        }
    }

    /// Outbound grants for the hostile component: this server only.
    fn grants(&self) -> String {
        format!(
            "cache_prefixes = [\"hostile:\"]\nsql = \"read-only\"\noutbound = [{:?}]",
            self.url
        )
    }

    fn with<T>(&self, read: impl FnOnce(&Received) -> T) -> T {
        read(&self.received.lock().expect("collector state"))
    }

    /// Polls until `find` finds something in what was received.
    async fn wait_for<T>(&self, what: &str, find: impl Fn(&Received) -> Option<T>) -> T {
        let deadline = Instant::now() + ARRIVAL;
        loop {
            if let Some(found) = self.with(&find) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} arrived within {ARRIVAL:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The exported span named `name` whose attribute `key` is `value`.
    async fn span(&self, name: &str, key: &str, value: &str) -> Span {
        self.wait_for(&format!("{name} span with {key}={value}"), |received| {
            received
                .spans
                .iter()
                .find(|span| {
                    span.name == name && attribute(&span.attributes, key) == Some(value.into())
                })
                .cloned()
        })
        .await
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    req: Request<Incoming>,
    received: Arc<Mutex<Received>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut received = received.lock().expect("collector state");
    match path.as_str() {
        "/v1/traces" => match ExportTraceServiceRequest::decode(body) {
            Ok(export) => received.spans.extend(
                export
                    .resource_spans
                    .into_iter()
                    .flat_map(|r| r.scope_spans)
                    .flat_map(|s| s.spans),
            ),
            Err(_) => received.undecodable += 1,
        },
        "/v1/metrics" => match ExportMetricsServiceRequest::decode(body) {
            Ok(export) => received.metrics.push(export),
            Err(_) => received.undecodable += 1,
        },
        _ => received.upstream.push(headers),
    }
    // An empty protobuf message is a full success for both services.
    Ok(Response::new(Full::new(Bytes::new())))
}

/// The value of attribute `key`, as text.
fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value {
        AnyValue {
            value: Some(any_value::Value::StringValue(s)),
        } => Some(s.clone()),
        AnyValue {
            value: Some(any_value::Value::IntValue(n)),
        } => Some(n.to_string()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the host process runs an OpenTelemetry export thread.
fn exporter_threads(host: &Host) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{}/task", host.pid())).expect("/proc tasks");
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .filter(|name| name.starts_with("OpenTelemetry"))
        .count()
}

/// The hostile component, exporting to `collector` (fast batches).
fn traced_host(services: &Services, collector: &Collector, endpoint: &str) -> Host {
    hostile::host(
        services,
        &collector.grants(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ],
    )
}

/// Asks the hostile component to call the collector's `/upstream`, the
/// guest setting a `traceparent` of its own; returns the request id.
async fn traced_fetch(host: &Host, collector: &Collector, traceparent: &str) -> String {
    let forged = "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01";
    let probe = json!({
        "url": format!("{}/upstream", collector.url),
        "headers": [["traceparent", forged], ["tracestate", "forged=1"]],
    });
    let response = http()
        .post(format!("{}/hostile/fetch", host.url))
        .header("traceparent", traceparent)
        .header("tracestate", "client=1")
        .body(probe.to_string())
        .send()
        .await
        .expect("probe");
    assert_eq!(response.status().as_u16(), 200);
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("request id")
        .to_string();
    let report: serde_json::Value = response.json().await.expect("probe report");
    assert_eq!(report["outcome"], "ok", "{report}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_keep_the_clients_trace_and_outbound_calls_carry_it_on() {
    let services = Services::start(Backend::Bare).await;
    let collector = Collector::start().await;
    let host = traced_host(&services, &collector, &collector.url);
    assert_eq!(exporter_threads(&host), 2, "span and metric exporters");
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let id = traced_fetch(&host, &collector, &traceparent).await;

    let request = collector.span("request", "id", &id).await;
    assert_eq!(hex(&request.trace_id), TRACE_ID, "the client's trace");
    assert_eq!(
        hex(&request.parent_span_id),
        PARENT_ID,
        "the client's span is the parent"
    );
    assert_eq!(
        attribute(&request.attributes, "route").as_deref(),
        Some("/hostile/{mode}")
    );
    assert_eq!(
        attribute(&request.attributes, "component").as_deref(),
        Some("hostile")
    );
    assert_eq!(
        attribute(&request.attributes, "status").as_deref(),
        Some("200")
    );

    let component = collector
        .wait_for("component span", |received| {
            received
                .spans
                .iter()
                .find(|s| s.name == "component" && s.parent_span_id == request.span_id)
                .cloned()
        })
        .await;
    assert_eq!(component.trace_id, request.trace_id);
    assert_eq!(
        attribute(&component.attributes, "component").as_deref(),
        Some("hostile")
    );
    assert_eq!(
        attribute(&component.attributes, "instance").as_deref(),
        Some("fresh")
    );
    assert!(attribute(&component.attributes, "version").is_some());

    let outbound = collector
        .wait_for("outbound span", |received| {
            received
                .spans
                .iter()
                .find(|s| s.name == "outbound" && s.parent_span_id == component.span_id)
                .cloned()
        })
        .await;
    assert_eq!(outbound.trace_id, request.trace_id);
    assert_eq!(
        attribute(&outbound.attributes, "status").as_deref(),
        Some("200")
    );

    // The upstream saw the host's context, not the guest's forgery.
    let sent = collector.with(|r| r.upstream.clone());
    assert_eq!(sent.len(), 1, "one outbound request");
    let parents: Vec<_> = sent[0].get_all("traceparent").iter().collect();
    assert_eq!(parents.len(), 1, "{parents:?}");
    assert_eq!(
        parents[0].to_str().expect("text"),
        format!("00-{TRACE_ID}-{}-01", hex(&outbound.span_id)),
        "the outbound span is the upstream's parent"
    );
    assert_eq!(
        sent[0]["tracestate"], "client=1",
        "the client's trace state goes on"
    );
    assert_eq!(collector.with(|r| r.undecodable), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_traceparent_starts_a_new_trace() {
    let services = Services::start(Backend::Bare).await;
    let collector = Collector::start().await;
    let host = traced_host(&services, &collector, &collector.url);
    let long = format!("00-{TRACE_ID}-{PARENT_ID}-01-{}", "a".repeat(4000));
    for (n, traceparent) in [
        format!("00-{}-{PARENT_ID}-01", TRACE_ID.to_uppercase()),
        format!("00-{TRACE_ID}-0000000000000000-01"),
        format!("00-{TRACE_ID}-{}-01", &PARENT_ID[2..]),
        "garbage".to_string(),
        long,
    ]
    .into_iter()
    .enumerate()
    {
        let response = http()
            .get(format!("{}/hostile/ok", host.url))
            .header("traceparent", traceparent)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "case {n}");
        let id = response.headers()["x-request-id"]
            .to_str()
            .expect("id")
            .to_string();
        let span = collector.span("request", "id", &id).await;
        assert!(span.parent_span_id.is_empty(), "case {n}: a root span");
        assert_ne!(
            hex(&span.trace_id),
            TRACE_ID,
            "case {n}: a trace of its own"
        );
        assert_eq!(span.trace_id.len(), 16);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_metrics_are_exported() {
    let services = Services::start(Backend::Bare).await;
    let collector = Collector::start().await;
    let host = traced_host(&services, &collector, &collector.url);
    for _ in 0..3 {
        assert_eq!(host.get("/hostile/ok").await.status, 200);
    }
    // Cumulative: some export reports all three.
    let labels = collector
        .wait_for("a histogram point counting three requests", |received| {
            received
                .metrics
                .iter()
                .flat_map(|export| &export.resource_metrics)
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .filter(|m| m.name == "http.server.request.duration")
                .filter_map(|m| match &m.data {
                    Some(metric::Data::Histogram(h)) => Some(&h.data_points),
                    _ => None,
                })
                .flatten()
                .find(|p| {
                    p.count == 3
                        && attribute(&p.attributes, "http.route").as_deref()
                            == Some("/hostile/{mode}")
                })
                .map(|p| {
                    p.attributes
                        .iter()
                        .filter_map(|kv| Some((kv.key.clone(), attribute(&p.attributes, &kv.key)?)))
                        .collect::<BTreeMap<_, _>>()
                })
        })
        .await;
    assert_eq!(labels["strata.component"], "hostile");
    assert_eq!(labels["http.request.method"], "GET");
    assert_eq!(labels["http.response.status_code"], "200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_fails_no_request() {
    let services = Services::start(Backend::Bare).await;
    let collector = Collector::start().await;
    // A port nothing listens on once the listener is dropped.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let host = traced_host(&services, &collector, &closed);
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    for _ in 0..5 {
        traced_fetch(&host, &collector, &traceparent).await;
    }
    for _ in 0..100 {
        let response = http()
            .get(format!("{}/hostile/ok", host.url))
            .header("traceparent", &traceparent)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200);
    }
    // Exports have failed meanwhile (the schedule is 100 ms); the host
    // still serves and still propagates.
    assert_eq!(host.get("/hostile/ok").await.status, 200);
    let sent = collector.with(|r| r.upstream.clone());
    assert!(sent.iter().all(|h| {
        h["traceparent"]
            .to_str()
            .is_ok_and(|v| v.contains(TRACE_ID))
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_otel_settings_nothing_is_exported() {
    let services = Services::start(Backend::Bare).await;
    let collector = Collector::start().await;
    let host = hostile::host(&services, &collector.grants(), &[]);
    assert_eq!(exporter_threads(&host), 0, "no export threads");
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    traced_fetch(&host, &collector, &traceparent).await;
    // Time for a batch to have gone out if anything were exporting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    collector.with(|r| {
        assert!(r.spans.is_empty() && r.metrics.is_empty() && r.undecodable == 0);
        // Untraced, the guest's own headers are sent as they are.
        assert_eq!(r.upstream.len(), 1);
        assert_eq!(
            r.upstream[0]["traceparent"],
            "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01"
        );
    });
}

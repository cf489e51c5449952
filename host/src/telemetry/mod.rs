//! OpenTelemetry export: the host's spans (each request, the component
//! invocation inside it, each outbound call the component makes) and its
//! request metrics, sent over OTLP/HTTP to a collector.
//!
//! Off unless an endpoint is configured ([`crate::config::TelemetryArgs`]):
//! then there is no exporter, no background thread, no `tracing` layer, no
//! component or outbound span, and a request pays one branch for it. On, it
//! may never slow requests down: finished spans go into the batch
//! processor's bounded queue (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048; when full,
//! spans are dropped, not waited for) and are exported from the
//! processor's own thread; metrics are read on the periodic reader's
//! thread. Each export is bounded by `OTEL_EXPORTER_OTLP_TIMEOUT`, so an
//! unreachable collector costs those threads time and the requests none.
//!
//! Trace context crosses the host in W3C Trace Context headers ([`context`]):
//! a client's `traceparent` becomes the parent of its request's span, and
//! the host writes its own on every outbound request. The exporter sends
//! through [`transport`], on the host's runtime.

mod context;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider,
};
use thiserror::Error;
use tracing_opentelemetry::OpenTelemetryLayer;

use crate::config::TelemetryArgs;
pub use context::adopt_parent;

/// Why export could not be set up (a start-up error).
#[derive(Debug, Error)]
pub enum TelemetryError {
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("OTLP export client: {0}")]
    Client(String),
}

/// What is exported, if anything; [`Telemetry::off`] exports nothing.
#[derive(Default)]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Exports nothing.
    pub fn off() -> Self {
        Self::default()
    }

    /// Sets up export as `args` say; off when they name no endpoint.
    /// Exports are sent on `runtime` (see [`transport`]).
    pub fn start(
        args: &TelemetryArgs,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, TelemetryError> {
        let (traces_url, metrics_url) = (args.traces_endpoint(), args.metrics_endpoint());
        if traces_url.is_none() && metrics_url.is_none() {
            return Ok(Self::off());
        }
        let timeout = Duration::from_millis(args.otlp_timeout_ms.max(1));
        let client: Arc<dyn opentelemetry_http::HttpClient> =
            Arc::new(transport::OnRuntime::new(runtime, timeout)?);
        let resource = Resource::builder()
            .with_service_name(args.otel_service_name.clone())
            .build();
        let traces = match traces_url {
            Some(url) => {
                let exporter = SpanExporter::builder()
                    .with_http()
                    .with_shared_http_client(client.clone())
                    .with_endpoint(url)
                    .with_timeout(timeout)
                    .build()?;
                // The queue bound and batch size come from `OTEL_BSP_*`.
                let processor = BatchSpanProcessor::builder(exporter)
                    .with_batch_config(BatchConfigBuilder::default().build())
                    .build();
                Some(
                    SdkTracerProvider::builder()
                        .with_span_processor(processor)
                        .with_resource(resource.clone())
                        .build(),
                )
            }
            None => None,
        };
        let metrics = match metrics_url {
            Some(url) => {
                let exporter = MetricExporter::builder()
                    .with_http()
                    .with_shared_http_client(client)
                    .with_endpoint(url)
                    .with_timeout(timeout)
                    .build()?;
                // The interval comes from `OTEL_METRIC_EXPORT_INTERVAL` (60 s).
                let reader = PeriodicReader::builder(exporter).build();
                Some(
                    SdkMeterProvider::builder()
                        .with_reader(reader)
                        .with_resource(resource)
                        .build(),
                )
            }
            None => None,
        };
        Ok(Self { traces, metrics })
    }

    /// Whether spans are exported (and so worth making).
    pub fn traces(&self) -> bool {
        self.traces.is_some()
    }

    /// The `tracing` layer that turns spans into exported ones, when traces
    /// are exported.
    pub fn layer<S>(&self) -> Option<OpenTelemetryLayer<S, SdkTracer>>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let tracer = self.traces.as_ref()?.tracer("strata");
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    }

    /// The meter exported metrics are made with, when metrics are exported.
    pub fn meter(&self) -> Option<Meter> {
        Some(self.metrics.as_ref()?.meter("strata"))
    }

    /// What writes `traceparent` on outbound requests, when traces are
    /// exported.
    pub fn trace_context(&self) -> Option<Arc<dyn strata_upstream::TraceContext>> {
        self.traces()
            .then(|| Arc::new(context::W3c) as Arc<dyn strata_upstream::TraceContext>)
    }

    /// Exports what is still queued and stops the exporters' threads.
    /// Blocks (each export bounded by its timeout); call it outside the
    /// runtime, while the runtime still runs (exports are sent on it).
    pub fn shutdown(&self) {
        if let Some(traces) = &self.traces
            && let Err(error) = traces.shutdown()
        {
            tracing::warn!(%error, "trace export did not shut down cleanly");
        }
        if let Some(metrics) = &self.metrics
            && let Err(error) = metrics.shutdown()
        {
            tracing::warn!(%error, "metrics export did not shut down cleanly");
        }
    }
}

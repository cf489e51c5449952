//! Where traces and metrics are exported, read from the standard
//! OpenTelemetry variables so the host fits any collector set-up without
//! names of its own. Nothing is exported unless an endpoint is set.

use clap::Args;

/// OTLP export settings (`OTEL_*`); see [`crate::telemetry`].
#[derive(Debug, Clone, Args)]
pub struct TelemetryArgs {
    /// OTLP/HTTP collector base URL, e.g. `http://localhost:4318`: traces go
    /// to `/v1/traces` and metrics to `/v1/metrics` under it. Unset (and no
    /// per-signal endpoint): nothing is exported.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Full URL traces are posted to, instead of the base URL's `/v1/traces`
    /// (alone, it exports traces only).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otlp_traces_endpoint: Option<String>,

    /// Full URL metrics are posted to, instead of the base URL's
    /// `/v1/metrics` (alone, it exports metrics only).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")]
    pub otlp_metrics_endpoint: Option<String>,

    /// OTLP protocol; only `http/protobuf` is built in (no gRPC).
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_PROTOCOL",
        default_value = "http/protobuf",
        value_parser = ["http/protobuf"]
    )]
    pub otlp_protocol: String,

    /// Longest one export may take, retries included, in milliseconds.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TIMEOUT", default_value_t = 10_000)]
    pub otlp_timeout_ms: u64,

    /// `service.name` of everything exported.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "strata")]
    pub otel_service_name: String,
}

impl TelemetryArgs {
    /// Where traces go, if anywhere: the per-signal URL as given, else
    /// the base URL's `/v1/traces` (the OTLP specification's rule).
    pub fn traces_endpoint(&self) -> Option<String> {
        signal_endpoint(&self.otlp_traces_endpoint, &self.otlp_endpoint, "traces")
    }

    /// Where metrics go, if anywhere (as [`Self::traces_endpoint`]).
    pub fn metrics_endpoint(&self) -> Option<String> {
        signal_endpoint(&self.otlp_metrics_endpoint, &self.otlp_endpoint, "metrics")
    }
}

fn signal_endpoint(own: &Option<String>, base: &Option<String>, signal: &str) -> Option<String> {
    let set = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    set(own).or_else(|| set(base).map(|base| format!("{}/v1/{signal}", base.trim_end_matches('/'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(base: Option<&str>, traces: Option<&str>) -> TelemetryArgs {
        TelemetryArgs {
            otlp_endpoint: base.map(str::to_string),
            otlp_traces_endpoint: traces.map(str::to_string),
            otlp_metrics_endpoint: None,
            otlp_protocol: "http/protobuf".into(),
            otlp_timeout_ms: 10_000,
            otel_service_name: "strata".into(),
        }
    }

    #[test]
    fn the_base_url_gets_the_signal_path_and_a_signal_url_is_taken_as_is() {
        let base = args(Some("http://c:4318/"), None);
        assert_eq!(
            base.traces_endpoint().as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            base.metrics_endpoint().as_deref(),
            Some("http://c:4318/v1/metrics")
        );
        let own = args(Some("http://c:4318"), Some("http://t/x"));
        assert_eq!(own.traces_endpoint().as_deref(), Some("http://t/x"));
        let traces_only = args(None, Some("http://t/x"));
        assert_eq!(traces_only.metrics_endpoint(), None);
        assert_eq!(args(Some(" "), None).traces_endpoint(), None);
    }
}

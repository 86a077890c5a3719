//! The service's own Prometheus metrics.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The registry and the metrics the API records.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by method, route pattern and status.
    pub http_requests: IntCounterVec,
    /// HTTP latency by route pattern.
    pub http_duration: HistogramVec,
    /// GraphQL requests by operation (root fields) and outcome (`ok` or an error code).
    pub graphql_requests: IntCounterVec,
    /// GraphQL latency by operation.
    pub graphql_duration: HistogramVec,
    /// When each active certificate ends, Unix seconds (as blackbox's
    /// `probe_ssl_earliest_cert_expiry`): alert on `yuelu_certificate_expiry_seconds - time()`.
    pub certificate_expiry: GaugeVec,
    /// Active certificates ending within 30 days, per tenant: the "expiring soon" condition.
    pub certificates_expiring: IntGaugeVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "yuelu_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "yuelu_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16)?),
            &["route"],
        )?;
        let graphql_requests = IntCounterVec::new(
            Opts::new(
                "yuelu_graphql_requests_total",
                "GraphQL requests by operation and outcome",
            ),
            &["operation", "outcome"],
        )?;
        let graphql_duration = HistogramVec::new(
            HistogramOpts::new(
                "yuelu_graphql_request_duration_seconds",
                "GraphQL request latency by operation",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16)?),
            &["operation"],
        )?;
        let build_info = IntGauge::with_opts(
            Opts::new("yuelu_build_info", "Build information")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )?;
        let certificate_expiry = GaugeVec::new(
            Opts::new(
                "yuelu_certificate_expiry_seconds",
                "When an active certificate stops being valid (Unix time, seconds)",
            ),
            &["tenant", "serial", "profile", "common_name"],
        )?;
        let certificates_expiring = IntGaugeVec::new(
            Opts::new(
                "yuelu_certificates_expiring_soon",
                "Active certificates that expire within 30 days",
            ),
            &["tenant"],
        )?;
        build_info.set(1);
        registry.register(Box::new(certificate_expiry.clone()))?;
        registry.register(Box::new(certificates_expiring.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(graphql_requests.clone()))?;
        registry.register(Box::new(graphql_duration.clone()))?;
        registry.register(Box::new(build_info))?;
        Ok(Metrics {
            registry,
            http_requests,
            http_duration,
            graphql_requests,
            graphql_duration,
            certificate_expiry,
            certificates_expiring,
        })
    }

    /// Everything in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding our own registry into a Vec cannot fail short of a bug in prometheus.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The registry, for other parts of the process to register into.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

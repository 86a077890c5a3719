//! Prometheus metrics of the controller (`/metrics`).

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Every metric the controller exports, in its own registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// Reconciles by kind (`ChainNetwork`, `ChainMember`).
    pub reconciliations: IntCounterVec,
    /// Failed reconciles by kind and reason.
    pub failures: IntCounterVec,
    /// Reconcile durations by kind.
    pub duration: HistogramVec,
    /// Child writes by kind and outcome (created, updated, unchanged, skipped, deleted).
    pub writes: IntCounterVec,
    /// Status writes by kind.
    pub status_writes: IntCounterVec,
    /// Events published by type and reason.
    pub events: IntCounterVec,
    /// 1 while this replica leads.
    pub leader: IntGauge,
    /// Node certificate expiry, Unix seconds, by namespace, member and node.
    pub certificate_expiry: GaugeVec,
    /// Seconds since each watch last (re)started successfully, by resource.
    pub watch_age: GaugeVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let reconciliations = IntCounterVec::new(
            Opts::new(
                "yuelu_controller_reconciliations_total",
                "Reconciles, by kind",
            ),
            &["kind"],
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "yuelu_controller_reconcile_errors_total",
                "Failed reconciles, by kind and reason",
            ),
            &["kind", "reason"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "yuelu_controller_reconcile_duration_seconds",
                "Reconcile durations, by kind",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["kind"],
        )?;
        let writes = IntCounterVec::new(
            Opts::new(
                "yuelu_controller_child_writes_total",
                "Child applies and deletes, by kind and outcome (skipped means no request was sent)",
            ),
            &["kind", "outcome"],
        )?;
        let status_writes = IntCounterVec::new(
            Opts::new(
                "yuelu_controller_status_writes_total",
                "Status writes, by kind",
            ),
            &["kind"],
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "yuelu_controller_events_total",
                "Events published, by type and reason",
            ),
            &["type", "reason"],
        )?;
        let leader = IntGauge::new("yuelu_controller_leader", "1 while this replica leads")?;
        let certificate_expiry = GaugeVec::new(
            Opts::new(
                "yuelu_controller_node_certificate_expiry_timestamp_seconds",
                "When each node certificate expires (Unix seconds)",
            ),
            &["namespace", "member", "node"],
        )?;
        let watch_age = GaugeVec::new(
            Opts::new(
                "yuelu_controller_watch_age_seconds",
                "Seconds since each watch was last (re)established successfully",
            ),
            &["resource"],
        )?;
        registry.register(Box::new(reconciliations.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(writes.clone()))?;
        registry.register(Box::new(status_writes.clone()))?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(leader.clone()))?;
        registry.register(Box::new(certificate_expiry.clone()))?;
        registry.register(Box::new(watch_age.clone()))?;
        Ok(Metrics {
            registry,
            reconciliations,
            failures,
            duration,
            writes,
            status_writes,
            events,
            leader,
            certificate_expiry,
            watch_age,
        })
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            return format!("# encoding metrics failed: {e}\n");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

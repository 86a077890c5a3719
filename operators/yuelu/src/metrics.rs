//! Prometheus metrics of the node (names in [`crate::plugin::metric`]).

use crate::plugin::metric;
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, Opts, Registry};

/// The node's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// Committed height.
    pub height: IntGauge,
    /// Connected registered peers.
    pub peers: IntGauge,
    /// Pool size.
    pub txpool: IntGauge,
    /// Committed transactions.
    pub committed_txs: IntCounter,
    /// Submit-to-commit latency of transactions submitted here.
    pub commit_latency: Histogram,
    /// Current round.
    pub round: IntGauge,
    /// Peers refused for lack of a registered identity.
    pub refused_peers: IntGauge,
    /// Transactions refused at submission.
    pub rejected_txs: IntCounter,
    /// Transactions peers forwarded that this node checked and pooled.
    pub forwarded_txs: IntCounter,
}

/// A metric could not be registered (duplicate name: a bug).
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(String);

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let e = |err: prometheus::Error| MetricsError(err.to_string());
        let gauge = |name: &str, help: &str| -> Result<IntGauge, MetricsError> {
            let g = IntGauge::with_opts(Opts::new(name, help)).map_err(e)?;
            registry.register(Box::new(g.clone())).map_err(e)?;
            Ok(g)
        };
        let counter = |name: &str, help: &str| -> Result<IntCounter, MetricsError> {
            let c = IntCounter::with_opts(Opts::new(name, help)).map_err(e)?;
            registry.register(Box::new(c.clone())).map_err(e)?;
            Ok(c)
        };
        let commit_latency = Histogram::with_opts(
            HistogramOpts::new(
                metric::COMMIT_LATENCY,
                "Time from submission to this node until the transaction is committed, in seconds",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0,
            ]),
        )
        .map_err(e)?;
        registry
            .register(Box::new(commit_latency.clone()))
            .map_err(e)?;
        Ok(Metrics {
            height: gauge(metric::HEIGHT, "Height of the last committed block")?,
            peers: gauge(metric::PEERS, "Registered peers connected")?,
            txpool: gauge(metric::TXPOOL, "Transactions waiting in the pool")?,
            committed_txs: counter(metric::COMMITTED_TXS, "Transactions committed")?,
            commit_latency,
            round: gauge(metric::ROUND, "Consensus round of the current height")?,
            refused_peers: gauge(
                "yuelu_p2p_refused_peers",
                "Connections refused because the peer has no registered identity",
            )?,
            rejected_txs: counter(
                "yuelu_tx_rejected_total",
                "Transactions refused at submission (bad signature, replay, malformed...)",
            )?,
            forwarded_txs: counter(
                "yuelu_tx_forwarded_total",
                "Transactions forwarded by peers that this node checked and pooled",
            )?,
            registry,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

//! Status: what nodes and networks are doing, from pod readiness and the node metrics the
//! engine plan names. Everything here but [`scrape`] is pure, so that it is tested without
//! pods (the test apiserver has no kubelet: pods never run there).

use crate::children::NodeCertificate;
use crate::conditions::{self, Desired, Status};
use crate::crd::{NetworkPhase, NodeStatus};
use crate::identity;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;
use yuelu_engine::{Consensus, MetricNames, NodeIdentity};

/// What the controller saw of a node's pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodObservation {
    /// The pod's Ready condition is True.
    pub ready: bool,
    /// The pod's IP, once it has one.
    pub ip: Option<String>,
}

/// Reads readiness and IP from a pod.
pub fn observe_pod(pod: &Pod) -> PodObservation {
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    PodObservation {
        ready,
        ip: status.and_then(|s| s.pod_ip.clone()),
    }
}

/// The value of the first sample of each metric in a Prometheus text exposition, labels
/// ignored. Unparseable lines are skipped: a node's metrics must never fail a reconcile.
pub fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name_part, rest) = match line.find('{') {
            Some(i) => {
                let Some(close) = line[i..].find('}') else {
                    continue;
                };
                (&line[..i], &line[i + close + 1..])
            }
            None => match line.split_once(char::is_whitespace) {
                Some((n, r)) => (n, r),
                None => continue,
            },
        };
        let Some(value) = rest.split_whitespace().next() else {
            continue;
        };
        if let Ok(v) = value.parse::<f64>() {
            out.entry(name_part.to_owned()).or_insert(v);
        }
    }
    out
}

/// Height and peers of a node from its metrics, by the names its plan gives.
pub fn node_metrics(
    names: &MetricNames,
    metrics: &BTreeMap<String, f64>,
) -> (Option<u64>, Option<u64>) {
    let get = |n: &str| {
        metrics
            .get(n)
            .filter(|v| v.is_finite() && **v >= 0.0)
            .map(|v| v.round() as u64)
    };
    (get(&names.height), get(&names.peers))
}

/// A node's status line.
pub fn node_status(
    identity: &NodeIdentity,
    pod: Option<&PodObservation>,
    metrics: Option<(Option<u64>, Option<u64>)>,
    certificate: Option<&NodeCertificate>,
) -> NodeStatus {
    let ready = pod.is_some_and(|p| p.ready);
    // Metrics are only meaningful from a ready node; a stale height would mislead.
    let (height, peers) = if ready {
        metrics.unwrap_or_default()
    } else {
        (None, None)
    };
    NodeStatus {
        name: identity.node.to_string(),
        role: identity.role,
        ready,
        height,
        peers,
        identity: identity::published(identity),
        certificate_not_after: certificate
            .and_then(|c| Timestamp::from_second(c.not_after).ok())
            .map(Time),
        certificate_serial: certificate.map(|c| c.serial.clone()),
    }
}

/// `ready/total` as the printer column shows it.
pub fn ready_fraction(ready: usize, total: usize) -> String {
    format!("{ready}/{total}")
}

/// What the network reconciler saw, for [`network_phase`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkObservation {
    /// The network is being deleted.
    pub deleting: bool,
    /// Why the spec cannot be realized: `(reason, message)`.
    pub invalid: Option<(String, String)>,
    /// The genesis hash, once computed.
    pub genesis: Option<String>,
    /// Why the genesis waits, if it does: `(reason, message)`.
    pub genesis_waiting: Option<(String, String)>,
    /// Validators across members.
    pub validators: u32,
    /// Of them, ready.
    pub ready_validators: u32,
    /// The consensus, for its fault tolerance.
    pub consensus: Consensus,
    /// The phase before this reconcile.
    pub previous: NetworkPhase,
}

/// The validators that must be up for the network to commit.
pub fn quorum(consensus: Consensus, n: u32) -> u32 {
    n - consensus.tolerated_faults(n)
}

/// The phase and the Ready, GenesisReady and Degraded conditions of a network.
pub fn network_phase(o: &NetworkObservation) -> (NetworkPhase, Vec<Desired>) {
    use conditions::{DEGRADED, GENESIS_READY, READY};
    let ready_msg = format!("{}/{} validators ready", o.ready_validators, o.validators);
    let genesis_cond = match (&o.genesis, &o.genesis_waiting) {
        (Some(h), _) => Desired::new(
            GENESIS_READY,
            Status::True,
            "GenesisComputed",
            format!("genesis {h}"),
        ),
        (None, Some((reason, msg))) => {
            Desired::new(GENESIS_READY, Status::False, reason, msg.clone())
        }
        (None, None) => Desired::new(
            GENESIS_READY,
            Status::False,
            "GenesisPending",
            "waiting for members",
        ),
    };
    if o.deleting {
        return (
            NetworkPhase::Deleting,
            vec![
                Desired::new(
                    READY,
                    Status::False,
                    "Deleting",
                    "the network is being deleted",
                ),
                genesis_cond,
                Desired::new(DEGRADED, Status::False, "Deleting", ""),
            ],
        );
    }
    if let Some((reason, message)) = &o.invalid {
        return (
            NetworkPhase::Failed,
            vec![
                Desired::new(READY, Status::False, reason, message.clone()),
                genesis_cond,
                Desired::new(
                    DEGRADED,
                    Status::False,
                    reason,
                    "the spec cannot be realized",
                ),
            ],
        );
    }
    if o.genesis.is_none() {
        return (
            NetworkPhase::Pending,
            vec![
                Desired::new(
                    READY,
                    Status::False,
                    "GenesisPending",
                    genesis_cond.message.clone(),
                ),
                genesis_cond,
                Desired::new(DEGRADED, Status::False, "GenesisPending", ""),
            ],
        );
    }
    let q = quorum(o.consensus, o.validators);
    let all = o.validators > 0 && o.ready_validators == o.validators;
    let committing = o.validators > 0 && o.ready_validators >= q;
    let was_up = matches!(o.previous, NetworkPhase::Running | NetworkPhase::Degraded);
    let (phase, degraded) = if all {
        (NetworkPhase::Running, None)
    } else if committing {
        (
            NetworkPhase::Degraded,
            Some((
                "ValidatorsNotReady",
                format!("{ready_msg}; quorum {q} holds"),
            )),
        )
    } else if was_up {
        (
            NetworkPhase::Degraded,
            Some((
                "QuorumLost",
                format!("{ready_msg}; quorum {q} lost: no blocks are committed"),
            )),
        )
    } else {
        (NetworkPhase::Provisioning, None)
    };
    let ready = if committing {
        Desired::new(READY, Status::True, "QuorumReady", ready_msg.clone())
    } else {
        Desired::new(
            READY,
            Status::False,
            "ValidatorsNotReady",
            format!("{ready_msg}; quorum is {q}"),
        )
    };
    let degraded = match degraded {
        Some((reason, msg)) => Desired::new(DEGRADED, Status::True, reason, msg),
        None => Desired::new(DEGRADED, Status::False, "AsExpected", ""),
    };
    (phase, vec![ready, genesis_cond, degraded])
}

/// Fetches a node's `/metrics` over plain HTTP/1.0 (node metrics are cluster-internal and
/// unauthenticated); bounded by `timeout`.
pub async fn scrape(ip: &str, port: u16, timeout: Duration) -> Result<String, std::io::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect((ip, port)).await?;
        stream
            .write_all(
                format!("GET /metrics HTTP/1.0\r\nHost: {ip}:{port}\r\nAccept: text/plain\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut buf = Vec::new();
        // Node metrics are small; refuse to buffer more than 4 MiB.
        stream.take(4 << 20).read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        if !head.starts_with("HTTP/1.") || head.split_whitespace().nth(1).is_none_or(|c| c != "200")
        {
            return Err(std::io::Error::other(format!(
                "unexpected response: {}",
                head.lines().next().unwrap_or_default()
            )));
        }
        Ok(body.to_owned())
    };
    tokio::time::timeout(timeout, fetch).await.map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "metrics scrape timed out")
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use yuelu_engine::{KeyAlgorithm, NodeName, NodeRole, OrgName, PeerId, PortName, PublicKey};

    const METRICS: &str = "# HELP yuelu_chain_height Committed height.\n\
        # TYPE yuelu_chain_height gauge\n\
        yuelu_chain_height 1234\n\
        yuelu_p2p_peers{direction=\"all\"} 3\n\
        yuelu_p2p_peers{direction=\"in\"} 1\n\
        yuelu_tx_commit_latency_seconds_bucket{le=\"+Inf\"} 7\n\
        garbage line\n";

    fn names() -> MetricNames {
        MetricNames {
            port: PortName::new("rpc"),
            height: "yuelu_chain_height".into(),
            peers: "yuelu_p2p_peers".into(),
            txpool: None,
            committed_txs: None,
        }
    }

    fn identity() -> NodeIdentity {
        NodeIdentity {
            node: NodeName::new("m-validator-0").unwrap(),
            org: OrgName::new("org1").unwrap(),
            role: NodeRole::Validator,
            consensus_key: PublicKey::from_bytes(KeyAlgorithm::EcdsaP256, &[2; 33]),
            peer_id: PeerId("peer".into()),
            voting_power: 1,
        }
    }

    fn pod(ready: bool) -> Pod {
        Pod {
            status: Some(PodStatus {
                pod_ip: Some("10.1.2.3".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn metrics_by_the_plans_names() {
        let m = parse_metrics(METRICS);
        assert_eq!(node_metrics(&names(), &m), (Some(1234), Some(3)));
        assert_eq!(node_metrics(&names(), &BTreeMap::new()), (None, None));
    }

    #[test]
    fn node_status_from_pod_and_metrics() {
        let id = identity();
        let m = node_metrics(&names(), &parse_metrics(METRICS));
        let ready = observe_pod(&pod(true));
        assert_eq!(ready.ip.as_deref(), Some("10.1.2.3"));
        let s = node_status(&id, Some(&ready), Some(m), None);
        assert!(s.ready);
        assert_eq!((s.height, s.peers), (Some(1234), Some(3)));
        assert_eq!(s.identity.peer_id, PeerId("peer".into()));

        // A pod that is not ready reports no height, even with metrics at hand.
        let s = node_status(&id, Some(&observe_pod(&pod(false))), Some(m), None);
        assert!(!s.ready);
        assert_eq!(s.height, None);
        // No pod at all (the test apiserver has no kubelet).
        let cert = NodeCertificate {
            pem: String::new(),
            serial: "0abc".into(),
            issued_at: 1_700_000_000,
            not_after: 1_700_086_400,
            fingerprint: String::new(),
        };
        let s = node_status(&id, None, None, Some(&cert));
        assert!(!s.ready);
        assert_eq!(s.certificate_serial.as_deref(), Some("0abc"));
        assert_eq!(
            s.certificate_not_after.unwrap().0.as_second(),
            1_700_086_400
        );
    }

    fn obs(ready: u32, previous: NetworkPhase) -> NetworkObservation {
        NetworkObservation {
            deleting: false,
            invalid: None,
            genesis: Some("abc".into()),
            genesis_waiting: None,
            validators: 4,
            ready_validators: ready,
            consensus: Consensus::Tendermint,
            previous,
        }
    }

    #[test]
    fn phases_follow_readiness_and_quorum() {
        let phase = |o: &NetworkObservation| network_phase(o).0;
        assert_eq!(
            phase(&obs(0, NetworkPhase::Pending)),
            NetworkPhase::Provisioning
        );
        assert_eq!(
            phase(&obs(4, NetworkPhase::Provisioning)),
            NetworkPhase::Running
        );
        // 3 of 4 commit (f = 1): degraded but Ready.
        let (p, c) = network_phase(&obs(3, NetworkPhase::Running));
        assert_eq!(p, NetworkPhase::Degraded);
        assert!(conditions_true(&c, "Ready"));
        assert!(conditions_true(&c, "Degraded"));
        // 2 of 4 after running: quorum lost.
        let (p, c) = network_phase(&obs(2, NetworkPhase::Running));
        assert_eq!(p, NetworkPhase::Degraded);
        assert!(!conditions_true(&c, "Ready"));
        assert_eq!(
            c.iter().find(|d| d.type_ == "Degraded").unwrap().reason,
            "QuorumLost"
        );
        // Starting up, 2 of 4: still provisioning.
        assert_eq!(
            phase(&obs(2, NetworkPhase::Provisioning)),
            NetworkPhase::Provisioning
        );

        let mut o = obs(4, NetworkPhase::Running);
        o.genesis = None;
        o.genesis_waiting = Some(("WaitingForIdentities".into(), "waiting".into()));
        let (p, c) = network_phase(&o);
        assert_eq!(p, NetworkPhase::Pending);
        assert!(!conditions_true(&c, "GenesisReady"));
        o.invalid = Some(("EngineUnsupported".into(), "version 9".into()));
        assert_eq!(network_phase(&o).0, NetworkPhase::Failed);
        o.deleting = true;
        assert_eq!(network_phase(&o).0, NetworkPhase::Deleting);
    }

    fn conditions_true(c: &[Desired], t: &str) -> bool {
        c.iter().any(|d| d.type_ == t && d.status == Status::True)
    }

    #[tokio::test]
    async fn scrape_reads_a_metrics_endpoint() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(
                format!("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n{METRICS}").as_bytes(),
            )
            .await
            .unwrap();
        });
        let body = scrape("127.0.0.1", port, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            node_metrics(&names(), &parse_metrics(&body)),
            (Some(1234), Some(3))
        );
        // Nothing listens: an error, not a hang.
        let closed = yuelu_e2e::free_port();
        assert!(
            scrape("127.0.0.1", closed, Duration::from_secs(2))
                .await
                .is_err()
        );
    }
}

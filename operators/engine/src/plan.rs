//! Plans: what a runtime must create for a network and each of its nodes.

use crate::{EngineError, NetworkSpec, NodeIdentity, NodeName, NodeRole, OrgName, SecretName};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// The input of [`crate::Engine::genesis`].
#[derive(Clone, Copy, Debug)]
pub struct GenesisInput<'a> {
    /// The network.
    pub spec: &'a NetworkSpec,
    /// The founding validators' identities (order does not matter: engines sort them).
    pub validators: &'a [NodeIdentity],
    /// Genesis time, Unix milliseconds; fixed once, so that the genesis is reproducible.
    pub time_unix_ms: u64,
}

/// The SHA-256 of a genesis, lowercase hex; what `status.genesisHash` shows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GenesisHash(pub String);

impl fmt::Display for GenesisHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A network's genesis: the files every node needs, and their hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Genesis {
    /// Genesis files by path relative to a node's home (e.g. `genesis.json`).
    pub files: BTreeMap<RelPath, Vec<u8>>,
    /// The hash over all files, paths included.
    pub hash: GenesisHash,
}

impl Genesis {
    /// Builds a genesis from its files, computing the hash over `(path, len, bytes)` in order.
    pub fn from_files(files: BTreeMap<RelPath, Vec<u8>>) -> Genesis {
        let mut h = Sha256::new();
        for (path, bytes) in &files {
            h.update((path.as_str().len() as u64).to_be_bytes());
            h.update(path.as_str().as_bytes());
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
        Genesis {
            files,
            hash: GenesisHash(hex::encode(h.finalize())),
        }
    }
}

/// A path relative to a node's home: no leading `/`, no `..`, no empty parts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);

impl RelPath {
    /// Validates a relative path.
    pub fn new(s: impl Into<String>) -> Result<Self, EngineError> {
        let s = s.into();
        let ok = !s.is_empty()
            && !s.starts_with('/')
            && s.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
            && !s.contains('\0');
        if ok {
            Ok(RelPath(s))
        } else {
            Err(EngineError::Key(format!("invalid relative path {s:?}")))
        }
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RelPath {
    type Error = EngineError;
    fn try_from(s: String) -> Result<Self, EngineError> {
        RelPath::new(s)
    }
}

impl From<RelPath> for String {
    fn from(p: RelPath) -> String {
        p.0
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A port's name within a node (`p2p`, `rpc`, `metrics`); also its Kubernetes port name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PortName(pub String);

impl PortName {
    /// Wraps a port name.
    pub fn new(s: &str) -> PortName {
        PortName(s.to_owned())
    }
}

impl fmt::Display for PortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a port is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortPurpose {
    /// Node-to-node traffic.
    P2p,
    /// Client API (submit transactions, query).
    Rpc,
    /// Prometheus metrics.
    Metrics,
    /// Anything else the engine needs (admin, chaincode...).
    Other,
}

/// Transport protocol of a port. Always explicit: server-side apply needs it on Kubernetes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PortProtocol {
    /// TCP.
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
}

/// A port an engine's node listens on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSpec {
    /// Its name.
    pub name: PortName,
    /// What it is for.
    pub purpose: PortPurpose,
    /// Its number when the runtime has no reason to choose another (Kubernetes).
    pub default: u16,
    /// TCP or UDP.
    pub protocol: PortProtocol,
}

/// Where one node can be reached: a host (DNS name or IP) and a number per port name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeEndpoint {
    /// Host other nodes dial (`127.0.0.1` locally, the pod's stable DNS name on Kubernetes).
    pub host: String,
    /// Host the node binds (`127.0.0.1` locally, `0.0.0.0` in a pod).
    pub bind: String,
    /// Port numbers by name.
    pub ports: BTreeMap<PortName, u16>,
}

impl NodeEndpoint {
    /// The number of a named port, or an error naming what is missing.
    pub fn port(&self, node: &NodeName, name: &str) -> Result<u16, EngineError> {
        self.ports
            .get(&PortName::new(name))
            .copied()
            .ok_or_else(|| EngineError::InvalidIdentity {
                node: node.to_string(),
                reason: format!("topology has no {name} port for it"),
            })
    }
}

/// Where every node of a network is, decided by the runtime.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Topology(pub BTreeMap<NodeName, NodeEndpoint>);

impl Topology {
    /// The endpoint of a node, or an error naming it.
    pub fn endpoint(&self, node: &NodeName) -> Result<&NodeEndpoint, EngineError> {
        self.0
            .get(node)
            .ok_or_else(|| EngineError::InvalidIdentity {
                node: node.to_string(),
                reason: "not in the topology".into(),
            })
    }
}

/// Where a planned file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FileContent {
    /// Bytes the engine wrote (config, genesis): public, kept in a ConfigMap or a plain file.
    Inline(Vec<u8>),
    /// One of the node's own private files from [`crate::Engine::generate_node_keys`].
    Secret(SecretName),
    /// A certificate the runtime obtained from the organisation CA for a [`CertificateNeed`].
    Certificate(SecretName),
    /// The PEM bundle of the network's trusted CA certificates (every member's CA).
    CaBundle,
    /// The network's trust roots per organisation: which CA certificates speak for which
    /// member. A JSON object mapping every member organisation's name ([`crate::OrgName`]) to
    /// the PEM bundle of the CA certificates that issue that member's certificates, encoded
    /// and parsed with [`TrustRoots`]:
    /// `{"org1": "-----BEGIN CERTIFICATE-----\n...", "org2": "..."}`.
    ///
    /// Unlike [`FileContent::CaBundle`], which only says "some member issued this", it lets an
    /// engine tell members apart by the CA that issued a certificate rather than by what the
    /// certificate claims about itself (its subject), as Fabric MSPs and ChainMaker
    /// `trust_roots` do: one member's CA can write any subject, but it cannot sign under
    /// another member's CA key.
    TrustRoots,
}

/// The content of a [`FileContent::TrustRoots`] file: each member organisation's CA
/// certificates (a PEM bundle), by organisation name.
///
/// Encoded as a JSON object with keys in sorted order, so that runtimes that know the same
/// members and CAs write byte-identical files (and configuration hashes over them only change
/// when a CA does).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrustRoots(pub BTreeMap<OrgName, String>);

impl TrustRoots {
    /// The file's bytes: pretty JSON, keys sorted, ending in a newline.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EngineError> {
        let mut b = serde_json::to_vec_pretty(self)
            .map_err(|e| EngineError::Key(format!("encoding trust roots: {e}")))?;
        b.push(b'\n');
        Ok(b)
    }

    /// Parses a trust-roots file. Organisation names must be valid [`crate::OrgName`]s; the
    /// PEM text is not looked into here (that is the engine's business).
    pub fn from_bytes(bytes: &[u8]) -> Result<TrustRoots, EngineError> {
        serde_json::from_slice(bytes).map_err(|e| EngineError::InvalidSpec {
            field: "trustRoots",
            reason: format!("not a JSON object of organisation names to PEM bundles: {e}"),
        })
    }

    /// The PEM bundle of one organisation, if it has one.
    pub fn get(&self, org: &OrgName) -> Option<&str> {
        self.0.get(org).map(String::as_str)
    }

    /// Whether no organisation has trust roots.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One file in a node's home directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanFile {
    /// Where it goes, relative to the node's home.
    pub path: RelPath,
    /// What it holds.
    pub content: FileContent,
}

/// What a certificate is for; the CA picks key usages and extensions by profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateProfile {
    /// TLS server and client authentication between nodes and with clients.
    NodeTls,
    /// Signing (consensus messages, blocks) with the node's identity.
    NodeSigning,
}

/// A certificate a node needs from its organisation's CA, requested by CSR for one of its keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateNeed {
    /// The name under which the runtime stores the issued certificate (PEM).
    pub name: SecretName,
    /// The private key (one of the node's secrets) the certificate certifies.
    pub key: SecretName,
    /// What it is for.
    pub profile: CertificateProfile,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<String>,
}

/// The program a node runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Program {
    /// The `yuelu` binary itself (`yuelu node ...` locally, the Yuelu image on Kubernetes).
    Yuelu,
    /// A container image (external engines; Kubernetes only).
    Image(String),
}

/// How to start a node. The working directory is always the node's home, so relative paths in
/// arguments resolve against it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// The program.
    pub program: Program,
    /// Its arguments (for [`Program::Yuelu`], starting with the subcommand, e.g. `node`).
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
}

/// A health probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Probe {
    /// An HTTP GET that must answer 2xx.
    Http {
        /// The port's name.
        port: PortName,
        /// The path, with query if any.
        path: String,
    },
    /// A TCP connect that must succeed.
    Tcp {
        /// The port's name.
        port: PortName,
    },
}

/// The Prometheus metric names a node exposes, so that runtimes read status without knowing
/// the engine. `None` where an engine has no such metric.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricNames {
    /// The port serving `/metrics`.
    pub port: PortName,
    /// Committed block height (gauge).
    pub height: String,
    /// Connected peers (gauge).
    pub peers: String,
    /// Transactions waiting in the pool (gauge).
    pub txpool: Option<String>,
    /// Committed transactions (counter).
    pub committed_txs: Option<String>,
}

/// Everything a runtime needs to run one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePlan {
    /// The node.
    pub node: NodeName,
    /// Validator or observer.
    pub role: NodeRole,
    /// How to start it.
    pub command: Command,
    /// Files in its home directory.
    pub files: Vec<PlanFile>,
    /// Certificates to obtain from the organisation CA before it starts.
    pub certificates: Vec<CertificateNeed>,
    /// Ports it listens on, with the numbers from the topology.
    pub ports: Vec<(PortSpec, u16)>,
    /// Durable state directory, relative to home: a persistent volume on Kubernetes.
    pub data_dir: RelPath,
    /// Ready to serve: synced and connected.
    pub readiness: Probe,
    /// Alive: restart it otherwise.
    pub liveness: Probe,
    /// Metric names to read status from.
    pub metrics: MetricNames,
}

/// Plans for every node of a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPlan {
    /// The genesis all of them share.
    pub genesis: Genesis,
    /// One plan per node.
    pub nodes: Vec<NodePlan>,
}

/// A change of the validator set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidatorSetChange {
    /// Validators to add (their nodes should already run, as observers, and be synced).
    pub add: Vec<NodeIdentity>,
    /// Validators to remove.
    pub remove: Vec<NodeName>,
    /// CA certificates of organisations that join with this change (or add a CA), for engines
    /// that keep per-organisation trust roots on the chain: recorded by the same governed
    /// action, every node learns them at the same height. Empty when no organisation's CAs
    /// change; engines without on-chain trust roots ignore it.
    pub trust_roots: TrustRoots,
}

/// How an engine carries out a [`ValidatorSetChange`] on a running network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeProcedure {
    /// A governance transaction: the body must be signed by `approvals` distinct member admins
    /// and then submitted to any node (the built-in engine).
    GovernanceTransaction {
        /// The unsigned transaction body, as the engine's API takes it.
        body: serde_json::Value,
        /// How many member admins must sign.
        approvals: u32,
    },
    /// Steps an operator must run with the engine's own tools, in order (FISCO BCOS console,
    /// Besu validator votes, Fabric config updates, ChainMaker `cmc`).
    ManualSteps(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &[u8])]) -> BTreeMap<RelPath, Vec<u8>> {
        pairs
            .iter()
            .map(|(p, b)| (RelPath::new(*p).unwrap(), b.to_vec()))
            .collect()
    }

    #[test]
    fn genesis_hash_covers_paths_and_bytes() {
        let a = Genesis::from_files(files(&[("genesis.json", b"{}")]));
        let b = Genesis::from_files(files(&[("genesis.json", b"{}")]));
        let c = Genesis::from_files(files(&[("genesis.jsonx", b"{}")]));
        let d = Genesis::from_files(files(&[("genesis.json", b"{ }")]));
        // Moving a byte from the path into the content must change the hash too.
        let e = Genesis::from_files(files(&[("genesis.jso", b"n{}")]));
        assert_eq!(a.hash, b.hash);
        assert_eq!(a.hash.0.len(), 64);
        for other in [&c, &d, &e] {
            assert_ne!(a.hash, other.hash);
        }
    }

    #[test]
    fn relative_paths_stay_inside_home() {
        assert!(RelPath::new("config/node.toml").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/"] {
            assert!(RelPath::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn trust_roots_files_are_stable_json_by_organisation() {
        let org = |s: &str| crate::OrgName::new(s).unwrap();
        let mut roots = TrustRoots::default();
        assert!(roots.is_empty());
        // Inserted out of order: the file lists organisations sorted.
        roots.0.insert(org("org2"), "PEM2\n".into());
        roots.0.insert(org("org1"), "PEM1\n".into());
        let bytes = roots.to_bytes().unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "{\n  \"org1\": \"PEM1\\n\",\n  \"org2\": \"PEM2\\n\"\n}\n"
        );
        let back = TrustRoots::from_bytes(&bytes).unwrap();
        assert_eq!(back, roots);
        assert_eq!(back.get(&org("org1")), Some("PEM1\n"));
        assert_eq!(back.get(&org("org3")), None);
        // Organisation names are checked; anything but an object of strings is refused.
        for bad in [
            &br#"{"Org 1": "PEM"}"#[..],
            br#"["org1"]"#,
            br#"{"org1": 1}"#,
            b"",
        ] {
            let err = TrustRoots::from_bytes(bad).unwrap_err();
            assert_eq!(
                err.code(),
                "INVALID_SPEC",
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // The plan names the file's content without carrying it: the runtime fills it in.
        let f = PlanFile {
            path: RelPath::new("config/trust-roots.json").unwrap(),
            content: FileContent::TrustRoots,
        };
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(
            json,
            r#"{"path":"config/trust-roots.json","content":"trustRoots"}"#
        );
        assert_eq!(serde_json::from_str::<PlanFile>(&json).unwrap(), f);
    }

    #[test]
    fn missing_ports_and_nodes_are_named_errors() {
        let n = NodeName::new("n0").unwrap();
        let t = Topology::default();
        assert_eq!(t.endpoint(&n).unwrap_err().code(), "INVALID_IDENTITY");
        let ep = NodeEndpoint {
            host: "127.0.0.1".into(),
            bind: "127.0.0.1".into(),
            ports: BTreeMap::from([(PortName::new("p2p"), 1000)]),
        };
        assert_eq!(ep.port(&n, "p2p").unwrap(), 1000);
        assert!(ep.port(&n, "rpc").unwrap_err().to_string().contains("rpc"));
    }
}

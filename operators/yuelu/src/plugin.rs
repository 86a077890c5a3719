//! The [`Engine`] plugin of the built-in chain: keys, genesis and node plans for `yuelu node`.

use crate::config::{CONFIG_FORMAT, Member, NodeConfig};
use crate::genesis::{GENESIS_FORMAT, GENESIS_PATH, GenesisDoc, check_identities, check_identity};
use crate::keys::NodeKey;
use crate::tx::{TxBody, TxKind, admin_quorum};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use yuelu_engine::{
    Capabilities, CertificateNeed, CertificateProfile, ChangeProcedure, Command, Consensus,
    CryptoSuite, Engine, EngineError, EngineKind, FileContent, GeneratedNode, Genesis,
    GenesisInput, MetricNames, NetworkSpec, NodeIdentity, NodeName, NodePlan, NodeRole,
    NodeSecrets, OrgName, PlanFile, PortName, PortProtocol, PortPurpose, PortSpec, Probe, Program,
    RelPath, SecretName, Topology, ValidatorSetChange,
};

/// Engine versions this plugin plans, newest first.
pub const VERSIONS: &[&str] = &["0.1"];
/// Most validators in a network. Tendermint messages grow with n²; 32 is far beyond what a
/// consortium on this platform runs and still cheap on loopback.
pub const MAX_VALIDATORS: u32 = 32;
/// Default peer-to-peer port.
pub const DEFAULT_P2P_PORT: u16 = 7150;
/// Default HTTP port (API, probes and metrics).
pub const DEFAULT_RPC_PORT: u16 = 7151;

/// Name of the node's private key among its secrets.
pub const NODE_KEY_SECRET: &str = "node.key";
/// Name of the node's certificate (issued by its organisation's CA for `node.key`).
pub const NODE_CERT_SECRET: &str = "node-cert.pem";

/// Paths in a node's home, relative (the node runs with its home as working directory).
pub mod paths {
    /// The node config.
    pub const CONFIG: &str = "config/node.json";
    /// The node's private key (PKCS#8 PEM, 0600).
    pub const KEY: &str = "config/node.key";
    /// The node's certificate, when the runtime provides it.
    pub const CERTIFICATE: &str = "config/node-cert.pem";
    /// The network's trust roots per organisation (JSON, [`yuelu_engine::TrustRoots`]).
    pub const TRUST_ROOTS: &str = "config/trust-roots.json";
    /// A plain PEM bundle of trusted CAs: no longer planned (trust roots replace it), still
    /// read by `yuelu node` in homes planned before them.
    pub const CA_BUNDLE: &str = "config/ca-bundle.pem";
    /// Durable state: blocks, state, consensus WAL.
    pub const DATA: &str = "data";
}

/// Prometheus metric names of `yuelu node`.
pub mod metric {
    /// Committed height (gauge).
    pub const HEIGHT: &str = "yuelu_chain_height";
    /// Connected peers (gauge).
    pub const PEERS: &str = "yuelu_p2p_peers";
    /// Transactions in the pool (gauge).
    pub const TXPOOL: &str = "yuelu_txpool_size";
    /// Committed transactions (counter).
    pub const COMMITTED_TXS: &str = "yuelu_committed_txs_total";
    /// Submit-to-commit latency of transactions submitted to this node (histogram, seconds).
    pub const COMMIT_LATENCY: &str = "yuelu_tx_commit_latency_seconds";
    /// Current consensus round (gauge).
    pub const ROUND: &str = "yuelu_consensus_round";
}

/// The built-in engine's plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct YueluEngine;

impl YueluEngine {
    /// The plugin.
    pub fn new() -> Self {
        YueluEngine
    }
}

fn rel(p: &str) -> Result<RelPath, EngineError> {
    RelPath::new(p)
}

fn secret(s: &str) -> Result<SecretName, EngineError> {
    SecretName::new(s)
}

impl Engine for YueluEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Yuelu
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            versions: VERSIONS.iter().map(|v| v.to_string()).collect(),
            consensus: vec![Consensus::Tendermint],
            crypto: vec![CryptoSuite::EcdsaP256, CryptoSuite::Sm2],
            validators: 1..=MAX_VALIDATORS,
            runs_locally: true,
        }
    }

    fn generate_node_keys(
        &self,
        spec: &NetworkSpec,
        node: &NodeName,
        org: &OrgName,
        role: NodeRole,
    ) -> Result<GeneratedNode, EngineError> {
        self.validate(spec)?;
        let key = NodeKey::generate();
        let pem = key
            .to_pkcs8_pem()
            .map_err(|e| EngineError::Key(e.to_string()))?;
        let peer_id = key.peer_id().map_err(|e| EngineError::Key(e.to_string()))?;
        let identity = NodeIdentity {
            node: node.clone(),
            org: org.clone(),
            role,
            consensus_key: key.public_key(),
            peer_id,
            voting_power: match role {
                NodeRole::Validator => 1,
                NodeRole::Observer => 0,
            },
        };
        let mut secrets = NodeSecrets::default();
        secrets.0.insert(secret(NODE_KEY_SECRET)?, pem.into_bytes());
        Ok(GeneratedNode { identity, secrets })
    }

    fn genesis(&self, input: &GenesisInput<'_>) -> Result<Genesis, EngineError> {
        self.validate(input.spec)?;
        let n = u32::try_from(input.validators.len()).unwrap_or(u32::MAX);
        if !self.capabilities().validators.contains(&n) {
            return Err(EngineError::InvalidSpec {
                field: "validators",
                reason: format!("{n} validators; the yuelu engine runs 1..={MAX_VALIDATORS}"),
            });
        }
        check_identities(input.validators, true)?;
        let mut validators = input.validators.to_vec();
        validators.sort_by(|a, b| a.node.cmp(&b.node));
        let doc = GenesisDoc {
            format: GENESIS_FORMAT.into(),
            chain_id: input.spec.chain_id.clone(),
            engine_version: input.spec.version.clone(),
            crypto: input.spec.crypto,
            genesis_time_unix_ms: input.time_unix_ms,
            block: input.spec.block,
            validators,
        };
        doc.validate()?;
        doc.to_genesis()
    }

    fn ports(&self, _spec: &NetworkSpec) -> Vec<PortSpec> {
        vec![
            PortSpec {
                name: PortName::new("p2p"),
                purpose: PortPurpose::P2p,
                default: DEFAULT_P2P_PORT,
                protocol: PortProtocol::Tcp,
            },
            // The HTTP port also serves /metrics, /healthz and /readyz: MetricNames::port says
            // so, and there is no separate metrics port.
            PortSpec {
                name: PortName::new("rpc"),
                purpose: PortPurpose::Rpc,
                default: DEFAULT_RPC_PORT,
                protocol: PortProtocol::Tcp,
            },
        ]
    }

    fn plan_node(
        &self,
        spec: &NetworkSpec,
        genesis: &Genesis,
        nodes: &[NodeIdentity],
        node: &NodeName,
        topology: &Topology,
    ) -> Result<NodePlan, EngineError> {
        self.validate(spec)?;
        let doc = GenesisDoc::from_genesis(genesis)?;
        if doc.chain_id != spec.chain_id {
            return Err(EngineError::InvalidSpec {
                field: "genesis",
                reason: format!(
                    "genesis is for chain {}, the spec for {}",
                    doc.chain_id, spec.chain_id
                ),
            });
        }
        // Planning from a genesis that does not hash to its own hash would start nodes that
        // can never agree with the network. (`to_genesis` rehashes the files it writes, so
        // equality covers the files and the hash.)
        if doc.to_genesis()? != *genesis {
            return Err(EngineError::InvalidSpec {
                field: "genesis",
                reason: "files do not match the genesis hash".into(),
            });
        }
        check_identities(nodes, false)?;
        let me =
            nodes
                .iter()
                .find(|n| &n.node == node)
                .ok_or_else(|| EngineError::InvalidIdentity {
                    node: node.to_string(),
                    reason: "not among the network's nodes".into(),
                })?;
        let mut members = Vec::with_capacity(nodes.len());
        for n in nodes {
            let ep = topology.endpoint(&n.node)?;
            members.push(Member {
                identity: n.clone(),
                host: ep.host.clone(),
                p2p_port: ep.port(&n.node, "p2p")?,
            });
        }
        members.sort_by(|a, b| a.identity.node.cmp(&b.identity.node));
        let ep = topology.endpoint(node)?;
        let p2p_port = ep.port(node, "p2p")?;
        let rpc_port = ep.port(node, "rpc")?;
        let config = NodeConfig {
            format: CONFIG_FORMAT.into(),
            node: node.clone(),
            chain_id: spec.chain_id.clone(),
            genesis_hash: genesis.hash.clone(),
            bind: ep.bind.clone(),
            p2p_port,
            rpc_port,
            members,
        };
        let files = vec![
            PlanFile {
                path: rel(GENESIS_PATH)?,
                content: FileContent::Inline(
                    genesis
                        .files
                        .get(&rel(GENESIS_PATH)?)
                        .cloned()
                        .unwrap_or_default(),
                ),
            },
            PlanFile {
                path: rel(paths::CONFIG)?,
                content: FileContent::Inline(config.to_bytes()?),
            },
            PlanFile {
                path: rel(paths::KEY)?,
                content: FileContent::Secret(secret(NODE_KEY_SECRET)?),
            },
            PlanFile {
                path: rel(paths::CERTIFICATE)?,
                content: FileContent::Certificate(secret(NODE_CERT_SECRET)?),
            },
            // Per-organisation trust roots, not the plain CA bundle: which member a signer
            // belongs to follows from the CA that issued its certificate.
            PlanFile {
                path: rel(paths::TRUST_ROOTS)?,
                content: FileContent::TrustRoots,
            },
        ];
        let (dns_names, ip_addresses) = if ep.host.parse::<std::net::IpAddr>().is_ok() {
            (vec![], vec![ep.host.clone()])
        } else {
            (vec![ep.host.clone()], vec![])
        };
        let ports = self
            .ports(spec)
            .into_iter()
            .map(|p| {
                let n = ep.port(node, &p.name.0)?;
                Ok((p, n))
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        let rpc = PortName::new("rpc");
        Ok(NodePlan {
            node: node.clone(),
            role: me.role,
            command: Command {
                program: Program::Yuelu,
                args: node_args(),
                env: BTreeMap::new(),
            },
            files,
            certificates: vec![CertificateNeed {
                name: secret(NODE_CERT_SECRET)?,
                key: secret(NODE_KEY_SECRET)?,
                profile: CertificateProfile::NodeSigning,
                dns_names,
                ip_addresses,
            }],
            ports,
            data_dir: rel(paths::DATA)?,
            readiness: Probe::Http {
                port: rpc.clone(),
                path: "/readyz".into(),
            },
            liveness: Probe::Http {
                port: rpc.clone(),
                path: "/healthz".into(),
            },
            metrics: MetricNames {
                port: rpc,
                height: metric::HEIGHT.into(),
                peers: metric::PEERS.into(),
                txpool: Some(metric::TXPOOL.into()),
                committed_txs: Some(metric::COMMITTED_TXS.into()),
            },
        })
    }

    fn validator_change(
        &self,
        spec: &NetworkSpec,
        current: &[NodeIdentity],
        change: &ValidatorSetChange,
    ) -> Result<ChangeProcedure, EngineError> {
        self.validate(spec)?;
        if change.add.is_empty() && change.remove.is_empty() {
            return Err(EngineError::InvalidSpec {
                field: "change",
                reason: "adds or removes nothing".into(),
            });
        }
        for n in &change.add {
            check_identity(n)?;
        }
        let mut after: Vec<NodeIdentity> = current
            .iter()
            .filter(|n| !change.remove.contains(&n.node))
            .cloned()
            .collect();
        for r in &change.remove {
            if !current.iter().any(|n| &n.node == r) {
                return Err(EngineError::InvalidIdentity {
                    node: r.to_string(),
                    reason: "is not a node of the network".into(),
                });
            }
        }
        for n in &change.add {
            if current.iter().any(|c| c.node == n.node) {
                return Err(EngineError::InvalidIdentity {
                    node: n.node.to_string(),
                    reason: "is already a node of the network".into(),
                });
            }
        }
        after.extend(change.add.iter().cloned());
        // Duplicate keys or peer ids among the resulting nodes.
        check_identities(&after, false)?;
        let validators = after
            .iter()
            .filter(|n| n.role == NodeRole::Validator)
            .count();
        if validators == 0 || validators > MAX_VALIDATORS as usize {
            return Err(EngineError::InvalidSpec {
                field: "validators",
                reason: format!("{validators} validators after the change; 1..={MAX_VALIDATORS}"),
            });
        }
        let orgs: BTreeSet<&OrgName> = current
            .iter()
            .filter(|n| n.role == NodeRole::Validator)
            .map(|n| &n.org)
            .collect();
        let mut add = change.add.clone();
        add.sort_by(|a, b| a.node.cmp(&b.node));
        let mut remove = change.remove.clone();
        remove.sort();
        for (org, pem) in &change.trust_roots.0 {
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(EngineError::InvalidSpec {
                    field: "trustRoots",
                    reason: format!("the trust roots of {org} hold no PEM certificate"),
                });
            }
        }
        // The nonce follows from the change and the set it applies to, so the same approved
        // change cannot be replayed, yet re-adding a node later gives a new body.
        let mut h = Sha256::new();
        for n in current {
            h.update(n.node.as_str().as_bytes());
            h.update(b"\n");
        }
        h.update(serde_json::to_vec(&(&add, &remove)).unwrap_or_default());
        // Only when present, so that changes without trust roots keep the nonces (and bodies)
        // of earlier versions.
        if !change.trust_roots.is_empty() {
            h.update(change.trust_roots.to_bytes()?);
        }
        let digest = h.finalize();
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&digest[..8]);
        let body = TxBody {
            chain_id: spec.chain_id.clone(),
            nonce: u64::from_be_bytes(nonce) >> 11, // fits a JSON number exactly (53 bits)
            kind: TxKind::Governance {
                add,
                remove,
                trust_roots: change.trust_roots.clone(),
            },
        };
        let body = serde_json::to_value(&body)
            .map_err(|e| EngineError::Key(format!("encoding governance body: {e}")))?;
        Ok(ChangeProcedure::GovernanceTransaction {
            body,
            approvals: u32::try_from(admin_quorum(orgs.len())).unwrap_or(u32::MAX),
        })
    }
}

/// The arguments of `yuelu node` in every plan: paths relative to the node's home.
pub fn node_args() -> Vec<String> {
    [
        "node",
        "--config",
        paths::CONFIG,
        "--genesis",
        GENESIS_PATH,
        "--key",
        paths::KEY,
        "--certificate",
        paths::CERTIFICATE,
        "--trust-roots",
        paths::TRUST_ROOTS,
        "--data-dir",
        paths::DATA,
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yuelu_engine::{BlockParams, ChainId, EngineRegistry, NodeEndpoint, TrustRoots};

    fn spec() -> NetworkSpec {
        NetworkSpec {
            chain_id: ChainId::new("demo").unwrap(),
            engine: EngineKind::Yuelu,
            version: "0.1".into(),
            consensus: Consensus::Tendermint,
            crypto: CryptoSuite::EcdsaP256,
            block: BlockParams::default(),
        }
    }

    fn nodes(n: usize, observers: usize) -> Vec<NodeIdentity> {
        let e = YueluEngine;
        (0..n + observers)
            .map(|i| {
                let role = if i < n {
                    NodeRole::Validator
                } else {
                    NodeRole::Observer
                };
                e.generate_node_keys(
                    &spec(),
                    &NodeName::new(format!("n{i}")).unwrap(),
                    &OrgName::new(format!("org{}", i % 2)).unwrap(),
                    role,
                )
                .unwrap()
                .identity
            })
            .collect()
    }

    fn topology(nodes: &[NodeIdentity]) -> Topology {
        Topology(
            nodes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    (
                        n.node.clone(),
                        NodeEndpoint {
                            host: "127.0.0.1".into(),
                            bind: "127.0.0.1".into(),
                            ports: BTreeMap::from([
                                (PortName::new("p2p"), 20000 + 2 * i as u16),
                                (PortName::new("rpc"), 20001 + 2 * i as u16),
                            ]),
                        },
                    )
                })
                .collect(),
        )
    }

    fn genesis_of(v: &[NodeIdentity]) -> Genesis {
        YueluEngine
            .genesis(&GenesisInput {
                spec: &spec(),
                validators: v,
                time_unix_ms: 1_700_000_000_000,
            })
            .unwrap()
    }

    #[test]
    fn capabilities_and_registry() {
        let mut r = EngineRegistry::new();
        r.register(Box::new(YueluEngine::new()));
        let e = r.get(EngineKind::Yuelu).unwrap();
        let caps = e.capabilities();
        assert_eq!(caps.versions, vec!["0.1".to_string()]);
        assert!(caps.validators.contains(&1) && caps.validators.contains(&7));
        assert!(caps.runs_locally);
        e.validate(&spec()).unwrap();
        let bad = NetworkSpec {
            consensus: Consensus::Raft,
            ..spec()
        };
        assert_eq!(e.validate(&bad).unwrap_err().code(), "ENGINE_UNSUPPORTED");
    }

    #[test]
    fn generated_keys_are_consistent_and_secret() {
        let g = YueluEngine
            .generate_node_keys(
                &spec(),
                &NodeName::new("v0").unwrap(),
                &OrgName::new("org").unwrap(),
                NodeRole::Validator,
            )
            .unwrap();
        let pem = g.secrets.0.get(&secret(NODE_KEY_SECRET).unwrap()).unwrap();
        let key = NodeKey::from_pkcs8_pem(std::str::from_utf8(pem).unwrap()).unwrap();
        assert_eq!(key.public_key(), g.identity.consensus_key);
        assert_eq!(key.peer_id().unwrap(), g.identity.peer_id);
        assert_eq!(g.identity.voting_power, 1);
        check_identity(&g.identity).unwrap();
    }

    #[test]
    fn genesis_is_deterministic_and_order_free() {
        let v = nodes(4, 0);
        let a = genesis_of(&v);
        let mut rev = v.clone();
        rev.reverse();
        let b = genesis_of(&rev);
        assert_eq!(a, b);
        assert_eq!(a.hash, Genesis::from_files(a.files.clone()).hash);
        let doc = GenesisDoc::from_genesis(&a).unwrap();
        let names: Vec<_> = doc.validators.iter().map(|n| n.node.as_str()).collect();
        assert_eq!(names, ["n0", "n1", "n2", "n3"]);
        // Anything else changes the hash.
        let later = YueluEngine
            .genesis(&GenesisInput {
                spec: &spec(),
                validators: &v,
                time_unix_ms: 1_700_000_000_001,
            })
            .unwrap();
        assert_ne!(a.hash, later.hash);
        assert_ne!(a.hash, genesis_of(&v[..3]).hash);
    }

    #[test]
    fn genesis_refuses_bad_validator_sets() {
        let e = YueluEngine;
        let input = |v: &[NodeIdentity]| {
            e.genesis(&GenesisInput {
                spec: &spec(),
                validators: v,
                time_unix_ms: 0,
            })
        };
        assert_eq!(input(&[]).unwrap_err().code(), "INVALID_SPEC");
        let obs = nodes(1, 1);
        assert_eq!(input(&obs).unwrap_err().code(), "INVALID_IDENTITY");
        let mut dup = nodes(2, 0);
        dup[1].node = dup[0].node.clone();
        assert_eq!(input(&dup).unwrap_err().code(), "INVALID_IDENTITY");
        let mut same_key = nodes(2, 0);
        same_key[1].consensus_key = same_key[0].consensus_key.clone();
        same_key[1].peer_id = same_key[0].peer_id.clone();
        assert_eq!(input(&same_key).unwrap_err().code(), "INVALID_IDENTITY");
        let mut forged_peer = nodes(2, 0);
        forged_peer[1].peer_id = forged_peer[0].peer_id.clone();
        let err = input(&forged_peer).unwrap_err();
        assert_eq!(err.code(), "INVALID_IDENTITY");
        assert!(err.to_string().contains("peer id"), "{err}");
        let mut zero = nodes(1, 0);
        zero[0].voting_power = 0;
        assert_eq!(input(&zero).unwrap_err().code(), "INVALID_IDENTITY");
        let mut ed = nodes(1, 0);
        ed[0].consensus_key.algorithm = yuelu_engine::KeyAlgorithm::Ed25519;
        assert_eq!(input(&ed).unwrap_err().code(), "INVALID_IDENTITY");
        let too_many = nodes(MAX_VALIDATORS as usize + 1, 0);
        assert_eq!(input(&too_many).unwrap_err().code(), "INVALID_SPEC");
    }

    #[test]
    fn plans_carry_files_ports_probes_and_metrics() {
        let all = nodes(4, 1);
        let g = genesis_of(&all[..4]);
        let topo = topology(&all);
        let plan = YueluEngine.plan_network(&spec(), &g, &all, &topo).unwrap();
        assert_eq!(plan.nodes.len(), 5);
        let p = &plan.nodes[1];
        assert_eq!(p.node.as_str(), "n1");
        assert_eq!(p.role, NodeRole::Validator);
        assert_eq!(plan.nodes[4].role, NodeRole::Observer);
        assert_eq!(p.command.program, Program::Yuelu);
        assert_eq!(p.command.args[0], "node");
        assert_eq!(p.command.args, node_args());
        let ports: Vec<_> = p
            .ports
            .iter()
            .map(|(s, n)| (s.name.0.as_str(), *n))
            .collect();
        assert_eq!(ports, [("p2p", 20002), ("rpc", 20003)]);
        assert_eq!(p.metrics.port, PortName::new("rpc"));
        assert_eq!(p.metrics.height, metric::HEIGHT);
        assert_eq!(
            p.readiness,
            Probe::Http {
                port: PortName::new("rpc"),
                path: "/readyz".into()
            }
        );
        let by_path: BTreeMap<_, _> = p
            .files
            .iter()
            .map(|f| (f.path.as_str(), &f.content))
            .collect();
        assert_eq!(
            by_path["genesis.json"],
            &FileContent::Inline(g.files[&rel(GENESIS_PATH).unwrap()].clone())
        );
        assert_eq!(
            by_path[paths::KEY],
            &FileContent::Secret(secret(NODE_KEY_SECRET).unwrap())
        );
        assert_eq!(by_path[paths::TRUST_ROOTS], &FileContent::TrustRoots);
        // Trust roots replace the plain CA bundle: who signed follows from the issuing CA.
        assert!(!by_path.contains_key(paths::CA_BUNDLE));
        assert!(!p.files.iter().any(|f| f.content == FileContent::CaBundle));
        assert_eq!(p.certificates[0].key.as_str(), NODE_KEY_SECRET);
        assert_eq!(p.certificates[0].ip_addresses, ["127.0.0.1"]);
        // Every path the arguments name is planned, or is the data dir.
        let planned: BTreeSet<&str> = by_path.keys().copied().collect();
        for w in p.command.args.windows(2) {
            if w[0].starts_with("--") && w[0] != "--data-dir" {
                assert!(planned.contains(w[1].as_str()), "{} not planned", w[1]);
            }
        }
        let FileContent::Inline(cfg) = by_path[paths::CONFIG] else {
            panic!("config is inline")
        };
        let cfg = NodeConfig::from_bytes(cfg).unwrap();
        assert_eq!(cfg.node.as_str(), "n1");
        assert_eq!(cfg.genesis_hash, g.hash);
        assert_eq!(cfg.members.len(), 5);
        assert_eq!(cfg.me().unwrap().p2p_port, 20002);
        assert_eq!((cfg.p2p_port, cfg.rpc_port), (20002, 20003));
    }

    #[test]
    fn plans_refuse_inconsistent_inputs() {
        let all = nodes(3, 0);
        let g = genesis_of(&all);
        let topo = topology(&all);
        let e = YueluEngine;
        let stranger = NodeName::new("stranger").unwrap();
        assert_eq!(
            e.plan_node(&spec(), &g, &all, &stranger, &topo)
                .unwrap_err()
                .code(),
            "INVALID_IDENTITY"
        );
        let mut no_rpc = topo.clone();
        no_rpc
            .0
            .get_mut(&all[0].node)
            .unwrap()
            .ports
            .remove(&PortName::new("rpc"));
        assert!(
            e.plan_node(&spec(), &g, &all, &all[0].node, &no_rpc)
                .unwrap_err()
                .to_string()
                .contains("rpc")
        );
        let other_chain = NetworkSpec {
            chain_id: ChainId::new("other").unwrap(),
            ..spec()
        };
        assert_eq!(
            e.plan_node(&other_chain, &g, &all, &all[0].node, &topo)
                .unwrap_err()
                .code(),
            "INVALID_SPEC"
        );
        let mut tampered = g.clone();
        for bytes in tampered.files.values_mut() {
            bytes.insert(0, b' ');
        }
        assert_eq!(
            e.plan_node(&spec(), &tampered, &all, &all[0].node, &topo)
                .unwrap_err()
                .code(),
            "INVALID_SPEC"
        );
        let empty = Genesis::from_files(BTreeMap::new());
        assert_eq!(
            e.plan_node(&spec(), &empty, &all, &all[0].node, &topo)
                .unwrap_err()
                .code(),
            "INVALID_SPEC"
        );
    }

    #[test]
    fn validator_changes_are_governance_transactions() {
        let all = nodes(4, 0);
        let newcomer = nodes(5, 0).pop().unwrap();
        let change = ValidatorSetChange {
            add: vec![newcomer.clone()],
            remove: vec![all[0].node.clone()],
            ..ValidatorSetChange::default()
        };
        let ChangeProcedure::GovernanceTransaction { body, approvals } = YueluEngine
            .validator_change(&spec(), &all, &change)
            .unwrap()
        else {
            panic!("yuelu changes by transaction")
        };
        // Two member orgs: both must approve.
        assert_eq!(approvals, 2);
        let text = serde_json::to_string(&body).unwrap();
        let parsed = TxBody::parse(&text, &spec().chain_id).unwrap();
        assert_eq!(
            parsed.kind,
            TxKind::Governance {
                add: vec![newcomer.clone()],
                remove: vec![all[0].node.clone()],
                trust_roots: TrustRoots::default(),
            }
        );
        // Without trust roots the body is what earlier versions wrote.
        assert!(!text.contains("trustRoots"), "{text}");
        let again = YueluEngine
            .validator_change(&spec(), &all, &change)
            .unwrap();
        assert_eq!(
            again,
            ChangeProcedure::GovernanceTransaction { body, approvals }
        );
        // A newcomer organisation brings its CAs: they go into the body, and another set of
        // roots makes another body (and nonce).
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let with_roots = |pem: &str| ValidatorSetChange {
            trust_roots: TrustRoots(BTreeMap::from([(newcomer.org.clone(), pem.to_owned())])),
            ..change.clone()
        };
        let ChangeProcedure::GovernanceTransaction { body: b1, .. } = YueluEngine
            .validator_change(&spec(), &all, &with_roots(pem))
            .unwrap()
        else {
            panic!("yuelu changes by transaction")
        };
        let parsed = TxBody::parse(&b1.to_string(), &spec().chain_id).unwrap();
        let TxKind::Governance { trust_roots, .. } = &parsed.kind else {
            panic!("governance")
        };
        assert_eq!(trust_roots.get(&newcomer.org), Some(pem));
        let ChangeProcedure::GovernanceTransaction { body: b2, .. } = YueluEngine
            .validator_change(&spec(), &all, &with_roots(&pem.replace("AAAA", "BBBB")))
            .unwrap()
        else {
            panic!("yuelu changes by transaction")
        };
        assert_ne!(b1["nonce"], b2["nonce"]);
        let bad = [
            ValidatorSetChange::default(),
            ValidatorSetChange {
                add: vec![all[1].clone()],
                ..ValidatorSetChange::default()
            },
            ValidatorSetChange {
                remove: vec![NodeName::new("ghost").unwrap()],
                ..ValidatorSetChange::default()
            },
            ValidatorSetChange {
                remove: all.iter().map(|n| n.node.clone()).collect(),
                ..ValidatorSetChange::default()
            },
            with_roots("not PEM"),
        ];
        for c in bad {
            assert!(
                YueluEngine.validator_change(&spec(), &all, &c).is_err(),
                "{c:?}"
            );
        }
    }

    #[cfg(feature = "node")]
    #[test]
    fn plan_arguments_are_what_yuelu_node_accepts() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(subcommand)]
            cmd: Sub,
        }
        #[derive(clap::Subcommand)]
        enum Sub {
            Node(crate::node::NodeArgs),
        }
        let mut argv = vec!["yuelu".to_string()];
        argv.extend(node_args());
        let Sub::Node(args) = Cli::try_parse_from(argv).unwrap().cmd;
        assert_eq!(args.config, std::path::PathBuf::from(paths::CONFIG));
        assert_eq!(args.data_dir, std::path::PathBuf::from(paths::DATA));
        assert_eq!(
            args.trust_roots,
            std::path::PathBuf::from(paths::TRUST_ROOTS)
        );
    }
}

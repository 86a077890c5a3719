//! Unit tests of the pure build step, on fixtures realized with the built-in engine's plugin
//! (and, for what it cannot produce, a small test-only engine).

use super::*;
use crate::crd::{ChainMemberSpec, ChainNetworkSpec, NetworkRef, StorageSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use yuelu_engine::{
    BlockParams, Capabilities, ChangeProcedure, Command, Consensus, CryptoSuite, EngineKind,
    GeneratedNode, Genesis, GenesisInput, MetricNames, OrgName, PlanFile, PortName, RelPath,
    TrustRoots, ValidatorSetChange,
};

/// Fixture builders.
mod fixture {
    use super::*;

    pub fn network(name: &str, ns: &str) -> ChainNetwork {
        ChainNetwork {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                uid: Some(format!("uid-net-{name}")),
                ..ObjectMeta::default()
            },
            spec: ChainNetworkSpec {
                chain_id: None,
                engine: EngineKind::Yuelu,
                version: "0.1".into(),
                consensus: Consensus::Tendermint,
                crypto: CryptoSuite::EcdsaP256,
                block: BlockParams::default().into(),
                founders: vec![],
            },
            status: None,
        }
    }

    pub fn member(name: &str, ns: &str, net: &str, validators: u32, observers: u32) -> ChainMember {
        ChainMember {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                uid: Some(format!("uid-{name}")),
                ..ObjectMeta::default()
            },
            spec: ChainMemberSpec {
                network: NetworkRef {
                    namespace: Some("nets".into()),
                    name: net.into(),
                },
                organization: format!("{name}-org"),
                validators,
                observers,
                resources: None,
                storage: StorageSpec::default(),
                node_selector: BTreeMap::new(),
                certificates: None,
            },
            status: None,
        }
    }

    /// A network realized like the controller does: keys, genesis, topology, plans, certificates.
    pub struct Realized {
        pub network: ChainNetwork,
        pub member: ChainMember,
        pub genesis: StoredGenesis,
        pub plans: Vec<NodePlan>,
        pub certificates: Certificates,
        pub trust_roots: TrustRoots,
        pub settings: BuildSettings,
    }

    /// The CA bundle of this member's organisation (`m-org`) and of a peer's (`peer-org`).
    pub const OWN_CA: &str = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
    pub const PEER_CA: &str = "-----BEGIN CERTIFICATE-----\nPEER\n-----END CERTIFICATE-----\n";

    pub fn realize(engine: &dyn Engine, validators: u32, observers: u32) -> Realized {
        let network = network("net", "nets");
        let member = member("m", "ns1", "net", validators, observers);
        let spec = crate::engines::network_spec(&network).unwrap();
        let org = OrgName::new(member.spec.organization.clone()).unwrap();
        let mut nodes: Vec<(NodeIdentity, (String, String))> = Vec::new();
        for role in [NodeRole::Validator, NodeRole::Observer] {
            for i in 0..member.replicas(role) {
                let n = NodeName::new(labels::node("m", role, i)).unwrap();
                let g: GeneratedNode = engine.generate_node_keys(&spec, &n, &org, role).unwrap();
                nodes.push((g.identity, ("ns1".into(), "m".into())));
            }
        }
        let validators_ids: Vec<NodeIdentity> = nodes
            .iter()
            .filter(|(i, _)| i.role == NodeRole::Validator)
            .map(|(i, _)| i.clone())
            .collect();
        let genesis = engine
            .genesis(&GenesisInput {
                spec: &spec,
                validators: &validators_ids,
                time_unix_ms: 1_700_000_000_000,
            })
            .unwrap();
        let genesis = StoredGenesis {
            genesis,
            time_unix_ms: 1_700_000_000_000,
            validators: validators_ids.iter().map(|v| v.node.to_string()).collect(),
        };
        let topo = topology(&nodes, &engine.ports(&spec), "cluster.local");
        let all: Vec<NodeIdentity> = nodes.iter().map(|(i, _)| i.clone()).collect();
        let mine: Vec<NodeName> = all.iter().map(|i| i.node.clone()).collect();
        let plans = plan_nodes(engine, &spec, &genesis, &all, &mine, &topo).unwrap();
        let mut certificates = Certificates::new();
        for p in &plans {
            for need in &p.certificates {
                certificates.insert(
                    (p.node.to_string(), need.name.clone()),
                    NodeCertificate {
                        pem: format!(
                            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                            p.node
                        ),
                        serial: format!("serial-{}", p.node),
                        issued_at: 1_700_000_000,
                        not_after: 1_700_000_000 + 90 * 86_400,
                        fingerprint: "fp".into(),
                    },
                );
            }
        }
        let trust_roots = crate::trust::trust_roots([
            (member.spec.organization.as_str(), OWN_CA),
            ("peer-org", PEER_CA),
        ]);
        Realized {
            network,
            member,
            genesis,
            plans,
            certificates,
            trust_roots,
            settings: BuildSettings {
                node_image: "yuelu:test".into(),
                cluster_domain: "cluster.local".into(),
                pdb: PdbApi::V1beta1,
            },
        }
    }

    impl Realized {
        pub fn input(&self) -> BuildInput<'_> {
            BuildInput {
                member: &self.member,
                network: &self.network,
                genesis: &self.genesis,
                plans: &self.plans,
                certificates: &self.certificates,
                ca_bundle: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
                trust_roots: &self.trust_roots,
                issuer_bundle: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
                settings: &self.settings,
            }
        }
    }
}

fn yuelu() -> yuelu_chain::YueluEngine {
    yuelu_chain::YueluEngine::new()
}

fn owned_by_member(meta: &ObjectMeta) -> bool {
    meta.owner_references.as_ref().is_some_and(|o| {
        o.len() == 1
            && o[0].uid == "uid-m"
            && o[0].kind == "ChainMember"
            && o[0].controller == Some(true)
    })
}

#[test]
fn four_validators_build_one_statefulset_and_its_configuration() {
    let r = fixture::realize(&yuelu(), 4, 0);
    let c = build(&r.input()).unwrap();

    assert_eq!(c.statefulsets.len(), 1);
    let sts = &c.statefulsets[0];
    assert_eq!(sts.metadata.name.as_deref(), Some("m-validator"));
    assert!(owned_by_member(&sts.metadata));
    let spec = &sts.spec;
    assert_eq!(spec.replicas, Some(4));
    assert_eq!(spec.service_name.as_deref(), Some("m-nodes"));
    assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
    let pod = spec.template.spec.as_ref().unwrap();
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("yuelu:test"));
    assert_eq!(container.command, Some(vec!["yuelu".to_owned()]));
    assert_eq!(
        container.args.as_ref().unwrap(),
        &yuelu_chain::plugin::node_args()
    );
    assert_eq!(container.working_dir.as_deref(), Some(NODE_HOME));
    // Ports with explicit protocols, probes by port name.
    let ports = container.ports.as_ref().unwrap();
    assert_eq!(ports.len(), 2);
    assert!(ports.iter().all(|p| p.protocol.as_deref() == Some("TCP")));
    let ready = container
        .readiness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(ready.path.as_deref(), Some("/readyz"));
    assert_eq!(ready.port, IntOrString::String("rpc".into()));
    // Every plan file is mounted at its path under the home, from the right source.
    let mounts = container.volume_mounts.as_ref().unwrap();
    let mount = |path: &str| {
        mounts
            .iter()
            .find(|m| m.mount_path == format!("{NODE_HOME}/{path}"))
            .unwrap_or_else(|| panic!("no mount for {path}"))
    };
    assert_eq!(mount("genesis.json").name, "genesis");
    assert_eq!(
        mount("genesis.json").sub_path.as_deref(),
        Some("genesis.json")
    );
    assert_eq!(
        mount("config/node.json").sub_path_expr.as_deref(),
        Some("$(POD_NAME).config_node.json")
    );
    assert_eq!(mount("config/node.key").name, "keys");
    assert_eq!(
        mount("config/node.key").sub_path_expr.as_deref(),
        Some("$(POD_NAME).node.key")
    );
    assert_eq!(mount("config/node-cert.pem").name, "certs");
    // The built-in engine asks for per-organisation trust roots, not the plain bundle.
    assert_eq!(mount("config/trust-roots.json").name, "ca-bundle");
    assert_eq!(
        mount("config/trust-roots.json").sub_path.as_deref(),
        Some(TRUST_ROOTS_KEY)
    );
    assert!(
        !mounts
            .iter()
            .any(|m| m.mount_path.ends_with("config/ca-bundle.pem"))
    );
    assert_eq!(mount("data").name, "data");
    // Keys: every node's key Secret projected under its node name.
    let volumes = pod.volumes.as_ref().unwrap();
    let keys = volumes
        .iter()
        .find(|v| v.name == "keys")
        .unwrap()
        .projected
        .as_ref()
        .unwrap();
    let sources = keys.sources.as_ref().unwrap();
    assert_eq!(sources.len(), 4);
    let s0 = sources[0].secret.as_ref().unwrap();
    assert_eq!(s0.name, "m-validator-0-key");
    assert_eq!(s0.items.as_ref().unwrap()[0].path, "m-validator-0.node.key");
    // Storage from the spec.
    let pvc = &spec.volume_claim_templates.as_ref().unwrap()[0];
    assert_eq!(
        pvc.spec
            .as_ref()
            .unwrap()
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()["storage"]
            .0,
        "10Gi"
    );

    // ConfigMaps: genesis copy (byte-identical, immutable), per-role config, CA bundle.
    let names: Vec<&str> = c
        .config_maps
        .iter()
        .map(|m| m.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["m-genesis", "m-ca-bundle", "m-validator-config"]
    );
    assert!(c.config_maps.iter().all(|m| owned_by_member(&m.metadata)));
    assert_eq!(crate::genesis::read(&c.config_maps[0]).unwrap(), r.genesis);
    // The trust roots the nodes read map each organisation to its member's bundle, in the
    // format the engine contract defines.
    let trust = c.config_maps[1].data.as_ref().unwrap();
    assert_eq!(trust[CA_BUNDLE_KEY], fixture::OWN_CA);
    let roots = TrustRoots::from_bytes(trust[TRUST_ROOTS_KEY].as_bytes()).unwrap();
    assert_eq!(
        roots,
        TrustRoots(BTreeMap::from([
            (OrgName::new("m-org").unwrap(), fixture::OWN_CA.to_owned()),
            (
                OrgName::new("peer-org").unwrap(),
                fixture::PEER_CA.to_owned()
            ),
        ]))
    );
    let config = c.config_maps[2].data.as_ref().unwrap();
    assert_eq!(config.len(), 4, "{:?}", config.keys());
    let node0: serde_json::Value =
        serde_json::from_str(&config["m-validator-0.config_node.json"]).unwrap();
    // Peers are dialled by their stable pod DNS names.
    assert!(
        node0
            .to_string()
            .contains("m-validator-3.m-nodes.ns1.svc.cluster.local"),
        "{node0}"
    );
    // Certificates: one Secret per role, with what each certificate is.
    assert_eq!(c.secrets.len(), 1);
    let certs = &c.secrets[0];
    // Four certificates and the bundle of the CAs that issued them, read back together.
    assert_eq!(certs.data.as_ref().unwrap().len(), 5);
    assert_eq!(read_certificates(certs).len(), 4);
    assert_eq!(
        read_issuer_bundle(certs).as_deref(),
        Some("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n")
    );

    // Headless Service, NetworkPolicy, PodDisruptionBudget.
    let svc = c.service.spec.as_ref().unwrap();
    assert_eq!(svc.cluster_ip.as_deref(), Some("None"));
    assert_eq!(svc.publish_not_ready_addresses, Some(true));
    assert!(
        svc.ports
            .as_ref()
            .unwrap()
            .iter()
            .all(|p| p.protocol.as_deref() == Some("TCP"))
    );
    let np = c.network_policy.spec.as_ref().unwrap();
    let ingress = np.ingress.as_ref().unwrap();
    assert_eq!(ingress.len(), 2);
    assert_eq!(
        ingress[0].ports.as_ref().unwrap()[0].port,
        Some(IntOrString::Int(7150))
    );
    let pdb = c.pdb.as_ref().unwrap();
    let pdb_json = serde_json::to_value(pdb).unwrap();
    assert_eq!(pdb_json["apiVersion"], "policy/v1beta1");
    assert_eq!(pdb_json["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb_json["spec"]["selector"]["matchLabels"]["yuelu.io/role"],
        "validator"
    );
}

#[test]
fn the_build_is_deterministic_and_config_changes_roll_the_pods() {
    let r = fixture::realize(&yuelu(), 4, 1);
    let a = build(&r.input()).unwrap();
    let b = build(&r.input()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.statefulsets.len(), 2);
    assert_eq!(
        a.statefulsets[1].metadata.name.as_deref(),
        Some("m-observer")
    );
    // The PDB covers validators only.
    assert_eq!(
        serde_json::to_value(a.pdb.as_ref().unwrap()).unwrap()["spec"]["selector"]["matchLabels"]["yuelu.io/role"],
        "validator"
    );
    let hash = |c: &MemberChildren, i: usize| {
        c.statefulsets[i]
            .spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()[labels::ANNOTATION_CONFIG_HASH]
            .clone()
    };
    // A renewed certificate changes the config hash of its role only.
    let mut renewed = r.certificates.clone();
    let key = renewed
        .keys()
        .find(|(n, _)| n == "m-observer-0")
        .unwrap()
        .clone();
    renewed.get_mut(&key).unwrap().serial = "new".into();
    let mut input = r.input();
    input.certificates = &renewed;
    let c = build(&input).unwrap();
    assert_eq!(hash(&a, 0), hash(&c, 0));
    assert_ne!(hash(&a, 1), hash(&c, 1));
    // A member that publishes another CA changes the trust roots: every role's pods roll to
    // read them.
    let mut roots = r.trust_roots.clone();
    roots.0.insert(
        OrgName::new("peer-org").unwrap(),
        format!("{}{}", fixture::PEER_CA, fixture::OWN_CA),
    );
    let mut input = r.input();
    input.trust_roots = &roots;
    let t = build(&input).unwrap();
    assert_ne!(hash(&a, 0), hash(&t, 0));
    assert_ne!(hash(&a, 1), hash(&t, 1));
    // Desired children: configuration before the StatefulSets, with apiVersion and kind.
    let desired = a.into_desired(PdbApi::V1beta1).unwrap();
    let kinds: Vec<&str> = desired.iter().map(|d| d.resource.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "Secret",
            "Secret",
            "ConfigMap",
            "ConfigMap",
            "ConfigMap",
            "ConfigMap",
            "Service",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "StatefulSet",
            "StatefulSet"
        ]
    );
    for d in &desired {
        let types = d.object.types.as_ref().unwrap();
        assert_eq!(types.kind, d.resource.kind);
        assert_eq!(types.api_version, d.resource.api_version);
    }
}

#[test]
fn pdb_follows_the_server_and_needs_validators() {
    let mut r = fixture::realize(&yuelu(), 1, 0);
    r.settings.pdb = PdbApi::V1;
    let c = build(&r.input()).unwrap();
    assert_eq!(
        serde_json::to_value(c.pdb.unwrap()).unwrap()["apiVersion"],
        "policy/v1"
    );
    r.settings.pdb = PdbApi::None;
    assert!(build(&r.input()).unwrap().pdb.is_none());
    let mut r = fixture::realize(&yuelu(), 1, 0);
    r.member.spec.validators = 0;
    assert!(build(&r.input()).unwrap().pdb.is_none());
}

#[test]
fn a_missing_certificate_is_a_build_error() {
    let r = fixture::realize(&yuelu(), 2, 0);
    let none = Certificates::new();
    let mut input = r.input();
    input.certificates = &none;
    let err = build(&input).unwrap_err();
    assert_eq!(err.reason(), "CertificatePending");
    assert!(err.to_string().contains("m-validator-0"), "{err}");
}

/// A test-only engine for plan shapes the built-in engine never produces: container images,
/// UDP ports, binary files, per-node arguments.
struct ShapeEngine {
    per_node_ordinal_arg: bool,
}

impl Engine for ShapeEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Yuelu
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            versions: vec!["0.1".into()],
            consensus: vec![Consensus::Tendermint],
            crypto: vec![CryptoSuite::EcdsaP256],
            validators: 1..=8,
            runs_locally: false,
        }
    }
    fn generate_node_keys(
        &self,
        _: &NetworkSpec,
        node: &NodeName,
        org: &OrgName,
        role: NodeRole,
    ) -> Result<GeneratedNode, EngineError> {
        let mut secrets = yuelu_engine::NodeSecrets::default();
        secrets
            .0
            .insert(SecretName::new("k.pem")?, node.as_str().as_bytes().to_vec());
        Ok(GeneratedNode {
            identity: NodeIdentity {
                node: node.clone(),
                org: org.clone(),
                role,
                consensus_key: yuelu_engine::PublicKey::from_bytes(
                    yuelu_engine::KeyAlgorithm::Ed25519,
                    node.as_str().as_bytes(),
                ),
                peer_id: yuelu_engine::PeerId(node.to_string()),
                voting_power: 1,
            },
            secrets,
        })
    }
    fn genesis(&self, input: &GenesisInput<'_>) -> Result<Genesis, EngineError> {
        Ok(Genesis::from_files(BTreeMap::from([(
            RelPath::new("g.bin")?,
            vec![0xff, 0, input.validators.len() as u8],
        )])))
    }
    fn ports(&self, _: &NetworkSpec) -> Vec<PortSpec> {
        vec![
            PortSpec {
                name: PortName::new("p2p"),
                purpose: PortPurpose::P2p,
                default: 30303,
                protocol: PortProtocol::Udp,
            },
            PortSpec {
                name: PortName::new("metrics"),
                purpose: PortPurpose::Metrics,
                default: 9545,
                protocol: PortProtocol::Tcp,
            },
        ]
    }
    fn plan_node(
        &self,
        spec: &NetworkSpec,
        genesis: &Genesis,
        _: &[NodeIdentity],
        node: &NodeName,
        topology: &Topology,
    ) -> Result<NodePlan, EngineError> {
        let ep = topology.endpoint(node)?;
        let ordinal = node
            .as_str()
            .rsplit('-')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut args = vec!["--identity".to_owned(), node.to_string()];
        if self.per_node_ordinal_arg {
            args.push(format!("--index={ordinal}"));
        }
        Ok(NodePlan {
            node: node.clone(),
            role: NodeRole::Validator,
            command: Command {
                program: Program::Image("example/besu:24".into()),
                args,
                env: BTreeMap::from([("NODE".into(), node.to_string())]),
            },
            files: vec![
                PlanFile {
                    path: RelPath::new("g.bin")?,
                    content: FileContent::Inline(
                        genesis.files.values().next().cloned().unwrap_or_default(),
                    ),
                },
                PlanFile {
                    path: RelPath::new("raw/state.bin")?,
                    content: FileContent::Inline(vec![0xfe, 0xff]),
                },
                PlanFile {
                    path: RelPath::new("keys/k.pem")?,
                    content: FileContent::Secret(SecretName::new("k.pem")?),
                },
            ],
            certificates: vec![],
            ports: self
                .ports(spec)
                .into_iter()
                .map(|p| {
                    let n = ep.ports[&p.name];
                    (p, n)
                })
                .collect(),
            data_dir: RelPath::new("data")?,
            readiness: Probe::Tcp {
                port: PortName::new("metrics"),
            },
            liveness: Probe::Tcp {
                port: PortName::new("metrics"),
            },
            metrics: MetricNames {
                port: PortName::new("metrics"),
                height: "h".into(),
                peers: "p".into(),
                txpool: None,
                committed_txs: None,
            },
        })
    }
    fn validator_change(
        &self,
        _: &NetworkSpec,
        _: &[NodeIdentity],
        _: &ValidatorSetChange,
    ) -> Result<ChangeProcedure, EngineError> {
        Ok(ChangeProcedure::ManualSteps(vec!["vote".into()]))
    }
}

#[test]
fn image_programs_udp_ports_binary_files_and_templated_names() {
    let r = fixture::realize(
        &ShapeEngine {
            per_node_ordinal_arg: false,
        },
        3,
        0,
    );
    let c = build(&r.input()).unwrap();
    let pod = c.statefulsets[0].spec.template.spec.as_ref().unwrap();
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("example/besu:24"));
    assert_eq!(container.command, None, "the image's own entrypoint runs");
    // The node's own name becomes $(POD_NAME), so that one template fits every node.
    assert_eq!(
        container.args.as_ref().unwrap(),
        &vec!["--identity".to_owned(), "$(POD_NAME)".to_owned()]
    );
    let env = container.env.as_ref().unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "NODE" && e.value.as_deref() == Some("$(POD_NAME)"))
    );
    let udp = container
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.name.as_deref() == Some("p2p"))
        .unwrap();
    assert_eq!(udp.protocol.as_deref(), Some("UDP"));
    assert!(
        container
            .readiness_probe
            .as_ref()
            .unwrap()
            .tcp_socket
            .is_some()
    );
    // Binary files land in binaryData; the binary genesis in the genesis copy's binaryData.
    let config = c
        .config_maps
        .iter()
        .find(|m| m.metadata.name.as_deref() == Some("m-validator-config"))
        .unwrap();
    assert_eq!(config.binary_data.as_ref().unwrap().len(), 3);
    assert!(config.data.is_none());
    assert!(
        c.config_maps[0]
            .binary_data
            .as_ref()
            .unwrap()
            .contains_key("g.bin")
    );
    // No certificates needed: the role's certificate Secret is empty but present.
    assert!(c.secrets[0].data.is_none());

    // Per-node arguments beyond the node's name cannot share one pod template.
    let r = fixture::realize(
        &ShapeEngine {
            per_node_ordinal_arg: true,
        },
        2,
        0,
    );
    let err = build(&r.input()).unwrap_err();
    assert_eq!(err.reason(), "PlanNotTemplatable");
}

#[test]
fn certificates_renew_after_two_thirds_of_their_life() {
    let c = NodeCertificate {
        pem: String::new(),
        serial: "1".into(),
        issued_at: 0,
        not_after: 90,
        fingerprint: String::new(),
    };
    assert!(!c.needs_renewal(59));
    assert!(c.needs_renewal(60));
}

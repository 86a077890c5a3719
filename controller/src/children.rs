//! The build step: a member's children from its engine plans. Pure: no client, no clock, no
//! randomness; the same input always builds the same objects.
//!
//! A role's nodes share one StatefulSet, so its pod template must fit every node. Per-node files
//! live in per-role ConfigMaps and Secrets under `<node>.<path>` keys and are mounted with
//! `subPathExpr: $(POD_NAME)...`; the pod name is the node name. Files every node shares
//! (genesis, CA bundle, trust roots) come from member-wide ConfigMaps. The node's home is an `emptyDir`
//! so that the file mounts and the data volume can nest inside it.

use crate::crd::{ChainMember, ChainNetwork};
use crate::genesis::{self, StoredGenesis};
use crate::labels;
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, KeyToPath, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec, Probe as K8sProbe, ProjectedVolumeSource,
    Secret, SecretProjection, SecretVolumeSource, SecurityContext, Service, ServicePort,
    ServiceSpec, TCPSocketAction, Volume, VolumeMount, VolumeProjection,
    VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use kube::api::{ApiResource, DynamicObject};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use yuelu_engine::{
    Engine, EngineError, FileContent, NetworkSpec, NodeEndpoint, NodeIdentity, NodeName, NodePlan,
    NodeRole, PortProtocol, PortPurpose, PortSpec, Probe, Program, SecretName, Topology,
    TrustRoots,
};

/// Where a node's home is inside its container; plan paths are relative to it.
pub const NODE_HOME: &str = "/var/lib/yuelu/node";
/// Annotation on a role's certificate Secret: what each certificate is (JSON).
pub const ANNOTATION_CERTIFICATES: &str = "yuelu.io/certificates";
/// Key, in a role's certificate Secret, of the CAs that issued its certificates: kept with
/// the certificates so that both are always read back together.
pub const ISSUER_BUNDLE_KEY: &str = "issuer-ca.pem";
/// The environment variable holding the pod (= node) name.
pub const POD_NAME_ENV: &str = "POD_NAME";
/// Key, in the member's CA bundle ConfigMap, of the plain bundle of every member's CAs
/// (`FileContent::CaBundle`).
pub const CA_BUNDLE_KEY: &str = "ca.pem";
/// Key, in the member's CA bundle ConfigMap, of the network's per-organisation trust roots
/// (`FileContent::TrustRoots`, JSON).
pub const TRUST_ROOTS_KEY: &str = "trust-roots.json";

/// Which PodDisruptionBudget API the cluster serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdbApi {
    /// `policy/v1` (Kubernetes 1.21 and later).
    V1,
    /// `policy/v1beta1` only (Kubernetes 1.20 and earlier).
    V1beta1,
    /// Neither: no PodDisruptionBudget is built.
    None,
}

impl PdbApi {
    /// The apiVersion, if any.
    pub fn api_version(self) -> Option<&'static str> {
        match self {
            PdbApi::V1 => Some("policy/v1"),
            PdbApi::V1beta1 => Some("policy/v1beta1"),
            PdbApi::None => None,
        }
    }

    /// The API resource for dynamic apply.
    pub fn api_resource(self) -> Option<ApiResource> {
        let version = match self {
            PdbApi::V1 => "v1",
            PdbApi::V1beta1 => "v1beta1",
            PdbApi::None => return None,
        };
        Some(ApiResource {
            group: "policy".into(),
            version: version.into(),
            api_version: format!("policy/{version}"),
            kind: "PodDisruptionBudget".into(),
            plural: "poddisruptionbudgets".into(),
        })
    }
}

/// Cluster-wide settings of the build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildSettings {
    /// Image of `Program::Yuelu` nodes.
    pub node_image: String,
    /// The cluster DNS domain.
    pub cluster_domain: String,
    /// Which PodDisruptionBudget API to build for.
    pub pdb: PdbApi,
}

/// Why a member's children cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// The engine refused to plan.
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// The nodes of a role cannot share one pod template.
    #[error("the {role} nodes' plans cannot share one pod template: {reason}")]
    NotTemplatable {
        /// The role.
        role: NodeRole,
        /// What differs.
        reason: String,
    },
    /// A plan needs a certificate that has not been issued.
    #[error("node {node} has no certificate {name} yet")]
    CertificateMissing {
        /// The node.
        node: String,
        /// The certificate's name.
        name: String,
    },
    /// An object could not be encoded.
    #[error("encoding {what}: {reason}")]
    Encoding {
        /// What.
        what: String,
        /// Why.
        reason: String,
    },
}

impl BuildError {
    /// Stable CamelCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            BuildError::Engine(e) => e.reason(),
            BuildError::NotTemplatable { .. } => "PlanNotTemplatable",
            BuildError::CertificateMissing { .. } => "CertificatePending",
            BuildError::Encoding { .. } => "EncodingFailed",
        }
    }
}

/// A certificate issued for one of a node's needs, as kept in the role's certificate Secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCertificate {
    /// PEM.
    #[serde(skip)]
    pub pem: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// Issued at, Unix seconds.
    pub issued_at: i64,
    /// Not valid after, Unix seconds.
    pub not_after: i64,
    /// [`crate::issuer::need_fingerprint`] of the key and names it certifies.
    pub fingerprint: String,
}

impl NodeCertificate {
    /// Whether it should be renewed at `now` (Unix seconds): after two thirds of its lifetime.
    pub fn needs_renewal(&self, now: i64) -> bool {
        let lifetime = (self.not_after - self.issued_at).max(0);
        now >= self.issued_at + lifetime * 2 / 3
    }
}

/// Certificates by `(node, certificate name)`.
pub type Certificates = BTreeMap<(String, SecretName), NodeCertificate>;

/// Reads the certificates kept in a role's certificate Secret.
pub fn read_certificates(secret: &Secret) -> Certificates {
    let meta: BTreeMap<String, NodeCertificate> = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_CERTIFICATES))
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let mut out = Certificates::new();
    for (key, mut cert) in meta {
        let Some((node, name)) = key.split_once('/') else {
            continue;
        };
        let Ok(name) = SecretName::new(name) else {
            continue;
        };
        let data_key = labels::file_key(node, name.as_str());
        let Some(pem) = secret.data.as_ref().and_then(|d| d.get(&data_key)) else {
            continue;
        };
        cert.pem = String::from_utf8_lossy(&pem.0).into_owned();
        out.insert((node.to_owned(), name), cert);
    }
    out
}

/// The CA bundle a role's certificate Secret records for its certificates, if any.
pub fn read_issuer_bundle(secret: &Secret) -> Option<String> {
    secret
        .data
        .as_ref()?
        .get(ISSUER_BUNDLE_KEY)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .filter(|b| !b.is_empty())
}

/// Everything the build step reads.
#[derive(Clone, Copy, Debug)]
pub struct BuildInput<'a> {
    /// The member.
    pub member: &'a ChainMember,
    /// Its network.
    pub network: &'a ChainNetwork,
    /// The network's genesis.
    pub genesis: &'a StoredGenesis,
    /// The plans of this member's nodes.
    pub plans: &'a [NodePlan],
    /// Issued certificates of this member's nodes.
    pub certificates: &'a Certificates,
    /// PEM bundle of the CAs nodes trust: every member's.
    pub ca_bundle: &'a str,
    /// The same CAs by organisation: which member each speaks for.
    pub trust_roots: &'a TrustRoots,
    /// PEM bundle of the CAs that issued this member's certificates.
    pub issuer_bundle: &'a str,
    /// Cluster-wide settings.
    pub settings: &'a BuildSettings,
}

/// A member's children, as the build step wants them.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberChildren {
    /// The headless Service.
    pub service: Service,
    /// One StatefulSet per role with nodes.
    pub statefulsets: Vec<StatefulSet>,
    /// Genesis copy, per-role configuration, CA bundle.
    pub config_maps: Vec<ConfigMap>,
    /// Per-role certificates.
    pub secrets: Vec<Secret>,
    /// Who may reach the nodes.
    pub network_policy: NetworkPolicy,
    /// How many validators may be down for maintenance at once; absent without validators or
    /// without a PodDisruptionBudget API.
    pub pdb: Option<DynamicObject>,
}

/// One object to apply, in the form the applier takes.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredChild {
    /// Its API resource.
    pub resource: ApiResource,
    /// The object (apiVersion and kind set).
    pub object: DynamicObject,
}

impl DesiredChild {
    /// Wraps a typed object.
    pub fn typed<K>(obj: &K) -> Result<DesiredChild, BuildError>
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let resource = ApiResource::erase::<K>(&());
        let mut value = serde_json::to_value(obj).map_err(|e| BuildError::Encoding {
            what: K::kind(&()).into_owned(),
            reason: e.to_string(),
        })?;
        if let Some(map) = value.as_object_mut() {
            map.insert("apiVersion".into(), resource.api_version.clone().into());
            map.insert("kind".into(), resource.kind.clone().into());
        }
        let object = serde_json::from_value(value).map_err(|e| BuildError::Encoding {
            what: resource.kind.clone(),
            reason: e.to_string(),
        })?;
        Ok(DesiredChild { resource, object })
    }

    /// Name of the object.
    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }
}

impl MemberChildren {
    /// Every child, in apply order (configuration before the StatefulSets that mount it).
    pub fn into_desired(self, pdb: PdbApi) -> Result<Vec<DesiredChild>, BuildError> {
        let mut out = Vec::new();
        // Certificates first: once issued they must be recorded before anything else can
        // fail, or the next attempt would issue (and spend enrollment-token uses) again.
        for s in &self.secrets {
            out.push(DesiredChild::typed(s)?);
        }
        for cm in &self.config_maps {
            out.push(DesiredChild::typed(cm)?);
        }
        out.push(DesiredChild::typed(&self.service)?);
        out.push(DesiredChild::typed(&self.network_policy)?);
        if let (Some(p), Some(resource)) = (self.pdb, pdb.api_resource()) {
            out.push(DesiredChild {
                resource,
                object: p,
            });
        }
        for s in &self.statefulsets {
            out.push(DesiredChild::typed(s)?);
        }
        Ok(out)
    }
}

/// The owner reference every child of a member carries.
pub fn owner_reference(member: &ChainMember) -> OwnerReference {
    OwnerReference {
        api_version: ChainMember::api_version(&()).into_owned(),
        kind: ChainMember::kind(&()).into_owned(),
        name: member.metadata.name.clone().unwrap_or_default(),
        uid: member.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Where every node of the network is: `<pod>.<member>-nodes.<namespace>.svc.<domain>`,
/// binding all interfaces, on the engine's default ports. `nodes` pairs each node identity
/// with its member's `(namespace, name)`.
pub fn topology(
    nodes: &[(NodeIdentity, (String, String))],
    ports: &[PortSpec],
    cluster_domain: &str,
) -> Topology {
    let ports: BTreeMap<_, _> = ports.iter().map(|p| (p.name.clone(), p.default)).collect();
    Topology(
        nodes
            .iter()
            .map(|(id, (ns, member))| {
                (
                    id.node.clone(),
                    NodeEndpoint {
                        host: labels::node_host(id.node.as_str(), member, ns, cluster_domain),
                        bind: "0.0.0.0".into(),
                        ports: ports.clone(),
                    },
                )
            })
            .collect(),
    )
}

/// Plans this member's nodes with the engine.
pub fn plan_nodes(
    engine: &dyn Engine,
    spec: &NetworkSpec,
    genesis: &StoredGenesis,
    all_nodes: &[NodeIdentity],
    mine: &[NodeName],
    topology: &Topology,
) -> Result<Vec<NodePlan>, BuildError> {
    mine.iter()
        .map(|n| {
            engine
                .plan_node(spec, &genesis.genesis, all_nodes, n, topology)
                .map_err(BuildError::Engine)
        })
        .collect()
}

fn meta(
    name: String,
    namespace: &str,
    labels: BTreeMap<String, String>,
    owner: &OwnerReference,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

fn protocol(p: PortProtocol) -> String {
    match p {
        PortProtocol::Tcp => "TCP".into(),
        PortProtocol::Udp => "UDP".into(),
    }
}

fn probe(p: &Probe, initial_delay: i32, failure_threshold: i32) -> K8sProbe {
    let mut out = K8sProbe {
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(10),
        timeout_seconds: Some(3),
        failure_threshold: Some(failure_threshold),
        ..K8sProbe::default()
    };
    match p {
        Probe::Http { port, path } => {
            out.http_get = Some(HTTPGetAction {
                path: Some(path.clone()),
                port: IntOrString::String(port.0.clone()),
                scheme: Some("HTTP".into()),
                ..HTTPGetAction::default()
            });
        }
        Probe::Tcp { port } => {
            out.tcp_socket = Some(TCPSocketAction {
                port: IntOrString::String(port.0.clone()),
                ..TCPSocketAction::default()
            });
        }
    }
    out
}

/// How a planned file is mounted: from which volume, and under which key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum FileSource {
    Genesis(String),
    Config,
    Key(SecretName),
    Certificate(SecretName),
    CaBundle,
    TrustRoots,
}

fn file_source(content: &FileContent, path: &str, genesis: &StoredGenesis) -> FileSource {
    match content {
        FileContent::Inline(bytes) => {
            let is_genesis = genesis
                .genesis
                .files
                .iter()
                .any(|(p, b)| p.as_str() == path && b == bytes);
            if is_genesis {
                FileSource::Genesis(labels::shared_key(path))
            } else {
                FileSource::Config
            }
        }
        FileContent::Secret(s) => FileSource::Key(s.clone()),
        FileContent::Certificate(s) => FileSource::Certificate(s.clone()),
        FileContent::CaBundle => FileSource::CaBundle,
        FileContent::TrustRoots => FileSource::TrustRoots,
    }
}

/// Replaces a node's own name by `$(POD_NAME)` so that per-node values fit one template.
fn templated(s: &str, node: &str) -> String {
    s.replace(node, &format!("$({POD_NAME_ENV})"))
}

/// The shape of a plan a pod template is made from; equal for all nodes of a templatable role.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    program: Program,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    ports: Vec<(PortSpec, u16)>,
    files: Vec<(String, FileSource)>,
    data_dir: String,
    readiness: Probe,
    liveness: Probe,
}

fn shape(plan: &NodePlan, genesis: &StoredGenesis) -> Shape {
    let node = plan.node.as_str();
    Shape {
        program: plan.command.program.clone(),
        args: plan
            .command
            .args
            .iter()
            .map(|a| templated(a, node))
            .collect(),
        env: plan
            .command
            .env
            .iter()
            .map(|(k, v)| (k.clone(), templated(v, node)))
            .collect(),
        ports: plan.ports.clone(),
        files: plan
            .files
            .iter()
            .map(|f| {
                (
                    f.path.as_str().to_owned(),
                    file_source(&f.content, f.path.as_str(), genesis),
                )
            })
            .collect(),
        data_dir: plan.data_dir.as_str().to_owned(),
        readiness: plan.readiness.clone(),
        liveness: plan.liveness.clone(),
    }
}

fn hash_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(&h.finalize()[..16])
}

/// Builds a member's children. `plans` must hold exactly the member's nodes.
pub fn build(input: &BuildInput<'_>) -> Result<MemberChildren, BuildError> {
    let member = input.member;
    let name = member.metadata.name.clone().unwrap_or_default();
    let ns = member.metadata.namespace.clone().unwrap_or_default();
    let (net_ns, net_name) = member.network_key();
    let owner = owner_reference(member);
    let lbl = |component: &str| labels::member_labels(&net_ns, &net_name, &name, component);

    let trust_roots = input.trust_roots.to_bytes()?;
    let trust_roots = String::from_utf8(trust_roots).map_err(|e| BuildError::Encoding {
        what: TRUST_ROOTS_KEY.into(),
        reason: e.to_string(),
    })?;
    let mut config_maps = Vec::new();
    // The member's copy of the genesis: pods mount only their own namespace's ConfigMaps.
    config_maps.push(genesis::config_map(
        input.genesis,
        labels::member_genesis(&name),
        &ns,
        lbl(labels::COMPONENT_GENESIS),
        Some(owner.clone()),
    ));
    config_maps.push(ConfigMap {
        metadata: meta(
            labels::ca_bundle(&name),
            &ns,
            lbl(labels::COMPONENT_CA_BUNDLE),
            &owner,
        ),
        data: Some(BTreeMap::from([
            (CA_BUNDLE_KEY.to_owned(), input.ca_bundle.to_owned()),
            (TRUST_ROOTS_KEY.to_owned(), trust_roots.clone()),
            (ISSUER_BUNDLE_KEY.to_owned(), input.issuer_bundle.to_owned()),
        ])),
        ..ConfigMap::default()
    });

    let mut secrets = Vec::new();
    let mut statefulsets = Vec::new();
    let mut service_ports: Vec<(PortSpec, u16)> = Vec::new();
    for role in [NodeRole::Validator, NodeRole::Observer] {
        let mut plans: Vec<&NodePlan> = input.plans.iter().filter(|p| p.role == role).collect();
        plans.sort_by(|a, b| a.node.cmp(&b.node));
        let Some(first) = plans.first() else {
            continue;
        };
        let template = shape(first, input.genesis);
        for p in &plans[1..] {
            let other = shape(p, input.genesis);
            if other != template {
                return Err(BuildError::NotTemplatable {
                    role,
                    reason: format!("{} and {} differ beyond their names", first.node, p.node),
                });
            }
        }
        if service_ports.is_empty() {
            service_ports = template.ports.clone();
        }

        // Per-node inline files and certificates of this role.
        let mut config_data = BTreeMap::new();
        let mut config_binary = BTreeMap::new();
        let mut cert_data = BTreeMap::new();
        let mut cert_meta = BTreeMap::new();
        for p in &plans {
            let node = p.node.as_str();
            for f in &p.files {
                if let (FileContent::Inline(bytes), FileSource::Config) = (
                    &f.content,
                    file_source(&f.content, f.path.as_str(), input.genesis),
                ) {
                    let key = labels::file_key(node, f.path.as_str());
                    match String::from_utf8(bytes.clone()) {
                        Ok(s) => {
                            config_data.insert(key, s);
                        }
                        Err(_) => {
                            config_binary.insert(key, ByteString(bytes.clone()));
                        }
                    }
                }
            }
            for need in &p.certificates {
                let cert = input
                    .certificates
                    .get(&(node.to_owned(), need.name.clone()))
                    .ok_or_else(|| BuildError::CertificateMissing {
                        node: node.to_owned(),
                        name: need.name.to_string(),
                    })?;
                cert_data.insert(
                    labels::file_key(node, need.name.as_str()),
                    ByteString(cert.pem.clone().into_bytes()),
                );
                cert_meta.insert(format!("{node}/{}", need.name), cert.clone());
            }
        }
        if !cert_data.is_empty() && !input.issuer_bundle.is_empty() {
            cert_data.insert(
                ISSUER_BUNDLE_KEY.to_owned(),
                ByteString(input.issuer_bundle.as_bytes().to_vec()),
            );
        }
        let config_name = labels::role_config(&name, role);
        let certs_name = labels::role_certificates(&name, role);
        let cert_meta_json =
            serde_json::to_string(&cert_meta).map_err(|e| BuildError::Encoding {
                what: certs_name.clone(),
                reason: e.to_string(),
            })?;
        let config_hash = {
            let config_json =
                serde_json::to_vec(&(&config_data, &config_binary)).unwrap_or_default();
            hash_hex(&[
                &config_json,
                input.genesis.genesis.hash.0.as_bytes(),
                input.ca_bundle.as_bytes(),
                trust_roots.as_bytes(),
                cert_meta_json.as_bytes(),
            ])
        };
        config_maps.push(ConfigMap {
            metadata: meta(
                config_name.clone(),
                &ns,
                lbl(labels::COMPONENT_CONFIG),
                &owner,
            ),
            data: (!config_data.is_empty()).then_some(config_data),
            binary_data: (!config_binary.is_empty()).then_some(config_binary),
            ..ConfigMap::default()
        });
        let mut certs_meta = meta(
            certs_name.clone(),
            &ns,
            lbl(labels::COMPONENT_CERTIFICATES),
            &owner,
        );
        certs_meta.annotations = Some(BTreeMap::from([(
            ANNOTATION_CERTIFICATES.to_owned(),
            cert_meta_json,
        )]));
        secrets.push(Secret {
            metadata: certs_meta,
            data: (!cert_data.is_empty()).then_some(cert_data),
            type_: Some("Opaque".into()),
            ..Secret::default()
        });

        statefulsets.push(statefulset(
            input,
            role,
            &plans,
            &template,
            &config_name,
            &certs_name,
            &config_hash,
            &owner,
        ));
    }

    let service = Service {
        metadata: meta(
            labels::headless_service(&name),
            &ns,
            lbl(labels::COMPONENT_NETWORKING),
            &owner,
        ),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            // Peers must find each other before they are ready: readiness needs peers.
            publish_not_ready_addresses: Some(true),
            selector: Some(BTreeMap::from([
                (labels::LABEL_MEMBER.to_owned(), name.clone()),
                (
                    labels::LABEL_COMPONENT.to_owned(),
                    labels::COMPONENT_NODE.to_owned(),
                ),
            ])),
            ports: Some(
                service_ports
                    .iter()
                    .map(|(p, n)| ServicePort {
                        name: Some(p.name.0.clone()),
                        port: i32::from(*n),
                        target_port: Some(IntOrString::String(p.name.0.clone())),
                        protocol: Some(protocol(p.protocol)),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };

    let network_policy = network_policy(
        &name,
        &ns,
        &net_ns,
        &net_name,
        &service_ports,
        &owner,
        lbl(labels::COMPONENT_NETWORKING),
    );

    let pdb = match input.settings.pdb.api_version() {
        Some(api_version) if member.spec.validators > 0 => Some(pod_disruption_budget(
            api_version,
            &name,
            &ns,
            &owner,
            lbl(labels::COMPONENT_NETWORKING),
        )?),
        _ => None,
    };

    Ok(MemberChildren {
        service,
        statefulsets,
        config_maps,
        secrets,
        network_policy,
        pdb,
    })
}

#[allow(clippy::too_many_arguments)]
fn statefulset(
    input: &BuildInput<'_>,
    role: NodeRole,
    plans: &[&NodePlan],
    shape: &Shape,
    config_name: &str,
    certs_name: &str,
    config_hash: &str,
    owner: &OwnerReference,
) -> StatefulSet {
    let member = input.member;
    let name = member.metadata.name.clone().unwrap_or_default();
    let ns = member.metadata.namespace.clone().unwrap_or_default();
    let (net_ns, net_name) = member.network_key();
    let selector = labels::pod_selector(&name, role);
    let mut pod_labels = labels::member_labels(&net_ns, &net_name, &name, labels::COMPONENT_NODE);
    pod_labels.extend(selector.clone());

    let pod_name_expr = format!("$({POD_NAME_ENV})");
    let mut mounts = vec![
        VolumeMount {
            name: "home".into(),
            mount_path: NODE_HOME.into(),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: "data".into(),
            mount_path: format!("{NODE_HOME}/{}", shape.data_dir),
            ..VolumeMount::default()
        },
    ];
    for (path, source) in &shape.files {
        let (volume, sub_path, sub_path_expr) = match source {
            FileSource::Genesis(key) => ("genesis", Some(key.clone()), None),
            FileSource::Config => (
                "config",
                None,
                Some(format!("{pod_name_expr}.{}", labels::shared_key(path))),
            ),
            FileSource::Key(s) => ("keys", None, Some(format!("{pod_name_expr}.{s}"))),
            FileSource::Certificate(s) => ("certs", None, Some(format!("{pod_name_expr}.{s}"))),
            FileSource::CaBundle => ("ca-bundle", Some(CA_BUNDLE_KEY.to_owned()), None),
            FileSource::TrustRoots => ("ca-bundle", Some(TRUST_ROOTS_KEY.to_owned()), None),
        };
        mounts.push(VolumeMount {
            name: volume.into(),
            mount_path: format!("{NODE_HOME}/{path}"),
            read_only: Some(true),
            sub_path,
            sub_path_expr,
            ..VolumeMount::default()
        });
    }

    // Every node's key Secret of this role, projected under `<node>.<key name>`.
    let mut key_sources = Vec::new();
    for p in plans {
        let items: Vec<KeyToPath> = p
            .files
            .iter()
            .filter_map(|f| match &f.content {
                FileContent::Secret(s) => Some(KeyToPath {
                    key: s.to_string(),
                    path: format!("{}.{s}", p.node),
                    ..KeyToPath::default()
                }),
                _ => None,
            })
            .collect();
        if !items.is_empty() {
            key_sources.push(VolumeProjection {
                secret: Some(SecretProjection {
                    name: labels::node_key_secret(p.node.as_str()),
                    items: Some(items),
                    optional: Some(false),
                }),
                ..VolumeProjection::default()
            });
        }
    }
    let volumes = vec![
        Volume {
            name: "home".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
        Volume {
            name: "genesis".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: labels::member_genesis(&name),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_name.to_owned(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "keys".into(),
            projected: Some(ProjectedVolumeSource {
                default_mode: Some(0o400),
                sources: Some(key_sources),
                ..ProjectedVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "certs".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(certs_name.to_owned()),
                default_mode: Some(0o444),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "ca-bundle".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: labels::ca_bundle(&name),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
    ];

    let mut env = vec![EnvVar {
        name: POD_NAME_ENV.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.name".into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }];
    env.extend(shape.env.iter().map(|(k, v)| EnvVar {
        name: k.clone(),
        value: Some(v.clone()),
        ..EnvVar::default()
    }));

    let (image, command) = match &shape.program {
        Program::Yuelu => (
            input.settings.node_image.clone(),
            Some(vec!["yuelu".to_owned()]),
        ),
        Program::Image(i) => (i.clone(), None),
    };
    let container = Container {
        name: "node".into(),
        image: Some(image),
        command,
        args: Some(shape.args.clone()),
        working_dir: Some(NODE_HOME.into()),
        env: Some(env),
        ports: Some(
            shape
                .ports
                .iter()
                .map(|(p, n)| ContainerPort {
                    name: Some(p.name.0.clone()),
                    container_port: i32::from(*n),
                    protocol: Some(protocol(p.protocol)),
                    ..ContainerPort::default()
                })
                .collect(),
        ),
        readiness_probe: Some(probe(&shape.readiness, 5, 3)),
        liveness_probe: Some(probe(&shape.liveness, 30, 6)),
        resources: member.spec.resources.clone(),
        volume_mounts: Some(mounts),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };

    StatefulSet {
        metadata: meta(
            labels::statefulset(&name, role),
            &ns,
            labels::member_labels(&net_ns, &net_name, &name, labels::COMPONENT_NODE),
            owner,
        ),
        spec: StatefulSetSpec {
            replicas: Some(i32::try_from(plans.len()).unwrap_or(i32::MAX)),
            service_name: Some(labels::headless_service(&name)),
            // BFT nodes need each other to make progress: start them together.
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                ..StatefulSetUpdateStrategy::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        labels::ANNOTATION_CONFIG_HASH.to_owned(),
                        config_hash.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(volumes),
                    node_selector: (!member.spec.node_selector.is_empty())
                        .then(|| member.spec.node_selector.clone()),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some("data".into()),
                    ..ObjectMeta::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".into()]),
                    storage_class_name: member.spec.storage.storage_class_name.clone(),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([(
                            "storage".to_owned(),
                            member.spec.storage.size.clone(),
                        )])),
                        ..VolumeResourceRequirements::default()
                    }),
                    ..PersistentVolumeClaimSpec::default()
                }),
                ..PersistentVolumeClaim::default()
            }]),
            ..StatefulSetSpec::default()
        },
        ..StatefulSet::default()
    }
}

fn network_policy(
    name: &str,
    ns: &str,
    net_ns: &str,
    net_name: &str,
    ports: &[(PortSpec, u16)],
    owner: &OwnerReference,
    object_labels: BTreeMap<String, String>,
) -> NetworkPolicy {
    let to_ports = |keep: &dyn Fn(PortPurpose) -> bool| -> Vec<NetworkPolicyPort> {
        ports
            .iter()
            .filter(|(p, _)| keep(p.purpose))
            .map(|(p, n)| NetworkPolicyPort {
                port: Some(IntOrString::Int(i32::from(*n))),
                protocol: Some(protocol(p.protocol)),
                ..NetworkPolicyPort::default()
            })
            .collect()
    };
    let any_namespace = || LabelSelector::default();
    // Peer-to-peer traffic only from the nodes of the same network, whatever their namespace;
    // client, metrics and other ports from anywhere in the cluster.
    let peers = NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(any_namespace()),
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([
                    (labels::LABEL_NETWORK.to_owned(), net_name.to_owned()),
                    (
                        labels::LABEL_NETWORK_NAMESPACE.to_owned(),
                        net_ns.to_owned(),
                    ),
                    (
                        labels::LABEL_COMPONENT.to_owned(),
                        labels::COMPONENT_NODE.to_owned(),
                    ),
                ])),
                ..LabelSelector::default()
            }),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(to_ports(&|p| p == PortPurpose::P2p)),
    };
    let clients = NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(any_namespace()),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(to_ports(&|p| p != PortPurpose::P2p)),
    };
    NetworkPolicy {
        metadata: meta(labels::member_policy(name), ns, object_labels, owner),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([
                    (labels::LABEL_MEMBER.to_owned(), name.to_owned()),
                    (
                        labels::LABEL_COMPONENT.to_owned(),
                        labels::COMPONENT_NODE.to_owned(),
                    ),
                ])),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![peers, clients]),
            ..NetworkPolicySpec::default()
        }),
    }
}

fn pod_disruption_budget(
    api_version: &str,
    name: &str,
    ns: &str,
    owner: &OwnerReference,
    object_labels: BTreeMap<String, String>,
) -> Result<DynamicObject, BuildError> {
    // One validator at a time: a BFT network of n tolerates (n-1)/3 faults, and a member
    // rarely holds more than that share; the engine's quorum stays reachable during drains.
    let value = serde_json::json!({
        "apiVersion": api_version,
        "kind": "PodDisruptionBudget",
        "metadata": meta(labels::member_policy(name), ns, object_labels, owner),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": labels::pod_selector(name, NodeRole::Validator)},
        },
    });
    serde_json::from_value(value).map_err(|e| BuildError::Encoding {
        what: "PodDisruptionBudget".into(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
#[path = "children_tests.rs"]
mod tests;

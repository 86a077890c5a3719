//! `ChainMember`: one organisation's part of a network: its validators and observers, their
//! resources and storage; in status, its nodes.

// kube's printcolumn(...) attributes repeat `type_ = "string"`; that is not a mistake.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use yuelu_engine::{NodeRole, PeerId, PublicKey};

/// Most nodes of one role a member may run (the built-in engine's validator limit).
pub const MAX_NODES_PER_ROLE: u32 = 32;

/// One organisation's part of a consortium network, in that organisation's namespace. The
/// controller runs its nodes: a StatefulSet per role, a headless Service, Secrets with node keys
/// and certificates, ConfigMaps with genesis and config, a NetworkPolicy and a
/// PodDisruptionBudget, all owned by the member.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "yuelu.io",
    version = "v1alpha1",
    kind = "ChainMember",
    namespaced,
    status = "ChainMemberStatus",
    shortname = "cmem",
    category = "yuelu",
    doc = "One organisation's part of a consortium network: its validators and observers, resources and storage.",
    printcolumn(
        name = "Network",
        type_ = "string",
        json_path = ".spec.network.name",
        description = "The network this member belongs to"
    ),
    printcolumn(
        name = "Organization",
        type_ = "string",
        json_path = ".spec.organization",
        description = "The organisation"
    ),
    printcolumn(
        name = "Validators",
        type_ = "integer",
        json_path = ".spec.validators",
        description = "Validator nodes"
    ),
    printcolumn(
        name = "Observers",
        type_ = "integer",
        json_path = ".spec.observers",
        description = "Observer nodes"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.ready",
        description = "Ready nodes / nodes"
    ),
    printcolumn(
        name = "Height",
        type_ = "integer",
        json_path = ".status.height",
        description = "Highest committed block height reported by a node"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ChainMemberSpec {
    /// The network this member belongs to.
    pub network: NetworkRef,
    /// The organisation's name: a DNS label, unique in the network.
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub organization: String,
    /// Validator nodes (共识节点) this member runs.
    #[serde(default)]
    #[schemars(range(min = 0, max = 32))]
    pub validators: u32,
    /// Observer nodes (同步节点) this member runs: they follow the chain without voting.
    #[serde(default)]
    #[schemars(range(min = 0, max = 32))]
    pub observers: u32,
    /// CPU and memory requests and limits of every node container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Persistent storage of every node.
    #[serde(default)]
    pub storage: StorageSpec,
    /// Placement hint: node labels every node pod must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Where the nodes' certificates come from: the platform CA, enrolled with a token kept
    /// in a Secret of the member's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = not_nullable)]
    pub certificates: Option<CertificatesSpec>,
}

/// How the member's node certificates are obtained.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificatesSpec {
    /// The Secret, in the member's namespace, holding the platform enrollment token
    /// (`yle_...`, created by a tenant admin with `createEnrollmentToken`). Required when the
    /// controller runs with `--platform-url`; the token never appears in the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = not_nullable)]
    pub enrollment_secret_ref: Option<SecretKeyRef>,
}

/// Drops `nullable` from an optional object's schema: Kubernetes publishes nullable fields
/// without their properties, so `kubectl explain` could not show what is inside (a `null`
/// sent for it is pruned instead of stored).
fn not_nullable(schema: &mut schemars::Schema) {
    // Option<T> is `type: [T, "null"]` here; the generator turns that `null` into `nullable`.
    if let Some(serde_json::Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            schema.insert("type".into(), only);
        }
    }
}

/// A key of a Secret in the member's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key within the Secret; `token` when absent.
    #[serde(default = "default_token_key")]
    #[schemars(length(min = 1, max = 253), pattern(r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

fn default_token_key() -> String {
    "token".to_owned()
}

/// A reference to a `ChainNetwork`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkRef {
    /// The network's namespace; defaults to the member's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The network's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A node's persistent volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Size of each node's volume, e.g. `10Gi`.
    #[serde(default = "default_storage_size")]
    pub size: Quantity,
    /// Storage class of the volumes; the cluster's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

fn default_storage_size() -> Quantity {
    Quantity("10Gi".to_owned())
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec {
            size: default_storage_size(),
            storage_class_name: None,
        }
    }
}

/// The public identity of a node, derived from keys generated in the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeIdentityStatus {
    /// The node's peer-to-peer identity.
    pub peer_id: PeerId,
    /// The key that signs the node's consensus messages.
    pub consensus_key: PublicKey,
    /// Voting power: 1 for validators, 0 for observers.
    pub voting_power: u64,
}

/// What one node of the member is doing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// The node's name (also its pod's name).
    pub name: String,
    /// Validator or observer.
    pub role: NodeRole,
    /// Whether its pod is ready.
    pub ready: bool,
    /// Committed block height the node reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Peers the node is connected to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<u64>,
    /// The node's public identity.
    pub identity: NodeIdentityStatus,
    /// When the node's certificate expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_not_after: Option<Time>,
    /// Serial number (hex) of the node's certificate, for revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_serial: Option<String>,
}

/// Observed state of a `ChainMember`, written by the controller only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainMemberStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Provisioned, Admitted and Degraded, each with observedGeneration and
    /// lastTransitionTime.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The member's nodes.
    #[serde(default)]
    pub nodes: Vec<NodeStatus>,
    /// Ready nodes / nodes, e.g. `4/4`.
    #[serde(default)]
    pub ready: String,
    /// Highest committed block height any of its nodes reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Hash of the genesis its nodes run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<String>,
    /// PEM of the CA certificates that issued this member's node certificates. Published for
    /// the other members: every node of the network trusts every member's CAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
}

impl ChainMember {
    /// The network's `(namespace, name)`, the namespace defaulted to the member's.
    pub fn network_key(&self) -> (String, String) {
        let ns = self
            .spec
            .network
            .namespace
            .clone()
            .or_else(|| self.metadata.namespace.clone())
            .unwrap_or_default();
        (ns, self.spec.network.name.clone())
    }

    /// The Secret key holding the member's enrollment token, if the spec names one.
    pub fn enrollment_secret(&self) -> Option<&SecretKeyRef> {
        self.spec
            .certificates
            .as_ref()
            .and_then(|c| c.enrollment_secret_ref.as_ref())
    }

    /// How many nodes of `role` the spec asks for.
    pub fn replicas(&self, role: NodeRole) -> u32 {
        match role {
            NodeRole::Validator => self.spec.validators,
            NodeRole::Observer => self.spec.observers,
        }
    }
}

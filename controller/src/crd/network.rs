//! `ChainNetwork`: a consortium chain: its engine, consensus, crypto suite and block parameters,
//! and (in status) its genesis, phase and conditions.

// kube's printcolumn(...) attributes repeat `type_ = "string"`; that is not a mistake.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use yuelu_engine::{BlockParams, Consensus, CryptoSuite, EngineKind};

/// A consortium chain network. Its members (`ChainMember`, one per organisation, each in its
/// organisation's namespace) run the nodes; the network holds what they share: engine,
/// consensus, crypto suite, block parameters and, once computed, the immutable genesis.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "yuelu.io",
    version = "v1alpha1",
    kind = "ChainNetwork",
    namespaced,
    status = "ChainNetworkStatus",
    shortname = "cnet",
    category = "yuelu",
    doc = "A consortium chain network: engine, version, consensus, crypto suite and block parameters; its members run the nodes.",
    printcolumn(
        name = "Engine",
        type_ = "string",
        json_path = ".spec.engine",
        description = "The chain engine"
    ),
    printcolumn(
        name = "Consensus",
        type_ = "string",
        json_path = ".spec.consensus",
        description = "The consensus algorithm"
    ),
    printcolumn(
        name = "Crypto",
        type_ = "string",
        json_path = ".spec.crypto",
        description = "The crypto suite",
        priority = 1
    ),
    printcolumn(
        name = "Members",
        type_ = "integer",
        json_path = ".status.members",
        description = "Members (organisations) of the network"
    ),
    printcolumn(
        name = "Validators",
        type_ = "integer",
        json_path = ".status.validators",
        description = "Validators across all members"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.ready",
        description = "Ready validators / validators"
    ),
    printcolumn(
        name = "Height",
        type_ = "integer",
        json_path = ".status.height",
        description = "Highest committed block height reported by a node"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Lifecycle phase"
    ),
    printcolumn(
        name = "Genesis",
        type_ = "string",
        json_path = ".status.genesisHash",
        description = "SHA-256 of the genesis",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ChainNetworkSpec {
    /// The chain id written into the genesis: a DNS label, unique on the platform. Defaults to
    /// the resource's name. Cannot change once the genesis exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub chain_id: Option<String>,
    /// The chain engine that runs the network.
    pub engine: EngineKind,
    /// The engine version (for the built-in `yuelu` engine: `0.1`). Changing it is an upgrade.
    #[schemars(length(min = 1, max = 32))]
    pub version: String,
    /// The consensus algorithm; the engine must offer it (`yuelu`: tendermint).
    pub consensus: Consensus,
    /// The cryptography of keys, signatures and certificates: `ecdsa-p256` or `sm2` (国密).
    pub crypto: CryptoSuite,
    /// Block parameters, written into the genesis.
    #[serde(default)]
    pub block: BlockSpec,
    /// The founding members whose validators form the genesis. When empty, the genesis is
    /// computed from every member present once all of them have published their validator
    /// identities. Members added after the genesis join by a validator-set change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub founders: Vec<MemberRef>,
}

/// Block parameters, with the engine-neutral bounds every engine accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockSpec {
    /// Target time between blocks, in milliseconds.
    #[serde(default = "default_interval_ms")]
    #[schemars(range(min = 10, max = 60000))]
    pub interval_ms: u32,
    /// Most transactions in one block.
    #[serde(default = "default_max_txs")]
    #[schemars(range(min = 1, max = 100000))]
    pub max_txs: u32,
    /// Most bytes in one block (1 KiB to 64 MiB).
    #[serde(default = "default_max_bytes")]
    #[schemars(range(min = 1024, max = 67108864))]
    pub max_bytes: u32,
}

fn default_interval_ms() -> u32 {
    BlockParams::default().interval_ms
}
fn default_max_txs() -> u32 {
    BlockParams::default().max_txs
}
fn default_max_bytes() -> u32 {
    BlockParams::default().max_bytes
}

impl Default for BlockSpec {
    fn default() -> Self {
        BlockParams::default().into()
    }
}

impl From<BlockParams> for BlockSpec {
    fn from(b: BlockParams) -> Self {
        BlockSpec {
            interval_ms: b.interval_ms,
            max_txs: b.max_txs,
            max_bytes: b.max_bytes,
        }
    }
}

impl From<BlockSpec> for BlockParams {
    fn from(b: BlockSpec) -> Self {
        BlockParams {
            interval_ms: b.interval_ms,
            max_txs: b.max_txs,
            max_bytes: b.max_bytes,
        }
    }
}

/// A reference to a `ChainMember`.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct MemberRef {
    /// The member's namespace; defaults to the network's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The member's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Where a network is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NetworkPhase {
    /// Waiting for members and their validator identities.
    #[default]
    Pending,
    /// Genesis computed; nodes are starting or syncing.
    Provisioning,
    /// Every validator is ready.
    Running,
    /// The network commits blocks (or did) but some validators are not ready.
    Degraded,
    /// The spec cannot be realized (see the Ready condition and the events).
    Failed,
    /// The network is being deleted.
    Deleting,
}

impl NetworkPhase {
    /// The phase's name, as shown by kubectl.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkPhase::Pending => "Pending",
            NetworkPhase::Provisioning => "Provisioning",
            NetworkPhase::Running => "Running",
            NetworkPhase::Degraded => "Degraded",
            NetworkPhase::Failed => "Failed",
            NetworkPhase::Deleting => "Deleting",
        }
    }
}

/// The genesis of a network: computed once, then immutable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenesisStatus {
    /// SHA-256 over the genesis files, lowercase hex.
    pub hash: String,
    /// Genesis time, Unix milliseconds (fixed, so the genesis can be reproduced).
    pub time_unix_ms: u64,
    /// The ConfigMap (in the network's namespace) that holds the genesis files.
    pub config_map: String,
    /// The founding validators (node names) the genesis was computed from.
    pub validators: Vec<String>,
}

/// Observed state of a `ChainNetwork`, written by the controller only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainNetworkStatus {
    /// Lifecycle phase: Pending, Provisioning, Running, Degraded, Failed or Deleting.
    #[serde(default)]
    pub phase: NetworkPhase,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, GenesisReady and Degraded, each with observedGeneration and lastTransitionTime.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The chain id in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<String>,
    /// Members referencing this network.
    #[serde(default)]
    pub members: u32,
    /// Validators across all members.
    #[serde(default)]
    pub validators: u32,
    /// Ready validators / validators, e.g. `3/4`.
    #[serde(default)]
    pub ready: String,
    /// SHA-256 of the genesis (also in `genesis.hash`), once computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<String>,
    /// The genesis, once computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis: Option<GenesisStatus>,
    /// Highest committed block height any node reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
}

impl ChainNetwork {
    /// The chain id: `spec.chainId`, else the resource's name.
    pub fn chain_id(&self) -> String {
        self.spec
            .chain_id
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }

    /// The founders as `(namespace, name)`, namespaces defaulted to the network's.
    pub fn founders(&self) -> Vec<(String, String)> {
        let ns = self.metadata.namespace.clone().unwrap_or_default();
        self.spec
            .founders
            .iter()
            .map(|f| {
                (
                    f.namespace.clone().unwrap_or_else(|| ns.clone()),
                    f.name.clone(),
                )
            })
            .collect()
    }
}

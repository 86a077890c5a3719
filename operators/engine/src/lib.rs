//! The engine interface of Yuelu.
//!
//! Every chain engine (the built-in `yuelu` engine, and later FISCO BCOS, Besu, Fabric and
//! ChainMaker) implements [`Engine`]. From a network spec and the public identities of the
//! members' nodes an engine produces an engine-neutral plan: the genesis, per-node files,
//! command, ports, probes and metric names. Runtimes (the Kubernetes controller and the local
//! process runtime) realize plans; they never look inside an engine.
//!
//! The flow, for any runtime:
//! 1. [`Engine::validate`] the [`NetworkSpec`];
//! 2. [`Engine::generate_node_keys`] where each node runs; private material stays there,
//!    the [`NodeIdentity`] is published;
//! 3. [`Engine::genesis`] once, from the validators' identities; the result is immutable;
//! 4. [`Engine::ports`] tells which ports a node needs; the runtime assigns numbers and
//!    addresses in a [`Topology`];
//! 5. [`Engine::plan_node`] for each node the runtime runs; the runtime fills in what a plan
//!    only names ([`FileContent`]: private keys, certificates, the CA bundle, the
//!    per-organisation [`TrustRoots`]);
//! 6. membership changes later go through [`Engine::validator_change`], never a new genesis.

mod error;
mod identity;
mod plan;
mod registry;
mod spec;

pub use error::EngineError;
pub use identity::{
    GeneratedNode, KeyAlgorithm, NodeIdentity, NodeSecrets, PeerId, PublicKey, SecretName,
};
pub use plan::{
    CertificateNeed, CertificateProfile, ChangeProcedure, Command, FileContent, Genesis,
    GenesisHash, GenesisInput, MetricNames, NetworkPlan, NodeEndpoint, NodePlan, PlanFile,
    PortName, PortProtocol, PortPurpose, PortSpec, Probe, Program, RelPath, Topology, TrustRoots,
    ValidatorSetChange,
};
pub use registry::EngineRegistry;
pub use spec::{
    BlockParams, ChainId, Consensus, CryptoSuite, EngineKind, NetworkSpec, NodeName, NodeRole,
    OrgName,
};

use std::ops::RangeInclusive;

/// What an engine supports; runtimes and the API check specs against it before anything runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Engine versions this plugin can plan, newest first.
    pub versions: Vec<String>,
    /// Consensus algorithms the engine offers.
    pub consensus: Vec<Consensus>,
    /// Crypto suites the engine offers.
    pub crypto: Vec<CryptoSuite>,
    /// How many validators a network may have.
    pub validators: RangeInclusive<u32>,
    /// Whether the engine can run as local processes (only the built-in engine can).
    pub runs_locally: bool,
}

/// A chain engine plugin. Object safe: runtimes hold `Box<dyn Engine>` from an [`EngineRegistry`].
pub trait Engine: Send + Sync {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// What this engine supports.
    fn capabilities(&self) -> Capabilities;

    /// Checks a network spec against the engine's capabilities and rules.
    ///
    /// The default checks version, consensus and crypto suite against [`Engine::capabilities`].
    fn validate(&self, spec: &NetworkSpec) -> Result<(), EngineError> {
        let caps = self.capabilities();
        if spec.engine != self.kind() {
            return Err(EngineError::InvalidSpec {
                field: "engine",
                reason: format!(
                    "{} plugin asked to plan a {} network",
                    self.kind(),
                    spec.engine
                ),
            });
        }
        if !caps.versions.iter().any(|v| v == &spec.version) {
            return Err(EngineError::Unsupported {
                what: format!(
                    "{} version {:?} (supported: {})",
                    self.kind(),
                    spec.version,
                    caps.versions.join(", ")
                ),
            });
        }
        if !caps.consensus.contains(&spec.consensus) {
            return Err(EngineError::Unsupported {
                what: format!("consensus {} on {}", spec.consensus, self.kind()),
            });
        }
        if !caps.crypto.contains(&spec.crypto) {
            return Err(EngineError::Unsupported {
                what: format!("crypto suite {} on {}", spec.crypto, self.kind()),
            });
        }
        spec.block.validate()
    }

    /// Generates a node's keys where the node runs. The private part never leaves the runtime
    /// that called this; only [`GeneratedNode::identity`] is shared with the platform.
    fn generate_node_keys(
        &self,
        spec: &NetworkSpec,
        node: &NodeName,
        org: &OrgName,
        role: NodeRole,
    ) -> Result<GeneratedNode, EngineError>;

    /// Computes the genesis from the validators' identities. Deterministic: the same input
    /// gives byte-identical files and the same hash. Called once per network.
    fn genesis(&self, input: &GenesisInput<'_>) -> Result<Genesis, EngineError>;

    /// The ports every node of this engine listens on, with their default numbers.
    fn ports(&self, spec: &NetworkSpec) -> Vec<PortSpec>;

    /// Plans one node: files, command, ports, probes, metric names, certificates it needs.
    ///
    /// `nodes` holds every node of the network (validators and observers, all members), so
    /// that the engine can write peer lists and allow-lists; `topology` says where each is.
    fn plan_node(
        &self,
        spec: &NetworkSpec,
        genesis: &Genesis,
        nodes: &[NodeIdentity],
        node: &NodeName,
        topology: &Topology,
    ) -> Result<NodePlan, EngineError>;

    /// Plans every node of the network: what a single-runtime deployment (local mode) needs.
    fn plan_network(
        &self,
        spec: &NetworkSpec,
        genesis: &Genesis,
        nodes: &[NodeIdentity],
        topology: &Topology,
    ) -> Result<NetworkPlan, EngineError> {
        let plans = nodes
            .iter()
            .map(|n| self.plan_node(spec, genesis, nodes, &n.node, topology))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NetworkPlan {
            genesis: genesis.clone(),
            nodes: plans,
        })
    }

    /// How to change the validator set of a running network. Always a governed action on the
    /// running chain (a quorum-signed transaction, validator votes, a config update), never a
    /// redeploy or a new genesis.
    fn validator_change(
        &self,
        spec: &NetworkSpec,
        current: &[NodeIdentity],
        change: &ValidatorSetChange,
    ) -> Result<ChangeProcedure, EngineError>;
}

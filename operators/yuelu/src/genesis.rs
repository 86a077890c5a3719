//! The genesis file (`genesis.json`): chain id, block parameters and the founding validators.

use crate::keys;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use yuelu_engine::{
    BlockParams, ChainId, CryptoSuite, EngineError, Genesis, NodeIdentity, NodeRole, RelPath,
};

/// Where the genesis lives in a node's home, and its name in [`Genesis::files`].
pub const GENESIS_PATH: &str = "genesis.json";

/// The format tag of the genesis file, so that a future layout is told apart.
pub const GENESIS_FORMAT: &str = "yuelu-genesis/1";

/// The content of `genesis.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisDoc {
    /// Always [`GENESIS_FORMAT`].
    pub format: String,
    /// The chain's id; every transaction names it.
    pub chain_id: ChainId,
    /// The engine version that created it.
    pub engine_version: String,
    /// The network's crypto suite (client certificates and transaction signatures).
    pub crypto: CryptoSuite,
    /// Genesis time, Unix milliseconds.
    pub genesis_time_unix_ms: u64,
    /// Block parameters.
    pub block: BlockParams,
    /// The founding validators, sorted by node name.
    pub validators: Vec<NodeIdentity>,
}

impl GenesisDoc {
    /// Checks the founding validators: at least one, P-256 keys, peer ids that follow from
    /// them, positive voting power, no duplicate names, keys or peer ids.
    pub fn validate(&self) -> Result<(), EngineError> {
        if self.format != GENESIS_FORMAT {
            return Err(EngineError::InvalidSpec {
                field: "genesis.format",
                reason: format!("{:?} is not {GENESIS_FORMAT:?}", self.format),
            });
        }
        self.block.validate()?;
        check_identities(&self.validators, true)?;
        if self.validators.is_empty() {
            return Err(EngineError::InvalidSpec {
                field: "validators",
                reason: "a network needs at least one validator".into(),
            });
        }
        Ok(())
    }

    /// The bytes of `genesis.json`: pretty JSON, fields in a fixed order, validators sorted, so
    /// that the same input always gives the same bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EngineError> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| EngineError::Key(format!("encoding genesis: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Parses and validates `genesis.json`.
    pub fn from_bytes(bytes: &[u8]) -> Result<GenesisDoc, EngineError> {
        let doc: GenesisDoc =
            serde_json::from_slice(bytes).map_err(|e| EngineError::InvalidSpec {
                field: "genesis",
                reason: format!("not a yuelu genesis: {e}"),
            })?;
        doc.validate()?;
        Ok(doc)
    }

    /// Reads the genesis document out of a [`Genesis`].
    pub fn from_genesis(genesis: &Genesis) -> Result<GenesisDoc, EngineError> {
        let path = RelPath::new(GENESIS_PATH)?;
        let bytes = genesis
            .files
            .get(&path)
            .ok_or_else(|| EngineError::InvalidSpec {
                field: "genesis",
                reason: format!("has no {GENESIS_PATH}"),
            })?;
        GenesisDoc::from_bytes(bytes)
    }

    /// Wraps the document into the engine-neutral [`Genesis`], whose hash is the network's
    /// genesis hash.
    pub fn to_genesis(&self) -> Result<Genesis, EngineError> {
        let files = [(RelPath::new(GENESIS_PATH)?, self.to_bytes()?)]
            .into_iter()
            .collect();
        Ok(Genesis::from_files(files))
    }
}

/// Checks a set of node identities for the yuelu engine. With `validators_only`, every one must
/// be a validator with positive voting power.
pub fn check_identities(nodes: &[NodeIdentity], validators_only: bool) -> Result<(), EngineError> {
    let mut names = BTreeSet::new();
    let mut keys_seen = BTreeSet::new();
    let mut peers = BTreeSet::new();
    for n in nodes {
        check_identity(n)?;
        let bad = |reason: &str| EngineError::InvalidIdentity {
            node: n.node.to_string(),
            reason: reason.into(),
        };
        if validators_only && n.role != NodeRole::Validator {
            return Err(bad("is not a validator"));
        }
        if !names.insert(n.node.clone()) {
            return Err(bad("appears twice"));
        }
        if !keys_seen.insert(n.consensus_key.hex.to_ascii_lowercase()) {
            return Err(bad("shares its consensus key with another node"));
        }
        if !peers.insert(n.peer_id.clone()) {
            return Err(bad("shares its peer id with another node"));
        }
    }
    Ok(())
}

/// Checks one identity: a P-256 key, the peer id it gives, voting power that fits the role.
pub fn check_identity(n: &NodeIdentity) -> Result<(), EngineError> {
    let bad = |reason: String| EngineError::InvalidIdentity {
        node: n.node.to_string(),
        reason,
    };
    keys::check_peer_id(&n.consensus_key, &n.peer_id).map_err(|e| bad(e.to_string()))?;
    match n.role {
        NodeRole::Validator if n.voting_power == 0 => {
            Err(bad("a validator needs voting power above 0".into()))
        }
        NodeRole::Observer if n.voting_power != 0 => {
            Err(bad("an observer has no voting power".into()))
        }
        // Bounded so that the sum over any validator set cannot overflow.
        _ if n.voting_power > 1_000_000 => Err(bad("voting power above 1000000".into())),
        _ => Ok(()),
    }
}

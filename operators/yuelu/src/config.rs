//! The node's config file (`config/node.json`), written by the plugin and read by `yuelu node`.

use serde::{Deserialize, Serialize};
use yuelu_engine::{ChainId, EngineError, GenesisHash, NodeIdentity, NodeName};

/// The format tag of the config file.
pub const CONFIG_FORMAT: &str = "yuelu-node/1";

/// Where a member of the network listens for its peers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Member {
    /// Its registered identity (the allow-list entry).
    pub identity: NodeIdentity,
    /// Host others dial: an IP address or a DNS name.
    pub host: String,
    /// Its peer-to-peer port.
    pub p2p_port: u16,
}

/// `config/node.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeConfig {
    /// Always [`CONFIG_FORMAT`].
    pub format: String,
    /// This node's name.
    pub node: NodeName,
    /// The chain.
    pub chain_id: ChainId,
    /// The hash of the genesis this node must be started with.
    pub genesis_hash: GenesisHash,
    /// Address the node binds (`127.0.0.1` locally, `0.0.0.0` in a pod).
    pub bind: String,
    /// Peer-to-peer port.
    pub p2p_port: u16,
    /// HTTP API port (also `/metrics`, `/healthz`, `/readyz`).
    pub rpc_port: u16,
    /// Every node registered for the network, this one included: who may connect, and whom to
    /// dial.
    pub members: Vec<Member>,
}

impl NodeConfig {
    /// The bytes of the config file (pretty JSON, fixed field order).
    pub fn to_bytes(&self) -> Result<Vec<u8>, EngineError> {
        let mut b = serde_json::to_vec_pretty(self)
            .map_err(|e| EngineError::Key(format!("encoding node config: {e}")))?;
        b.push(b'\n');
        Ok(b)
    }

    /// Parses the config file.
    pub fn from_bytes(bytes: &[u8]) -> Result<NodeConfig, EngineError> {
        let c: NodeConfig =
            serde_json::from_slice(bytes).map_err(|e| EngineError::InvalidSpec {
                field: "config",
                reason: format!("not a yuelu node config: {e}"),
            })?;
        if c.format != CONFIG_FORMAT {
            return Err(EngineError::InvalidSpec {
                field: "config.format",
                reason: format!("{:?} is not {CONFIG_FORMAT:?}", c.format),
            });
        }
        Ok(c)
    }

    /// This node's own entry among the members.
    pub fn me(&self) -> Result<&Member, EngineError> {
        self.members
            .iter()
            .find(|m| m.identity.node == self.node)
            .ok_or_else(|| EngineError::InvalidIdentity {
                node: self.node.to_string(),
                reason: "not among the members of its own config".into(),
            })
    }
}

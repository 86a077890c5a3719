//! Node identities: the public face of a node's keys, and the private files that stay with it.

use crate::{EngineError, NodeName, NodeRole, OrgName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The algorithm of a public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// Ed25519.
    Ed25519,
    /// ECDSA over NIST P-256.
    EcdsaP256,
    /// ECDSA over secp256k1 (Besu, FISCO BCOS non-SM).
    EcdsaSecp256k1,
    /// SM2.
    Sm2,
}

/// A public key: its algorithm and its canonical encoding for that engine, hex-encoded.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    /// The key's algorithm.
    pub algorithm: KeyAlgorithm,
    /// Lowercase hex of the key bytes (raw 32 bytes for Ed25519, SEC1 compressed or
    /// uncompressed points for the curves, as the engine documents).
    pub hex: String,
}

impl PublicKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(algorithm: KeyAlgorithm, bytes: &[u8]) -> Self {
        PublicKey {
            algorithm,
            hex: hex::encode(bytes),
        }
    }

    /// The raw key bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EngineError> {
        hex::decode(&self.hex).map_err(|e| EngineError::Key(format!("public key hex: {e}")))
    }
}

/// A node's identity on the engine's peer-to-peer network (libp2p peer id, enode key, FISCO
/// node id...), derived by the engine from the node's keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct PeerId(pub String);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything the platform and other nodes may know about a node. Safe to publish.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeIdentity {
    /// The node's name, unique in the network.
    pub node: NodeName,
    /// The organisation (member) that runs it.
    pub org: OrgName,
    /// Validator or observer.
    pub role: NodeRole,
    /// The key that signs consensus messages (votes, proposals) and, for the built-in engine,
    /// authenticates the node to its peers.
    pub consensus_key: PublicKey,
    /// The node's peer-to-peer identity.
    pub peer_id: PeerId,
    /// Voting power; 1 for every validator unless the consortium agrees otherwise, 0 for
    /// observers.
    pub voting_power: u64,
}

/// The name of a private file a node keeps (`node.key`, `tls.key`...). Runtimes store each one
/// as a Secret key (Kubernetes) or a 0600 file (local) under this name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

impl SecretName {
    /// Validates a secret file name: what a Kubernetes Secret key allows, without path parts.
    pub fn new(s: impl Into<String>) -> Result<Self, EngineError> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= 253
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(SecretName(s))
        } else {
            Err(EngineError::Key(format!("invalid secret file name {s:?}")))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretName {
    type Error = EngineError;
    fn try_from(s: String) -> Result<Self, EngineError> {
        SecretName::new(s)
    }
}

impl From<SecretName> for String {
    fn from(n: SecretName) -> String {
        n.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node's private files, by name. Never logged, never sent to the platform.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeSecrets(pub BTreeMap<SecretName, Vec<u8>>);

impl fmt::Debug for NodeSecrets {
    // Names only: key material must never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// What [`crate::Engine::generate_node_keys`] returns.
#[derive(Clone, Debug)]
pub struct GeneratedNode {
    /// The public identity, to publish.
    pub identity: NodeIdentity,
    /// The private files, to keep where the node runs.
    pub secrets: NodeSecrets,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_have_no_path_parts() {
        assert!(SecretName::new("node.key").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(SecretName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_never_print_their_bytes() {
        let mut s = NodeSecrets::default();
        s.0.insert(SecretName::new("node.key").unwrap(), b"TOPSECRET".to_vec());
        let printed = format!("{s:?}");
        assert!(printed.contains("node.key"));
        assert!(!printed.contains("TOPSECRET"));
    }

    #[test]
    fn public_keys_round_trip() {
        let k = PublicKey::from_bytes(KeyAlgorithm::Ed25519, &[1, 2, 255]);
        assert_eq!(k.hex, "0102ff");
        assert_eq!(k.to_bytes().unwrap(), vec![1, 2, 255]);
        let bad = PublicKey {
            algorithm: KeyAlgorithm::Ed25519,
            hex: "zz".into(),
        };
        assert_eq!(bad.to_bytes().unwrap_err().code(), "KEY_MATERIAL");
    }
}

//! Node identities: keys generated in the cluster by the engine and kept in one Secret per
//! node, created once and never changed (a second controller, or a restarted one, finds the
//! existing Secret and uses it: keys are never generated twice for a node).

use crate::crd::NodeIdentityStatus;
use crate::labels;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;
use yuelu_engine::{GeneratedNode, NodeIdentity, NodeSecrets, SecretName};

/// Why a node-key Secret cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    /// The identity annotation is missing or unreadable.
    #[error("secret {secret}: identity annotation: {reason}")]
    Identity {
        /// The Secret.
        secret: String,
        /// Why.
        reason: String,
    },
    /// A key name in the Secret is not a valid secret file name.
    #[error("secret {secret}: {reason}")]
    KeyName {
        /// The Secret.
        secret: String,
        /// Why.
        reason: String,
    },
}

impl IdentityError {
    /// Stable CamelCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            IdentityError::Identity { .. } => "NodeKeyIdentityInvalid",
            IdentityError::KeyName { .. } => "NodeKeySecretInvalid",
        }
    }
}

/// A node's keys as read back from its Secret.
#[derive(Clone, Debug)]
pub struct NodeKeys {
    /// The public identity.
    pub identity: NodeIdentity,
    /// The private files.
    pub secrets: NodeSecrets,
}

/// The Secret that keeps a freshly generated node's keys. Immutable: keys never change.
pub fn key_secret(
    generated: &GeneratedNode,
    namespace: &str,
    labels: BTreeMap<String, String>,
    owner: OwnerReference,
) -> Result<Secret, serde_json::Error> {
    let node = generated.identity.node.as_str();
    let mut labels = labels;
    labels.insert(labels::LABEL_NODE.into(), node.into());
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(labels::node_key_secret(node)),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                labels::ANNOTATION_IDENTITY.to_owned(),
                serde_json::to_string(&generated.identity)?,
            )])),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        immutable: Some(true),
        data: Some(
            generated
                .secrets
                .0
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), ByteString(v.clone())))
                .collect(),
        ),
        type_: Some("Opaque".into()),
        ..Secret::default()
    })
}

/// Reads a node's identity and private files back from its Secret.
pub fn read_key_secret(secret: &Secret) -> Result<NodeKeys, IdentityError> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let raw = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(labels::ANNOTATION_IDENTITY))
        .ok_or_else(|| IdentityError::Identity {
            secret: name.clone(),
            reason: "missing".into(),
        })?;
    let identity: NodeIdentity =
        serde_json::from_str(raw).map_err(|e| IdentityError::Identity {
            secret: name.clone(),
            reason: e.to_string(),
        })?;
    let mut secrets = NodeSecrets::default();
    for (k, v) in secret.data.iter().flatten() {
        let key = SecretName::new(k.clone()).map_err(|e| IdentityError::KeyName {
            secret: name.clone(),
            reason: e.to_string(),
        })?;
        secrets.0.insert(key, v.0.clone());
    }
    Ok(NodeKeys { identity, secrets })
}

/// What the member status publishes of an identity.
pub fn published(identity: &NodeIdentity) -> NodeIdentityStatus {
    NodeIdentityStatus {
        peer_id: identity.peer_id.clone(),
        consensus_key: identity.consensus_key.clone(),
        voting_power: identity.voting_power,
    }
}

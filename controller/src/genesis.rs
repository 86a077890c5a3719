//! The genesis: computed once from the founding members' validator identities, stored in an
//! immutable ConfigMap owned by the network, its hash in the network's status. Pure helpers;
//! the network reconciler calls the engine and creates the ConfigMap.

use crate::crd::{ChainMember, ChainNetwork};
use crate::labels;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;
use yuelu_engine::{Genesis, NodeIdentity, NodeName, NodeRole, OrgName, RelPath};

/// Annotation: the genesis files' keys and their paths (JSON object key → path).
pub const ANNOTATION_FILES: &str = "yuelu.io/genesis-files";
/// Annotation: the genesis time, Unix milliseconds.
pub const ANNOTATION_TIME: &str = "yuelu.io/genesis-time-unix-ms";
/// Annotation: the founding validators' node names, comma-separated.
pub const ANNOTATION_VALIDATORS: &str = "yuelu.io/genesis-validators";

/// Why a stored genesis cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenesisError {
    /// Annotations or keys are missing or malformed.
    #[error("genesis ConfigMap {name}: {reason}")]
    Malformed {
        /// The ConfigMap.
        name: String,
        /// Why.
        reason: String,
    },
    /// The files do not hash to the recorded hash: somebody changed them.
    #[error("genesis ConfigMap {name}: files hash to {actual}, recorded {recorded}")]
    HashMismatch {
        /// The ConfigMap.
        name: String,
        /// What the annotation says.
        recorded: String,
        /// What the files give.
        actual: String,
    },
}

impl GenesisError {
    /// Stable CamelCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            GenesisError::Malformed { .. } => "GenesisMalformed",
            GenesisError::HashMismatch { .. } => "GenesisTampered",
        }
    }
}

/// A genesis as stored, with what it was computed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredGenesis {
    /// The files and hash.
    pub genesis: Genesis,
    /// Genesis time.
    pub time_unix_ms: u64,
    /// Founding validators' node names, sorted.
    pub validators: Vec<String>,
}

/// The immutable ConfigMap holding a genesis. UTF-8 files go to `data` (readable with kubectl),
/// others to `binaryData`.
pub fn config_map(
    stored: &StoredGenesis,
    name: String,
    namespace: &str,
    labels: BTreeMap<String, String>,
    owner: Option<OwnerReference>,
) -> ConfigMap {
    let mut data = BTreeMap::new();
    let mut binary = BTreeMap::new();
    let mut files = BTreeMap::new();
    for (path, bytes) in &stored.genesis.files {
        let key = labels::shared_key(path.as_str());
        files.insert(key.clone(), path.as_str().to_owned());
        match String::from_utf8(bytes.clone()) {
            Ok(s) => {
                data.insert(key, s);
            }
            Err(_) => {
                binary.insert(key, ByteString(bytes.clone()));
            }
        }
    }
    let annotations = BTreeMap::from([
        (
            labels::ANNOTATION_GENESIS_HASH.to_owned(),
            stored.genesis.hash.0.clone(),
        ),
        (ANNOTATION_TIME.to_owned(), stored.time_unix_ms.to_string()),
        (
            ANNOTATION_VALIDATORS.to_owned(),
            stored.validators.join(","),
        ),
        (
            ANNOTATION_FILES.to_owned(),
            serde_json::Value::from(
                files
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect::<serde_json::Map<_, _>>(),
            )
            .to_string(),
        ),
    ]);
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace.to_owned()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        immutable: Some(true),
        data: (!data.is_empty()).then_some(data),
        binary_data: (!binary.is_empty()).then_some(binary),
    }
}

/// Reads a genesis back from its ConfigMap and checks the files against the recorded hash.
pub fn read(cm: &ConfigMap) -> Result<StoredGenesis, GenesisError> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    let malformed = |reason: String| GenesisError::Malformed {
        name: name.clone(),
        reason,
    };
    let ann = cm.metadata.annotations.clone().unwrap_or_default();
    let get = |k: &str| {
        ann.get(k)
            .cloned()
            .ok_or_else(|| malformed(format!("annotation {k} missing")))
    };
    let recorded = get(labels::ANNOTATION_GENESIS_HASH)?;
    let time_unix_ms: u64 = get(ANNOTATION_TIME)?
        .parse()
        .map_err(|e| malformed(format!("{ANNOTATION_TIME}: {e}")))?;
    let validators: Vec<String> = get(ANNOTATION_VALIDATORS)?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let files: BTreeMap<String, String> = serde_json::from_str(&get(ANNOTATION_FILES)?)
        .map_err(|e| malformed(format!("{ANNOTATION_FILES}: {e}")))?;
    let mut out = BTreeMap::new();
    for (key, path) in files {
        let bytes = cm
            .data
            .as_ref()
            .and_then(|d| d.get(&key))
            .map(|s| s.clone().into_bytes())
            .or_else(|| {
                cm.binary_data
                    .as_ref()
                    .and_then(|d| d.get(&key))
                    .map(|b| b.0.clone())
            })
            .ok_or_else(|| malformed(format!("key {key} missing")))?;
        let path = RelPath::new(path).map_err(|e| malformed(e.to_string()))?;
        out.insert(path, bytes);
    }
    let genesis = Genesis::from_files(out);
    if genesis.hash.0 != recorded {
        return Err(GenesisError::HashMismatch {
            name,
            recorded,
            actual: genesis.hash.0,
        });
    }
    Ok(StoredGenesis {
        genesis,
        time_unix_ms,
        validators,
    })
}

/// The node identities a member has published in its status (empty before its keys exist).
pub fn member_identities(member: &ChainMember) -> Vec<NodeIdentity> {
    let Ok(org) = OrgName::new(member.spec.organization.clone()) else {
        return Vec::new();
    };
    member
        .status
        .iter()
        .flat_map(|s| s.nodes.iter())
        .filter_map(|n| {
            Some(NodeIdentity {
                node: NodeName::new(n.name.clone()).ok()?,
                org: org.clone(),
                role: n.role,
                consensus_key: n.identity.consensus_key.clone(),
                peer_id: n.identity.peer_id.clone(),
                voting_power: n.identity.voting_power,
            })
        })
        .collect()
}

/// Why the genesis cannot be computed yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// No member references the network.
    NoMembers,
    /// A founder named in the spec does not exist.
    FounderMissing(String),
    /// A member has not published all its validators' identities for its current spec.
    Identities(String),
    /// The founders have no validators at all.
    NoValidators,
}

impl Waiting {
    /// For the GenesisReady condition.
    pub fn message(&self) -> String {
        match self {
            Waiting::NoMembers => "waiting for members".into(),
            Waiting::FounderMissing(m) => format!("waiting for founding member {m}"),
            Waiting::Identities(m) => {
                format!("waiting for member {m} to publish its validator identities")
            }
            Waiting::NoValidators => "the founding members have no validators".into(),
        }
    }
}

/// The founding validators' identities, once every founder has published all of them for its
/// current spec. Founders are `spec.founders`, or every member when that is empty.
pub fn founding_validators(
    net: &ChainNetwork,
    members: &[&ChainMember],
) -> Result<Vec<NodeIdentity>, Waiting> {
    let key = |m: &ChainMember| {
        (
            m.metadata.namespace.clone().unwrap_or_default(),
            m.metadata.name.clone().unwrap_or_default(),
        )
    };
    let founders: Vec<&ChainMember> = if net.spec.founders.is_empty() {
        if members.is_empty() {
            return Err(Waiting::NoMembers);
        }
        members.to_vec()
    } else {
        let mut out = Vec::new();
        for (ns, name) in net.founders() {
            let m = members
                .iter()
                .find(|m| key(m) == (ns.clone(), name.clone()))
                .ok_or_else(|| Waiting::FounderMissing(format!("{ns}/{name}")))?;
            out.push(*m);
        }
        out
    };
    let mut validators = Vec::new();
    for m in founders {
        let (ns, name) = key(m);
        let current = m.status.as_ref().is_some_and(|s| {
            s.observed_generation == m.metadata.generation && s.observed_generation.is_some()
        });
        let ids: Vec<NodeIdentity> = member_identities(m)
            .into_iter()
            .filter(|i| i.role == NodeRole::Validator)
            .collect();
        if !current || ids.len() != m.spec.validators as usize {
            return Err(Waiting::Identities(format!("{ns}/{name}")));
        }
        validators.extend(ids);
    }
    if validators.is_empty() {
        return Err(Waiting::NoValidators);
    }
    validators.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(validators)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> StoredGenesis {
        let files = BTreeMap::from([
            (RelPath::new("genesis.json").unwrap(), b"{\"a\":1}".to_vec()),
            (RelPath::new("bin/raw").unwrap(), vec![0xff, 0x00, 0xfe]),
        ]);
        StoredGenesis {
            genesis: Genesis::from_files(files),
            time_unix_ms: 1_700_000_000_000,
            validators: vec!["a-validator-0".into(), "a-validator-1".into()],
        }
    }

    #[test]
    fn genesis_round_trips_through_its_config_map() {
        let s = stored();
        let cm = config_map(&s, "net-genesis".into(), "ns", BTreeMap::new(), None);
        assert_eq!(cm.immutable, Some(true));
        assert!(cm.data.as_ref().unwrap().contains_key("genesis.json"));
        assert!(cm.binary_data.as_ref().unwrap().contains_key("bin_raw"));
        assert_eq!(read(&cm).unwrap(), s);
    }

    #[test]
    fn a_changed_genesis_is_detected() {
        let s = stored();
        let mut cm = config_map(&s, "net-genesis".into(), "ns", BTreeMap::new(), None);
        cm.data
            .as_mut()
            .unwrap()
            .insert("genesis.json".into(), "{\"a\":2}".into());
        let err = read(&cm).unwrap_err();
        assert_eq!(err.reason(), "GenesisTampered");
    }
}

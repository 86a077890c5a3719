//! Names and labels of everything the controller creates. Pure.
//!
//! A member's children are named after the member (unique in its namespace); a node is named
//! after its pod, `<member>-<role>-<ordinal>`, which the StatefulSet of that role gives it.

use std::collections::BTreeMap;
use yuelu_engine::NodeRole;

/// `app.kubernetes.io/managed-by` value on every child; watches select on it.
pub const MANAGED_BY: &str = "yuelu-controller";
/// Label key: who manages the object.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Label key: what the object is (`node`, `genesis`, `node-key`, ...).
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// Label key: the network (name) an object belongs to.
pub const LABEL_NETWORK: &str = "yuelu.io/network";
/// Label key: the network's namespace.
pub const LABEL_NETWORK_NAMESPACE: &str = "yuelu.io/network-namespace";
/// Label key: the member (name, in the object's namespace) an object belongs to.
pub const LABEL_MEMBER: &str = "yuelu.io/member";
/// Label key: the node role of a StatefulSet or pod.
pub const LABEL_ROLE: &str = "yuelu.io/role";
/// Label key: the node a per-node object belongs to.
pub const LABEL_NODE: &str = "yuelu.io/node";
/// Annotation key: hash of the desired object last applied; unchanged hash, nothing to write.
pub const ANNOTATION_DESIRED_HASH: &str = "yuelu.io/desired-hash";
/// Annotation key: the node identity (JSON) on a node-key Secret.
pub const ANNOTATION_IDENTITY: &str = "yuelu.io/identity";
/// Annotation key on a genesis ConfigMap: its hash.
pub const ANNOTATION_GENESIS_HASH: &str = "yuelu.io/genesis-hash";
/// Annotation key on a pod template: hash of its configuration, so that a change rolls pods.
pub const ANNOTATION_CONFIG_HASH: &str = "yuelu.io/config-hash";

/// Selector of every member child (node keys included): what the member watches select on.
pub const MEMBER_CHILDREN_SELECTOR: &str =
    "app.kubernetes.io/managed-by=yuelu-controller,yuelu.io/member";
/// Selector of every network child (the genesis ConfigMap).
pub const NETWORK_CHILDREN_SELECTOR: &str =
    "app.kubernetes.io/managed-by=yuelu-controller,!yuelu.io/member,yuelu.io/network";

/// Component of node pods and their StatefulSets.
pub const COMPONENT_NODE: &str = "node";
/// Component of genesis ConfigMaps.
pub const COMPONENT_GENESIS: &str = "genesis";
/// Component of node-key Secrets (created once, never changed, never orphan-collected).
pub const COMPONENT_NODE_KEY: &str = "node-key";
/// Component of per-role configuration ConfigMaps.
pub const COMPONENT_CONFIG: &str = "config";
/// Component of per-role certificate Secrets.
pub const COMPONENT_CERTIFICATES: &str = "certificates";
/// Component of the CA bundle ConfigMap.
pub const COMPONENT_CA_BUNDLE: &str = "ca-bundle";
/// Component of the headless Service, NetworkPolicy and PodDisruptionBudget.
pub const COMPONENT_NETWORKING: &str = "networking";

/// Longest member name: node names `<member>-validator-NN` must stay DNS labels (63).
pub const MAX_MEMBER_NAME: usize = 63 - "-validator-".len() - 2;

/// The genesis ConfigMap of a network, in the network's namespace. Distinct from a member's
/// copy (`<member>-genesis`) even when a network and a member share a name and namespace.
pub fn network_genesis(network: &str) -> String {
    format!("{network}-network-genesis")
}

/// The member's copy of the genesis, in the member's namespace (pods mount only their own
/// namespace's ConfigMaps).
pub fn member_genesis(member: &str) -> String {
    format!("{member}-genesis")
}

/// The StatefulSet of a role.
pub fn statefulset(member: &str, role: NodeRole) -> String {
    format!("{member}-{}", role.as_str())
}

/// A node's name (and its pod's).
pub fn node(member: &str, role: NodeRole, ordinal: u32) -> String {
    format!("{member}-{}-{ordinal}", role.as_str())
}

/// The headless Service of a member's nodes.
pub fn headless_service(member: &str) -> String {
    format!("{member}-nodes")
}

/// A node's key Secret.
pub fn node_key_secret(node: &str) -> String {
    format!("{node}-key")
}

/// The configuration ConfigMap of a role (every node's inline files).
pub fn role_config(member: &str, role: NodeRole) -> String {
    format!("{member}-{}-config", role.as_str())
}

/// The certificate Secret of a role (every node's issued certificates).
pub fn role_certificates(member: &str, role: NodeRole) -> String {
    format!("{member}-{}-certs", role.as_str())
}

/// The CA bundle ConfigMap of a member.
pub fn ca_bundle(member: &str) -> String {
    format!("{member}-ca-bundle")
}

/// The NetworkPolicy and PodDisruptionBudget of a member.
pub fn member_policy(member: &str) -> String {
    format!("{member}-nodes")
}

/// The DNS name other nodes reach a node at.
pub fn node_host(node: &str, member: &str, namespace: &str, cluster_domain: &str) -> String {
    format!(
        "{node}.{}.{namespace}.svc.{cluster_domain}",
        headless_service(member)
    )
}

/// Labels every child of a member carries.
pub fn member_labels(
    network_ns: &str,
    network: &str,
    member: &str,
    component: &str,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.into(), MANAGED_BY.into()),
        (LABEL_COMPONENT.into(), component.into()),
        (LABEL_NETWORK.into(), network.into()),
        (LABEL_NETWORK_NAMESPACE.into(), network_ns.into()),
        (LABEL_MEMBER.into(), member.into()),
        ("app.kubernetes.io/name".into(), "yuelu-node".into()),
    ])
}

/// The labels that select a role's pods.
pub fn pod_selector(member: &str, role: NodeRole) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MEMBER.into(), member.into()),
        (LABEL_ROLE.into(), role.as_str().into()),
        (LABEL_COMPONENT.into(), COMPONENT_NODE.into()),
    ])
}

/// Labels of the network's own children.
pub fn network_labels(
    network_ns: &str,
    network: &str,
    component: &str,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.into(), MANAGED_BY.into()),
        (LABEL_COMPONENT.into(), component.into()),
        (LABEL_NETWORK.into(), network.into()),
        (LABEL_NETWORK_NAMESPACE.into(), network_ns.into()),
    ])
}

/// A ConfigMap/Secret key for a node's file: `<node>.<path with / as _>`. Keys allow
/// `[-._a-zA-Z0-9]`; plan paths are relative paths of the same characters plus `/`.
pub fn file_key(node: &str, path: &str) -> String {
    format!("{node}.{}", path.replace('/', "_"))
}

/// A ConfigMap/Secret key for a file shared by all nodes.
pub fn shared_key(path: &str) -> String {
    path.replace('/', "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use yuelu_engine::NodeName;

    #[test]
    fn a_network_and_a_member_of_one_name_own_different_config_maps() {
        // Both live in one namespace in the single-organisation example.
        assert_ne!(network_genesis("demo"), member_genesis("demo"));
    }

    #[test]
    fn longest_member_names_still_make_dns_label_node_names() {
        let m = "m".repeat(MAX_MEMBER_NAME);
        for role in [NodeRole::Validator, NodeRole::Observer] {
            assert!(NodeName::new(node(&m, role, 31)).is_ok());
        }
        assert_eq!(node("org1", NodeRole::Validator, 0), "org1-validator-0");
        assert_eq!(file_key("n0", "config/node.json"), "n0.config_node.json");
    }
}

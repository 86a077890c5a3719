//! Two controller replicas on a real kube-apiserver: only the Lease holder writes; a leader
//! stopped mid-way is replaced, and the new leader converges without duplicate keys, genesis
//! or children.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams};
use std::collections::BTreeMap;
use std::time::Duration;
use yuelu_controller::crd::{ChainMember, ChainNetwork};

const T: Duration = Duration::from_secs(90);

async fn leader_of(r: &Replica) -> f64 {
    r.metric("yuelu_controller_leader", "")
        .await
        .unwrap_or(-1.0)
}

async fn holder(env: &Env) -> Option<String> {
    Api::<Lease>::namespaced(env.admin.clone(), CONTROLLER_NS)
        .get_opt("yuelu-controller")
        .await
        .unwrap()
        .and_then(|l| l.spec?.holder_identity)
}

/// Node name → public key, from the node-key Secrets of a namespace.
async fn node_keys(env: &Env, ns: &str) -> BTreeMap<String, String> {
    let secrets: Api<Secret> = Api::namespaced(env.admin.clone(), ns);
    secrets
        .list(&ListParams::default().labels("app.kubernetes.io/component=node-key"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| {
            let id: serde_json::Value =
                serde_json::from_str(&s.metadata.annotations.unwrap()["yuelu.io/identity"])
                    .unwrap();
            (
                id["node"].as_str().unwrap().to_owned(),
                id["consensusKey"]["hex"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_and_a_restart_converges_without_duplicates() {
    let env = setup(false).await;
    let a = start_replica(&env, "replica-a", 300);
    wait_for("replica-a to lead", T, || async {
        (leader_of(&a).await == 1.0).then_some(())
    })
    .await;
    let b = start_replica(&env, "replica-b", 300);
    // b serves /healthz and /metrics but waits: it never leads while a holds the Lease.
    wait_for("replica-b to serve", T, || async {
        (leader_of(&b).await == 0.0).then_some(())
    })
    .await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!((leader_of(&a).await, leader_of(&b).await), (1.0, 0.0));
        assert_eq!(holder(&env).await.as_deref(), Some("replica-a"));
    }
    let (code, _) = http_get(b.addr, "/healthz").await;
    assert_eq!(code, 200);

    // A consortium; stop the leader as soon as the first node keys exist (mid-way).
    kubectl_apply_file(&env, "examples/consortium.yaml");
    wait_for("the first node keys", T, || async {
        (!node_keys(&env, "org-a").await.is_empty()).then_some(())
    })
    .await;
    let keys_at_stop = node_keys(&env, "org-a").await;
    drop(a);

    // b takes over and converges.
    wait_for("replica-b to lead", T, || async {
        (leader_of(&b).await == 1.0).then_some(())
    })
    .await;
    assert_eq!(holder(&env).await.as_deref(), Some("replica-b"));
    let networks: Api<ChainNetwork> = Api::namespaced(env.admin.clone(), "consortium");
    let genesis = wait_for("the consortium genesis", T, || async {
        networks.get("supply-chain").await.unwrap().status?.genesis
    })
    .await;
    for (ns, name, nodes) in [("org-a", "org-a", 3), ("org-b", "org-b", 2)] {
        let members: Api<ChainMember> = Api::namespaced(env.admin.clone(), ns);
        let m = wait_for("members provisioned", T, || async {
            let m = members.get(name).await.unwrap();
            let s = m.status.clone()?;
            (s.nodes.len() == nodes
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "Provisioned" && c.status == "True"))
            .then_some(m)
        })
        .await;
        // One key per node, and the identities published are those of the stored keys.
        let keys = node_keys(&env, ns).await;
        assert_eq!(keys.len(), nodes, "{keys:?}");
        for n in &m.status.unwrap().nodes {
            assert_eq!(keys[&n.name], n.identity.consensus_key.hex, "{}", n.name);
        }
        // One StatefulSet per role.
        let sts: Api<StatefulSet> = Api::namespaced(env.admin.clone(), ns);
        let mut roles: Vec<String> = sts
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|s| s.metadata.name.unwrap())
            .collect();
        roles.sort();
        let want: Vec<String> = if nodes == 3 {
            vec!["org-a-observer".into(), "org-a-validator".into()]
        } else {
            vec!["org-b-validator".into()]
        };
        assert_eq!(roles, want);
    }
    // Keys made before the stop were kept, not regenerated.
    let now = node_keys(&env, "org-a").await;
    for (node, key) in &keys_at_stop {
        assert_eq!(now.get(node), Some(key), "{node} changed its key");
    }
    // Exactly one genesis ConfigMap, matching the status.
    let cms: Api<ConfigMap> = Api::namespaced(env.admin.clone(), "consortium");
    let genesis_cms = cms
        .list(&ListParams::default().labels("app.kubernetes.io/component=genesis"))
        .await
        .unwrap()
        .items;
    assert_eq!(genesis_cms.len(), 1);
    assert_eq!(
        genesis_cms[0].metadata.annotations.as_ref().unwrap()["yuelu.io/genesis-hash"],
        genesis.hash
    );

    // Every event after the hand-over comes from the new leader; the stopped one wrote none
    // after it stopped, and b wrote none before it led.
    let events = events_for(&env, "org-b", "org-b").await;
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e.3 == "replica-a" || e.3 == "replica-b"),
        "{events:?}"
    );

    // A third replica started while b leads stays a follower; b's metrics show its writes.
    let c = start_replica(&env, "replica-c", 300);
    wait_for("replica-c to serve", T, || async {
        (leader_of(&c).await == 0.0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!((leader_of(&b).await, leader_of(&c).await), (1.0, 0.0));
    // The follower neither reconciles nor writes; the leader reconciles (and, having found
    // everything as it should be after the hand-over, may have had nothing to write).
    let c_metrics = c.metrics().await;
    for m in [
        "yuelu_controller_reconciliations_total{",
        "yuelu_controller_status_writes_total{",
        "yuelu_controller_child_writes_total{",
    ] {
        assert!(!c_metrics.contains(m), "the follower has {m}");
    }
    assert!(
        b.metrics()
            .await
            .contains("yuelu_controller_reconciliations_total{")
    );
}

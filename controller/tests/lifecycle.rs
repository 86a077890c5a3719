//! The controller against a real kube-apiserver (with kube-controller-manager for garbage
//! collection), under exactly the chart's RBAC: create, status and events, spec changes,
//! invalid specs, a consortium with a late member, zero idle writes, and deletion.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use std::collections::BTreeMap;
use std::time::Duration;
use yuelu_controller::crd::{ChainMember, ChainNetwork, NetworkPhase};

const T: Duration = Duration::from_secs(90);

fn condition<'a>(
    c: &'a [k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    t: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    c.iter().find(|c| c.type_ == t)
}

async fn network(env: &Env, ns: &str, name: &str) -> ChainNetwork {
    Api::<ChainNetwork>::namespaced(env.admin.clone(), ns)
        .get(name)
        .await
        .unwrap()
}

async fn member(env: &Env, ns: &str, name: &str) -> ChainMember {
    Api::<ChainMember>::namespaced(env.admin.clone(), ns)
        .get(name)
        .await
        .unwrap()
}

/// Every object the controller wrote in `namespaces`, by kind/namespace/name → resourceVersion.
async fn resource_versions(env: &Env, namespaces: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for ns in namespaces {
        macro_rules! collect {
            ($ty:ty) => {
                for o in Api::<$ty>::namespaced(env.admin.clone(), ns)
                    .list(&Default::default())
                    .await
                    .unwrap()
                {
                    out.insert(
                        format!("{}/{ns}/{}", stringify!($ty), o.name_any()),
                        o.resource_version().unwrap_or_default(),
                    );
                }
            };
        }
        collect!(ChainNetwork);
        collect!(ChainMember);
        collect!(ConfigMap);
        collect!(Secret);
        collect!(Service);
        collect!(StatefulSet);
        collect!(NetworkPolicy);
    }
    out
}

fn pdb_api() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget"),
        "poddisruptionbudgets",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_a_real_apiserver() {
    let env = setup(true).await;
    let replica = start_replica(&env, "replica-a", 2);

    // --- create: the single-organisation example, applied as an SRE would ---------------------
    kubectl_apply_file(&env, "examples/single-org-network.yaml");
    let ns = "yuelu-demo";
    let net = wait_for("the demo genesis and Provisioning phase", T, || async {
        let n = network(&env, ns, "demo").await;
        let s = n.status.clone()?;
        (s.genesis_hash.is_some() && s.phase == NetworkPhase::Provisioning).then_some(n)
    })
    .await;
    let st = net.status.clone().unwrap();
    assert_eq!(st.validators, 4);
    assert_eq!(st.members, 1);
    assert_eq!(st.ready, "0/4");
    let genesis = st.genesis.clone().unwrap();
    assert_eq!(genesis.validators.len(), 4);
    assert_eq!(st.genesis_hash.as_deref(), Some(genesis.hash.as_str()));
    for t in ["Ready", "GenesisReady", "Degraded"] {
        let c = condition(&st.conditions, t).unwrap_or_else(|| panic!("no {t} condition"));
        assert_eq!(c.observed_generation, net.metadata.generation, "{t}");
    }
    assert_eq!(
        condition(&st.conditions, "GenesisReady").unwrap().status,
        "True"
    );
    // No scheduler, no kubelet: pods never run, so the network waits for its validators.
    assert_eq!(condition(&st.conditions, "Ready").unwrap().status, "False");

    // Children: owned by the member, with the plan's shape.
    let m = wait_for("member provisioned", T, || async {
        let m = member(&env, ns, "org1").await;
        let ok = m.status.as_ref().is_some_and(|s| {
            condition(&s.conditions, "Provisioned").is_some_and(|c| c.status == "True")
                && s.nodes.len() == 4
        });
        ok.then_some(m)
    })
    .await;
    let uid = m.uid().unwrap();
    let owned = |refs: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference]| {
        refs.iter()
            .any(|r| r.uid == uid && r.kind == "ChainMember" && r.controller == Some(true))
    };
    let sts_api: Api<StatefulSet> = Api::namespaced(env.admin.clone(), ns);
    let sts = sts_api.get("org1-validator").await.unwrap();
    assert!(owned(sts.owner_references()));
    let spec = sts.spec.clone();
    assert_eq!(spec.replicas, Some(4));
    assert_eq!(spec.service_name.as_deref(), Some("org1-nodes"));
    let c = &spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(c.args.as_ref().unwrap()[0], "node");
    assert!(
        c.ports
            .as_ref()
            .unwrap()
            .iter()
            .all(|p| p.protocol.as_deref() == Some("TCP"))
    );
    assert!(c.readiness_probe.as_ref().unwrap().http_get.is_some());
    assert_eq!(names::<StatefulSet>(&env, ns).await, vec!["org1-validator"]);
    let svc = Api::<Service>::namespaced(env.admin.clone(), ns)
        .get("org1-nodes")
        .await
        .unwrap();
    assert!(owned(svc.owner_references()));
    assert_eq!(
        svc.spec.as_ref().unwrap().cluster_ip.as_deref(),
        Some("None")
    );
    let secrets = names::<Secret>(&env, ns).await;
    for i in 0..4 {
        assert!(
            secrets.contains(&format!("org1-validator-{i}-key")),
            "{secrets:?}"
        );
    }
    assert!(secrets.contains(&"org1-validator-certs".to_owned()));
    let cms = names::<ConfigMap>(&env, ns).await;
    for want in ["org1-genesis", "org1-validator-config", "org1-ca-bundle"] {
        assert!(cms.contains(&want.to_owned()), "{cms:?}");
    }
    let np = Api::<NetworkPolicy>::namespaced(env.admin.clone(), ns)
        .get("org1-nodes")
        .await
        .unwrap();
    assert!(owned(np.owner_references()));
    let pdb = Api::<DynamicObject>::namespaced_with(env.admin.clone(), ns, &pdb_api())
        .get("org1-nodes")
        .await
        .unwrap();
    assert!(owned(pdb.owner_references()));
    // Member status: identities, certificates, conditions.
    let ms = m.status.clone().unwrap();
    assert_eq!(ms.ready, "0/4");
    assert_eq!(ms.genesis_hash.as_deref(), Some(genesis.hash.as_str()));
    for n in &ms.nodes {
        assert!(!n.ready);
        assert!(n.certificate_not_after.is_some() && n.certificate_serial.is_some());
        assert!(!n.identity.peer_id.0.is_empty());
    }
    assert_eq!(
        condition(&ms.conditions, "Admitted").unwrap().status,
        "True"
    );
    // The member copy of the genesis is byte-identical.
    let g_net = Api::<ConfigMap>::namespaced(env.admin.clone(), ns)
        .get("demo-network-genesis")
        .await
        .unwrap();
    let g_mem = Api::<ConfigMap>::namespaced(env.admin.clone(), ns)
        .get("org1-genesis")
        .await
        .unwrap();
    assert_eq!(g_net.data, g_mem.data);
    assert_eq!(g_net.immutable, Some(true));
    // Events for the transitions, all from the one replica.
    let ev = events_for(&env, ns, "demo").await;
    assert!(
        ev.iter()
            .any(|e| e.1 == "GenesisComputed" && e.0 == "Normal"),
        "{ev:?}"
    );
    wait_for("the ChildrenApplied event", T, || async {
        events_for(&env, ns, "org1")
            .await
            .into_iter()
            .find(|e| e.1 == "ChildrenApplied")
    })
    .await;
    let ev = events_for(&env, ns, "org1").await;
    for reason in ["NodeKeysGenerated", "CertificatesIssued", "ChildrenApplied"] {
        assert!(
            ev.iter().any(|e| e.1 == reason),
            "{reason} missing in {ev:?}"
        );
    }
    assert!(ev.iter().all(|e| e.3 == "replica-a"));
    // `kubectl get` shows the printer columns.
    let table = env.cluster.kubectl_ok(&["get", "cnet,cmem", "-A"]);
    for col in [
        "ENGINE",
        "CONSENSUS",
        "VALIDATORS",
        "READY",
        "HEIGHT",
        "PHASE",
        "AGE",
        "Provisioning",
        "0/4",
    ] {
        assert!(table.contains(col), "{col} missing in\n{table}");
    }

    // --- zero writes while idle: several resyncs (2 s each) change nothing -------------------
    let before = resource_versions(&env, &[ns]).await;
    let writes_before = replica
        .metric(
            "yuelu_controller_reconciliations_total",
            "kind=\"ChainMember\"",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let after = resource_versions(&env, &[ns]).await;
    assert_eq!(before, after, "idle resyncs changed objects");
    let writes_after = replica
        .metric(
            "yuelu_controller_reconciliations_total",
            "kind=\"ChainMember\"",
        )
        .await
        .unwrap();
    assert!(
        writes_after >= writes_before + 3.0,
        "resyncs ran: {writes_before} → {writes_after}"
    );

    // --- a spec change updates the children -------------------------------------------------
    let members: Api<ChainMember> = Api::namespaced(env.admin.clone(), ns);
    members
        .patch(
            "org1",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"observers": 1}})),
        )
        .await
        .unwrap();
    wait_for("the observer StatefulSet", T, || async {
        sts_api
            .get_opt("org1-observer")
            .await
            .unwrap()
            .filter(|s| s.spec.replicas == Some(1))
    })
    .await;
    // The validators' peer lists now include the observer: their configuration changed, and
    // the config hash on the pod template rolls them.
    let sts2 = sts_api.get("org1-validator").await.unwrap();
    let hash = |s: &StatefulSet| {
        s.spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()["yuelu.io/config-hash"]
            .clone()
    };
    assert_ne!(hash(&sts), hash(&sts2));
    // Back to no observers: the observer StatefulSet is deleted as an orphan, its key kept.
    members
        .patch(
            "org1",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"observers": 0}})),
        )
        .await
        .unwrap();
    wait_for("the observer StatefulSet to go", T, || async {
        sts_api
            .get_opt("org1-observer")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        names::<Secret>(&env, ns)
            .await
            .contains(&"org1-observer-0-key".to_owned())
    );

    // --- invalid specs: rejected by the schema ----------------------------------------------
    for (bad, why) in [
        (
            serde_json::json!({"engine": "yuelu", "version": "0.1", "consensus": "tendermint", "crypto": "rsa"}),
            "crypto",
        ),
        (
            serde_json::json!({"engine": "yuelu", "version": "0.1", "consensus": "tendermint", "crypto": "sm2", "block": {"intervalMs": 1}}),
            "intervalMs",
        ),
        (
            serde_json::json!({"engine": "yuelu", "consensus": "tendermint", "crypto": "sm2"}),
            "version",
        ),
    ] {
        let raw = serde_json::json!({
            "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainNetwork",
            "metadata": {"name": "bad", "namespace": ns}, "spec": bad
        });
        let out = env
            .cluster
            .kubectl_stdin(&["create", "-f", "-"], &raw.to_string());
        assert!(!out.status.success(), "{why}: accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{why}: {err}");
    }
    let bad_member = serde_json::json!({
        "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainMember",
        "metadata": {"name": "bad", "namespace": ns},
        "spec": {"network": {"name": "demo"}, "organization": "Not_A_Label", "validators": 99}
    });
    let out = env
        .cluster
        .kubectl_stdin(&["create", "-f", "-"], &bad_member.to_string());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("organization") && err.contains("validators"),
        "{err}"
    );

    // --- invalid for the engine: a condition and an event; others are not stalled -----------
    let networks: Api<ChainNetwork> = Api::namespaced(env.admin.clone(), ns);
    let unsupported: ChainNetwork = serde_json::from_value(serde_json::json!({
        "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainNetwork",
        "metadata": {"name": "future", "namespace": ns},
        "spec": {"engine": "yuelu", "version": "9.9", "consensus": "tendermint", "crypto": "ecdsa-p256"}
    }))
    .unwrap();
    networks
        .create(&PostParams::default(), &unsupported)
        .await
        .unwrap();
    let good: ChainNetwork = serde_json::from_value(serde_json::json!({
        "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainNetwork",
        "metadata": {"name": "second", "namespace": ns},
        "spec": {"engine": "yuelu", "version": "0.1", "consensus": "tendermint", "crypto": "sm2"}
    }))
    .unwrap();
    networks
        .create(&PostParams::default(), &good)
        .await
        .unwrap();
    let f = wait_for("the unsupported network to fail", T, || async {
        let n = network(&env, ns, "future").await;
        (n.status.as_ref()?.phase == NetworkPhase::Failed).then_some(n)
    })
    .await;
    let ready = condition(&f.status.as_ref().unwrap().conditions, "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready.reason, "EngineUnsupported");
    assert!(ready.message.contains("9.9"), "{}", ready.message);
    wait_for("a Warning event for EngineUnsupported", T, || async {
        events_for(&env, ns, "future")
            .await
            .into_iter()
            .find(|e| e.0 == "Warning" && e.1 == "EngineUnsupported")
    })
    .await;
    // The good one proceeds (Pending: it has no members yet).
    wait_for("the second network's status", T, || async {
        let n = network(&env, ns, "second").await;
        (n.status.as_ref()?.phase == NetworkPhase::Pending).then_some(())
    })
    .await;
    // A member of the failed network reports it, with a Warning event.
    let orphan_member: ChainMember = serde_json::from_value(serde_json::json!({
        "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainMember",
        "metadata": {"name": "lost", "namespace": ns},
        "spec": {"network": {"name": "nowhere"}, "organization": "lost", "validators": 1}
    }))
    .unwrap();
    members
        .create(&PostParams::default(), &orphan_member)
        .await
        .unwrap();
    wait_for("NetworkNotFound", T, || async {
        let m = member(&env, ns, "lost").await;
        condition(&m.status?.conditions, "Provisioned")
            .filter(|c| c.reason == "NetworkNotFound")
            .map(|_| ())
    })
    .await;
    wait_for("a Warning event for NetworkNotFound", T, || async {
        events_for(&env, ns, "lost")
            .await
            .into_iter()
            .find(|e| e.0 == "Warning" && e.1 == "NetworkNotFound")
    })
    .await;

    // --- a two-member consortium; a member added after the genesis ---------------------------
    kubectl_apply_file(&env, "examples/consortium.yaml");
    let c = wait_for("the consortium genesis", T, || async {
        let n = network(&env, "consortium", "supply-chain").await;
        n.status.as_ref()?.genesis.clone()
    })
    .await;
    assert_eq!(
        c.validators,
        vec![
            "org-a-validator-0",
            "org-a-validator-1",
            "org-b-validator-0",
            "org-b-validator-1"
        ]
    );
    let late: ChainMember = serde_json::from_value(serde_json::json!({
        "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainMember",
        "metadata": {"name": "org-c", "namespace": "org-c"},
        "spec": {"network": {"namespace": "consortium", "name": "supply-chain"}, "organization": "org-c", "validators": 1}
    }))
    .unwrap();
    namespace(&env, "org-c").await;
    Api::<ChainMember>::namespaced(env.admin.clone(), "org-c")
        .create(&PostParams::default(), &late)
        .await
        .unwrap();
    let admitted = wait_for("org-c's Admitted condition", T, || async {
        let m = member(&env, "org-c", "org-c").await;
        condition(&m.status?.conditions, "Admitted").cloned()
    })
    .await;
    assert_eq!(admitted.status, "False");
    assert_eq!(admitted.reason, "ValidatorSetChangeRequired");
    assert!(
        admitted.message.contains("governance transaction"),
        "{}",
        admitted.message
    );
    // The genesis did not change.
    let after = network(&env, "consortium", "supply-chain").await;
    assert_eq!(after.status.unwrap().genesis.unwrap().hash, c.hash);
    let table = env.cluster.kubectl_ok(&["get", "cnet", "-n", "consortium"]);
    assert!(
        table.contains("supply-chain") && table.contains("3"),
        "{table}"
    );

    // --- delete: the finalizer revokes certificates; the children go with the member ---------
    let serials: Vec<String> = m
        .status
        .as_ref()
        .unwrap()
        .nodes
        .iter()
        .filter_map(|n| n.certificate_serial.clone())
        .collect();
    assert_eq!(serials.len(), 4);
    members
        .delete("org1", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("the member to be gone", T, || async {
        members
            .get_opt("org1")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let issuer = Api::<Secret>::namespaced(env.admin.clone(), CONTROLLER_NS)
        .get("yuelu-dev-issuer")
        .await
        .unwrap();
    let revoked = String::from_utf8(issuer.data.unwrap()["revoked.txt"].0.clone()).unwrap();
    for s in &serials {
        assert!(
            revoked.contains(s.as_str()),
            "serial {s} not revoked: {revoked}"
        );
    }
    // kube-controller-manager's garbage collector removes every owned child.
    wait_for("garbage collection of the member's children", T, || async {
        let sts = names::<StatefulSet>(&env, ns).await;
        let secrets: Vec<String> = names::<Secret>(&env, ns)
            .await
            .into_iter()
            .filter(|s| s.starts_with("org1-"))
            .collect();
        let cms: Vec<String> = names::<ConfigMap>(&env, ns)
            .await
            .into_iter()
            .filter(|s| s.starts_with("org1-"))
            .collect();
        (sts.is_empty() && secrets.is_empty() && cms.is_empty()).then_some(())
    })
    .await;
    // The network reports it has no members left; its genesis stays.
    wait_for("the network to count 0 members", T, || async {
        let n = network(&env, ns, "demo").await;
        (n.status.as_ref()?.members == 0).then_some(())
    })
    .await;
    assert_eq!(
        network(&env, ns, "demo").await.status.unwrap().genesis_hash,
        Some(genesis.hash.clone())
    );

    // Health reflects watch progress.
    let (code, body) = http_get(replica.addr, "/healthz").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("chainmembers"), "{body}");
    let metrics = replica.metrics().await;
    for m in [
        "yuelu_controller_reconciliations_total",
        "yuelu_controller_reconcile_duration_seconds_bucket",
        "yuelu_controller_leader 1",
        "yuelu_controller_node_certificate_expiry_timestamp_seconds",
    ] {
        assert!(metrics.contains(m), "{m} missing from /metrics");
    }
    drop(replica);
}

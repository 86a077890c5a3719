//! Node certificates from the platform CA: the real platform (`yuelu up` as a process) and a
//! real kube-apiserver, the controller under the chart's RBAC run with `--platform-url`.
//!
//! A platform admin creates a tenant and its name policy, the tenant admin an enrollment token;
//! the token goes into a Secret that a ChainMember names. The node certificates verify against
//! the CA bundle the platform returned (`openssl verify`), appear in the API's certificate
//! listing, and are revoked (API status and the CA's CRL, read with `openssl crl`) when the
//! member is deleted. Names outside the tenant's policy and a forged token are refused with the
//! platform's error codes as conditions and events, write no certificate Secret, and a refused
//! token is not sent again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use std::time::Duration;
use yuelu_controller::crd::{ChainMember, ChainNetwork};
use yuelu_e2e::{Gql, Platform, openssl_ok as openssl};

const T: Duration = Duration::from_secs(90);
const NS: &str = "chain-a";
const OUTSIDE: &str = "elsewhere";
const SECRET: &str = "platform-enrollment";

fn condition(
    m: &ChainMember,
    t: &str,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    m.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == t)
        .cloned()
}

async fn token_secret(env: &Env, ns: &str, token: &str) {
    let s: Secret = serde_json::from_value(json!({
        "metadata": {"name": SECRET, "namespace": ns},
        "stringData": {"token": format!("{token}\n")}
    }))
    .unwrap();
    Api::<Secret>::namespaced(env.admin.clone(), ns)
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}

/// A one-member network `net-<name>` in `ns`; the member `name` enrolls with the token in
/// [`SECRET`].
async fn network_and_member(env: &Env, ns: &str, name: &str, validators: u32) {
    let net: ChainNetwork = serde_json::from_value(json!({
        "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainNetwork",
        "metadata": {"name": format!("net-{name}"), "namespace": ns},
        "spec": {"engine": "yuelu", "version": "0.1", "consensus": "tendermint", "crypto": "ecdsa-p256"}
    }))
    .unwrap();
    Api::<ChainNetwork>::namespaced(env.admin.clone(), ns)
        .create(&PostParams::default(), &net)
        .await
        .unwrap();
    let member: ChainMember = serde_json::from_value(json!({
        "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainMember",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "network": {"name": format!("net-{name}")}, "organization": name, "validators": validators,
            "certificates": {"enrollmentSecretRef": {"name": SECRET}}
        }
    }))
    .unwrap();
    Api::<ChainMember>::namespaced(env.admin.clone(), ns)
        .create(&PostParams::default(), &member)
        .await
        .unwrap();
}

async fn member(env: &Env, ns: &str, name: &str) -> ChainMember {
    Api::<ChainMember>::namespaced(env.admin.clone(), ns)
        .get(name)
        .await
        .unwrap()
}

/// Waits for `Provisioned=False` with `reason` and a message starting with `code`.
async fn refused(env: &Env, ns: &str, name: &str, reason: &str, code: &str) -> String {
    wait_for(&format!("{ns}/{name} refused with {code}"), T, || async {
        let c = condition(&member(env, ns, name).await, "Provisioned")?;
        (c.status == "False" && c.reason == reason && c.message.starts_with(code))
            .then_some(c.message)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_enroll_with_the_platform_ca_and_are_revoked_when_the_member_goes() {
    yuelu_e2e::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    // The platform (its first start builds the binary) and the cluster come up side by side.
    let platform = {
        let d = dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            Platform::start(&d.join("data"), &d.join("platform.log"), &[]).unwrap()
        })
    };
    let env = setup(false).await;
    let platform = platform.await.unwrap();
    let gql = Gql::new(&platform.url);

    // --- the platform side: tenant, name policy, tenant admin, enrollment token -------------
    let admin = gql
        .token("admin", platform.admin_password.as_deref().unwrap())
        .await;
    let d = gql
        .ok(
            Some(&admin),
            "mutation($p: TenantProfileInput!) { createTenant(profile: $p) { id } }",
            json!({"p": {"name": "湘江链数据有限公司", "uscc": "91350100M000100Y43", "contactName": "刘",
                   "contactPhone": "0731-12345678", "contactEmail": "chain@example.cn"}}),
        )
        .await;
    let tenant = d["createTenant"]["id"].as_str().unwrap().to_owned();
    // The member's pods are named <pod>.<member>-nodes.<namespace>.svc.cluster.local.
    gql.ok(
        Some(&admin),
        "mutation($t: ID!, $d: [String!]!) { setTenantNamePolicy(id: $t, domains: $d) { id } }",
        json!({"t": tenant, "d": [format!("{NS}.svc.cluster.local")]}),
    )
    .await;
    gql.ok(
        Some(&admin),
        "mutation($t: ID!) { createUser(input: {tenantId: $t, username: \"liu\", password: \"a long enough password\", role: TENANT_ADMIN}) { id } }",
        json!({"t": tenant}),
    )
    .await;
    let liu = gql.token("liu", "a long enough password").await;
    let d = gql
        .ok(
            Some(&liu),
            "mutation { createEnrollmentToken(name: \"cluster chain-a\", uses: 20, expiresInHours: 24) { token } }",
            json!({}),
        )
        .await;
    let token = d["createEnrollmentToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("yle_"));

    // --- the cluster side: the token in a Secret, a member naming it ------------------------
    for ns in [NS, OUTSIDE] {
        namespace(&env, ns).await;
    }
    token_secret(&env, NS, &token).await;
    token_secret(&env, OUTSIDE, &token).await;
    let url = platform.url.clone();
    let _replica = start_replica_with(&env, "replica-p", |a| {
        a.dev_issuer = false;
        a.platform_url = Some(url);
        a.resync = 3;
    });
    network_and_member(&env, NS, "org1", 2).await;
    let m = wait_for("org1 provisioned from the platform CA", T, || async {
        let m = member(&env, NS, "org1").await;
        let ok = condition(&m, "Provisioned").is_some_and(|c| c.status == "True")
            && m.status
                .as_ref()
                .is_some_and(|s| s.nodes.len() == 2 && s.ca_bundle.is_some());
        ok.then_some(m)
    })
    .await;
    let st = m.status.clone().unwrap();
    let serials: Vec<String> = st
        .nodes
        .iter()
        .map(|n| n.certificate_serial.clone().unwrap())
        .collect();

    // The certificates verify against the bundle the platform returned, which the nodes trust.
    let certs = Api::<Secret>::namespaced(env.admin.clone(), NS)
        .get("org1-validator-certs")
        .await
        .unwrap()
        .data
        .unwrap();
    let bundle = Api::<ConfigMap>::namespaced(env.admin.clone(), NS)
        .get("org1-ca-bundle")
        .await
        .unwrap()
        .data
        .unwrap();
    let work = dir.path();
    std::fs::write(work.join("bundle.pem"), &bundle["ca.pem"]).unwrap();
    // One member: its nodes trust its own CAs only, which the certificates' Secret records
    // and the status publishes for future peers.
    let issuer = String::from_utf8(certs["issuer-ca.pem"].0.clone()).unwrap();
    assert_eq!(bundle["ca.pem"], issuer);
    assert_eq!(st.ca_bundle.as_deref(), Some(issuer.as_str()));
    // The trust roots map the member's organisation to the CAs the platform issued it under:
    // the CA, not the certificates' subject (the tenant's display name), says who signs.
    let roots =
        yuelu_engine::TrustRoots::from_bytes(bundle["trust-roots.json"].as_bytes()).unwrap();
    assert_eq!(
        roots,
        yuelu_engine::TrustRoots(std::collections::BTreeMap::from([(
            yuelu_engine::OrgName::new("org1").unwrap(),
            issuer.clone()
        )]))
    );
    let mut files = Vec::new();
    for i in 0..2 {
        let f = format!("node{i}.pem");
        std::fs::write(
            work.join(&f),
            &certs[&format!("org1-validator-{i}.node-cert.pem")].0,
        )
        .unwrap();
        files.push(f);
    }
    let mut args = vec!["verify", "-CAfile", "bundle.pem"];
    args.extend(files.iter().map(String::as_str));
    let out = openssl(work, &args);
    assert!(
        out.contains("node0.pem: OK") && out.contains("node1.pem: OK"),
        "{out}"
    );
    let text = openssl(work, &["x509", "-in", "node0.pem", "-noout", "-text"]);
    assert!(
        text.contains("DNS:org1-validator-0.org1-nodes.chain-a.svc.cluster.local"),
        "{text}"
    );
    assert!(text.contains("CN = org1-validator-0"), "{text}");
    let serial_line = openssl(work, &["x509", "-in", "node0.pem", "-noout", "-serial"]);
    assert!(
        serial_line
            .to_ascii_lowercase()
            .contains(serials[0].trim_start_matches('0')),
        "{serial_line} vs {serials:?}"
    );

    // The API lists them, active, under the tenant's CA.
    let listing = || async {
        let d = gql
            .ok(
                Some(&liu),
                "{ certificates(first: 100) { edges { node { serial status caId commonName } } } }",
                json!({}),
            )
            .await;
        d["certificates"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .filter(|n| serials.iter().any(|s| s == n["serial"].as_str().unwrap()))
            .collect::<Vec<Value>>()
    };
    let listed = listing().await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|n| n["status"] == "ACTIVE"), "{listed:?}");
    let ca_id = listed[0]["caId"].as_str().unwrap().to_owned();

    // Two certificates cost two uses of the token, however often the member was reconciled
    // (3 s resyncs, the children's own events) and after the controller settled.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let d = gql
        .ok(
            Some(&liu),
            "{ enrollmentTokens { nodes { usesLeft } } }",
            json!({}),
        )
        .await;
    assert_eq!(d["enrollmentTokens"]["nodes"][0]["usesLeft"], 18, "{d}");

    // --- refusals: names outside the policy, a forged token ---------------------------------
    network_and_member(&env, OUTSIDE, "wrong-names", 1).await;
    let msg = refused(
        &env,
        OUTSIDE,
        "wrong-names",
        "EnrollmentRefused",
        "NAME_NOT_ALLOWED",
    )
    .await;
    assert!(msg.contains("elsewhere.svc.cluster.local"), "{msg}");
    wait_for("a Warning event with the platform's code", T, || async {
        events_for(&env, OUTSIDE, "wrong-names")
            .await
            .into_iter()
            .find(|e| {
                e.0 == "Warning" && e.1 == "EnrollmentRefused" && e.2.contains("NAME_NOT_ALLOWED")
            })
    })
    .await;

    let forged = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("forged".into()),
            namespace: Some(OUTSIDE.into()),
            ..Default::default()
        },
        string_data: Some([("token".to_owned(), "yle_forged0000".to_owned())].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(env.admin.clone(), OUTSIDE)
        .create(&PostParams::default(), &forged)
        .await
        .unwrap();
    let net: ChainNetwork = serde_json::from_value(json!({
        "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainNetwork",
        "metadata": {"name": "net-forged", "namespace": OUTSIDE},
        "spec": {"engine": "yuelu", "version": "0.1", "consensus": "tendermint", "crypto": "ecdsa-p256"}
    }))
    .unwrap();
    Api::<ChainNetwork>::namespaced(env.admin.clone(), OUTSIDE)
        .create(&PostParams::default(), &net)
        .await
        .unwrap();
    let bad: ChainMember = serde_json::from_value(json!({
        "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainMember",
        "metadata": {"name": "forged", "namespace": OUTSIDE},
        "spec": {"network": {"name": "net-forged"}, "organization": "forged", "validators": 1,
                 "certificates": {"enrollmentSecretRef": {"name": "forged", "key": "token"}}}
    }))
    .unwrap();
    Api::<ChainMember>::namespaced(env.admin.clone(), OUTSIDE)
        .create(&PostParams::default(), &bad)
        .await
        .unwrap();
    refused(
        &env,
        OUTSIDE,
        "forged",
        "EnrollmentRefused",
        "UNAUTHENTICATED",
    )
    .await;
    // Retries (backoff 2 s, 4 s, 8 s, and 3 s resyncs) do not send the refused token again.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let held = refused(
        &env,
        OUTSIDE,
        "forged",
        "EnrollmentRefused",
        "UNAUTHENTICATED",
    )
    .await;
    assert!(held.contains("not sent again"), "{held}");
    let d = gql
        .ok(
            Some(&admin),
            "{ auditLog(filter: {action: \"enroll\"}, first: 100) { nodes { result } } }",
            json!({}),
        )
        .await;
    let unauthenticated = d["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["result"] == "UNAUTHENTICATED")
        .count();
    assert_eq!(
        unauthenticated, 1,
        "the forged token was sent {unauthenticated} times"
    );
    // Nothing was written for either refused member.
    let secrets = names::<Secret>(&env, OUTSIDE).await;
    assert!(
        !secrets.iter().any(|s| s.ends_with("-certs")),
        "{secrets:?}"
    );

    // --- deletion: the finalizer revokes at the platform -------------------------------------
    let members: Api<ChainMember> = Api::namespaced(env.admin.clone(), NS);
    members
        .delete("org1", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("org1 to be gone", T, || async {
        members
            .get_opt("org1")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let listed = listing().await;
    assert!(
        listed.len() == 2 && listed.iter().all(|n| n["status"] == "REVOKED"),
        "{listed:?}"
    );
    let crl = gql
        .http()
        .get(format!("{}/ca/{ca_id}/crl", gql.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(crl.status(), 200);
    std::fs::write(work.join("crl.der"), crl.bytes().await.unwrap()).unwrap();
    let crl_text = openssl(
        work,
        &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"],
    )
    .to_ascii_lowercase();
    for s in &serials {
        assert!(
            crl_text.contains(s.trim_start_matches('0')),
            "serial {s} not on the CRL:\n{crl_text}"
        );
    }
    let ev = events_for(&env, NS, "org1").await;
    assert!(
        ev.iter()
            .any(|e| e.1 == "CertificatesRevoked" && e.2.contains("revoked 2")),
        "{ev:?}"
    );
}

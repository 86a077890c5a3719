//! The platform API through the real server (`yuelu up` as a process), on SQLite and on
//! PostgreSQL: bearer tokens, request ids, quotas, rate limits, persistence across restarts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use yuelu_e2e::console;
use yuelu_e2e::graphql::code;
use yuelu_e2e::{Gql, PgCluster, Platform, openssl_ok as openssl};

/// A P-256 key and CSR made by `openssl req`, as a node runtime would.
fn openssl_csr(dir: &Path, name: &str) -> String {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "node.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "node.key",
            "-subj",
            "/CN=validator-0",
            "-addext",
            &format!("subjectAltName=DNS:{name}"),
            "-out",
            "node.csr",
        ],
    );
    std::fs::read_to_string(dir.join("node.csr")).unwrap()
}

async fn scenario(dir: &Path, envs: &[(&str, &str)]) {
    let data = dir.join("data");
    let mut p = Platform::start_with(&data, &dir.join("first.log"), &[], envs).unwrap();
    let admin_pw = p.admin_password.clone().unwrap();
    let api = Gql::new(&p.url);

    let admin = api.token("admin", &admin_pw).await;
    let uscc = "91350100M000100Y43";
    let (r, rid) = api
        .call(Some(&admin), Some("e2e-create-tenant"), "mutation($p: TenantProfileInput!) { createTenant(profile: $p, quota: {networks: 1, nodes: 4, storageGib: 100}) { id name } }",
            json!({"p": {"name": "长沙链上科技有限公司", "uscc": uscc, "contactName": "刘", "contactPhone": "0731-12345678", "contactEmail": "chain@example.cn"}}))
        .await;
    assert_eq!(rid, "e2e-create-tenant", "the request id is echoed");
    let tenant = r["data"]["createTenant"]["id"].as_str().unwrap().to_owned();
    api.ok(Some(&admin), "mutation($t: ID!) { createUser(input: {tenantId: $t, username: \"liu\", password: \"a long enough password\", role: TENANT_ADMIN}) { id } }", json!({"t": tenant})).await;

    // The tenant admin makes an API token and works with it.
    let liu = api.token("liu", "a long enough password").await;
    let d = api
        .ok(
            Some(&liu),
            "mutation { createApiToken(name: \"ci\", expiresInDays: 30) { token } }",
            json!({}),
        )
        .await;
    let api_token = d["createApiToken"]["token"].as_str().unwrap().to_owned();
    let d = api
        .ok(
            Some(&api_token),
            "mutation { createNetwork(input: {name: \"evidence\", validators: 4}) { id phase } }",
            json!({}),
        )
        .await;
    assert_eq!(d["createNetwork"]["phase"], "PENDING");
    let (r, _) = api
        .call(
            Some(&api_token),
            None,
            "mutation { createNetwork(input: {name: \"second\", validators: 1}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&r), "QUOTA_EXCEEDED", "{r}");
    // Another tenant's objects are invisible to it.
    let (r, _) = api
        .call(
            Some(&api_token),
            None,
            "{ tenants { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN");

    // The audit log has the request id the client chose.
    let d = api.ok(Some(&admin), "{ auditLog(filter: {action: \"createTenant\"}) { edges { node { requestId result actorUsername } } } }", json!({})).await;
    assert_eq!(
        d["auditLog"]["edges"][0]["node"],
        json!({"requestId": "e2e-create-tenant", "result": "ok", "actorUsername": "admin"})
    );

    // A node runtime enrolls a node key with an enrollment token; the CRL is public.
    api.ok(
        Some(&admin),
        "mutation($t: ID!) { setTenantNamePolicy(id: $t, domains: [\"chain.example.cn\"]) { id } }",
        json!({"t": tenant}),
    )
    .await;
    let d = api
        .ok(
            Some(&liu),
            "mutation { createEnrollmentToken(name: \"local runtime\", uses: 1) { token } }",
            json!({}),
        )
        .await;
    let enroll_token = d["createEnrollmentToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let csr = openssl_csr(dir, "validator-0.chain.example.cn");
    let enroll = |token: String, csr: String| {
        let http = api.http().clone();
        let url = format!("{}/enroll", api.url());
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"csr": csr, "profile": "node-tls", "suite": "ecdsa-p256"}))
                .send()
                .await
                .unwrap()
        }
    };
    let resp = enroll(enroll_token.clone(), csr.clone()).await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    std::fs::write(dir.join("node.pem"), body["certificate"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join("bundle.pem"), body["caBundle"].as_str().unwrap()).unwrap();
    openssl(
        dir,
        &[
            "verify",
            "-CAfile",
            "bundle.pem",
            "-purpose",
            "sslserver",
            "node.pem",
        ],
    );
    let resp = enroll(enroll_token.clone(), csr.clone()).await;
    assert_eq!(resp.status(), 403, "one use only");
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "FORBIDDEN");
    let resp = enroll("yle_forged".into(), csr.clone()).await;
    assert_eq!(resp.status(), 401);
    let resp = api
        .http()
        .post(format!("{}/enroll", api.url()))
        .bearer_auth(&enroll_token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let d = api
        .ok(
            Some(&liu),
            "{ certificates { edges { node { id caId serial } } } }",
            json!({}),
        )
        .await;
    let cert = &d["certificates"]["edges"][0]["node"];
    api.ok(Some(&liu), "mutation($id: ID!) { revokeCertificate(id: $id, reason: CESSATION_OF_OPERATION) { status } }", json!({"id": cert["id"]})).await;
    let crl = api
        .http()
        .get(format!(
            "{}/ca/{}/crl",
            api.url(),
            cert["caId"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(crl.status(), 200);
    assert_eq!(crl.headers()["content-type"], "application/pkix-crl");
    std::fs::write(dir.join("crl.der"), crl.bytes().await.unwrap()).unwrap();
    let out = openssl(
        dir,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl.der",
            "-CAfile",
            "bundle.pem",
            "-noout",
            "-verify",
            "-text",
        ],
    );
    assert!(out.contains("verify OK"), "{out}");
    assert!(
        out.to_uppercase()
            .contains(&cert["serial"].as_str().unwrap().to_uppercase()),
        "{out}"
    );
    let pem = api
        .http()
        .get(format!(
            "{}/ca/{}/crl.pem",
            api.url(),
            cert["caId"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pem.starts_with("-----BEGIN X509 CRL-----"));
    let missing = api
        .http()
        .get(format!(
            "{}/ca/{}/crl",
            api.url(),
            "00000000-0000-0000-0000-000000000000"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Rate limit over HTTP.
    for _ in 0..5 {
        assert_eq!(code(&api.sign_in("liu", "wrong").await), "UNAUTHENTICATED");
    }
    let r = api.sign_in("liu", "a long enough password").await;
    assert_eq!(code(&r), "RATE_LIMITED", "{r}");
    // The console's form says so too (in Chinese by default), with when to try again.
    let browser = console::client();
    let page = console::sign_in(&browser, &p.url, "liu", "a long enough password").await;
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    let text = page.text().await.unwrap();
    assert!(text.contains("登录失败次数过多"), "{text}");

    // Unknown and malformed bearer tokens are anonymous, not errors of the server.
    let (r, _) = api
        .call(Some("ylt_forged"), None, "{ me { id } }", json!({}))
        .await;
    assert_eq!(code(&r), "UNAUTHENTICATED");

    // Restart: everything acknowledged is still there, and the API token still works.
    p.child.signal("TERM");
    assert!(
        p.child
            .wait_exit(Duration::from_secs(30))
            .unwrap()
            .success()
    );
    let p2 = Platform::start_with(&data, &dir.join("second.log"), &[], envs).unwrap();
    assert!(p2.admin_password.is_none());
    let api = Gql::new(&p2.url);
    let d = api
        .ok(
            Some(&api_token),
            "{ me { username role tenant { name usage { networks nodes } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        d["me"],
        json!({"username": "liu", "role": "TENANT_ADMIN", "tenant": {"name": "长沙链上科技有限公司", "usage": {"networks": 1, "nodes": 4}}})
    );
    let d = api
        .ok(
            Some(&api_token),
            "{ apiTokens { edges { node { name lastUsedAt } } } }",
            json!({}),
        )
        .await;
    assert!(d["apiTokens"]["edges"][0]["node"]["lastUsedAt"].is_string());

    // Suspending the tenant stops its token at once.
    let admin = api.token("admin", &admin_pw).await;
    api.ok(
        Some(&admin),
        "mutation($t: ID!) { setTenantStatus(id: $t, status: SUSPENDED) { status } }",
        json!({"t": tenant}),
    )
    .await;
    let (r, _) = api
        .call(Some(&api_token), None, "{ me { id } }", json!({}))
        .await;
    assert_eq!(code(&r), "UNAUTHENTICATED");
    let d = api
        .ok(
            Some(&admin),
            "{ verifyAuditLog { ok checkedEntries } }",
            json!({}),
        )
        .await;
    assert_eq!(d["verifyAuditLog"]["ok"], true);
}

#[tokio::test]
async fn the_api_over_http_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), &[]).await;
}

#[tokio::test]
async fn the_api_over_http_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgCluster::start();
    let url = pg.create_db("yuelu");
    scenario(dir.path(), &[("DATABASE_URL", &url)]).await;
}

//! Certificate authorities through the API: issuance from CSRs made by `openssl req`, checked
//! with `openssl` (a peer no one here wrote); revocation and CRLs; renewal; SM2; refusals that
//! issue nothing and are audited; enrollment tokens; expiry metrics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use std::path::Path;
use support::{Env, code, openssl, openssl_ok};
use yuelu_api::service::account::SecretToken;
use yuelu_api::service::ca;
use yuelu_api::service::caller::{Caller, RequestId};

const ISSUE: &str = "mutation($i: IssueCertificateInput!) { issueCertificate(input: $i) { id serial commonName names profile suite status expiresAt expiringSoon caId pem } }";

/// A tenant with a name policy, and its admin.
async fn org(env: &Env, name: &str, prefix: &str, domain: &str) -> (String, Caller) {
    let t = env.tenant(name, prefix).await;
    env.ok(
        &env.admin,
        "mutation($id: ID!, $d: [String!]!) { setTenantNamePolicy(id: $id, domains: $d, ipNetworks: [\"127.0.0.0/8\"]) { allowedDomains allowedIpNetworks } }",
        json!({"id": t, "d": [domain]}),
    )
    .await;
    let admin = env
        .user(
            Some(&t),
            &format!("ca{}-admin", &prefix[12..16]),
            "TENANT_ADMIN",
        )
        .await;
    (t, admin)
}

/// A P-256 key and a CSR made by `openssl req`.
fn p256_csr(dir: &Path, stem: &str, cn: &str, sans: &str) -> String {
    let key = format!("{stem}.key");
    let csr = format!("{stem}.csr");
    openssl_ok(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &key,
        ],
    );
    let mut args = vec!["req", "-new", "-key", &key, "-subj"];
    let subj = format!("/CN={cn}/O=Ignored Org");
    args.push(&subj);
    let ext = format!("subjectAltName={sans}");
    if !sans.is_empty() {
        args.extend(["-addext", &ext]);
    }
    args.extend(["-out", &csr]);
    openssl_ok(dir, &args);
    std::fs::read_to_string(dir.join(csr)).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

async fn bundle(env: &Env, who: &Caller) -> String {
    env.ok(who, "{ caBundle }", json!({})).await["caBundle"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn issued(env: &Env) -> u64 {
    yuelu_api::entity::certificate::Entity::find()
        .count(env.db.conn())
        .await
        .unwrap()
}

both!(ecdsa_issue_verify_revoke_renew, |env: Env| async move {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_t, admin) = org(&env, "证书甲公司", "91430100MA4P0001X", "org1.example.cn").await;
    // A root with an intermediate below it.
    let cas = env
        .ok(&admin, "mutation { createCertificateAuthority(suite: ECDSA_P256, withIntermediate: true) { kind commonName crlPath } }", json!({}))
        .await;
    assert_eq!(cas["createCertificateAuthority"]["kind"], "intermediate");

    let csr = p256_csr(
        d,
        "node",
        "validator-0",
        "DNS:validator-0.org1.example.cn,DNS:peer.net1.org1.example.cn,IP:127.0.0.1",
    );
    let r = env
        .ok(
            &admin,
            ISSUE,
            json!({"i": {"csr": csr, "profile": "NODE_TLS", "validityDays": 90}}),
        )
        .await;
    let c = &r["issueCertificate"];
    assert_eq!(c["commonName"], "validator-0");
    assert_eq!(c["profile"], "NODE_TLS");
    assert_eq!(c["suite"], "ECDSA_P256");
    assert_eq!(c["status"], "ACTIVE");
    assert_eq!(c["expiringSoon"], false);
    let names: Vec<String> = serde_json::from_value(c["names"].clone()).unwrap();
    assert_eq!(
        names,
        [
            "DNS:peer.net1.org1.example.cn",
            "DNS:validator-0.org1.example.cn",
            "IP:127.0.0.1"
        ]
    );
    write(d, "leaf.pem", c["pem"].as_str().unwrap());
    write(d, "bundle.pem", &bundle(&env, &admin).await);
    let out = openssl_ok(
        d,
        &[
            "verify",
            "-CAfile",
            "bundle.pem",
            "-purpose",
            "sslserver",
            "leaf.pem",
        ],
    );
    assert!(out.contains("leaf.pem: OK"), "{out}");
    openssl_ok(
        d,
        &[
            "verify",
            "-CAfile",
            "bundle.pem",
            "-purpose",
            "sslclient",
            "leaf.pem",
        ],
    );
    let text = openssl_ok(
        d,
        &[
            "x509", "-in", "leaf.pem", "-noout", "-text", "-nameopt", "utf8",
        ],
    );
    assert!(
        text.contains("Subject: C=CN, O=证书甲公司, CN=validator-0"),
        "the CA's organisation, not the CSR's: {text}"
    );
    assert!(!text.contains("Ignored Org"));

    // A member gets a user certificate for themselves; its CN is their user name.
    let member = env.user(Some(&_t), "cert-member", "TENANT_MEMBER").await;
    let csr = p256_csr(d, "user", "somebody-else", "");
    let r = env
        .ok(
            &member,
            ISSUE,
            json!({"i": {"csr": csr, "profile": "USER"}}),
        )
        .await;
    assert_eq!(r["issueCertificate"]["commonName"], "cert-member");
    write(
        d,
        "user.pem",
        r["issueCertificate"]["pem"].as_str().unwrap(),
    );
    openssl_ok(
        d,
        &[
            "verify",
            "-CAfile",
            "bundle.pem",
            "-purpose",
            "sslclient",
            "user.pem",
        ],
    );
    // ...but not node certificates.
    let csr = p256_csr(d, "n2", "validator-1", "DNS:validator-1.org1.example.cn");
    let r = env
        .gql(
            &member,
            ISSUE,
            json!({"i": {"csr": csr, "profile": "NODE_TLS"}}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN");

    // Revoke with a reason: the CRL lists it, signed by the issuing CA.
    let id = c["id"].as_str().unwrap();
    let serial = c["serial"].as_str().unwrap().to_uppercase();
    let r = env.ok(&admin, "mutation($id: ID!) { revokeCertificate(id: $id, reason: KEY_COMPROMISE) { status revocationReason revokedAt } }", json!({"id": id})).await;
    assert_eq!(r["revokeCertificate"]["status"], "REVOKED");
    assert_eq!(r["revokeCertificate"]["revocationReason"], "KEY_COMPROMISE");
    let ca_id = c["caId"].as_str().unwrap().parse().unwrap();
    let crl = ca::crl(&env.db, &env.authorities, ca_id).await.unwrap();
    assert_eq!(crl.number, 2);
    assert!(crl.next_update > chrono::Utc::now() + chrono::Duration::days(6));
    write(d, "crl.pem", &crl.pem);
    let out = openssl_ok(
        d,
        &[
            "crl",
            "-in",
            "crl.pem",
            "-CAfile",
            "bundle.pem",
            "-noout",
            "-verify",
        ],
    );
    assert!(out.contains("verify OK"), "{out}");
    let text = openssl_ok(d, &["crl", "-in", "crl.pem", "-noout", "-text"]);
    assert!(
        text.to_uppercase().contains(&serial),
        "serial {serial} not in\n{text}"
    );
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(text.contains("Next Update"));
    let (ok, out) = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            "crl.pem",
            "-CAfile",
            "bundle.pem",
            "leaf.pem",
        ],
    );
    assert!(!ok && out.contains("revoked"), "{out}");
    let r = env
        .gql(
            &admin,
            "mutation($id: ID!) { revokeCertificate(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT", "twice");
    let r = env
        .gql(
            &admin,
            "mutation($id: ID!) { renewCertificate(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT", "revoked ones are not renewed");

    // Renewal: same key and names, new serial.
    let uid = env
        .ok(
            &member,
            "{ certificates(filter: {profile: USER}) { edges { node { id serial } } } }",
            json!({}),
        )
        .await;
    let old = &uid["certificates"]["edges"][0]["node"];
    let r = env.ok(&member, "mutation($id: ID!) { renewCertificate(id: $id, validityDays: 30) { serial renewedFrom pem expiringSoon } }", json!({"id": old["id"]})).await;
    let renewed = &r["renewCertificate"];
    assert_ne!(renewed["serial"], old["serial"]);
    assert_eq!(renewed["renewedFrom"], old["id"]);
    assert_eq!(renewed["expiringSoon"], true, "30 days left");
    write(d, "renewed.pem", renewed["pem"].as_str().unwrap());
    openssl_ok(d, &["verify", "-CAfile", "bundle.pem", "renewed.pem"]);
    let k1 = openssl_ok(d, &["x509", "-in", "user.pem", "-noout", "-pubkey"]);
    let k2 = openssl_ok(d, &["x509", "-in", "renewed.pem", "-noout", "-pubkey"]);
    assert_eq!(k1, k2);

    // The list shows expiry, and filters by it; the metrics carry it for alerts.
    let soon = env.ok(&admin, "{ certificates(filter: {expiringWithinDays: 30, status: ACTIVE}) { totalCount edges { node { serial expiringSoon } } } }", json!({})).await;
    assert_eq!(soon["certificates"]["totalCount"], 1);
    env.authorities.count_expiring(&env.db).await.unwrap();
    let m = env.metrics.render();
    let renewed_serial = renewed["serial"].as_str().unwrap();
    assert!(m.contains(&format!("serial=\"{renewed_serial}\"")), "{m}");
    assert!(
        m.contains("yuelu_certificates_expiring_soon{tenant="),
        "{m}"
    );
    assert!(
        !m.contains(&format!("serial=\"{}\"", c["serial"].as_str().unwrap())),
        "revoked: gauge removed"
    );
});

both!(
    sm2_certificates_verify_with_the_gm_distinguishing_id,
    |env: Env| async move {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (_t, admin) = org(&env, "国密乙公司", "91430100MA4P0002X", "org2.example.cn").await;
        openssl_ok(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:SM2",
                "-out",
                "sm2.key",
            ],
        );
        for (stem, sigopt) in [
            ("with-id", Some("distid:1234567812345678")),
            ("empty-id", None),
        ] {
            let csr = format!("{stem}.csr");
            let mut args = vec![
                "req",
                "-new",
                "-key",
                "sm2.key",
                "-sm3",
                "-subj",
                "/CN=sm-node",
                "-addext",
                "subjectAltName=DNS:sm-node.org2.example.cn",
                "-out",
                &csr,
            ];
            if let Some(o) = sigopt {
                args.extend(["-sigopt", o]);
            }
            openssl_ok(d, &args);
            let pem = std::fs::read_to_string(d.join(&csr)).unwrap();
            let r = env
                .ok(
                    &admin,
                    ISSUE,
                    json!({"i": {"csr": pem, "profile": "NODE_TLS", "suite": "SM2"}}),
                )
                .await;
            assert_eq!(r["issueCertificate"]["suite"], "SM2");
            let leaf = format!("{stem}.pem");
            write(d, &leaf, r["issueCertificate"]["pem"].as_str().unwrap());
            write(d, "sm2-bundle.pem", &bundle(&env, &admin).await);
            let out = openssl_ok(
                d,
                &[
                    "verify",
                    "-vfyopt",
                    "distid:1234567812345678",
                    "-partial_chain",
                    "-CAfile",
                    "sm2-bundle.pem",
                    &leaf,
                ],
            );
            assert!(out.contains(": OK"), "{out}");
            // Without the GM/T 0009 id the signature does not verify: the id is really in use.
            let (ok, _) = openssl(
                d,
                &[
                    "verify",
                    "-partial_chain",
                    "-CAfile",
                    "sm2-bundle.pem",
                    &leaf,
                ],
            );
            assert!(!ok);
            // An independent parser reads it as SM2-with-SM3 signed by the tenant's CA.
            let der = std::fs::read(d.join(&leaf)).unwrap();
            let (_, pem) = x509_parser::pem::parse_x509_pem(&der).unwrap();
            let cert = pem.parse_x509().unwrap();
            assert_eq!(
                cert.signature_algorithm.algorithm.to_id_string(),
                "1.2.156.10197.1.501"
            );
            assert!(
                cert.issuer().to_string().contains("Yuelu Root CA (sm2)"),
                "{}",
                cert.issuer()
            );
        }
        // Certificates of both suites coexist for one tenant.
        let cas = env
            .ok(
                &admin,
                "{ certificateAuthorities { suite kind } }",
                json!({}),
            )
            .await;
        assert_eq!(
            cas["certificateAuthorities"],
            json!([{"suite": "SM2", "kind": "root"}])
        );
    }
);

both!(
    refusals_issue_nothing_and_are_audited,
    |env: Env| async move {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (_a, a_admin) = org(&env, "拒绝丙公司", "91430100MA4P0003X", "org3.example.cn").await;
        let (b, _b_admin) = org(&env, "拒绝丁公司", "91430100MA4P0004X", "org4.example.cn").await;
        let good = p256_csr(d, "good", "n0", "DNS:n0.org3.example.cn");
        // Issue once so the CA exists and counts are stable.
        env.ok(
            &a_admin,
            ISSUE,
            json!({"i": {"csr": good, "profile": "NODE_TLS"}}),
        )
        .await;
        let before = issued(&env).await;

        let mut tampered = good.clone().into_bytes();
        // Flip a base64 character near the end (inside the signature).
        let pos = tampered.len() - 40;
        tampered[pos] = if tampered[pos] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let outside = p256_csr(d, "outside", "n1", "DNS:n1.evil.example.com");
        let ip_outside = p256_csr(d, "ip", "n2", "DNS:n2.org3.example.cn,IP:10.1.2.3");
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "malformed",
                json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----", "profile": "NODE_TLS"}),
                "CSR_MALFORMED",
            ),
            (
                "garbage",
                json!({"csr": "hello", "profile": "NODE_TLS"}),
                "CSR_MALFORMED",
            ),
            (
                "wrongly signed",
                json!({"csr": tampered, "profile": "NODE_TLS"}),
                "CSR_SIGNATURE_INVALID",
            ),
            (
                "key type",
                json!({"csr": good, "profile": "NODE_TLS", "suite": "SM2"}),
                "KEY_TYPE_MISMATCH",
            ),
            (
                "other tenant",
                json!({"csr": good, "profile": "NODE_TLS", "tenantId": b}),
                "NOT_FOUND",
            ),
            (
                "domain",
                json!({"csr": outside, "profile": "NODE_TLS"}),
                "NAME_NOT_ALLOWED",
            ),
            (
                "ip",
                json!({"csr": ip_outside, "profile": "NODE_TLS"}),
                "NAME_NOT_ALLOWED",
            ),
            (
                "validity",
                json!({"csr": good, "profile": "NODE_TLS", "validityDays": 5000}),
                "INVALID_INPUT",
            ),
        ];
        for (what, input, want) in cases {
            let request = Caller::new(a_admin.actor.clone(), RequestId::generate());
            let r = env.gql_as(&request, ISSUE, json!({"i": input})).await;
            assert_eq!(code(&r), want, "{what}: {r}");
            assert!(!r["errors"][0]["message"].as_str().unwrap().is_empty());
            assert_eq!(issued(&env).await, before, "{what} issued something");
            let log = env.ok(&env.admin, "{ auditLog(filter: {action: \"issueCertificate\"}, first: 1) { edges { node { result requestId } } } }", json!({})).await;
            let node = &log["auditLog"]["edges"][0]["node"];
            assert_eq!(node["result"], want, "{what}");
            assert_eq!(node["requestId"], request.request_id.as_str(), "{what}");
        }
        // The SM2 case must not have created an SM2 CA either.
        let cas = env
            .ok(&a_admin, "{ certificateAuthorities { suite } }", json!({}))
            .await;
        assert_eq!(
            cas["certificateAuthorities"],
            json!([{"suite": "ECDSA_P256"}])
        );
    }
);

both!(
    enrollment_tokens_issue_node_certificates_only,
    |env: Env| async move {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (_t, admin) = org(&env, "注册戊公司", "91430100MA4P0005X", "org5.example.cn").await;
        let r = env.ok(&admin, "mutation { createEnrollmentToken(name: \"city-gov-cloud\", uses: 2, expiresInHours: 1) { token enrollmentToken { id usesLeft } } }", json!({})).await;
        let token = SecretToken::from_client(r["createEnrollmentToken"]["token"].as_str().unwrap());
        assert!(token.expose().starts_with("yle_"));
        let runtime = Caller::anonymous(RequestId::generate());
        let request = |csr: String, profile: &str| ca::EnrollRequest {
            csr,
            profile: profile.into(),
            suite: yuelu_engine::CryptoSuite::EcdsaP256,
            validity_days: None,
        };
        let csr = p256_csr(d, "e1", "validator-0", "DNS:validator-0.org5.example.cn");
        let e = ca::enroll(
            &env.db,
            &env.authorities,
            &runtime,
            &token,
            request(csr.clone(), "node-tls"),
        )
        .await
        .unwrap();
        assert_eq!(
            e.certificate.requested_by,
            format!(
                "enrollment:{}",
                r["createEnrollmentToken"]["enrollmentToken"]["id"]
                    .as_str()
                    .unwrap()
            )
        );
        write(d, "e.pem", &e.certificate.pem);
        write(d, "e-bundle.pem", &e.ca_bundle);
        openssl_ok(d, &["verify", "-CAfile", "e-bundle.pem", "e.pem"]);
        let err = ca::enroll(
            &env.db,
            &env.authorities,
            &runtime,
            &token,
            request(csr.clone(), "user"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT");
        ca::enroll(
            &env.db,
            &env.authorities,
            &runtime,
            &token,
            request(csr.clone(), "node-signing"),
        )
        .await
        .unwrap();
        let err = ca::enroll(
            &env.db,
            &env.authorities,
            &runtime,
            &token,
            request(csr.clone(), "node-tls"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "FORBIDDEN", "used up");
        let err = ca::enroll(
            &env.db,
            &env.authorities,
            &runtime,
            &SecretToken::from_client("yle_forged"),
            request(csr, "node-tls"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "UNAUTHENTICATED");
        // The token revokes what it obtained, idempotently; nothing else.
        let revoke = async |token: &SecretToken, serial: &str, reason: Option<&str>| {
            ca::revoke_enrolled(
                &env.db,
                &env.authorities,
                &runtime,
                token,
                ca::RevokeEnrolledRequest {
                    serial: serial.into(),
                    reason: reason.map(str::to_owned),
                },
            )
            .await
        };
        let serial = e.certificate.serial.clone();
        let r = revoke(&token, &serial.to_uppercase(), Some("cessationOfOperation"))
            .await
            .unwrap();
        assert_eq!(r.revocation_reason.as_deref(), Some("cessationOfOperation"));
        let again = revoke(&token, &serial, None).await.unwrap();
        assert_eq!(
            again.revoked_at, r.revoked_at,
            "idempotent: the first revocation stands"
        );
        assert_eq!(
            revoke(&token, &serial, Some("nonsense"))
                .await
                .unwrap_err()
                .code(),
            "INVALID_INPUT"
        );
        assert_eq!(
            revoke(&token, "00ff", None).await.unwrap_err().code(),
            "NOT_FOUND"
        );
        let admin_cert = env.ok(&admin, ISSUE, json!({"i": {"csr": p256_csr(d, "e9", "n9", "DNS:n9.org5.example.cn"), "profile": "NODE_TLS"}})).await;
        let err = revoke(
            &token,
            admin_cert["issueCertificate"]["serial"].as_str().unwrap(),
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "NOT_FOUND", "not obtained with this token");
        let tid = r2_id(&env, &admin).await;
        env.ok(
            &admin,
            "mutation($id: ID!) { revokeEnrollmentToken(id: $id) { revokedAt } }",
            json!({"id": tid}),
        )
        .await;
        assert_eq!(
            revoke(&token, &serial, None).await.unwrap_err().code(),
            "UNAUTHENTICATED"
        );
        let crl = ca::crl(&env.db, &env.authorities, e.certificate.ca_id)
            .await
            .unwrap();
        write(d, "e-crl.pem", &crl.pem);
        let text = openssl_ok(d, &["crl", "-in", "e-crl.pem", "-noout", "-text"]);
        assert!(
            text.to_uppercase().contains(&serial.to_uppercase())
                && text.contains("Cessation Of Operation"),
            "{text}"
        );

        let log = env
            .ok(
                &env.admin,
                "{ auditLog(filter: {action: \"enroll\"}) { edges { node { result } } } }",
                json!({}),
            )
            .await;
        let results: Vec<&str> = log["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["result"].as_str().unwrap())
            .collect();
        assert_eq!(
            results,
            ["UNAUTHENTICATED", "FORBIDDEN", "ok", "INVALID_INPUT", "ok"]
        );
    }
);

async fn r2_id(env: &Env, admin: &Caller) -> String {
    let d = env
        .ok(
            admin,
            "{ enrollmentTokens { edges { node { id } } } }",
            json!({}),
        )
        .await;
    d["enrollmentTokens"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_different_master_key_is_refused_at_start() {
    let env = Env::new(support::Backend::Sqlite).await;
    let (_t, admin) = org(&env, "主密钥公司", "91430100MA4P0006X", "org6.example.cn").await;
    env.ok(
        &admin,
        "mutation { createCertificateAuthority(suite: ECDSA_P256) { id } }",
        json!({}),
    )
    .await;
    let other = yuelu_ca::MasterKey::generate().unwrap();
    let err = ca::Authorities::start(&env.db, other, env.metrics.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("internal") || err.code() == "INTERNAL");
    // The stored key is sealed: its bytes never contain a PEM private key.
    let rows = yuelu_api::entity::certificate_authority::Entity::find()
        .all(env.db.conn())
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| !String::from_utf8_lossy(&r.sealed_key).contains("PRIVATE KEY"))
    );
}

both!(
    member_admin_certificates_are_for_the_tenants_own_admins,
    |env: Env| async move {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (t, admin) = org(&env, "治理甲公司", "91430100MA4P0007X", "org7.example.cn").await;
        let (_b, other_admin) =
            org(&env, "治理乙公司", "91430100MA4P0008X", "org8.example.cn").await;
        let member = env.user(Some(&t), "gov-member", "TENANT_MEMBER").await;
        let csr = p256_csr(d, "adm", "anything", "");
        let input = |tenant: Option<&str>| json!({"i": {"tenantId": tenant, "csr": csr, "profile": "MEMBER_ADMIN"}});
        let r = env.ok(&admin, ISSUE, input(None)).await;
        let c = &r["issueCertificate"];
        assert_eq!(c["profile"], "MEMBER_ADMIN");
        assert_eq!(
            c["commonName"],
            admin.actor.as_ref().unwrap().username.as_str()
        );
        write(d, "adm.pem", c["pem"].as_str().unwrap());
        write(d, "adm-bundle.pem", &bundle(&env, &admin).await);
        openssl_ok(
            d,
            &[
                "verify",
                "-CAfile",
                "adm-bundle.pem",
                "-purpose",
                "sslclient",
                "adm.pem",
            ],
        );
        let text = openssl_ok(
            d,
            &[
                "x509", "-in", "adm.pem", "-noout", "-text", "-nameopt", "utf8",
            ],
        );
        assert!(
            text.contains(&format!(
                "Subject: C=CN, O=治理甲公司, OU=admin, CN={}",
                c["commonName"].as_str().unwrap()
            )),
            "{text}"
        );
        assert!(
            text.contains("Digital Signature, Non Repudiation"),
            "{text}"
        );
        // Nobody else gets one in this tenant's name: not a member, not the platform operator,
        // not another tenant's admin.
        for (who, want) in [
            (&member, "FORBIDDEN"),
            (&env.admin, "FORBIDDEN"),
            (&other_admin, "NOT_FOUND"),
        ] {
            let r = env.gql(who, ISSUE, input(Some(&t))).await;
            assert_eq!(code(&r), want, "{r}");
        }
        // Its holder may revoke it.
        let r = env
            .gql(
                &admin,
                "mutation($id: ID!) { revokeCertificate(id: $id, reason: SUPERSEDED) { status } }",
                json!({"id": c["id"]}),
            )
            .await;
        assert_eq!(r["data"]["revokeCertificate"]["status"], "REVOKED", "{r}");
    }
);

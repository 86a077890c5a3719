//! The authorization matrix: every query and mutation, as every role, on the caller's own
//! tenant and on another's. The expectations below are written from the policy, independently
//! of the code that enforces it. Every mutation must also leave exactly one audit entry with
//! its outcome, and a refused one must change nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sea_orm::EntityTrait;
use serde_json::{Value, json};
use support::{Env, PASSWORD, code};
use yuelu_api::entity::session::SessionKind;
use yuelu_api::entity::{api_token, audit_entry, network, session, tenant, user};
use yuelu_api::entity::{certificate as cert_row, certificate_authority, enrollment_token};
use yuelu_api::service::account;
use yuelu_api::service::caller::{Actor, Caller, RequestId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    PlatformAdmin,
    TenantAdmin,
    TenantMember,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Whose {
    Own,
    Other,
}

/// How an operation is guarded, in the policy's words.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user, on their own account.
    Own,
    /// Platform admins only (FORBIDDEN for others).
    Platform,
    /// Read a tenant's object by id: its tenant's users; other tenants get NOT_FOUND.
    ReadHidden,
    /// List within a tenant: its users; other tenants get FORBIDDEN.
    ReadListing,
    /// Tenant admins of the tenant (members FORBIDDEN); other tenants FORBIDDEN.
    AdminListing,
    /// Change a tenant's object: its admins; its members FORBIDDEN; other tenants NOT_FOUND.
    ManageHidden,
    /// Create in a tenant: its admins; members and other tenants FORBIDDEN.
    ManageCreate,
}

fn expect(rule: Rule, who: Who, whose: Whose) -> &'static str {
    use Who::*;
    if who == Anonymous {
        return if matches!(rule, Rule::Public) {
            "ok"
        } else {
            "UNAUTHENTICATED"
        };
    }
    if who == PlatformAdmin {
        return "ok";
    }
    let own = whose == Whose::Own;
    match rule {
        Rule::Public | Rule::Own => "ok",
        Rule::Platform => "FORBIDDEN",
        Rule::ReadHidden => {
            if own {
                "ok"
            } else {
                "NOT_FOUND"
            }
        }
        Rule::ReadListing => {
            if own {
                "ok"
            } else {
                "FORBIDDEN"
            }
        }
        Rule::AdminListing => {
            if own && who == TenantAdmin {
                "ok"
            } else {
                "FORBIDDEN"
            }
        }
        Rule::ManageHidden => match (own, who) {
            (true, TenantAdmin) => "ok",
            (true, _) => "FORBIDDEN",
            (false, _) => "NOT_FOUND",
        },
        Rule::ManageCreate => {
            if own && who == TenantAdmin {
                "ok"
            } else {
                "FORBIDDEN"
            }
        }
    }
}

struct Fixture {
    a: String,
    b: String,
    /// A network in each tenant.
    net: [String; 2],
    /// The admin of tenant B (whose tokens "other" cases try to revoke).
    b_admin: Caller,
}

/// Everything in the database except the audit log, to show a refused mutation changed nothing.
async fn state(env: &Env) -> String {
    let c = env.db.conn();
    format!(
        "{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
        tenant::Entity::find().all(c).await.unwrap(),
        user::Entity::find().all(c).await.unwrap(),
        network::Entity::find().all(c).await.unwrap(),
        api_token::Entity::find().all(c).await.unwrap(),
        session::Entity::find().all(c).await.unwrap(),
        certificate_authority::Entity::find()
            .all(c)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.id, r.crl_number))
            .collect::<Vec<_>>(),
        cert_row::Entity::find().all(c).await.unwrap(),
        enrollment_token::Entity::find().all(c).await.unwrap(),
    )
}

async fn audit_of(env: &Env, request_id: &RequestId) -> Vec<audit_entry::Model> {
    use sea_orm::{ColumnTrait, QueryFilter};
    audit_entry::Entity::find()
        .filter(audit_entry::Column::RequestId.eq(request_id.as_str()))
        .all(env.db.conn())
        .await
        .unwrap()
}

/// A caller with a live console-free session (so that signOut has something to end).
async fn signed_in(env: &Env, name: &str, password: &str) -> Caller {
    let s = account::sign_in(
        &env.db,
        &Caller::anonymous(RequestId::generate()),
        name,
        password,
        SessionKind::Bearer,
    )
    .await
    .unwrap();
    Caller::signed_in(
        Actor::of(&s.user, Some(s.session.id)),
        RequestId::generate(),
    )
}

const OPS: &[&str] = &[
    "version",
    "me",
    "tenants",
    "tenant",
    "users",
    "user",
    "networks",
    "network",
    "auditLog",
    "verifyAuditLog",
    "apiTokens",
    "signIn",
    "signOut",
    "changePassword",
    "createTenant",
    "updateTenant",
    "setTenantStatus",
    "setTenantQuota",
    "createUser",
    "setUserRole",
    "deleteUser",
    "createApiToken",
    "revokeApiToken",
    "createNetwork",
    "deleteNetwork",
    // Certificates: CA creation first, before issuance creates CAs on demand.
    "createCertificateAuthority",
    "certificateAuthorities",
    "caBundle",
    "crl",
    "certificates",
    "certificate",
    "issueCertificate",
    "renewCertificate",
    "revokeCertificate",
    "enrollmentTokens",
    "createEnrollmentToken",
    "revokeEnrollmentToken",
    "setTenantNamePolicy",
];

/// A CSR for a node name within the fixture tenants' domains.
fn node_csr(name: &str) -> String {
    let key = yuelu_ca::PrivateKeyPem::generate(yuelu_ca::CryptoSuite::EcdsaP256).unwrap();
    let subject = yuelu_ca::CsrSubject {
        common_name: name.into(),
        organisation: None,
    };
    let names = [yuelu_ca::SubjectAltName::parse(&format!("{name}.matrix.example.cn")).unwrap()];
    yuelu_ca::build_csr(&key, &subject, &names)
        .unwrap()
        .pem()
        .unwrap()
}

fn who_is(caller: &Caller, name: &str) -> bool {
    caller.actor.as_ref().is_some_and(|a| a.username == name)
}

/// Builds one case: its rule, query and variables. May create objects (as the platform admin)
/// that the case acts on.
async fn case(
    env: &Env,
    fx: &Fixture,
    op: &str,
    caller: &Caller,
    whose: Whose,
    n: usize,
) -> (Rule, String, Value) {
    let t = match whose {
        Whose::Own => fx.a.clone(),
        Whose::Other => fx.b.clone(),
    };
    let ti = usize::from(whose == Whose::Other);
    let uscc = |i: usize| {
        yuelu_api::service::uscc::with_check_character(&format!("91430100MA4{i:05}X")).unwrap()
    };
    let victim = async |role: &str| -> String {
        let name = format!("victim-{n}");
        env.user(Some(&t), &name, role)
            .await
            .actor
            .unwrap()
            .user_id
            .to_string()
    };
    let fresh_certificate = async || -> String {
        let c = yuelu_api::service::ca::issue(
            &env.db,
            &env.authorities,
            &env.admin,
            yuelu_api::service::ca::IssueInput {
                tenant_id: Some(t.parse().unwrap()),
                suite: yuelu_ca::CryptoSuite::EcdsaP256,
                csr: node_csr(&format!("n{n}")).into_bytes(),
                profile: yuelu_ca::Profile::NodeTls,
                validity_days: None,
            },
        )
        .await
        .unwrap();
        c.id.to_string()
    };
    let fresh_network = async || -> String {
        let d = env
            .ok(&env.admin, "mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { id } }",
                json!({"i": {"tenantId": t, "name": format!("doomed-{n}"), "validators": 1, "storageGib": 1}}))
            .await;
        d["createNetwork"]["id"].as_str().unwrap().to_owned()
    };
    let s = |q: &str| q.to_owned();
    match op {
        "version" => (Rule::Public, s("{ version }"), json!({})),
        "me" => (Rule::Own, s("{ me { id } }"), json!({})),
        "tenants" => (Rule::Platform, s("{ tenants { totalCount } }"), json!({})),
        "tenant" => (
            Rule::ReadHidden,
            s("query($id: ID!) { tenant(id: $id) { id usage { nodes } } }"),
            json!({"id": t}),
        ),
        "users" => (
            Rule::ReadListing,
            s("query($t: ID) { users(tenantId: $t) { edges { node { tenantId } } } }"),
            json!({"t": t}),
        ),
        "user" => {
            let u = yuelu_api::service::account::users(
                &env.db,
                &env.admin,
                Some(t.parse().unwrap()),
                Default::default(),
            )
            .await
            .unwrap()
            .items[0]
                .id
                .to_string();
            (
                Rule::ReadHidden,
                s("query($id: ID!) { user(id: $id) { id } }"),
                json!({"id": u}),
            )
        }
        "networks" => (
            Rule::ReadListing,
            s("query($t: ID) { networks(tenantId: $t) { edges { node { tenantId } } } }"),
            json!({"t": t}),
        ),
        "network" => (
            Rule::ReadHidden,
            s("query($id: ID!) { network(id: $id) { id } }"),
            json!({"id": fx.net[ti]}),
        ),
        "auditLog" => (
            Rule::AdminListing,
            s("query($t: ID) { auditLog(filter: {tenantId: $t}) { edges { node { tenantId } } } }"),
            json!({"t": t}),
        ),
        "verifyAuditLog" => (Rule::Platform, s("{ verifyAuditLog { ok } }"), json!({})),
        "apiTokens" => (Rule::Own, s("{ apiTokens { totalCount } }"), json!({})),
        "signIn" => (
            Rule::Public,
            s(
                "mutation($u: String!, $p: String!) { signIn(username: $u, password: $p) { token } }",
            ),
            json!({"u": "a-admin", "p": PASSWORD}),
        ),
        "signOut" => (Rule::Own, s("mutation { signOut }"), json!({})),
        "changePassword" => {
            let pw = if caller.actor.as_ref().is_some_and(|a| a.username == "admin") {
                env.admin_password.clone()
            } else {
                PASSWORD.to_owned()
            };
            (
                Rule::Own,
                s(
                    "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
                ),
                json!({"c": pw, "n": pw}),
            )
        }
        "createTenant" => (
            Rule::Platform,
            s("mutation($p: TenantProfileInput!) { createTenant(profile: $p) { id } }"),
            json!({"p": {"name": format!("新公司{n}"), "uscc": uscc(n), "contactName": "周", "contactPhone": "13800000000", "contactEmail": "a@b.cn"}}),
        ),
        "updateTenant" => (
            Rule::Platform,
            s(
                "mutation($id: ID!) { updateTenant(id: $id, profile: {contactName: \"新联系人\"}) { id } }",
            ),
            json!({"id": t}),
        ),
        "setTenantStatus" => (
            Rule::Platform,
            s("mutation($id: ID!) { setTenantStatus(id: $id, status: ACTIVE) { id } }"),
            json!({"id": t}),
        ),
        "setTenantQuota" => (
            Rule::Platform,
            s(
                "mutation($id: ID!) { setTenantQuota(id: $id, quota: {networks: 100, nodes: 1000, storageGib: 100000}) { id } }",
            ),
            json!({"id": t}),
        ),
        "createUser" => (
            Rule::ManageCreate,
            s("mutation($i: CreateUserInput!) { createUser(input: $i) { id } }"),
            json!({"i": {"tenantId": t, "username": format!("new-{n}"), "password": PASSWORD, "role": "TENANT_MEMBER"}}),
        ),
        "setUserRole" => (
            Rule::ManageHidden,
            s("mutation($id: ID!) { setUserRole(id: $id, role: TENANT_ADMIN) { id } }"),
            json!({"id": victim("TENANT_MEMBER").await}),
        ),
        "deleteUser" => (
            Rule::ManageHidden,
            s("mutation($id: ID!) { deleteUser(id: $id) }"),
            json!({"id": victim("TENANT_MEMBER").await}),
        ),
        "createApiToken" => (
            Rule::Own,
            s("mutation { createApiToken(name: \"t\") { token } }"),
            json!({}),
        ),
        "revokeApiToken" => {
            // Own: a token of the caller's; other: one of tenant B's admin (NOT_FOUND unless
            // the caller is a platform admin).
            let owner = match whose {
                Whose::Own if caller.actor.is_some() => caller.clone(),
                _ => fx.b_admin.clone(),
            };
            let id = account::create_api_token(&env.db, &owner, "victim", 30)
                .await
                .unwrap()
                .row
                .id
                .to_string();
            let rule = if whose == Whose::Other {
                Rule::ManageHidden
            } else {
                Rule::Own
            };
            (
                rule,
                s("mutation($id: ID!) { revokeApiToken(id: $id) { id } }"),
                json!({"id": id}),
            )
        }
        "createNetwork" => (
            Rule::ManageHidden,
            s("mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { id } }"),
            json!({"i": {"tenantId": t, "name": format!("net-{n}"), "validators": 1, "storageGib": 1}}),
        ),
        "deleteNetwork" => (
            Rule::ManageHidden,
            s("mutation($id: ID!) { deleteNetwork(id: $id) }"),
            json!({"id": fresh_network().await}),
        ),
        "createCertificateAuthority" => {
            // One CA per tenant and suite: platform admins take SM2, tenant admins ECDSA, so
            // each allowed case creates a CA that does not exist yet.
            let suite = if who_is(caller, "admin") {
                "SM2"
            } else {
                "ECDSA_P256"
            };
            (
                Rule::ManageHidden,
                s(
                    "mutation($t: ID, $s: CryptoSuite!) { createCertificateAuthority(tenantId: $t, suite: $s) { id } }",
                ),
                json!({"t": t, "s": suite}),
            )
        }
        "certificateAuthorities" => (
            Rule::ReadHidden,
            s("query($t: ID) { certificateAuthorities(tenantId: $t) { tenantId } }"),
            json!({"t": t}),
        ),
        "caBundle" => (
            Rule::ReadHidden,
            s("query($t: ID) { caBundle(tenantId: $t) }"),
            json!({"t": t}),
        ),
        "crl" => {
            let ca =
                yuelu_api::service::ca::authorities(&env.db, &env.admin, Some(t.parse().unwrap()))
                    .await
                    .unwrap()[0]
                    .id
                    .to_string();
            (
                Rule::Own,
                s("query($id: ID!) { crl(caId: $id) { number } }"),
                json!({"id": ca}),
            )
        }
        "certificates" => (
            Rule::ReadListing,
            s(
                "query($t: ID) { certificates(filter: {tenantId: $t}) { edges { node { tenantId } } } }",
            ),
            json!({"t": t}),
        ),
        "certificate" => (
            Rule::ReadHidden,
            s("query($id: ID!) { certificate(id: $id) { id } }"),
            json!({"id": fresh_certificate().await}),
        ),
        "issueCertificate" => (
            Rule::ManageHidden,
            s("mutation($i: IssueCertificateInput!) { issueCertificate(input: $i) { id } }"),
            json!({"i": {"tenantId": t, "csr": node_csr(&format!("i{n}")), "profile": "NODE_TLS"}}),
        ),
        "renewCertificate" => (
            Rule::ManageHidden,
            s("mutation($id: ID!) { renewCertificate(id: $id) { id } }"),
            json!({"id": fresh_certificate().await}),
        ),
        "revokeCertificate" => (
            Rule::ManageHidden,
            s("mutation($id: ID!) { revokeCertificate(id: $id, reason: SUPERSEDED) { id } }"),
            json!({"id": fresh_certificate().await}),
        ),
        "enrollmentTokens" => (
            Rule::ManageHidden,
            s("query($t: ID) { enrollmentTokens(tenantId: $t) { totalCount } }"),
            json!({"t": t}),
        ),
        "createEnrollmentToken" => (
            Rule::ManageHidden,
            s("mutation($t: ID) { createEnrollmentToken(tenantId: $t, name: \"rt\") { token } }"),
            json!({"t": t}),
        ),
        "revokeEnrollmentToken" => {
            let id = yuelu_api::service::ca::create_enrollment_token(
                &env.db,
                &env.admin,
                Some(t.parse().unwrap()),
                "victim",
                1,
                1,
            )
            .await
            .unwrap()
            .row
            .id
            .to_string();
            (
                Rule::ManageHidden,
                s("mutation($id: ID!) { revokeEnrollmentToken(id: $id) { id } }"),
                json!({"id": id}),
            )
        }
        "setTenantNamePolicy" => (
            Rule::Platform,
            s(
                "mutation($id: ID!) { setTenantNamePolicy(id: $id, domains: [\"matrix.example.cn\"]) { id } }",
            ),
            json!({"id": t}),
        ),
        other => panic!("no case for {other}"),
    }
}

both!(
    every_operation_every_role_own_and_other_tenant,
    |env: Env| async move {
        let a = env.tenant("矩阵甲公司", "91430100MA4M0001X").await;
        let b = env.tenant("矩阵乙公司", "91430100MA4M0002X").await;
        for t in [&a, &b] {
            env.ok(&env.admin, "mutation($id: ID!) { setTenantQuota(id: $id, quota: {networks: 100, nodes: 1000, storageGib: 100000}) { id } }", json!({"id": t})).await;
        }
        env.user(Some(&a), "a-admin", "TENANT_ADMIN").await;
        env.user(Some(&a), "a-member", "TENANT_MEMBER").await;
        let b_admin = env.user(Some(&b), "b-admin", "TENANT_ADMIN").await;
        env.user(Some(&b), "b-member", "TENANT_MEMBER").await;
        let mut net = Vec::new();
        for t in [&a, &b] {
            let d = env.ok(&env.admin, "mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { id } }",
            json!({"i": {"tenantId": t, "name": "fixture", "validators": 1, "storageGib": 1}})).await;
            net.push(d["createNetwork"]["id"].as_str().unwrap().to_owned());
        }
        for t in [&a, &b] {
            env.ok(&env.admin, "mutation($id: ID!) { setTenantNamePolicy(id: $id, domains: [\"matrix.example.cn\"]) { id } }", json!({"id": t})).await;
        }
        let fx = Fixture {
            a,
            b,
            net: [net[0].clone(), net[1].clone()],
            b_admin,
        };

        // Every mutation and query of the schema is in the matrix.
        let sdl = yuelu_api::schema_sdl();
        for block in ["type Query {", "type Mutation {"] {
            let body = &sdl[sdl.find(block).unwrap()..];
            let body = &body[..body.find("\n}").unwrap()];
            let mut in_doc = false;
            for line in body.lines().skip(1) {
                let line = line.trim();
                if line == "\"\"\"" {
                    in_doc = !in_doc;
                    continue;
                }
                // Fields are `name(` or `name:` at the start of a line outside doc strings.
                let name = line.split(['(', ':']).next().unwrap();
                if in_doc
                    || line.starts_with('"')
                    || name.is_empty()
                    || !name.chars().all(|c| c.is_ascii_alphanumeric())
                    || name.len() == line.len()
                {
                    continue;
                }
                assert!(
                    OPS.contains(&name),
                    "{name} is missing from the authorization matrix"
                );
            }
        }

        let mut n = 0;
        let mut failures = Vec::new();
        for op in OPS {
            for who in [
                Who::Anonymous,
                Who::PlatformAdmin,
                Who::TenantAdmin,
                Who::TenantMember,
            ] {
                for whose in [Whose::Own, Whose::Other] {
                    n += 1;
                    let caller = match who {
                        Who::Anonymous => Caller::anonymous(RequestId::generate()),
                        Who::PlatformAdmin => signed_in(&env, "admin", &env.admin_password).await,
                        Who::TenantAdmin => signed_in(&env, "a-admin", PASSWORD).await,
                        Who::TenantMember => signed_in(&env, "a-member", PASSWORD).await,
                    };
                    let (rule, query, vars) = case(&env, &fx, op, &caller, whose, n).await;
                    let want = expect(rule, who, whose);
                    let before = state(&env).await;
                    let request = Caller::new(caller.actor.clone(), RequestId::generate());
                    let r = env.gql_as(&request, &query, vars).await;
                    let got = code(&r);
                    if got != want {
                        failures.push(format!(
                            "{op} as {who:?} on {whose:?} tenant: want {want}, got {got}: {}",
                            r["errors"]
                        ));
                        continue;
                    }
                    // Listings never leak the other tenant's objects.
                    if got == "ok" && who != Who::PlatformAdmin {
                        let text = r["data"].to_string();
                        if text.contains(&fx.b) && whose == Whose::Own {
                            failures.push(format!("{op} as {who:?} leaked tenant B: {text}"));
                        }
                    }
                    if query.trim_start().starts_with("mutation") {
                        let entries = audit_of(&env, &request.request_id).await;
                        let want_result = if want == "ok" { "ok" } else { want };
                        if entries.len() != 1
                            || entries[0].result != want_result
                            || entries[0].action != *op
                        {
                            failures.push(format!(
                                "{op} as {who:?} on {whose:?}: audit {:?}",
                                entries
                                    .iter()
                                    .map(|e| (&e.action, &e.result))
                                    .collect::<Vec<_>>()
                            ));
                        }
                        if want != "ok" && state(&env).await != before {
                            failures.push(format!(
                                "{op} as {who:?} on {whose:?} was refused but changed something"
                            ));
                        }
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {n} cases wrong:\n{}",
            failures.len(),
            failures.join("\n")
        );
        // And the chain is intact after all that.
        let d = env
            .ok(
                &env.admin,
                "{ verifyAuditLog { ok checkedEntries } }",
                json!({}),
            )
            .await;
        assert_eq!(d["verifyAuditLog"]["ok"], true);
    }
);

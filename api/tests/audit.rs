//! The audit log: complete, append-only, hash-chained, scoped per tenant.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sea_orm::ConnectionTrait;
use serde_json::json;
use support::{Backend, Env, PASSWORD, anonymous, code};
use yuelu_api::service::account;
use yuelu_api::service::caller::{Caller, RequestId};

const LOG: &str = "query($f: AuditFilter, $n: Int, $a: String) { auditLog(filter: $f, first: $n, after: $a) { totalCount pageInfo { endCursor hasNextPage } edges { node { seq action result actorUsername actorRole tenantId targetType targetId requestId details prevHash hash } } } }";

async fn sql(env: &Env, stmt: &str) -> Result<(), String> {
    env.db
        .conn()
        .execute_unprepared(stmt)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

both!(entries_say_who_did_what_to_what, |env: Env| async move {
    let t = env.tenant("审计甲公司", "91430100MA4N0001X").await;
    let request = Caller::new(
        env.admin.actor.clone(),
        RequestId::from_header(Some("req-42")),
    );
    env.gql_as(&request, "mutation($id: ID!) { setTenantQuota(id: $id, quota: {networks: 1, nodes: 2, storageGib: 3}) { id } }", json!({"id": t})).await;
    let d = env.ok(&env.admin, LOG, json!({"n": 1})).await;
    let e = &d["auditLog"]["edges"][0]["node"];
    assert_eq!(e["action"], "setTenantQuota");
    assert_eq!(e["result"], "ok");
    assert_eq!(e["actorUsername"], "admin");
    assert_eq!(e["actorRole"], "platform-admin");
    assert_eq!(e["tenantId"], t.as_str());
    assert_eq!(e["targetType"], "tenant");
    assert_eq!(e["targetId"], t.as_str());
    assert_eq!(e["requestId"], "req-42");
    let details: serde_json::Value = serde_json::from_str(e["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["to"], json!([1, 2, 3]));

    // A failed sign-in names the user name tried, and no actor.
    env.gql(
        &anonymous(),
        "mutation { signIn(username: \"mallory\", password: \"guess\") { token } }",
        json!({}),
    )
    .await;
    let d = env
        .ok(&env.admin, LOG, json!({"f": {"action": "signIn"}, "n": 1}))
        .await;
    let e = &d["auditLog"]["edges"][0]["node"];
    assert_eq!(e["actorUsername"], "mallory");
    assert_eq!(e["result"], "UNAUTHENTICATED");
    assert!(e["actorRole"].is_null());
    // The password tried is nowhere in the log.
    let all = env.ok(&env.admin, LOG, json!({"n": 100})).await.to_string();
    assert!(
        !all.contains("guess") && !all.contains(PASSWORD) && !all.contains(&env.admin_password)
    );

    // A mutation refused before its service ran (a malformed id) is still recorded once.
    let request = Caller::new(
        env.admin.actor.clone(),
        RequestId::from_header(Some("req-bad-id")),
    );
    let r = env
        .gql_as(
            &request,
            "mutation { deleteNetwork(id: \"nope\") }",
            json!({}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");
    let d = env
        .ok(&env.admin, LOG, json!({"f": {"action": "deleteNetwork"}}))
        .await;
    assert_eq!(d["auditLog"]["totalCount"], 1);
    assert_eq!(d["auditLog"]["edges"][0]["node"]["requestId"], "req-bad-id");
    assert_eq!(d["auditLog"]["edges"][0]["node"]["result"], "INVALID_INPUT");
});

both!(
    tenant_admins_read_only_their_tenant,
    |env: Env| async move {
        let a = env.tenant("审计乙公司", "91430100MA4N0002X").await;
        let b = env.tenant("审计丙公司", "91430100MA4N0003X").await;
        let a_admin = env.user(Some(&a), "audit-a", "TENANT_ADMIN").await;
        let a_member = env.user(Some(&a), "audit-m", "TENANT_MEMBER").await;
        let b_admin = env.user(Some(&b), "audit-b", "TENANT_ADMIN").await;
        for (who, name) in [(&a_admin, "a-net"), (&b_admin, "b-net")] {
            env.ok(
                who,
                "mutation($i: CreateNetworkInput!) { createNetwork(input: $i) { id } }",
                json!({"i": {"name": name, "validators": 1}}),
            )
            .await;
        }
        let d = env.ok(&a_admin, LOG, json!({"n": 100})).await;
        let edges = d["auditLog"]["edges"].as_array().unwrap();
        assert!(!edges.is_empty());
        assert!(
            edges.iter().all(|e| e["node"]["tenantId"] == a.as_str()),
            "{d}"
        );
        assert!(edges.iter().any(|e| e["node"]["action"] == "createNetwork"));
        let r = env.gql(&a_admin, LOG, json!({"f": {"tenantId": b}})).await;
        assert_eq!(code(&r), "FORBIDDEN");
        let r = env.gql(&a_member, LOG, json!({})).await;
        assert_eq!(code(&r), "FORBIDDEN");
        // Newest first, in pages.
        let all = env.ok(&env.admin, LOG, json!({"n": 100})).await;
        let seqs: Vec<i64> = all["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["seq"].as_i64().unwrap())
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] == w[1] + 1), "{seqs:?}");
        let p1 = env.ok(&env.admin, LOG, json!({"n": 3})).await;
        let p2 = env
            .ok(
                &env.admin,
                LOG,
                json!({"n": 3, "a": p1["auditLog"]["pageInfo"]["endCursor"]}),
            )
            .await;
        assert_eq!(
            p2["auditLog"]["edges"][0]["node"]["seq"].as_i64().unwrap(),
            seqs[3]
        );
    }
);

both!(
    the_log_is_append_only_and_tampering_shows,
    |env: Env| async move {
        let t = env.tenant("审计丁公司", "91430100MA4N0004X").await;
        for i in 0..3 {
            env.user(Some(&t), &format!("tamper-{i}"), "TENANT_MEMBER")
                .await;
        }
        let v = env
            .ok(
                &env.admin,
                "{ verifyAuditLog { ok checkedEntries firstBrokenSeq headHash } }",
                json!({}),
            )
            .await;
        assert_eq!(v["verifyAuditLog"]["ok"], true, "{v}");
        let n = v["verifyAuditLog"]["checkedEntries"].as_u64().unwrap();
        assert!(n >= 4);

        // The database itself refuses changes.
        for stmt in [
            "UPDATE audit_entry SET result = 'ok' WHERE seq = 2",
            "DELETE FROM audit_entry WHERE seq = 2",
        ] {
            let err = sql(&env, stmt).await.unwrap_err();
            assert!(err.contains("append-only"), "{stmt}: {err}");
        }
        // Someone with the database's keys switches the guard off and rewrites an entry...
        match env.backend {
            Backend::Sqlite => sql(&env, "DROP TRIGGER audit_entry_no_update")
                .await
                .unwrap(),
            Backend::Postgres => sql(
                &env,
                "ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only",
            )
            .await
            .unwrap(),
        }
        sql(
            &env,
            "UPDATE audit_entry SET actor_username = 'nobody' WHERE seq = 3",
        )
        .await
        .unwrap();
        let v = env
            .ok(
                &env.admin,
                "{ verifyAuditLog { ok checkedEntries firstBrokenSeq } }",
                json!({}),
            )
            .await;
        assert_eq!(
            v["verifyAuditLog"],
            json!({"ok": false, "checkedEntries": 2, "firstBrokenSeq": 3})
        );
    }
);

both!(deleting_an_entry_breaks_the_chain, |env: Env| async move {
    env.tenant("审计戊公司", "91430100MA4N0005X").await;
    env.tenant("审计己公司", "91430100MA4N0006X").await;
    match env.backend {
        Backend::Sqlite => sql(&env, "DROP TRIGGER audit_entry_no_delete")
            .await
            .unwrap(),
        Backend::Postgres => sql(
            &env,
            "ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only",
        )
        .await
        .unwrap(),
    }
    sql(&env, "DELETE FROM audit_entry WHERE seq = 1")
        .await
        .unwrap();
    let v = env
        .ok(
            &env.admin,
            "{ verifyAuditLog { ok firstBrokenSeq } }",
            json!({}),
        )
        .await;
    assert_eq!(
        v["verifyAuditLog"],
        json!({"ok": false, "firstBrokenSeq": 1})
    );
});

both!(
    concurrent_mutations_keep_one_unbroken_chain,
    |env: Env| async move {
        let t = env.tenant("并发公司", "91430100MA4N0007X").await;
        let mut callers = Vec::new();
        for i in 0..6 {
            callers.push(
                env.user(Some(&t), &format!("conc-{i}"), "TENANT_ADMIN")
                    .await,
            );
        }
        let env = std::sync::Arc::new(env);
        let mut tasks = Vec::new();
        for (i, c) in callers.into_iter().enumerate() {
            let env = env.clone();
            tasks.push(tokio::spawn(async move {
                for j in 0..5 {
                    account::create_api_token(&env.db, &c, &format!("t{i}-{j}"), 10)
                        .await
                        .unwrap();
                    // Failures interleave with successes.
                    let _ = account::create_api_token(&env.db, &c, "", 10)
                        .await
                        .unwrap_err();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let v = env
            .ok(
                &env.admin,
                "{ verifyAuditLog { ok checkedEntries } }",
                json!({}),
            )
            .await;
        assert_eq!(v["verifyAuditLog"]["ok"], true, "{v}");
        let d = env
            .ok(&env.admin, LOG, json!({"f": {"action": "createApiToken"}}))
            .await;
        assert_eq!(d["auditLog"]["totalCount"], 60);
    }
);

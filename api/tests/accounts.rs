//! Accounts: sign-in, sessions, passwords, API tokens, rate limits, suspension.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::json;
use support::{Env, PASSWORD, anonymous, code};
use yuelu_api::entity::session::SessionKind;
use yuelu_api::service::account::{self, SecretToken};
use yuelu_api::service::caller::{Actor, Caller, RequestId};

const SIGN_IN: &str = "mutation($u: String!, $p: String!) { signIn(username: $u, password: $p) { token expiresAt user { username role tenantId } } }";

/// The caller a bearer token authenticates, as the HTTP layer would build it.
async fn bearer(env: &Env, token: &str) -> Option<Caller> {
    let t = SecretToken::from_client(token);
    account::authenticate(&env.db, &t, SessionKind::Bearer, chrono::Utc::now())
        .await
        .unwrap()
        .map(|a| {
            Caller::signed_in(
                Actor::of(&a.user, a.session.map(|s| s.id)),
                RequestId::generate(),
            )
        })
}

both!(sign_in_me_sign_out, |env: Env| async move {
    let anon = anonymous();
    let r = env
        .gql(
            &anon,
            SIGN_IN,
            json!({"u": "admin", "p": env.admin_password}),
        )
        .await;
    assert_eq!(code(&r), "ok", "{r}");
    let p = &r["data"]["signIn"];
    assert_eq!(
        p["user"],
        json!({"username": "admin", "role": "PLATFORM_ADMIN", "tenantId": null})
    );
    let token = p["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("yls_") && token.len() > 40);

    let me = bearer(&env, &token).await.expect("the token authenticates");
    let d = env.ok(&me, "{ me { username } }", json!({})).await;
    assert_eq!(d["me"]["username"], "admin");
    env.ok(&me, "mutation { signOut }", json!({})).await;
    assert!(bearer(&env, &token).await.is_none(), "signed out");
    // Only the hash is stored.
    use sea_orm::EntityTrait;
    let rows = yuelu_api::entity::session::Entity::find()
        .all(env.db.conn())
        .await
        .unwrap();
    assert!(rows.iter().all(|s| !s.token_hash.contains(&token)));
    // Nor in any other column of any session.
    assert!(!format!("{rows:?}").contains(&token[4..]), "{rows:?}");
    assert!(
        rows.iter()
            .any(|s| s.token_hash == SecretToken::from_client(&token).hash())
    );
});

both!(
    wrong_credentials_are_one_error_then_rate_limited,
    |env: Env| async move {
        let anon = anonymous();
        for (u, p) in [("admin", "wrong"), ("nobody", "whatever")] {
            let r = env.gql(&anon, SIGN_IN, json!({"u": u, "p": p})).await;
            assert_eq!(code(&r), "UNAUTHENTICATED", "{r}");
            assert_eq!(r["errors"][0]["message"], "sign in first");
        }
        // Four more failures for admin make five: the sixth attempt is refused, even with the
        // right password, and says when to retry.
        for _ in 0..4 {
            let r = env
                .gql(&anon, SIGN_IN, json!({"u": "admin", "p": "wrong"}))
                .await;
            assert_eq!(code(&r), "UNAUTHENTICATED");
        }
        let r = env
            .gql(
                &anon,
                SIGN_IN,
                json!({"u": "admin", "p": env.admin_password}),
            )
            .await;
        assert_eq!(code(&r), "RATE_LIMITED", "{r}");
        let retry = r["errors"][0]["extensions"]["retryAfterSeconds"]
            .as_u64()
            .unwrap();
        assert!((1..=15 * 60).contains(&retry), "{retry}");
        // Other user names are not affected.
        let t = env
            .tenant("湖南测试科技有限公司", "91430100MA4L0000X")
            .await;
        env.user(Some(&t), "alice", "TENANT_ADMIN").await;
        let r = env
            .gql(&anon, SIGN_IN, json!({"u": "alice", "p": PASSWORD}))
            .await;
        assert_eq!(code(&r), "ok", "{r}");
        // No session was created by any failure.
        use sea_orm::{EntityTrait, PaginatorTrait};
        let n = yuelu_api::entity::session::Entity::find()
            .count(env.db.conn())
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
);

both!(
    passwords_change_and_end_other_sessions,
    |env: Env| async move {
        let t = env.tenant("长沙数据有限公司", "91430100MA4L0001X").await;
        env.user(Some(&t), "bob", "TENANT_MEMBER").await;
        let anon = anonymous();
        let mut tokens = Vec::new();
        for _ in 0..2 {
            let r = env
                .gql(&anon, SIGN_IN, json!({"u": "bob", "p": PASSWORD}))
                .await;
            tokens.push(r["data"]["signIn"]["token"].as_str().unwrap().to_owned());
        }
        let bob = bearer(&env, &tokens[0]).await.unwrap();
        let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
        let r = env
            .gql(
                &bob,
                change,
                json!({"c": "not it", "n": "a new long password"}),
            )
            .await;
        assert_eq!(code(&r), "INVALID_INPUT");
        assert_eq!(r["errors"][0]["extensions"]["field"], "currentPassword");
        let r = env
            .gql(&bob, change, json!({"c": PASSWORD, "n": "short"}))
            .await;
        assert_eq!(code(&r), "INVALID_INPUT");
        assert_eq!(r["errors"][0]["extensions"]["field"], "newPassword");
        env.ok(
            &bob,
            change,
            json!({"c": PASSWORD, "n": "a new long password"}),
        )
        .await;
        assert!(
            bearer(&env, &tokens[0]).await.is_some(),
            "this session stays"
        );
        assert!(
            bearer(&env, &tokens[1]).await.is_none(),
            "the other session ended"
        );
        let r = env
            .gql(&anon, SIGN_IN, json!({"u": "bob", "p": PASSWORD}))
            .await;
        assert_eq!(code(&r), "UNAUTHENTICATED");
        let r = env
            .gql(
                &anon,
                SIGN_IN,
                json!({"u": "bob", "p": "a new long password"}),
            )
            .await;
        assert_eq!(code(&r), "ok");
    }
);

both!(
    api_tokens_are_shown_once_expire_and_revoke,
    |env: Env| async move {
        let create = "mutation($n: String!, $d: Int) { createApiToken(name: $n, expiresInDays: $d) { token apiToken { id name expiresAt lastUsedAt revokedAt } } }";
        let r = env.gql(&env.admin, create, json!({"n": "", "d": 30})).await;
        assert_eq!(code(&r), "INVALID_INPUT");
        let r = env
            .gql(&env.admin, create, json!({"n": "ci", "d": 366}))
            .await;
        assert_eq!(code(&r), "INVALID_INPUT");
        assert_eq!(r["errors"][0]["extensions"]["field"], "expiresInDays");

        let d = env
            .ok(&env.admin, create, json!({"n": "CI pipeline", "d": 30}))
            .await;
        let token = d["createApiToken"]["token"].as_str().unwrap().to_owned();
        let id = d["createApiToken"]["apiToken"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(token.starts_with("ylt_"));
        assert!(d["createApiToken"]["apiToken"]["lastUsedAt"].is_null());

        // It authenticates, and its use is recorded.
        let me = bearer(&env, &token).await.expect("API token authenticates");
        assert!(me.actor.as_ref().unwrap().session_id.is_none());
        let list = env
            .ok(
                &me,
                "{ apiTokens { totalCount edges { node { id name lastUsedAt } } } }",
                json!({}),
            )
            .await;
        assert_eq!(list["apiTokens"]["totalCount"], 1);
        assert!(list["apiTokens"]["edges"][0]["node"]["lastUsedAt"].is_string());
        // The listing never shows the secret.
        assert!(!list.to_string().contains(&token));
        // Not in any field an API token has, either: ask for every scalar one.
        let t = env
            .ok(
                &me,
                r#"{ __type(name: "ApiToken") { fields { name type { kind ofType { kind } } } } }"#,
                json!({}),
            )
            .await;
        let scalars: Vec<&str> = t["__type"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                let ty = &f["type"];
                let kind = if ty["kind"] == "NON_NULL" {
                    &ty["ofType"]["kind"]
                } else {
                    &ty["kind"]
                };
                kind == "SCALAR" || kind == "ENUM"
            })
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert!(scalars.len() >= 5, "{t}");
        let every = env
            .ok(
                &me,
                &format!(
                    "{{ apiTokens {{ edges {{ node {{ {} }} }} }} }}",
                    scalars.join(" ")
                ),
                json!({}),
            )
            .await;
        assert!(!every.to_string().contains(&token[4..]), "{every}");
        // signOut needs a session, not an API token.
        let r = env.gql(&me, "mutation { signOut }", json!({})).await;
        assert_eq!(code(&r), "CONFLICT");

        // Revoked: it stops working.
        env.ok(
            &me,
            "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }",
            json!({"id": id}),
        )
        .await;
        assert!(bearer(&env, &token).await.is_none());

        // Expired: it stops working too.
        let d = env
            .ok(&env.admin, create, json!({"n": "short-lived", "d": 1}))
            .await;
        let t2 = d["createApiToken"]["token"].as_str().unwrap().to_owned();
        let later = chrono::Utc::now() + chrono::Duration::days(2);
        let found = account::authenticate(
            &env.db,
            &SecretToken::from_client(&t2),
            SessionKind::Bearer,
            later,
        )
        .await
        .unwrap();
        assert!(found.is_none());
        // Garbage never authenticates.
        assert!(bearer(&env, "ylt_garbage").await.is_none());
        assert!(bearer(&env, "").await.is_none());
    }
);

both!(
    suspension_locks_a_tenant_out_and_back_in,
    |env: Env| async move {
        let t = env.tenant("株洲制造有限公司", "91430200MA4L0002X").await;
        env.user(Some(&t), "carol", "TENANT_ADMIN").await;
        let anon = anonymous();
        let r = env
            .gql(&anon, SIGN_IN, json!({"u": "carol", "p": PASSWORD}))
            .await;
        let token = r["data"]["signIn"]["token"].as_str().unwrap().to_owned();
        let set = "mutation($id: ID!, $s: TenantStatus!) { setTenantStatus(id: $id, status: $s) { status } }";
        env.ok(&env.admin, set, json!({"id": t, "s": "SUSPENDED"}))
            .await;
        assert!(
            bearer(&env, &token).await.is_none(),
            "sessions stop working"
        );
        let r = env
            .gql(&anon, SIGN_IN, json!({"u": "carol", "p": PASSWORD}))
            .await;
        assert_eq!(code(&r), "FORBIDDEN", "{r}");
        env.ok(&env.admin, set, json!({"id": t, "s": "ACTIVE"}))
            .await;
        assert!(bearer(&env, &token).await.is_some(), "and work again");
    }
);

//! Schema tests: GraphQL requests executed in-process (no HTTP) against a real SQLite database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_graphql::{Request, Variables};
use serde_json::{Value, json};
use std::sync::Arc;
use yuelu_api::entity::session::SessionKind;
use yuelu_api::graphql::{self, ApiSchema, Viewer};
use yuelu_api::metrics::Metrics;
use yuelu_api::service::account;

struct Fixture {
    _dir: tempfile::TempDir,
    db: sea_orm::DatabaseConnection,
    schema: ApiSchema,
    metrics: Arc<Metrics>,
    admin_password: String,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = yuelu_api::database::sqlite_url(&dir.path().join("t.db"));
    let db = yuelu_api::database::connect(&url).await.unwrap();
    let admin = account::ensure_platform_admin(&db).await.unwrap().unwrap();
    let metrics = Arc::new(Metrics::new().unwrap());
    Fixture {
        schema: graphql::build(db.clone(), metrics.clone()),
        db,
        metrics,
        admin_password: admin.password,
        _dir: dir,
    }
}

async fn run(f: &Fixture, query: &str, vars: Value, viewer: Viewer) -> Value {
    let req = Request::new(query)
        .variables(Variables::from_json(vars))
        .data(viewer);
    serde_json::to_value(f.schema.execute(req).await).unwrap()
}

fn code(resp: &Value) -> &str {
    resp["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

const SIGN_IN: &str = "mutation($u: String!, $p: String!) { signIn(username: $u, password: $p) { token expiresAt user { username role tenantId } } }";

#[tokio::test]
async fn sign_in_then_me() {
    let f = fixture().await;
    let resp = run(
        &f,
        SIGN_IN,
        json!({"u": "admin", "p": f.admin_password}),
        Viewer::default(),
    )
    .await;
    assert!(resp["errors"].is_null(), "{resp}");
    let payload = &resp["data"]["signIn"];
    assert_eq!(payload["user"]["username"], "admin");
    assert_eq!(payload["user"]["role"], "PLATFORM_ADMIN");
    assert!(payload["user"]["tenantId"].is_null());
    let token = payload["token"].as_str().unwrap();
    assert!(token.starts_with("yls_"));

    // The token authenticates a later request.
    let t = account::SessionToken::from_client(token);
    let session = account::authenticate(&f.db, &t, SessionKind::Bearer, chrono::Utc::now())
        .await
        .unwrap();
    assert!(session.is_some());
    let viewer = Viewer {
        session,
        token: Some(t.clone()),
    };
    let me = run(&f, "{ me { username role } }", json!({}), viewer.clone()).await;
    assert_eq!(me["data"]["me"]["username"], "admin", "{me}");

    // Signing out ends it.
    let out = run(&f, "mutation { signOut }", json!({}), viewer).await;
    assert_eq!(out["data"]["signOut"], true, "{out}");
    let after = account::authenticate(&f.db, &t, SessionKind::Bearer, chrono::Utc::now())
        .await
        .unwrap();
    assert!(after.is_none());

    // Only the hash of the token is stored.
    use sea_orm::EntityTrait;
    let rows = yuelu_api::entity::session::Entity::find()
        .all(&f.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].token_hash, token);
    assert_eq!(rows[0].token_hash, t.hash());
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_the_same_error() {
    let f = fixture().await;
    for (u, p) in [("admin", "wrong"), ("nobody", "whatever")] {
        let resp = run(&f, SIGN_IN, json!({"u": u, "p": p}), Viewer::default()).await;
        assert_eq!(code(&resp), "UNAUTHENTICATED", "{resp}");
        assert_eq!(resp["errors"][0]["message"], "sign in first");
        assert!(resp["data"].is_null());
    }
    // A failed sign-in leaves no session behind.
    use sea_orm::{EntityTrait, PaginatorTrait};
    let n = yuelu_api::entity::session::Entity::find()
        .count(&f.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn bad_input_has_stable_codes() {
    let f = fixture().await;
    let resp = run(&f, SIGN_IN, json!({"u": "", "p": "x"}), Viewer::default()).await;
    assert_eq!(code(&resp), "INVALID_INPUT", "{resp}");
    assert_eq!(resp["errors"][0]["extensions"]["field"], "username");

    let resp = run(&f, "{ me { username } }", json!({}), Viewer::default()).await;
    assert_eq!(code(&resp), "UNAUTHENTICATED", "{resp}");

    let resp = run(&f, "{ nosuchfield }", json!({}), Viewer::default()).await;
    assert_eq!(code(&resp), "GRAPHQL_VALIDATION_FAILED", "{resp}");

    // Too deep: a valid query, refused by the depth limit before anything runs.
    let deep = format!(
        "{{ __schema {{ types {{ {}name{} }} }} }}",
        "ofType { ".repeat(graphql::MAX_DEPTH),
        " }".repeat(graphql::MAX_DEPTH)
    );
    let resp = run(&f, &deep, json!({}), Viewer::default()).await;
    assert_eq!(code(&resp), "GRAPHQL_VALIDATION_FAILED", "{resp}");
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{resp}"
    );
    // One level less is fine.
    let ok = format!(
        "{{ __schema {{ types {{ {}name{} }} }} }}",
        "ofType { ".repeat(graphql::MAX_DEPTH - 3),
        " }".repeat(graphql::MAX_DEPTH - 3)
    );
    let resp = run(&f, &ok, json!({}), Viewer::default()).await;
    assert!(resp["errors"].is_null(), "{resp}");
}

#[tokio::test]
async fn requests_are_counted_by_operation_and_outcome() {
    let f = fixture().await;
    run(&f, "{ version }", json!({}), Viewer::default()).await;
    run(&f, "{ me { username } }", json!({}), Viewer::default()).await;
    let text = f.metrics.render();
    assert!(
        text.contains(r#"yuelu_graphql_requests_total{operation="version",outcome="ok"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"yuelu_graphql_requests_total{operation="me",outcome="UNAUTHENTICATED"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_first_admin_is_created_once() {
    let f = fixture().await;
    assert!(
        account::ensure_platform_admin(&f.db)
            .await
            .unwrap()
            .is_none()
    );
}

#[test]
fn checked_in_sdl_matches_the_schema() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    let current = yuelu_api::schema_sdl();
    if std::env::var_os("YUELU_BLESS").is_some() {
        std::fs::write(&path, &current).unwrap();
        return;
    }
    assert!(
        checked_in == current,
        "api/schema.graphql is out of date: run `cargo run -- schema > api/schema.graphql` \
         (or YUELU_BLESS=1 cargo nextest run -p yuelu-api checked_in_sdl)"
    );
}

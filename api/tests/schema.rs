//! The schema itself: the checked-in SDL, limits, and codes on every error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::json;
use support::{Env, anonymous, code};
use yuelu_api::graphql;

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

both!(limits_and_codes, |env: Env| async move {
    let anon = anonymous();
    let r = env.gql(&anon, "{ version }", json!({})).await;
    assert_eq!(r["data"]["version"], env!("CARGO_PKG_VERSION"));

    let r = env.gql(&anon, "{ nosuchfield }", json!({})).await;
    assert_eq!(code(&r), "GRAPHQL_VALIDATION_FAILED", "{r}");
    let r = env.gql(&anon, "{ version", json!({})).await;
    assert_eq!(code(&r), "GRAPHQL_VALIDATION_FAILED", "{r}");

    // Too deep: a valid query, refused by the depth limit before anything runs.
    let deep = |n: usize| {
        format!(
            "{{ __schema {{ types {{ {}name{} }} }} }}",
            "ofType { ".repeat(n),
            " }".repeat(n)
        )
    };
    let r = env.gql(&anon, &deep(graphql::MAX_DEPTH), json!({})).await;
    assert_eq!(code(&r), "GRAPHQL_VALIDATION_FAILED", "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep")
    );
    let r = env
        .gql(&anon, &deep(graphql::MAX_DEPTH - 3), json!({}))
        .await;
    assert_eq!(code(&r), "ok", "{r}");

    // GraphiQL's introspection query (graphql-js getIntrospectionQuery, ofType nested seven
    // times; newer versions nine) passes both limits.
    for levels in [7, 9] {
        let r = env
            .gql(&anon, &introspection_query(levels), json!({}))
            .await;
        assert_eq!(code(&r), "ok", "{r}");
        assert_eq!(r["data"]["__schema"]["queryType"]["name"], "Query");
    }

    // Too complex: many aliased fields.
    let wide: String = (0..graphql::MAX_COMPLEXITY + 1)
        .map(|i| format!("v{i}: version "))
        .collect();
    let r = env.gql(&anon, &format!("{{ {wide} }}"), json!({})).await;
    assert_eq!(code(&r), "GRAPHQL_VALIDATION_FAILED", "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex")
    );

    // Wrong argument types are refused before execution too.
    let r = env
        .gql(
            &env.admin,
            "{ users(first: \"ten\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&r), "GRAPHQL_VALIDATION_FAILED", "{r}");
});

both!(
    requests_are_counted_by_operation_and_outcome,
    |env: Env| async move {
        let anon = anonymous();
        env.gql(&anon, "{ version }", json!({})).await;
        env.gql(&anon, "{ me { username } }", json!({})).await;
        env.gql(
            &env.admin,
            "{ me { username } tenants { totalCount } }",
            json!({}),
        )
        .await;
        let text = env.metrics.render();
        for line in [
            r#"yuelu_graphql_requests_total{operation="version",outcome="ok"} 1"#,
            r#"yuelu_graphql_requests_total{operation="me",outcome="UNAUTHENTICATED"} 1"#,
            r#"yuelu_graphql_requests_total{operation="me,tenants",outcome="ok"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(
            text.contains("yuelu_graphql_request_duration_seconds_bucket{operation=\"version\"")
        );
    }
);

/// The introspection query GraphiQL sends: graphql-js's `getIntrospectionQuery()` with
/// descriptions, `TypeRef` nesting `ofType` `levels` times.
fn introspection_query(levels: usize) -> String {
    let type_ref = format!(
        "kind name {}",
        "ofType { kind name ".repeat(levels) + &"}".repeat(levels)
    );
    format!(
        "query IntrospectionQuery {{
          __schema {{
            queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }}
            types {{ ...FullType }}
            directives {{ name description locations args {{ ...InputValue }} }}
          }}
        }}
        fragment FullType on __Type {{
          kind name description
          fields(includeDeprecated: true) {{
            name description args {{ ...InputValue }} type {{ ...TypeRef }}
            isDeprecated deprecationReason
          }}
          inputFields {{ ...InputValue }}
          interfaces {{ ...TypeRef }}
          enumValues(includeDeprecated: true) {{
            name description isDeprecated deprecationReason
          }}
          possibleTypes {{ ...TypeRef }}
        }}
        fragment InputValue on __InputValue {{
          name description type {{ ...TypeRef }} defaultValue
        }}
        fragment TypeRef on __Type {{ {type_ref} }}"
    )
}

//! The platform's pages in a real browser (headless Chromium): their scripts run, and they
//! need nothing from outside this server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use yuelu_e2e::Platform;
use yuelu_e2e::browser::dump_dom;

#[tokio::test]
async fn graphiql_runs_in_a_browser_from_this_server_alone_and_reads_the_schema() {
    yuelu_e2e::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let p = Platform::start(&dir.path().join("data"), &dir.path().join("up.log"), &[]).unwrap();
    let dom = dump_dom(&format!("{}/graphql", p.url), dir.path(), 5_000).unwrap();
    // GraphiQL rendered (its scripts and styles came from this server: the machine has no
    // route to anywhere else), with our starting query in its editor.
    assert!(dom.contains("graphiql-container"), "{dom}");
    assert!(dom.contains("CodeMirror"), "{dom}");
    assert!(dom.contains("Yuelu GraphQL"), "{dom}");
    // Its introspection query passed the server's limits (a refusal shows in the result pane).
    assert!(!dom.contains("nested too deep"), "{dom}");
    assert!(!dom.contains("GRAPHQL_VALIDATION_FAILED"), "{dom}");
    assert!(
        !dom.to_lowercase().contains("error fetching schema"),
        "{dom}"
    );
    // And it reached the server and succeeded: requests are counted by operation and outcome.
    let metrics = reqwest::get(format!("{}/metrics", p.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"operation="__schema",outcome="ok""#),
        "{metrics}"
    );
}

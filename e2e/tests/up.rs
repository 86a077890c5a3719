//! `yuelu up` as a real process: serving, restarting on the same data dir, refusing bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use std::process::Command;
use std::time::Duration;
use yuelu_e2e::console::{self, csrf_of};
use yuelu_e2e::{Gql, Platform, yuelu_bin};

#[tokio::test]
async fn up_serves_health_metrics_console_and_graphql() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut p = Platform::start(&data, &dir.path().join("up.log"), &[]).unwrap();
    let http = Gql::new(&p.url).http().clone();

    let health = http.get(format!("{}/healthz", p.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok\n");
    let ready = http.get(format!("{}/readyz", p.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    // The sign-in page: Chinese by default, English on request.
    let zh = http.get(&p.url).send().await.unwrap();
    assert_eq!(zh.status(), 200);
    assert!(
        zh.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let zh = zh.text().await.unwrap();
    assert!(
        zh.contains("<html lang=\"zh-CN\">") && zh.contains("登录"),
        "{zh}"
    );
    let en = http
        .get(format!("{}/?lang=en", p.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        en.contains("<html lang=\"en\">") && en.contains("Sign in"),
        "{en}"
    );
    let css = http
        .get(format!("{}/static/app.css", p.url))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);

    // GraphQL answers, and a browser gets GraphiQL.
    let v = Gql::new(&p.url)
        .call(None, None, "{ version }", json!({}))
        .await
        .0;
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"), "{v}");
    let gi = http
        .get(format!("{}/graphql", p.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(gi.to_lowercase().contains("graphiql"));
    // Offline-capable: every script and style comes from this server.
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
        "start.js",
    ] {
        let path = format!("/static/graphiql/{asset}");
        assert!(gi.contains(&path), "{path} not on the page");
        let r = http.get(format!("{}{path}", p.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.bytes().await.unwrap().len() > 100, "{path}");
    }

    // The printed admin password signs in.
    let password = p
        .admin_password
        .clone()
        .expect("first start prints the admin password");
    let token = Gql::new(&p.url).token("admin", &password).await;
    let me = Gql::new(&p.url)
        .call(Some(&token), None, "{ me { username role } }", json!({}))
        .await
        .0;
    assert_eq!(
        me["data"]["me"],
        json!({"username": "admin", "role": "PLATFORM_ADMIN"})
    );

    // Metrics count what happened, in the Prometheus text format.
    let m = http.get(format!("{}/metrics", p.url)).send().await.unwrap();
    assert_eq!(m.status(), 200);
    assert!(
        m.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let m = m.text().await.unwrap();
    assert!(m.contains("yuelu_build_info{version="), "{m}");
    assert!(
        m.contains(r#"yuelu_http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"yuelu_graphql_requests_total{operation="signIn",outcome="ok"} 1"#),
        "{m}"
    );

    // SIGTERM stops it gracefully.
    p.child.signal("TERM");
    let status = p.child.wait_exit(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "exit {status:?}\n{}", p.child.log());
    assert!(p.child.log().contains("stopped"));
}

#[tokio::test]
async fn restart_keeps_the_admin_and_the_console_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut first = Platform::start(&data, &dir.path().join("first.log"), &[]).unwrap();
    let password = first.admin_password.clone().unwrap();
    first.child.signal("INT");
    assert!(
        first
            .child
            .wait_exit(Duration::from_secs(30))
            .unwrap()
            .success()
    );

    // The first start generated the CA master key into the data dir, readable by us alone,
    // and said that production must bring its own.
    let key = data.join("master.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        first.child.log().contains("production must supply"),
        "{}",
        first.child.log()
    );
    let key_bytes = std::fs::read(&key).unwrap();

    let second = Platform::start(&data, &dir.path().join("second.log"), &[]).unwrap();
    assert!(
        second.admin_password.is_none(),
        "a second start must not create another admin"
    );
    assert_eq!(std::fs::read(&key).unwrap(), key_bytes, "the key is kept");
    assert!(!second.child.log().contains("production must supply"));
    let s = Gql::new(&second.url).sign_in("admin", &password).await;
    assert_eq!(s["data"]["signIn"]["user"]["username"], "admin", "{s}");
    let wrong = Gql::new(&second.url)
        .sign_in("admin", "not-the-password")
        .await;
    assert_eq!(wrong["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    // The console: sign-in form with CSRF, session cookie, overview, sign-out.
    let browser = console::client();
    let page = browser
        .get(format!("{}/signin", second.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    // A forged form (no matching CSRF cookie value) is refused.
    let forged = browser
        .post(format!("{}/signin", second.url))
        .form(&[
            ("username", "admin"),
            ("password", password.as_str()),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let page = browser
        .get(format!("{}/signin", second.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf2 = csrf_of(&page);
    assert_ne!(csrf, csrf2);
    let signed_in = browser
        .post(format!("{}/signin", second.url))
        .form(&[
            ("username", "admin"),
            ("password", password.as_str()),
            ("csrf", csrf2.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    assert!(signed_in.url().path().ends_with("/console"));
    let overview = signed_in.text().await.unwrap();
    assert!(
        overview.contains("欢迎，admin") && overview.contains("平台管理员"),
        "{overview}"
    );
    let out = browser
        .post(format!("{}/signout", second.url))
        .form(&[("csrf", csrf_of(&overview))])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let after = browser
        .get(format!("{}/console", second.url))
        .send()
        .await
        .unwrap();
    assert!(
        after.url().path().ends_with("/signin"),
        "signed out: back to sign-in"
    );
}

#[test]
fn bad_flags_and_unusable_data_dirs_fail_clearly() {
    let run = |args: &[&str]| {
        let out = Command::new(yuelu_bin()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (out.status.code(), stderr)
    };
    let (code, err) = run(&["up", "--listen", "not-an-address"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--listen"), "{err}");
    let (code, err) = run(&["up", "--no-such-flag"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, err) = run(&["up", "--workers", "0"]);
    assert_eq!(code, Some(2), "{err}");

    // A data dir that cannot be created (its parent is a file). Root ignores permissions, so a
    // read-only directory would not do.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let bad = file.join("data");
    let (code, err) = run(&[
        "up",
        "--data-dir",
        bad.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("error: data directory") && err.contains("a-file"),
        "{err}"
    );
    assert!(!bad.exists());

    // `yuelu api` is for production: it wants a master key, and a bad one is refused.
    let data = dir.path().join("api-data");
    let data = data.to_str().unwrap();
    let (code, err) = run(&["api", "--data-dir", data, "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("master key: none given"), "{err}");
    let short = dir.path().join("short.key");
    std::fs::write(&short, "too short").unwrap();
    let (code, err) = run(&[
        "api",
        "--data-dir",
        data,
        "--listen",
        "127.0.0.1:0",
        "--master-key-file",
        short.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("error: master key"), "{err}");
}

#[test]
fn a_data_dir_serves_one_process_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _first = Platform::start(&data, &dir.path().join("first.log"), &[]).unwrap();
    let out = Command::new(yuelu_bin())
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("in use by another yuelu process"), "{err}");
}

#[test]
fn the_port_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = Platform::start(&dir.path().join("a"), &dir.path().join("a.log"), &[]).unwrap();
    let addr = first.url.trim_start_matches("http://").to_owned();
    let out = Command::new(yuelu_bin())
        .args(["up", "--listen", &addr, "--data-dir"])
        .arg(dir.path().join("b"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

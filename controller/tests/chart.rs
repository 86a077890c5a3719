//! The chart: its CRD copy matches `yuelu crd` (set `YUELU_UPDATE_CRDS=1` to rewrite it),
//! `helm lint` and `helm template` pass, and the rendered chart and the examples validate
//! against a real kube-apiserver (`kubectl apply --dry-run=server`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

const CRD_COPY: &str = "charts/yuelu/crds/yuelu.io_crds.yaml";

#[test]
fn chart_crds_match_the_rust_types() {
    let generated = yuelu_controller::crd_yaml().unwrap();
    let path = repo().join(CRD_COPY);
    if std::env::var_os("YUELU_UPDATE_CRDS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let copy = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        copy == generated,
        "{CRD_COPY} has drifted from the Rust types: run `yuelu crd > {CRD_COPY}` (or this test with YUELU_UPDATE_CRDS=1)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_lints_renders_and_validates_on_the_apiserver() {
    let tools = yuelu_e2e::kube::KubeTools::find();
    let chart = repo().join("charts/yuelu");
    let out = tools.helm(&["lint", "--strict", chart.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "helm lint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let env = setup(false).await;
    for values in [
        vec![],
        vec![
            "--set",
            "controller.devIssuer=true",
            "--set",
            "replicaCount=3",
        ],
        vec![
            "--set",
            "controller.platform.url=https://yuelu.example.cn",
            "--set",
            "controller.platform.caConfigMap.name=platform-ca",
        ],
    ] {
        let rendered = helm_template(&values);
        for kind in [
            "Deployment",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
        ] {
            assert!(
                rendered.contains(&format!("kind: {kind}\n")),
                "no {kind} rendered"
            );
        }
        let out = env
            .cluster
            .kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], &rendered);
        assert!(
            out.status.success(),
            "dry-run of the chart: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let platform = helm_template(&[
        "--set",
        "controller.platform.url=https://yuelu.example.cn",
        "--set",
        "controller.platform.caConfigMap.name=platform-ca",
    ]);
    for want in [
        "name: YUELU_CONTROLLER_PLATFORM_URL",
        "value: \"https://yuelu.example.cn\"",
        "value: /etc/yuelu/platform-ca/ca.crt",
        "name: platform-ca",
    ] {
        assert!(platform.contains(want), "{want} missing in\n{platform}");
    }
    // One issuer: the development issuer and the platform CA exclude each other.
    let both = tools.helm(&[
        "template",
        "t",
        chart.to_str().unwrap(),
        "--set",
        "controller.devIssuer=true",
        "--set",
        "controller.platform.url=https://yuelu.example.cn",
    ]);
    assert!(!both.status.success());
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("exclusive"),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
    let rendered = helm_template(&[]);
    assert!(rendered.contains("replicas: 2"), "two replicas by default");
    assert!(rendered.contains("args: [\"controller\"]"));

    // The examples validate against the installed CRDs exactly as written.
    for example in [
        "examples/single-org-network.yaml",
        "examples/consortium.yaml",
    ] {
        let path = repo().join(example);
        // Namespaces must exist for a server-side dry run of namespaced objects.
        let text = std::fs::read_to_string(&path).unwrap();
        let namespaces = documents_of_kind(&text, &["Namespace"]);
        let out = env
            .cluster
            .kubectl_stdin(&["apply", "-f", "-"], &namespaces);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        env.cluster
            .kubectl_ok(&["apply", "--dry-run=server", "-f", path.to_str().unwrap()]);
    }
    // `kubectl explain` reads the field descriptions.
    let explain = env
        .cluster
        .kubectl_ok(&["explain", "chainmember.spec.validators"]);
    assert!(explain.contains("Validator nodes"), "{explain}");
    let explain = env.cluster.kubectl_ok(&[
        "explain",
        "chainmember.spec.certificates.enrollmentSecretRef",
    ]);
    assert!(
        explain.contains("yle_") && explain.contains("-required-"),
        "{explain}"
    );
}

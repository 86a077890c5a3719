//! Reconcile benchmark on a real kube-apiserver: 1, 100 and 1,000 networks (each with one
//! member of 4 validators). Prints a table: time until every member's children are applied,
//! the controller's peak RSS, and writes per idle minute (goal: 0). Not a test.
//!
//! `cargo bench -p yuelu-controller --bench reconcile` (set `YUELU_BENCH_SIZES=1,100` to
//! choose sizes, `YUELU_BENCH_IDLE_SECS` for the idle window, 60 by default).
//!
//! The controller runs in this process (as in the integration tests), so the RSS includes the
//! small driver that creates the resources.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, ResourceExt};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use yuelu_controller::ControllerArgs;
use yuelu_controller::crd::{ChainMember, ChainNetwork};
use yuelu_e2e::kube::KubeCluster;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

async fn admin(cluster: &KubeCluster) -> Client {
    let kc = Kubeconfig::read_from(cluster.admin_kubeconfig()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    config.read_timeout = Some(Duration::from_secs(120));
    Client::try_from(config).unwrap()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    yuelu_e2e::install_crypto_provider();
    match reqwest::get(format!("http://{addr}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn resource_versions(client: &Client, ns: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    macro_rules! collect {
        ($ty:ty) => {
            for o in Api::<$ty>::namespaced(client.clone(), ns)
                .list(&ListParams::default())
                .await
                .unwrap()
            {
                out.insert(
                    format!("{}/{}", stringify!($ty), o.name_any()),
                    o.resource_version().unwrap_or_default(),
                );
            }
        };
    }
    collect!(ChainNetwork);
    collect!(ChainMember);
    collect!(k8s_openapi::api::core::v1::ConfigMap);
    collect!(k8s_openapi::api::core::v1::Secret);
    collect!(k8s_openapi::api::core::v1::Service);
    collect!(k8s_openapi::api::apps::v1::StatefulSet);
    collect!(k8s_openapi::api::networking::v1::NetworkPolicy);
    out
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sizes: Vec<usize> = std::env::var("YUELU_BENCH_SIZES")
        .unwrap_or_else(|_| "1,100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let idle = Duration::from_secs(
        std::env::var("YUELU_BENCH_IDLE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        eprintln!("starting etcd + kube-apiserver ...");
        let cluster = KubeCluster::start();
        let crds = yuelu_controller::crd_yaml().unwrap();
        let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &crds);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        cluster.kubectl_ok(&["wait", "--for=condition=Established", "crd/chainnetworks.yuelu.io", "crd/chainmembers.yuelu.io"]);
        cluster.kubectl_ok(&["create", "namespace", "yuelu-system"]);
        let client = admin(&cluster).await;

        let addr: std::net::SocketAddr = ([127, 0, 0, 1], yuelu_e2e::free_port()).into();
        let mut args = ControllerArgs::for_tests(cluster.admin_kubeconfig().to_owned(), addr, "bench");
        // Resyncs every 20 s, so that the idle window sees several.
        args.resync = 20;
        args.concurrency = 32;
        args.lease_duration = 15;
        args.lease_grace = 5;
        let controller = tokio::spawn(yuelu_controller::run(args));

        let mut rows = Vec::new();
        for n in sizes {
            let ns = format!("bench-{n}");
            let nsobj: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
            Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &nsobj).await.unwrap();
            let before = scrape(addr).await;
            let start = Instant::now();
            let nets: Api<ChainNetwork> = Api::namespaced(client.clone(), &ns);
            let mems: Api<ChainMember> = Api::namespaced(client.clone(), &ns);
            futures::stream::iter(0..n)
                .map(|i| {
                    let (nets, mems) = (nets.clone(), mems.clone());
                    async move {
                        let net: ChainNetwork = serde_json::from_value(serde_json::json!({
                            "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainNetwork",
                            "metadata": {"name": format!("net-{i}")},
                            "spec": {"engine": "yuelu", "version": "0.1", "consensus": "tendermint", "crypto": "ecdsa-p256"}
                        }))
                        .unwrap();
                        nets.create(&PostParams::default(), &net).await.unwrap();
                        let m: ChainMember = serde_json::from_value(serde_json::json!({
                            "apiVersion": "yuelu.io/v1alpha1", "kind": "ChainMember",
                            "metadata": {"name": format!("m{i}")},
                            "spec": {"network": {"name": format!("net-{i}")}, "organization": format!("org{i}"), "validators": 4}
                        }))
                        .unwrap();
                        mems.create(&PostParams::default(), &m).await.unwrap();
                    }
                })
                .buffer_unordered(16)
                .collect::<Vec<_>>()
                .await;
            let created = start.elapsed();
            // Until every member reports its children applied.
            loop {
                let done = mems
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .filter(|m| {
                        m.status.as_ref().is_some_and(|s| {
                            s.conditions.iter().any(|c| c.type_ == "Provisioned" && c.status == "True")
                        })
                    })
                    .count();
                if done == n {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(1800), "{done}/{n} after 30 minutes");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let converged = start.elapsed();
            let after = scrape(addr).await;
            let requests = metric(&after, "yuelu_controller_child_writes_total{") - metric(&before, "yuelu_controller_child_writes_total{");
            eprintln!("{n}: all children applied after {converged:?} (creates took {created:?}); idle for {idle:?} ...");

            // Idle: no spec changes; resyncs run every 20 s.
            let rv_before = resource_versions(&client, &ns).await;
            let m_before = scrape(addr).await;
            tokio::time::sleep(idle).await;
            let m_after = scrape(addr).await;
            let rv_after = resource_versions(&client, &ns).await;
            let changed = rv_before.iter().filter(|(k, v)| rv_after.get(*k) != Some(*v)).count();
            let skipped = |t: &str| -> f64 {
                t.lines()
                    .filter(|l| l.starts_with("yuelu_controller_child_writes_total{") && l.contains("outcome=\"skipped\""))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum()
            };
            let status = metric(&m_after, "yuelu_controller_status_writes_total{") - metric(&m_before, "yuelu_controller_status_writes_total{");
            let child_total = metric(&m_after, "yuelu_controller_child_writes_total{") - metric(&m_before, "yuelu_controller_child_writes_total{");
            // Skipped applies send no request.
            let child_requests = child_total - (skipped(&m_after) - skipped(&m_before));
            let reconciles = metric(&m_after, "yuelu_controller_reconciliations_total{") - metric(&m_before, "yuelu_controller_reconciliations_total{");
            let per_minute = 60.0 / idle.as_secs_f64();
            rows.push((
                n,
                converged,
                peak_rss_mib(),
                (child_requests + status) * per_minute,
                changed as f64 * per_minute,
                reconciles * per_minute,
                requests,
                rv_before.len(),
            ));
        }
        controller.abort();

        println!();
        println!("| networks | objects | time until all children applied | peak RSS (MiB) | apply decisions during rollout (incl. skipped) | idle reconciles/min | idle write requests/min | idle objects changed/min |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (n, t, rss, writes, changed, reconciles, requests, objects) in rows {
            println!(
                "| {n} | {objects} | {:.1} s | {rss:.0} | {requests:.0} | {reconciles:.0} | {writes:.0} | {changed:.0} |",
                t.as_secs_f64()
            );
        }
    });
}

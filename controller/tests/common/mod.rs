//! Shared set-up of the integration tests: a real kube-apiserver (and etcd, and
//! kube-controller-manager where garbage collection matters), the CRDs from `yuelu crd`, the
//! chart's RBAC bound to the group-less user the controller runs as, and in-process controller
//! replicas.

#![allow(dead_code)]

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, ResourceExt};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use yuelu_controller::ControllerArgs;
use yuelu_e2e::kube::{KubeCluster, KubeTools};

/// The user the controller runs as (declared in the harness's token file).
pub const CONTROLLER_USER: &str = "yuelu-controller";
/// The controller's namespace.
pub const CONTROLLER_NS: &str = "yuelu-system";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A cluster ready for the controller.
pub struct Env {
    /// The cluster (stops on drop).
    pub cluster: KubeCluster,
    /// An admin client for the test's own reads and writes.
    pub admin: Client,
}

/// A kube client from a kubeconfig file.
pub async fn client(path: &Path) -> Client {
    yuelu_e2e::install_crypto_provider();
    let kc = Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// Renders the chart with helm (what the RBAC tests use).
pub fn helm_template(extra: &[&str]) -> String {
    let tools = KubeTools::find();
    let chart = repo().join("charts/yuelu");
    let mut args = vec![
        "template",
        "t",
        chart.to_str().unwrap(),
        "--namespace",
        CONTROLLER_NS,
    ];
    args.extend_from_slice(extra);
    let out = tools.helm(&args);
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The documents of a multi-document YAML stream whose kind is one of `kinds`.
pub fn documents_of_kind(yaml: &str, kinds: &[&str]) -> String {
    yaml.split("\n---")
        .filter(|d| {
            d.lines()
                .any(|l| kinds.iter().any(|k| l.trim() == format!("kind: {k}")))
        })
        .map(|d| format!("---\n{d}\n"))
        .collect()
}

/// Starts the cluster, installs the CRDs and the chart's RBAC for [`CONTROLLER_USER`].
pub async fn setup(controller_manager: bool) -> Env {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,yuelu_controller=info")
            }),
        )
        .with_test_writer()
        .try_init();
    let cluster = KubeCluster::builder()
        .controller_manager(controller_manager)
        .users([CONTROLLER_USER])
        .start();
    let crds = yuelu_controller::crd_yaml().unwrap();
    let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &crds);
    assert!(
        out.status.success(),
        "CRDs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/chainnetworks.yuelu.io",
        "crd/chainmembers.yuelu.io",
        "--timeout=60s",
    ]);
    cluster.kubectl_ok(&["create", "namespace", CONTROLLER_NS]);
    // Exactly the chart's ClusterRole and Role, bound to the controller's user.
    let rbac = documents_of_kind(&helm_template(&[]), &["ClusterRole", "Role"]);
    let out = cluster.kubectl_stdin(&["apply", "-f", "-"], &rbac);
    assert!(
        out.status.success(),
        "RBAC: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        "yuelu-controller-test",
        "--clusterrole=t-yuelu",
        &format!("--user={CONTROLLER_USER}"),
    ]);
    cluster.kubectl_ok(&[
        "create",
        "rolebinding",
        "yuelu-controller-test",
        "-n",
        CONTROLLER_NS,
        "--role=t-yuelu",
        &format!("--user={CONTROLLER_USER}"),
    ]);
    let admin = client(cluster.admin_kubeconfig()).await;
    Env { cluster, admin }
}

/// A running in-process controller replica.
pub struct Replica {
    /// Its task; aborting it drops everything it runs (the Lease is released).
    pub task: tokio::task::JoinHandle<Result<(), yuelu_controller::ControllerError>>,
    /// Its `/healthz` and `/metrics` address.
    pub addr: SocketAddr,
    /// Its identity.
    pub identity: String,
}

impl Replica {
    /// `/metrics` text.
    pub async fn metrics(&self) -> String {
        http_get(self.addr, "/metrics").await.1
    }

    /// A metric's value (first sample of the name with the given label text, if any).
    pub async fn metric(&self, name: &str, labels: &str) -> Option<f64> {
        self.metrics().await.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?;
            let rest = if labels.is_empty() {
                rest.strip_prefix(' ')?
            } else {
                rest.strip_prefix(&format!("{{{labels}}} "))?
            };
            rest.trim().parse().ok()
        })
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a controller replica under the chart's RBAC (with the development issuer).
pub fn start_replica(env: &Env, identity: &str, resync_secs: u64) -> Replica {
    start_replica_with(env, identity, |args| args.resync = resync_secs)
}

/// Starts a controller replica under the chart's RBAC, its test arguments changed by `tweak`.
pub fn start_replica_with(
    env: &Env,
    identity: &str,
    tweak: impl FnOnce(&mut ControllerArgs),
) -> Replica {
    let port = yuelu_e2e::free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut args = ControllerArgs::for_tests(
        env.cluster.user_kubeconfig(CONTROLLER_USER).to_owned(),
        addr,
        identity,
    );
    tweak(&mut args);
    Replica {
        task: tokio::spawn(yuelu_controller::run(args)),
        addr,
        identity: identity.to_owned(),
    }
}

/// An HTTP GET on loopback: `(status, body)`; `(0, "")` when nothing answers (a replica
/// still starting, or one that does not lead).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    yuelu_e2e::install_crypto_provider();
    match reqwest::get(format!("http://{addr}{path}")).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates a namespace.
pub async fn namespace(env: &Env, name: &str) {
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    let api: Api<Namespace> = Api::all(env.admin.clone());
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("namespace {name}: {e}"),
    }
}

/// Applies a YAML file of the repository with kubectl, as an SRE would.
pub fn kubectl_apply_file(env: &Env, rel: &str) -> String {
    let path = repo().join(rel);
    env.cluster
        .kubectl_ok(&["apply", "-f", path.to_str().unwrap()])
}

/// Events about an object: `(type, reason, note, reporting instance)`.
pub async fn events_for(env: &Env, ns: &str, name: &str) -> Vec<(String, String, String, String)> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(env.admin.clone(), ns);
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
                e.reporting_instance.unwrap_or_default(),
            )
        })
        .collect()
}

/// Names of the objects of a kind in a namespace.
pub async fn names<K>(env: &Env, ns: &str) -> Vec<String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(env.admin.clone(), ns);
    let mut n: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|o| o.name_any())
        .collect();
    n.sort();
    n
}

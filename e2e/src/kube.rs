//! A real Kubernetes control plane on loopback: etcd, kube-apiserver and (optionally)
//! kube-controller-manager, as `shared/notes/real-kubernetes-parts.md` describes.
//!
//! The binaries come from `scripts/prepare` (kube-apiserver and kube-controller-manager v1.20.2
//! built from Debian's `kubernetes` source package; etcd from Debian; helm and kubectl from the
//! PyPI wheel that ships them). The harness reads `YUELU_KUBE_BIN`, `YUELU_HELM` and
//! `YUELU_KUBECTL`, falls back to the cache folders `scripts/prepare` fills, and fails with a
//! message that says to run `scripts/prepare` when something is missing.
//!
//! Two static-token users exist: `admin` (group `system:masters`) and a group-less user whose
//! name the caller picks (e.g. `yuelu-controller`), so that a controller can be run under exactly
//! the RBAC a chart grants. The token file is read once by the apiserver, so both are declared
//! before it starts.
//!
//! Everything listens on 127.0.0.1 on free ports and stops when the [`KubeCluster`] drops.

use crate::{ChildGuard, free_port};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The Kubernetes version the harness runs.
pub const KUBE_VERSION: &str = "1.20.2";

/// What to start.
#[derive(Clone, Debug)]
pub struct KubeClusterBuilder {
    controller_manager: bool,
    users: Vec<String>,
}

impl Default for KubeClusterBuilder {
    fn default() -> Self {
        KubeClusterBuilder {
            controller_manager: false,
            users: vec!["yuelu-controller".to_owned()],
        }
    }
}

impl KubeClusterBuilder {
    /// Also runs kube-controller-manager (garbage collection of owned objects, StatefulSet
    /// pods, namespace deletion). Pods stay Pending: there is no scheduler or kubelet.
    pub fn controller_manager(mut self, on: bool) -> Self {
        self.controller_manager = on;
        self
    }

    /// The group-less users to declare besides `admin` (default: `yuelu-controller`).
    pub fn users<I: IntoIterator<Item = S>, S: Into<String>>(mut self, users: I) -> Self {
        self.users = users.into_iter().map(Into::into).collect();
        self
    }

    /// Starts etcd and kube-apiserver (and kube-controller-manager if asked), and waits until
    /// the apiserver serves. Panics with the logs when something does not come up.
    pub fn start(self) -> KubeCluster {
        KubeCluster::start_with(self)
    }
}

/// A running etcd + kube-apiserver (+ kube-controller-manager) on loopback.
#[derive(Debug)]
pub struct KubeCluster {
    // Field order is drop order: stop the clients of etcd before etcd itself.
    controller_manager: Option<ChildGuard>,
    apiserver: ChildGuard,
    etcd: ChildGuard,
    server: String,
    admin_kubeconfig: PathBuf,
    user_kubeconfigs: Vec<(String, PathBuf)>,
    dir: tempfile::TempDir,
}

/// Where the Kubernetes binaries are, from the environment or `scripts/prepare`'s cache.
#[derive(Clone, Debug)]
pub struct KubeTools {
    /// Folder with `kube-apiserver` and `kube-controller-manager`.
    pub kube_bin: PathBuf,
    /// The `helm` binary.
    pub helm: PathBuf,
    /// The `kubectl` binary.
    pub kubectl: PathBuf,
    /// The `etcd` binary.
    pub etcd: PathBuf,
}

fn cache_dir() -> PathBuf {
    if let Some(c) = std::env::var_os("YUELU_CACHE") {
        return PathBuf::from(c);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/root/.cache"));
    base.join("yuelu")
}

fn need(path: PathBuf, what: &str, var: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} not found at {} (set {var}, or run scripts/prepare: it builds and caches the \
         Kubernetes parts once and prints the variables to export)",
        path.display()
    );
    path
}

impl KubeTools {
    /// Finds the tools: `YUELU_KUBE_BIN`, `YUELU_HELM`, `YUELU_KUBECTL`, else the cache folders
    /// that `scripts/prepare` fills. Panics with what to run when one is missing.
    pub fn find() -> KubeTools {
        let cache = cache_dir();
        let env_or = |var: &str, default: PathBuf| {
            std::env::var_os(var).map(PathBuf::from).unwrap_or(default)
        };
        let kube_bin = env_or(
            "YUELU_KUBE_BIN",
            cache.join(format!("kubernetes-{KUBE_VERSION}/bin")),
        );
        let kube_bin = need(kube_bin, "kube-apiserver folder", "YUELU_KUBE_BIN");
        need(
            kube_bin.join("kube-apiserver"),
            "kube-apiserver",
            "YUELU_KUBE_BIN",
        );
        let helm = need(
            env_or("YUELU_HELM", cache.join("k8s-tools/helm")),
            "helm",
            "YUELU_HELM",
        );
        let kubectl = need(
            env_or("YUELU_KUBECTL", cache.join("k8s-tools/kubectl")),
            "kubectl",
            "YUELU_KUBECTL",
        );
        let etcd = ["/usr/bin/etcd", "/usr/local/bin/etcd"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| need(PathBuf::from("/usr/bin/etcd"), "etcd", "PATH"));
        KubeTools {
            kube_bin,
            helm,
            kubectl,
            etcd,
        }
    }

    /// Runs `helm` with `args` and returns its output (not checked).
    pub fn helm(&self, args: &[&str]) -> Output {
        Command::new(&self.helm)
            .args(args)
            .env(
                "HELM_CACHE_HOME",
                std::env::temp_dir().join("yuelu-helm-cache"),
            )
            .env(
                "HELM_CONFIG_HOME",
                std::env::temp_dir().join("yuelu-helm-config"),
            )
            .env(
                "HELM_DATA_HOME",
                std::env::temp_dir().join("yuelu-helm-data"),
            )
            .output()
            .unwrap_or_else(|e| panic!("cannot run helm: {e}"))
    }
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn token() -> String {
    // Unique enough for a loopback test cluster; no crypto dependency for a test token.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", nanos, std::process::id())
}

fn kubeconfig(server: &str, user: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: {user}\n    namespace: default\ncurrent-context: test\n"
    )
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl KubeCluster {
    /// A builder; `KubeCluster::builder().start()` runs etcd and kube-apiserver.
    pub fn builder() -> KubeClusterBuilder {
        KubeClusterBuilder::default()
    }

    /// Starts etcd and kube-apiserver with the default users.
    pub fn start() -> KubeCluster {
        KubeClusterBuilder::default().start()
    }

    fn start_with(b: KubeClusterBuilder) -> KubeCluster {
        let tools = KubeTools::find();
        let dir = tempfile::Builder::new()
            .prefix("yuelu-kube-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let d = dir.path().to_path_buf();
        let d = d.as_path();

        // etcd, fsync off: test data need not survive a power cut.
        let (etcd_port, peer_port) = (free_port(), free_port());
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let mut cmd = Command::new(&tools.etcd);
        cmd.args([
            "--data-dir",
            &d.join("etcd").to_string_lossy(),
            "--listen-client-urls",
            &etcd_url,
            "--advertise-client-urls",
            &etcd_url,
            "--listen-peer-urls",
            &format!("http://127.0.0.1:{peer_port}"),
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{peer_port}"),
            "--initial-cluster",
            &format!("default=http://127.0.0.1:{peer_port}"),
            "--unsafe-no-fsync",
        ]);
        let mut etcd =
            ChildGuard::spawn("etcd", cmd, &d.join("etcd.log")).unwrap_or_else(|e| panic!("{e}"));
        etcd.wait_for_log("ready to serve client requests", Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}"));

        // Service-account signing keys and the static tokens.
        let key = d.join("sa.key");
        let public = d.join("sa.pub");
        openssl(&["genrsa", "-out", &key.to_string_lossy(), "2048"]);
        openssl(&[
            "rsa",
            "-in",
            &key.to_string_lossy(),
            "-pubout",
            "-out",
            &public.to_string_lossy(),
        ]);
        let admin_token = token();
        let mut tokens = format!("{admin_token},admin,admin,system:masters\n");
        let mut users = Vec::new();
        for (i, user) in b.users.iter().enumerate() {
            let t = format!("{}u{i}", token());
            tokens.push_str(&format!("{t},{user},{user}\n"));
            users.push((user.clone(), t));
        }
        let token_file = d.join("tokens.csv");
        write(&token_file, &tokens);

        let port = free_port();
        let server = format!("https://127.0.0.1:{port}");
        let mut cmd = Command::new(tools.kube_bin.join("kube-apiserver"));
        cmd.args([
            &format!("--etcd-servers={etcd_url}"),
            &format!("--secure-port={port}"),
            "--bind-address=127.0.0.1",
            &format!("--cert-dir={}", d.join("certs").display()),
            &format!("--token-auth-file={}", token_file.display()),
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            &format!("--service-account-key-file={}", public.display()),
            &format!("--service-account-signing-key-file={}", key.display()),
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=true",
            // Fewer background loops on a shared 2-core machine.
            "--enable-priority-and-fairness=false",
        ]);
        let apiserver = ChildGuard::spawn("kube-apiserver", cmd, &d.join("apiserver.log"))
            .unwrap_or_else(|e| panic!("{e}"));

        let admin_kubeconfig = d.join("admin.kubeconfig");
        write(
            &admin_kubeconfig,
            &kubeconfig(&server, "admin", &admin_token),
        );
        let user_kubeconfigs = users
            .iter()
            .map(|(user, t)| {
                let p = d.join(format!("{user}.kubeconfig"));
                write(&p, &kubeconfig(&server, user, t));
                (user.clone(), p)
            })
            .collect();

        let mut cluster = KubeCluster {
            controller_manager: None,
            apiserver,
            etcd,
            server,
            admin_kubeconfig,
            user_kubeconfigs,
            dir,
        };
        cluster.wait_ready(&tools, Duration::from_secs(120));

        if b.controller_manager {
            let mut cmd = Command::new(tools.kube_bin.join("kube-controller-manager"));
            let kc = cluster.admin_kubeconfig.display().to_string();
            cmd.args([
                &format!("--kubeconfig={kc}"),
                &format!("--authentication-kubeconfig={kc}"),
                &format!("--authorization-kubeconfig={kc}"),
                "--bind-address=127.0.0.1",
                &format!("--secure-port={}", free_port()),
                "--port=0",
                "--leader-elect=false",
                // Only what the tests need: owner-reference garbage collection, StatefulSet
                // pods, namespace deletion, service-account tokens.
                "--controllers=garbagecollector,statefulset,namespace,serviceaccount",
                &format!(
                    "--service-account-private-key-file={}",
                    d.join("sa.key").display()
                ),
            ]);
            let mut cm = ChildGuard::spawn(
                "kube-controller-manager",
                cmd,
                &d.join("controller-manager.log"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            cm.wait_for_log("Started \"garbagecollector\"", Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("{e}"));
            cluster.controller_manager = Some(cm);
        }
        cluster
    }

    fn wait_ready(&self, tools: &KubeTools, timeout: Duration) {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < timeout {
            let out = self.kubectl_with(tools, &["get", "--raw", "/readyz"]);
            if out.status.success() {
                // Readiness also waits for the bootstrap RBAC and default namespaces.
                let ns = self.kubectl_with(tools, &["get", "namespace", "default", "-o", "name"]);
                if ns.status.success() {
                    return;
                }
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "kube-apiserver not ready within {timeout:?}: {last}\napiserver log (tail):\n{}",
            tail(&self.apiserver.log(), 40)
        );
    }

    fn kubectl_with(&self, tools: &KubeTools, args: &[&str]) -> Output {
        Command::new(&tools.kubectl)
            .arg(format!("--kubeconfig={}", self.admin_kubeconfig.display()))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"))
    }

    /// The apiserver's URL (`https://127.0.0.1:PORT`, self-signed certificate).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// A kubeconfig for `admin` (system:masters).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// A kubeconfig for a group-less user declared with [`KubeClusterBuilder::users`].
    pub fn user_kubeconfig(&self, user: &str) -> &Path {
        self.user_kubeconfigs
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_path())
            .unwrap_or_else(|| panic!("no test user {user:?} was declared"))
    }

    /// A scratch folder that lives as long as the cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `kubectl` as admin with `args`; returns its output (not checked).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(&KubeTools::find(), args)
    }

    /// Runs `kubectl` as admin, feeding `stdin`; returns its output (not checked).
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let tools = KubeTools::find();
        let mut child = Command::new(&tools.kubectl)
            .arg(format!("--kubeconfig={}", self.admin_kubeconfig.display()))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.as_bytes())
                .unwrap_or_else(|e| panic!("kubectl stdin: {e}"));
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("kubectl: {e}"))
    }

    /// Runs `kubectl` as admin and panics with its stderr unless it succeeds; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// etcd's log so far.
    pub fn etcd_log(&self) -> String {
        self.etcd.log()
    }

    /// The apiserver's log so far.
    pub fn apiserver_log(&self) -> String {
        self.apiserver.log()
    }

    /// The controller manager's log so far (empty when it does not run).
    pub fn controller_manager_log(&self) -> String {
        self.controller_manager
            .as_ref()
            .map(ChildGuard::log)
            .unwrap_or_default()
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

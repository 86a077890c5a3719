//! The Kubernetes operator: `ChainNetwork` and `ChainMember` and their reconcilers.
//!
//! Reconciliation is a pipeline (dereference → validate → build → apply → status, see
//! [`reconcile`]); the build step ([`children`]) is pure. Node plans come from the engine
//! plugins through the shared [`yuelu_engine::Engine`] trait; the controller never looks inside
//! an engine.
//!
//! Layout:
//! - [`crd`]: the resource types (`yuelu crd` prints them);
//! - [`reconcile`]: the two reconcilers and their shared [`reconcile::Context`];
//! - [`children`]: the pure build of a member's children from engine plans;
//! - [`genesis`], [`identity`], [`issuer`], [`trust`]: genesis ConfigMaps, node keys in
//!   Secrets, node certificates by CSR from the platform CA (or the development issuer), and
//!   the CA bundle every node of a network trusts;
//! - [`status`]: node and network status from pods and node metrics (pure);
//! - [`apply`]: server-side apply that writes nothing when nothing changed;
//! - [`leader`], [`health`], [`metrics`]: leader election, `/healthz`, `/metrics`.

pub mod apply;
pub mod children;
pub mod conditions;
pub mod crd;
pub mod engines;
pub mod genesis;
pub mod health;
pub mod identity;
pub mod issuer;
pub mod labels;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod run;
pub mod status;
pub mod trust;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use run::run;

/// Flags of `yuelu controller`. Every flag also reads an environment variable
/// `YUELU_CONTROLLER_...`.
#[derive(Debug, Clone, clap::Args)]
pub struct ControllerArgs {
    /// Kubeconfig to use; in a pod the service account is used when this is absent (then
    /// `KUBECONFIG` and `~/.kube/config` are tried).
    #[arg(long, env = "YUELU_CONTROLLER_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Address of the HTTP server for `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "YUELU_CONTROLLER_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// The controller's own namespace: where its Lease and the development issuer's CA live.
    #[arg(
        long,
        env = "YUELU_CONTROLLER_NAMESPACE",
        default_value = "yuelu-system"
    )]
    pub namespace: String,

    /// This replica's identity in leader election and in events (the pod name in the chart);
    /// defaults to the host name plus a random suffix.
    #[arg(long, env = "YUELU_CONTROLLER_IDENTITY")]
    pub identity: Option<String>,

    /// Name of the Lease the replicas elect a leader on.
    #[arg(
        long,
        env = "YUELU_CONTROLLER_LEASE_NAME",
        default_value = "yuelu-controller"
    )]
    pub lease_name: String,

    /// Seconds a leader holds the Lease without renewing it; a new leader may take over after.
    #[arg(long, env = "YUELU_CONTROLLER_LEASE_DURATION", default_value_t = 15)]
    pub lease_duration: u64,

    /// Seconds before the Lease expires at which the leader renews it (tolerated clock skew).
    #[arg(long, env = "YUELU_CONTROLLER_LEASE_GRACE", default_value_t = 5)]
    pub lease_grace: u64,

    /// Base URL of the platform API whose CA issues node certificates (`POST /enroll`), e.g.
    /// `https://yuelu.example.gov.cn`. Each member then names the Secret holding its tenant's
    /// enrollment token in `spec.certificates.enrollmentSecretRef`.
    #[arg(
        long,
        env = "YUELU_CONTROLLER_PLATFORM_URL",
        conflicts_with = "dev_issuer"
    )]
    pub platform_url: Option<String>,

    /// PEM file of extra CA certificates to trust for the platform's https certificate (a
    /// private PKI), besides the system's trust store.
    #[arg(
        long,
        env = "YUELU_CONTROLLER_PLATFORM_CA_FILE",
        requires = "platform_url"
    )]
    pub platform_ca_file: Option<PathBuf>,

    /// Issue node certificates from a self-signed development CA kept in a Secret in the
    /// controller's namespace. For development and tests only; production uses
    /// `--platform-url`. Without either, members wait at `IssuerNotConfigured`.
    #[arg(long, env = "YUELU_CONTROLLER_DEV_ISSUER")]
    pub dev_issuer: bool,

    /// Validity of node certificates, in days (1 to 825, what the platform CA accepts); they
    /// are renewed after two thirds of it.
    #[arg(
        long,
        env = "YUELU_CONTROLLER_CERTIFICATE_DAYS",
        default_value_t = 90,
        value_parser = clap::value_parser!(u32).range(1..=825)
    )]
    pub certificate_days: u32,

    /// Container image of the built-in engine's nodes (`yuelu node`).
    #[arg(
        long,
        env = "YUELU_CONTROLLER_NODE_IMAGE",
        default_value = concat!("yuelu:", env!("CARGO_PKG_VERSION"))
    )]
    pub node_image: String,

    /// The cluster's DNS domain, for the stable names nodes dial each other by.
    #[arg(
        long,
        env = "YUELU_CONTROLLER_CLUSTER_DOMAIN",
        default_value = "cluster.local"
    )]
    pub cluster_domain: String,

    /// Seconds between status refreshes of an unchanged resource (node readiness, height,
    /// peers). Refreshes write nothing unless something changed.
    #[arg(long, env = "YUELU_CONTROLLER_RESYNC", default_value_t = 300)]
    pub resync: u64,

    /// Most resources reconciled at once, per kind.
    #[arg(long, env = "YUELU_CONTROLLER_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
}

impl ControllerArgs {
    /// The arguments with their defaults and the given kubeconfig, listen address and
    /// identity: what tests and benchmarks start in-process controllers with.
    pub fn for_tests(kubeconfig: PathBuf, listen: SocketAddr, identity: &str) -> Self {
        ControllerArgs {
            kubeconfig: Some(kubeconfig),
            listen,
            namespace: "yuelu-system".into(),
            identity: Some(identity.into()),
            lease_name: "yuelu-controller".into(),
            lease_duration: 4,
            lease_grace: 1,
            platform_url: None,
            platform_ca_file: None,
            dev_issuer: true,
            certificate_days: 90,
            node_image: concat!("yuelu:", env!("CARGO_PKG_VERSION")).into(),
            cluster_domain: "cluster.local".into(),
            resync: 300,
            concurrency: 16,
        }
    }
}

/// Why the controller stopped, or why `yuelu crd` failed.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// No usable Kubernetes configuration.
    #[error("kubernetes configuration: {0}")]
    Config(String),
    /// The Kubernetes API could not be reached or refused a start-up call.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The CRDs are not installed (or not readable with this RBAC).
    #[error(
        "the {0} CustomResourceDefinition is not installed or not readable: install the chart's crds/ (or `yuelu crd | kubectl apply -f -`)"
    )]
    CrdMissing(&'static str),
    /// The HTTP server could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Leader election failed.
    #[error("leader election: {0}")]
    Leader(String),
    /// Leadership was lost; the process exits so that it restarts as a follower.
    #[error("leadership lost: another replica leads now")]
    LeadershipLost,
    /// The development issuer could not be set up.
    #[error("development issuer: {0}")]
    Issuer(#[from] issuer::IssuerError),
    /// The platform issuer's flags are wrong.
    #[error("platform CA: {0}")]
    Platform(#[from] issuer::platform::PlatformConfigError),
    /// A CRD could not be encoded.
    #[error("encoding CRD: {0}")]
    CrdEncoding(serde_json::Error),
    /// A CRD could not be written as YAML.
    #[error("writing CRD YAML: {0}")]
    CrdYaml(serde_yaml::Error),
    /// The metrics registry refused a metric.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// The CustomResourceDefinitions as a multi-document YAML stream.
pub fn crd_yaml() -> Result<String, ControllerError> {
    crd::crd_yaml()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ControllerArgs,
    }

    #[test]
    fn one_issuer_at_a_time_and_validities_the_platform_accepts() {
        let ok = Cli::try_parse_from(["c", "--platform-url", "https://yuelu.example.cn"]).unwrap();
        assert_eq!(
            ok.args.platform_url.as_deref(),
            Some("https://yuelu.example.cn")
        );
        assert!(!ok.args.dev_issuer);
        for bad in [
            &["c", "--platform-url", "https://x", "--dev-issuer"][..],
            &["c", "--platform-ca-file", "/ca.pem"],
            &["c", "--dev-issuer", "--certificate-days", "826"],
            &["c", "--dev-issuer", "--certificate-days", "0"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}

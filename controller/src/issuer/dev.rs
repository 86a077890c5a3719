//! The self-signed **development** issuer (`--dev-issuer`): a `yuelu-ca` certificate
//! authority kept in the Secret [`DEV_ISSUER_SECRET`] of the controller's namespace, so that
//! replicas and restarts share one CA. Revoked serials are listed in the Secret's
//! `revoked.txt`.
//!
//! `yuelu-ca` hands out a new CA's private key only sealed under a master key (its storage
//! format), so the Secret keeps the sealed key together with the master key that opens it: the
//! Secret protects both, as it protected the plain key of earlier versions (whose `ca.key` is
//! still read).

use super::{
    BoxFuture, CertificateRequest, Credentials, IssuedCertificate, IssuerError, NodeIssuer,
    Revocation, profile,
};
use crate::crd::ChainMember;
use crate::labels;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;
use yuelu_ca::{
    CaId, CaSpec, CertificateAuthority, CryptoSuite, IssueRequest, MasterKey, NamePolicy,
    PrivateKeyPem, SealedKey, Validity, VerifiedCsr,
};

/// Name of the development issuer's Secret in the controller's namespace.
pub const DEV_ISSUER_SECRET: &str = "yuelu-dev-issuer";
/// Common name of the development CA: says what it is wherever the certificate is looked at.
pub const DEV_ISSUER_SUBJECT: &str = "Yuelu DEVELOPMENT issuer - not for production";
/// Organisation of the development CA (and so of every certificate it issues).
pub const DEV_ISSUER_ORGANISATION: &str = "Yuelu development";

/// The id the sealed key is bound to.
const CA_ID: &str = DEV_ISSUER_SECRET;
const KEY_CERT: &str = "ca.crt";
const KEY_SEALED: &str = "ca.key.sealed";
const KEY_MASTER: &str = "master.key";
/// The plain PKCS#8 key of development CAs made by earlier controller versions.
const KEY_LEGACY: &str = "ca.key";
const KEY_REVOKED: &str = "revoked.txt";
/// Ten years: a development CA should not expire under a long-lived test cluster.
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The development CA itself. Pure (no Kubernetes); [`DevIssuer`] keeps it in a Secret.
pub struct DevCa {
    ca: CertificateAuthority,
    ca_pem: String,
    lifetime: Duration,
    policy: NamePolicy,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

impl DevCa {
    /// A fresh ECDSA P-256 CA, as the data of its Secret.
    pub fn generate() -> Result<BTreeMap<String, Vec<u8>>, IssuerError> {
        let spec = CaSpec {
            common_name: DEV_ISSUER_SUBJECT.into(),
            validity: Validity::from_now(CA_LIFETIME)?,
            path_len: Some(0),
        };
        let ca = CertificateAuthority::create_root(
            CryptoSuite::EcdsaP256,
            DEV_ISSUER_ORGANISATION,
            &spec,
        )?;
        let master = MasterKey::generate()?;
        let sealed = ca.seal_key(&master, &CaId::new(CA_ID))?;
        Ok(BTreeMap::from([
            (KEY_CERT.to_owned(), ca.certificate_pem()?.into_bytes()),
            (KEY_SEALED.to_owned(), sealed.as_bytes().to_vec()),
            (
                KEY_MASTER.to_owned(),
                master.to_base64().as_bytes().to_vec(),
            ),
            (KEY_REVOKED.to_owned(), Vec::new()),
        ]))
    }

    /// The CA from its Secret's data. It issues certificates valid for `lifetime` naming hosts
    /// of `cluster_domain` only, as a tenant's name policy would.
    pub fn from_data(
        data: &BTreeMap<String, Vec<u8>>,
        lifetime: Duration,
        cluster_domain: &str,
    ) -> Result<DevCa, IssuerError> {
        let get = |k: &str| {
            data.get(k).ok_or_else(|| {
                IssuerError::Certificate(format!("the Secret {DEV_ISSUER_SECRET} lacks {k}"))
            })
        };
        let cert = get(KEY_CERT)?;
        let ca = match data.get(KEY_LEGACY) {
            Some(plain) => {
                let key = PrivateKeyPem::new(String::from_utf8_lossy(plain).into_owned());
                CertificateAuthority::from_certificate_and_key(cert, &key)?
            }
            None => {
                let master = MasterKey::from_env_value(&String::from_utf8_lossy(get(KEY_MASTER)?))?;
                let sealed = SealedKey::from_bytes(get(KEY_SEALED)?.clone());
                CertificateAuthority::load(cert, &sealed, &master, &CaId::new(CA_ID))?
            }
        };
        Ok(DevCa {
            ca_pem: ca.certificate_pem()?,
            ca,
            lifetime,
            policy: NamePolicy::from_domains([cluster_domain])?,
        })
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Signs a CSR for a node: the CA writes its own organisation and the node as common
    /// name; the profile picks key usages; the names must lie in the cluster domain.
    pub fn sign(&self, request: &CertificateRequest) -> Result<IssuedCertificate, IssuerError> {
        let csr = VerifiedCsr::parse(request.csr_pem.as_bytes())?;
        let validity = Validity::from_now(self.lifetime)?;
        let issue = IssueRequest::new(&csr, profile(request.profile), validity)
            .with_common_name(request.node.as_str());
        let cert = self.ca.issue(&issue, &self.policy)?;
        Ok(IssuedCertificate {
            pem: cert.pem()?,
            serial: cert.serial.to_hex(),
            not_after: cert.not_after,
            ca_bundle: self.ca_pem.clone(),
        })
    }
}

/// The self-signed development issuer, its CA in the Secret [`DEV_ISSUER_SECRET`].
pub struct DevIssuer {
    ca: DevCa,
    secrets: Api<Secret>,
    // Serialises revocation-list updates from concurrent reconciles of this process.
    revoke_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer").finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Loads the development CA from its Secret, creating it (once, race-free) when absent.
    pub async fn load_or_create(
        client: kube::Client,
        namespace: &str,
        lifetime: Duration,
        cluster_domain: &str,
    ) -> Result<DevIssuer, IssuerError> {
        let secrets: Api<Secret> = Api::namespaced(client, namespace);
        let secret = match secrets.get_opt(DEV_ISSUER_SECRET).await? {
            Some(s) => s,
            None => {
                let fresh = Self::secret(namespace, DevCa::generate()?);
                match secrets.create(&PostParams::default(), &fresh).await {
                    Ok(s) => s,
                    // Another replica created it first: use theirs.
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        secrets.get(DEV_ISSUER_SECRET).await?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let data: BTreeMap<String, Vec<u8>> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        let ca = DevCa::from_data(&data, lifetime, cluster_domain).map_err(|e| {
            IssuerError::Certificate(format!(
                "{e} (delete the Secret {namespace}/{DEV_ISSUER_SECRET} to start a new development CA)"
            ))
        })?;
        Ok(DevIssuer {
            ca,
            secrets,
            revoke_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn secret(namespace: &str, data: BTreeMap<String, Vec<u8>>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(DEV_ISSUER_SECRET.into()),
                namespace: Some(namespace.into()),
                labels: Some(BTreeMap::from([
                    (
                        labels::LABEL_MANAGED_BY.to_owned(),
                        labels::MANAGED_BY.to_owned(),
                    ),
                    (labels::LABEL_COMPONENT.to_owned(), "dev-issuer".to_owned()),
                ])),
                ..ObjectMeta::default()
            },
            data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
            type_: Some("Opaque".into()),
            ..Secret::default()
        }
    }

    async fn revoke_serials(&self, serials: Vec<String>) -> Result<Revocation, IssuerError> {
        if serials.is_empty() {
            return Ok(Revocation::default());
        }
        let _guard = self.revoke_lock.lock().await;
        // Optimistic concurrency: the patch carries the resourceVersion it read, so a
        // concurrent writer (another replica during a hand-over) makes it fail and retry.
        for _ in 0..5 {
            let secret = self.secrets.get(DEV_ISSUER_SECRET).await?;
            let mut list = revoked_list(&secret);
            for s in &serials {
                if !list.contains(s) {
                    list.push(s.clone());
                }
            }
            let mut text = list.join("\n");
            text.push('\n');
            let patch = serde_json::json!({
                "metadata": {"resourceVersion": secret.metadata.resource_version},
                "data": {KEY_REVOKED: ByteString(text.into_bytes())},
            });
            match self
                .secrets
                .patch(
                    DEV_ISSUER_SECRET,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => {
                    return Ok(Revocation {
                        revoked: serials,
                        not_revoked: Vec::new(),
                    });
                }
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(IssuerError::Unavailable(
            "the development revocation list kept changing; will retry".into(),
        ))
    }

    /// Serials revoked so far.
    pub async fn revoked(&self) -> Result<Vec<String>, IssuerError> {
        Ok(revoked_list(&self.secrets.get(DEV_ISSUER_SECRET).await?))
    }
}

/// The serials listed in the issuer Secret's `revoked.txt`, one per line.
fn revoked_list(secret: &Secret) -> Vec<String> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(KEY_REVOKED))
        .map(|b| {
            String::from_utf8_lossy(&b.0)
                .lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

impl NodeIssuer for DevIssuer {
    fn name(&self) -> &'static str {
        "development issuer"
    }

    fn known_ca_bundle(&self) -> Option<String> {
        Some(self.ca.ca_pem.clone())
    }

    fn credentials<'a>(
        &'a self,
        _member: &'a ChainMember,
    ) -> BoxFuture<'a, Result<Credentials, IssuerError>> {
        Box::pin(async { Ok(Credentials::None) })
    }

    fn issue<'a>(
        &'a self,
        _credentials: &'a Credentials,
        request: CertificateRequest,
    ) -> BoxFuture<'a, Result<IssuedCertificate, IssuerError>> {
        Box::pin(async move { self.ca.sign(&request) })
    }

    fn revoke<'a>(
        &'a self,
        _credentials: &'a Credentials,
        serials: Vec<String>,
    ) -> BoxFuture<'a, Result<Revocation, IssuerError>> {
        Box::pin(self.revoke_serials(serials))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuer::build_csr;
    use yuelu_engine::{CertificateNeed, CertificateProfile, SecretName};

    fn openssl(dir: &std::path::Path, args: &[&str]) -> String {
        let out = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn dev_ca_certificates_verify_with_openssl_and_survive_a_reload() {
        use yuelu_engine::{Engine, NetworkSpec, NodeName, NodeRole, OrgName};
        let data = DevCa::generate().unwrap();
        let ca = DevCa::from_data(&data, Duration::from_secs(86400), "cluster.local").unwrap();
        // A real node key from the built-in engine's plugin.
        let spec: NetworkSpec = serde_json::from_value(serde_json::json!({
            "chainId": "c1", "engine": "yuelu", "version": "0.1", "consensus": "tendermint",
            "crypto": "ecdsa-p256", "block": {"intervalMs": 1000, "maxTxs": 100, "maxBytes": 65536}
        }))
        .unwrap();
        let node = yuelu_chain::YueluEngine::new()
            .generate_node_keys(
                &spec,
                &NodeName::new("m-validator-0").unwrap(),
                &OrgName::new("org1").unwrap(),
                NodeRole::Validator,
            )
            .unwrap();
        let node_key = node.secrets.0.values().next().unwrap();
        let mut need = CertificateNeed {
            name: SecretName::new("node-cert.pem").unwrap(),
            key: SecretName::new("node.key").unwrap(),
            profile: CertificateProfile::NodeSigning,
            dns_names: vec!["m-validator-0.m-nodes.ns.svc.cluster.local".into()],
            ip_addresses: vec![],
        };
        let request = |need: &CertificateNeed| {
            let csr = build_csr(node_key, need, "m-validator-0", "org1").unwrap();
            CertificateRequest {
                csr_pem: csr.pem,
                suite: csr.suite,
                profile: need.profile,
                node: "m-validator-0".into(),
            }
        };
        let issued = ca.sign(&request(&need)).unwrap();
        assert_eq!(issued.serial.len(), 32);
        assert_eq!(issued.ca_bundle, ca.ca_pem());
        // Reloaded from the same data (another replica, a restart): same CA, fresh serials.
        let again = DevCa::from_data(&data, Duration::from_secs(86400), "cluster.local").unwrap();
        assert_eq!(again.ca_pem(), ca.ca_pem());
        let a = again.sign(&request(&need)).unwrap();
        assert_ne!(a.serial, issued.serial, "serials are unique");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.ca_pem()).unwrap();
        std::fs::write(dir.path().join("node.pem"), &issued.pem).unwrap();
        std::fs::write(dir.path().join("again.pem"), &a.pem).unwrap();
        openssl(
            dir.path(),
            &["verify", "-CAfile", "ca.pem", "node.pem", "again.pem"],
        );
        let text = openssl(
            dir.path(),
            &[
                "x509",
                "-in",
                "node.pem",
                "-noout",
                "-subject",
                "-ext",
                "subjectAltName",
            ],
        );
        assert!(
            text.contains("m-validator-0.m-nodes.ns.svc.cluster.local"),
            "{text}"
        );
        assert!(text.contains("CN = m-validator-0"), "{text}");
        assert!(text.contains(DEV_ISSUER_ORGANISATION), "{text}");

        // Names outside the cluster domain are refused, as a tenant's name policy would.
        need.dns_names = vec!["node.example.com".into()];
        let err = ca.sign(&request(&need)).unwrap_err();
        assert!(err.to_string().contains("NAME_NOT_ALLOWED"), "{err}");
    }

    #[test]
    fn a_damaged_secret_is_a_clear_error() {
        let mut data = DevCa::generate().unwrap();
        data.remove(KEY_MASTER);
        let err = DevCa::from_data(&data, Duration::from_secs(60), "cluster.local").unwrap_err();
        assert!(err.to_string().contains(KEY_MASTER), "{err}");
        let mut data = DevCa::generate().unwrap();
        data.insert(
            KEY_MASTER.into(),
            MasterKey::generate()
                .unwrap()
                .to_base64()
                .as_bytes()
                .to_vec(),
        );
        let err = DevCa::from_data(&data, Duration::from_secs(60), "cluster.local").unwrap_err();
        assert_eq!(err.reason(), "CertificateFailed");
    }
}

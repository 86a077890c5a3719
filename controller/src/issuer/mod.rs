//! Node certificates: requested by CSR from an issuer behind the small [`NodeIssuer`] trait.
//!
//! - [`PlatformIssuer`]: the platform CA, reached through the API's `POST /enroll` with an
//!   enrollment token that each member names in `spec.certificates.enrollmentSecretRef`
//!   (`--platform-url`). The production path.
//! - [`DevIssuer`]: a clearly named self-signed **development** CA kept in a Secret of the
//!   controller's namespace (`--dev-issuer`).
//!
//! Either way the node's private key never leaves the cluster: the controller builds a CSR with
//! it ([`build_csr`]), the issuer sees the CSR only. Every piece of X.509 (CSRs, the development
//! CA, reading issued certificates) is the platform's `yuelu-ca`: one implementation.

pub mod dev;
pub mod platform;

pub use dev::{DEV_ISSUER_SECRET, DEV_ISSUER_SUBJECT, DevCa, DevIssuer};
pub use platform::{PlatformIssuer, PlatformSettings};

use crate::crd::ChainMember;
use sha2::{Digest, Sha256};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;
use yuelu_ca::{CaError, CryptoSuite, CsrSubject, PrivateKeyPem, Profile, SubjectAltName};
use yuelu_engine::{CertificateNeed, CertificateProfile};

/// A boxed future, so that issuers can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What is wrong with a member's enrollment Secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretProblem {
    /// The Secret does not exist.
    #[error("does not exist")]
    NotFound,
    /// The Secret has no such key, or it is empty.
    #[error("has no key {0:?} (or it is empty)")]
    KeyMissing(String),
    /// The value is not an enrollment token.
    #[error(
        "does not hold an enrollment token: tokens start with `yle_` (createEnrollmentToken), not an API or session token"
    )]
    NotAToken,
    /// The apiserver would not give it.
    #[error("cannot be read: {0}")]
    Unreadable(kube::Error),
}

/// Why a certificate could not be requested, issued or revoked.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// The controller runs without an issuer.
    #[error(
        "no certificate issuer: run the controller with --platform-url (the platform CA), or --dev-issuer for development"
    )]
    NotConfigured,
    /// The controller enrolls with the platform but the member names no enrollment Secret.
    #[error(
        "spec.certificates.enrollmentSecretRef is required: node certificates come from the platform CA at {url}, which needs an enrollment token"
    )]
    EnrollmentNotConfigured {
        /// The platform's URL.
        url: String,
    },
    /// The member's enrollment Secret is missing or unusable.
    #[error("enrollment Secret {secret} {problem}")]
    EnrollmentSecret {
        /// `namespace/name[key]`.
        secret: String,
        /// What is wrong.
        problem: SecretProblem,
    },
    /// The node key cannot be used for a CSR.
    #[error("node key {key}: {reason}")]
    Key {
        /// The key's secret name.
        key: String,
        /// Why.
        reason: String,
    },
    /// Building a CSR, signing, or reading an issued certificate failed.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The platform refused the request: a 4xx answer with its stable error code.
    #[error("{code}: {message}{}", held_note(*held))]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The platform's error code (`NAME_NOT_ALLOWED`, `UNAUTHENTICATED`, ...).
        code: String,
        /// The platform's message, with the node it concerned.
        message: String,
        /// Whether this is a remembered refusal of the same token, not a fresh answer.
        held: bool,
    },
    /// The platform could not be reached or failed (network, 5xx, 429): retried.
    #[error("platform CA unavailable: {0}")]
    Unavailable(String),
    /// The issuer's own state in Kubernetes could not be read or written.
    #[error("issuer state: {0}")]
    Kube(#[from] kube::Error),
}

fn held_note(held: bool) -> &'static str {
    if held {
        " (remembered: not sent again with this token; put a new token in the enrollment Secret)"
    } else {
        ""
    }
}

impl IssuerError {
    /// Stable CamelCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            IssuerError::NotConfigured => "IssuerNotConfigured",
            IssuerError::EnrollmentNotConfigured { .. } => "EnrollmentNotConfigured",
            IssuerError::EnrollmentSecret { problem, .. } => match problem {
                SecretProblem::NotFound => "EnrollmentSecretNotFound",
                SecretProblem::Unreadable(_) => "EnrollmentSecretUnreadable",
                SecretProblem::KeyMissing(_) | SecretProblem::NotAToken => {
                    "EnrollmentSecretInvalid"
                }
            },
            IssuerError::Key { .. } => "NodeKeyUnsupported",
            IssuerError::Certificate(_) => "CertificateFailed",
            IssuerError::Refused { .. } => "EnrollmentRefused",
            IssuerError::Unavailable(_) | IssuerError::Kube(_) => "IssuerUnavailable",
        }
    }

    /// Whether only a change of the controller's flags or of the member's spec can help: such
    /// problems are reported and wait for that change instead of being retried.
    pub fn waits_for_change(&self) -> bool {
        matches!(
            self,
            IssuerError::NotConfigured | IssuerError::EnrollmentNotConfigured { .. }
        )
    }
}

impl From<CaError> for IssuerError {
    fn from(e: CaError) -> Self {
        IssuerError::Certificate(format!("{}: {e}", e.code()))
    }
}

/// A certificate signing request for one node's key.
#[derive(Clone, Debug)]
pub struct CertificateRequest {
    /// PEM of the PKCS#10 request, signed with the node's key.
    pub csr_pem: String,
    /// The suite of the node's key: which of the tenant's CAs signs it.
    pub suite: CryptoSuite,
    /// What the certificate is for.
    pub profile: CertificateProfile,
    /// The node (subject CN).
    pub node: String,
}

/// An issued certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// PEM of the certificate.
    pub pem: String,
    /// Its serial number, lowercase hex.
    pub serial: String,
    /// When it stops being valid.
    pub not_after: SystemTime,
    /// PEM of the CA certificates it chains to (what nodes must trust).
    pub ca_bundle: String,
}

/// An enrollment token read from a member's Secret. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentToken(String);

impl EnrollmentToken {
    /// The prefix of every enrollment token.
    pub const PREFIX: &'static str = "yle_";

    /// Checks and wraps a token as read from a Secret (surrounding whitespace, e.g. the newline
    /// of `echo`, is dropped).
    pub fn parse(raw: &[u8]) -> Option<EnrollmentToken> {
        let text = std::str::from_utf8(raw).ok()?.trim();
        let valid = text.len() > Self::PREFIX.len()
            && text.starts_with(Self::PREFIX)
            && text.bytes().all(|b| b.is_ascii_graphic());
        valid.then(|| EnrollmentToken(text.to_owned()))
    }

    /// The secret text, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A non-secret fingerprint, to remember refusals of this token without keeping it.
    pub fn fingerprint(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..12])
    }
}

impl fmt::Debug for EnrollmentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnrollmentToken({}…)", self.fingerprint())
    }
}

/// What a member presents to its issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// Nothing (the development issuer needs nothing).
    None,
    /// An enrollment token for the platform CA.
    Token {
        /// The token.
        token: EnrollmentToken,
        /// Where it came from, `namespace/name[key]`, for messages.
        source: String,
    },
}

/// No credentials, by reference (for calls made before any were read).
pub const NO_CREDENTIALS: &Credentials = &Credentials::None;

/// What a revocation achieved. Serials that can never be revoked by this issuer with these
/// credentials are reported, not retried (a member's deletion must not hang on them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Revocation {
    /// Serials now revoked (or already revoked before).
    pub revoked: Vec<String>,
    /// Serials that cannot be revoked, with why.
    pub not_revoked: Vec<(String, String)>,
}

/// Something that issues node certificates for CSRs and revokes them.
pub trait NodeIssuer: Send + Sync {
    /// A short name for logs and events.
    fn name(&self) -> &'static str;

    /// The CA certificates (PEM) this issuer issues under, when it knows them without issuing
    /// (the development issuer); `None` when they come with each certificate (the platform).
    fn known_ca_bundle(&self) -> Option<String>;

    /// Reads what `member` presents to the issuer (its enrollment token). Called once per
    /// reconcile that needs certificates, never when nothing is to be issued.
    fn credentials<'a>(
        &'a self,
        member: &'a ChainMember,
    ) -> BoxFuture<'a, Result<Credentials, IssuerError>>;

    /// Issues a certificate for a CSR.
    fn issue<'a>(
        &'a self,
        credentials: &'a Credentials,
        request: CertificateRequest,
    ) -> BoxFuture<'a, Result<IssuedCertificate, IssuerError>>;

    /// Revokes certificates by serial (hex). Idempotent: revoking twice is not an error.
    fn revoke<'a>(
        &'a self,
        credentials: &'a Credentials,
        serials: Vec<String>,
    ) -> BoxFuture<'a, Result<Revocation, IssuerError>>;
}

/// The issuance profile of the CA for an engine's certificate profile.
pub fn profile(p: CertificateProfile) -> Profile {
    match p {
        CertificateProfile::NodeTls => Profile::NodeTls,
        CertificateProfile::NodeSigning => Profile::NodeSigning,
    }
}

/// A built CSR and the suite of the key that signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Csr {
    /// PEM.
    pub pem: String,
    /// The key's suite.
    pub suite: CryptoSuite,
}

/// Builds the CSR for a certificate need with the node's private key (PKCS#8 PEM, P-256 or
/// SM2, as the engines generate it): subject `O=<organisation>, CN=<node>` and the need's DNS
/// and IP names.
pub fn build_csr(
    key_pem: &[u8],
    need: &CertificateNeed,
    node: &str,
    organization: &str,
) -> Result<Csr, IssuerError> {
    let key_err = |reason: String| IssuerError::Key {
        key: need.key.to_string(),
        reason,
    };
    let pem = std::str::from_utf8(key_pem).map_err(|e| key_err(e.to_string()))?;
    let key = PrivateKeyPem::new(pem);
    let suite = key
        .suite()
        .map_err(|e| key_err(format!("{}: {e}", e.code())))?;
    let names = need
        .dns_names
        .iter()
        .chain(&need.ip_addresses)
        .map(|n| SubjectAltName::parse(n))
        .collect::<Result<Vec<_>, CaError>>()?;
    let subject = CsrSubject {
        common_name: node.to_owned(),
        organisation: Some(organization.to_owned()),
    };
    let pem = yuelu_ca::build_csr(&key, &subject, &names)?.pem()?;
    Ok(Csr { pem, suite })
}

/// A fingerprint of what a certificate must certify (key and names), to notice when a
/// certificate no longer matches its need.
pub fn need_fingerprint(key_pem: &[u8], need: &CertificateNeed) -> String {
    let mut h = Sha256::new();
    h.update(key_pem);
    h.update(format!(
        "{:?}|{:?}|{:?}",
        need.profile, need.dns_names, need.ip_addresses
    ));
    hex::encode(&h.finalize()[..12])
}

/// The issuer of a controller that has none: every request fails with a clear reason.
#[derive(Debug, Default)]
pub struct NoIssuer;

impl NodeIssuer for NoIssuer {
    fn name(&self) -> &'static str {
        "none"
    }

    fn known_ca_bundle(&self) -> Option<String> {
        None
    }

    fn credentials<'a>(
        &'a self,
        _member: &'a ChainMember,
    ) -> BoxFuture<'a, Result<Credentials, IssuerError>> {
        Box::pin(async { Err(IssuerError::NotConfigured) })
    }

    fn issue<'a>(
        &'a self,
        _credentials: &'a Credentials,
        _request: CertificateRequest,
    ) -> BoxFuture<'a, Result<IssuedCertificate, IssuerError>> {
        Box::pin(async { Err(IssuerError::NotConfigured) })
    }

    fn revoke<'a>(
        &'a self,
        _credentials: &'a Credentials,
        serials: Vec<String>,
    ) -> BoxFuture<'a, Result<Revocation, IssuerError>> {
        // Whatever these are, this controller cannot revoke them; deletion must not hang.
        Box::pin(async move {
            Ok(Revocation {
                revoked: Vec::new(),
                not_revoked: serials
                    .into_iter()
                    .map(|s| (s, "the controller has no certificate issuer".to_owned()))
                    .collect(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yuelu_ca::VerifiedCsr;
    use yuelu_engine::SecretName;

    fn need(profile: CertificateProfile) -> CertificateNeed {
        CertificateNeed {
            name: SecretName::new("node-cert.pem").unwrap(),
            key: SecretName::new("node.key").unwrap(),
            profile,
            dns_names: vec!["n0.m-nodes.ns.svc.cluster.local".into()],
            ip_addresses: vec!["10.0.0.1".into()],
        }
    }

    #[test]
    fn csrs_carry_the_needs_names_and_are_signed_by_the_node_key() {
        for suite in [CryptoSuite::EcdsaP256, CryptoSuite::Sm2] {
            let key = PrivateKeyPem::generate(suite).unwrap();
            let csr = build_csr(
                key.as_str().as_bytes(),
                &need(CertificateProfile::NodeSigning),
                "n0",
                "org1",
            )
            .unwrap();
            assert_eq!(csr.suite, suite);
            let parsed = VerifiedCsr::parse(csr.pem.as_bytes()).unwrap();
            assert_eq!(
                parsed.public_key_der().unwrap(),
                key.public_key_der().unwrap()
            );
            assert_eq!(parsed.common_name(), Some("n0"));
            assert_eq!(parsed.organisation(), Some("org1"));
            let names: Vec<String> = parsed.names().iter().map(ToString::to_string).collect();
            assert_eq!(names.len(), 2, "{names:?}");
            assert!(
                names
                    .iter()
                    .any(|n| n == "DNS:n0.m-nodes.ns.svc.cluster.local")
            );
            assert!(names.iter().any(|n| n == "IP:10.0.0.1"));
        }

        let bad = build_csr(
            b"not a key",
            &need(CertificateProfile::NodeTls),
            "n0",
            "org1",
        )
        .unwrap_err();
        assert_eq!(bad.reason(), "NodeKeyUnsupported");
        assert!(bad.to_string().contains("PRIVATE_KEY_MALFORMED"), "{bad}");
    }

    #[test]
    fn the_built_in_engines_node_keys_make_csrs_as_they_are() {
        use yuelu_engine::{Engine, NetworkSpec, NodeName, NodeRole, OrgName};
        // Both suites: the built-in engine's node keys are PKCS#8 P-256 PEM either way.
        for crypto in ["ecdsa-p256", "sm2"] {
            let spec: NetworkSpec = serde_json::from_value(serde_json::json!({
                "chainId": "c1", "engine": "yuelu", "version": "0.1", "consensus": "tendermint",
                "crypto": crypto, "block": {"intervalMs": 1000, "maxTxs": 100, "maxBytes": 65536}
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
            let key = &node.secrets.0[&SecretName::new("node.key").unwrap()];
            let csr = build_csr(
                key,
                &need(CertificateProfile::NodeSigning),
                "m-validator-0",
                "org1",
            )
            .unwrap();
            assert_eq!(csr.suite, CryptoSuite::EcdsaP256, "{crypto}");
            VerifiedCsr::parse(csr.pem.as_bytes()).unwrap();
        }
    }

    #[test]
    fn bad_names_are_refused_before_anything_is_sent() {
        let key = PrivateKeyPem::generate(CryptoSuite::EcdsaP256).unwrap();
        let mut n = need(CertificateProfile::NodeTls);
        n.dns_names = vec!["not_a_host.example".into()];
        let err = build_csr(key.as_str().as_bytes(), &n, "n0", "org1").unwrap_err();
        assert_eq!(err.reason(), "CertificateFailed");
        assert!(err.to_string().contains("NAME_INVALID"), "{err}");
    }

    #[test]
    fn enrollment_tokens_are_checked_and_never_printed() {
        let t = EnrollmentToken::parse(b"yle_secretvalue\n").unwrap();
        assert_eq!(t.expose(), "yle_secretvalue");
        assert!(!format!("{t:?}").contains("secretvalue"));
        assert_eq!(t.fingerprint().len(), 24);
        for bad in [&b"ylt_apitoken"[..], b"yle_", b"", b"yle_a b", b"\xff\xfe"] {
            assert!(EnrollmentToken::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn reasons_are_stable() {
        let refused = IssuerError::Refused {
            status: 400,
            code: "NAME_NOT_ALLOWED".into(),
            message: "name \"x\" is not allowed".into(),
            held: false,
        };
        assert_eq!(refused.reason(), "EnrollmentRefused");
        assert!(refused.to_string().starts_with("NAME_NOT_ALLOWED: "));
        let missing = IssuerError::EnrollmentSecret {
            secret: "ns/s[token]".into(),
            problem: SecretProblem::NotFound,
        };
        assert_eq!(missing.reason(), "EnrollmentSecretNotFound");
        assert!(IssuerError::NotConfigured.waits_for_change());
        assert!(!refused.waits_for_change());
    }
}

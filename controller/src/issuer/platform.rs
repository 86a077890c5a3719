//! The platform CA as a [`NodeIssuer`]: `POST /enroll` and `POST /enroll/revoke` of the
//! platform API (`--platform-url`), authenticated with the enrollment token a member names in
//! `spec.certificates.enrollmentSecretRef`.
//!
//! Refusals keep their platform error code (`NAME_NOT_ALLOWED`, `UNAUTHENTICATED`, ...) all the
//! way to the member's condition and events. Answers that cannot change for the same token are
//! remembered so that retries do not hammer the API: `401` (unknown, expired or revoked
//! token) until the token in the Secret changes, `403` (token used up, tenant suspended) for
//! [`FORBIDDEN_HOLD`]. Everything else is retried with the reconciler's per-object backoff.

use super::{
    BoxFuture, CertificateRequest, Credentials, EnrollmentToken, IssuedCertificate, IssuerError,
    NodeIssuer, Revocation, SecretProblem, profile,
};
use crate::crd::ChainMember;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use yuelu_ca::CertificateInfo;

/// How long a `403 FORBIDDEN` (token used up, tenant suspended) keeps a token from being sent
/// again. A suspension may be lifted; a used-up token stays used up until it is replaced.
pub const FORBIDDEN_HOLD: Duration = Duration::from_secs(10 * 60);
/// The longest the platform may take to answer one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Remembered refusals kept at most (one per distinct token, so a handful in practice).
const MAX_HOLDS: usize = 1024;
/// The RFC 5280 reason the controller gives when a member (and so its nodes) goes away.
const REVOCATION_REASON: &str = "cessationOfOperation";
/// The lifetimes the platform accepts, in days.
pub const VALIDITY_DAYS: std::ops::RangeInclusive<u32> = 1..=825;

/// How to reach the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformSettings {
    /// The platform API's base URL, e.g. `https://yuelu.example.gov.cn`.
    pub url: String,
    /// Extra CA certificates (PEM file) to trust for the platform's TLS certificate, besides
    /// the system's (a private PKI).
    pub ca_file: Option<PathBuf>,
    /// Lifetime of node certificates, days.
    pub validity_days: u32,
}

/// Why the platform issuer cannot be set up (at start-up: a flag is wrong).
#[derive(Debug, thiserror::Error)]
pub enum PlatformConfigError {
    /// The URL does not parse or is not http(s).
    #[error("--platform-url {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The CA file cannot be read or holds no certificate.
    #[error("--platform-ca-file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The validity is outside what the platform accepts.
    #[error("--certificate-days {0}: the platform CA issues 1 to 825 days")]
    Validity(u32),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// A refusal remembered for one token.
#[derive(Clone, Debug)]
struct Hold {
    until: Option<Instant>,
    status: u16,
    code: String,
    message: String,
}

/// The platform CA, reached over HTTP(S).
pub struct PlatformIssuer {
    base: String,
    http: reqwest::Client,
    kube: kube::Client,
    validity_days: u32,
    holds: Mutex<HashMap<String, Hold>>,
}

impl std::fmt::Debug for PlatformIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformIssuer")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The platform's JSON error answer.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnrollBody<'a> {
    csr: &'a str,
    profile: &'static str,
    suite: &'static str,
    validity_days: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Enrolled {
    certificate: String,
    serial: String,
    ca_bundle: String,
}

#[derive(Serialize)]
struct RevokeBody<'a> {
    serial: &'a str,
    reason: &'static str,
}

/// An answer: status and body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    /// The platform's error code and message, if the body is its JSON error.
    fn error(&self) -> Option<ErrorDetail> {
        serde_json::from_slice::<ErrorBody>(&self.body)
            .ok()
            .map(|b| b.error)
    }

    fn error_or_status(&self) -> ErrorDetail {
        self.error().unwrap_or_else(|| ErrorDetail {
            code: format!("HTTP_{}", self.status),
            message: String::from_utf8_lossy(&self.body)
                .chars()
                .take(200)
                .collect(),
        })
    }
}

/// The error and its sources on one line (reqwest's own text omits the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Normalises and checks the base URL: http or https, no query, no trailing slash.
pub fn base_url(url: &str) -> Result<String, PlatformConfigError> {
    let bad = |reason: &str| PlatformConfigError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(
            "the scheme must be https (or http on a trusted network)",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("no query or fragment"));
    }
    if parsed.host_str().is_none() {
        return Err(bad("no host"));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

impl PlatformIssuer {
    /// The issuer for `settings`; `kube` reads the members' enrollment Secrets.
    pub fn new(
        settings: &PlatformSettings,
        kube: kube::Client,
    ) -> Result<PlatformIssuer, PlatformConfigError> {
        let base = base_url(&settings.url)?;
        if !VALIDITY_DAYS.contains(&settings.validity_days) {
            return Err(PlatformConfigError::Validity(settings.validity_days));
        }
        // reqwest is built without a crypto provider of its own: make sure ring is the
        // process default (the binary installs it first; tests and embedders may not have).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // The bearer token must never follow a redirect anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("yuelu-controller/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.ca_file {
            let ca_err = |reason: String| PlatformConfigError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_err(chain(&e)))?;
            if certs.is_empty() {
                return Err(ca_err("no PEM certificate in it".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| PlatformConfigError::Client(chain(&e)))?;
        if base.starts_with("http://") {
            tracing::warn!(
                url = %base,
                "the platform URL is plain http: enrollment tokens cross the network unencrypted; use https outside a trusted network"
            );
        }
        Ok(PlatformIssuer {
            base,
            http,
            kube,
            validity_days: settings.validity_days,
            holds: Mutex::new(HashMap::new()),
        })
    }

    /// The base URL requests go to.
    pub fn url(&self) -> &str {
        &self.base
    }

    async fn post<T: Serialize>(
        &self,
        path: &str,
        token: &EnrollmentToken,
        body: &T,
    ) -> Result<Answer, IssuerError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| IssuerError::Unavailable(format!("POST {url}: {}", chain(&e))))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| IssuerError::Unavailable(format!("POST {url}: {}", chain(&e))))?;
        Ok(Answer {
            status,
            body: body.to_vec(),
        })
    }

    fn held(&self, token: &EnrollmentToken) -> Option<IssuerError> {
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        let key = token.fingerprint();
        let hold = holds.get(&key)?.clone();
        if hold.until.is_some_and(|u| Instant::now() >= u) {
            holds.remove(&key);
            return None;
        }
        Some(IssuerError::Refused {
            status: hold.status,
            code: hold.code,
            message: hold.message,
            held: true,
        })
    }

    fn hold(&self, token: &EnrollmentToken, status: u16, detail: &ErrorDetail) {
        let until = match status {
            // Unknown, expired or revoked: that token will never enroll again.
            401 => None,
            403 => Some(Instant::now() + FORBIDDEN_HOLD),
            _ => return,
        };
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        if holds.len() >= MAX_HOLDS {
            let now = Instant::now();
            holds.retain(|_, h| h.until.is_none_or(|u| u > now));
            if holds.len() >= MAX_HOLDS {
                holds.clear();
            }
        }
        holds.insert(
            token.fingerprint(),
            Hold {
                until,
                status,
                code: detail.code.clone(),
                message: detail.message.clone(),
            },
        );
    }

    async fn enroll(
        &self,
        credentials: &Credentials,
        request: CertificateRequest,
    ) -> Result<IssuedCertificate, IssuerError> {
        let Credentials::Token { token, .. } = credentials else {
            return Err(IssuerError::EnrollmentNotConfigured {
                url: self.base.clone(),
            });
        };
        if let Some(refusal) = self.held(token) {
            return Err(refusal);
        }
        let wanted = profile(request.profile);
        let answer = self
            .post(
                "/enroll",
                token,
                &EnrollBody {
                    csr: &request.csr_pem,
                    profile: wanted.as_str(),
                    suite: request.suite.as_str(),
                    validity_days: self.validity_days,
                },
            )
            .await?;
        match answer.status {
            201 | 200 => {}
            408 | 429 | 500..=599 => {
                let e = answer.error_or_status();
                return Err(IssuerError::Unavailable(format!(
                    "POST {}/enroll: HTTP {} {}: {}",
                    self.base, answer.status, e.code, e.message
                )));
            }
            status => {
                let detail = answer.error_or_status();
                self.hold(token, status, &detail);
                return Err(IssuerError::Refused {
                    status,
                    code: detail.code,
                    message: format!("{} (node {})", detail.message, request.node),
                    held: false,
                });
            }
        }
        let bad = |why: String| {
            IssuerError::Unavailable(format!(
                "POST {}/enroll answered {} with {why}",
                self.base, answer.status
            ))
        };
        let enrolled: Enrolled =
            serde_json::from_slice(&answer.body).map_err(|e| bad(format!("no enrollment: {e}")))?;
        // Trust but verify: what we store must be the leaf certificate we asked for.
        let info = CertificateInfo::parse(enrolled.certificate.as_bytes())
            .map_err(|e| bad(format!("an unreadable certificate: {e}")))?;
        let serial = info.serial.to_hex();
        let claimed = enrolled.serial.trim().to_ascii_lowercase().replace(':', "");
        if info.is_ca || serial.trim_start_matches('0') != claimed.trim_start_matches('0') {
            return Err(bad(format!(
                "a certificate that does not match the answer (serial {serial}, CA {})",
                info.is_ca
            )));
        }
        if info.profile.is_some_and(|p| p != wanted) {
            return Err(bad(format!(
                "a certificate of another profile ({:?})",
                info.profile
            )));
        }
        if !enrolled.ca_bundle.contains("-----BEGIN CERTIFICATE-----") {
            return Err(bad("no CA bundle".into()));
        }
        Ok(IssuedCertificate {
            pem: enrolled.certificate,
            serial,
            not_after: info.not_after,
            ca_bundle: enrolled.ca_bundle,
        })
    }

    async fn revoke_all(
        &self,
        credentials: &Credentials,
        serials: Vec<String>,
    ) -> Result<Revocation, IssuerError> {
        let mut out = Revocation::default();
        let Credentials::Token { token, .. } = credentials else {
            out.not_revoked = serials
                .into_iter()
                .map(|s| (s, "no enrollment token".to_owned()))
                .collect();
            return Ok(out);
        };
        let mut pending = serials.into_iter();
        while let Some(serial) = pending.next() {
            let answer = self
                .post(
                    "/enroll/revoke",
                    token,
                    &RevokeBody {
                        serial: &serial,
                        reason: REVOCATION_REASON,
                    },
                )
                .await?;
            match (answer.status, answer.error()) {
                (200, _) => out.revoked.push(serial),
                (404, Some(_)) => out.not_revoked.push((
                    serial,
                    "NOT_FOUND: not obtained with the enrollment token in the Secret (an earlier token?); revoke it in the console".into(),
                )),
                // No JSON error: the route itself is missing, an older platform. Retrying
                // after its upgrade will work, so keep the member until then.
                (404 | 405, None) => {
                    return Err(IssuerError::Unavailable(format!(
                        "{} does not serve POST /enroll/revoke (HTTP {}): upgrade the platform",
                        self.base, answer.status
                    )));
                }
                (401, detail) => {
                    let why = format!(
                        "UNAUTHENTICATED: {} (the enrollment token is revoked); revoke it in the console",
                        detail.map(|d| d.message).unwrap_or_default()
                    );
                    out.not_revoked.push((serial, why.clone()));
                    out.not_revoked.extend(pending.by_ref().map(|s| (s, why.clone())));
                }
                (408 | 429 | 500..=599, _) => {
                    let e = answer.error_or_status();
                    return Err(IssuerError::Unavailable(format!(
                        "POST {}/enroll/revoke: HTTP {} {}: {}",
                        self.base, answer.status, e.code, e.message
                    )));
                }
                // Any other refusal of this serial will not change on a retry.
                _ => {
                    let e = answer.error_or_status();
                    out.not_revoked
                        .push((serial, format!("{}: {}", e.code, e.message)));
                }
            }
        }
        Ok(out)
    }

    async fn read_token(&self, member: &ChainMember) -> Result<Credentials, IssuerError> {
        let Some(r) = member.enrollment_secret() else {
            return Err(IssuerError::EnrollmentNotConfigured {
                url: self.base.clone(),
            });
        };
        let ns = member.namespace().unwrap_or_default();
        let source = format!("{ns}/{}[{}]", r.name, r.key);
        let problem = |problem: SecretProblem| IssuerError::EnrollmentSecret {
            secret: source.clone(),
            problem,
        };
        // A get, not a watch: only the controller's own children are cached, and a cluster-
        // wide cache of every Secret would hold far more credentials than it needs.
        let secret = Api::<Secret>::namespaced(self.kube.clone(), &ns)
            .get_opt(&r.name)
            .await
            .map_err(|e| problem(SecretProblem::Unreadable(e)))?
            .ok_or_else(|| problem(SecretProblem::NotFound))?;
        let raw = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            // The apiserver returns `stringData` folded into `data`.
            .map(|b| b.0.clone())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| problem(SecretProblem::KeyMissing(r.key.clone())))?;
        let token =
            EnrollmentToken::parse(&raw).ok_or_else(|| problem(SecretProblem::NotAToken))?;
        Ok(Credentials::Token { token, source })
    }
}

impl NodeIssuer for PlatformIssuer {
    fn name(&self) -> &'static str {
        "platform CA"
    }

    fn known_ca_bundle(&self) -> Option<String> {
        None
    }

    fn credentials<'a>(
        &'a self,
        member: &'a ChainMember,
    ) -> BoxFuture<'a, Result<Credentials, IssuerError>> {
        Box::pin(self.read_token(member))
    }

    fn issue<'a>(
        &'a self,
        credentials: &'a Credentials,
        request: CertificateRequest,
    ) -> BoxFuture<'a, Result<IssuedCertificate, IssuerError>> {
        Box::pin(self.enroll(credentials, request))
    }

    fn revoke<'a>(
        &'a self,
        credentials: &'a Credentials,
        serials: Vec<String>,
    ) -> BoxFuture<'a, Result<Revocation, IssuerError>> {
        Box::pin(self.revoke_all(credentials, serials))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_normalised() {
        assert_eq!(
            base_url("https://yuelu.example.cn/").unwrap(),
            "https://yuelu.example.cn"
        );
        assert_eq!(
            base_url(" http://127.0.0.1:8080/api/ ").unwrap(),
            "http://127.0.0.1:8080/api"
        );
        for bad in ["ftp://x", "yuelu.example.cn", "https://x/?a=b", ""] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_answers_keep_the_platform_code() {
        let a = Answer {
            status: 400,
            body: br#"{"error":{"code":"NAME_NOT_ALLOWED","message":"name x is not allowed"}}"#
                .to_vec(),
        };
        let e = a.error_or_status();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("NAME_NOT_ALLOWED", "name x is not allowed")
        );
        let a = Answer {
            status: 502,
            body: b"<html>bad gateway</html>".to_vec(),
        };
        assert_eq!(a.error_or_status().code, "HTTP_502");
        assert!(a.error().is_none());
    }
}

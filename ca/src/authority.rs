//! The certificate authority: creation, loading from storage, issuance, renewal and CRLs.

use std::fmt;
use std::time::SystemTime;

use yuelu_engine::CryptoSuite;
use zeroize::Zeroizing;

use crate::certificate::{CertificateInfo, ParsedCertificate};
use crate::crl::{Crl, CrlSpec};
use crate::csr::VerifiedCsr;
use crate::ecdsa::EcdsaIssuer;
use crate::encoding::pem;
use crate::error::{Built, CaError, Result};
use crate::keys::{OID_SM2_SM3, PrivateKey, PrivateKeyPem, PublicKey};
use crate::names::{NamePolicy, SubjectAltName, SubjectName, normalise};
use crate::profile::{CertKind, Profile, Usage};
use crate::sealed::{MasterKey, SealedKey};
use crate::serial::SerialNumber;
use crate::sm2::{Sm2DistId, Sm2Issuer, Sm2Signer};
use crate::validity::Validity;

/// The identity of a CA in the platform's database (its primary key as text). Sealed keys
/// are bound to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CaId(String);

impl CaId {
    /// Wraps the database id (a UUID's text, typically).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a new CA certificate says besides its organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaSpec {
    /// Common name, e.g. `Org1 Root CA`.
    pub common_name: String,
    /// Validity of the CA certificate.
    pub validity: Validity,
    /// pathLenConstraint: how many intermediate CAs may follow below this one (`None`:
    /// unlimited). A root that will sign one intermediate typically has `Some(1)`, the
    /// intermediate `Some(0)`.
    pub path_len: Option<u8>,
}

/// Everything a backend needs to sign one certificate.
pub(crate) struct CertSpec<'a> {
    pub(crate) serial: &'a SerialNumber,
    pub(crate) subject: &'a SubjectName,
    pub(crate) names: &'a [SubjectAltName],
    pub(crate) kind: CertKind,
    pub(crate) validity: &'a Validity,
    pub(crate) public_key: &'a PublicKey,
}

enum Backend {
    Ecdsa(Box<EcdsaIssuer>),
    Sm2(Sm2Issuer),
}

/// One organisation's CA (root or intermediate), loaded and ready to sign.
///
/// Keys are decoded and signing contexts prepared once, when the CA is created or loaded;
/// the API should keep loaded CAs around rather than reloading per request.
pub struct CertificateAuthority {
    certificate: ParsedCertificate,
    validity: Validity,
    organisation: String,
    pkcs8: Zeroizing<Vec<u8>>,
    backend: Backend,
}

/// A request to issue one end-entity certificate from a verified CSR.
#[derive(Clone, Debug)]
pub struct IssueRequest<'a> {
    csr: &'a VerifiedCsr,
    profile: Profile,
    validity: Validity,
    common_name: Option<String>,
    names: Option<Vec<SubjectAltName>>,
}

impl<'a> IssueRequest<'a> {
    /// Issue for `csr` with `profile` and `validity`, taking the common name and SANs from the
    /// CSR.
    pub fn new(csr: &'a VerifiedCsr, profile: Profile, validity: Validity) -> Self {
        Self {
            csr,
            profile,
            validity,
            common_name: None,
            names: None,
        }
    }

    /// Uses this common name instead of the CSR's (the platform names users and nodes).
    pub fn with_common_name(mut self, common_name: impl Into<String>) -> Self {
        self.common_name = Some(common_name.into());
        self
    }

    /// Uses these SANs instead of the CSR's.
    pub fn with_names(mut self, names: Vec<SubjectAltName>) -> Self {
        self.names = Some(names);
        self
    }
}

/// A freshly signed end-entity certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedCertificate {
    /// Its serial (random, 128 bits).
    pub serial: SerialNumber,
    /// DER certificate.
    pub der: Vec<u8>,
    /// The profile it was issued under.
    pub profile: Profile,
    /// Suite of the certified key and of the signature.
    pub suite: CryptoSuite,
    /// Subject common name.
    pub common_name: String,
    /// SANs, sorted.
    pub names: Vec<SubjectAltName>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

impl IssuedCertificate {
    /// PEM (`-----BEGIN CERTIFICATE-----`).
    pub fn pem(&self) -> Result<String> {
        pem("CERTIFICATE", &self.der)
    }
}

impl CertificateAuthority {
    /// Creates a self-signed root CA for `organisation` with a new key.
    pub fn create_root(suite: CryptoSuite, organisation: &str, spec: &CaSpec) -> Result<Self> {
        let subject = SubjectName::new(organisation, &spec.common_name)?;
        let key = PrivateKey::generate(suite)?;
        let public_key = key.public_key()?;
        let serial = SerialNumber::random()?;
        let cert_spec = CertSpec {
            serial: &serial,
            subject: &subject,
            names: &[],
            kind: CertKind::Ca {
                path_len: spec.path_len,
            },
            validity: &spec.validity,
            public_key: &public_key,
        };
        let der = match &key {
            PrivateKey::P256(pair) => crate::ecdsa::self_signed(pair, &cert_spec)?,
            PrivateKey::Sm2(secret) => {
                crate::sm2::self_signed(&Sm2Signer::new(secret)?, &cert_spec)?
            }
        };
        // Our own output failing to parse would be a bug, not bad input.
        let parsed = ParsedCertificate::parse(&der).built()?;
        Self::from_parts(parsed, key)
    }

    /// Creates an intermediate CA of the same organisation and suite, signed by this CA.
    pub fn create_intermediate(&self, spec: &CaSpec) -> Result<Self> {
        match (self.certificate.info.path_len, spec.path_len) {
            (Some(0), _) => {
                return Err(CaError::CaConstraintViolated(
                    "this CA has pathLenConstraint 0 and cannot certify other CAs".into(),
                ));
            }
            (Some(parent), child) if child.is_none_or(|c| c >= parent) => {
                return Err(CaError::CaConstraintViolated(format!(
                    "an intermediate under pathLenConstraint {parent} needs a pathLenConstraint below {parent}"
                )));
            }
            _ => {}
        }
        let validity = spec.validity.within(&self.validity)?;
        let subject = SubjectName::new(&self.organisation, &spec.common_name)?;
        let key = PrivateKey::generate(self.suite())?;
        let public_key = key.public_key()?;
        let serial = SerialNumber::random()?;
        let der = self.sign(&CertSpec {
            serial: &serial,
            subject: &subject,
            names: &[],
            kind: CertKind::Ca {
                path_len: spec.path_len,
            },
            validity: &validity,
            public_key: &public_key,
        })?;
        let parsed = ParsedCertificate::parse(&der).built()?;
        Self::from_parts(parsed, key)
    }

    /// Loads a CA from its certificate (PEM or DER) and its sealed private key.
    pub fn load(
        certificate: &[u8],
        sealed: &SealedKey,
        master: &MasterKey,
        id: &CaId,
    ) -> Result<Self> {
        let pkcs8 = sealed.open(master, id)?;
        let key = PrivateKey::from_pkcs8_der(&pkcs8)?;
        Self::from_parts(ParsedCertificate::parse(certificate)?, key)
    }

    /// Loads a CA from its certificate and a plaintext PKCS#8 key (importing an existing CA).
    pub fn from_certificate_and_key(certificate: &[u8], key: &PrivateKeyPem) -> Result<Self> {
        Self::from_parts(ParsedCertificate::parse(certificate)?, key.decode()?)
    }

    fn from_parts(certificate: ParsedCertificate, key: PrivateKey) -> Result<Self> {
        let info = &certificate.info;
        let invalid = |why: &str| CaError::CaCertificateInvalid(why.to_string());
        if !info.is_ca {
            return Err(invalid("basicConstraints does not say CA"));
        }
        if !certificate.usages.contains(&Usage::KeyCertSign)
            || !certificate.usages.contains(&Usage::CrlSign)
        {
            return Err(invalid("keyUsage lacks keyCertSign or cRLSign"));
        }
        let key_id = info
            .key_identifier
            .clone()
            .ok_or_else(|| invalid("no subjectKeyIdentifier"))?;
        let organisation = info
            .organisation
            .clone()
            .ok_or_else(|| invalid("subject has no organisation (O)"))?;
        if key.suite() != info.suite {
            return Err(CaError::KeyTypeMismatch {
                expected: info.suite,
                found: key.suite(),
            });
        }
        if key.public_key()? != certificate.public_key {
            return Err(invalid(
                "the private key does not belong to the certificate",
            ));
        }
        let validity = Validity::new(info.not_before, info.not_after)?;
        let pkcs8 = key.to_pkcs8_der()?;
        let name = certificate.cert.tbs_certificate().subject().clone();
        let backend = match key {
            PrivateKey::P256(pair) => {
                Backend::Ecdsa(Box::new(EcdsaIssuer::new(*pair, &name, key_id)?))
            }
            PrivateKey::Sm2(secret) => {
                Backend::Sm2(Sm2Issuer::new(Sm2Signer::new(&secret)?, name, key_id))
            }
        };
        Ok(Self {
            certificate,
            validity,
            organisation,
            pkcs8,
            backend,
        })
    }

    /// Encrypts the CA's private key for storage, bound to `id`.
    pub fn seal_key(&self, master: &MasterKey, id: &CaId) -> Result<SealedKey> {
        SealedKey::seal(master, id, &self.pkcs8)
    }

    /// The CA's suite.
    pub fn suite(&self) -> CryptoSuite {
        self.certificate.info.suite
    }

    /// The organisation (subject O) written into every certificate this CA issues.
    pub fn organisation(&self) -> &str {
        &self.organisation
    }

    /// What the CA certificate says.
    pub fn info(&self) -> &CertificateInfo {
        &self.certificate.info
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate.der
    }

    /// The CA certificate, PEM.
    pub fn certificate_pem(&self) -> Result<String> {
        self.certificate.pem()
    }

    /// The CA certificate's validity, which bounds everything it issues.
    pub fn validity(&self) -> Validity {
        self.validity
    }

    /// Issues an end-entity certificate. The request's names must pass `policy`, the
    /// tenant's allowed domains and networks. A requested start before the CA's own is moved
    /// up to it; an end after the CA's is refused.
    pub fn issue(
        &self,
        request: &IssueRequest<'_>,
        policy: &NamePolicy,
    ) -> Result<IssuedCertificate> {
        let common_name = request
            .common_name
            .as_deref()
            .or(request.csr.common_name())
            .ok_or_else(|| CaError::NameInvalid {
                name: String::new(),
                reason: "neither the CSR nor the request gives a common name".into(),
            })?;
        let names = request.names.as_deref().unwrap_or(request.csr.names());
        self.issue_leaf(
            request.csr.public_key(),
            common_name,
            names,
            request.profile,
            &request.validity,
            policy,
        )
    }

    /// Reissues a certificate this CA issued: same public key, subject, names and profile;
    /// new serial and validity. The names are checked against the tenant's current `policy`.
    ///
    /// Whether the old certificate is revoked is the caller's business (the database knows).
    pub fn renew(
        &self,
        certificate: &[u8],
        validity: Validity,
        policy: &NamePolicy,
    ) -> Result<IssuedCertificate> {
        let old = ParsedCertificate::parse(certificate)?;
        self.check_signed_by_us(&old)?;
        let profile = old.info.profile.ok_or(CaError::ProfileUnknown)?;
        let common_name = old
            .info
            .common_name
            .as_deref()
            .ok_or_else(|| CaError::CertificateMalformed("no subject common name".into()))?;
        self.issue_leaf(
            &old.public_key,
            common_name,
            &old.info.names,
            profile,
            &validity,
            policy,
        )
    }

    /// Checks that `certificate` was signed by this CA and returns what it says (e.g. before
    /// revoking it).
    pub fn check_issued(&self, certificate: &[u8]) -> Result<CertificateInfo> {
        let parsed = ParsedCertificate::parse(certificate)?;
        self.check_signed_by_us(&parsed)?;
        Ok(parsed.info)
    }

    /// Signs a CRL listing `spec.revoked`.
    pub fn crl(&self, spec: &CrlSpec) -> Result<Crl> {
        let spec = spec.normalised()?;
        let der = match &self.backend {
            Backend::Ecdsa(issuer) => issuer.crl(&spec)?,
            Backend::Sm2(issuer) => issuer.crl(&spec)?,
        };
        Ok(Crl {
            der,
            number: spec.number,
            this_update: spec.this_update,
            next_update: spec.next_update,
        })
    }

    fn issue_leaf(
        &self,
        public_key: &PublicKey,
        common_name: &str,
        names: &[SubjectAltName],
        profile: Profile,
        validity: &Validity,
        policy: &NamePolicy,
    ) -> Result<IssuedCertificate> {
        if public_key.suite() != self.suite() {
            return Err(CaError::KeyTypeMismatch {
                expected: self.suite(),
                found: public_key.suite(),
            });
        }
        let subject = SubjectName::new(&self.organisation, common_name)?
            .with_unit(profile.organisational_unit());
        let names = normalise(names);
        if profile.requires_names() && names.is_empty() {
            return Err(CaError::NamesRequired {
                profile: profile.as_str(),
            });
        }
        policy.check_all(&names)?;
        let validity = validity.within(&self.validity)?;
        let serial = SerialNumber::random()?;
        let der = self.sign(&CertSpec {
            serial: &serial,
            subject: &subject,
            names: &names,
            kind: CertKind::Leaf(profile),
            validity: &validity,
            public_key,
        })?;
        Ok(IssuedCertificate {
            serial,
            der,
            profile,
            suite: self.suite(),
            common_name: subject.common_name,
            names,
            not_before: validity.not_before(),
            not_after: validity.not_after(),
        })
    }

    fn sign(&self, spec: &CertSpec<'_>) -> Result<Vec<u8>> {
        match &self.backend {
            Backend::Ecdsa(issuer) => issuer.issue(spec),
            Backend::Sm2(issuer) => issuer.issue(spec),
        }
    }

    fn check_signed_by_us(&self, cert: &ParsedCertificate) -> Result<()> {
        let ours = self.certificate.cert.tbs_certificate().subject();
        if cert.cert.tbs_certificate().issuer() != ours {
            return Err(CaError::NotIssuedByThisCa);
        }
        let parts = cert.signed_parts()?;
        let algorithm = cert.signature_algorithm();
        let verified = match (&self.backend, &self.certificate.public_key) {
            (Backend::Ecdsa(issuer), _) => crate::ecdsa::verify(
                issuer.key().public_key_raw(),
                algorithm,
                parts.tbs,
                parts.signature,
            ),
            (Backend::Sm2(_), PublicKey::Sm2 { key, .. }) => {
                algorithm == OID_SM2_SM3
                    && crate::sm2::verify(key, Sm2DistId::Default, parts.tbs, parts.signature)
            }
            (Backend::Sm2(_), PublicKey::P256 { .. }) => false,
        };
        if verified {
            Ok(())
        } else {
            Err(CaError::NotIssuedByThisCa)
        }
    }
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("suite", &self.suite())
            .field("subject", &self.certificate.info.subject)
            .field("serial", &self.certificate.info.serial)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loaded_ca_can_be_shared_between_request_handlers() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<CertificateAuthority>();
        send_sync::<VerifiedCsr>();
        send_sync::<crate::sealed::MasterKey>();
    }
}

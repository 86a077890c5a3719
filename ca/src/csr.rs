//! PKCS#10 certificate signing requests: verifying what nodes and users send, and building
//! them on the node side.

use der::Decode;
use der::oid::AssociatedOid;
use der::referenced::OwnedToRef;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::SubjectAltName as X509SubjectAltName;
use x509_cert::request::{CertReq, ExtensionReq};
use yuelu_engine::CryptoSuite;

use crate::encoding::{pem, pem_or_der, signed_parts};
use crate::error::{CaError, Result};
use crate::keys::{
    KeyProblem, OID_ECDSA_SHA256, OID_ECDSA_SHA384, OID_SM2_SM3, PrivateKey, PrivateKeyPem,
    PublicKey,
};
use crate::names::{SubjectAltName, check_directory_string, normalise};
use crate::sm2::Sm2DistId;
use crate::x509::{OID_COMMON_NAME, OID_ORGANISATION, OtherNames, attribute, names_from_general};

/// A CSR whose self-signature has been verified: proof that the requester holds the private
/// key. Issue certificates from this, never from unverified bytes.
#[derive(Clone, Debug)]
pub struct VerifiedCsr {
    der: Vec<u8>,
    subject: String,
    common_name: Option<String>,
    organisation: Option<String>,
    names: Vec<SubjectAltName>,
    public_key: PublicKey,
    distinguishing_id: Option<Sm2DistId>,
}

fn malformed(e: impl std::fmt::Display) -> CaError {
    CaError::CsrMalformed(e.to_string())
}

impl VerifiedCsr {
    /// Decodes a PEM or DER PKCS#10 request of either suite and verifies its signature.
    ///
    /// SM2 requests verify under the GM/T 0009 default ID or, failing that, the empty ID that
    /// OpenSSL 3 uses by default (see [`Sm2DistId`]). Requested names must be DNS names or IP
    /// addresses; whether they are allowed is decided at issuance by the tenant's policy.
    pub fn parse(input: &[u8]) -> Result<Self> {
        let der = pem_or_der(input, &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"])
            .map_err(CaError::CsrMalformed)?;
        let req = CertReq::from_der(&der).map_err(malformed)?;
        let public_key =
            PublicKey::from_spki(req.info.public_key.owned_to_ref()).map_err(|p| match p {
                KeyProblem::Unsupported(s) => CaError::AlgorithmUnsupported(s),
                KeyProblem::Malformed(s) => CaError::CsrMalformed(s),
            })?;
        let parts = signed_parts(&der).map_err(malformed)?;
        let algorithm = req.algorithm.oid;
        let distinguishing_id = match &public_key {
            PublicKey::P256 { point, .. } => {
                if algorithm != OID_ECDSA_SHA256 && algorithm != OID_ECDSA_SHA384 {
                    return Err(CaError::CsrMalformed(format!(
                        "signature algorithm {algorithm} does not fit a P-256 key"
                    )));
                }
                if !crate::ecdsa::verify(point, algorithm, parts.tbs, parts.signature) {
                    return Err(CaError::CsrSignatureInvalid);
                }
                None
            }
            PublicKey::Sm2 { key, .. } => {
                if algorithm != OID_SM2_SM3 {
                    return Err(CaError::CsrMalformed(format!(
                        "signature algorithm {algorithm} does not fit an SM2 key"
                    )));
                }
                let id = [Sm2DistId::Default, Sm2DistId::Empty]
                    .into_iter()
                    .find(|id| crate::sm2::verify(key, *id, parts.tbs, parts.signature))
                    .ok_or(CaError::CsrSignatureInvalid)?;
                Some(id)
            }
        };
        let names = requested_names(&req)?;
        let subject = &req.info.subject;
        Ok(Self {
            subject: subject.to_string(),
            common_name: attribute(subject, OID_COMMON_NAME),
            organisation: attribute(subject, OID_ORGANISATION),
            names,
            public_key,
            distinguishing_id,
            der,
        })
    }

    /// Suite of the requester's key.
    pub fn suite(&self) -> CryptoSuite {
        self.public_key.suite()
    }

    /// Requested subject, RFC 4514 text.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Requested common name.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// Requested organisation (informational: the CA writes its own organisation).
    pub fn organisation(&self) -> Option<&str> {
        self.organisation.as_deref()
    }

    /// Requested DNS and IP names, sorted and de-duplicated.
    pub fn names(&self) -> &[SubjectAltName] {
        &self.names
    }

    /// The requester's public key as DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Result<Vec<u8>> {
        self.public_key.spki_der()
    }

    /// For SM2 requests, the distinguishing ID the signature verified under.
    pub fn sm2_distinguishing_id(&self) -> Option<Sm2DistId> {
        self.distinguishing_id
    }

    /// The request as received, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub(crate) fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
}

/// SANs from the extensionRequest attribute, if any.
fn requested_names(req: &CertReq) -> Result<Vec<SubjectAltName>> {
    let mut names = Vec::new();
    for attr in req.info.attributes.iter() {
        if attr.oid != ExtensionReq::OID {
            continue;
        }
        for value in attr.values.iter() {
            let extensions: Vec<Extension> = value.decode_as().map_err(malformed)?;
            for ext in extensions
                .iter()
                .filter(|e| e.extn_id == X509SubjectAltName::OID)
            {
                let sans =
                    X509SubjectAltName::from_der(ext.extn_value.as_bytes()).map_err(malformed)?;
                names.extend(names_from_general(&sans.0, OtherNames::Refuse)?);
            }
        }
    }
    Ok(normalise(&names))
}

/// The subject a node or user puts in its request. The CA takes the common name (unless the
/// platform overrides it) and writes its own organisation and country.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrSubject {
    /// Common name, e.g. `validator-0` or a user name.
    pub common_name: String,
    /// Organisation, informational.
    pub organisation: Option<String>,
}

/// A PKCS#10 request built by [`build_csr`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateRequest {
    /// DER `CertificationRequest`.
    pub der: Vec<u8>,
}

impl CertificateRequest {
    /// PEM (`-----BEGIN CERTIFICATE REQUEST-----`), what the API accepts.
    pub fn pem(&self) -> Result<String> {
        pem("CERTIFICATE REQUEST", &self.der)
    }
}

/// Builds and signs a CSR with a node's or user's key (P-256 or SM2 PKCS#8 PEM). SM2
/// requests are signed under the GM/T 0009 default ID.
pub fn build_csr(
    key: &PrivateKeyPem,
    subject: &CsrSubject,
    names: &[SubjectAltName],
) -> Result<CertificateRequest> {
    check_directory_string("common name", &subject.common_name)?;
    let mut attributes = vec![(OID_COMMON_NAME, subject.common_name.as_str())];
    if let Some(org) = &subject.organisation {
        check_directory_string("organisation", org)?;
        // Most significant first: O before CN.
        attributes.insert(0, (OID_ORGANISATION, org.as_str()));
    }
    let names = normalise(names);
    let der = match key.decode()? {
        PrivateKey::P256(pair) => crate::ecdsa::build_csr(&pair, &attributes, &names)?,
        PrivateKey::Sm2(secret) => crate::sm2::build_csr(&secret, &attributes, &names)?,
    };
    Ok(CertificateRequest { der })
}

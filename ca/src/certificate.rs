//! Reading certificates: what the API lists (serial, names, expiry), and what the CA needs
//! from its own and presented certificates.

use std::time::{Duration, SystemTime};

use der::Decode;
use der::referenced::OwnedToRef;
use spki::ObjectIdentifier;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName as X509SubjectAltName, SubjectKeyIdentifier,
};
use yuelu_engine::CryptoSuite;

use crate::encoding::{pem, pem_or_der, signed_parts};
use crate::error::{CaError, Result};
use crate::keys::{KeyProblem, PublicKey};
use crate::names::SubjectAltName;
use crate::profile::{OID_CLIENT_AUTH, OID_SERVER_AUTH, Profile, Purpose, Usage};
use crate::serial::SerialNumber;
use crate::x509::{OID_COMMON_NAME, OID_ORGANISATION, OtherNames, attribute, names_from_general};

/// What a certificate says, for listings and expiry tracking.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateInfo {
    /// Serial number.
    pub serial: SerialNumber,
    /// Subject, RFC 4514 text (`CN=peer0,O=Org1,C=CN`).
    pub subject: String,
    /// Issuer, RFC 4514 text.
    pub issuer: String,
    /// Subject common name, if any.
    pub common_name: Option<String>,
    /// Subject organisation, if any.
    pub organisation: Option<String>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// DNS and IP subject alternative names, in certificate order. Other name forms (e-mail,
    /// URI) are not listed: this CA neither issues nor requests them.
    pub names: Vec<SubjectAltName>,
    /// Suite of the subject's key.
    pub suite: CryptoSuite,
    /// Whether basicConstraints says CA.
    pub is_ca: bool,
    /// Path length constraint, for CAs that have one.
    pub path_len: Option<u8>,
    /// The issuance profile the extensions match, for end-entity certificates of this CA.
    pub profile: Option<Profile>,
    /// Subject key identifier.
    pub key_identifier: Option<Vec<u8>>,
    /// Authority key identifier (the issuer's SKI).
    pub authority_key_identifier: Option<Vec<u8>>,
}

impl CertificateInfo {
    /// Reads a PEM or DER certificate.
    pub fn parse(input: &[u8]) -> Result<Self> {
        Ok(ParsedCertificate::parse(input)?.info)
    }

    /// Whether the certificate is outside its validity at `at`.
    pub fn is_expired_at(&self, at: SystemTime) -> bool {
        at > self.not_after
    }

    /// Whether the certificate expires within `window` from `now` (renewal reminders).
    pub fn expires_within(&self, now: SystemTime, window: Duration) -> bool {
        now.checked_add(window)
            .is_none_or(|horizon| horizon >= self.not_after)
    }
}

/// A decoded certificate with what the CA needs beyond [`CertificateInfo`].
pub(crate) struct ParsedCertificate {
    pub(crate) der: Vec<u8>,
    pub(crate) info: CertificateInfo,
    pub(crate) cert: Certificate,
    pub(crate) public_key: PublicKey,
    pub(crate) usages: Vec<Usage>,
}

fn malformed(e: impl std::fmt::Display) -> CaError {
    CaError::CertificateMalformed(e.to_string())
}

impl ParsedCertificate {
    pub(crate) fn parse(input: &[u8]) -> Result<Self> {
        let der = pem_or_der(input, &["CERTIFICATE"]).map_err(CaError::CertificateMalformed)?;
        let cert = Certificate::from_der(&der).map_err(malformed)?;
        let tbs = cert.tbs_certificate();
        let public_key = PublicKey::from_spki(tbs.subject_public_key_info().owned_to_ref())
            .map_err(|p| match p {
                KeyProblem::Unsupported(s) => CaError::AlgorithmUnsupported(s),
                KeyProblem::Malformed(s) => CaError::CertificateMalformed(s),
            })?;

        let serial = SerialNumber::from_be_bytes(tbs.serial_number().as_bytes())
            .map_err(|e| CaError::CertificateMalformed(e.to_string()))?;
        let names = match tbs
            .get_extension::<X509SubjectAltName>()
            .map_err(malformed)?
        {
            Some((_, sans)) => names_from_general(&sans.0, OtherNames::Skip)?,
            None => Vec::new(),
        };
        let (is_ca, path_len) = match tbs.get_extension::<BasicConstraints>().map_err(malformed)? {
            Some((_, bc)) => (bc.ca, bc.path_len_constraint),
            None => (false, None),
        };
        let usages = match tbs.get_extension::<KeyUsage>().map_err(malformed)? {
            Some((_, ku)) => [
                (KeyUsages::DigitalSignature, Usage::DigitalSignature),
                (KeyUsages::NonRepudiation, Usage::NonRepudiation),
                (KeyUsages::KeyCertSign, Usage::KeyCertSign),
                (KeyUsages::CRLSign, Usage::CrlSign),
            ]
            .into_iter()
            .filter(|(flag, _)| ku.0.contains(*flag))
            .map(|(_, u)| u)
            .collect(),
            None => Vec::new(),
        };
        let ekus: Vec<ObjectIdentifier> =
            match tbs.get_extension::<ExtendedKeyUsage>().map_err(malformed)? {
                Some((_, eku)) => eku.0,
                None => Vec::new(),
            };
        let purposes: Vec<Purpose> = ekus
            .iter()
            .filter_map(|oid| match *oid {
                OID_SERVER_AUTH => Some(Purpose::ServerAuth),
                OID_CLIENT_AUTH => Some(Purpose::ClientAuth),
                _ => None,
            })
            .collect();
        // An EKU we never set means the certificate is not one of our profiles.
        let foreign_eku = purposes.len() != ekus.len();
        let key_identifier = tbs
            .get_extension::<SubjectKeyIdentifier>()
            .map_err(malformed)?
            .map(|(_, ski)| ski.0.as_bytes().to_vec());
        let authority_key_identifier = tbs
            .get_extension::<AuthorityKeyIdentifier>()
            .map_err(malformed)?
            .and_then(|(_, aki)| aki.key_identifier.map(|k| k.as_bytes().to_vec()));

        let info = CertificateInfo {
            serial,
            subject: tbs.subject().to_string(),
            issuer: tbs.issuer().to_string(),
            common_name: attribute(tbs.subject(), OID_COMMON_NAME),
            organisation: attribute(tbs.subject(), OID_ORGANISATION),
            not_before: tbs.validity().not_before.to_system_time(),
            not_after: tbs.validity().not_after.to_system_time(),
            names,
            suite: public_key.suite(),
            is_ca,
            path_len,
            profile: (!foreign_eku)
                .then(|| Profile::detect(&usages, &purposes, is_ca))
                .flatten(),
            key_identifier,
            authority_key_identifier,
        };
        Ok(Self {
            der,
            info,
            cert,
            public_key,
            usages,
        })
    }

    /// The signed bytes and signature, as received.
    pub(crate) fn signed_parts(&self) -> Result<crate::encoding::SignedParts<'_>> {
        signed_parts(&self.der).map_err(malformed)
    }

    /// The signature algorithm OID.
    pub(crate) fn signature_algorithm(&self) -> ObjectIdentifier {
        self.cert.signature_algorithm().oid
    }

    pub(crate) fn pem(&self) -> Result<String> {
        pem("CERTIFICATE", &self.der)
    }
}

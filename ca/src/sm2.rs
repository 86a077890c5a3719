//! SM2 with SM3 (GM/T 0003, 0004, 0009, 0015) on the RustCrypto stack: the signer X.509 needs,
//! verification under a distinguishing ID, and certificate, CRL and CSR building.

use der::Encode;
use der::asn1::{AnyRef, BitString, OctetString, SetOfVec, Uint};
use der::oid::AssociatedOid;
use signature::{Keypair, Signer};
use sm2::dsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use sm3::{Digest, Sm3};
use spki::{AlgorithmIdentifier, AlgorithmIdentifierOwned, SignatureAlgorithmIdentifier};
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};

use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Rfc5280, TbsCertificate, Version};
use x509_cert::crl::{RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlNumber, CrlReason, ExtendedKeyUsage, KeyUsage,
    KeyUsages, SubjectAltName as X509SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::request::{CertReqInfo, ExtensionReq};
use x509_cert::serial_number::SerialNumber as X509Serial;
use x509_cert::time::Validity as X509Validity;

use crate::authority::CertSpec;
use crate::crl::{CrlSpec, RevocationReason};
use crate::encoding::x509_time;
use crate::error::{Built, CaError, Result};
use crate::keys::{OID_SM2_SM3, PublicKey};
use crate::names::SubjectAltName;
use crate::profile::{CertKind, Usage};
use crate::x509::{extension, general_names, x509_name};

/// The GM/T 0009 default distinguishing ID. Every signature this crate makes uses it, as gmssl
/// and the Chinese toolchains expect.
pub const DEFAULT_DISTINGUISHING_ID: &str = "1234567812345678";

/// Under which SM2 distinguishing ID a CSR's signature verified.
///
/// OpenSSL 3 signs with the empty ID unless told `-sigopt distid:1234567812345678`, and will
/// keep doing so; refusing its CSRs would make plain `openssl req` useless against our CA, and
/// accepting them costs nothing in security (the ID only binds the signer's identity into the
/// hash, the key still has to sign). So CSR verification tries the default ID, then the empty
/// one. Certificates and CRLs are always signed with the default ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sm2DistId {
    /// `1234567812345678` (GM/T 0009).
    Default,
    /// The empty ID (OpenSSL 3 without `-sigopt distid:`).
    Empty,
}

impl Sm2DistId {
    /// The ID string.
    pub fn as_str(self) -> &'static str {
        match self {
            Sm2DistId::Default => DEFAULT_DISTINGUISHING_ID,
            Sm2DistId::Empty => "",
        }
    }
}

/// An SM2 signing key that produces what X.509 needs: `SEQUENCE { r, s }` under the
/// sm2-with-sm3 algorithm identifier. The sm2 crate's own `Signature` is raw r‖s, which builds
/// fine and is then rejected by every verifier.
///
/// Holds the `SigningKey`, whose construction hashes Z (the ID and public key) once, so
/// repeated signing with one CA costs only the signature itself.
pub(crate) struct Sm2Signer {
    key: SigningKey,
}

impl Sm2Signer {
    pub(crate) fn new(secret: &sm2::SecretKey) -> Result<Self> {
        let key = SigningKey::new(DEFAULT_DISTINGUISHING_ID, secret)
            .map_err(|e| CaError::Signing(format!("SM2 key setup: {e}")))?;
        Ok(Self { key })
    }

    pub(crate) fn public_key(&self) -> sm2::PublicKey {
        sm2::PublicKey::from(self.key.verifying_key())
    }

    /// Signs `msg`, returning the DER signature.
    pub(crate) fn sign_der(&self, msg: &[u8]) -> Result<DerSignature> {
        self.try_sign(msg)
            .map_err(|e| CaError::Signing(format!("SM2: {e}")))
    }
}

impl Keypair for Sm2Signer {
    type VerifyingKey = VerifyingKey;
    fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key().clone()
    }
}

impl SignatureAlgorithmIdentifier for Sm2Signer {
    type Params = AnyRef<'static>;
    // GM/T 0015 and OpenSSL both omit the parameters for sm2-with-sm3.
    const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifier<AnyRef<'static>> =
        AlgorithmIdentifier {
            oid: OID_SM2_SM3,
            parameters: None,
        };
}

impl Signer<DerSignature> for Sm2Signer {
    fn try_sign(&self, msg: &[u8]) -> signature::Result<DerSignature> {
        let raw: Signature = self.key.try_sign(msg)?;
        Ok(raw.to_der())
    }
}

fn algorithm_identifier() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: OID_SM2_SM3,
        parameters: None,
    }
}

/// Verifies a DER `SEQUENCE { r, s }` SM2 signature over `msg` under `distid`.
pub(crate) fn verify(key: &sm2::PublicKey, distid: Sm2DistId, msg: &[u8], der_sig: &[u8]) -> bool {
    use signature::Verifier;
    let Ok(sig) = DerSignature::try_from(der_sig) else {
        return false;
    };
    let Ok(sig) = Signature::try_from(sig) else {
        return false;
    };
    let Ok(verifying) = VerifyingKey::new(distid.as_str(), *key) else {
        return false;
    };
    verifying.verify(msg, &sig).is_ok()
}

/// Key identifier: SM3 over the subjectPublicKey bits, truncated to 160 bits — RFC 5280
/// method 1 with SM3 in place of SHA-1, so an SM2 certificate uses no non-国密 hash.
pub(crate) fn key_identifier(public_key_bits: &[u8]) -> Vec<u8> {
    let digest = Sm3::digest(public_key_bits);
    digest[..20].to_vec()
}

/// The BuilderProfile for every certificate this CA signs with SM2. The cabf profiles of
/// x509-cert drop SANs and leaf SKIs, so we state the extensions ourselves, from the same
/// tables as the ECDSA side ([`CertKind`]).
struct Sm2Profile<'a> {
    subject: Name,
    issuer: Name,
    kind: CertKind,
    names: &'a [SubjectAltName],
    /// The subject key's identifier, computed once with the key.
    key_id: &'a [u8],
    /// The issuer's SKI; `None` when self-signed (it is then our own).
    issuer_key_id: Option<&'a [u8]>,
}

impl BuilderProfile for Sm2Profile<'_> {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let ski = self.key_id.to_vec();
        let aki = self.issuer_key_id.unwrap_or(self.key_id).to_vec();
        let mut exts = Vec::with_capacity(6);
        let (ca, path_len) = match self.kind {
            CertKind::Ca { path_len } => (true, path_len),
            CertKind::Leaf(_) => (false, None),
        };
        exts.push(extension(
            BasicConstraints::OID,
            true,
            &BasicConstraints {
                ca,
                path_len_constraint: path_len,
            },
        )?);
        let usages = self.kind.usages().iter().fold(
            der::flagset::FlagSet::<KeyUsages>::default(),
            |acc, u| {
                acc | match u {
                    Usage::DigitalSignature => KeyUsages::DigitalSignature,
                    Usage::NonRepudiation => KeyUsages::NonRepudiation,
                    Usage::KeyCertSign => KeyUsages::KeyCertSign,
                    Usage::CrlSign => KeyUsages::CRLSign,
                }
            },
        );
        exts.push(extension(KeyUsage::OID, true, &KeyUsage(usages))?);
        let purposes = self.kind.purposes();
        if !purposes.is_empty() {
            let ekus = ExtendedKeyUsage(purposes.iter().map(|p| p.oid()).collect());
            exts.push(extension(ExtendedKeyUsage::OID, false, &ekus)?);
        }
        exts.push(extension(
            SubjectKeyIdentifier::OID,
            false,
            &SubjectKeyIdentifier(OctetString::new(ski)?),
        )?);
        exts.push(extension(
            AuthorityKeyIdentifier::OID,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(aki)?),
                ..Default::default()
            },
        )?);
        if !self.names.is_empty() {
            let sans = X509SubjectAltName(general_names(self.names)?);
            exts.push(extension(X509SubjectAltName::OID, false, &sans)?);
        }
        Ok(exts)
    }
}

fn builder_error(e: x509_cert::builder::Error) -> CaError {
    match e {
        x509_cert::builder::Error::Signature(s) => CaError::Signing(s.to_string()),
        other => CaError::encoding(other),
    }
}

fn spki_of(public_key: &PublicKey) -> Result<SubjectPublicKeyInfoOwned> {
    match public_key {
        PublicKey::Sm2 { spki, .. } => Ok(spki.clone()),
        other => Err(CaError::KeyTypeMismatch {
            expected: yuelu_engine::CryptoSuite::Sm2,
            found: other.suite(),
        }),
    }
}

fn build_certificate(
    signer: &Sm2Signer,
    profile: Sm2Profile<'_>,
    spec: &CertSpec<'_>,
) -> Result<Vec<u8>> {
    let serial = X509Serial::new(spec.serial.as_bytes()).map_err(CaError::encoding)?;
    let validity = X509Validity::new(
        x509_time(spec.validity.not_before())?,
        x509_time(spec.validity.not_after())?,
    );
    let mut builder = CertificateBuilder::new(profile, serial, validity, spki_of(spec.public_key)?)
        .map_err(builder_error)?;
    // finalize() encodes the TBS; signing those bytes and wrapping them ourselves avoids
    // `build()` re-encoding the whole TBS inside the Certificate.
    let tbs = builder.finalize(signer).map_err(builder_error)?;
    signed(signer, tbs)
}

/// `SEQUENCE { tbs, sm2-with-sm3, BIT STRING signature }` around already-encoded TBS bytes.
fn signed(signer: &Sm2Signer, tbs: Vec<u8>) -> Result<Vec<u8>> {
    let signature = signer.sign_der(&tbs)?;
    let algorithm = algorithm_identifier().to_der().built()?;
    let bits = BitString::from_bytes(signature.as_bytes())
        .built()?
        .to_der()
        .built()?;
    let body_len = der::Length::try_from(tbs.len() + algorithm.len() + bits.len()).built()?;
    let header = der::Header::new(der::Tag::Sequence, body_len)
        .to_der()
        .built()?;
    let mut out = Vec::with_capacity(header.len() + usize::try_from(body_len).built()?);
    out.extend_from_slice(&header);
    out.extend_from_slice(&tbs);
    out.extend_from_slice(&algorithm);
    out.extend_from_slice(&bits);
    Ok(out)
}

/// A self-signed SM2 CA certificate.
pub(crate) fn self_signed(signer: &Sm2Signer, spec: &CertSpec<'_>) -> Result<Vec<u8>> {
    let name = x509_name(spec.subject)?;
    let profile = Sm2Profile {
        subject: name.clone(),
        issuer: name,
        kind: spec.kind,
        names: spec.names,
        key_id: spec.public_key.key_id(),
        issuer_key_id: None,
    };
    build_certificate(signer, profile, spec)
}

/// An SM2 CA ready to sign: key, name and key identifier decoded once.
pub(crate) struct Sm2Issuer {
    signer: Sm2Signer,
    name: Name,
    key_id: Vec<u8>,
}

impl Sm2Issuer {
    /// `name` and `key_id` come from the CA's own certificate, so that issued certificates
    /// chain to it byte for byte.
    pub(crate) fn new(signer: Sm2Signer, name: Name, key_id: Vec<u8>) -> Self {
        Self {
            signer,
            name,
            key_id,
        }
    }

    pub(crate) fn issue(&self, spec: &CertSpec<'_>) -> Result<Vec<u8>> {
        let profile = Sm2Profile {
            subject: x509_name(spec.subject)?,
            issuer: self.name.clone(),
            kind: spec.kind,
            names: spec.names,
            key_id: spec.public_key.key_id(),
            issuer_key_id: Some(&self.key_id),
        };
        build_certificate(&self.signer, profile, spec)
    }

    pub(crate) fn crl(&self, spec: &CrlSpec) -> Result<Vec<u8>> {
        let revoked = spec
            .revoked
            .iter()
            .map(|r| {
                let crl_entry_extensions = match r.reason {
                    // RFC 5280 5.3.1: absent rather than unspecified.
                    RevocationReason::Unspecified => None,
                    reason => Some(vec![
                        extension(CrlReason::OID, false, &crl_reason(reason)).built()?,
                    ]),
                };
                Ok(RevokedCert {
                    serial_number: X509Serial::<Rfc5280>::new(r.serial.as_bytes()).built()?,
                    revocation_date: x509_time(r.revoked_at)?,
                    crl_entry_extensions,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let number = CrlNumber(Uint::new(&spec.number.get().to_be_bytes()).built()?);
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(self.key_id.clone()).built()?),
            ..Default::default()
        };
        let tbs = TbsCertList {
            version: Version::V2,
            signature: algorithm_identifier(),
            issuer: self.name.clone(),
            this_update: x509_time(spec.this_update)?,
            next_update: Some(x509_time(spec.next_update)?),
            // RFC 5280 5.1.2.6: absent, not empty, when nothing is revoked.
            revoked_certificates: (!revoked.is_empty()).then_some(revoked),
            crl_extensions: Some(vec![
                extension(AuthorityKeyIdentifier::OID, false, &aki).built()?,
                extension(CrlNumber::OID, false, &number).built()?,
            ]),
        };
        signed(&self.signer, tbs.to_der().built()?)
    }
}

fn crl_reason(reason: RevocationReason) -> CrlReason {
    match reason {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::CertificateHold => CrlReason::CertificateHold,
        RevocationReason::RemoveFromCrl => CrlReason::RemoveFromCRL,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => CrlReason::AaCompromise,
    }
}

/// A PKCS#10 request signed with the default ID.
pub(crate) fn build_csr(
    secret: &sm2::SecretKey,
    subject: &[(der::asn1::ObjectIdentifier, &str)],
    names: &[SubjectAltName],
) -> Result<Vec<u8>> {
    let signer = Sm2Signer::new(secret)?;
    let PublicKey::Sm2 { spki, .. } = PublicKey::from_sm2(signer.public_key())? else {
        return Err(CaError::encoding("SM2 key encoded as another suite"));
    };
    let mut attributes = SetOfVec::new();
    if !names.is_empty() {
        let sans = X509SubjectAltName(general_names(names).built()?);
        let req = ExtensionReq(vec![
            extension(X509SubjectAltName::OID, false, &sans).built()?,
        ]);
        let attribute: x509_cert::attr::Attribute = req.try_into().built()?;
        attributes.insert(attribute).built()?;
    }
    let info = CertReqInfo {
        version: Default::default(),
        subject: crate::x509::name_from_attributes(subject)?,
        public_key: spki,
        attributes,
    };
    signed(&signer, info.to_der().built()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm2::elliptic_curve::Generate;

    #[test]
    fn signer_emits_der_that_verifies_under_the_default_id_only() {
        let secret = sm2::SecretKey::try_generate().unwrap();
        let signer = Sm2Signer::new(&secret).unwrap();
        let sig = signer.sign_der(b"tbs bytes").unwrap();
        assert_eq!(sig.as_bytes()[0], 0x30, "not a DER SEQUENCE");
        assert!(DerSignature::from_bytes(sig.as_bytes()).is_ok());
        let public = secret.public_key();
        assert!(verify(
            &public,
            Sm2DistId::Default,
            b"tbs bytes",
            sig.as_bytes()
        ));
        assert!(!verify(
            &public,
            Sm2DistId::Empty,
            b"tbs bytes",
            sig.as_bytes()
        ));
        assert!(!verify(
            &public,
            Sm2DistId::Default,
            b"other bytes",
            sig.as_bytes()
        ));
    }
}

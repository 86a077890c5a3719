//! ECDSA P-256 with SHA-256 through rcgen (building) and ring (verifying).

use der::Tagged;
use der::asn1::{ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use rcgen::string::{Ia5String, PrintableString};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PublicKeyData, RevokedCertParams, SanType, SignatureAlgorithm,
};
use ring::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA384_ASN1, UnparsedPublicKey};
use time::OffsetDateTime;
use x509_cert::name::Name;

use crate::authority::CertSpec;
use crate::crl::{CrlSpec, RevocationReason};
use crate::error::{Built, CaError, Result};
use crate::keys::{OID_ECDSA_SHA256, OID_ECDSA_SHA384, PublicKey};
use crate::names::{SubjectAltName, SubjectName};
use crate::profile::{CertKind, Purpose, Usage};
use crate::x509::{COUNTRY, OID_COUNTRY};

/// A subject's P-256 point in the form rcgen certifies.
struct P256Point<'a>(&'a [u8]);

impl PublicKeyData for P256Point<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

fn rcgen_error(e: rcgen::Error) -> CaError {
    match e {
        rcgen::Error::RingUnspecified | rcgen::Error::RingKeyRejected(_) => {
            CaError::Signing(e.to_string())
        }
        other => CaError::encoding(other),
    }
}

fn time(t: std::time::SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

fn subject_dn(subject: &SubjectName) -> Result<DistinguishedName> {
    let mut dn = DistinguishedName::new();
    // Same attributes, order and string types as the SM2 side (x509::x509_name).
    dn.push(
        DnType::CountryName,
        DnValue::PrintableString(PrintableString::try_from(COUNTRY).built()?),
    );
    dn.push(DnType::OrganizationName, subject.organisation.as_str());
    if let Some(unit) = &subject.unit {
        dn.push(DnType::OrganizationalUnitName, unit.as_str());
    }
    dn.push(DnType::CommonName, subject.common_name.as_str());
    Ok(dn)
}

/// Converts the issuer's encoded Name into rcgen's model, refusing what rcgen would encode
/// differently (multi-valued RDNs, repeated attributes, exotic string types): issued
/// certificates must name their issuer byte for byte, or chains break.
fn dn_from_name(name: &Name) -> Result<DistinguishedName> {
    let unsupported =
        |why: &str| CaError::CaCertificateInvalid(format!("issuer name unsupported: {why}"));
    let mut dn = DistinguishedName::new();
    for rdn in name.iter_rdn() {
        let mut atvs = rdn.iter();
        let (Some(atv), None) = (atvs.next(), atvs.next()) else {
            return Err(unsupported("an RDN with other than one attribute"));
        };
        let arcs: Vec<u64> = atv.oid.arcs().map(u64::from).collect();
        let ty = DnType::from_oid(&arcs);
        if dn.get(&ty).is_some() {
            return Err(unsupported("a repeated attribute"));
        }
        let value = match atv.value.tag() {
            der::Tag::PrintableString => {
                let s = PrintableStringRef::try_from(&atv.value)
                    .map_err(|_| unsupported("bad PrintableString"))?;
                DnValue::PrintableString(
                    PrintableString::try_from(s.as_str())
                        .map_err(|_| unsupported("bad PrintableString"))?,
                )
            }
            der::Tag::Utf8String => {
                let s = Utf8StringRef::try_from(&atv.value)
                    .map_err(|_| unsupported("bad UTF8String"))?;
                DnValue::Utf8String(s.as_str().to_string())
            }
            other => return Err(unsupported(&format!("string type {other}"))),
        };
        dn.push(ty, value);
    }
    Ok(dn)
}

fn params(spec: &CertSpec<'_>) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    p.not_before = time(spec.validity.not_before());
    p.not_after = time(spec.validity.not_after());
    p.serial_number = Some(rcgen::SerialNumber::from_slice(spec.serial.as_bytes()));
    p.distinguished_name = subject_dn(spec.subject)?;
    p.subject_alt_names = spec
        .names
        .iter()
        .map(|n| match n {
            SubjectAltName::Dns(d) => Ia5String::try_from(d.as_str())
                .map(SanType::DnsName)
                .built(),
            SubjectAltName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        })
        .collect::<Result<_>>()?;
    p.is_ca = match spec.kind {
        CertKind::Ca { path_len: Some(n) } => IsCa::Ca(BasicConstraints::Constrained(n)),
        CertKind::Ca { path_len: None } => IsCa::Ca(BasicConstraints::Unconstrained),
        // ExplicitNoCa writes basicConstraints CA:FALSE and, with it, the leaf's SKI.
        CertKind::Leaf(_) => IsCa::ExplicitNoCa,
    };
    p.key_usages = spec
        .kind
        .usages()
        .iter()
        .map(|u| match u {
            Usage::DigitalSignature => KeyUsagePurpose::DigitalSignature,
            Usage::NonRepudiation => KeyUsagePurpose::ContentCommitment,
            Usage::KeyCertSign => KeyUsagePurpose::KeyCertSign,
            Usage::CrlSign => KeyUsagePurpose::CrlSign,
        })
        .collect();
    p.extended_key_usages = spec
        .kind
        .purposes()
        .iter()
        .map(|u| match u {
            Purpose::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
            Purpose::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        })
        .collect();
    p.use_authority_key_identifier_extension = true;
    // Precomputed with the key; equal to rcgen's own SHA-256 derivation.
    p.key_identifier_method = KeyIdMethod::PreSpecified(spec.public_key.key_id().to_vec());
    Ok(p)
}

/// A self-signed P-256 CA certificate.
pub(crate) fn self_signed(key: &KeyPair, spec: &CertSpec<'_>) -> Result<Vec<u8>> {
    let cert = params(spec)?.self_signed(key).map_err(rcgen_error)?;
    Ok(cert.der().to_vec())
}

/// A P-256 CA ready to sign: rcgen issuer (name, key identifier, key) built once.
pub(crate) struct EcdsaIssuer {
    issuer: Issuer<'static, KeyPair>,
    key_id: Vec<u8>,
}

impl EcdsaIssuer {
    /// `name` and `key_id` come from the CA's own certificate, so that issued certificates
    /// chain to it byte for byte.
    pub(crate) fn new(key: KeyPair, name: &Name, key_id: Vec<u8>) -> Result<Self> {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn_from_name(name)?;
        params.key_identifier_method = KeyIdMethod::PreSpecified(key_id.clone());
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok(Self {
            issuer: Issuer::new(params, key),
            key_id,
        })
    }

    pub(crate) fn key(&self) -> &KeyPair {
        self.issuer.key()
    }

    pub(crate) fn issue(&self, spec: &CertSpec<'_>) -> Result<Vec<u8>> {
        let PublicKey::P256 { point, .. } = spec.public_key else {
            return Err(CaError::KeyTypeMismatch {
                expected: yuelu_engine::CryptoSuite::EcdsaP256,
                found: spec.public_key.suite(),
            });
        };
        let cert = params(spec)?
            .signed_by(&P256Point(point), &self.issuer)
            .map_err(rcgen_error)?;
        Ok(cert.der().to_vec())
    }

    pub(crate) fn crl(&self, spec: &CrlSpec) -> Result<Vec<u8>> {
        let params = CertificateRevocationListParams {
            this_update: time(spec.this_update),
            next_update: time(spec.next_update),
            crl_number: rcgen::SerialNumber::from(spec.number.get()),
            issuing_distribution_point: None,
            revoked_certs: spec
                .revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from_slice(r.serial.as_bytes()),
                    revocation_time: time(r.revoked_at),
                    // rcgen omits Unspecified itself, as RFC 5280 5.3.1 asks.
                    reason_code: Some(rcgen_reason(r.reason)),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::PreSpecified(self.key_id.clone()),
        };
        let crl = params.signed_by(&self.issuer).map_err(rcgen_error)?;
        Ok(crl.der().to_vec())
    }
}

fn rcgen_reason(reason: RevocationReason) -> rcgen::RevocationReason {
    use rcgen::RevocationReason as R;
    match reason {
        RevocationReason::Unspecified => R::Unspecified,
        RevocationReason::KeyCompromise => R::KeyCompromise,
        RevocationReason::CaCompromise => R::CaCompromise,
        RevocationReason::AffiliationChanged => R::AffiliationChanged,
        RevocationReason::Superseded => R::Superseded,
        RevocationReason::CessationOfOperation => R::CessationOfOperation,
        RevocationReason::CertificateHold => R::CertificateHold,
        RevocationReason::RemoveFromCrl => R::RemoveFromCrl,
        RevocationReason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => R::AaCompromise,
    }
}

/// Verifies an ECDSA signature (DER) by a P-256 point, for the algorithms a P-256 key may
/// sign with in a CSR or certificate.
pub(crate) fn verify(point: &[u8], algorithm: ObjectIdentifier, msg: &[u8], sig: &[u8]) -> bool {
    let alg = match algorithm {
        OID_ECDSA_SHA256 => &ECDSA_P256_SHA256_ASN1,
        OID_ECDSA_SHA384 => &ECDSA_P256_SHA384_ASN1,
        _ => return false,
    };
    UnparsedPublicKey::new(alg, point).verify(msg, sig).is_ok()
}

/// A PKCS#10 request signed by `key`.
pub(crate) fn build_csr(
    key: &KeyPair,
    subject: &[(ObjectIdentifier, &str)],
    names: &[SubjectAltName],
) -> Result<Vec<u8>> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for (oid, value) in subject {
        let arcs: Vec<u64> = oid.arcs().map(u64::from).collect();
        let value = if *oid == OID_COUNTRY {
            DnValue::PrintableString(PrintableString::try_from(*value).map_err(|_| {
                CaError::NameInvalid {
                    name: (*value).to_string(),
                    reason: "country must be printable ASCII".into(),
                }
            })?)
        } else {
            DnValue::Utf8String((*value).to_string())
        };
        dn.push(DnType::from_oid(&arcs), value);
    }
    p.distinguished_name = dn;
    p.subject_alt_names = names
        .iter()
        .map(|n| match n {
            SubjectAltName::Dns(d) => Ia5String::try_from(d.as_str())
                .map(SanType::DnsName)
                .built(),
            SubjectAltName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        })
        .collect::<Result<_>>()?;
    let csr = p.serialize_request(key).map_err(rcgen_error)?;
    Ok(csr.der().to_vec())
}

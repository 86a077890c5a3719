//! Key pairs of both suites: generation, PKCS#8 (de)serialisation, and public keys as they
//! appear in SubjectPublicKeyInfo.

use std::fmt;

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Encode};
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rcgen::PKCS_ECDSA_P256_SHA256;
use sm2::elliptic_curve::Generate;
use spki::{EncodePublicKey, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use yuelu_engine::CryptoSuite;
use zeroize::Zeroizing;

use crate::encoding::pem_or_der;
use crate::error::{CaError, Result};

pub(crate) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(crate) const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(crate) const OID_SM2_CURVE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.156.10197.1.301");
pub(crate) const OID_ECDSA_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
pub(crate) const OID_ECDSA_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
pub(crate) const OID_SM2_SM3: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.156.10197.1.501");

/// Which suite an `id-ecPublicKey` algorithm identifier with these curve parameters names.
pub(crate) fn suite_of_algorithm(
    oid: ObjectIdentifier,
    parameters: Option<AnyRef<'_>>,
) -> std::result::Result<CryptoSuite, String> {
    if oid != OID_EC_PUBLIC_KEY {
        return Err(format!(
            "key algorithm {oid} (only EC keys on P-256 or SM2)"
        ));
    }
    let curve = parameters
        .ok_or("EC key without curve parameters")?
        .decode_as::<ObjectIdentifier>()
        .map_err(|_| "EC key whose curve is not a named curve".to_string())?;
    match curve {
        OID_P256 => Ok(CryptoSuite::EcdsaP256),
        OID_SM2_CURVE => Ok(CryptoSuite::Sm2),
        other => Err(format!("EC curve {other} (only P-256 and SM2)")),
    }
}

/// A validated public key, ready to be certified, with its key identifier computed once
/// (issuance then only copies it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// Uncompressed SEC1 point (65 bytes), what rcgen and ring expect.
    P256 { point: Vec<u8>, key_id: Vec<u8> },
    /// The SM2 point and its canonical SubjectPublicKeyInfo.
    Sm2 {
        key: sm2::PublicKey,
        spki: SubjectPublicKeyInfoOwned,
        key_id: Vec<u8>,
    },
}

impl PublicKey {
    /// Decodes and validates a SubjectPublicKeyInfo.
    pub(crate) fn from_spki(
        spki: SubjectPublicKeyInfoRef<'_>,
    ) -> std::result::Result<Self, KeyProblem> {
        let suite = suite_of_algorithm(spki.algorithm.oid, spki.algorithm.parameters)
            .map_err(KeyProblem::Unsupported)?;
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyProblem::Malformed("public key BIT STRING has unused bits".into()))?;
        match suite {
            CryptoSuite::EcdsaP256 => {
                // Compressed points are legal SEC1 but ring verifies uncompressed only; nobody
                // in practice sends compressed P-256 keys in CSRs.
                if bits.len() != 65 || bits[0] != 0x04 {
                    return Err(KeyProblem::Malformed(
                        "P-256 public key must be a 65-byte uncompressed point".into(),
                    ));
                }
                Self::from_p256(bits).map_err(|e| KeyProblem::Malformed(e.to_string()))
            }
            CryptoSuite::Sm2 => {
                let key = sm2::PublicKey::from_sec1_bytes(bits).map_err(|_| {
                    KeyProblem::Malformed("SM2 public key is not a curve point".into())
                })?;
                Self::from_sm2(key).map_err(|e| KeyProblem::Malformed(e.to_string()))
            }
        }
    }

    pub(crate) fn from_p256(point: &[u8]) -> Result<Self> {
        let spki = p256_spki(point)?;
        // RFC 7093 method 4 (SHA-256 over the SPKI, 160 bits): what rcgen derives for CAs.
        let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
        Ok(PublicKey::P256 {
            point: point.to_vec(),
            key_id: digest.as_ref()[..20].to_vec(),
        })
    }

    pub(crate) fn from_sm2(key: sm2::PublicKey) -> Result<Self> {
        // Re-encoding gives every SM2 certificate the same canonical (uncompressed) SPKI.
        let doc = key.to_public_key_der().map_err(CaError::encoding)?;
        let spki =
            SubjectPublicKeyInfoOwned::from_der(doc.as_bytes()).map_err(CaError::encoding)?;
        let key_id = crate::sm2::key_identifier(spki.subject_public_key.raw_bytes());
        Ok(PublicKey::Sm2 { key, spki, key_id })
    }

    pub(crate) fn suite(&self) -> CryptoSuite {
        match self {
            PublicKey::P256 { .. } => CryptoSuite::EcdsaP256,
            PublicKey::Sm2 { .. } => CryptoSuite::Sm2,
        }
    }

    /// The subjectKeyIdentifier this key gets in certificates.
    pub(crate) fn key_id(&self) -> &[u8] {
        match self {
            PublicKey::P256 { key_id, .. } | PublicKey::Sm2 { key_id, .. } => key_id,
        }
    }

    /// DER SubjectPublicKeyInfo.
    pub(crate) fn spki_der(&self) -> Result<Vec<u8>> {
        match self {
            PublicKey::P256 { point, .. } => p256_spki(point),
            PublicKey::Sm2 { spki, .. } => spki.to_der().map_err(CaError::encoding),
        }
    }
}

fn p256_spki(point: &[u8]) -> Result<Vec<u8>> {
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: spki::AlgorithmIdentifierOwned {
            oid: OID_EC_PUBLIC_KEY,
            parameters: Some(der::Any::from(&OID_P256)),
        },
        subject_public_key: der::asn1::BitString::from_bytes(point).map_err(CaError::encoding)?,
    };
    spki.to_der().map_err(CaError::encoding)
}

/// Why a public key was refused.
pub(crate) enum KeyProblem {
    Unsupported(String),
    Malformed(String),
}

/// A private key of either suite, held in memory for signing.
pub(crate) enum PrivateKey {
    P256(Box<rcgen::KeyPair>),
    Sm2(sm2::SecretKey),
}

impl PrivateKey {
    pub(crate) fn generate(suite: CryptoSuite) -> Result<Self> {
        match suite {
            CryptoSuite::EcdsaP256 => rcgen::KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
                .map(|pair| PrivateKey::P256(Box::new(pair)))
                .map_err(|_| CaError::RandomUnavailable),
            CryptoSuite::Sm2 => sm2::SecretKey::try_generate()
                .map(PrivateKey::Sm2)
                .map_err(|_| CaError::RandomUnavailable),
        }
    }

    /// Decodes PKCS#8 DER, telling the suite from the algorithm identifier.
    pub(crate) fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let malformed = |e: &dyn fmt::Display| CaError::PrivateKeyMalformed(e.to_string());
        let info = pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|e| malformed(&e))?;
        let suite = suite_of_algorithm(info.algorithm.oid, info.algorithm.parameters)
            .map_err(CaError::AlgorithmUnsupported)?;
        match suite {
            CryptoSuite::EcdsaP256 => {
                let pair = rcgen::KeyPair::try_from(der).map_err(|e| malformed(&e))?;
                if pair.algorithm() != &PKCS_ECDSA_P256_SHA256 {
                    return Err(CaError::PrivateKeyMalformed("not a P-256 key".into()));
                }
                Ok(PrivateKey::P256(Box::new(pair)))
            }
            CryptoSuite::Sm2 => sm2::SecretKey::from_pkcs8_der(der)
                .map(PrivateKey::Sm2)
                .map_err(|e| malformed(&e)),
        }
    }

    pub(crate) fn suite(&self) -> CryptoSuite {
        match self {
            PrivateKey::P256(_) => CryptoSuite::EcdsaP256,
            PrivateKey::Sm2(_) => CryptoSuite::Sm2,
        }
    }

    pub(crate) fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            PrivateKey::P256(pair) => Ok(Zeroizing::new(pair.serialized_der().to_vec())),
            PrivateKey::Sm2(key) => {
                let doc = key.to_pkcs8_der().map_err(CaError::encoding)?;
                Ok(Zeroizing::new(doc.as_bytes().to_vec()))
            }
        }
    }

    pub(crate) fn public_key(&self) -> Result<PublicKey> {
        match self {
            PrivateKey::P256(pair) => PublicKey::from_p256(pair.public_key_raw()),
            PrivateKey::Sm2(key) => PublicKey::from_sm2(key.public_key()),
        }
    }
}

/// A PKCS#8 private key in PEM (`-----BEGIN PRIVATE KEY-----`), P-256 or SM2, as node runtimes
/// keep it on disk. Zeroized on drop; `Debug` does not print it.
#[derive(Clone)]
pub struct PrivateKeyPem(Zeroizing<String>);

impl PrivateKeyPem {
    /// A new key pair of `suite`, from the operating system's random source.
    pub fn generate(suite: CryptoSuite) -> Result<Self> {
        let key = PrivateKey::generate(suite)?;
        let der = key.to_pkcs8_der()?;
        Ok(Self(Zeroizing::new(crate::encoding::pem(
            "PRIVATE KEY",
            &der,
        )?)))
    }

    /// Wraps PEM text read from disk or a Secret; nothing is checked until the key is used
    /// (see [`PrivateKeyPem::suite`] to check early).
    pub fn new(pem: impl Into<String>) -> Self {
        Self(Zeroizing::new(pem.into()))
    }

    /// The PEM text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Decodes the key and tells its suite; fails on anything but PKCS#8 P-256 or SM2.
    pub fn suite(&self) -> Result<CryptoSuite> {
        Ok(self.decode()?.suite())
    }

    /// The DER SubjectPublicKeyInfo of the key's public half (for genesis files and key
    /// fingerprints).
    pub fn public_key_der(&self) -> Result<Vec<u8>> {
        self.decode()?.public_key()?.spki_der()
    }

    pub(crate) fn decode(&self) -> Result<PrivateKey> {
        let der = pem_or_der(self.0.as_bytes(), &["PRIVATE KEY"])
            .map(Zeroizing::new)
            .map_err(CaError::PrivateKeyMalformed)?;
        PrivateKey::from_pkcs8_der(&der)
    }
}

impl fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKeyPem(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_pem() {
        for suite in [CryptoSuite::EcdsaP256, CryptoSuite::Sm2] {
            let pem = PrivateKeyPem::generate(suite).unwrap();
            assert!(pem.as_str().starts_with("-----BEGIN PRIVATE KEY-----"));
            assert_eq!(pem.suite().unwrap(), suite);
            let spki = pem.public_key_der().unwrap();
            let parsed = SubjectPublicKeyInfoRef::from_der(&spki).unwrap();
            let Ok(public) = PublicKey::from_spki(parsed) else {
                panic!("own public key refused");
            };
            assert_eq!(public.suite(), suite);
            assert!(!format!("{pem:?}").contains("BEGIN"));
        }
    }

    #[test]
    fn garbage_keys_are_refused() {
        let err =
            PrivateKeyPem::new("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .suite()
                .unwrap_err();
        assert_eq!(err.code(), "PRIVATE_KEY_MALFORMED");
        let err = PrivateKeyPem::new("nothing").suite().unwrap_err();
        assert_eq!(err.code(), "PRIVATE_KEY_MALFORMED");
    }
}

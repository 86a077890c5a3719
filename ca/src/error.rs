//! The one error type of the crate, each variant with a stable machine code.

use yuelu_engine::CryptoSuite;

/// Result alias used throughout the crate.
pub type Result<T, E = CaError> = std::result::Result<T, E>;

/// Everything that can go wrong in the certificate authority.
///
/// The API maps these to GraphQL errors: [`CaError::code`] is the stable machine code,
/// the `Display` text is the human explanation. Variants for which
/// [`CaError::is_internal`] is true are not the caller's fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The CSR could not be decoded (not PEM/DER, not PKCS#10, inconsistent algorithms).
    #[error("malformed certificate signing request: {0}")]
    CsrMalformed(String),

    /// The CSR decoded but its self-signature does not verify with its own public key.
    #[error("the certificate signing request's signature does not verify")]
    CsrSignatureInvalid,

    /// The key in a CSR or certificate is of another suite than the CA's.
    #[error("key type mismatch: the CA uses {expected}, the request carries a {found} key")]
    KeyTypeMismatch {
        /// The CA's suite.
        expected: CryptoSuite,
        /// The suite of the presented key.
        found: CryptoSuite,
    },

    /// A key or signature algorithm that neither suite covers (RSA, Ed25519, other curves).
    #[error("unsupported algorithm: {0}")]
    AlgorithmUnsupported(String),

    /// A requested name is well formed but outside the tenant's allowed domains or networks.
    #[error("name {name:?} is not allowed: {reason}")]
    NameNotAllowed {
        /// The offending name as requested.
        name: String,
        /// Why it is refused.
        reason: String,
    },

    /// A requested name is not a valid DNS name, IP address or common name.
    #[error("invalid name {name:?}: {reason}")]
    NameInvalid {
        /// The offending name as requested.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The profile needs names (a TLS certificate without SANs is useless) and none were given.
    #[error("profile {profile} requires at least one subject alternative name")]
    NamesRequired {
        /// The profile's name.
        profile: &'static str,
    },

    /// A validity period is empty, out of range, or outlives its issuer.
    #[error("invalid validity period: {0}")]
    ValidityInvalid(String),

    /// A certificate could not be decoded.
    #[error("malformed certificate: {0}")]
    CertificateMalformed(String),

    /// A certificate presented for renewal was not issued (signed) by this CA.
    #[error("the certificate was not issued by this CA")]
    NotIssuedByThisCa,

    /// A certificate presented for renewal does not match any issuance profile of this crate.
    #[error("the certificate does not match any issuance profile (NodeTls, NodeSigning, User)")]
    ProfileUnknown,

    /// A CA certificate is unusable as an issuer (not a CA, no SKI, key does not match, ...).
    #[error("invalid CA certificate: {0}")]
    CaCertificateInvalid(String),

    /// The CA's basic constraints forbid what was asked (an intermediate under pathLen 0).
    #[error("CA constraint violated: {0}")]
    CaConstraintViolated(String),

    /// A private key could not be decoded as PKCS#8 for either suite.
    #[error("malformed private key: {0}")]
    PrivateKeyMalformed(String),

    /// The master key could not be read or has the wrong size or encoding.
    #[error("invalid master key: {0}")]
    MasterKeyInvalid(String),

    /// The sealed blob was made under another master key.
    #[error(
        "the CA key was sealed under another master key (key id {sealed_with}, loaded {loaded})"
    )]
    MasterKeyMismatch {
        /// Hex key id recorded in the blob.
        sealed_with: String,
        /// Hex key id of the master key in use.
        loaded: String,
    },

    /// Authenticated decryption failed: the blob was altered, truncated, or sealed for another CA.
    #[error("the sealed CA key is corrupt, tampered with, or belongs to another CA")]
    SealedKeyInvalid,

    /// The sealed blob has a format byte this version does not know.
    #[error("unsupported sealed key format version {0}")]
    SealedFormatUnsupported(u8),

    /// A serial number string or value is not a positive integer of at most 20 octets.
    #[error("invalid serial number: {0}")]
    SerialInvalid(String),

    /// CRL parameters are inconsistent (duplicate serials, nextUpdate not after thisUpdate).
    #[error("invalid CRL request: {0}")]
    CrlInvalid(String),

    /// The operating system's random source failed.
    #[error("the system random number generator failed")]
    RandomUnavailable,

    /// An encoder refused data the crate built itself; a bug, not bad input.
    #[error("internal encoding failure: {0}")]
    Encoding(String),

    /// The signing primitive failed; a bug or a broken key, not bad input.
    #[error("signing failed: {0}")]
    Signing(String),
}

impl CaError {
    /// The stable machine code of this error, for API clients and logs.
    pub fn code(&self) -> &'static str {
        match self {
            CaError::CsrMalformed(_) => "CSR_MALFORMED",
            CaError::CsrSignatureInvalid => "CSR_SIGNATURE_INVALID",
            CaError::KeyTypeMismatch { .. } => "KEY_TYPE_MISMATCH",
            CaError::AlgorithmUnsupported(_) => "ALGORITHM_UNSUPPORTED",
            CaError::NameNotAllowed { .. } => "NAME_NOT_ALLOWED",
            CaError::NameInvalid { .. } => "NAME_INVALID",
            CaError::NamesRequired { .. } => "NAMES_REQUIRED",
            CaError::ValidityInvalid(_) => "VALIDITY_INVALID",
            CaError::CertificateMalformed(_) => "CERTIFICATE_MALFORMED",
            CaError::NotIssuedByThisCa => "CERTIFICATE_NOT_ISSUED_BY_CA",
            CaError::ProfileUnknown => "CERTIFICATE_PROFILE_UNKNOWN",
            CaError::CaCertificateInvalid(_) => "CA_CERTIFICATE_INVALID",
            CaError::CaConstraintViolated(_) => "CA_CONSTRAINT_VIOLATED",
            CaError::PrivateKeyMalformed(_) => "PRIVATE_KEY_MALFORMED",
            CaError::MasterKeyInvalid(_) => "MASTER_KEY_INVALID",
            CaError::MasterKeyMismatch { .. } => "MASTER_KEY_MISMATCH",
            CaError::SealedKeyInvalid => "SEALED_KEY_INVALID",
            CaError::SealedFormatUnsupported(_) => "SEALED_FORMAT_UNSUPPORTED",
            CaError::SerialInvalid(_) => "SERIAL_INVALID",
            CaError::CrlInvalid(_) => "CRL_INVALID",
            CaError::RandomUnavailable => "RANDOM_UNAVAILABLE",
            CaError::Encoding(_) => "ENCODING_FAILED",
            CaError::Signing(_) => "SIGNING_FAILED",
        }
    }

    /// True when the failure is on the platform's side (report as a server error), false when
    /// the input was at fault.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            CaError::RandomUnavailable | CaError::Encoding(_) | CaError::Signing(_)
        )
    }

    /// Wraps an encoder error that can only come from a bug in this crate.
    pub(crate) fn encoding(err: impl std::fmt::Display) -> Self {
        CaError::Encoding(err.to_string())
    }
}

/// For results of encoders and builders fed with data this crate constructed: a failure there
/// is a bug ([`CaError::Encoding`]), never the caller's input. Parsing code maps its errors to
/// input-specific variants instead and must not use this.
pub(crate) trait Built<T> {
    /// Converts the error into [`CaError::Encoding`].
    fn built(self) -> Result<T>;
}

impl<T, E: std::fmt::Display> Built<T> for std::result::Result<T, E> {
    fn built(self) -> Result<T> {
        self.map_err(CaError::encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn every_variant() -> Vec<CaError> {
        vec![
            CaError::CsrMalformed(String::new()),
            CaError::CsrSignatureInvalid,
            CaError::KeyTypeMismatch {
                expected: CryptoSuite::Sm2,
                found: CryptoSuite::EcdsaP256,
            },
            CaError::AlgorithmUnsupported(String::new()),
            CaError::NameNotAllowed {
                name: String::new(),
                reason: String::new(),
            },
            CaError::NameInvalid {
                name: String::new(),
                reason: String::new(),
            },
            CaError::NamesRequired { profile: "x" },
            CaError::ValidityInvalid(String::new()),
            CaError::CertificateMalformed(String::new()),
            CaError::NotIssuedByThisCa,
            CaError::ProfileUnknown,
            CaError::CaCertificateInvalid(String::new()),
            CaError::CaConstraintViolated(String::new()),
            CaError::PrivateKeyMalformed(String::new()),
            CaError::MasterKeyInvalid(String::new()),
            CaError::MasterKeyMismatch {
                sealed_with: String::new(),
                loaded: String::new(),
            },
            CaError::SealedKeyInvalid,
            CaError::SealedFormatUnsupported(9),
            CaError::SerialInvalid(String::new()),
            CaError::CrlInvalid(String::new()),
            CaError::RandomUnavailable,
            CaError::Encoding(String::new()),
            CaError::Signing(String::new()),
        ]
    }

    #[test]
    fn codes_are_unique_and_screaming_snake_case() {
        let all = every_variant();
        let codes: HashSet<_> = all.iter().map(CaError::code).collect();
        assert_eq!(codes.len(), all.len(), "duplicate error codes");
        for code in codes {
            assert!(
                code.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{code} is not SCREAMING_SNAKE_CASE"
            );
        }
    }
}

//! Certificate authority core of Yuelu: ECDSA P-256 and SM2 (国密) certificates, CSRs and
//! CRLs, with no Kubernetes and no database.
//!
//! The platform API keeps CAs in its database as a certificate plus a [`SealedKey`], loads
//! them with [`CertificateAuthority::load`], and issues from CSRs that nodes and users send:
//!
//! ```
//! # fn main() -> Result<(), yuelu_ca::CaError> {
//! use std::time::Duration;
//! use yuelu_ca::*;
//!
//! let validity = Validity::from_now(Duration::from_secs(10 * 365 * 86_400))?;
//! let spec = CaSpec { common_name: "Org1 Root CA".into(), validity, path_len: Some(0) };
//! let ca = CertificateAuthority::create_root(CryptoSuite::Sm2, "Org1", &spec)?;
//!
//! // On the node: a key that never leaves it, and a CSR.
//! let key = PrivateKeyPem::generate(CryptoSuite::Sm2)?;
//! let subject = CsrSubject { common_name: "validator-0".into(), organisation: None };
//! let names = [SubjectAltName::parse("validator-0.org1.example.com")?];
//! let csr = build_csr(&key, &subject, &names)?.pem()?;
//!
//! // In the API: verify, check names against the tenant's domains, issue.
//! let csr = VerifiedCsr::parse(csr.as_bytes())?;
//! let policy = NamePolicy::from_domains(["org1.example.com"])?;
//! let leaf_validity = Validity::from_now(Duration::from_secs(90 * 86_400))?;
//! let cert = ca.issue(&IssueRequest::new(&csr, Profile::NodeTls, leaf_validity), &policy)?;
//! println!("{}", cert.pem()?);
//! # Ok(())
//! # }
//! ```
//!
//! # Decisions worth knowing
//! - **Two back ends, one behaviour.** ECDSA P-256 certificates are built by rcgen (signed
//!   with ring); SM2 ones by x509-cert with our own `BuilderProfile` and a signer that emits
//!   DER `SEQUENCE { r, s }`. Both take their key usages, extended key usages and names from
//!   the same [`Profile`] tables, and write the subject `C=CN, O=<CA organisation>, CN=...`.
//! - **SM2 distinguishing ID.** Everything we sign uses the GM/T 0009 default ID
//!   [`DEFAULT_DISTINGUISHING_ID`]. CSR verification also accepts the empty ID that plain
//!   OpenSSL 3 uses ([`Sm2DistId`]); `openssl` verifies our SM2 signatures only with
//!   `-vfyopt distid:1234567812345678`.
//! - **Names.** The CA writes its own organisation; the common name comes from the CSR (or
//!   the platform); SANs must pass the tenant's [`NamePolicy`]. No wildcards.
//! - **Serials** are 128 random bits; **key identifiers** are computed once per key
//!   (SHA-256 for P-256 as rcgen does, SM3 for SM2).
//! - **Keys at rest** are AES-256-GCM sealed under a [`MasterKey`] and bound to the CA's
//!   [`CaId`] ([`SealedKey`] documents the format).
//! - **Errors** are one enum, [`CaError`], with stable codes ([`CaError::code`]); nothing
//!   panics on bad input.

mod authority;
mod certificate;
mod crl;
mod csr;
mod ecdsa;
mod encoding;
mod error;
mod keys;
mod names;
mod profile;
mod sealed;
mod serial;
mod sm2;
mod validity;
mod x509;

pub use authority::{CaId, CaSpec, CertificateAuthority, IssueRequest, IssuedCertificate};
pub use certificate::CertificateInfo;
pub use crl::{Crl, CrlNumber, CrlSpec, RevocationReason, RevokedCertificate, crl_pem};
pub use csr::{CertificateRequest, CsrSubject, VerifiedCsr, build_csr};
pub use error::{CaError, Result};
pub use keys::PrivateKeyPem;
pub use names::{DnsName, IpNetwork, NamePolicy, SubjectAltName};
pub use profile::Profile;
pub use sealed::{MasterKey, MasterKeyId, SealedKey};
pub use serial::SerialNumber;
pub use sm2::{DEFAULT_DISTINGUISHING_ID, Sm2DistId};
pub use validity::{CLOCK_SKEW_ALLOWANCE, Validity};
pub use yuelu_engine::CryptoSuite;

//! Certificate revocation lists (RFC 5280 section 5).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use crate::encoding::{pem, whole_seconds, x509_time};
use crate::error::{CaError, Result};
use crate::serial::SerialNumber;

/// Why a certificate was revoked: the RFC 5280 5.3.1 `CRLReason` codes (7 is unassigned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// 0. Written as no reason code at all, as RFC 5280 recommends.
    Unspecified,
    /// 1. The certificate's private key may be known to others.
    KeyCompromise,
    /// 2. The issuing CA's key may be known to others.
    CaCompromise,
    /// 3. The subject's name or organisation changed.
    AffiliationChanged,
    /// 4. Replaced by another certificate (renewal with a new key).
    Superseded,
    /// 5. No longer needed (node or user removed).
    CessationOfOperation,
    /// 6. Temporarily suspended.
    CertificateHold,
    /// 8. Lifts an earlier hold (delta CRLs only).
    RemoveFromCrl,
    /// 9. The subject's privileges were withdrawn.
    PrivilegeWithdrawn,
    /// 10. An attribute authority was compromised.
    AaCompromise,
}

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [RevocationReason; 10] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::RemoveFromCrl,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The numeric RFC 5280 code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::RemoveFromCrl => 8,
            RevocationReason::PrivilegeWithdrawn => 9,
            RevocationReason::AaCompromise => 10,
        }
    }

    /// The reason with this RFC 5280 code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The ASN.1 name (`keyCompromise`, ...), used in the API and database.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::RemoveFromCrl => "removeFromCRL",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aACompromise",
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RevocationReason {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| CaError::CrlInvalid(format!("unknown revocation reason {s:?}")))
    }
}

/// The monotonically increasing number of a CA's CRLs (the `cRLNumber` extension); the API
/// keeps the counter per CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CrlNumber(u64);

impl CrlNumber {
    /// A CRL number.
    pub fn new(n: u64) -> Self {
        Self(n)
    }

    /// Its value.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// One revoked certificate on a CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedCertificate {
    /// Serial of the revoked certificate.
    pub serial: SerialNumber,
    /// When the CA processed the revocation.
    pub revoked_at: SystemTime,
    /// Why.
    pub reason: RevocationReason,
}

/// What goes into a CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlSpec {
    /// This CRL's number; must grow with every CRL of the CA.
    pub number: CrlNumber,
    /// Issue time.
    pub this_update: SystemTime,
    /// When the next CRL will be out at the latest (RFC 5280 requires it).
    pub next_update: SystemTime,
    /// The revoked certificates, each serial at most once.
    pub revoked: Vec<RevokedCertificate>,
}

impl CrlSpec {
    /// Truncates times to seconds and checks consistency.
    pub(crate) fn normalised(&self) -> Result<CrlSpec> {
        let this_update = encodable(self.this_update, "thisUpdate")?;
        let next_update = encodable(self.next_update, "nextUpdate")?;
        if next_update <= this_update {
            return Err(CaError::CrlInvalid(
                "nextUpdate must be later than thisUpdate".into(),
            ));
        }
        let mut seen = HashSet::new();
        let mut revoked = Vec::with_capacity(self.revoked.len());
        for r in &self.revoked {
            if !seen.insert(&r.serial) {
                return Err(CaError::CrlInvalid(format!(
                    "serial {} is listed twice",
                    r.serial
                )));
            }
            revoked.push(RevokedCertificate {
                serial: r.serial.clone(),
                revoked_at: encodable(r.revoked_at, "a revocation time")?,
                reason: r.reason,
            });
        }
        Ok(CrlSpec {
            number: self.number,
            this_update,
            next_update,
            revoked,
        })
    }
}

/// Whole seconds, within what X.509 times encode (1970..=9999), else `CrlInvalid`.
fn encodable(t: SystemTime, what: &str) -> Result<SystemTime> {
    whole_seconds(t)
        .and_then(|t| x509_time(t).map(|_| t))
        .map_err(|_| CaError::CrlInvalid(format!("{what} is outside 1970..=9999")))
}

/// A signed CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Crl {
    /// DER `CertificateList`.
    pub der: Vec<u8>,
    /// Its number.
    pub number: CrlNumber,
    /// Issue time, whole seconds.
    pub this_update: SystemTime,
    /// Next update, whole seconds.
    pub next_update: SystemTime,
}

/// PEM of a DER CRL kept elsewhere (the API stores CRLs as DER).
pub fn crl_pem(der: &[u8]) -> Result<String> {
    pem("X509 CRL", der)
}

impl Crl {
    /// PEM (`-----BEGIN X509 CRL-----`).
    pub fn pem(&self) -> Result<String> {
        pem("X509 CRL", &self.der)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reason_codes_round_trip() {
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
            assert_eq!(r.as_str().parse::<RevocationReason>().unwrap(), r);
        }
        assert_eq!(RevocationReason::from_code(7), None);
    }

    #[test]
    fn spec_rejects_duplicates_and_empty_periods() {
        let now = SystemTime::now();
        let serial = SerialNumber::random().unwrap();
        let entry = RevokedCertificate {
            serial,
            revoked_at: now,
            reason: RevocationReason::KeyCompromise,
        };
        let spec = CrlSpec {
            number: CrlNumber::new(1),
            this_update: now,
            next_update: now + Duration::from_secs(60),
            revoked: vec![entry.clone(), entry],
        };
        assert_eq!(spec.normalised().unwrap_err().code(), "CRL_INVALID");
        let spec = CrlSpec {
            next_update: now,
            revoked: vec![],
            ..spec
        };
        assert_eq!(spec.normalised().unwrap_err().code(), "CRL_INVALID");
    }
}

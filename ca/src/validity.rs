//! Validity periods of certificates.

use std::time::{Duration, SystemTime};

use crate::encoding::{whole_seconds, x509_time};
use crate::error::{CaError, Result};

/// How far [`Validity::from_now`] backdates notBefore, so that a node whose clock runs a little
/// behind the API's does not reject its fresh certificate as "not yet valid".
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(5 * 60);

/// A certificate's validity period, in whole seconds (what X.509 can encode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    not_before: SystemTime,
    not_after: SystemTime,
}

impl Validity {
    /// The period from `not_before` to `not_after` (both inclusive, as in RFC 5280), truncated
    /// to whole seconds. Both ends must lie in 1970..=9999, what X.509 times can encode.
    pub fn new(not_before: SystemTime, not_after: SystemTime) -> Result<Self> {
        let not_before = whole_seconds(not_before)?;
        let not_after = whole_seconds(not_after)?;
        // Checked here, once, so that no encoder ever meets an unencodable time (rcgen's
        // conversion would panic on one).
        x509_time(not_before)?;
        x509_time(not_after)?;
        if not_after <= not_before {
            return Err(CaError::ValidityInvalid(
                "notAfter must be later than notBefore".into(),
            ));
        }
        Ok(Self {
            not_before,
            not_after,
        })
    }

    /// Valid from now (less [`CLOCK_SKEW_ALLOWANCE`]) for `lifetime`.
    pub fn from_now(lifetime: Duration) -> Result<Self> {
        let now = SystemTime::now();
        let start = now.checked_sub(CLOCK_SKEW_ALLOWANCE).unwrap_or(now);
        let end = now
            .checked_add(lifetime)
            .ok_or_else(|| CaError::ValidityInvalid("lifetime out of range".into()))?;
        Self::new(start, end)
    }

    /// Start of the period.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of the period.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// This period fitted into the issuer's: a start before the issuer's is moved up to it
    /// (harmless, and [`Validity::from_now`] backdates), an end after the issuer's is an error
    /// (the certificate would silently live shorter than asked, since a chain is only valid
    /// while every link is).
    pub(crate) fn within(&self, issuer: &Validity) -> Result<Validity> {
        if self.not_after > issuer.not_after {
            return Err(CaError::ValidityInvalid(
                "the requested period ends after the issuing CA's validity".into(),
            ));
        }
        Validity::new(self.not_before.max(issuer.not_before), self.not_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn truncates_and_orders() {
        let a = UNIX_EPOCH + Duration::from_millis(1_700_000_000_900);
        let v = Validity::new(a, a + Duration::from_secs(10)).unwrap();
        assert_eq!(
            v.not_before(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert_eq!(Validity::new(a, a).unwrap_err().code(), "VALIDITY_INVALID");
        let from_now = Validity::from_now(Duration::from_secs(3600)).unwrap();
        assert!(from_now.not_before() < SystemTime::now());
        // v starts before from_now (moved up) and ends before it (fine)...
        let far = Validity::new(a, from_now.not_after()).unwrap();
        assert_eq!(
            far.within(&from_now).unwrap().not_before(),
            from_now.not_before()
        );
        // ...but ending after the issuer is refused.
        let longer = Validity::new(a, from_now.not_after() + Duration::from_secs(1)).unwrap();
        assert_eq!(
            longer.within(&from_now).unwrap_err().code(),
            "VALIDITY_INVALID"
        );
        // Beyond what X.509 can encode, or overflowing SystemTime: an error, not a panic.
        let y10000 = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert_eq!(
            Validity::new(a, y10000).unwrap_err().code(),
            "VALIDITY_INVALID"
        );
        assert_eq!(
            Validity::from_now(Duration::MAX).unwrap_err().code(),
            "VALIDITY_INVALID"
        );
    }
}

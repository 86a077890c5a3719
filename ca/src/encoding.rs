//! PEM/DER input handling, X.509 time conversion and randomness shared by the modules.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{GeneralizedTime, UtcTime};
use der::{DateTime, Reader, SliceReader};
use ring::rand::{SecureRandom, SystemRandom};
use x509_cert::time::Time;

use crate::error::{CaError, Result};

/// Accepts a PEM document (the first block whose label is in `labels`, text around it ignored,
/// as `openssl req -text` prints) or raw DER, and returns the DER bytes.
///
/// `Err` carries a human reason; callers wrap it in their own error variant.
pub(crate) fn pem_or_der(input: &[u8], labels: &[&str]) -> std::result::Result<Vec<u8>, String> {
    let Some(begin) = find(input, b"-----BEGIN ") else {
        // DER starts with a SEQUENCE tag; anything else is neither format.
        return if input.first() == Some(&0x30) {
            Ok(input.to_vec())
        } else {
            Err("neither PEM nor DER".to_string())
        };
    };
    let rest = &input[begin..];
    let end_marker = find(rest, b"-----END ").ok_or("PEM block has no END line")?;
    let after_end = &rest[end_marker + b"-----END ".len()..];
    let close = find(after_end, b"-----").ok_or("PEM END line is not closed")?;
    let block_len = end_marker + b"-----END ".len() + close + b"-----".len();
    let (label, der) = der::pem::decode_vec(&rest[..block_len]).map_err(|e| format!("PEM: {e}"))?;
    if !labels.contains(&label) {
        return Err(format!(
            "PEM label {label:?}, expected {}",
            labels.join(" or ")
        ));
    }
    Ok(der)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Encodes DER as a PEM block with LF line endings.
pub(crate) fn pem(label: &str, der: &[u8]) -> Result<String> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).map_err(CaError::encoding)
}

/// The signed parts of a SIGNED{...} structure (certificate, CRL, CSR), as raw bytes.
pub(crate) struct SignedParts<'a> {
    /// The exact bytes that were signed (the to-be-signed TLV).
    pub(crate) tbs: &'a [u8],
    /// The signature BIT STRING contents, without the unused-bits octet.
    pub(crate) signature: &'a [u8],
}

/// Splits `SEQUENCE { tbs, algorithm, BIT STRING }` without re-encoding: signatures are over the
/// bytes as received, which is what every verifier must check.
pub(crate) fn signed_parts(der: &[u8]) -> der::Result<SignedParts<'_>> {
    let mut outer = SliceReader::new(der)?;
    let parts = outer.sequence(|seq| -> der::Result<SignedParts<'_>> {
        let tbs = seq.tlv_bytes()?;
        let _algorithm = seq.tlv_bytes()?;
        let bits: der::asn1::BitStringRef<'_> = seq.decode()?;
        // A signature BIT STRING always has whole octets.
        let signature = bits
            .as_bytes()
            .ok_or_else(|| der::Tag::BitString.value_error())?;
        Ok(SignedParts { tbs, signature })
    })?;
    outer.finish()?;
    Ok(parts)
}

/// Drops sub-second precision: X.509 times have whole seconds, and values we hand back must
/// equal what is encoded.
pub(crate) fn whole_seconds(t: SystemTime) -> Result<SystemTime> {
    let since = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| CaError::ValidityInvalid("times before 1970 are not supported".into()))?;
    Ok(UNIX_EPOCH + Duration::from_secs(since.as_secs()))
}

/// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on.
pub(crate) fn x509_time(t: SystemTime) -> Result<Time> {
    let dt = DateTime::from_system_time(t)
        .map_err(|e| CaError::ValidityInvalid(format!("time out of range: {e}")))?;
    if dt.year() <= UtcTime::MAX_YEAR {
        Ok(Time::UtcTime(
            UtcTime::from_date_time(dt).map_err(CaError::encoding)?,
        ))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(dt)))
    }
}

/// Fills an array from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| CaError::RandomUnavailable)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_with_surrounding_text_is_found() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x05];
        let block = pem("CERTIFICATE", &der).unwrap();
        let noisy = format!("Certificate:\n  text\n{block}trailing junk\n");
        assert_eq!(pem_or_der(noisy.as_bytes(), &["CERTIFICATE"]).unwrap(), der);
        assert!(pem_or_der(noisy.as_bytes(), &["X509 CRL"]).is_err());
        assert_eq!(pem_or_der(&der, &["CERTIFICATE"]).unwrap(), der);
        assert!(pem_or_der(b"hello", &["CERTIFICATE"]).is_err());
    }

    #[test]
    fn times_switch_to_generalized_in_2050() {
        let y2049 = UNIX_EPOCH + Duration::from_secs(2_524_607_999); // 2049-12-31T23:59:59Z
        assert!(matches!(x509_time(y2049).unwrap(), Time::UtcTime(_)));
        let y2050 = y2049 + Duration::from_secs(1);
        assert!(matches!(x509_time(y2050).unwrap(), Time::GeneralTime(_)));
    }
}

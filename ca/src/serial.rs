//! Certificate serial numbers.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;

use crate::encoding::random_bytes;
use crate::error::{CaError, Result};

/// A certificate serial number: a positive integer of at most 20 octets (RFC 5280 4.1.2.2).
///
/// Stored as big-endian magnitude without leading zeros, so two equal serials compare equal
/// however they were written. Text form is lowercase hex (what the database stores and what
/// `openssl x509 -serial` prints, modulo case).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SerialNumber(Vec<u8>);

impl SerialNumber {
    /// A fresh serial with 128 random bits, as CA/B-style unpredictability asks (≥ 64 bits).
    pub fn random() -> Result<Self> {
        loop {
            let bytes = pooled_random_16()?;
            // Zero is not a positive integer; with 2^-128 odds the loop never repeats in practice.
            if let Ok(serial) = Self::from_be_bytes(&bytes) {
                return Ok(serial);
            }
        }
    }

    /// From a big-endian unsigned magnitude (leading zeros allowed and dropped).
    pub fn from_be_bytes(bytes: &[u8]) -> Result<Self> {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let magnitude = &bytes[start..];
        if magnitude.is_empty() {
            return Err(CaError::SerialInvalid("serial must be positive".into()));
        }
        // 20 octets of DER INTEGER content: a set high bit needs a leading zero octet.
        let encoded_len = magnitude.len() + usize::from(magnitude[0] & 0x80 != 0);
        if encoded_len > 20 {
            return Err(CaError::SerialInvalid(format!(
                "serial needs {encoded_len} octets, RFC 5280 allows 20"
            )));
        }
        Ok(Self(magnitude.to_vec()))
    }

    /// Big-endian magnitude, no leading zeros.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hex of the magnitude, an even number of digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

const POOL_LEN: usize = 512;

struct RandomPool {
    bytes: [u8; POOL_LEN],
    next: usize,
}

thread_local! {
    // One getrandom(2) call per 32 serials instead of one per certificate: the system call was
    // a measurable share of P-256 issuance time. Each byte comes from the OS CSPRNG and is
    // used once, so serials stay unpredictable (they are public, not secret).
    static POOL: RefCell<RandomPool> = const {
        RefCell::new(RandomPool {
            bytes: [0; POOL_LEN],
            next: POOL_LEN,
        })
    };
}

fn pooled_random_16() -> Result<[u8; 16]> {
    POOL.with(|pool| {
        let mut pool = pool
            .try_borrow_mut()
            .map_err(|_| CaError::RandomUnavailable)?;
        if pool.next + 16 > POOL_LEN {
            pool.bytes = random_bytes::<POOL_LEN>()?;
            pool.next = 0;
        }
        let start = pool.next;
        let mut out = [0u8; 16];
        out.copy_from_slice(&pool.bytes[start..start + 16]);
        pool.bytes[start..start + 16].fill(0);
        pool.next += 16;
        Ok(out)
    })
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SerialNumber({})", self.to_hex())
    }
}

impl FromStr for SerialNumber {
    type Err = CaError;

    /// Parses hex, with optional `0x` prefix and `:` separators (`openssl` style), any case.
    fn from_str(s: &str) -> Result<Self> {
        let digits: String = s
            .trim()
            .trim_start_matches("0x")
            .chars()
            .filter(|c| *c != ':')
            .collect();
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(CaError::SerialInvalid(format!("{s:?} is not hexadecimal")));
        }
        let padded = if digits.len() % 2 == 1 {
            format!("0{digits}")
        } else {
            digits
        };
        let bytes = (0..padded.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&padded[i..i + 2], 16))
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map_err(|e| CaError::SerialInvalid(e.to_string()))?;
        Self::from_be_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_positive_distinct_and_fit() {
        // Across several pool refills: all distinct, none zero-led or longer than 128 bits.
        let serials: std::collections::HashSet<_> =
            (0..100).map(|_| SerialNumber::random().unwrap()).collect();
        assert_eq!(serials.len(), 100);
        for s in &serials {
            assert!(s.as_bytes().len() <= 16 && s.as_bytes()[0] != 0);
        }
    }

    #[test]
    fn hex_round_trip_and_normalisation() {
        let s: SerialNumber = "00:0A:ff".parse().unwrap();
        assert_eq!(s.to_hex(), "0aff");
        assert_eq!("0xaff".parse::<SerialNumber>().unwrap(), s);
        assert_eq!(s.to_string().parse::<SerialNumber>().unwrap(), s);
    }

    #[test]
    fn rejects_zero_garbage_and_overlong() {
        for bad in ["", "0", "00:00", "xyz", "12 34"] {
            let err = bad.parse::<SerialNumber>().unwrap_err();
            assert_eq!(err.code(), "SERIAL_INVALID", "{bad:?}");
        }
        assert!(SerialNumber::from_be_bytes(&[0x7f; 20]).is_ok());
        assert!(SerialNumber::from_be_bytes(&[0x80; 20]).is_err());
        assert!(SerialNumber::from_be_bytes(&[0x01; 21]).is_err());
    }
}

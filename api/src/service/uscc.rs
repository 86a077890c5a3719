//! The unified social credit code (统一社会信用代码) of GB 32100-2015: 18 characters from a
//! 31-character alphabet, the last a check character over the first 17.

use std::fmt;

/// The code's alphabet: digits and capitals without I, O, S, V, Z; a character's value is its
/// position.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1 to 17: 3^(i-1) mod 31.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Why a code is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    /// Not 18 characters.
    #[error("must be 18 characters, not {0}")]
    Length(usize),
    /// A character outside the alphabet.
    #[error(
        "character {0:?} at position {1} is not allowed (digits and capitals except I, O, S, V, Z)"
    )]
    Character(char, usize),
    /// The check character does not match.
    #[error("check character should be {expected:?}, not {found:?}")]
    Check {
        /// What the first 17 characters call for.
        expected: char,
        /// What the code has.
        found: char,
    },
}

/// A valid unified social credit code.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Uscc(String);

impl Uscc {
    /// Validates a code; lowercase letters are accepted and capitalised.
    pub fn parse(s: &str) -> Result<Uscc, UsccError> {
        let s = s.trim().to_ascii_uppercase();
        let n = s.chars().count();
        if n != 18 {
            return Err(UsccError::Length(n));
        }
        let mut values = [0u32; 18];
        for (i, c) in s.chars().enumerate() {
            values[i] = ALPHABET
                .iter()
                .position(|&a| a as char == c)
                .ok_or(UsccError::Character(c, i + 1))? as u32;
        }
        let expected = check_character(&values[..17]);
        let found = s.chars().nth(17).unwrap_or('?');
        if expected != found {
            return Err(UsccError::Check { expected, found });
        }
        Ok(Uscc(s))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_character(values: &[u32]) -> char {
    let sum: u32 = values.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    let c = (31 - sum % 31) % 31;
    ALPHABET[c as usize] as char
}

/// Completes a 17-character prefix with its check character (for tests and fixtures).
pub fn with_check_character(prefix: &str) -> Option<String> {
    let values: Option<Vec<u32>> = prefix
        .chars()
        .map(|c| {
            ALPHABET
                .iter()
                .position(|&a| a as char == c)
                .map(|p| p as u32)
        })
        .collect();
    let values = values?;
    (values.len() == 17).then(|| format!("{prefix}{}", check_character(&values)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_codes_are_valid() {
        // Codes printed on public business licences and in the standard's examples.
        for code in [
            "91350100M000100Y43",
            "9144030071526726XG",
            "91110000802100433B",
        ] {
            assert!(Uscc::parse(code).is_ok(), "{code}: {:?}", Uscc::parse(code));
        }
        assert_eq!(
            Uscc::parse("91350100m000100y43").unwrap().as_str(),
            "91350100M000100Y43"
        );
    }

    #[test]
    fn bad_codes_say_why() {
        assert_eq!(Uscc::parse("123").unwrap_err(), UsccError::Length(3));
        assert_eq!(
            Uscc::parse("91350100I000100Y43").unwrap_err(),
            UsccError::Character('I', 9)
        );
        assert_eq!(
            Uscc::parse("91350100M000100Y44").unwrap_err(),
            UsccError::Check {
                expected: '3',
                found: '4'
            }
        );
    }

    #[test]
    fn every_single_character_change_is_caught() {
        let good = "91350100M000100Y43";
        for i in 0..17 {
            for &a in ALPHABET {
                let mut chars: Vec<char> = good.chars().collect();
                if chars[i] == a as char {
                    continue;
                }
                chars[i] = a as char;
                let bad: String = chars.into_iter().collect();
                assert!(Uscc::parse(&bad).is_err(), "{bad} slipped through");
            }
        }
    }

    #[test]
    fn fixtures_complete_prefixes() {
        let code = with_check_character("91430100MA4L0000X").unwrap();
        assert!(Uscc::parse(&code).is_ok());
        assert!(with_check_character("short").is_none());
    }
}

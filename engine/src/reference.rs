//! Human-friendly application references with a check character, e.g. `QA-BV-2026-000123-K`.
//! The check character is ISO 7064 MOD 37,36 over the letters and digits, which catches any
//! single mistyped character and any swap of two neighbouring ones.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as u32),
        b'A'..=b'Z' => Some((c - b'A') as u32 + 10),
        _ => None,
    }
}

fn check_char(body: &str) -> char {
    const M: u32 = 36;
    let mut p = M;
    for c in body.bytes().filter(|c| *c != b'-') {
        let mut s = (p + value(c).unwrap_or(0)) % M;
        if s == 0 {
            s = M;
        }
        p = (2 * s) % (M + 1);
    }
    ALPHABET[((M + 1 - p) % M) as usize] as char
}

/// An application's reference, in canonical form (upper case, no spaces).
///
/// What a person typed becomes one through [`FromStr`], which normalises it and checks the
/// check character; the store formats new ones with [`Reference::format`]. In JSON and in
/// pages it is the plain string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Reference(String);

/// Text that cannot be one of our references (wrong shape or wrong check character).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an application reference")]
pub struct InvalidReference;

impl Reference {
    /// `prefix-year-number-check`, the number zero-padded to six digits.
    pub fn format(prefix: &str, year: i32, number: i64) -> Reference {
        let body = format!("{prefix}-{year}-{number:06}");
        let check = check_char(&body);
        Reference(format!("{body}-{check}"))
    }

    /// A reference as the store keeps it, taken as it is: the store only holds references it
    /// formatted (or a tool wrote), and reading one must not fail on its check character.
    pub(crate) fn stored(reference: String) -> Reference {
        Reference(reference)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Reference {
    type Err = InvalidReference;

    /// Normalise what a person typed (case, spaces) and check the check character.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s: String = input.trim().chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        let (body, check) = s.rsplit_once('-').ok_or(InvalidReference)?;
        if check.len() != 1 || body.is_empty() || !body.bytes().all(|c| c == b'-' || value(c).is_some()) {
            return Err(InvalidReference);
        }
        if !check.starts_with(check_char(body)) {
            return Err(InvalidReference);
        }
        Ok(Reference(s))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Reference {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Checked like typed text: a reference that arrives in JSON is one a person may have typed.
impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_check_character() {
        let r = Reference::format("QA-BV", 2026, 123);
        assert!(r.as_str().starts_with("QA-BV-2026-000123-"));
        assert_eq!(r.as_str().parse(), Ok(r.clone()));
        assert_eq!(format!(" {} ", r.as_str().to_lowercase()).parse(), Ok(r.clone()));
        assert_eq!(r.to_string(), r.as_str());
        assert_eq!(serde_json::to_value(&r).unwrap(), serde_json::json!(r.as_str()));
        assert_eq!(serde_json::from_value::<Reference>(serde_json::json!(r.as_str())).unwrap(), r);
        assert!(serde_json::from_value::<Reference>(serde_json::json!("QA-BV-2026-000123")).is_err());
    }

    #[test]
    fn catches_every_single_substitution() {
        let r = Reference::format("QA-BV", 2026, 4567);
        let bytes = r.as_str().as_bytes();
        for i in 0..bytes.len() - 2 {
            if bytes[i] == b'-' {
                continue;
            }
            for c in b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" {
                if *c == bytes[i] {
                    continue;
                }
                let mut typo = bytes.to_vec();
                typo[i] = *c;
                let typo = String::from_utf8(typo).unwrap();
                assert_eq!(typo.parse::<Reference>(), Err(InvalidReference), "{typo} was accepted");
            }
        }
    }

    #[test]
    fn catches_neighbour_swaps() {
        let r = Reference::format("PK-MA", 2027, 918273);
        let digits: Vec<char> = r.as_str().chars().collect();
        for i in 0..digits.len() - 3 {
            if digits[i] == '-' || digits[i + 1] == '-' || digits[i] == digits[i + 1] {
                continue;
            }
            let mut swapped = digits.clone();
            swapped.swap(i, i + 1);
            let swapped: String = swapped.into_iter().collect();
            assert_eq!(swapped.parse::<Reference>(), Err(InvalidReference), "{swapped} was accepted");
        }
    }
}

//! Verification codes printed on letters: 16 random characters of Crockford's base 32 (80
//! bits; no I, L, O or U to misread) and one ISO 7064 MOD 37,36 check character, written in
//! groups of four, e.g. `7KQ2-M9XD-4HTA-P0ZR-6`. What a person types is normalised (case,
//! spaces, hyphens, the letters Crockford reads as digits) before the check.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CHECK_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const BODY: usize = 16;

fn check_char(body: &str) -> char {
    const M: u32 = 36;
    let mut p = M;
    for c in body.bytes() {
        let v = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            _ => (c - b'A') as u32 + 10,
        };
        let mut s = (p + v) % M;
        if s == 0 {
            s = M;
        }
        p = (2 * s) % (M + 1);
    }
    CHECK_ALPHABET[((M + 1 - p) % M) as usize] as char
}

/// A letter's verification code, in canonical form (16 characters and the check, no hyphens).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct VerificationCode(String);

/// Text that cannot be a verification code (wrong length, a character outside the alphabet,
/// or a check character that does not match).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a letter verification code")]
pub struct NotACode;

impl VerificationCode {
    /// A new random code.
    pub fn random() -> VerificationCode {
        let mut bytes = [0u8; BODY];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        let body: String = bytes.iter().map(|b| ALPHABET[(b & 31) as usize] as char).collect();
        let check = check_char(&body);
        VerificationCode(format!("{body}{check}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As printed: groups of four, the check character last.
    pub fn grouped(&self) -> String {
        let (body, check) = self.0.split_at(BODY);
        let groups: Vec<&str> = (0..BODY).step_by(4).map(|i| &body[i..i + 4]).collect();
        format!("{}-{check}", groups.join("-"))
    }
}

impl FromStr for VerificationCode {
    type Err = NotACode;

    fn from_str(given: &str) -> Result<Self, NotACode> {
        let mut chars = String::with_capacity(BODY + 1);
        for c in given.trim().chars() {
            match c {
                '-' | ' ' => continue,
                c if c.is_ascii_alphanumeric() => chars.push(c.to_ascii_uppercase()),
                _ => return Err(NotACode),
            }
        }
        if chars.len() != BODY + 1 {
            return Err(NotACode);
        }
        let (body, check) = chars.split_at(BODY);
        // Crockford reads O as 0 and I, L as 1 in the body; U is never written.
        let body: String = body
            .chars()
            .map(|c| match c {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            })
            .collect();
        if body.bytes().any(|b| !ALPHABET.contains(&b)) || check_char(&body).to_string() != check {
            return Err(NotACode);
        }
        Ok(VerificationCode(format!("{body}{check}")))
    }
}

impl fmt::Display for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.grouped())
    }
}

impl<'de> Deserialize<'de> for VerificationCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_as_typed_and_catch_one_mistyped_character() {
        for _ in 0..200 {
            let code = VerificationCode::random();
            assert_eq!(code.grouped().parse::<VerificationCode>(), Ok(code.clone()));
            assert_eq!(code.grouped().to_lowercase().replace('-', " ").parse::<VerificationCode>(), Ok(code.clone()));
            let mut typo = code.as_str().as_bytes().to_vec();
            typo[3] = if typo[3] == b'7' { b'8' } else { b'7' };
            assert_eq!(String::from_utf8(typo).unwrap().parse::<VerificationCode>(), Err(NotACode));
        }
        for bad in ["", "hello", "1234-5678", "ABCD-EFGH-JKMN-PQRS-TV", "ABCD-EFGH-JKMN-PQRS-!"] {
            assert_eq!(bad.parse::<VerificationCode>(), Err(NotACode), "{bad}");
        }
    }
}

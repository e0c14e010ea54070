//! TOTP (RFC 6238) written here from the RFC, independent of the `totp-rs` crate the engine
//! uses, so that the tests check the engine against the standard and not against itself.
//! HMAC-SHA-1 (RFC 2104) from the `hmac` and `sha1` crates; base32 (RFC 4648) by hand.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// RFC 4648 base32 without padding, upper case; None on a character outside the alphabet.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let value = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())? as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

pub fn base32_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut bits: u64 = 0;
    let mut count = 0;
    for b in bytes {
        bits = (bits << 8) | u64::from(*b);
        count += 8;
        while count >= 5 {
            count -= 5;
            out.push(ALPHABET[((bits >> count) & 31) as usize] as char);
        }
        bits &= (1 << count) - 1;
    }
    if count > 0 {
        out.push(ALPHABET[((bits << (5 - count)) & 31) as usize] as char);
    }
    out
}

/// HOTP (RFC 4226 section 5.3) of `counter`, `digits` long.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[19] & 0x0f) as usize;
    let binary = (u32::from(hash[offset] & 0x7f) << 24)
        | (u32::from(hash[offset + 1]) << 16)
        | (u32::from(hash[offset + 2]) << 8)
        | u32::from(hash[offset + 3]);
    format!("{:0width$}", binary % 10u32.pow(digits), width = digits as usize)
}

/// The 6-digit code of a base32 secret at time step `step` (30-second steps).
pub fn code_at_step(secret_base32: &str, step: u64) -> String {
    hotp(&base32_decode(secret_base32).expect("base32 secret"), step, 6)
}

/// The current 30-second time step.
pub fn current_step() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() / 30
}

/// A test user's secret, derived from the e-mail address so that the harness needs no memory.
pub fn secret_for(email: &str) -> String {
    use sha2::Digest;
    base32_encode(&sha2::Sha256::digest(format!("test totp secret:{email}").as_bytes())[..20])
}

#[cfg(test)]
mod rfc_6238 {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows: the 20-byte ASCII key "12345678901234567890".
    #[test]
    fn the_test_vectors_of_the_rfc() {
        let key = b"12345678901234567890";
        for (time, expected) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(hotp(key, time / 30, 8), expected, "T = {time}");
        }
        assert_eq!(base32_decode(&base32_encode(key)).unwrap(), key);
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
    }
}

//! Human-friendly application references with a check character, e.g. `QA-BV-2026-000123-K`.
//! The check character is ISO 7064 MOD 37,36 over the letters and digits, which catches any
//! single mistyped character and any swap of two neighbouring ones.

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

/// `prefix-year-number-check`, the number zero-padded to six digits.
pub fn format(prefix: &str, year: i32, number: i64) -> String {
    let body = format!("{prefix}-{year}-{number:06}");
    let check = check_char(&body);
    format!("{body}-{check}")
}

/// Normalise what a person typed (case, spaces) and check the check character.
/// Returns the canonical reference or `None` when it cannot be one of ours.
pub fn parse(input: &str) -> Option<String> {
    let s: String = input.trim().chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    let (body, check) = s.rsplit_once('-')?;
    if check.len() != 1 || body.is_empty() || !body.bytes().all(|c| c == b'-' || value(c).is_some()) {
        return None;
    }
    (check.chars().next() == Some(check_char(body))).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_check_character() {
        let r = format("QA-BV", 2026, 123);
        assert!(r.starts_with("QA-BV-2026-000123-"));
        assert_eq!(parse(&r).as_deref(), Some(r.as_str()));
        assert_eq!(parse(&r.to_lowercase()).as_deref(), Some(r.as_str()));
    }

    #[test]
    fn catches_every_single_substitution() {
        let r = format("QA-BV", 2026, 4567);
        let bytes = r.as_bytes();
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
                assert_eq!(parse(&typo), None, "{typo} was accepted");
            }
        }
    }

    #[test]
    fn catches_neighbour_swaps() {
        let r = format("PK-MA", 2027, 918273);
        let digits: Vec<char> = r.chars().collect();
        for i in 0..digits.len() - 3 {
            if digits[i] == '-' || digits[i + 1] == '-' || digits[i] == digits[i + 1] {
                continue;
            }
            let mut swapped = digits.clone();
            swapped.swap(i, i + 1);
            let swapped: String = swapped.into_iter().collect();
            assert_eq!(parse(&swapped), None, "{swapped} was accepted");
        }
    }
}

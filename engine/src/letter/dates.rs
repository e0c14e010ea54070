//! The dates a letter prints: Gregorian and Hijri (Umm al-Qura, the calendar of official
//! correspondence in Qatar), in English and Arabic, by ICU4X through [`crate::locale`] like
//! every other date.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::lang::Lang;
use crate::locale;

/// One day as a letter states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LetterDate {
    /// `YYYY-MM-DD`.
    pub iso: String,
    pub gregorian_en: String,
    pub gregorian_ar: String,
    pub hijri_en: String,
    pub hijri_ar: String,
}

impl LetterDate {
    pub fn of(date: NaiveDate) -> LetterDate {
        LetterDate {
            iso: date.format("%Y-%m-%d").to_string(),
            gregorian_en: locale::date(Lang::En, date),
            gregorian_ar: locale::date(Lang::Ar, date),
            hijri_en: locale::hijri_date(Lang::En, date),
            hijri_ar: locale::hijri_date(Lang::Ar, date),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_in_both_calendars_and_both_languages() {
        let d = LetterDate::of(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(d.iso, "2026-12-01");
        assert_eq!(d.gregorian_en, "1 December 2026");
        assert!(d.gregorian_ar.contains("ديسمبر"), "{}", d.gregorian_ar);
        // 1 December 2026 is 21 Jumada II 1448 in Umm al-Qura.
        assert!(d.hijri_en.contains("1448"), "{}", d.hijri_en);
        assert!(d.hijri_ar.contains("جمادى"), "{}", d.hijri_ar);
    }
}

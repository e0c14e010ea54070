//! The dates a letter prints: Gregorian and Hijri (Umm al-Qura, the calendar of official
//! correspondence in Qatar), in English and Arabic, by ICU4X. The merger may route these
//! through `crate::locale` once it formats dates for pages and e-mails too.

use chrono::{Datelike, NaiveDate};
use icu::datetime::DateTimeFormatter;
use icu::datetime::fieldsets::YMD;
use icu::datetime::input::Date;
use icu::locale::Locale;
use serde::{Deserialize, Serialize};

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

fn format(locale: &str, date: NaiveDate) -> String {
    let Ok(locale) = locale.parse::<Locale>() else { return date.to_string() };
    let Ok(iso) = Date::try_new_iso(date.year(), date.month() as u8, date.day() as u8) else {
        return date.to_string();
    };
    match DateTimeFormatter::try_new(locale.into(), YMD::long()) {
        Ok(f) => f.format(&iso).to_string(),
        // The compiled data covers these locales; a missing one still gives a readable date.
        Err(_) => date.to_string(),
    }
}

impl LetterDate {
    pub fn of(date: NaiveDate) -> LetterDate {
        LetterDate {
            iso: date.format("%Y-%m-%d").to_string(),
            gregorian_en: format("en-GB", date),
            gregorian_ar: format("ar", date),
            hijri_en: format("en-GB-u-ca-islamic-umalqura", date),
            hijri_ar: format("ar-u-ca-islamic-umalqura", date),
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

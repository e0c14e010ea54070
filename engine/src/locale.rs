//! Dates, times, numbers and plural forms in each language Corridor speaks, from CLDR through
//! ICU4X (compiled data): month and weekday names, the order of day, month and year, the
//! clock, digit grouping, the Umm al-Qura Hijri calendar and the plural categories the
//! catalogues' `key.zero|one|two|few|many|other` forms are chosen by. Nothing here is written
//! by hand but the choice of locale for each [`Lang`] and of its digits.
//!
//! Locales: English is `en-GB` (day before month, the 24-hour clock, as in Qatari and
//! Pakistani official English), Arabic `ar-QA`, Urdu `ur-PK`.
//!
//! Digits are the deployment's `[i18n] digits` ([`Numbering`]), applied through the Unicode
//! `-u-nu-` locale extension. The default is Latin digits (0-9) in every language: Qatar's
//! e-government services (Hukoomi, the Ministry of Interior's) show Western digits on their
//! Arabic screens, Pakistan writes Urdu with them, and the references, passport numbers and
//! amounts on our pages are Latin already, so one page never mixes two sets of digits. A
//! ministry that prefers Arabic-Indic digits sets `ar = "arab"` (`arabext` is the Persian and
//! Urdu form).
//!
//! The setting is process-wide, like the CLDR data itself: [`configure`] is called once at
//! start from the configuration, and every formatting function takes only a [`Lang`], so that
//! pages, e-mails and letters format alike without each carrying the setting.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{LazyLock, OnceLock, RwLock};

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use icu_calendar::cal::{Hijri, hijri::UmmAlQura};
use icu_calendar::{Date, Gregorian};
use icu_datetime::fieldsets::{self, zone};
use icu_datetime::options::{TimePrecision, YearStyle};
use icu_datetime::{FixedCalendarDateTimeFormatter, NoCalendarFormatter};
use icu_decimal::DecimalFormatter;
use icu_decimal::input::Decimal;
use icu_locale::Locale;
use icu_plurals::{PluralCategory, PluralRules};
use icu_time::{Time, TimeZone};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::lang::{LANGS, Lang};

/// A set of decimal digits, as CLDR names them (the `-u-nu-` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Digits {
    /// 0123456789
    Latn,
    /// ٠١٢٣٤٥٦٧٨٩ (Arabic-Indic)
    Arab,
    /// ۰۱۲۳۴۵۶۷۸۹ (extended Arabic-Indic, Persian and Urdu)
    Arabext,
}

pub const DIGITS: &[Digits] = &[Digits::Latn, Digits::Arab, Digits::Arabext];

impl Digits {
    pub const fn code(self) -> &'static str {
        match self {
            Digits::Latn => "latn",
            Digits::Arab => "arab",
            Digits::Arabext => "arabext",
        }
    }
}

/// Not one of [`DIGITS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a set of digits: use latn, arab or arabext")]
pub struct UnknownDigits(pub String);

impl FromStr for Digits {
    type Err = UnknownDigits;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DIGITS.iter().copied().find(|d| d.code() == s.trim()).ok_or_else(|| UnknownDigits(s.to_string()))
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Which digits each language is written with: `[i18n] digits` of the configuration, either
/// one set for all (`digits = "latn"`) or per language (`digits = {ar = "arab"}`; a language
/// not named keeps Latin digits).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Numbering(BTreeMap<Lang, Digits>);

impl Numbering {
    /// The same digits in every language.
    pub fn all(digits: Digits) -> Numbering {
        Numbering(LANGS.iter().map(|l| (*l, digits)).collect())
    }

    pub fn with(mut self, lang: Lang, digits: Digits) -> Numbering {
        self.0.insert(lang, digits);
        self
    }

    pub fn digits(&self, lang: Lang) -> Digits {
        self.0.get(&lang).copied().unwrap_or(Digits::Latn)
    }
}

impl<'de> Deserialize<'de> for Numbering {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            All(String),
            Each(BTreeMap<String, String>),
        }
        let parse = |s: &str| s.parse::<Digits>().map_err(serde::de::Error::custom);
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("give one set of digits (\"latn\") or one per language ({ar = \"arab\"})")
        })? {
            Raw::All(s) => Ok(Numbering::all(parse(&s)?)),
            Raw::Each(map) => {
                let mut out = Numbering::default();
                for (lang, digits) in map {
                    let lang = lang.parse::<Lang>().map_err(serde::de::Error::custom)?;
                    out.0.insert(lang, parse(&digits)?);
                }
                Ok(out)
            }
        }
    }
}

impl Serialize for Numbering {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, &str> = self.0.iter().map(|(l, d)| (l.code(), d.code())).collect();
        map.serialize(s)
    }
}

static NUMBERING: LazyLock<RwLock<Numbering>> = LazyLock::new(|| RwLock::new(Numbering::default()));

/// Set the digits of every language (at start, from `[i18n] digits`).
pub fn configure(numbering: Numbering) {
    *NUMBERING.write().unwrap_or_else(|e| e.into_inner()) = numbering;
}

/// The digits `lang` is written with in this deployment.
pub fn digits(lang: Lang) -> Digits {
    NUMBERING.read().unwrap_or_else(|e| e.into_inner()).digits(lang)
}

/// The CLDR locale of `lang` written with `digits`.
pub fn locale(lang: Lang, digits: Digits) -> Locale {
    let base = match lang {
        Lang::En => "en-GB",
        Lang::Ar => "ar-QA",
        Lang::Ur => "ur-PK",
    };
    // The 24-hour clock in every language: a deadline reads "23:59", and Urdu's CLDR clock
    // would otherwise put a Latin "PM" into an Urdu sentence. Both parts are fixed above: the
    // tag always parses.
    Locale::try_from_str(&format!("{base}-u-hc-h23-nu-{}", digits.code())).unwrap_or_else(|_| Locale::UNKNOWN)
}

type Gregorian_<F> = FixedCalendarDateTimeFormatter<Gregorian, F>;

/// Every formatter of one locale, made on first use and kept (they are immutable and cheap to
/// share).
struct Formats {
    long_date: Gregorian_<fieldsets::YMDE>,
    date: Gregorian_<fieldsets::YMD>,
    short_date: Gregorian_<fieldsets::YMD>,
    date_time: Gregorian_<fieldsets::YMDT>,
    deadline: Gregorian_<fieldsets::YMDET>,
    time: NoCalendarFormatter<fieldsets::T>,
    weekday: Gregorian_<fieldsets::E>,
    zone: NoCalendarFormatter<zone::Location>,
    hijri: FixedCalendarDateTimeFormatter<Hijri<UmmAlQura>, fieldsets::YMD>,
    decimal: DecimalFormatter,
    plurals: PluralRules,
}

impl Formats {
    fn new(lang: Lang, digits: Digits) -> Formats {
        let loc = locale(lang, digits);
        // Compiled data covers every field set for these locales (a unit test makes each one):
        // a failure here is a broken build, not an input.
        let expect = "ICU4X compiled data has the en, ar and ur formats";
        Formats {
            long_date: Gregorian_::try_new((&loc).into(), fieldsets::YMDE::long()).expect(expect),
            date: Gregorian_::try_new((&loc).into(), fieldsets::YMD::long()).expect(expect),
            short_date: Gregorian_::try_new((&loc).into(), fieldsets::YMD::short().with_year_style(YearStyle::Full))
                .expect(expect),
            date_time: Gregorian_::try_new(
                (&loc).into(),
                fieldsets::YMDT::long().with_time_precision(TimePrecision::Minute),
            )
            .expect(expect),
            deadline: Gregorian_::try_new(
                (&loc).into(),
                fieldsets::YMDET::long().with_time_precision(TimePrecision::Minute),
            )
            .expect(expect),
            time: NoCalendarFormatter::try_new(
                (&loc).into(),
                fieldsets::T::short().with_time_precision(TimePrecision::Minute),
            )
            .expect(expect),
            weekday: Gregorian_::try_new((&loc).into(), fieldsets::E::long()).expect(expect),
            zone: NoCalendarFormatter::try_new((&loc).into(), zone::Location).expect(expect),
            hijri: FixedCalendarDateTimeFormatter::try_new((&loc).into(), fieldsets::YMD::long()).expect(expect),
            decimal: DecimalFormatter::try_new((&loc).into(), Default::default()).expect(expect),
            plurals: PluralRules::try_new_cardinal((&loc).into()).expect(expect),
        }
    }
}

static FORMATS: [[OnceLock<Formats>; 3]; 3] = [const { [const { OnceLock::new() }; 3] }; 3];

fn formats_with(lang: Lang, digits: Digits) -> &'static Formats {
    let l = LANGS.iter().position(|x| *x == lang).unwrap_or(0);
    let d = DIGITS.iter().position(|x| *x == digits).unwrap_or(0);
    FORMATS[l][d].get_or_init(|| Formats::new(lang, digits))
}

fn formats(lang: Lang) -> &'static Formats {
    formats_with(lang, digits(lang))
}

fn gregorian(d: NaiveDate) -> Date<Gregorian> {
    // Every chrono date within ICU4X's range (±9999 years) converts; outside it, the epoch.
    Date::try_new_gregorian(d.year(), d.month() as u8, d.day() as u8)
        .unwrap_or_else(|_| Date::try_new_gregorian(1970, 1, 1).expect("1970-01-01 is a date"))
}

fn date_time_in(d: NaiveDate, hour: u32, minute: u32) -> icu_time::DateTime<Gregorian> {
    icu_time::DateTime {
        date: gregorian(d),
        time: Time::try_new(hour as u8, minute as u8, 0, 0).unwrap_or(Time::start_of_day()),
    }
}

/// "Wednesday 9 December 2026", "الأربعاء، 9 ديسمبر 2026", "بدھ، 9 دسمبر، 2026".
pub fn long_date(lang: Lang, date: NaiveDate) -> String {
    formats(lang).long_date.format(&gregorian(date)).to_string()
}

/// "9 December 2026", "9 ديسمبر 2026", "9 دسمبر، 2026".
pub fn date(lang: Lang, date: NaiveDate) -> String {
    formats(lang).date.format(&gregorian(date)).to_string()
}

/// "09/12/2026", "9‏/12‏/2026", "9/12/26".
pub fn short_date(lang: Lang, date: NaiveDate) -> String {
    formats(lang).short_date.format(&gregorian(date)).to_string()
}

/// The weekday's name: "Friday", "الجمعة", "جمعہ".
pub fn weekday(lang: Lang, day: Weekday) -> String {
    // Any date with that weekday: the week of Monday 7 December 2026.
    let monday = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap_or_default();
    let date = monday + chrono::Days::new(day.num_days_from_monday() as u64);
    formats(lang).weekday.format(&gregorian(date)).to_string()
}

/// The time of day of `at` in `tz`, on the 24-hour clock: "23:59".
pub fn time(lang: Lang, at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    let t = Time::try_new(local.hour() as u8, local.minute() as u8, 0, 0).unwrap_or(Time::start_of_day());
    formats(lang).time.format(&t).to_string()
}

/// The name of the zone as people say it: "Qatar Time", "توقيت قطر", "قطر وقت".
pub fn zone_name(lang: Lang, tz: Tz) -> String {
    formats(lang).zone.format(&TimeZone::from_iana_id(tz.name()).without_offset()).to_string()
}

/// The date and time of `at` in `tz`, without the zone: "9 December 2026 at 14:30".
pub fn date_time(lang: Lang, at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    formats(lang).date_time.format(&date_time_in(local.date_naive(), local.hour(), local.minute())).to_string()
}

/// A deadline in the calendar's zone, with its weekday and the zone named: "Wednesday 9
/// December 2026 at 23:59 (Qatar Time)". E-mails and pages state deadlines this way.
pub fn format_deadline(lang: Lang, at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    let when = formats(lang).deadline.format(&date_time_in(local.date_naive(), local.hour(), local.minute()));
    format!("{when} ({})", zone_name(lang, tz))
}

/// The date in the Umm al-Qura Hijri calendar (Saudi Arabia's, used across the Gulf): "28
/// Jumada II 1448 AH", "28 جمادى الآخرة 1448 هـ".
pub fn hijri_date(lang: Lang, date: NaiveDate) -> String {
    let hijri = gregorian(date).to_calendar(Hijri::new_umm_al_qura());
    formats(lang).hijri.format(&hijri).to_string()
}

/// A whole number, grouped and in the language's digits: "12,345", "12,345" / "١٢٬٣٤٥".
pub fn number(lang: Lang, n: i64) -> String {
    formats(lang).decimal.format(&Decimal::from(n)).to_string()
}

/// A number with `fraction_digits` places, rounded half to even: `decimal(lang, 15, 1)` is "1.5",
/// "1.5" / "١٫٥".
pub fn decimal(lang: Lang, tenths_or_less: i64, fraction_digits: u8) -> String {
    let mut value = Decimal::from(tenths_or_less);
    value.absolute.multiply_pow10(-(fraction_digits as i16));
    formats(lang).decimal.format(&value).to_string()
}

/// The CLDR plural category of `n`: what the catalogues' `key.zero|one|two|few|many|other`
/// forms are chosen by.
pub fn plural(lang: Lang, n: i64) -> PluralCategory {
    formats(lang).plurals.category_for(n)
}

/// [`plural`] as the catalogue suffix: "zero", "one", "two", "few", "many" or "other".
pub fn plural_key(lang: Lang, n: i64) -> &'static str {
    match plural(lang, n) {
        PluralCategory::Zero => "zero",
        PluralCategory::One => "one",
        PluralCategory::Two => "two",
        PluralCategory::Few => "few",
        PluralCategory::Many => "many",
        PluralCategory::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn dec9() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 9).unwrap()
    }

    #[test]
    fn month_and_weekday_names_come_from_cldr_in_each_language() {
        assert_eq!(date(Lang::En, dec9()), "9 December 2026");
        assert_eq!(date(Lang::Ar, dec9()), "9 ديسمبر 2026");
        assert_eq!(date(Lang::Ur, dec9()), "9 دسمبر، 2026");
        assert_eq!(long_date(Lang::En, dec9()), "Wednesday, 9 December 2026");
        assert_eq!(long_date(Lang::Ar, dec9()), "الأربعاء، 9 ديسمبر 2026");
        assert_eq!(long_date(Lang::Ur, dec9()), "بدھ، 9 دسمبر، 2026");
        assert_eq!(weekday(Lang::Ar, Weekday::Fri), "الجمعة");
        assert_eq!(weekday(Lang::Ur, Weekday::Sat), "ہفتہ");
        assert_eq!(weekday(Lang::En, Weekday::Sun), "Sunday");
    }

    #[test]
    fn short_dates_keep_the_whole_year() {
        assert_eq!(short_date(Lang::En, dec9()), "09/12/2026");
        for lang in LANGS {
            assert!(short_date(*lang, dec9()).contains("2026"), "{lang}: {}", short_date(*lang, dec9()));
        }
    }

    #[test]
    fn deadlines_are_read_in_the_calendars_zone_with_its_name() {
        let at = Utc.with_ymd_and_hms(2026, 12, 9, 20, 59, 0).unwrap();
        assert_eq!(
            format_deadline(Lang::En, at, chrono_tz::Asia::Qatar),
            "Wednesday, 9 December 2026 at 23:59 (Qatar Time)"
        );
        assert_eq!(
            format_deadline(Lang::Ar, at, chrono_tz::Asia::Qatar),
            "الأربعاء، 9 ديسمبر 2026 في 23:59 (توقيت قطر)"
        );
        // The same instant is already the next day in Karachi.
        assert!(format_deadline(Lang::Ur, at, chrono_tz::Asia::Karachi).starts_with("جمعرات، 10 دسمبر، 2026"));
        assert_eq!(date_time(Lang::En, at, chrono_tz::Asia::Qatar), "9 December 2026 at 23:59");
        assert_eq!(time(Lang::En, at, chrono_tz::Asia::Qatar), "23:59");
        assert_eq!(zone_name(Lang::Ur, chrono_tz::Asia::Karachi), "پاکستان وقت");
    }

    #[test]
    fn hijri_dates_follow_umm_al_qura() {
        // 1 Ramadan 1447 fell on Wednesday 18 February 2026 in Saudi Arabia's Umm al-Qura calendar.
        let d = NaiveDate::from_ymd_opt(2026, 2, 18).unwrap();
        assert_eq!(hijri_date(Lang::En, d), "1 Ramadan 1447 AH");
        assert_eq!(hijri_date(Lang::Ar, d), "1 رمضان 1447 هـ");
        assert!(hijri_date(Lang::Ur, d).contains("1447"));
    }

    #[test]
    fn numbers_are_grouped_in_the_configured_digits() {
        assert_eq!(number(Lang::En, 1234567), "1,234,567");
        assert_eq!(number(Lang::Ar, 12345), "12,345");
        assert_eq!(decimal(Lang::En, 15, 1), "1.5");
        // Through the -u-nu- extension, without touching the process-wide setting.
        let ar = formats_with(Lang::Ar, Digits::Arab);
        assert_eq!(ar.decimal.format(&Decimal::from(12345)).to_string(), "١٢٬٣٤٥");
        assert_eq!(ar.date.format(&gregorian(dec9())).to_string(), "٩ ديسمبر ٢٠٢٦");
        let ur = formats_with(Lang::Ur, Digits::Arabext);
        assert_eq!(ur.decimal.format(&Decimal::from(2026)).to_string(), "۲٬۰۲۶");
    }

    #[test]
    fn plural_categories_are_cldrs() {
        let ar: Vec<&str> = [0, 1, 2, 3, 11, 100].iter().map(|n| plural_key(Lang::Ar, *n)).collect();
        assert_eq!(ar, ["zero", "one", "two", "few", "many", "other"]);
        assert_eq!(plural_key(Lang::Ar, 103), "few");
        assert_eq!(plural_key(Lang::Ar, 111), "many");
        for lang in [Lang::En, Lang::Ur] {
            assert_eq!(plural_key(lang, 1), "one");
            assert_eq!(plural_key(lang, 0), "other");
            assert_eq!(plural_key(lang, 2), "other");
        }
    }

    #[test]
    fn digits_are_configured_once_for_all_or_per_language() {
        #[derive(Deserialize)]
        struct I18n {
            digits: Numbering,
        }
        let one: I18n = toml::from_str(r#"digits = "arab""#).unwrap();
        assert_eq!(one.digits, Numbering::all(Digits::Arab));
        let each: I18n = toml::from_str(r#"digits = {ar = "arab", ur = "arabext"}"#).unwrap();
        assert_eq!(each.digits.digits(Lang::Ar), Digits::Arab);
        assert_eq!(each.digits.digits(Lang::Ur), Digits::Arabext);
        assert_eq!(each.digits.digits(Lang::En), Digits::Latn, "a language not named keeps Latin digits");
        let bad = toml::from_str::<I18n>(r#"digits = {ar = "roman"}"#).err().unwrap().to_string();
        assert!(bad.contains("`roman` is not a set of digits"), "{bad}");
        let bad = toml::from_str::<I18n>(r#"digits = {fr = "latn"}"#).err().unwrap().to_string();
        assert!(bad.contains("`fr` is not a language"), "{bad}");
        assert_eq!(Numbering::default().digits(Lang::Ar), Digits::Latn, "Latin digits unless configured");
    }
}

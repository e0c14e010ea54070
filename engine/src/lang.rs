//! The languages Corridor speaks: the UI's catalogues, users' preferences, e-mail variants.
//! Written once here; the web crate and the CLI take their list from [`LANGS`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The languages Corridor speaks. Add one: a variant here, and its catalogue in the web crate
/// (`web/i18n/`), which a test there checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Lang {
    #[default]
    En,
    Ar,
    Ur,
}

pub const LANGS: &[Lang] = &[Lang::En, Lang::Ar, Lang::Ur];

impl Lang {
    pub const fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ar => "ar",
            Lang::Ur => "ur",
        }
    }

    pub fn dir(self) -> &'static str {
        match self {
            Lang::En => "ltr",
            Lang::Ar | Lang::Ur => "rtl",
        }
    }

    /// The language's own name, shown in the language switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Ar => "العربية",
            Lang::Ur => "اردو",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        let code = code.trim().to_ascii_lowercase();
        let primary = code.split(['-', '_']).next().unwrap_or("");
        match primary {
            "en" => Some(Lang::En),
            "ar" => Some(Lang::Ar),
            "ur" => Some(Lang::Ur),
            _ => None,
        }
    }

    /// The best language for an `Accept-Language` header, in the order the browser prefers.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut prefs: Vec<(f32, Lang)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let lang = Lang::from_code(pieces.next()?)?;
                let q =
                    pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
                (q > 0.0).then_some((q, lang))
            })
            .collect();
        prefs.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        prefs.first().map(|(_, l)| *l)
    }
}

/// Not one of [`LANGS`]; carries what was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a language Corridor speaks: use en, ar or ur")]
pub struct UnknownLang(pub String);

impl FromStr for Lang {
    type Err = UnknownLang;

    /// Exactly a code of [`LANGS`] (what a stored preference or a CLI flag holds); use
    /// [`Lang::from_code`] for the looser forms browsers send (`ar-QA`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LANGS.iter().copied().find(|l| l.code() == s).ok_or_else(|| UnknownLang(s.to_string()))
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Lang {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Lang {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_strangers_are_refused() {
        for l in LANGS {
            assert_eq!(l.code().parse::<Lang>(), Ok(*l));
        }
        assert_eq!("fr".parse::<Lang>(), Err(UnknownLang("fr".into())));
        assert_eq!(Lang::from_code("ar-QA"), Some(Lang::Ar));
    }
}

//! A text that users read, written in a workflow file in each language the deployment
//! enables (`label: {en: …, ar: …, ur: …}`). The parser guarantees that every enabled language
//! is there, so [`Text::get`] falls back to English only for a language the deployment does not
//! enable.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::lang::{LANGS, Lang};

/// One wording per language; English is always present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text {
    /// Indexed as [`LANGS`]; `[0]` (English) is never `None` once built.
    wordings: [Option<String>; 3],
}

fn index(lang: Lang) -> usize {
    LANGS.iter().position(|l| *l == lang).unwrap_or(0)
}

impl Text {
    /// The same wording in every language: for names shown as they are (a state without a
    /// `label` shows its name in words), never for prose.
    pub fn same(s: impl Into<String>) -> Self {
        let s = s.into();
        Text { wordings: [Some(s.clone()), Some(s.clone()), Some(s)] }
    }

    /// From `(language, wording)` pairs; `None` without an English one.
    pub fn from_pairs<I: IntoIterator<Item = (Lang, String)>>(pairs: I) -> Option<Self> {
        let mut wordings: [Option<String>; 3] = Default::default();
        for (lang, s) in pairs {
            wordings[index(lang)] = Some(s);
        }
        wordings[0].is_some().then_some(Text { wordings })
    }

    /// The wording in `lang`, English where the file has none (a language not enabled).
    pub fn get(&self, lang: Lang) -> &str {
        self.wordings[index(lang)].as_deref().or(self.wordings[0].as_deref()).unwrap_or("")
    }

    pub fn en(&self) -> &str {
        self.get(Lang::En)
    }

    /// The languages the text is written in, with their wording.
    pub fn iter(&self) -> impl Iterator<Item = (Lang, &str)> {
        LANGS.iter().zip(&self.wordings).filter_map(|(l, w)| w.as_deref().map(|w| (*l, w)))
    }

    /// Each wording changed by `f` (e.g. lower-cased for the middle of a sentence).
    pub fn map(&self, mut f: impl FnMut(Lang, &str) -> String) -> Text {
        let mut wordings: [Option<String>; 3] = Default::default();
        for (lang, w) in self.iter() {
            wordings[index(lang)] = Some(f(lang, w));
        }
        Text { wordings }
    }
}

/// As the map the file holds: `{"en": …, "ar": …, "ur": …}`.
impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (lang, w) in self.iter() {
            map.serialize_entry(lang.code(), w)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_not_written_falls_back_to_english() {
        let t = Text::from_pairs([(Lang::En, "Draft".to_string()), (Lang::Ar, "مسودة".to_string())]).unwrap();
        assert_eq!(t.get(Lang::Ar), "مسودة");
        assert_eq!(t.get(Lang::Ur), "Draft");
        assert!(Text::from_pairs([(Lang::Ar, "مسودة".to_string())]).is_none());
        assert_eq!(serde_json::to_value(&t).unwrap(), serde_json::json!({"en": "Draft", "ar": "مسودة"}));
    }
}

//! Languages and message catalogues. Every user-facing string of the UI comes from
//! `web/i18n/<lang>.toml` (embedded in the binary), looked up by a dotted key such as
//! `login.title`. A missing key falls back to English, then to the key itself, so a page never
//! fails to render for want of a translation (a unit test checks that the catalogues agree).
//!
//! Templates call `t(key="...")`; extra arguments fill `{name}` placeholders, and `count=N`
//! picks the plural form (`key.zero|one|two|few|many|other`, CLDR's rules through
//! [`corridor_engine::locale`]) when the catalogue has one. Numbers filled in are written in
//! the language's digits. In right-to-left languages every filled-in value is wrapped in
//! Unicode's first-strong isolate (U+2068 … U+2069), as Fluent does: a Latin name or
//! reference inside an Arabic sentence keeps its own direction, and the sentence's full stop
//! stays where Arabic puts it. The language of the page being rendered is held in a
//! thread-local for the duration of one synchronous `Tera::render` call (see [`with_lang`]).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::LazyLock;

pub use corridor_engine::lang::{LANGS, Lang};

const CATALOGUE_SOURCES: &[(Lang, &str)] = &[
    (Lang::En, include_str!("../../i18n/en.toml")),
    (Lang::Ar, include_str!("../../i18n/ar.toml")),
    (Lang::Ur, include_str!("../../i18n/ur.toml")),
];

pub type Catalogue = HashMap<String, String>;

fn flatten(prefix: &str, table: &toml::Table, out: &mut Catalogue) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

/// Parse one catalogue file into flat dotted keys.
pub fn parse_catalogue(text: &str) -> Result<Catalogue, toml::de::Error> {
    let table: toml::Table = toml::from_str(text)?;
    let mut out = HashMap::new();
    flatten("", &table, &mut out);
    Ok(out)
}

static CATALOGUES: LazyLock<HashMap<Lang, Catalogue>> = LazyLock::new(|| {
    CATALOGUE_SOURCES
        .iter()
        .map(|(lang, text)| {
            let cat = parse_catalogue(text)
                .unwrap_or_else(|e| panic!("web/i18n/{}.toml is not valid TOML: {e}", lang.code()));
            (*lang, cat)
        })
        .collect()
});

pub fn catalogue(lang: Lang) -> &'static Catalogue {
    &CATALOGUES[&lang]
}

/// The raw message for `key`, falling back to English.
pub fn lookup(lang: Lang, key: &str) -> Option<&'static str> {
    catalogue(lang).get(key).or_else(|| catalogue(Lang::En).get(key)).map(String::as_str)
}

/// Whether a key exists (in English, the reference catalogue).
pub fn has(key: &str) -> bool {
    catalogue(Lang::En).contains_key(key)
}

/// Fill `{name}` placeholders.
pub fn fill(message: &str, args: &[(&str, String)]) -> String {
    let mut out = message.to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The message for `key` in `lang`, placeholders filled. The key itself when no catalogue
/// has it.
pub fn t(lang: Lang, key: &str) -> String {
    lookup(lang, key).map(str::to_string).unwrap_or_else(|| {
        tracing::warn!(key, "missing message key");
        key.to_string()
    })
}

pub fn t_args(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    fill(&t(lang, key), &isolated(lang, args))
}

/// First-strong isolate and pop directional isolate: the text between takes the direction of
/// its first strong letter, and does not reorder what is around it.
const FSI: char = '\u{2068}';
const PDI: char = '\u{2069}';

/// The values to fill in, each isolated when the page reads right to left.
fn isolated<'a>(lang: Lang, args: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
    if lang.dir() != "rtl" {
        return args.to_vec();
    }
    args.iter()
        .map(|(name, value)| {
            let value = if value.is_empty() { String::new() } else { format!("{FSI}{value}{PDI}") };
            (*name, value)
        })
        .collect()
}

/// `key` with the plural form for `count`, `{count}` filled in the language's digits.
pub fn t_count(lang: Lang, key: &str, count: i64, args: &[(&str, String)]) -> String {
    let plural_key = format!("{key}.{}", corridor_engine::locale::plural_key(lang, count));
    let other_key = format!("{key}.other");
    let message = lookup(lang, &plural_key)
        .or_else(|| lookup(lang, &other_key))
        .map(str::to_string)
        .unwrap_or_else(|| t(lang, key));
    let mut all: Vec<(&str, String)> = vec![("count", corridor_engine::locale::number(lang, count))];
    all.extend(args.iter().cloned());
    fill(&message, &isolated(lang, &all))
}

thread_local! {
    static CURRENT: Cell<Lang> = const { Cell::new(Lang::En) };
}

/// Run `f` (a synchronous template render) with `lang` as the language of `t()`.
pub fn with_lang<R>(lang: Lang, f: impl FnOnce() -> R) -> R {
    let before = CURRENT.with(|c| c.replace(lang));
    let out = f();
    CURRENT.with(|c| c.set(before));
    out
}

pub fn current() -> Lang {
    CURRENT.with(|c| c.get())
}

fn arg_text(lang: Lang, v: &tera::Value) -> String {
    match v {
        tera::Value::String(s) => s.clone(),
        tera::Value::Null => String::new(),
        tera::Value::Number(n) if n.is_i64() => corridor_engine::locale::number(lang, n.as_i64().unwrap_or(0)),
        other => other.to_string(),
    }
}

/// The tera function `t(key="...", count=N, name=value...)`.
pub fn tera_t(args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let key = args.get("key").and_then(tera::Value::as_str).ok_or_else(|| tera::Error::msg("t() needs key=\"...\""))?;
    let lang = current();
    let rest: Vec<(&str, String)> = args
        .iter()
        .filter(|(k, _)| k.as_str() != "key" && k.as_str() != "count")
        .map(|(k, v)| (k.as_str(), arg_text(lang, v)))
        .collect();
    let text = match args.get("count").and_then(|c| c.as_i64().or_else(|| c.as_str().and_then(|s| s.parse().ok()))) {
        Some(n) => t_count(lang, key, n, &rest),
        None => t_args(lang, key, &rest),
    };
    Ok(tera::Value::String(text))
}

/// Keys a catalogue has that English lacks, and English keys it lacks.
pub fn compare(reference: &Catalogue, other: &Catalogue) -> (Vec<String>, Vec<String>) {
    let plural_base = |k: &str| {
        let (base, last) = k.rsplit_once('.').unwrap_or((k, ""));
        matches!(last, "zero" | "one" | "two" | "few" | "many" | "other").then(|| base.to_string())
    };
    let mut extra: Vec<String> = other
        .keys()
        .filter(|k| !reference.contains_key(*k))
        // Arabic has plural forms English lacks (zero, two, few, many).
        .filter(|k| plural_base(k).is_none_or(|b| !reference.contains_key(&format!("{b}.other"))))
        .cloned()
        .collect();
    let mut missing: Vec<String> = reference
        .keys()
        .filter(|k| !other.contains_key(*k))
        // A plural form may be absent where the language does not use it.
        .filter(|k| !matches!(plural_base(k), Some(ref b) if other.contains_key(&format!("{b}.other"))))
        .cloned()
        .collect();
    extra.sort();
    missing.sort();
    (extra, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_has_every_english_key_and_no_other() {
        let en = catalogue(Lang::En);
        for lang in LANGS {
            let (extra, missing) = compare(en, catalogue(*lang));
            assert!(extra.is_empty(), "{}.toml has keys English lacks: {extra:?}", lang.code());
            assert!(missing.is_empty(), "{}.toml lacks: {missing:?}", lang.code());
        }
    }

    #[test]
    fn placeholders_agree_across_languages() {
        let re = regex_lite_placeholders;
        for (key, english) in catalogue(Lang::En) {
            for lang in LANGS {
                if let Some(other) = catalogue(*lang).get(key) {
                    assert_eq!(re(english), re(other), "{key} in {}: placeholders differ", lang.code());
                }
            }
        }
    }

    fn regex_lite_placeholders(s: &str) -> Vec<String> {
        let mut out: Vec<String> = s
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_string()))
            .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn accept_language_picks_the_preferred_supported_language() {
        assert_eq!(Lang::from_accept_language("fr-FR,ar;q=0.8,en;q=0.5"), Some(Lang::Ar));
        assert_eq!(Lang::from_accept_language("ur-PK"), Some(Lang::Ur));
        assert_eq!(Lang::from_accept_language("de"), None);
    }

    #[test]
    fn counts_pick_the_cldr_plural_form_of_each_language() {
        let shown = |lang, n| t_count(lang, "admin.audit.ok", n, &[]).replace([FSI, PDI], "");
        let form = |lang, f: &str, n: i64| {
            lookup(lang, &format!("admin.audit.ok.{f}")).unwrap().replace("{count}", &n.to_string())
        };
        // The catalogue has no `zero` form: 0 falls back to `other`.
        for (n, f) in [(0, "other"), (1, "one"), (2, "two"), (3, "few"), (11, "many"), (100, "other")] {
            assert_eq!(shown(Lang::Ar, n), form(Lang::Ar, f, n), "{n}");
        }
        assert_eq!(shown(Lang::En, 1), form(Lang::En, "one", 1));
        assert_eq!(shown(Lang::En, 2), form(Lang::En, "other", 2));
        assert_eq!(shown(Lang::En, 12345), form(Lang::En, "other", 12345).replace("12345", "12,345"), "grouped");
    }

    #[test]
    fn values_filled_into_right_to_left_messages_are_isolated() {
        let name = [("name", "Ayesha Khan".to_string())];
        let ar = t_args(Lang::Ar, "layout.signed_in_as", &name);
        assert!(ar.contains("\u{2068}Ayesha Khan\u{2069}"), "{ar}");
        let en = t_args(Lang::En, "layout.signed_in_as", &name);
        assert!(en.contains("Ayesha Khan") && !en.contains('\u{2068}'), "{en}");
    }
}

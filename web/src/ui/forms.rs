//! Forms: reading posted values, the view of each workflow field (the right input for its
//! type), errors in the visitor's language, and the error summary (GOV.UK pattern: a list at
//! the top linking to each field, the same message beside the field).

use corridor_engine::fields::{FieldError, FieldProblem};
use corridor_engine::workflow::{DocumentDef, FieldDef, FieldType, Workflow};
use serde::Serialize;
use serde_json::{Map, Value};
use tera::Context;

use super::i18n::{self, Lang};

/// A posted form as its pairs, in order (checkbox groups repeat a name).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Trimmed; None when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
    }

    pub fn i64(&self, name: &str) -> Option<i64> {
        self.parse(name)
    }

    /// A value read as its type (an id, a number); `None` when absent or not one.
    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.get(name).and_then(|v| v.trim().parse().ok())
    }

    /// The values of the workflow's fields in this form (other names are ignored).
    pub fn field_values(&self, workflow: &Workflow) -> Map<String, Value> {
        let mut out = Map::new();
        for def in &workflow.fields {
            if let Some(v) = self.get(&def.name) {
                out.insert(def.name.clone(), Value::String(v.to_string()));
            }
        }
        out
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorItem {
    /// Which input: a field name, `doc-<kind>`, `comment`...
    pub key: String,
    /// Where the summary links (`#f-name`, or another page).
    pub href: String,
    pub message: String,
}

/// The errors of one form, in the order the inputs appear.
#[derive(Debug, Default, Clone)]
pub struct FormErrors(pub Vec<ErrorItem>);

impl FormErrors {
    pub fn add(&mut self, key: &str, href: &str, message: impl Into<String>) {
        if self.get(key).is_none() {
            self.0.push(ErrorItem { key: key.to_string(), href: href.to_string(), message: message.into() });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|e| e.key == key).map(|e| e.message.as_str())
    }

    /// `errors` (the summary list) and `error_for` (key -> message) for the templates.
    pub fn insert_into(&self, page: &mut Context) {
        page.insert("errors", &self.0);
        let map: std::collections::HashMap<&str, &str> =
            self.0.iter().map(|e| (e.key.as_str(), e.message.as_str())).collect();
        page.insert("error_for", &map);
    }

    /// Sort into the order of the workflow's fields (then documents, then anything else).
    pub fn sort_by_workflow(&mut self, workflow: &Workflow) {
        let rank = |key: &str| {
            workflow
                .fields
                .iter()
                .position(|f| f.name == key)
                .or_else(|| workflow.documents.iter().position(|d| format!("doc-{}", d.name) == key).map(|p| 1000 + p))
                .unwrap_or(usize::MAX)
        };
        self.0.sort_by_key(|e| rank(&e.key));
    }
}

/// The id of a field's input (the first radio of a group), the target of summary links.
pub fn field_id(name: &str) -> String {
    format!("f-{name}")
}

#[derive(Debug, Serialize)]
pub struct OptionView {
    pub value: String,
    pub label: String,
    pub checked: bool,
    pub id: String,
}

/// One workflow field as a form input, ready for the `field` macro.
#[derive(Debug, Serialize)]
pub struct FieldView {
    pub name: String,
    pub id: String,
    pub label: String,
    pub hint: Option<String>,
    /// `text`, `date`, `number`, `email`, `radios` or `select`.
    pub input: &'static str,
    pub required: bool,
    pub value: String,
    pub error: Option<String>,
    pub options: Vec<OptionView>,
    pub inputmode: Option<&'static str>,
    pub autocomplete: &'static str,
    pub spellcheck: bool,
    /// Width class: `w-5`, `w-10`, `w-20`, `w-full`.
    pub width: &'static str,
    /// The value as a reader sees it (option label, country name, long date).
    pub display: String,
}

/// Choice fields with this many options or fewer are radios; more, a select.
const MAX_RADIOS: usize = 6;

fn value_text(values: &Map<String, Value>, name: &str) -> String {
    match values.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The value as shown on summaries.
pub fn display_value(lang: Lang, def: &FieldDef, raw: &str) -> String {
    if raw.is_empty() {
        return String::new();
    }
    match def.field_type {
        FieldType::Choice => def
            .options
            .iter()
            .find(|o| o.value == raw)
            .map(|o| o.label.get(lang).to_string())
            .unwrap_or_else(|| raw.to_string()),
        FieldType::Country => {
            corridor_engine::countries::name_in(raw, lang).map(str::to_string).unwrap_or_else(|| raw.to_string())
        }
        FieldType::Date => super::views::long_date(lang, &Value::String(raw.to_string())),
        FieldType::Number => super::views::number(lang, &Value::String(raw.to_string())),
        _ => raw.to_string(),
    }
}

pub fn field_view(lang: Lang, def: &FieldDef, values: &Map<String, Value>, errors: &FormErrors) -> FieldView {
    let value = value_text(values, &def.name);
    let id = field_id(&def.name);
    let (input, inputmode, width) = match def.field_type {
        FieldType::Text if def.is_passport => ("text", None, "w-10"),
        FieldType::Text if def.pattern.is_some() && def.example.len() <= 12 => ("text", None, "w-10"),
        FieldType::Text => ("text", None, "w-full"),
        FieldType::Date => ("date", None, "w-10"),
        // GOV.UK advice: a text input with a numeric keyboard, not type=number.
        FieldType::Number => {
            ("number", Some(if def.min.is_some_and(|m| m >= 0.0) { "numeric" } else { "decimal" }), "w-10")
        }
        FieldType::Email => ("email", None, "w-20"),
        FieldType::Choice if def.options.len() <= MAX_RADIOS => ("radios", None, "w-full"),
        FieldType::Choice | FieldType::Country => ("select", None, "w-20"),
    };
    let options: Vec<OptionView> = match def.field_type {
        FieldType::Choice => def
            .options
            .iter()
            .enumerate()
            .map(|(i, o)| OptionView {
                value: o.value.clone(),
                label: o.label.get(lang).to_string(),
                checked: o.value == value,
                id: if i == 0 { id.clone() } else { format!("{id}-{}", i + 1) },
            })
            .collect(),
        FieldType::Country => corridor_engine::countries::sorted_in(lang)
            .into_iter()
            .map(|(code, name)| OptionView {
                value: code.to_string(),
                label: name.to_string(),
                checked: code.eq_ignore_ascii_case(&value),
                id: String::new(),
            })
            .collect(),
        _ => vec![],
    };
    let autocomplete = match def.field_type {
        FieldType::Email => "email",
        _ => "off",
    };
    FieldView {
        name: def.name.clone(),
        id,
        label: def.label.get(lang).to_string(),
        hint: def.hint.as_ref().map(|h| h.get(lang).to_string()),
        input,
        required: def.required,
        display: display_value(lang, def, &value),
        value,
        error: errors.get(&def.name).map(str::to_string),
        options,
        inputmode,
        autocomplete,
        spellcheck: !(def.is_passport || def.pattern.is_some() || def.field_type == FieldType::Email),
        width,
    }
}

pub fn field_views(
    lang: Lang,
    workflow: &Workflow,
    values: &Map<String, Value>,
    errors: &FormErrors,
) -> Vec<FieldView> {
    workflow.fields.iter().map(|d| field_view(lang, d, values, errors)).collect()
}

/// A problem the engine found, in the visitor's language. The engine decides whether a value
/// is valid and says what kind of problem it is (`fields::FieldProblem`); this only words it.
/// Labels (the workflow's own) start in lower case in the middle of a sentence. The API words
/// its error details with this too, in English.
pub fn field_error_message(lang: Lang, error: &FieldError) -> String {
    let field = error.field.as_str();
    // The page's own inputs are labelled by the page, in its language.
    let label = match (&error.label, field) {
        (None, "comment" | "reason" | "reason_code") => i18n::t(lang, &format!("case.{field}")),
        _ => error.label_or_name(lang),
    };
    let mid = lower_label(&label);
    let text = matches!(field, "comment" | "reason");
    match &error.problem {
        FieldProblem::Required if field == "reason_code" => i18n::t(lang, "case.error.reason_code_required"),
        FieldProblem::NotAChoice { .. } | FieldProblem::NotAllowed if field == "reason_code" => {
            i18n::t(lang, "case.error.reason_code_unknown")
        }
        FieldProblem::Required if field.starts_with("documents.") => {
            i18n::t_args(lang, "field_error.document_missing", &[("label", mid)])
        }
        FieldProblem::Required if field == "file" => i18n::t_args(lang, "documents.error.choose", &[("label", mid)]),
        FieldProblem::Required if text => i18n::t(lang, &format!("case.error.{field}_required")),
        FieldProblem::Required => i18n::t_args(lang, "field_error.required", &[("label", mid)]),
        FieldProblem::TooLong { max } if text => {
            i18n::t_args(lang, &format!("case.error.{field}_too_long"), &[("max", max.to_string())])
        }
        FieldProblem::TooLong { max } => {
            i18n::t_args(lang, "field_error.too_long", &[("label", label), ("max", max.to_string())])
        }
        FieldProblem::NotText => i18n::t_args(lang, "field_error.not_text", &[("label", label)]),
        FieldProblem::Type { expected, example } => match expected {
            FieldType::Date => {
                i18n::t_args(lang, "field_error.date", &[("label", label), ("example", example.clone())])
            }
            FieldType::Number => {
                i18n::t_args(lang, "field_error.number", &[("label", label), ("example", example.clone())])
            }
            FieldType::Country => i18n::t_args(lang, "field_error.country", &[("label", mid)]),
            FieldType::Email => i18n::t_args(lang, "field_error.email", &[("label", mid)]),
            FieldType::Text | FieldType::Choice => i18n::t_args(lang, "field_error.invalid", &[("label", label)]),
        },
        FieldProblem::BelowMinimum { min } => {
            i18n::t_args(lang, "field_error.min", &[("label", label), ("min", fmt_num(*min))])
        }
        FieldProblem::AboveMaximum { max } => {
            i18n::t_args(lang, "field_error.max", &[("label", label), ("max", fmt_num(*max))])
        }
        FieldProblem::NotAChoice { .. } => i18n::t_args(lang, "field_error.choice", &[("label", mid)]),
        // The workflow's own words in the page's language, after a translated lead-in.
        FieldProblem::Pattern { message: Some(rule), .. } => {
            i18n::t_args(lang, "field_error.pattern_with", &[("label", mid), ("rule", rule.get(lang).to_string())])
        }
        FieldProblem::Pattern { message: None, example } => {
            i18n::t_args(lang, "field_error.pattern", &[("label", mid), ("example", example.clone())])
        }
        FieldProblem::UnknownField => i18n::t_args(lang, "field_error.unknown_field", &[("name", error.field.clone())]),
        FieldProblem::NotAllowed => i18n::t_args(lang, "field_error.not_allowed", &[("label", label)]),
        FieldProblem::Empty => i18n::t_args(lang, "documents.error.empty", &[("label", mid)]),
        FieldProblem::FileType { accepted } => {
            i18n::t_args(lang, "documents.error.type", &[("label", mid), ("types", types_words(lang, accepted))])
        }
        FieldProblem::NotEligible => i18n::t(lang, "case.error.assignee"),
        FieldProblem::ControlCharacter => i18n::t_args(lang, "field_error.control_character", &[("label", label)]),
        FieldProblem::NotAfter { other_label, .. } => i18n::t_args(
            lang,
            "field_error.not_after",
            &[("label", label), ("other", lower_label(other_label.get(lang)))],
        ),
    }
}

/// A label in the middle of a sentence: first letter in lower case, unless the label starts
/// with an abbreviation ("PSEB registration number").
pub fn lower_label(label: &str) -> String {
    let mut chars = label.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && !b.is_uppercase() => {
            a.to_lowercase().collect::<String>() + &label[a.len_utf8()..]
        }
        _ => label.to_string(),
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 { format!("{}", n as i64) } else { n.to_string() }
}

/// Turn the engine's field errors into form errors, worded for the visitor. Errors naming
/// `documents.<kind>` link to the documents page; `comment`/`reason` to their boxes.
pub fn engine_errors(
    lang: Lang,
    workflow: &Workflow,
    details: &[FieldError],
    field_href: impl Fn(&str) -> String,
    document_href: impl Fn(&str) -> String,
) -> FormErrors {
    let mut errors = FormErrors::default();
    for d in details {
        if workflow.field(&d.field).is_some() {
            errors.add(&d.field, &field_href(&d.field), field_error_message(lang, d));
        } else if let Some(kind) = d.field.strip_prefix("documents.") {
            errors.add(&format!("doc-{kind}"), &document_href(kind), field_error_message(lang, d));
        } else if matches!(d.field.as_str(), "comment" | "reason") && d.problem != FieldProblem::NotAllowed {
            // The firm's own wording: its comment is the answer to a request.
            let message = match d.problem {
                FieldProblem::TooLong { max } => {
                    i18n::t_args(lang, &format!("field_error.{}_too_long", d.field), &[("max", max.to_string())])
                }
                _ => i18n::t(lang, &format!("field_error.{}_required", d.field)),
            };
            errors.add(&d.field, &format!("#{}", d.field), message);
        } else {
            errors.add(&d.field, "#main-content", field_error_message(lang, d));
        }
    }
    errors.sort_by_workflow(workflow);
    errors
}

/// How a document may be sent, in words: "PDF, JPEG or PNG, up to 5 MB".
pub fn accepted_words(lang: Lang, def: &DocumentDef) -> String {
    i18n::t_args(
        lang,
        "documents.accepts",
        &[("types", accepted_types(lang, def)), ("size", super::views::file_size(lang, def.max_size as i64))],
    )
}

/// The accepted types in words: "PDF, JPEG or PNG".
pub fn accepted_types(lang: Lang, def: &DocumentDef) -> String {
    types_words(lang, &def.accept)
}

fn types_words(lang: Lang, content_types: &[String]) -> String {
    let names: Vec<String> = content_types
        .iter()
        .map(|a| match a.as_str() {
            "application/pdf" => "PDF".to_string(),
            "image/jpeg" => "JPEG".to_string(),
            "image/png" => "PNG".to_string(),
            other => other.to_string(),
        })
        .collect();
    match names.len() {
        0 => String::new(),
        1 => names[0].clone(),
        n => i18n::t_args(
            lang,
            "documents.list_or",
            &[("first", names[..n - 1].join(", ")), ("last", names[n - 1].clone())],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_summary_keeps_the_first_message_per_input() {
        let mut e = FormErrors::default();
        e.add("a", "#f-a", "one");
        e.add("a", "#f-a", "two");
        assert_eq!(e.get("a"), Some("one"));
        assert_eq!(e.0.len(), 1);
    }

    #[test]
    fn every_field_problem_is_worded_in_every_language() {
        use corridor_engine::workflow::FieldType;
        let problems = [
            FieldProblem::Required,
            FieldProblem::UnknownField,
            FieldProblem::NotAllowed,
            FieldProblem::NotText,
            FieldProblem::TooLong { max: 1000 },
            FieldProblem::Type { expected: FieldType::Date, example: "1990-05-14".into() },
            FieldProblem::Type { expected: FieldType::Number, example: "30".into() },
            FieldProblem::Type { expected: FieldType::Country, example: "PK".into() },
            FieldProblem::Type { expected: FieldType::Email, example: "a@b.example".into() },
            FieldProblem::Type { expected: FieldType::Text, example: String::new() },
            FieldProblem::BelowMinimum { min: 1.0 },
            FieldProblem::AboveMaximum { max: 90.0 },
            FieldProblem::NotAChoice { options: vec!["a".into()] },
            FieldProblem::Pattern {
                message: Some(corridor_engine::text::Text::same("Two letters")),
                example: "AB".into(),
            },
            FieldProblem::Pattern { message: None, example: "AB".into() },
            FieldProblem::Empty,
            FieldProblem::FileType { accepted: vec!["application/pdf".into()] },
            FieldProblem::NotEligible,
        ];
        for lang in i18n::LANGS {
            for problem in &problems {
                for field in ["date_of_birth", "documents.photo", "comment", "reason", "reason_code", "file"] {
                    let error = FieldError::new(field, problem.clone())
                        .labelled(&corridor_engine::text::Text::same("Date of birth"));
                    let m = field_error_message(*lang, &error);
                    assert!(
                        !m.is_empty() && !m.contains('{') && !m.contains("error."),
                        "{problem:?} on {field} in {}: {m}",
                        lang.code()
                    );
                }
            }
        }
        let too_long = FieldError::new("comment", FieldProblem::TooLong { max: 4000 });
        assert_eq!(field_error_message(Lang::En, &too_long), "The comment must be 4000 characters or fewer");
    }

    #[test]
    fn labels_mid_sentence() {
        assert_eq!(lower_label("Date of birth"), "date of birth");
        assert_eq!(lower_label("PSEB registration number"), "PSEB registration number");
        assert_eq!(lower_label("NTN"), "NTN");
    }
}

//! Checking the values a firm gives for a workflow's fields. Every problem is reported, each
//! naming its field and the kind of problem with its parameters, so that a form or an API
//! client can show them all at once and word them in its own language.

use std::fmt;

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use crate::countries;
use crate::lang::Lang;
use crate::text::Text;
use crate::workflow::{FieldDef, FieldType, Workflow};

/// Longest text accepted in one field.
pub const MAX_TEXT: usize = 1000;

/// One problem with one input: a workflow field, `documents.<kind>`, `comment`, `reason`,
/// or another named input of the request (`workflow`, `kind`, `file`, `assignee`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    /// The input's label as the workflow writes it ("Date of birth"), in each language, when
    /// it has one.
    pub label: Option<Text>,
    pub problem: FieldProblem,
}

/// What is wrong with a value, with what a message needs to say so. Callers word it (the
/// web layer per language); [`fmt::Display`] is the engine's own English, for logs and the CLI.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldProblem {
    /// A value (or, for `documents.<kind>`, an upload) is needed and none was given.
    Required,
    /// The name is not an input of this form.
    UnknownField,
    /// This request may not give the input (a reason to an action that takes none, fields
    /// from someone other than the applicant).
    NotAllowed,
    /// Given as something other than text (a JSON object, a boolean...).
    NotText,
    /// Longer than `max` characters.
    TooLong {
        max: usize,
    },
    /// Not a value of the field's type (a date, a number, a country code, an e-mail address);
    /// `example` is a valid value, from the workflow.
    Type {
        expected: FieldType,
        example: String,
    },
    BelowMinimum {
        min: f64,
    },
    AboveMaximum {
        max: f64,
    },
    /// Not one of the values allowed.
    NotAChoice {
        options: Vec<String>,
    },
    /// Does not match the field's pattern; `message` is the workflow's own description of it,
    /// in each language.
    Pattern {
        message: Option<Text>,
        example: String,
    },
    /// An uploaded file with no content.
    Empty,
    /// An uploaded file whose content is none of the accepted types.
    FileType {
        accepted: Vec<String>,
    },
    /// The person chosen may not be given this (does not work the case's stage).
    NotEligible,
    /// Holds a control character (NUL among them) other than tab and line breaks.
    ControlCharacter,
    /// A date that must come after the date of field `other` (`after:` in the workflow) does
    /// not; `other_label` is that field's label.
    NotAfter {
        other: String,
        other_label: Text,
    },
}

impl FieldProblem {
    /// A stable machine-readable code, used in API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            FieldProblem::Required => "required",
            FieldProblem::UnknownField => "unknown_field",
            FieldProblem::NotAllowed => "not_allowed",
            FieldProblem::NotText => "not_text",
            FieldProblem::TooLong { .. } => "too_long",
            FieldProblem::Type { .. } => "type",
            FieldProblem::BelowMinimum { .. } => "below_minimum",
            FieldProblem::AboveMaximum { .. } => "above_maximum",
            FieldProblem::NotAChoice { .. } => "not_a_choice",
            FieldProblem::Pattern { .. } => "pattern",
            FieldProblem::Empty => "empty",
            FieldProblem::FileType { .. } => "file_type",
            FieldProblem::NotEligible => "not_eligible",
            FieldProblem::ControlCharacter => "control_character",
            FieldProblem::NotAfter { .. } => "not_after",
        }
    }

    /// The parameters of the problem, as a JSON object (empty when it has none).
    pub fn params(&self) -> Value {
        match self {
            FieldProblem::TooLong { max } => json!({"max": max}),
            FieldProblem::Type { expected, example } => json!({"expected": expected, "example": example}),
            FieldProblem::BelowMinimum { min } => json!({"min": min}),
            FieldProblem::AboveMaximum { max } => json!({"max": max}),
            FieldProblem::NotAChoice { options } => json!({"options": options}),
            // English, as the other parameters are (the API's `message` beside it is worded).
            FieldProblem::Pattern { message, example } => {
                json!({"message": message.as_ref().map(Text::en), "example": example})
            }
            FieldProblem::FileType { accepted } => json!({"accepted": accepted}),
            FieldProblem::NotAfter { other, other_label } => json!({"other": other, "other_label": other_label.en()}),
            FieldProblem::Required
            | FieldProblem::UnknownField
            | FieldProblem::NotAllowed
            | FieldProblem::NotText
            | FieldProblem::Empty
            | FieldProblem::NotEligible
            | FieldProblem::ControlCharacter => json!({}),
        }
    }
}

impl FieldError {
    pub fn new(field: &str, problem: FieldProblem) -> Self {
        FieldError { field: field.to_string(), label: None, problem }
    }

    /// The problem of a workflow field, labelled as the workflow labels it.
    pub fn of(def: &FieldDef, problem: FieldProblem) -> Self {
        FieldError { field: def.name.clone(), label: Some(def.label.clone()), problem }
    }

    pub fn labelled(mut self, label: &Text) -> Self {
        self.label = Some(label.clone());
        self
    }

    /// The label in `lang`, else the input's name in words.
    pub fn label_or_name(&self, lang: Lang) -> String {
        match &self.label {
            Some(label) => label.get(lang).to_string(),
            None => self.field.rsplit('.').next().unwrap_or(&self.field).replace('_', " "),
        }
    }
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = self.label_or_name(Lang::En);
        let document = self.field.starts_with("documents.");
        match &self.problem {
            FieldProblem::Required if document => write!(f, "Upload the {}", label.to_lowercase()),
            FieldProblem::Required => write!(f, "Enter {}", lower_first(&label)),
            FieldProblem::UnknownField => write!(f, "`{}` is not a field of this application form", self.field),
            FieldProblem::NotAllowed => write!(f, "`{}` may not be given here", self.field),
            FieldProblem::NotText => write!(f, "{label} must be text"),
            FieldProblem::TooLong { max } => write!(f, "{label} must be {max} characters or fewer"),
            FieldProblem::Type { expected, example } => match expected {
                FieldType::Date => write!(f, "{label} must be a real date, like {example}"),
                FieldType::Number => write!(f, "{label} must be a number"),
                FieldType::Country => write!(f, "{label} must be a country code such as PK or QA"),
                FieldType::Email => write!(f, "{label} must be an e-mail address, like name@example.com"),
                FieldType::Text | FieldType::Choice => write!(f, "{label} is not valid"),
            },
            FieldProblem::BelowMinimum { min } => write!(f, "{label} must be {} or more", number(*min)),
            FieldProblem::AboveMaximum { max } => write!(f, "{label} must be {} or less", number(*max)),
            FieldProblem::NotAChoice { options } => write!(f, "{label} must be one of: {}", options.join(", ")),
            FieldProblem::Pattern { message: Some(m), .. } => write!(f, "{}", m.en()),
            FieldProblem::Pattern { message: None, .. } => write!(f, "{label} is not in the expected format"),
            FieldProblem::Empty => write!(f, "The selected {} is empty", lower_first(&label)),
            FieldProblem::FileType { accepted } => {
                let names: Vec<&str> = accepted.iter().map(|a| describe_type(a)).collect();
                write!(f, "The {} must be a {}", label.to_lowercase(), names.join(", "))
            }
            FieldProblem::NotEligible => write!(f, "Choose someone who works this stage"),
            FieldProblem::ControlCharacter => write!(f, "{label} must not contain control characters"),
            FieldProblem::NotAfter { other_label, .. } => {
                write!(f, "{label} must be after {}", other_label.en().to_lowercase())
            }
        }
    }
}

fn describe_type(content_type: &str) -> &str {
    match content_type {
        "application/pdf" => "PDF",
        "image/jpeg" => "JPEG image",
        "image/png" => "PNG image",
        other => other,
    }
}

/// A control character other than tab, line feed and carriage return: NUL (which PostgreSQL
/// cannot store in text) and the others, which only hide or garble text. Refused in every
/// text a person gives (fields, comments, reasons, names, searches), on every database.
pub fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Search and filter inputs (`q`, `state`, `workflow`...): an input holding a control
/// character is refused, naming it.
pub fn check_query_text<'a>(
    inputs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<(), Vec<FieldError>> {
    let errors: Vec<FieldError> = inputs
        .into_iter()
        .filter(|(_, v)| v.is_some_and(has_control))
        .map(|(name, _)| FieldError::new(name, FieldProblem::ControlCharacter))
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Values as stored: trimmed strings (numbers kept as given text), normalised where the type
/// says so (passport numbers upper-case without spaces, country codes upper-case).
pub type FieldValues = Map<String, Value>;

/// Check `given` against the workflow. With `complete`, every required field must have a
/// value (the submit guard); without it, a partial draft is fine but each given value must be
/// valid. Returns the normalised values.
pub fn check(workflow: &Workflow, given: &Map<String, Value>, complete: bool) -> Result<FieldValues, Vec<FieldError>> {
    check_defs(&workflow.fields, given, complete)
}

/// [`check`] against any list of field definitions (a transition's `fields:` too), with the
/// `after:` rule between its dates.
pub fn check_defs(
    defs: &[FieldDef],
    given: &Map<String, Value>,
    complete: bool,
) -> Result<FieldValues, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = Map::new();
    for name in given.keys() {
        if !defs.iter().any(|d| &d.name == name) {
            errors.push(FieldError::new(name, FieldProblem::UnknownField));
        }
    }
    for def in defs {
        match given.get(&def.name) {
            None | Some(Value::Null) => {
                if complete && def.required {
                    errors.push(FieldError::of(def, FieldProblem::Required));
                }
            }
            Some(value) => match check_value(def, value) {
                Ok(Some(v)) => {
                    out.insert(def.name.clone(), Value::String(v));
                }
                Ok(None) => {
                    if complete && def.required {
                        errors.push(FieldError::of(def, FieldProblem::Required));
                    }
                }
                Err(problem) => errors.push(FieldError::of(def, problem)),
            },
        }
    }
    for def in defs {
        let Some(other) = def.after.as_deref().and_then(|o| defs.iter().find(|d| d.name == o)) else { continue };
        let day = |name: &str| {
            out.get(name).and_then(Value::as_str).and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        };
        if let (Some(this), Some(that)) = (day(&def.name), day(&other.name)) {
            if this <= that {
                errors.push(FieldError::of(
                    def,
                    FieldProblem::NotAfter { other: other.name.clone(), other_label: other.label.clone() },
                ));
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// `Ok(None)` for an empty value.
pub fn check_value(def: &FieldDef, value: &Value) -> Result<Option<String>, FieldProblem> {
    let raw = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) if def.field_type == FieldType::Number => n.to_string(),
        _ => return Err(FieldProblem::NotText),
    };
    if raw.is_empty() {
        return Ok(None);
    }
    if has_control(&raw) {
        return Err(FieldProblem::ControlCharacter);
    }
    if raw.chars().count() > MAX_TEXT {
        return Err(FieldProblem::TooLong { max: MAX_TEXT });
    }
    let wrong_type = || FieldProblem::Type { expected: def.field_type, example: def.example.clone() };
    let normalised = match def.field_type {
        FieldType::Text => {
            if def.is_passport {
                raw.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase()
            } else {
                raw
            }
        }
        FieldType::Date => {
            let date = NaiveDate::parse_from_str(&raw, "%Y-%m-%d").map_err(|_| wrong_type())?;
            date.format("%Y-%m-%d").to_string()
        }
        FieldType::Number => {
            let n: f64 = raw.parse().ok().filter(|n: &f64| n.is_finite()).ok_or_else(wrong_type)?;
            if let Some(min) = def.min
                && n < min
            {
                return Err(FieldProblem::BelowMinimum { min });
            }
            if let Some(max) = def.max
                && n > max
            {
                return Err(FieldProblem::AboveMaximum { max });
            }
            raw
        }
        FieldType::Choice => {
            if !def.options.iter().any(|o| o.value == raw) {
                return Err(FieldProblem::NotAChoice {
                    options: def.options.iter().map(|o| o.value.clone()).collect(),
                });
            }
            raw
        }
        FieldType::Country => {
            let code = raw.to_uppercase();
            if countries::name(&code).is_none() {
                return Err(wrong_type());
            }
            code
        }
        FieldType::Email => {
            if !looks_like_email(&raw) {
                return Err(wrong_type());
            }
            raw
        }
    };
    if let Some(re) = &def.pattern
        && !re.is_match(&normalised)
    {
        return Err(FieldProblem::Pattern { message: def.pattern_message.clone(), example: def.example.clone() });
    }
    Ok(Some(normalised))
}

fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
        && !domain.contains('@')
}

/// The name used to search and sort: the first text field whose name says it is a name.
pub fn applicant_name(workflow: &Workflow, values: &FieldValues) -> String {
    workflow
        .fields
        .iter()
        .find(|f| f.name.contains("name") && f.field_type == FieldType::Text)
        .and_then(|f| values.get(&f.name))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

pub fn passport_number(workflow: &Workflow, values: &FieldValues) -> Option<String> {
    workflow.passport_field().and_then(|f| values.get(&f.name)).and_then(Value::as_str).map(str::to_string)
}

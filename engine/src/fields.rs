//! Checking the values a firm gives for a workflow's fields. Every problem is reported, each
//! naming its field, so that a form or an API client can show them all at once.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::countries;
use crate::workflow::{FieldDef, FieldType, Workflow};

/// Longest text accepted in one field.
const MAX_TEXT: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError { field: field.to_string(), message: message.into() }
    }
}

/// Values as stored: trimmed strings (numbers kept as given text), normalised where the type
/// says so (passport numbers upper-case without spaces, country codes upper-case).
pub type FieldValues = Map<String, Value>;

/// Check `given` against the workflow. With `complete`, every required field must have a
/// value (the submit guard); without it, a partial draft is fine but each given value must be
/// valid. Returns the normalised values.
pub fn check(workflow: &Workflow, given: &Map<String, Value>, complete: bool) -> Result<FieldValues, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = Map::new();
    for name in given.keys() {
        if workflow.field(name).is_none() {
            errors.push(FieldError::new(name, format!("`{name}` is not a field of this application form")));
        }
    }
    for def in &workflow.fields {
        match given.get(&def.name) {
            None | Some(Value::Null) => {
                if complete && def.required {
                    errors.push(FieldError::new(&def.name, format!("Enter {}", lower_first(&def.label))));
                }
            }
            Some(value) => match check_value(def, value) {
                Ok(Some(v)) => {
                    out.insert(def.name.clone(), Value::String(v));
                }
                Ok(None) => {
                    if complete && def.required {
                        errors.push(FieldError::new(&def.name, format!("Enter {}", lower_first(&def.label))));
                    }
                }
                Err(message) => errors.push(FieldError::new(&def.name, message)),
            },
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
pub fn check_value(def: &FieldDef, value: &Value) -> Result<Option<String>, String> {
    let raw = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) if def.field_type == FieldType::Number => n.to_string(),
        _ => return Err(format!("{} must be text", def.label)),
    };
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.chars().count() > MAX_TEXT {
        return Err(format!("{} must be {MAX_TEXT} characters or fewer", def.label));
    }
    let normalised = match def.field_type {
        FieldType::Text => {
            if def.is_passport {
                raw.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase()
            } else {
                raw
            }
        }
        FieldType::Date => {
            let date = NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
                .map_err(|_| format!("{} must be a real date, like 2026-03-27", def.label))?;
            date.format("%Y-%m-%d").to_string()
        }
        FieldType::Number => {
            let n: f64 = raw
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| format!("{} must be a number", def.label))?;
            if let Some(min) = def.min {
                if n < min {
                    return Err(format!("{} must be {min} or more", def.label));
                }
            }
            if let Some(max) = def.max {
                if n > max {
                    return Err(format!("{} must be {max} or less", def.label));
                }
            }
            raw
        }
        FieldType::Choice => {
            if !def.options.iter().any(|o| o.value == raw) {
                let allowed: Vec<&str> = def.options.iter().map(|o| o.value.as_str()).collect();
                return Err(format!("{} must be one of: {}", def.label, allowed.join(", ")));
            }
            raw
        }
        FieldType::Country => {
            let code = raw.to_uppercase();
            if countries::name(&code).is_none() {
                return Err(format!("{} must be a country code such as PK or QA", def.label));
            }
            code
        }
        FieldType::Email => {
            if !looks_like_email(&raw) {
                return Err(format!("{} must be an e-mail address, like name@example.com", def.label));
            }
            raw
        }
    };
    if let Some(re) = &def.pattern {
        if !re.is_match(&normalised) {
            return Err(def
                .pattern_message
                .clone()
                .unwrap_or_else(|| format!("{} is not in the expected format", def.label)));
        }
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

//! A YAML document as a tree of nodes, each with the line and column it was written at.
//!
//! Workflow files are read into this tree first (serde-saphyr does the YAML), and the tree is
//! then decoded by hand so that *every* problem (unknown keys, wrong types, bad values) can be
//! reported in one run, each at its own position, instead of stopping at the first.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{MessageFormatter, Spanned};

use super::model::Pos;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; duplicate keys are kept (and reported by the decoder).
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

impl Node {
    /// What kind of YAML value this is, for messages ("expected a list, found text").
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing",
            Value::Bool(_) => "true/false",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "text",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar as text (numbers and booleans spelled the usual way); `None` for
    /// null, lists and mappings.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

fn pos_of(loc: serde_saphyr::Location) -> Pos {
    Pos { line: u32::try_from(loc.line()).unwrap_or(u32::MAX), column: u32::try_from(loc.column()).unwrap_or(u32::MAX) }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        let loc = if spanned.referenced.line() > 0 { spanned.referenced } else { spanned.defined };
        Ok(Node { value: spanned.value, pos: pos_of(loc) })
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(v as f64),
        })
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(v as f64),
        })
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(v as f64),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_char<E: de::Error>(self, v: char) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// A YAML error: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Read one YAML document into a tree. An empty file gives a null node at 1:1.
pub fn load(source: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        // Every repeated key is reported by the decoder, with its position.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        // YAML 1.2 booleans only: `on:` is a key, `yes` is text (and reported as such).
        strict_booleans: true,
        // `example: 0123456` keeps its leading zero.
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<Option<Node>>(source, options) {
        Ok(Some(node)) => Ok(node),
        Ok(None) => Ok(Node { value: Value::Null, pos: Pos { line: 1, column: 1 } }),
        Err(err) => {
            let inner = err.without_snippet();
            let pos = inner.location().map(pos_of).unwrap_or(Pos { line: 1, column: 1 });
            let pos = if pos.line == 0 { Pos { line: 1, column: 1 } } else { pos };
            let text = serde_saphyr::UserMessageFormatter.format_message(inner);
            let message: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            Err(SyntaxError { pos, message: format!("YAML syntax: {}", message.trim()) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(n: &Node) -> &[(Node, Node)] {
        match &n.value {
            Value::Map(m) => m,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn positions_are_kept() {
        let n = load("a: 1\nb:\n  - x\n  - {on: enter s, y: yes}\nc: \"q\"\n").expect("valid YAML");
        let entries = map(&n);
        assert_eq!(entries[1].0.pos, Pos { line: 2, column: 1 });
        let Value::Seq(items) = &entries[1].1.value else { panic!("not a list") };
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
        let flow = map(&items[1]);
        // YAML 1.2: `on` is a key like any other and `yes` is text.
        assert_eq!(flow[0].0.value, Value::Str("on".into()));
        assert_eq!(flow[1].1.value, Value::Str("yes".into()));
        assert_eq!(flow[1].1.pos, Pos { line: 4, column: 22 });
        assert_eq!(entries[2].1.value, Value::Str("q".into()));
    }

    #[test]
    fn scalars_keep_what_a_clerk_wrote() {
        let n = load("d: 2026-01-05\nz: 0123456\nn: 30\nb: true\nnil:\n").expect("valid YAML");
        let values: Vec<&Value> = map(&n).iter().map(|(_, v)| &v.value).collect();
        assert_eq!(values[0], &Value::Str("2026-01-05".into()));
        assert_eq!(values[1], &Value::Str("0123456".into()));
        assert_eq!(values[2], &Value::Int(30));
        assert_eq!(values[3], &Value::Bool(true));
        assert_eq!(values[4], &Value::Null);
    }

    #[test]
    fn duplicate_keys_are_kept_for_the_decoder() {
        let n = load("a: 1\na: 2\n").expect("valid YAML");
        assert_eq!(map(&n).len(), 2);
    }

    #[test]
    fn aliases_resolve() {
        let n = load("x: &a {p: 1}\ny: *a\n").expect("valid YAML");
        let aliased = map(&map(&n)[1].1);
        assert_eq!(aliased[0].1.value, Value::Int(1));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = load("a: 1\n b: 2\n  c: 3\n").expect_err("bad indentation");
        assert!(e.pos.line >= 2, "{e:?}");
        assert!(e.message.starts_with("YAML syntax: "), "{e:?}");
        let e = load("a: [1, 2\n").expect_err("unclosed list");
        assert!(e.pos.line >= 1, "{e:?}");
    }

    #[test]
    fn empty_input_is_null() {
        assert_eq!(load("").expect("empty is fine").value, Value::Null);
        assert_eq!(load("# only a comment\n").expect("comment only").value, Value::Null);
    }
}

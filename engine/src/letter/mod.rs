//! Decision letters: the signed, bilingual (Arabic and English) PDF that states a decision
//! which ended an application (a visa issued or refused, a licence granted or refused).
//!
//! A letter is one [`LetterContent`]: every fact it prints, and nothing else. Its canonical
//! JSON (serde_json, keys sorted) is signed with the deployment's Ed25519 audit key
//! ([`crate::audit::checkpoint::AuditKey`]); the PDF is a pure function of that content and its
//! signature ([`render::render`], typst with the fonts compiled into the binary, the creation
//! date the decision's time), and carries both as an attachment. So anyone with the public key
//! can check a file offline ([`file::verify_file`]): the signature covers the content, and
//! rendering the content again must give the very same bytes, so a copy changed anywhere is
//! refused. The letter is made once, at the decision or at its first request, and its record
//! (number, code, SHA-256, content) kept with a `letter_issued` audit event in the same
//! transaction ([`crate::store::LetterStore`]).

pub mod code;
pub mod dates;
pub mod file;
pub mod render;
mod service;

use serde::{Deserialize, Serialize};

pub use code::{NotACode, VerificationCode};
pub use dates::LetterDate;
pub use file::{FileProblem, SignedLetter, verify_file};
pub use service::{IssuedLetter, LetterCheck, LetterValidity};

use crate::role::Role;

/// The layout version of [`render::render`]; printed into the content so that a letter made
/// by an older layout is recognised as such rather than as forged.
pub const FORMAT: u32 = 1;

/// The audit action that records a letter (its number and the PDF's SHA-256); it changes
/// nothing of the application, so it keeps its version.
pub const LETTER_ISSUED: &str = "letter_issued";

/// A text in both languages of the letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Bilingual {
    pub en: String,
    pub ar: String,
}

impl Bilingual {
    pub fn new(en: impl Into<String>, ar: impl Into<String>) -> Bilingual {
        Bilingual { en: en.into(), ar: ar.into() }
    }

    /// A text given in one language only so far (workflow wording before its translation):
    /// both sides print it.
    pub fn same(text: impl Into<String>) -> Bilingual {
        let t = text.into();
        Bilingual { en: t.clone(), ar: t }
    }
}

/// The letterhead and signatories, from `[letters]` of the configuration.
#[derive(Debug, Clone, Default)]
pub struct LetterSettings {
    /// Where `/verify/{code}` is reached (the server's public URL).
    pub public_url: String,
    pub authority: Bilingual,
    pub address: Bilingual,
    /// Letter numbers are `{prefix}/{reference}`.
    pub number_prefix: String,
    /// The signatory's title by the deciding officer's role.
    pub titles: Vec<(Role, Bilingual)>,
    /// Another letterhead (authority, address) for one workflow's letters, by workflow id.
    pub workflows: Vec<(String, (Bilingual, Bilingual))>,
}

impl LetterSettings {
    /// The authority and address that head a workflow's letters.
    pub fn letterhead(&self, workflow: &str) -> (Bilingual, Bilingual) {
        self.workflows
            .iter()
            .find(|(id, _)| id == workflow)
            .map(|(_, head)| head.clone())
            .unwrap_or_else(|| (self.authority.clone(), self.address.clone()))
    }

    pub fn title(&self, role: &Role) -> Bilingual {
        self.titles
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| Bilingual::same(role.replace('_', " ")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Granted,
    Refused,
}

/// Number of entries a visa allows (the `entries` field of the issuing transition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entries {
    Single,
    Multiple,
}

impl Entries {
    pub fn parse(value: &str) -> Option<Entries> {
        match value {
            "single" => Some(Entries::Single),
            "multiple" => Some(Entries::Multiple),
            _ => None,
        }
    }
}

/// A country as the letter names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Country {
    pub code: String,
    pub name: Bilingual,
}

/// The person (or, for a licence, the firm) the decision is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub full_name: String,
    pub passport_number: Option<String>,
    pub nationality: Option<Country>,
    pub date_of_birth: Option<LetterDate>,
}

/// What a grant allows, as the deciding officer entered it with the transition's `fields:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Terms {
    pub licence_number: Option<String>,
    pub valid_from: Option<LetterDate>,
    pub valid_until: Option<LetterDate>,
    pub entries: Option<Entries>,
    pub permitted_stay_days: Option<u32>,
    pub conditions: Option<String>,
}

/// Why an application was refused and what the applicant may do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Refusal {
    /// The officer's own words (the transition's `reason`).
    pub reason: Option<String>,
    /// The wording of the reason code the officer chose. MERGE: filled from the workflow's
    /// `reasons:` once reason codes exist; none today.
    pub reason_wording: Option<Bilingual>,
    /// What the applicant may do next (reapply, ask for a review). MERGE: the refusing
    /// transition's `next_steps:`; today the refused state's `next_steps`.
    pub next_steps: Option<Bilingual>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signatory {
    pub name: String,
    pub title: Bilingual,
}

/// Every fact a decision letter prints. Its canonical JSON is what is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LetterContent {
    pub format: u32,
    /// `{prefix}/{reference}`, one letter per application.
    pub number: String,
    pub code: VerificationCode,
    /// `{public_url}/verify/{code}`, also the QR code's content.
    pub verify_url: String,
    pub reference: String,
    pub workflow: String,
    pub outcome: Outcome,
    /// The decision's time (RFC 3339, UTC): the letter's date and the PDF's creation date.
    pub decided_at: String,
    pub date: LetterDate,
    pub authority: Bilingual,
    pub address: Bilingual,
    /// What was applied for: the workflow's title (the visa type).
    pub subject: Bilingual,
    /// The decision in words: the transition's label and the state's public label.
    pub decision: Bilingual,
    pub holder: Holder,
    /// The applying firm.
    pub sponsor: Option<String>,
    pub host_organisation: Option<String>,
    pub terms: Option<Terms>,
    pub refusal: Option<Refusal>,
    pub signatory: Signatory,
}

impl LetterContent {
    /// The bytes that are signed: the content's JSON, keys sorted (serde_json without
    /// `preserve_order`), no spaces.
    pub fn canonical_json(&self) -> String {
        // Through Value so that struct fields are sorted like every nested object.
        serde_json::to_value(self).map(|v| v.to_string()).unwrap_or_default()
    }
}

/// A country in both languages of the letter (CLDR names, see [`crate::countries`]).
pub fn country(code: &str) -> Country {
    let name = |lang| crate::countries::name_in(code, lang).unwrap_or(code).to_string();
    Country {
        code: code.to_string(),
        name: Bilingual { en: name(crate::lang::Lang::En), ar: name(crate::lang::Lang::Ar) },
    }
}

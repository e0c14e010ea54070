//! The checked workflow model. A workflow file becomes this once, at load, or is rejected;
//! everything downstream (transitions, UI, scheduler) trusts it without re-checking.

use crate::role::Role;
use crate::text::Text;
use regex::Regex;
use serde::Serialize;

/// Where something was written in a workflow file (1-based), kept so that later checks and
/// error messages can point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Workflow {
    /// Stable identifier, e.g. `it-business-visa`.
    pub id: String,
    /// Version number written in the file; a changed file must raise it.
    pub version: u32,
    pub title: Text,
    pub description: Option<Text>,
    /// Name of a calendar under `config/calendars/` (e.g. `qatar`).
    pub calendar: String,
    /// Prefix of the application references, e.g. `QA-BV` gives `QA-BV-2026-000123-K`.
    pub reference_prefix: String,
    pub roles: Vec<Role>,
    /// The kind of organisation whose people hold a role (`- {name: ROLE, organisation:
    /// KIND}` in `roles:`), for the roles that declare one.
    pub role_organisations: Vec<(Role, crate::organisation::OrganisationKind)>,
    pub fields: Vec<FieldDef>,
    pub documents: Vec<DocumentDef>,
    /// In file order; exactly one is initial.
    pub states: Vec<StateDef>,
    pub transitions: Vec<TransitionDef>,
    pub notify: Vec<NotifyRule>,
    pub schedules: Vec<ScheduleDef>,
    pub webhooks: Vec<WebhookDef>,
    /// Staff roles that may look up any application past its draft by its reference
    /// (`look_up: [ROLE, ...]`), whatever its state; their lists still hold only what the
    /// states let them read.
    pub look_up: Vec<Role>,
    /// The reason codes refusals and requests for information offer (`reasons:`), in file
    /// order.
    pub reasons: Vec<ReasonDef>,
    /// Hex SHA-256 of the file's bytes: a changed file that keeps its version is refused.
    pub content_hash: String,
    /// The file as loaded, kept so that applications on an old version can still be served.
    #[serde(skip)]
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Text,
    Date,
    Number,
    Choice,
    Country,
    Email,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChoiceOption {
    pub value: String,
    pub label: Text,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldDef {
    pub name: String,
    pub label: Text,
    pub hint: Option<Text>,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub required: bool,
    #[serde(serialize_with = "serialize_regex")]
    pub pattern: Option<Regex>,
    /// Shown to users when the pattern fails, e.g. "two capital letters then seven digits".
    pub pattern_message: Option<Text>,
    /// A valid example value (the API publishes it; tests and demo data use it).
    pub example: String,
    /// Options of a `choice` field.
    pub options: Vec<ChoiceOption>,
    /// Inclusive bounds of a `number` field.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Personal data: masked in lists and exports, and shown in full only to the firm that
    /// applies and to the roles in `visible_to` (each such view is written to the access log).
    pub sensitive: bool,
    /// Staff roles that see a sensitive field in full on a single application
    /// (`visible_to: [ROLE, ...]`); none when absent.
    pub visible_to: Vec<Role>,
    /// The passport number used by the public status page.
    pub is_passport: bool,
    /// A date field that must come after the date of this other field of the same form
    /// (`after: valid_from`), when both are given.
    pub after: Option<String>,
    pub pos: Pos,
}

fn serialize_regex<S: serde::Serializer>(re: &Option<Regex>, s: S) -> Result<S::Ok, S::Error> {
    match re {
        Some(re) => s.serialize_some(re.as_str()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentDef {
    pub name: String,
    pub label: Text,
    pub hint: Option<Text>,
    pub required: bool,
    /// Accepted content types, e.g. `application/pdf`.
    pub accept: Vec<String>,
    /// Largest accepted file in bytes.
    pub max_size: u64,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationUnit {
    WorkingDays,
    Days,
    Hours,
}

/// "5 working days", "30 days", "48 hours".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Duration {
    pub amount: u32,
    pub unit: DurationUnit,
}

/// Who receives a message: the role that owns the current state, the applicant's firm, or a
/// named role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "role")]
pub enum Recipient {
    Owner,
    Applicant,
    Role(Role),
}

#[derive(Debug, Clone, Serialize)]
pub struct Reminder {
    pub before_deadline: Duration,
    pub to: Recipient,
    pub template: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Escalation {
    pub after_deadline: Duration,
    pub to: Recipient,
    pub template: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StateDef {
    pub name: String,
    /// Label for staff pages.
    pub label: Text,
    /// The role that holds applications in this state (its queue).
    pub owner: Option<Role>,
    pub initial: bool,
    pub terminal: bool,
    /// Label shown to the public and the applicant.
    pub public: Text,
    /// What happens next, in plain words, for the applicant and the public status page.
    pub next_steps: Option<Text>,
    pub deadline: Option<Duration>,
    /// The applicant owes information: the clock of the state that asked stops.
    pub pauses_clock: bool,
    /// Action taken automatically when the deadline passes (e.g. `lapse`).
    pub on_deadline: Option<String>,
    pub remind: Vec<Reminder>,
    pub escalate: Option<Escalation>,
    /// Staff roles that may read applications in this state (`readers: [ROLE, ...]`). The
    /// roles that work the state (take a transition from it) and the role its escalation goes
    /// to always may. `None` (not written): those, and the roles that acted on the
    /// application (appear in its audit events).
    pub readers: Option<Vec<Role>>,
    pub pos: Pos,
}

/// Where a transition leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "state")]
pub enum Target {
    State(String),
    /// Back to the state the application was in before it entered the current one
    /// (`to: $return`), e.g. from "more information" back to the stage that asked.
    Return,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    None,
    Optional,
    Required,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransitionDef {
    pub action: String,
    /// Button label.
    pub label: Text,
    pub from: Vec<String>,
    pub to: Target,
    /// The role allowed to take it. `system` marks actions only the scheduler takes.
    pub by: Role,
    pub requires_fields: bool,
    pub requires_documents: bool,
    /// The actor may not be the submitter nor the one who took the previous four-eyes step.
    pub four_eyes: bool,
    pub comment: Need,
    pub reason: Need,
    /// Decision letter / outcome kind shown to the embassy (e.g. granted, refused); free text.
    pub outcome: Option<String>,
    /// `comment_to_applicant: true|false`: whether the firm reads this transition's comment
    /// (timeline, API, e-mails). When absent, see [`TransitionDef::comment_reaches_applicant`].
    pub comment_to_applicant: Option<bool>,
    /// What the actor enters when taking it (`fields:`, the same language as the workflow's
    /// fields), e.g. the validity of a visa being issued. Checked with the transition, kept in
    /// its audit event's data under `fields`.
    pub fields: Vec<FieldDef>,
    /// The codes of [`Workflow::reasons`] this transition offers (`reason_codes:`); the actor
    /// picks one. Required when `reason: required`, else optional; none offered when empty.
    pub reason_codes: Vec<String>,
    /// What the applicant may do after this decision (reapply, ask for a review), e.g. on a
    /// refusal letter.
    pub next_steps: Option<Text>,
    pub pos: Pos,
}

/// A reason a refusal or a request for information may give (`reasons:`), e.g.
/// `{code: incomplete_documents, label: {en: …, ar: …, ur: …}}`.
#[derive(Debug, Clone, Serialize)]
pub struct ReasonDef {
    /// lower_snake_case, stored in the event data.
    pub code: String,
    pub label: Text,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Trigger {
    Enter(String),
    Leave(String),
    Action(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct NotifyRule {
    pub on: Trigger,
    pub email: Recipient,
    pub template: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScheduleDef {
    pub name: String,
    /// As written by the user (5 fields).
    pub cron: String,
    pub timezone: String,
    pub to: Recipient,
    pub template: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookDef {
    pub on: Trigger,
    /// Either a literal URL or `env:NAME`.
    pub url: String,
    /// `env:NAME` naming the shared secret for the HMAC signature.
    pub secret: Option<String>,
    pub pos: Pos,
}

impl Workflow {
    pub fn state(&self, name: &str) -> Option<&StateDef> {
        self.states.iter().find(|s| s.name == name)
    }

    pub fn initial_state(&self) -> &StateDef {
        self.states.iter().find(|s| s.initial).expect("a checked workflow has exactly one initial state")
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn document(&self, name: &str) -> Option<&DocumentDef> {
        self.documents.iter().find(|d| d.name == name)
    }

    /// The transitions open from `state`, in file order.
    pub fn transitions_from<'a, 's>(&'a self, state: &'s str) -> impl Iterator<Item = &'a TransitionDef> + use<'a, 's> {
        self.transitions.iter().filter(move |t| t.from.iter().any(|f| f == state))
    }

    pub fn transition(&self, state: &str, action: &str) -> Option<&TransitionDef> {
        self.transitions.iter().find(|t| t.action == action && t.from.iter().any(|f| f == state))
    }

    /// The declared reason of `code`.
    pub fn reason(&self, code: &str) -> Option<&ReasonDef> {
        self.reasons.iter().find(|r| r.code == code)
    }

    /// The public label of `state`, else its name (a state no longer in this version).
    pub fn state_public(&self, state: &str) -> Text {
        self.state(state).map_or_else(|| Text::same(state), |s| s.public.clone())
    }

    /// The staff label of `state`, else its name.
    pub fn state_label(&self, state: &str) -> Text {
        self.state(state).map_or_else(|| Text::same(state), |s| s.label.clone())
    }

    pub fn passport_field(&self) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.is_passport)
    }

    /// Whether the firm reads the comment of `t`: as the file says, else when the firm wrote
    /// it, when it sends the case back to the firm (a request for information), or when it is
    /// a decision (an outcome, or an end). Every other comment is an internal note.
    pub fn comment_reaches_applicant(&self, t: &TransitionDef) -> bool {
        if let Some(declared) = t.comment_to_applicant {
            return declared;
        }
        if t.by == Role::APPLICANT || t.outcome.is_some() {
            return true;
        }
        match &t.to {
            Target::State(to) => {
                self.state(to).is_some_and(|s| s.terminal || s.owner.as_ref() == Some(&Role::APPLICANT))
            }
            Target::Return => false,
        }
    }
}

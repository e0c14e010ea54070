//! The engine as its callers use it: every operation names an actor, reads through the
//! visibility rules, and writes through the store in one transaction.

use crate::role::Role;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::actor::Actor;
use crate::audit::{self, ChainBreak, storable_time};
use crate::auth::SignInLimits;
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::error::{EngineError, EngineResult};
use crate::fields::{self, FieldError, FieldProblem};
use crate::model::{
    ApplicationEdit, ApplicationFilter, ApplicationRecord, AuditEvent, DocumentRecord, NewApplication, NewAuditEvent,
    NewDocument, Organisation, OrganisationId, Reference, TransitionWrite, UserId,
};
use crate::registry::WorkflowRegistry;
use crate::store::{Store, StoreError};
use crate::transition::{self, TransitionInput, TransitionRequest};
use crate::workflow::Workflow;

/// The engine. Its parts are its own: callers (the web layer, the CLI) go through its methods,
/// and whoever needs the raw store (start-up, tools, tests) keeps the handle it built this with.
/// The kind of organisation that applies (`organisations.kind`).
const FIRM_KIND: &str = "firm";

pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) workflows: WorkflowRegistry,
    /// The calendar files with the holidays changed at run time merged in (see
    /// [`crate::holidays`]).
    pub(crate) calendars: crate::holidays::Calendars,
    pub(crate) clock: Arc<dyn Clock>,
    /// Where uploaded files are kept; never a served folder.
    pub(crate) uploads_dir: PathBuf,
    /// Sign-in attempts counted per account and per client address (see [`Engine::sign_in`]).
    pub(crate) sign_in_limits: SignInLimits,
    /// The audit checkpoints' key and witness files (see [`crate::audit::checkpoint`]).
    pub(crate) audit_files: Option<crate::audit::checkpoint::AuditFiles>,
    /// The decision letters' letterhead and signatories (see [`crate::letter`]).
    pub(crate) letters: crate::letter::LetterSettings,
}

/// An application with the workflow version it runs on.
#[derive(Debug, Clone)]
pub struct ApplicationView {
    pub record: ApplicationRecord,
    pub workflow: Arc<Workflow>,
}

/// What the public status page may show: nothing but the label and what happens next.
#[derive(Debug, Clone, Serialize)]
pub struct PublicStatus {
    pub reference: Reference,
    pub status: crate::text::Text,
    pub next_steps: Option<crate::text::Text>,
}

/// Content types recognised from a file's first bytes; the name and the declared type are
/// never trusted.
pub fn sniff_content_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

/// Characters that reorder or hide text: bidi embeddings and overrides (U+202A-U+202E),
/// isolates (U+2066-U+2069), the directional marks (U+200E, U+200F, U+061C), zero-width
/// characters and the byte-order mark. `invoice\u{202e}fdp.exe` would show as
/// "invoiceexe.pdf".
fn hides_text(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{061C}' | '\u{FEFF}')
}

/// A file name as kept and shown: the last path segment, without control characters (C0,
/// C1), characters that reorder or hide text, or characters file systems refuse.
pub fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !hides_text(*c) && !matches!(c, '"' | '<' | '>' | '|' | ':' | '*' | '?'))
        .take(120)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') { "document".into() } else { cleaned.to_string() }
}

impl Engine {
    /// A search or filter holding a control character is refused (422 naming it) before it
    /// reaches the database.
    pub(crate) fn check_filter_text(filter: &ApplicationFilter) -> EngineResult<()> {
        let states = filter.states.iter().flatten().chain(&filter.exclude_states).map(|s| ("state", Some(s.as_str())));
        let inputs = [("q", filter.search.as_deref()), ("workflow", filter.workflow_id.as_deref())];
        fields::check_query_text(inputs.into_iter().chain(states)).map_err(EngineError::invalid)
    }

    pub fn new(
        store: Arc<dyn Store>,
        workflows: WorkflowRegistry,
        calendars: crate::holidays::Calendars,
        clock: Arc<dyn Clock>,
        uploads_dir: PathBuf,
    ) -> Engine {
        Engine {
            store,
            workflows,
            calendars,
            clock,
            uploads_dir,
            sign_in_limits: SignInLimits::default(),
            audit_files: None,
            letters: crate::letter::LetterSettings::default(),
        }
    }

    /// Whether the database answers (for a readiness probe).
    pub async fn ready(&self) -> EngineResult<()> {
        self.store.organisations().await?;
        Ok(())
    }

    /// The newest version of a workflow.
    pub fn workflow(&self, id: &str) -> Option<Arc<Workflow>> {
        self.workflows.latest(id)
    }

    /// The newest version of every loaded workflow.
    pub fn workflows(&self) -> Vec<Arc<Workflow>> {
        self.workflows.all_latest()
    }

    /// Every loaded version of every workflow, by id then version.
    pub fn workflow_versions(&self) -> Vec<Arc<Workflow>> {
        self.workflows.all_versions().cloned().collect()
    }

    /// A loaded calendar by its id (file name), with the holidays changed at run time.
    pub fn calendar_named(&self, id: &str) -> Option<&Calendar> {
        self.calendars.get(id)
    }

    /// The ids of the loaded calendars.
    pub fn calendar_ids(&self) -> Vec<String> {
        self.calendars.ids()
    }

    /// The calendars the loaded workflows count their deadlines on, each once.
    pub fn calendars_in_use(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for w in self.workflows() {
            if !ids.contains(&w.calendar) && self.calendar_named(&w.calendar).is_some() {
                ids.push(w.calendar.clone());
            }
        }
        ids
    }

    /// An organisation's name, for showing who a case belongs to.
    pub async fn organisation_name(&self, id: OrganisationId) -> EngineResult<String> {
        Ok(self.store.organisation(id).await?.name)
    }

    /// The firms (organisations of kind `firm`), for finding cases by their firm.
    pub async fn firms(&self) -> EngineResult<Vec<Organisation>> {
        Ok(self.store.organisations().await?.into_iter().filter(|o| o.kind == FIRM_KIND).collect())
    }

    /// The firm with this id; none when there is no such organisation or it is not a firm.
    pub async fn firm(&self, id: OrganisationId) -> EngineResult<Option<Organisation>> {
        match self.store.organisation(id).await {
            Ok(o) => Ok((o.kind == FIRM_KIND).then_some(o)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A user's name, for showing who holds a case.
    pub async fn user_name(&self, id: UserId) -> EngineResult<String> {
        Ok(self.store.user(id).await?.name)
    }

    /// The language a user reads pages and e-mails in.
    pub async fn set_user_language(&self, user_id: UserId, language: &str) -> EngineResult<()> {
        Ok(self.store.set_user_language(user_id, language).await?)
    }

    pub fn now(&self) -> DateTime<Utc> {
        storable_time(self.clock.now())
    }

    pub fn calendar(&self, workflow: &Workflow) -> EngineResult<&Calendar> {
        self.calendars
            .get(&workflow.calendar)
            .ok_or_else(|| EngineError::Internal(format!("calendar `{}` is not loaded", workflow.calendar)))
    }

    fn workflow_of(&self, app: &ApplicationRecord) -> EngineResult<Arc<Workflow>> {
        self.workflows.get(&app.workflow_id, app.workflow_version as u32).ok_or_else(|| {
            EngineError::Internal(format!("workflow {} v{} is not loaded", app.workflow_id, app.workflow_version))
        })
    }

    fn audit_event(actor: &Actor, action: &str, state: &str, data: Value, at: DateTime<Utc>) -> NewAuditEvent {
        NewAuditEvent {
            actor_id: actor.user_id,
            actor_name: actor.name.clone(),
            role: actor.role.clone(),
            organisation_id: actor.organisation_id,
            action: action.to_string(),
            from_state: Some(state.to_string()),
            to_state: Some(state.to_string()),
            comment: None,
            reason: None,
            data,
            at,
        }
    }

    /// A firm starts an application (a draft) on the newest version of a workflow.
    pub async fn create_application(
        &self,
        actor: &Actor,
        workflow_id: &str,
        given: &Map<String, Value>,
    ) -> EngineResult<ApplicationView> {
        let workflow = self.workflows.latest(workflow_id).ok_or_else(|| {
            let options = self.workflows.all_latest().iter().map(|w| w.id.clone()).collect();
            EngineError::invalid(vec![FieldError::new("workflow", FieldProblem::NotAChoice { options })])
        })?;
        if !actor.is_applicant() || !workflow.roles.contains(&Role::APPLICANT) {
            return Err(EngineError::Forbidden("only a firm's applicant users start applications".into()));
        }
        let organisation_id = actor
            .organisation_id
            .ok_or_else(|| EngineError::Forbidden("your account belongs to no organisation".into()))?;
        let user_id =
            actor.user_id.ok_or_else(|| EngineError::Forbidden("only a signed-in user starts applications".into()))?;
        let values = fields::check(&workflow, given, false).map_err(EngineError::invalid)?;
        let now = self.now();
        let initial = workflow.initial_state().name.clone();
        let record = self
            .store
            .create_application(
                NewApplication {
                    reference_prefix: workflow.reference_prefix.clone(),
                    year: now.year(),
                    workflow_id: workflow.id.clone(),
                    workflow_version: workflow.version as i64,
                    state: initial.clone(),
                    organisation_id,
                    created_by: user_id,
                    applicant_name: fields::applicant_name(&workflow, &values).to_lowercase(),
                    passport_number: fields::passport_number(&workflow, &values),
                    fields: Value::Object(values),
                    now,
                },
                NewAuditEvent {
                    from_state: None,
                    ..Self::audit_event(actor, "create", &initial, json!({"workflow_version": workflow.version}), now)
                },
            )
            .await?;
        Ok(ApplicationView { record, workflow })
    }

    /// An application the actor may read (need to know, see [`crate::actor`]), by reference;
    /// "not found" otherwise, the same answer as for a reference that does not exist.
    pub async fn application(&self, actor: &Actor, reference: &Reference) -> EngineResult<ApplicationView> {
        let not_found = || EngineError::NotFound("application".into());
        let record = self.store.application_by_reference(reference).await?.ok_or_else(not_found)?;
        let workflow = self.workflow_of(&record)?;
        if !self.may_read(actor, &record, &workflow, true).await? {
            return Err(not_found());
        }
        Ok(ApplicationView { record, workflow })
    }

    /// Applications the actor may read, in deadline order. Firms see their own; staff the
    /// states their role reads (never a draft), selected by the store so that a page holds
    /// nothing else and stays full.
    pub async fn applications(
        &self,
        actor: &Actor,
        mut filter: ApplicationFilter,
    ) -> EngineResult<Vec<ApplicationView>> {
        if actor.is_applicant() {
            filter.organisation_id = actor.organisation_id.or(Some(OrganisationId::new(-1)));
        } else if !actor.is_admin() && actor.role != Role::SYSTEM {
            filter.readable = Some(self.readable_by(actor));
        }
        filter.limit = filter.limit.clamp(1, 500);
        Self::check_filter_text(&filter)?;
        let records = self.store.applications(&filter).await?;
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            let workflow = self.workflow_of(&record)?;
            // The store applied the rule; this only guards against a filter that drifted.
            if actor.may_list(&record, &workflow) != crate::actor::Reading::No {
                out.push(ApplicationView { record, workflow });
            }
        }
        Ok(out)
    }

    /// The applicant changes fields while the application is with them (draft or answering a
    /// request for information).
    pub async fn update_fields(
        &self,
        actor: &Actor,
        reference: &Reference,
        expected_version: i64,
        given: &Map<String, Value>,
    ) -> EngineResult<ApplicationView> {
        let view = self.application(actor, reference).await?;
        self.require_with_applicant(actor, &view)?;
        if expected_version != view.record.version {
            return Err(EngineError::StaleVersion { sent: expected_version, current: view.record.version });
        }
        let mut values = view.record.fields.as_object().cloned().unwrap_or_default();
        let mut changed = Vec::new();
        for (k, v) in given {
            if values.get(k) != Some(v) {
                changed.push(k.clone());
            }
            values.insert(k.clone(), v.clone());
        }
        let values = fields::check(&view.workflow, &values, false).map_err(EngineError::invalid)?;
        let now = self.now();
        let record = self
            .store
            .edit_application(ApplicationEdit {
                application_id: view.record.id,
                expected_version,
                applicant_name: Some(fields::applicant_name(&view.workflow, &values).to_lowercase()),
                passport_number: fields::passport_number(&view.workflow, &values),
                fields: Some(Value::Object(values)),
                assigned_to: None,
                audit: Self::audit_event(
                    actor,
                    "update_fields",
                    &view.record.state,
                    json!({"fields_changed": changed}),
                    now,
                ),
                now,
            })
            .await?;
        Ok(ApplicationView { record, workflow: view.workflow })
    }

    fn require_with_applicant(&self, actor: &Actor, view: &ApplicationView) -> EngineResult<()> {
        if !actor.is_applicant() {
            return Err(EngineError::Forbidden("only the firm that applies changes its application".into()));
        }
        let owner = view.workflow.state(&view.record.state).and_then(|s| s.owner.as_ref());
        if owner != Some(&Role::APPLICANT) {
            return Err(EngineError::ActionNotOpen {
                action: "change".into(),
                state: view.record.state.clone(),
                open: view.workflow.transitions_from(&view.record.state).map(|t| t.action.clone()).collect(),
            });
        }
        Ok(())
    }

    /// Attach a document. The content is checked by its first bytes against the workflow's
    /// accepted types and size limit, then kept under a name we choose.
    pub async fn upload_document(
        &self,
        actor: &Actor,
        reference: &Reference,
        kind: &str,
        filename: &str,
        bytes: &[u8],
    ) -> EngineResult<DocumentRecord> {
        let view = self.application(actor, reference).await?;
        self.require_with_applicant(actor, &view)?;
        let def = view.workflow.document(kind).ok_or_else(|| {
            let options = view.workflow.documents.iter().map(|d| d.name.clone()).collect();
            EngineError::invalid(vec![FieldError::new("kind", FieldProblem::NotAChoice { options })])
        })?;
        if bytes.is_empty() {
            return Err(EngineError::invalid(vec![FieldError::new("file", FieldProblem::Empty).labelled(&def.label)]));
        }
        if bytes.len() as u64 > def.max_size {
            return Err(EngineError::TooLarge(format!(
                "The {} must be smaller than {} MB",
                def.label.en().to_lowercase(),
                def.max_size as f64 / 1_000_000.0
            )));
        }
        let content_type =
            sniff_content_type(bytes).filter(|t| def.accept.iter().any(|a| a == t)).ok_or_else(|| {
                EngineError::invalid(vec![
                    FieldError::new("file", FieldProblem::FileType { accepted: def.accept.clone() })
                        .labelled(&def.label),
                ])
            })?;
        let storage_key = uuid::Uuid::new_v4().simple().to_string();
        tokio::fs::create_dir_all(&self.uploads_dir).await?;
        let path = self.uploads_dir.join(&storage_key);
        tokio::fs::write(&path, bytes).await?;
        let now = self.now();
        let sha256 = hex::encode(Sha256::digest(bytes));
        let filename = clean_filename(filename);
        let result = self
            .store
            .add_document(
                NewDocument {
                    application_id: view.record.id,
                    kind: kind.to_string(),
                    filename: filename.clone(),
                    content_type: content_type.to_string(),
                    size: bytes.len() as i64,
                    sha256: sha256.clone(),
                    storage_key,
                    uploaded_by: actor.user_id.unwrap_or(UserId::new(0)),
                    now,
                },
                Self::audit_event(
                    actor,
                    "upload_document",
                    &view.record.state,
                    json!({"kind": kind, "filename": filename, "sha256": sha256}),
                    now,
                ),
                view.record.version,
            )
            .await;
        if result.is_err() {
            // The row was not written, so the file must not linger unreferenced.
            let _ = tokio::fs::remove_file(&path).await;
        }
        Ok(result?)
    }

    pub async fn documents(
        &self,
        actor: &Actor,
        reference: &Reference,
    ) -> EngineResult<(ApplicationView, Vec<DocumentRecord>)> {
        let view = self.application(actor, reference).await?;
        let docs = self.store.documents(view.record.id).await?;
        Ok((view, docs))
    }

    /// A document's record and bytes, for someone who may read the application. Every
    /// download is written to the access log before the content is read; a document whose
    /// content the retention rules deleted is [`EngineError::Gone`].
    pub async fn document_content(
        &self,
        actor: &Actor,
        reference: &Reference,
        document_id: i64,
        client: &crate::access::Client,
    ) -> EngineResult<(DocumentRecord, Vec<u8>)> {
        let view = self.application(actor, reference).await?;
        let doc = self.store.document(document_id).await?;
        if doc.application_id != view.record.id {
            return Err(EngineError::NotFound("document".into()));
        }
        if let Some(at) = doc.purged_at {
            return Err(EngineError::Gone { what: doc.filename.clone(), at });
        }
        self.log_download(actor, &view.record, &doc.kind, doc.id, client).await?;
        let bytes = tokio::fs::read(self.uploads_dir.join(&doc.storage_key)).await?;
        Ok((doc, bytes))
    }

    /// Take a transition: read the application inside a write transaction, decide purely,
    /// then write all of it in that same transaction.
    pub async fn transition(
        &self,
        actor: &Actor,
        reference: &Reference,
        request: &TransitionRequest,
    ) -> EngineResult<ApplicationView> {
        let not_found = || EngineError::NotFound("application".into());
        let mut open = self.store.begin_transition(reference).await?.ok_or_else(not_found)?;
        let workflow = self.workflow_of(&open.context().application)?;
        let (calendar_revision, calendar) = self.counting_calendar(&workflow.calendar, &mut *open).await?;
        let context = open.context();
        let decided = transition::decide(TransitionInput {
            workflow: &workflow,
            application: &context.application,
            steps: &context.steps,
            document_kinds: &context.document_kinds,
            calendar,
            actor,
            request,
            now: self.now(),
        })
        .map(|write| TransitionWrite { calendar_revision, ..write });
        // A decision (an outcome) gets its letter as soon as it is written.
        let decides =
            workflow.transition(&context.application.state, &request.action).is_some_and(|t| t.outcome.is_some());
        let write = match actor.may_see(&context.application, &workflow) {
            crate::actor::Reading::Yes => decided?,
            crate::actor::Reading::No => return Err(not_found()),
            crate::actor::Reading::IfActed => {
                // A role that reads this state only where it acted does not work it, so the
                // transition is refused either way; whether as "not found" is asked of the
                // store once the transaction is let go (it must not wait for a second
                // connection while holding one).
                let (id, role) = (context.application.id, actor.role.clone());
                drop(open);
                if !self.store.role_acted(id, &role).await? {
                    return Err(not_found());
                }
                return Err(decided
                    .err()
                    .unwrap_or_else(|| EngineError::Forbidden(format!("the {role} role does not work this stage"))));
            }
        };
        let record = open.commit(write).await.map_err(|e| match e {
            crate::store::StoreError::Conflict { expected } => {
                EngineError::StaleVersion { sent: expected, current: expected + 1 }
            }
            other => other.into(),
        })?;
        if decides && workflow.state(&record.state).is_some_and(|s| s.terminal) {
            self.letter_on_decision(&record.reference).await;
        }
        Ok(ApplicationView { record, workflow })
    }

    /// The audit events of an application, oldest first: the record as staff read it. The
    /// firm reads its timeline instead ([`Engine::timeline`]), which leaves out the
    /// ministry's internal events and its officials.
    pub async fn history(&self, actor: &Actor, reference: &Reference) -> EngineResult<Vec<AuditEvent>> {
        if actor.is_applicant() {
            return Err(EngineError::Forbidden("the firm reads its application's timeline".into()));
        }
        let view = self.application(actor, reference).await?;
        Ok(self.store.history(view.record.id).await?)
    }

    /// The public status check: the same answer for an unknown reference and a wrong passport.
    pub async fn public_status(&self, reference: &Reference, passport: &str) -> EngineResult<PublicStatus> {
        let not_found = || EngineError::NotFound("application".into());
        let record = self.store.application_by_reference(reference).await?.ok_or_else(not_found)?;
        let given: String = passport.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
        let matches = record
            .passport_number
            .as_deref()
            .is_some_and(|p| !given.is_empty() && constant_time_eq(p.as_bytes(), given.as_bytes()));
        let workflow = self.workflow_of(&record)?;
        if !matches || record.state == workflow.initial_state().name {
            return Err(not_found());
        }
        let state = workflow.state(&record.state).ok_or_else(not_found)?;
        Ok(PublicStatus {
            reference: record.reference,
            status: state.public.clone(),
            next_steps: state.next_steps.clone(),
        })
    }

    /// Verify one application (by reference) or all, as `corridor audit verify` does
    /// ([`Engine::verify_records`]): the number of events checked, or the first problem
    /// found.
    pub async fn verify_audit(&self, reference: Option<&str>) -> EngineResult<Result<usize, ChainBreak>> {
        let options = audit::VerifyOptions { reference: reference.map(str::to_string), ..Default::default() };
        let report = self.verify_records(&options).await?;
        Ok(match report.findings.into_iter().next() {
            None => Ok(report.events),
            Some(f) => {
                let (application_id, seq) = match (&f.subject, &f.problem) {
                    (audit::Subject::Application { id, .. }, audit::Problem::ChainBroken { seq, .. }) => (*id, *seq),
                    (audit::Subject::Application { id, .. }, _) => (*id, 0),
                    _ => (crate::model::ApplicationId::new(0), 0),
                };
                Err(ChainBreak { application_id, seq, event_id: None, problem: f.to_string() })
            }
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::clean_filename;

    #[test]
    fn file_names_lose_what_hides_or_reorders_text() {
        assert_eq!(clean_filename("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(clean_filename("a\u{2066}b\u{2069}\u{200E}\u{200F}\u{061C}\u{200B}\u{FEFF}.pdf"), "ab.pdf");
        assert_eq!(clean_filename("x\u{0}y\u{7}\u{1b}\u{85}\u{9f}.png"), "xy.png");
        assert_eq!(clean_filename("C:\\Users\\amal\\passport.pdf"), "passport.pdf");
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("پاسپورٹ.pdf"), "پاسپورٹ.pdf", "Urdu and Arabic letters stay");
        for nothing in ["", "\u{202E}", "..", " . ", "a/"] {
            assert_eq!(clean_filename(nothing), "document", "{nothing:?}");
        }
    }
}

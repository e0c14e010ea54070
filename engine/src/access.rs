//! Need to know, as the engine applies it to every read: which applications an actor may
//! read ([`Engine::may_read`], and the store's filter for lists), how much of an application
//! it is shown ([`Shown`]: sensitive fields masked unless the workflow names the actor's role,
//! no holder for the firm), and the append-only access log of every full view of a sensitive
//! field and every document download.

use serde_json::{Map, Value};

use crate::actor::{Actor, Reading, state_reading};
use crate::error::{EngineError, EngineResult};
use crate::model::{
    AccessKind, AccessQuery, AccessRecord, ApplicationRecord, NewAccess, Readable, Reference, StateScope, UserId,
};
use crate::service::{ApplicationView, Engine};
use crate::workflow::Workflow;

/// Lines of the access log on one page at most.
pub const MAX_ACCESS_PAGE: i64 = 500;

/// `AB*****67`: the first two and last two characters kept (one and one for values of five to
/// seven characters), every other character a star; four characters or fewer, all stars.
pub fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let keep = match chars.len() {
        0..=4 => 0,
        5..=7 => 1,
        _ => 2,
    };
    chars.iter().enumerate().map(|(i, c)| if i < keep || i >= chars.len() - keep { *c } else { '*' }).collect()
}

/// How much of an application a read shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disclosure {
    /// A list or an export: sensitive fields masked for everyone but the firm.
    List,
    /// One application: sensitive fields in full to the firm and to the roles the field's
    /// `visible_to` names (each such view is logged), masked to everyone else.
    Full,
}

/// An application's values as one actor is shown them.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The fields, sensitive ones masked where the actor may not see them in full.
    pub fields: Map<String, Value>,
    /// The names of the masked fields.
    pub masked: Vec<String>,
    /// The passport number as shown (masked or in full), for the decision letter.
    pub passport: Option<String>,
    /// Who holds the case: staff only (never an official's id to the firm).
    pub assigned_to: Option<UserId>,
    /// When the case was escalated to a supervisor: staff only (an internal event).
    pub escalated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Shown {
    pub fn is_masked(&self, field: &str) -> bool {
        self.masked.iter().any(|m| m == field)
    }
}

/// Where a read comes from, for the access log.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The network address the server saw.
    pub address: Option<String>,
}

impl Client {
    pub fn at(address: impl ToString) -> Self {
        Client { address: Some(address.to_string()) }
    }
}

fn line(
    actor: &Actor,
    app: &ApplicationRecord,
    kind: AccessKind,
    item: &str,
    document_id: Option<i64>,
    client: &Client,
    at: chrono::DateTime<chrono::Utc>,
) -> NewAccess {
    NewAccess {
        user_id: actor.user_id,
        actor_name: actor.name.clone(),
        role: actor.role.clone(),
        organisation_id: actor.organisation_id,
        application_id: app.id,
        reference: app.reference.clone(),
        kind,
        item: item.to_string(),
        document_id,
        client: client.address.clone(),
        at,
    }
}

impl Engine {
    /// Whether `actor` may read the application: by its reference (`look_up` counts) or in a
    /// list. A state read "where the role acted" asks the store.
    pub async fn may_read(
        &self,
        actor: &Actor,
        record: &ApplicationRecord,
        workflow: &Workflow,
        by_reference: bool,
    ) -> EngineResult<bool> {
        let reading = if by_reference { actor.may_see(record, workflow) } else { actor.may_list(record, workflow) };
        Ok(match reading {
            Reading::Yes => true,
            Reading::No => false,
            Reading::IfActed => self.store.role_acted(record.id, &actor.role).await?,
        })
    }

    /// What a staff actor may read, as a filter the store applies (lists never hold more).
    pub(crate) fn readable_by(&self, actor: &Actor) -> Readable {
        let mut scopes = Vec::new();
        for wf in self.workflows.all_versions() {
            let mut scope =
                StateScope { workflow_id: wf.id.clone(), workflow_version: wf.version as i64, ..StateScope::default() };
            for state in &wf.states {
                match state_reading(wf, &state.name, &actor.role) {
                    Reading::Yes => scope.states.push(state.name.clone()),
                    Reading::IfActed => scope.states_if_acted.push(state.name.clone()),
                    Reading::No => {}
                }
            }
            if !scope.states.is_empty() || !scope.states_if_acted.is_empty() {
                scopes.push(scope);
            }
        }
        Readable { role: actor.role.clone(), scopes }
    }

    /// The application's values as `actor` is shown them. A full view of a sensitive field
    /// by anyone but the firm is written to the access log first: no log line, no view.
    pub async fn shown(
        &self,
        actor: &Actor,
        view: &ApplicationView,
        disclosure: Disclosure,
        client: &Client,
    ) -> EngineResult<Shown> {
        let record = &view.record;
        let own = actor.owns(record);
        let mut fields = record.fields.as_object().cloned().unwrap_or_default();
        let mut masked = Vec::new();
        let mut logged = Vec::new();
        let now = self.now();
        for def in view.workflow.fields.iter().filter(|f| f.sensitive) {
            let Some(value) = fields.get_mut(&def.name) else { continue };
            if value.is_null() || own {
                continue;
            }
            let in_full = disclosure == Disclosure::Full && sees_in_full(actor, def);
            if in_full {
                logged.push(line(actor, record, AccessKind::Field, &def.name, None, client, now));
            } else {
                let text = match &*value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                *value = Value::String(mask(&text));
                masked.push(def.name.clone());
            }
        }
        self.store.record_access(&logged).await?;
        let passport = view
            .workflow
            .passport_field()
            .and_then(|f| fields.get(&f.name))
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Shown {
            fields,
            masked,
            passport,
            assigned_to: if actor.is_applicant() { None } else { record.assigned_to },
            escalated_at: if actor.is_applicant() { None } else { record.escalated_at },
        })
    }

    /// Lines of the access log, newest first: for administrators only.
    pub async fn access_log(&self, actor: &Actor, mut query: AccessQuery) -> EngineResult<Vec<AccessRecord>> {
        self.require_admin(actor)?;
        query.limit = query.limit.clamp(1, MAX_ACCESS_PAGE);
        Ok(self.store.access_log(&query).await?)
    }

    /// Write one document download to the access log (before its content is sent).
    pub(crate) async fn log_download(
        &self,
        actor: &Actor,
        record: &ApplicationRecord,
        kind: &str,
        document_id: i64,
        client: &Client,
    ) -> EngineResult<()> {
        let l = line(actor, record, AccessKind::Document, kind, Some(document_id), client, self.now());
        Ok(self.store.record_access(&[l]).await?)
    }

    /// An application by reference for the access log page's filter: "not found" when there
    /// is none.
    pub async fn access_log_reference(&self, actor: &Actor, reference: &Reference) -> EngineResult<Reference> {
        self.require_admin(actor)?;
        let record = self
            .store
            .application_by_reference(reference)
            .await?
            .ok_or_else(|| EngineError::NotFound("application".into()))?;
        Ok(record.reference)
    }
}

/// The workflow names the actor's role among those who see `field` in full.
fn sees_in_full(actor: &Actor, field: &crate::workflow::FieldDef) -> bool {
    actor.is_staff() && field.visible_to.contains(&actor.role)
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masking_keeps_the_ends_only() {
        assert_eq!(mask("AB1234567"), "AB*****67");
        assert_eq!(mask("1990-04-12"), "19******12");
        assert_eq!(mask("ABCDEF"), "A****F");
        assert_eq!(mask("ABCD"), "****");
        assert_eq!(mask(""), "");
        assert_eq!(mask("ظظظظظظظظ"), "ظظ****ظظ");
    }
}

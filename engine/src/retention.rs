//! Retention: the content of a document is deleted a configured number of days after its
//! application reached a terminal state (`retention.documents_after_days`). Its record (name,
//! type, size, SHA-256) stays, and the deletion is an audit event ("purge_document") in the
//! application's chain, appended through the store like every other event, so the chain
//! still verifies. A download afterwards answers "gone", saying why.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::actor::Actor;
use crate::error::EngineResult;
use crate::model::{NewAuditEvent, StateScope};
use crate::service::Engine;
use crate::timeline::PURGE_DOCUMENT;

/// Documents purged per store read; a run reads until none is left.
const BATCH: i64 = 200;

/// What one retention run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    pub purged: usize,
    /// Files already missing from the upload folder (the record is marked all the same).
    pub missing_files: usize,
}

impl Engine {
    /// The terminal states of every loaded workflow version.
    fn ended_states(&self) -> Vec<StateScope> {
        self.workflows
            .all_versions()
            .map(|wf| StateScope {
                workflow_id: wf.id.clone(),
                workflow_version: wf.version as i64,
                states: wf.states.iter().filter(|s| s.terminal).map(|s| s.name.clone()).collect(),
                states_if_acted: vec![],
            })
            .filter(|s| !s.states.is_empty())
            .collect()
    }

    /// Delete the contents of the documents of applications that ended `after_days` days
    /// before `now` or earlier. The file goes first, then the record is marked with its audit
    /// event: a run cut short between the two finds the document again and completes it.
    pub async fn purge_documents(&self, after_days: u32, now: DateTime<Utc>) -> EngineResult<PurgeReport> {
        let mut report = PurgeReport::default();
        if after_days == 0 {
            return Ok(report);
        }
        let ended = self.ended_states();
        let cutoff = now - Duration::days(i64::from(after_days));
        let system = Actor::system();
        loop {
            let docs = self.store.documents_to_purge(&ended, cutoff, BATCH).await?;
            if docs.is_empty() {
                return Ok(report);
            }
            for doc in docs {
                let record = self.store.application(doc.application_id).await?;
                match tokio::fs::remove_file(self.uploads_dir.join(&doc.storage_key)).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.missing_files += 1,
                    Err(e) => return Err(e.into()),
                }
                let audit = NewAuditEvent {
                    actor_id: None,
                    actor_name: system.name.clone(),
                    role: system.role.clone(),
                    organisation_id: None,
                    action: PURGE_DOCUMENT.into(),
                    from_state: Some(record.state.clone()),
                    to_state: Some(record.state.clone()),
                    comment: None,
                    reason: None,
                    data: json!({
                        "document_id": doc.id,
                        "kind": doc.kind,
                        "filename": doc.filename,
                        "size": doc.size,
                        "sha256": doc.sha256,
                        "retention_days": after_days,
                    }),
                    at: crate::audit::storable_time(now),
                };
                if self.store.mark_document_purged(doc.id, audit).await? {
                    report.purged += 1;
                    tracing::info!(reference = %record.reference, document = doc.id, "document content purged");
                }
            }
        }
    }
}

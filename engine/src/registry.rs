//! The loaded workflows: every version an application may still be on, and the newest version
//! of each workflow for new applications.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::store::{Store, StoreError};
use crate::workflow::{self, Diagnostic, LintContext, Workflow};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{} problem(s) in workflow files:\n{}", .0.len(), .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    #[error("no workflow files found in {0}")]
    Empty(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

#[derive(Default)]
pub struct WorkflowRegistry {
    versions: BTreeMap<(String, u32), Arc<Workflow>>,
}

impl WorkflowRegistry {
    /// Check the files, record each (id, version, content hash) in the store (a changed file
    /// that kept its version is refused), and load the older versions still in the store.
    pub async fn load(paths: &[PathBuf], ctx: &LintContext, store: &dyn Store) -> Result<Self, RegistryError> {
        let (workflows, problems) = workflow::check_paths(paths, ctx);
        let (errors, warnings): (Vec<_>, Vec<_>) = problems.into_iter().partition(|d| d.is_error());
        for w in &warnings {
            tracing::warn!("{w}");
        }
        if !errors.is_empty() {
            return Err(RegistryError::Invalid(errors));
        }
        if workflows.is_empty() {
            let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            return Err(RegistryError::Empty(shown.join(", ")));
        }
        let now = chrono::Utc::now();
        let mut registry = WorkflowRegistry::default();
        for wf in workflows {
            store.register_workflow(&wf.id, wf.version as i64, &wf.content_hash, &wf.source, now).await?;
            registry.insert(wf);
        }
        for stored in store.stored_workflows().await? {
            let key = (stored.workflow_id.clone(), stored.version as u32);
            if registry.versions.contains_key(&key) {
                continue;
            }
            let origin = PathBuf::from(format!("stored:{}@v{}", stored.workflow_id, stored.version));
            match workflow::parse_workflow(&origin, &stored.source, ctx) {
                Ok(wf) => registry.insert(wf),
                // An old version that no longer passes today's checks (e.g. a template was
                // removed) still serves its applications' reads; it is logged, not fatal.
                Err(problems) => {
                    for p in problems {
                        tracing::warn!(%p, "stored workflow version no longer checks");
                    }
                }
            }
        }
        Ok(registry)
    }

    pub fn insert(&mut self, wf: Workflow) {
        self.versions.insert((wf.id.clone(), wf.version), Arc::new(wf));
    }

    pub fn get(&self, id: &str, version: u32) -> Option<Arc<Workflow>> {
        self.versions.get(&(id.to_string(), version)).cloned()
    }

    /// The version new applications start on.
    pub fn latest(&self, id: &str) -> Option<Arc<Workflow>> {
        self.versions.range((id.to_string(), 0)..=(id.to_string(), u32::MAX)).next_back().map(|(_, wf)| wf.clone())
    }

    /// The newest version of each workflow, by id.
    pub fn all_latest(&self) -> Vec<Arc<Workflow>> {
        let mut out: Vec<Arc<Workflow>> = Vec::new();
        for wf in self.versions.values() {
            match out.last_mut() {
                Some(last) if last.id == wf.id => *last = wf.clone(),
                _ => out.push(wf.clone()),
            }
        }
        out
    }

    pub fn all_versions(&self) -> impl Iterator<Item = &Arc<Workflow>> {
        self.versions.values()
    }
}

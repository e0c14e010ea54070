//! The daily retention run (see [`crate::retention`]). Its time is a row of the `schedules`
//! table (`corridor:retention`, 01:30 UTC every day), taken by compare-and-set like the
//! workflows' schedules, so that of several instances exactly one enqueues each day's run; the
//! run is a `retention` job keyed by its time, so a crash repeats nothing and loses nothing.

use chrono::{DateTime, Utc};

use super::schedules::FirstRun;
use super::{Failure, Outcome, Scheduler, SchedulerError};
use crate::model::jobs::{JobPayload, RetentionJob};
use crate::store::NewJob;

const KEY: &str = "corridor:retention";
const CRON: &str = "30 1 * * *";
const ATTEMPTS: i32 = 5;

impl Scheduler {
    /// Enqueue the day's retention run when its time has come; 1 when this instance took it.
    pub(crate) async fn fire_retention(&self, now: DateTime<Utc>) -> Result<usize, SchedulerError> {
        let days = self.settings.documents_retention_days;
        if days == 0 {
            return Ok(0);
        }
        self.fire_system_schedule(KEY, CRON, FirstRun::Now, now, |fire_at| NewJob {
            dedup_key: format!("retention:{}", crate::audit::canonical_time(fire_at)),
            application_id: None,
            payload: JobPayload::Retention(RetentionJob { documents_after_days: days, fired_at: fire_at }),
            run_at: now,
            max_attempts: ATTEMPTS,
        })
        .await
    }

    pub(super) async fn retention(&self, p: &RetentionJob, now: DateTime<Utc>) -> Result<Outcome, Failure> {
        match self.engine.purge_documents(p.documents_after_days, now).await {
            Ok(report) => {
                tracing::info!(purged = report.purged, missing = report.missing_files, "retention run");
                Ok(Outcome::Done)
            }
            Err(e) => Err(Failure::transient(e.to_string())),
        }
    }
}

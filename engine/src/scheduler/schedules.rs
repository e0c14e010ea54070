//! Cron schedules from the workflow files (e.g. a weekly digest of overdue cases).
//!
//! Each schedule has a row in `schedules` with its next fire time. On every pass, a schedule
//! whose time has come is *taken* by a compare-and-set on that time (`UPDATE ... WHERE
//! next_fire_at = <the time read>`): of several instances, exactly one moves it on. The run
//! itself is a `digest` job keyed by the schedule and the fire time, enqueued before the
//! compare-and-set, so a crash between the two repeats nothing (the key is already there) and
//! loses nothing (the time was not moved). Runs missed while no instance ran are not caught
//! up one by one: the schedule fires once and moves to its next time after now.
//!
//! The audit checkpoint (`[audit] checkpoint_cron`, UTC) is one more schedule of the same
//! kind, keyed [`CHECKPOINT_SCHEDULE`], whose run is a `checkpoint` job.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Failure, Outcome, Scheduler, SchedulerError};
use crate::model::jobs::{CheckpointJob, DigestJob, JobPayload};
use crate::store::{NewJob, ScheduleRow};
use crate::transition::MESSAGE_ATTEMPTS;

/// The first fire time strictly after `after`, for a 5-field cron expression (minute hour
/// day-of-month month day-of-week) in a time zone.
pub fn next_fire(cron_expr: &str, timezone: &str, after: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let tz = Tz::from_str(timezone.trim()).map_err(|_| format!("`{timezone}` is not a time zone"))?;
    let fields: Vec<&str> = cron_expr.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("`{cron_expr}` must have 5 fields"));
    }
    // The cron crate wants seconds first.
    let schedule =
        cron::Schedule::from_str(&format!("0 {}", fields.join(" "))).map_err(|e| format!("`{cron_expr}`: {e}"))?;
    schedule
        .after(&after.with_timezone(&tz))
        .next()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("`{cron_expr}` never fires again"))
}

/// The `schedules` key of the audit checkpoint (no workflow id has a colon).
pub const CHECKPOINT_SCHEDULE: &str = "corridor:audit-checkpoint";

/// Tries of a checkpoint job before it is a dead letter.
const CHECKPOINT_ATTEMPTS: i32 = 5;

/// When a system schedule (not a workflow's) fires for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstRun {
    /// At once, on the first pass after the schedule is turned on.
    Now,
    /// At the cron expression's next time.
    Next,
}

impl Scheduler {
    /// Enqueue the audit checkpoint when its time has come (one instance takes it); 1 when
    /// this instance did.
    pub(crate) async fn fire_checkpoint_schedule(&self, now: DateTime<Utc>) -> Result<usize, SchedulerError> {
        let Some(cron) = self.engine.audit_files().and_then(|f| f.checkpoint_cron.clone()) else {
            return Ok(0);
        };
        self.fire_system_schedule(CHECKPOINT_SCHEDULE, &cron, FirstRun::Next, now, |fire_at| NewJob {
            dedup_key: format!("checkpoint:{}", crate::audit::canonical_time(fire_at)),
            application_id: None,
            payload: JobPayload::Checkpoint(CheckpointJob { fired_at: fire_at }),
            run_at: now,
            max_attempts: CHECKPOINT_ATTEMPTS,
        })
        .await
    }

    /// One of Corridor's own schedules (UTC), kept as a row of the `schedules` table under
    /// `key` and taken by compare-and-set like the workflows' schedules, so that of several
    /// instances exactly one enqueues each run: the job `job(fire_at)` makes, keyed by its
    /// time, so that a crash repeats nothing and loses nothing. A changed `cron` moves the
    /// next run. 1 when this instance enqueued a run.
    pub(crate) async fn fire_system_schedule(
        &self,
        key: &str,
        cron: &str,
        first: FirstRun,
        now: DateTime<Utc>,
        job: impl FnOnce(DateTime<Utc>) -> NewJob,
    ) -> Result<usize, SchedulerError> {
        let store = &self.engine.store;
        let next = match next_fire(cron, "UTC", now) {
            Ok(n) => crate::audit::storable_time(n),
            Err(e) => {
                tracing::warn!(schedule = key, error = %e, "schedule skipped");
                return Ok(0);
            }
        };
        let rows = store.schedules().await?;
        let Some(row) = rows.into_iter().find(|r| r.key == key) else {
            let row = ScheduleRow {
                key: key.into(),
                cron: cron.into(),
                timezone: "UTC".into(),
                next_fire_at: if first == FirstRun::Now { crate::audit::storable_time(now) } else { next },
                last_fired_at: None,
            };
            store.ensure_schedule(&row, now).await?;
            return Ok(0);
        };
        if row.cron != cron {
            let moved = ScheduleRow { cron: cron.into(), next_fire_at: next, ..row.clone() };
            store.advance_schedule(&moved, row.next_fire_at, now).await?;
            return Ok(0);
        }
        if row.next_fire_at > now {
            return Ok(0);
        }
        let fire_at = row.next_fire_at;
        store.enqueue_jobs(vec![job(fire_at)]).await?;
        let advanced = ScheduleRow { next_fire_at: next, last_fired_at: Some(fire_at), ..row };
        Ok(usize::from(store.advance_schedule(&advanced, fire_at, now).await?))
    }

    /// A `checkpoint` job: sign and publish a checkpoint now.
    pub(crate) async fn checkpoint(&self) -> Result<Outcome, Failure> {
        match self.engine.create_checkpoint().await {
            Ok(_) => Ok(Outcome::Done),
            // Another instance took the number first: its checkpoint covers this run.
            Err(crate::error::EngineError::Unprocessable { .. }) => Ok(Outcome::Obsolete("checkpoint taken".into())),
            Err(crate::error::EngineError::Store(e)) => Err(e.into()),
            Err(e) => Err(Failure::permanent(e.to_string())),
        }
    }
    /// Enqueue the runs of the schedules due at `now`; returns how many this instance took.
    pub(crate) async fn fire_schedules(&self, now: DateTime<Utc>) -> Result<usize, SchedulerError> {
        let store = &self.engine.store;
        let defs: Vec<_> = self
            .engine
            .workflows
            .all_latest()
            .into_iter()
            .flat_map(|wf| wf.schedules.iter().map(|s| (wf.id.clone(), s.clone())).collect::<Vec<_>>())
            .collect();
        if defs.is_empty() {
            return Ok(0);
        }
        let rows = store.schedules().await?;
        let mut fired = 0;
        for (workflow_id, def) in defs {
            let key = format!("{workflow_id}/{}", def.name);
            let next = match next_fire(&def.cron, &def.timezone, now) {
                Ok(n) => crate::audit::storable_time(n),
                Err(e) => {
                    // The linter refuses such files; a schedule that cannot be computed is skipped.
                    tracing::warn!(schedule = %key, error = %e, "schedule skipped");
                    continue;
                }
            };
            let Some(row) = rows.iter().find(|r| r.key == key) else {
                let row = ScheduleRow {
                    key,
                    cron: def.cron.clone(),
                    timezone: def.timezone.clone(),
                    next_fire_at: next,
                    last_fired_at: None,
                };
                store.ensure_schedule(&row, now).await?;
                continue;
            };
            if row.cron != def.cron || row.timezone != def.timezone {
                // The workflow file changed the schedule: count from now on the new one.
                let moved = ScheduleRow {
                    cron: def.cron.clone(),
                    timezone: def.timezone.clone(),
                    next_fire_at: next,
                    ..row.clone()
                };
                store.advance_schedule(&moved, row.next_fire_at, now).await?;
                continue;
            }
            if row.next_fire_at > now {
                continue;
            }
            let fire_at = row.next_fire_at;
            store
                .enqueue_jobs(vec![NewJob {
                    dedup_key: format!("digest:{key}:{}", crate::audit::canonical_time(fire_at)),
                    application_id: None,
                    payload: JobPayload::Digest(DigestJob {
                        workflow: workflow_id.clone(),
                        schedule: def.name.clone(),
                        template: def.template.clone(),
                        to: def.to.clone(),
                        fired_at: fire_at,
                    }),
                    run_at: now,
                    max_attempts: MESSAGE_ATTEMPTS,
                }])
                .await?;
            let advanced = ScheduleRow { next_fire_at: next, last_fired_at: Some(fire_at), ..row.clone() };
            if store.advance_schedule(&advanced, fire_at, now).await? {
                tracing::info!(schedule = %key, fire_at = %fire_at, next = %next, "schedule fired");
                fired += 1;
            }
        }
        Ok(fired)
    }
}

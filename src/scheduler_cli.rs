//! `corridor jobs` and `corridor holiday`: the scheduler's queue and the run-time holidays
//! from the command line.

use corridor_engine::role::Role;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Subcommand;
use corridor_engine::actor::Actor;
use corridor_engine::clock::SystemClock;
use corridor_engine::error::EngineError;
use corridor_engine::model::{JobId, JobStatus};

use crate::config::Config;
use crate::startup;

#[derive(Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first, with a count per status.
    List {
        /// pending, running, done, dead (dead letters) or cancelled.
        #[arg(long)]
        status: Option<JobStatus>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put a dead letter back in the queue, due now, its tries counted afresh.
    Retry { id: JobId },
}

#[derive(Subcommand)]
pub enum HolidayCommand {
    /// The holidays of a calendar: from its file, added, and file holidays taken away.
    List {
        #[arg(long)]
        calendar: String,
    },
    /// Make a day a holiday; the deadlines of open applications it touches move.
    Add {
        #[arg(long)]
        calendar: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        date: NaiveDate,
        #[arg(long)]
        name: String,
    },
    /// Make a holiday a working day again; the deadlines it touches move.
    Remove {
        #[arg(long)]
        calendar: String,
        #[arg(long)]
        date: NaiveDate,
    },
}

/// Whoever runs the command line acts as an administrator; the audit records who.
fn operator() -> Actor {
    let who = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    Actor { user_id: None, name: format!("corridor CLI ({who})"), role: Role::ADMIN.into(), organisation_id: None }
}

/// Refusals the user can act on are printed plainly with exit 1, not as a crash.
fn refused(e: EngineError) -> anyhow::Result<ExitCode> {
    match e {
        EngineError::Store(_) | EngineError::Io(_) | EngineError::Internal(_) => Err(e.into()),
        other => {
            eprintln!("error: {other}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub async fn jobs(config: &Config, command: JobsCommand) -> anyhow::Result<ExitCode> {
    let startup::Built { engine, store } = startup::build(config, Arc::new(SystemClock)).await?;
    match command {
        JobsCommand::List { status, limit } => {
            let jobs = match engine.jobs(status, limit).await {
                Ok(j) => j,
                Err(e) => return refused(e),
            };
            let counts = store.job_counts().await.context("counting jobs")?;
            let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
            println!("jobs: {}", if summary.is_empty() { "none".to_string() } else { summary.join(", ") });
            if jobs.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:>8}  {:<10} {:<9} {:>5}  {:<20}  {}",
                "ID", "KIND", "STATUS", "TRIES", "RUN AT (UTC)", "KEY / LAST ERROR"
            );
            for j in jobs {
                println!(
                    "{:>8}  {:<10} {:<9} {:>2}/{:<2}  {:<20}  {}",
                    j.id,
                    j.kind,
                    j.status,
                    j.attempts,
                    j.max_attempts,
                    j.run_at.format("%Y-%m-%d %H:%M:%S"),
                    j.dedup_key
                );
                if let Some(e) = j.last_error.as_deref().filter(|_| j.status != JobStatus::Done) {
                    println!("{:>58}{}", "", e.chars().take(200).collect::<String>());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::Retry { id } => match engine.retry_job(&operator(), id).await {
            Ok(job) => {
                println!("job {} ({}) is pending again, due now", job.id, job.dedup_key);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => refused(e),
        },
    }
}

pub async fn holiday(config: &Config, command: HolidayCommand) -> anyhow::Result<ExitCode> {
    let engine = startup::build_engine(config, Arc::new(SystemClock)).await?;
    let change = match command {
        HolidayCommand::List { calendar } => {
            let list = match engine.holidays(&calendar).await {
                Ok(l) => l,
                Err(e) => return refused(e),
            };
            for h in list {
                let source = match h.source {
                    corridor_engine::holidays::HolidaySource::File => "file",
                    corridor_engine::holidays::HolidaySource::Added => "added",
                    corridor_engine::holidays::HolidaySource::Removed => "removed (working day)",
                };
                let by = h.changed_by.map(|b| format!(" by {b}")).unwrap_or_default();
                println!(
                    "{}  {:<40} {source}{by}{}",
                    h.date,
                    h.name,
                    if h.approximate { " (approximate)" } else { "" }
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        HolidayCommand::Add { calendar, date, name } => engine.add_holiday(&operator(), &calendar, date, &name).await,
        HolidayCommand::Remove { calendar, date } => engine.remove_holiday(&operator(), &calendar, date).await,
    };
    let change = match change {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    let deadlines = change.moved.iter().filter(|m| m.old_deadline != m.new_deadline).count();
    println!(
        "{} is now {} in {} ({}); {} deadline(s) moved, {} application(s) with reminders or escalations re-timed",
        change.date,
        if change.is_holiday { "a holiday" } else { "a working day" },
        change.calendar,
        change.name,
        deadlines,
        change.moved.len()
    );
    for m in change.moved {
        if m.old_deadline == m.new_deadline {
            println!(
                "  {} ({}): deadline {} unchanged, {} timer(s) re-timed",
                m.reference, m.state, m.new_deadline, m.timers_moved
            );
        } else {
            println!(
                "  {} ({}): deadline {} -> {}, {} timer(s) re-timed",
                m.reference, m.state, m.old_deadline, m.new_deadline, m.timers_moved
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

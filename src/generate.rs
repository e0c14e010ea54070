//! `corridor generate`: a large data set for load tests and the queue benchmark. Rows are
//! written with multi-row inserts, bypassing the engine (a million transitions would take
//! hours and measure nothing we want here).
//!
//! What it makes: firms with one applicant user each, and applications of every loaded
//! workflow spread over their states. Open applications get deadlines from ten days ago to
//! twenty days ahead, so a queue has overdue, nearly-due and comfortable cases. Applications
//! get no audit events or documents: the data set is for lists and queues (so `corridor
//! audit verify` reports each as having no audit record). References continue the database's counters,
//! so applications made afterwards through the engine never collide with them.

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use corridor_engine::audit::canonical_time;
use corridor_engine::model::{NewUser, Reference};
use corridor_engine::workflow::Workflow;
use serde_json::{Map, Value};
use sqlx::QueryBuilder;

use crate::bench::{Pool, raw_pool};
use corridor::config::Config;
use corridor::startup;

const FIRST_NAMES: &[&str] = &[
    "Ayesha", "Usman", "Sana", "Hassan", "Zainab", "Omar", "Hira", "Ali", "Maryam", "Imran", "Nadia", "Bilal",
    "Fatima", "Ahmed", "Sara", "Hamza", "Amna", "Faisal", "Rabia", "Tariq",
];
const LAST_NAMES: &[&str] = &[
    "Khan", "Tariq", "Iqbal", "Raza", "Malik", "Farooq", "Siddiqui", "Hamza", "Javed", "Qureshi", "Hussain", "Ahmed",
    "Chaudhry", "Butt", "Sheikh", "Mirza", "Abbasi", "Rehman", "Aslam", "Nawaz",
];

/// How many rows go in one INSERT (SQLite allows 32766 bound values).
const BATCH: usize = 1000;

pub struct Generated {
    pub applications: usize,
    pub firms: usize,
    pub seconds: f64,
}

/// A small deterministic generator: the same seed gives the same data set.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Row {
    reference: String,
    workflow_id: String,
    workflow_version: i64,
    state: String,
    organisation_id: i64,
    created_by: i64,
    fields: String,
    applicant_name: String,
    passport_number: String,
    created_at: String,
    state_entered_at: String,
    deadline_at: Option<String>,
}

pub async fn run(config: &Config, applications: usize, firms: usize, seed: u64) -> anyhow::Result<Generated> {
    let started = Instant::now();
    let startup::Built { engine, store } =
        startup::build(config, std::sync::Arc::new(corridor_engine::clock::SystemClock)).await?;
    let workflows = engine.workflows();
    anyhow::ensure!(!workflows.is_empty(), "no workflows are loaded");
    let firms = firms.max(1);
    let password = corridor_engine::auth::hash_password(&corridor_engine::auth::generate_password())?;
    let mut firm_users = Vec::with_capacity(firms);
    let tag = seed;
    for i in 0..firms {
        let name = format!("Generated Firm {tag}-{i:04}");
        let org = match store.organisation_by_name(&name).await? {
            Some(o) => o,
            None => store.create_organisation(&name, "firm", Some("PK")).await?,
        };
        let email = format!("firm{i:04}.{tag}@generated.corridor");
        let user = match store.user_by_email(&email).await? {
            Some(u) => u,
            None => {
                store
                    .create_user(NewUser {
                        email,
                        name: format!("Applicant desk {i}"),
                        role: corridor_engine::role::Role::APPLICANT,
                        organisation_id: org.id,
                        password_hash: Some(password.clone()),
                        language: "en".into(),
                    })
                    .await?
            }
        };
        firm_users.push((org.id, user.id));
    }

    let now = Utc::now();
    let year = chrono::Datelike::year(&now);
    let mut rng = SplitMix(seed);
    // Open states (with an owner other than the applicant and a deadline) get most cases.
    let plans: Vec<(std::sync::Arc<Workflow>, Vec<(String, bool)>)> = workflows
        .iter()
        .map(|wf| {
            let states = wf
                .states
                .iter()
                .filter(|s| !s.initial)
                .map(|s| (s.name.clone(), s.deadline.is_some() && !s.terminal))
                .collect::<Vec<_>>();
            (wf.clone(), states)
        })
        .collect();

    let pool = raw_pool(&config.database.url).await?;
    let mut counters = Vec::new();
    for (wf, _) in &plans {
        let last = last_reference_number(&pool, &wf.reference_prefix, year).await?;
        counters.push(last);
    }
    let mut made = 0usize;
    while made < applications {
        let n = BATCH.min(applications - made);
        let mut rows = Vec::with_capacity(n);
        for _ in 0..n {
            let w = rng.below(plans.len() as u64) as usize;
            let (wf, states) = &plans[w];
            counters[w] += 1;
            // Four in five cases are open in a review stage; the rest are decided or closed.
            let open: Vec<&(String, bool)> = states.iter().filter(|s| s.1).collect();
            let (state, has_deadline) = if !open.is_empty() && rng.below(5) < 4 {
                open[rng.below(open.len() as u64) as usize].clone()
            } else {
                states[rng.below(states.len() as u64) as usize].clone()
            };
            let (org, user) = firm_users[rng.below(firm_users.len() as u64) as usize];
            let name = format!(
                "{} {}",
                FIRST_NAMES[rng.below(FIRST_NAMES.len() as u64) as usize],
                LAST_NAMES[rng.below(LAST_NAMES.len() as u64) as usize]
            );
            let passport = format!(
                "{}{}{:07}",
                (b'A' + rng.below(26) as u8) as char,
                (b'A' + rng.below(26) as u8) as char,
                rng.below(10_000_000)
            );
            let created = now - Duration::minutes(rng.below(60 * 24 * 60) as i64);
            let entered = created + Duration::minutes(rng.below(60 * 24 * 5) as i64);
            let deadline: Option<DateTime<Utc>> =
                has_deadline.then(|| now + Duration::minutes(rng.below(60 * 24 * 30) as i64) - Duration::days(10));
            rows.push(Row {
                reference: Reference::format(&wf.reference_prefix, year, counters[w]).to_string(),
                workflow_id: wf.id.clone(),
                workflow_version: wf.version as i64,
                state,
                organisation_id: org.get(),
                created_by: user.get(),
                fields: Value::Object(fields(wf, &name, &passport)).to_string(),
                applicant_name: name.to_lowercase(),
                passport_number: passport,
                created_at: canonical_time(created),
                state_entered_at: canonical_time(entered.min(now)),
                deadline_at: deadline.map(canonical_time),
            });
        }
        insert(&pool, &rows).await?;
        made += n;
        if made % 100_000 == 0 || made == applications {
            eprintln!("{made} applications written ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    for ((wf, _), last) in plans.iter().zip(&counters) {
        set_reference_number(&pool, &wf.reference_prefix, year, *last).await?;
    }
    analyze(&pool).await?;
    Ok(Generated { applications: made, firms, seconds: started.elapsed().as_secs_f64() })
}

fn fields(wf: &Workflow, name: &str, passport: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    for f in &wf.fields {
        let value = if f.is_passport {
            passport.to_string()
        } else if f.name.contains("name") && (f.name.contains("full") || f.name.contains("employee")) {
            name.to_string()
        } else {
            f.example.clone()
        };
        fields.insert(f.name.clone(), Value::String(value));
    }
    fields
}

async fn last_reference_number(pool: &Pool, prefix: &str, year: i32) -> anyhow::Result<i64> {
    let q = "SELECT last FROM reference_counters WHERE prefix = $1 AND year = $2";
    let last: Option<i64> = match pool {
        Pool::Sqlite(p) => sqlx::query_scalar(q).bind(prefix).bind(year).fetch_optional(p).await?,
        Pool::Postgres(p) => sqlx::query_scalar(q).bind(prefix).bind(year).fetch_optional(p).await?,
    };
    Ok(last.unwrap_or(0))
}

async fn set_reference_number(pool: &Pool, prefix: &str, year: i32, last: i64) -> anyhow::Result<()> {
    let q = "INSERT INTO reference_counters (prefix, year, last) VALUES ($1, $2, $3) \
             ON CONFLICT (prefix, year) DO UPDATE SET last = EXCLUDED.last";
    match pool {
        Pool::Sqlite(p) => sqlx::query(q).bind(prefix).bind(year).bind(last).execute(p).await?.rows_affected(),
        Pool::Postgres(p) => sqlx::query(q).bind(prefix).bind(year).bind(last).execute(p).await?.rows_affected(),
    };
    Ok(())
}

async fn insert(pool: &Pool, rows: &[Row]) -> anyhow::Result<()> {
    const HEAD: &str = "INSERT INTO applications (reference, workflow_id, workflow_version, state, version, \
         organisation_id, created_by, fields, applicant_name, passport_number, created_at, updated_at, \
         state_entered_at, submitted_at, deadline_at) ";
    macro_rules! push {
        ($db:ty, $p:expr, $ts:literal, $json:literal) => {{
            let mut q = QueryBuilder::<$db>::new(HEAD);
            q.push_values(rows, |mut b, r| {
                b.push_bind(&r.reference)
                    .push_bind(&r.workflow_id)
                    .push_bind(r.workflow_version)
                    .push_bind(&r.state)
                    .push_bind(2_i64)
                    .push_bind(r.organisation_id)
                    .push_bind(r.created_by)
                    .push("CAST(")
                    .push_bind_unseparated(&r.fields)
                    .push_unseparated(concat!(" AS ", $json, ")"))
                    .push_bind(&r.applicant_name)
                    .push_bind(&r.passport_number)
                    .push("CAST(")
                    .push_bind_unseparated(&r.created_at)
                    .push_unseparated(concat!(" AS ", $ts, ")"))
                    .push("CAST(")
                    .push_bind_unseparated(&r.state_entered_at)
                    .push_unseparated(concat!(" AS ", $ts, ")"))
                    .push("CAST(")
                    .push_bind_unseparated(&r.state_entered_at)
                    .push_unseparated(concat!(" AS ", $ts, ")"))
                    .push("CAST(")
                    .push_bind_unseparated(&r.created_at)
                    .push_unseparated(concat!(" AS ", $ts, ")"))
                    .push("CAST(")
                    .push_bind_unseparated(&r.deadline_at)
                    .push_unseparated(concat!(" AS ", $ts, ")"));
            });
            q.build().execute($p).await.context("inserting generated applications")?;
        }};
    }
    match pool {
        Pool::Sqlite(p) => push!(sqlx::Sqlite, p, "TEXT", "TEXT"),
        Pool::Postgres(p) => push!(sqlx::Postgres, p, "TIMESTAMPTZ", "JSONB"),
    }
    Ok(())
}

/// Fresh planner statistics, so that the first queries after a bulk load use the indexes.
async fn analyze(pool: &Pool) -> anyhow::Result<()> {
    match pool {
        Pool::Sqlite(p) => {
            sqlx::query("ANALYZE").execute(p).await?;
        }
        Pool::Postgres(p) => {
            sqlx::query("ANALYZE applications").execute(p).await?;
        }
    }
    Ok(())
}

//! Demo data for `corridor serve --demo`: organisations, one user per role (two ministry
//! reviewers, so that four-eyes can be tried) and applications in every state of each
//! workflow, reached by taking the workflow's own transitions through the engine.

use std::collections::{HashMap, HashSet, VecDeque};

use anyhow::Context;
use corridor_engine::actor::Actor;
use corridor_engine::auth;
use corridor_engine::service::Engine;
use corridor_engine::store::{NewUser, Store, User};
use corridor_engine::transition::TransitionRequest;
use corridor_engine::workflow::{DocumentDef, Need, Target, TransitionDef, Workflow};
use serde_json::{Map, Value};

/// Every demo account has this password; it is printed at start.
pub const DEMO_PASSWORD: &str = "corridor-demo-2026";

/// A minimal valid PDF, accepted as every demo document.
const DEMO_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

struct DemoAccount {
    email: &'static str,
    name: &'static str,
    role: &'static str,
    org: &'static str,
    org_kind: &'static str,
    country: &'static str,
}

const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount {
        email: "firm@demo.corridor",
        name: "Ayesha Khan",
        role: "applicant",
        org: "Indus Software House (Pvt) Ltd",
        org_kind: "firm",
        country: "PK",
    },
    DemoAccount {
        email: "firm2@demo.corridor",
        name: "Bilal Ahmed",
        role: "applicant",
        org: "Karachi Cloud Works",
        org_kind: "firm",
        country: "PK",
    },
    DemoAccount {
        email: "reviewer@demo.corridor",
        name: "Fatima Al-Thani",
        role: "ministry_reviewer",
        org: "Ministry of Commerce and Industry",
        org_kind: "ministry",
        country: "QA",
    },
    DemoAccount {
        email: "reviewer2@demo.corridor",
        name: "Khalid Al-Marri",
        role: "ministry_reviewer",
        org: "Ministry of Commerce and Industry",
        org_kind: "ministry",
        country: "QA",
    },
    DemoAccount {
        email: "supervisor@demo.corridor",
        name: "Noura Al-Kuwari",
        role: "ministry_supervisor",
        org: "Ministry of Commerce and Industry",
        org_kind: "ministry",
        country: "QA",
    },
    DemoAccount {
        email: "security@demo.corridor",
        name: "Hamad Al-Sulaiti",
        role: "security_officer",
        org: "State Security Clearance Office",
        org_kind: "authority",
        country: "QA",
    },
    DemoAccount {
        email: "embassy@demo.corridor",
        name: "Mariam Al-Attiyah",
        role: "embassy_officer",
        org: "Embassy of the State of Qatar, Islamabad",
        org_kind: "embassy",
        country: "PK",
    },
    DemoAccount {
        email: "licensing@demo.corridor",
        name: "Yousef Al-Emadi",
        role: "licensing_officer",
        org: "Commercial Licensing Authority",
        org_kind: "authority",
        country: "QA",
    },
    DemoAccount {
        email: "admin@demo.corridor",
        name: "Corridor Administrator",
        role: "admin",
        org: "Corridor Operations",
        org_kind: "operator",
        country: "QA",
    },
];

/// A 1x1 PNG, for documents that must be images (the photograph).
const DEMO_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x04, 0x00, 0x00, 0x00, 0xB5, 0x1C, 0x0C, 0x02, 0x00, 0x00, 0x00, 0x0B, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xDA, 0x63, 0x64, 0x60, 0x00, 0x00, 0x00, 0x06, 0x00, 0x02, 0x30, 0x81, 0xD0, 0x2F, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// A file that the document checklist entry accepts: a PDF where PDFs are, an image otherwise.
pub fn demo_document(doc: &DocumentDef) -> (String, &'static [u8]) {
    if doc.accept.iter().any(|a| a == "application/pdf") {
        (format!("{}.pdf", doc.name), DEMO_PDF)
    } else {
        (format!("{}.png", doc.name), DEMO_PNG)
    }
}

/// Fill an empty database; print the logins either way.
pub async fn seed(engine: &Engine, store: &dyn Store) -> anyhow::Result<()> {
    if store.organisations().await?.is_empty() {
        create(engine, store).await.context("creating demo data")?;
    } else {
        tracing::info!("database not empty: demo data not added again");
    }
    println!("Demo logins (password for all: {DEMO_PASSWORD}):");
    for a in ACCOUNTS {
        println!("  {:<28} {:<20} {}", a.email, a.role, a.org);
    }
    for user in store.users().await? {
        if !engine.second_factor_required(&user) || !ACCOUNTS.iter().any(|a| a.email == user.email) {
            continue;
        }
        let secret = match store.second_factor(user.id).await? {
            Some(factor) => factor.secret,
            None => {
                let secret = auth::new_totp_secret();
                engine.enrol_with_secret(&user, &secret).await?;
                secret
            }
        };
        let url = auth::otpauth_url(&secret, &user.email).unwrap_or_default();
        println!("Second factor of {} (add it to an authenticator app, or `oathtool --totp -b KEY`):", user.email);
        println!("  key {secret}");
        println!("  {url}");
    }
    Ok(())
}

async fn create(engine: &Engine, store: &dyn Store) -> anyhow::Result<()> {
    let hash = auth::hash_password(DEMO_PASSWORD)?;
    let mut users: HashMap<&str, Vec<User>> = HashMap::new();
    for a in ACCOUNTS {
        let org = match store.organisation_by_name(a.org).await? {
            Some(o) => o,
            None => store.create_organisation(a.org, a.org_kind, Some(a.country)).await?,
        };
        let user = store
            .create_user(NewUser {
                email: a.email.into(),
                name: a.name.into(),
                role: a.role.into(),
                organisation_id: org.id,
                password_hash: Some(hash.clone()),
                language: "en".into(),
            })
            .await?;
        users.entry(a.role).or_default().push(user);
    }
    for workflow in engine.workflows() {
        for (i, state) in workflow.states.iter().enumerate() {
            let firm = &users["applicant"][i % 2];
            let Some(path) = path_to(&workflow, &state.name) else {
                continue;
            };
            walk(engine, &workflow, firm, &users, &path, i)
                .await
                .with_context(|| format!("{}: reaching `{}`", workflow.id, state.name))?;
        }
    }
    Ok(())
}

/// The shortest chain of transitions from the initial state to `target`.
pub fn path_to<'a>(workflow: &'a Workflow, target: &str) -> Option<Vec<&'a TransitionDef>> {
    let start = workflow.initial_state().name.clone();
    let mut came_from: HashMap<String, (String, &'a TransitionDef)> = HashMap::new();
    let mut seen = HashSet::from([start.clone()]);
    let mut queue = VecDeque::from([start.clone()]);
    while let Some(state) = queue.pop_front() {
        if state == target {
            let mut path = Vec::new();
            let mut at = state;
            while let Some((prev, t)) = came_from.get(&at) {
                path.push(*t);
                at = prev.clone();
            }
            path.reverse();
            return Some(path);
        }
        let outgoing: Vec<&'a TransitionDef> = workflow.transitions_from(&state).collect();
        for t in outgoing {
            let Target::State(next) = &t.to else { continue };
            if !seen.insert(next.clone()) {
                continue;
            }
            came_from.insert(next.clone(), (state.clone(), t));
            queue.push_back(next.clone());
        }
    }
    None
}

pub fn example_fields(workflow: &Workflow, variant: usize) -> Map<String, Value> {
    const NAMES: &[&str] = &[
        "Usman Tariq",
        "Sana Iqbal",
        "Hassan Raza",
        "Zainab Malik",
        "Omar Farooq",
        "Hira Siddiqui",
        "Ali Hamza",
        "Maryam Javed",
        "Imran Qureshi",
        "Nadia Hussain",
    ];
    let mut fields = Map::new();
    for f in &workflow.fields {
        let value = if f.name.contains("name")
            && f.field_type == corridor_engine::workflow::FieldType::Text
            && f.pattern.is_none()
            && (f.name.contains("full") || f.name.contains("employee"))
        {
            NAMES[variant % NAMES.len()].to_string()
        } else if f.is_passport {
            format!("AB{:07}", 1_234_560 + variant)
        } else {
            f.example.clone()
        };
        fields.insert(f.name.clone(), Value::String(value));
    }
    fields
}

async fn walk(
    engine: &Engine,
    workflow: &Workflow,
    firm: &User,
    users: &HashMap<&str, Vec<User>>,
    path: &[&TransitionDef],
    variant: usize,
) -> anyhow::Result<()> {
    let firm_actor = Actor::from_user(firm);
    let view = engine.create_application(&firm_actor, &workflow.id, &example_fields(workflow, variant)).await?;
    let reference = view.record.reference.clone();
    for doc in &workflow.documents {
        let (file, bytes) = demo_document(doc);
        engine
            .upload_document(&firm_actor, &reference, &doc.name, &file, bytes)
            .await
            .with_context(|| format!("uploading the demo `{}`", doc.name))?;
    }
    let mut version = engine.application(&firm_actor, &reference).await?.record.version;
    let mut last_four_eyes: Option<corridor_engine::model::UserId> = None;
    for t in path {
        // Transitions the scheduler takes on a deadline (a lapse) are taken here as the
        // system, so that the demo shows those states too.
        let actor = if t.by == "system" {
            Actor::system()
        } else if t.by == "applicant" {
            firm_actor.clone()
        } else {
            let candidates = users.get(t.by.as_str()).with_context(|| format!("no demo user with role {}", t.by))?;
            let user = candidates.iter().find(|u| Some(u.id) != last_four_eyes).unwrap_or(&candidates[0]);
            Actor::from_user(user)
        };
        let request = TransitionRequest {
            // A declared reason where the workflow offers some (required with a reason).
            reason_code: t.reason_codes.first().cloned(),
            action: t.action.clone(),
            expected_version: version,
            comment: (t.comment == Need::Required)
                .then(|| "Please provide a clearer scan of the employment letter.".to_string()),
            reason: (t.reason == Need::Required)
                .then(|| "The documents do not establish the firm's registration.".to_string()),
            // What the official enters with a decision (a visa's validity): the examples.
            fields: (!t.fields.is_empty()).then(|| {
                t.fields.iter().map(|f| (f.name.clone(), serde_json::Value::String(f.example.clone()))).collect()
            }),
        };
        let after = engine.transition(&actor, &reference, &request).await?;
        if t.four_eyes {
            last_four_eyes = actor.user_id;
        }
        version = after.record.version;
    }
    Ok(())
}

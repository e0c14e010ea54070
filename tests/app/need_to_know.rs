//! Need to know (issue 9, point 2), black box over real HTTP, on SQLite and on PostgreSQL: the
//! firm's API history is its page's timeline; a stage is read by the roles the workflow lets
//! read it; sensitive fields are masked in lists and every full view and every download is in
//! the append-only access log, which an administrator reads; a comment reaches the firm only
//! where the workflow says so.

use serde_json::{Value, json};

use crate::support::api::{ApiApp as TestApp, spawn as spawn_app};
use crate::support::{Backend, Http};
use corridor_engine::model::{AccessKind, AccessQuery};
use corridor_engine::store::User;

on_both!(
    the_firms_api_history_is_its_page_timeline,
    a_reviewer_cannot_read_a_case_in_security_clearance,
    lists_mask_passport_numbers_and_a_full_view_is_logged,
    downloads_are_in_the_access_log_and_on_the_admin_page,
    a_comment_reaches_the_firm_only_where_the_workflow_says,
    an_internal_comment_never_goes_out_in_an_email_to_the_firm,
);

struct Person {
    user: User,
    token: String,
}

struct Cast {
    firm: Person,
    reviewer: Person,
    reviewer2: Person,
    reviewer3: Person,
    security: Person,
    embassy: Person,
}

async fn person(app: &TestApp, email: &str, role: &str, org: &str) -> Person {
    let user = app.app.user(email, role, org).await;
    let token = app.token(&user).await;
    Person { user, token }
}

async fn cast(app: &TestApp) -> Cast {
    let ministry = "Ministry of Commerce and Industry";
    Cast {
        firm: person(app, "hr@indus.example", "applicant", "Indus Software House").await,
        reviewer: person(app, "fatima@moci.example", "ministry_reviewer", ministry).await,
        reviewer2: person(app, "omar@moci.example", "ministry_reviewer", ministry).await,
        reviewer3: person(app, "zainab@moci.example", "ministry_reviewer", ministry).await,
        security: person(app, "khalid@security.example", "security_officer", "State Security").await,
        embassy: person(app, "noor@embassy.example", "embassy_officer", "Embassy of Qatar").await,
    }
}

fn ok(step: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{step}: {body}");
    body
}

async fn submitted(app: &TestApp, c: &Cast) -> String {
    let reference = app.complete_draft(&c.firm.token, "it-business-visa").await;
    ok("submit", app.act(&c.firm.token, &reference, "submit", json!({})).await);
    reference
}

/// Verified by one reviewer, approved by the other: now in security clearance.
async fn in_clearance(app: &TestApp, c: &Cast) -> String {
    let reference = submitted(app, c).await;
    ok("verify_firm", app.act(&c.reviewer.token, &reference, "verify_firm", json!({})).await);
    ok("approve", app.act(&c.reviewer2.token, &reference, "approve", json!({})).await);
    reference
}

fn listed(list: &Value, reference: &str) -> bool {
    list["applications"].as_array().expect("applications").iter().any(|a| a["reference"] == reference)
}

async fn access_lines(app: &TestApp, reference: &str) -> Vec<corridor_engine::model::AccessRecord> {
    let query =
        AccessQuery { reference: Some(reference.parse().expect("reference")), limit: 100, ..Default::default() };
    app.store.access_log(&query).await.expect("access log")
}

async fn the_firms_api_history_is_its_page_timeline(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = submitted(&app, &c).await;
    let case: corridor_engine::model::Reference = reference.parse().unwrap();
    let engine = &app.engine;
    let (fatima, omar) = (app.actor(&c.reviewer.user), app.actor(&c.reviewer2.user));

    // Fatima claims it and hands it to Omar with a note.
    let v = engine.application(&fatima, &case).await.unwrap().record.version;
    let claimed = engine.claim(&fatima, &case, v).await.expect("claim");
    engine
        .reassign(&fatima, &case, claimed.record.version, c.reviewer2.user.id, Some("Omar, this firm is yours"))
        .await
        .expect("reassign");
    // The firm is not told who holds it; staff are.
    let (_, mine) = app.get(&c.firm.token, &format!("/api/v1/applications/{reference}")).await;
    assert!(mine.get("assigned_to").is_none(), "no official's id for the firm: {mine}");
    let (_, theirs) = app.get(&c.reviewer2.token, &format!("/api/v1/applications/{reference}")).await;
    assert_eq!(theirs["assigned_to"], json!(c.reviewer2.user.id), "{theirs}");

    ok(
        "request_information",
        app.act(
            &c.reviewer2.token,
            &reference,
            "request_information",
            json!({"comment": "Please send the signed letter."}),
        )
        .await,
    );
    ok("respond", app.act(&c.firm.token, &reference, "respond", json!({"comment": "Signed letter attached."})).await);
    let v = engine.application(&omar, &case).await.unwrap().record.version;
    engine.claim(&omar, &case, v).await.expect("claim again");
    ok(
        "verify_firm",
        app.act(&c.reviewer.token, &reference, "verify_firm", json!({"comment": "SECP record checked by phone"})).await,
    );

    let (status, history) = app.get(&c.firm.token, &format!("/api/v1/applications/{reference}/history")).await;
    assert_eq!(status, 200, "{history}");
    let events = history["events"].as_array().expect("events");
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for internal in ["claim", "release", "reassign", "escalate"] {
        assert!(!actions.contains(&internal), "no internal event `{internal}` for the firm: {actions:?}");
    }
    assert!(actions.contains(&"verify_firm") && actions.contains(&"request_information"), "{actions:?}");
    let text = history.to_string();
    for hidden in ["Omar, this firm is yours", "SECP record checked by phone", "fatima Tester", "omar Tester"] {
        assert!(!text.contains(hidden), "`{hidden}` is not the firm's to read: {text}");
    }
    for e in events {
        for key in ["actor_id", "organisation_id", "data", "hash", "prev_hash", "assigned_to"] {
            assert!(e.get(key).is_none(), "no `{key}` in the firm's history: {e}");
        }
        if e["role"] == "ministry_reviewer" {
            assert_eq!(e["actor"], "Ministry reviewer", "the role, not the official: {e}");
        }
    }
    assert!(text.contains("Please send the signed letter.") && text.contains("Signed letter attached."), "{text}");

    // The firm's page shows exactly these steps, and no more.
    let http: Http = app.signed_in("hr@indus.example").await;
    let page = http.get(&format!("/applications/{reference}")).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body.matches(r#"class="timeline__event""#).count(), events.len(), "page and API agree");
    for hidden in ["Omar, this firm is yours", "SECP record checked by phone", "fatima Tester", "omar Tester"] {
        assert!(!page.body.contains(hidden), "`{hidden}` on the firm's page");
    }

    // Staff still read the whole record, notes and officials included.
    let (_, staff) = app.get(&c.reviewer.token, &format!("/api/v1/applications/{reference}/history")).await;
    let staff = staff.to_string();
    assert!(staff.contains("Omar, this firm is yours") && staff.contains("\"reassign\""), "{staff}");
}

async fn a_reviewer_cannot_read_a_case_in_security_clearance(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = in_clearance(&app, &c).await;
    let url = format!("/api/v1/applications/{reference}");
    let (_, docs) = app.get(&c.security.token, &format!("{url}/documents")).await;
    let doc = docs["documents"][0]["id"].as_i64().expect("a document");

    // Fatima verified it and Omar approved it, but the stage is the security services'.
    let logged = access_lines(&app, &reference).await.len();
    for reviewer in [&c.reviewer, &c.reviewer2] {
        for path in
            [url.clone(), format!("{url}/history"), format!("{url}/documents"), format!("{url}/documents/{doc}")]
        {
            let (status, body) = app.get(&reviewer.token, &path).await;
            assert_eq!(status, 404, "{path}: {body}");
        }
        let (_, list) = app.get(&reviewer.token, "/api/v1/applications").await;
        assert!(!listed(&list, &reference), "not in a reviewer's list");
    }
    let page = app.signed_in("fatima@moci.example").await.get(&format!("/cases/{reference}")).await;
    assert_eq!(page.status, 404);
    assert_eq!(access_lines(&app, &reference).await.len(), logged, "a refused read logs nothing");

    // The security officer reads and lists it; the embassy looks it up but does not list it.
    assert_eq!(app.get(&c.security.token, &url).await.0, 200);
    let (_, list) = app.get(&c.security.token, "/api/v1/applications").await;
    assert!(listed(&list, &reference));
    assert_eq!(app.get(&c.embassy.token, &url).await.0, 200, "look_up: the embassy reads any reference");
    let (_, list) = app.get(&c.embassy.token, "/api/v1/applications").await;
    assert!(!listed(&list, &reference), "a look-up is not a list");

    // A refused case (a terminal state, which lists no readers): read by the roles that acted
    // on it (the role, so the decider's colleagues too), by no other role, in lists as in a
    // single read.
    let refused = submitted(&app, &c).await;
    ok(
        "reject",
        app.act(
            &c.reviewer.token,
            &refused,
            "reject",
            json!({"reason": "Not eligible", "reason_code": "firm_not_verifiable"}),
        )
        .await,
    );
    for reviewer in [&c.reviewer, &c.reviewer3] {
        assert_eq!(app.get(&reviewer.token, &format!("/api/v1/applications/{refused}")).await.0, 200);
        let (_, list) = app.get(&reviewer.token, "/api/v1/applications").await;
        assert!(listed(&list, &refused), "the Ministry's reviewers, whose role decided, list it");
    }
    assert_eq!(app.get(&c.security.token, &format!("/api/v1/applications/{refused}")).await.0, 404);
    let (_, list) = app.get(&c.security.token, "/api/v1/applications").await;
    assert!(!listed(&list, &refused), "a role that never acted on it does not list it");
    assert!(listed(&list, &reference), "while its own stage's case is listed");
}

fn is_masked(value: &Value, full: &str) -> bool {
    let v = value.as_str().unwrap_or("");
    let chars: Vec<char> = full.chars().collect();
    v.chars().count() == chars.len()
        && v != full
        && v.starts_with(&chars[..2].iter().collect::<String>())
        && v.ends_with(&chars[chars.len() - 2..].iter().collect::<String>())
        && v.chars().skip(2).take(chars.len() - 4).all(|c| c == '*')
}

async fn lists_mask_passport_numbers_and_a_full_view_is_logged(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let first = in_clearance(&app, &c).await;
    let second = in_clearance(&app, &c).await;
    let examples = app.example_fields(&c.firm.token, "it-business-visa").await;
    let passport = examples["passport_number"].as_str().unwrap().to_string();
    let birth = examples["date_of_birth"].as_str().unwrap().to_string();

    // The security officer's list: every passport number masked, e.g. AB*****67.
    let (_, list) = app.get(&c.security.token, "/api/v1/applications?state=security_clearance").await;
    let items = list["applications"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    for a in items {
        assert!(is_masked(&a["fields"]["passport_number"], &passport), "{}", a["fields"]);
        assert!(is_masked(&a["fields"]["date_of_birth"], &birth), "{}", a["fields"]);
        assert!(a["masked"].as_array().unwrap().iter().any(|m| m == "passport_number"));
    }
    assert!(!list.to_string().contains(&passport), "no full passport number in a list");
    let queue = app.signed_in("khalid@security.example").await.get("/queue").await;
    assert!(queue.body.contains(&format!("{}*****{}", &passport[..2], &passport[7..])), "{}", queue.body);
    assert!(!queue.body.contains(&passport), "nor in the queue page");
    let by_security = |lines: Vec<corridor_engine::model::AccessRecord>| {
        lines.into_iter().filter(|l| l.user_id == Some(c.security.user.id)).collect::<Vec<_>>()
    };
    assert!(by_security(access_lines(&app, &first).await).is_empty(), "a list is no full view");

    // One case in full, for a role the field names: shown, and logged with who and where.
    let (_, one) = app.get(&c.security.token, &format!("/api/v1/applications/{first}")).await;
    assert_eq!(one["fields"]["passport_number"], passport.as_str(), "{one}");
    assert_eq!(one["fields"]["date_of_birth"], birth.as_str());
    let lines = by_security(access_lines(&app, &first).await);
    let mut fields: Vec<&str> = lines.iter().map(|l| l.item.as_str()).collect();
    fields.sort();
    assert_eq!(fields, ["date_of_birth", "passport_number"], "{lines:?}");
    for l in &lines {
        assert_eq!(
            (l.kind, l.user_id, l.role.as_str()),
            (AccessKind::Field, Some(c.security.user.id), "security_officer")
        );
        assert_eq!(l.client.as_deref(), Some("127.0.0.1"));
    }
    assert!(by_security(access_lines(&app, &second).await).is_empty(), "only the case viewed");

    // A reviewer sees the passport number in full (the field names the role), not the date
    // of birth; the firm sees its own in full, unlogged.
    let third = submitted(&app, &c).await;
    let (_, seen) = app.get(&c.reviewer.token, &format!("/api/v1/applications/{third}")).await;
    assert_eq!(seen["fields"]["passport_number"], passport.as_str());
    assert!(is_masked(&seen["fields"]["date_of_birth"], &birth), "{}", seen["fields"]);
    let items: Vec<String> = access_lines(&app, &third).await.iter().map(|l| l.item.clone()).collect();
    assert_eq!(items, ["passport_number"]);
    let (_, own) = app.get(&c.firm.token, "/api/v1/applications").await;
    assert!(own.to_string().contains(&passport), "the firm's own list is in full");
    let (_, own) = app.get(&c.firm.token, &format!("/api/v1/applications/{third}")).await;
    assert_eq!(own["fields"]["date_of_birth"], birth.as_str());
    assert_eq!(access_lines(&app, &third).await.len(), 1, "the firm's reads of its own data are not logged");

    // The case page shows the same, to the same rule.
    let page = app.signed_in("fatima@moci.example").await.get(&format!("/cases/{third}")).await;
    assert!(page.body.contains(&passport) && !page.body.contains(&birth), "reviewer's case page");
    assert_eq!(access_lines(&app, &third).await.len(), 2, "the page's full view is logged too");
}

async fn downloads_are_in_the_access_log_and_on_the_admin_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    app.app.user("root@ops.example", "admin", "Corridor Operations").await;
    let reference = in_clearance(&app, &c).await;
    let (_, docs) = app.get(&c.security.token, &format!("/api/v1/applications/{reference}/documents")).await;
    let doc = &docs["documents"][0];
    let (id, kind) = (doc["id"].as_i64().unwrap(), doc["kind"].as_str().unwrap().to_string());

    let r = app
        .http
        .get(app.url(&format!("/api/v1/applications/{reference}/documents/{id}")))
        .bearer_auth(&c.security.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let firm = app.signed_in("hr@indus.example").await;
    assert_eq!(firm.get(&format!("/applications/{reference}/documents/{id}")).await.status, 200);

    let lines: Vec<_> =
        access_lines(&app, &reference).await.into_iter().filter(|l| l.kind == AccessKind::Document).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].user_id, Some(c.firm.user.id), "newest first");
    assert_eq!(lines[1].user_id, Some(c.security.user.id));
    assert!(lines.iter().all(|l| l.item == kind && l.document_id == Some(id) && l.client.is_some()));

    // The administrator's page lists them, for all applications or one.
    let admin = app.signed_in("root@ops.example").await;
    for path in ["/admin/access".to_string(), format!("/admin/access?reference={reference}")] {
        let page = admin.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page.body.contains(&reference) && page.body.contains("khalid Tester"), "{path}: {}", page.body);
        assert!(page.body.contains(&kind) && page.body.contains("127.0.0.1"));
    }
    let nothing = admin.get("/admin/access?reference=QA-BV-2026-999999-X").await;
    assert_eq!(nothing.status, 404);
    // Nobody else reads it.
    assert_eq!(app.signed_in("khalid@security.example").await.get("/admin/access").await.status, 404);
    // The same over the API, for an administrator's token.
    let root = app.store.user_by_email("root@ops.example").await.unwrap().unwrap();
    let root = app.token(&root).await;
    let (status, api) = app.get(&root, &format!("/api/v1/admin/access-log?reference={reference}")).await;
    assert_eq!(status, 200, "{api}");
    let kinds: Vec<&str> = api["lines"].as_array().unwrap().iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "document").count(), 2, "{api}");
    assert_eq!(app.get(&c.security.token, "/api/v1/admin/access-log").await.0, 403);
    // And for the operator, from the command line: a header and the two downloads, newest first.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_corridor"))
        .arg("--config")
        .arg(&app.config_path)
        .args(["audit", "access-log", "--reference", reference.as_str()])
        .current_dir(crate::support::root())
        .output()
        .expect("run corridor");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let documents: Vec<&str> = stdout.lines().filter(|l| l.split('\t').nth(4) == Some("document")).collect();
    assert_eq!(documents.len(), 2, "{stdout}");
    assert!(documents.iter().all(|l| l.contains(reference.as_str()) && l.contains(&kind)), "{stdout}");
    assert!(documents[0].contains("Tester") && stdout.starts_with("id\tat\twho"), "{stdout}");

    // Append-only, whoever writes to the database.
    let before = access_lines(&app, &reference).await.len();
    let url = &app.config.database.url;
    let sql = "UPDATE access_log SET client = 'elsewhere'";
    let refused = if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.is_err()
            && sqlx::query("DELETE FROM access_log").execute(&pool).await.is_err()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.is_err()
            && sqlx::query("DELETE FROM access_log").execute(&pool).await.is_err()
    };
    assert!(refused, "the access log refuses changes and deletions");
    let after = access_lines(&app, &reference).await;
    assert_eq!(after.len(), before, "every line is still there");
    assert!(after.iter().all(|l| l.client.as_deref() != Some("elsewhere")));
}

async fn a_comment_reaches_the_firm_only_where_the_workflow_says(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = submitted(&app, &c).await;
    let say = |token: &str, action: &str, comment: &str| {
        let (token, action, comment) = (token.to_string(), action.to_string(), comment.to_string());
        let reference = reference.clone();
        let app = &app;
        async move { ok(&action, app.act(&token, &reference, &action, json!({"comment": comment})).await) }
    };
    say(&c.reviewer2.token, "request_information", "A: which host company?").await;
    say(&c.firm.token, "respond", "B: Doha Digital Services").await;
    say(&c.reviewer.token, "verify_firm", "C: internal, SECP checked").await;
    say(&c.reviewer2.token, "approve", "D: internal, fine by me").await;
    say(&c.security.token, "clear", "E: internal, no record").await;
    let terms = json!({"valid_from": "2026-09-15", "valid_until": "2026-10-14", "entries": "single",
        "permitted_stay_days": "30"});
    ok(
        "issue_visa",
        app.act(
            &c.embassy.token,
            &reference,
            "issue_visa",
            json!({"comment": "F: single entry, 30 days", "fields": terms}),
        )
        .await,
    );

    let (_, history) = app.get(&c.firm.token, &format!("/api/v1/applications/{reference}/history")).await;
    let comments: Vec<&str> =
        history["events"].as_array().unwrap().iter().filter_map(|e| e["comment"].as_str()).collect();
    assert_eq!(
        comments,
        ["A: which host company?", "B: Doha Digital Services", "F: single entry, 30 days"],
        "a request, the firm's own answer and the decision; no internal note"
    );
    let page = app.signed_in("hr@indus.example").await.get(&format!("/applications/{reference}")).await;
    assert!(page.body.contains("A: which host company?") && page.body.contains("F: single entry, 30 days"));
    for internal in ["C: internal", "D: internal", "E: internal"] {
        assert!(!page.body.contains(internal), "{internal} on the firm's page");
    }
    // Staff read every comment.
    let (_, staff) = app.get(&c.embassy.token, &format!("/api/v1/applications/{reference}/history")).await;
    let staff = staff.to_string();
    assert!(["C: internal", "D: internal", "E: internal"].iter().all(|n| staff.contains(n)), "{staff}");

    // The e-mails to the firm carry the comments it may read: the request and the decision.
    let jobs = app.store.jobs(None, 1000).await.unwrap();
    let email_comment = |action: &str| {
        jobs.iter()
            .filter(|j| j.kind.as_str() == "email" && j.payload["action"] == action)
            .map(|j| j.payload["comment"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(email_comment("request_information"), [json!("A: which host company?")]);
    assert_eq!(email_comment("issue_visa"), [json!("F: single entry, 30 days")]);
    // The workflow says which: the API publishes it with each transition.
    let (_, wf) = app.get(&c.firm.token, "/api/v1/workflows/it-business-visa").await;
    let reaches = |action: &str| {
        wf["transitions"].as_array().unwrap().iter().find(|t| t["action"] == action).unwrap()["comment_to_applicant"]
            .clone()
    };
    assert_eq!(
        (reaches("clear"), reaches("verify_firm"), reaches("issue_visa")),
        (json!(false), json!(false), json!(true))
    );
}

async fn an_internal_comment_never_goes_out_in_an_email_to_the_firm(backend: Backend) {
    use crate::support::{TestEnv, act, submitted, user};
    use std::sync::Arc;

    // The shipped workflow, with the firm also written to when a reviewer verifies it.
    let mut env = TestEnv::new(backend).await;
    let workflows = env.dir.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    let shipped = std::fs::read_to_string(crate::support::root().join("workflows/it-business-visa.yaml")).unwrap();
    let notify = "notify:\n  - {on: action verify_firm, email: applicant, template: application_received}\n  - {on: action verify_firm, email: ministry_supervisor, template: application_received}\n";
    std::fs::write(workflows.join("it-business-visa.yaml"), shipped.replacen("notify:\n", notify, 1)).unwrap();
    env.config.paths.workflows = workflows;
    let (engine, store) = env.start(Arc::new(corridor_engine::clock::ManualClock::new())).await;

    let firm = user(&*store, "hr@indus.example", "HR", "applicant", "Indus", "en").await;
    let reviewer = user(&*store, "fatima@moci.example", "Fatima", "ministry_reviewer", "MOCI", "en").await;
    let firm = corridor_engine::actor::Actor::from_user(&firm);
    let reference = submitted(&engine, &firm, 0).await;
    act(
        &engine,
        &corridor_engine::actor::Actor::from_user(&reviewer),
        &reference,
        "verify_firm",
        Some("internal: SECP ok"),
    )
    .await;

    let emails: Vec<_> = store
        .jobs(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind.as_str() == "email" && j.payload["action"] == "verify_firm")
        .collect();
    assert_eq!(emails.len(), 2, "{emails:?}");
    for e in &emails {
        let to_firm = e.payload["to"]["kind"] == "applicant";
        let comment = e.payload["comment"].as_str();
        if to_firm {
            assert_eq!(comment, None, "the firm's e-mail carries no internal note: {}", e.payload);
        } else {
            assert_eq!(comment, Some("internal: SECP ok"), "staff read it: {}", e.payload);
        }
    }
}

//! The JSON API, black box: the acceptance points of issue 2, on SQLite and on PostgreSQL.

use crate::support::api::{ApiApp as TestApp, cast, ok, spawn as spawn_app};
use crate::support::{Backend, pdf};
use serde_json::{Value, json};

on_both!(
    full_journey_to_visa_issued_with_audit_verification,
    concurrent_transitions_with_same_version_yield_one_success,
    bad_input_gets_clear_errors_and_changes_nothing,
    firm_never_sees_another_firms_application,
    public_status_shows_label_only_and_same_answer_for_wrong_passport,
    four_eyes_bars_the_approval_in_actions_and_says_why,
    field_errors_carry_a_code_and_params,
);

async fn full_journey_to_visa_issued_with_audit_verification(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = app.complete_draft(&c.firm, "it-business-visa").await;

    let submitted = ok("submit", app.act(&c.firm, &reference, "submit", json!({})).await);
    assert_eq!(submitted["state"], "ministry_review");
    assert!(submitted["deadline"].is_string(), "a review stage has a deadline: {submitted}");

    let asked = ok(
        "request_information",
        app.act(
            &c.reviewer,
            &reference,
            "request_information",
            json!({"comment": "Please send a signed employment letter."}),
        )
        .await,
    );
    assert_eq!(asked["state"], "more_information");

    // The firm answers with a corrected field; everything else stays as given.
    let answered = ok(
        "respond",
        app.act(
            &c.firm,
            &reference,
            "respond",
            json!({"comment": "Signed letter attached.", "fields": {"job_title": "Lead engineer"}}),
        )
        .await,
    );
    assert_eq!(answered["state"], "ministry_review", "the answer returns to the stage that asked");
    assert_eq!(answered["fields"]["job_title"], "Lead engineer");
    assert_eq!(answered["fields"]["passport_number"], "AB1234567");

    ok("verify_firm", app.act(&c.reviewer, &reference, "verify_firm", json!({})).await);
    // Four-eyes: the reviewer who verified may not also approve.
    let (status, body) = app.act(&c.reviewer, &reference, "approve", json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "four_eyes");
    ok("approve", app.act(&c.reviewer2, &reference, "approve", json!({})).await);
    ok("clear", app.act(&c.security, &reference, "clear", json!({})).await);
    let issued = ok(
        "issue_visa",
        app.act(
            &c.embassy,
            &reference,
            "issue_visa",
            json!({"comment": "Single entry, 30 days.", "fields": {"valid_from": "2026-09-15",
                "valid_until": "2026-10-14", "entries": "single", "permitted_stay_days": "30"}}),
        )
        .await,
    );
    assert_eq!(issued["state"], "visa_issued");
    assert_eq!(issued["public_status"], "Visa issued");

    let (_, history) = app.get(&c.embassy, &format!("/api/v1/applications/{reference}/history")).await;
    let actions: Vec<&str> =
        history["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    let transitions: Vec<&str> =
        actions.iter().copied().filter(|a| !["create", "upload_document", "update_fields"].contains(a)).collect();
    assert_eq!(
        transitions,
        ["submit", "request_information", "respond", "verify_firm", "approve", "clear", "issue_visa", "letter_issued"]
    );
    assert_eq!(actions.first(), Some(&"create"));
    let first = &history["events"][0];
    assert_eq!(first["prev_hash"], "0".repeat(64));

    let out = app.cli(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact"));

    // Tamper: rewrite one event's comment directly in the database.
    let reviewer_event =
        history["events"].as_array().unwrap().iter().find(|e| e["action"] == "request_information").unwrap();
    let seq = reviewer_event["seq"].as_i64().unwrap();
    tamper(&app, seq).await;
    let out = app.cli(&["audit", "verify", "--reference", &reference]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&reference) && stdout.contains(&format!("event {seq}")), "{stdout}");
}

async fn tamper(app: &TestApp, seq: i64) {
    let url = &app.config.database.url;
    let sql = format!("UPDATE audit_events SET comment = 'nothing to see' WHERE seq = {seq}");
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&pool).await.unwrap();
    }
}

async fn concurrent_transitions_with_same_version_yield_one_success(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = app.complete_draft(&c.firm, "it-business-visa").await;
    ok("submit", app.act(&c.firm, &reference, "submit", json!({})).await);
    let version = app.version(&c.reviewer, &reference).await;
    let before = app.history_len(&c.reviewer, &reference).await;

    let mut tasks = Vec::new();
    for i in 0..20 {
        let http = app.http.clone();
        let url = app.url(&format!("/api/v1/applications/{reference}/transitions"));
        let token = c.reviewer.clone();
        let comment = format!("Question {i}");
        tasks.push(tokio::spawn(async move {
            let body = json!({"action": "request_information", "expected_version": version, "comment": comment});
            http.post(url).bearer_auth(token).json(&body).send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 19, "{statuses:?}");
    assert_eq!(app.history_len(&c.reviewer, &reference).await, before + 1);
    assert_eq!(app.version(&c.reviewer, &reference).await, version + 1);
}

async fn bad_input_gets_clear_errors_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = app.complete_draft(&c.firm, "it-business-visa").await;
    let transitions = app.url(&format!("/api/v1/applications/{reference}/transitions"));
    let version = app.version(&c.firm, &reference).await;
    let events = app.history_len(&c.firm, &reference).await;

    // Malformed JSON.
    let r = app
        .http
        .post(&transitions)
        .bearer_auth(&c.firm)
        .header("content-type", "application/json")
        .body("{\"action\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(body["error"]["message"].as_str().unwrap().contains("line 1"), "{body}");

    // Unknown workflow.
    let (status, body) =
        app.post(&c.firm, "/api/v1/applications", json!({"workflow": "tourist-visa", "fields": {}})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "workflow");

    // A field failing its pattern, and another of the wrong kind: each is named.
    let (status, body) = app
        .post(&c.firm, "/api/v1/applications", json!({"workflow": "it-business-visa", "fields": {"passport_number": "12345", "contact_email": "not-an-address"}}))
        .await;
    assert_eq!(status, 422, "{body}");
    let named: Vec<&str> =
        body["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert!(named.contains(&"passport_number") && named.contains(&"contact_email"), "{body}");

    // A 50 MB upload.
    let (status, body) =
        app.upload(&c.firm, &reference, "employment_letter", "big.pdf", vec![b'%'; 50 * 1024 * 1024]).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "too_large");

    // An executable renamed .pdf.
    let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
    elf.extend_from_slice(&[0u8; 256]);
    let (status, body) = app.upload(&c.firm, &reference, "employment_letter", "letter.pdf", elf).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "file");

    // An action from the wrong state (approve on a draft).
    // A reviewer does not see a firm's draft at all, so acting on it is "not found".
    let (status, body) = app
        .post(
            &c.reviewer,
            &format!("/api/v1/applications/{reference}/transitions"),
            json!({"action": "approve", "expected_version": version}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app.act(&c.firm, &reference, "issue_visa", json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "action_not_open");

    // The wrong role.
    ok("submit", app.act(&c.firm, &reference, "submit", json!({})).await);
    let version_submitted = app.version(&c.firm, &reference).await;
    let events_submitted = app.history_len(&c.firm, &reference).await;
    let (status, body) = app.act(&c.embassy, &reference, "verify_firm", json!({})).await;
    assert_eq!(status, 403, "{body}");

    // A stale version.
    let (status, body) = app
        .post(
            &c.reviewer,
            &format!("/api/v1/applications/{reference}/transitions"),
            json!({"action": "verify_firm", "expected_version": version_submitted - 1}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "stale_version");

    // A guard: a required comment left out.
    let (status, body) = app.act(&c.reviewer, &reference, "request_information", json!({})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "comment");

    // Nothing changed by any refused request.
    assert_eq!(version + 1, version_submitted, "only the submit moved the draft");
    assert_eq!(events + 1, events_submitted);
    assert_eq!(app.version(&c.firm, &reference).await, version_submitted);
    assert_eq!(app.history_len(&c.firm, &reference).await, events_submitted);
    let (_, docs) = app.get(&c.firm, &format!("/api/v1/applications/{reference}/documents")).await;
    assert!(docs["documents"].as_array().unwrap().iter().all(|d| d["content_type"] != "application/octet-stream"));
}

async fn firm_never_sees_another_firms_application(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let other = app.user("ops@rival.example", "applicant", "Rival Technologies").await;
    let reference = app.complete_draft(&c.firm, "it-business-visa").await;
    ok("submit", app.act(&c.firm, &reference, "submit", json!({})).await);

    let (status, body) = app.get(&other, &format!("/api/v1/applications/{reference}")).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app.get(&other, &format!("/api/v1/applications/{reference}/history")).await;
    assert_eq!(status, 404);
    let (status, _) = app.upload(&other, &reference, "employment_letter", "x.pdf", pdf()).await;
    assert_eq!(status, 404);
    let version = app.version(&c.firm, &reference).await;
    let (status, _) = app
        .post(
            &other,
            &format!("/api/v1/applications/{reference}/transitions"),
            json!({"action": "withdraw", "expected_version": version}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.version(&c.firm, &reference).await, version, "the other firm's attempt changed nothing");
    let (_, list) = app.get(&other, "/api/v1/applications").await;
    assert_eq!(list["applications"].as_array().unwrap().len(), 0);
    let (_, list) = app.get(&c.firm, "/api/v1/applications").await;
    assert_eq!(list["applications"].as_array().unwrap().len(), 1);
    // Staff see it once submitted.
    let (status, _) = app.get(&c.embassy, &format!("/api/v1/applications/{reference}")).await;
    assert_eq!(status, 200);
}

async fn public_status_shows_label_only_and_same_answer_for_wrong_passport(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = app.complete_draft(&c.firm, "it-business-visa").await;
    ok("submit", app.act(&c.firm, &reference, "submit", json!({})).await);

    let r = app
        .http
        .post(app.url(&format!("/api/v1/status/{reference}")))
        .json(&json!({"passport": "ab1234567"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "Under review by the Ministry");
    assert!(body.get("fields").is_none() && body.get("state").is_none(), "{body}");
    // Both in the body, to `/api/v1/status`.
    let r = app
        .http
        .post(app.url("/api/v1/status"))
        .json(&json!({"reference": reference.to_string(), "passport": "AB1234567"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "Under review by the Ministry");
    // The old query-string form is gone and looks nothing up.
    let old = app.http.get(app.url(&format!("/api/v1/status/{reference}?passport=AB1234567"))).send().await.unwrap();
    assert_eq!(old.status().as_u16(), 410);
    let old: Value = old.json().await.unwrap();
    assert!(old["error"]["message"].as_str().unwrap().contains("POST"), "{old}");
    assert!(old.get("status").is_none(), "{old}");

    let post = |path: String, passport: &str| app.http.post(app.url(&path)).json(&json!({"passport": passport})).send();
    let wrong_passport = post(format!("/api/v1/status/{reference}"), "ZZ9999999").await.unwrap();
    let wrong_status = wrong_passport.status().as_u16();
    let wrong_body = wrong_passport.text().await.unwrap();
    let no_such = post("/api/v1/status/QA-BV-2026-999999-X".into(), "AB1234567").await.unwrap();
    assert_eq!(wrong_status, 404);
    assert_eq!(no_such.status().as_u16(), 404);
    assert_eq!(wrong_body, no_such.text().await.unwrap(), "no way to tell a wrong passport from a wrong reference");
}

fn actions_named(body: &Value, list: &str) -> Vec<String> {
    body[list]
        .as_array()
        .unwrap_or_else(|| panic!("no `{list}` in {body}"))
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect()
}

async fn four_eyes_bars_the_approval_in_actions_and_says_why(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = app.complete_draft(&c.firm, "it-business-visa").await;
    let url = format!("/api/v1/applications/{reference}");
    let (_, draft) = app.get(&c.firm, &url).await;
    assert!(actions_named(&draft, "actions").contains(&"submit".to_string()), "{draft}");
    ok("submit", app.act(&c.firm, &reference, "submit", json!({})).await);
    ok("verify_firm", app.act(&c.reviewer, &reference, "verify_firm", json!({})).await);

    // Reviewer 1 verified: the approval is not hers to take, and the answer says why.
    let (status, mine) = app.get(&c.reviewer, &url).await;
    assert_eq!(status, 200, "{mine}");
    assert!(!actions_named(&mine, "actions").contains(&"approve".to_string()), "{mine}");
    assert_eq!(actions_named(&mine, "blocked"), ["approve"], "{mine}");
    let blocked = &mine["blocked"][0];
    assert_eq!(blocked["reason"]["code"], "four_eyes", "{mine}");
    assert_eq!(blocked["reason"]["rule"], "previous_approval", "{mine}");
    assert!(blocked["message"].as_str().unwrap().contains("previous approval"), "{mine}");
    assert!(blocked["label"].is_string());
    // Her other actions at this stage are still offered.
    assert!(actions_named(&mine, "actions").contains(&"reject".to_string()), "{mine}");

    // Reviewer 2 may approve.
    let (_, theirs) = app.get(&c.reviewer2, &url).await;
    assert!(actions_named(&theirs, "actions").contains(&"approve".to_string()), "{theirs}");
    assert!(theirs["blocked"].as_array().unwrap().is_empty(), "{theirs}");

    // Taking the barred one anyway is still refused, and changes nothing.
    let version = app.version(&c.reviewer, &reference).await;
    let (status, body) = app.act(&c.reviewer, &reference, "approve", json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "four_eyes");
    assert_eq!(app.version(&c.reviewer, &reference).await, version);
    ok("approve", app.act(&c.reviewer2, &reference, "approve", json!({})).await);
}

async fn field_errors_carry_a_code_and_params(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let (status, body) = app
        .post(
            &c.firm,
            "/api/v1/applications",
            json!({"workflow": "it-business-visa", "fields": {"passport_number": "12345", "duration_of_stay": "500", "nickname": "x"}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let details = body["error"]["details"].as_array().unwrap();
    let by_field = |f: &str| details.iter().find(|d| d["field"] == f).unwrap_or_else(|| panic!("{f} in {body}"));
    let passport = by_field("passport_number");
    assert_eq!(passport["code"], "pattern");
    assert!(passport["params"]["message"].is_string(), "{body}");
    assert!(passport["message"].as_str().unwrap().contains("correct format"), "{body}");
    let stay = by_field("duration_of_stay");
    assert_eq!(stay["code"], "above_maximum");
    assert_eq!(stay["params"]["max"], 90.0);
    assert!(stay["message"].as_str().unwrap().contains("90 or less"), "{body}");
    assert_eq!(by_field("nickname")["code"], "unknown_field");

    // A draft not yet complete: submitting is barred, naming what is missing.
    let (status, body) = app.post(&c.firm, "/api/v1/applications", json!({"workflow": "it-business-visa"})).await;
    assert_eq!(status, 201, "{body}");
    assert!(!actions_named(&body, "actions").contains(&"submit".to_string()), "{body}");
    let submit = body["blocked"].as_array().unwrap().iter().find(|b| b["action"] == "submit").expect("submit barred");
    assert_eq!(submit["reason"]["code"], "missing");
    assert!(submit["reason"]["fields"].as_array().unwrap().iter().any(|f| f == "passport_number"), "{body}");
    assert!(submit["reason"]["documents"].as_array().unwrap().iter().any(|d| d == "passport_bio_page"), "{body}");
    let reference = body["reference"].as_str().unwrap().to_string();
    let (status, body) = app.act(&c.firm, &reference, "submit", json!({})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["details"].as_array().unwrap().iter().all(|d| d["code"] == "required"), "{body}");
}

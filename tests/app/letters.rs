//! Decision letters (issue 10, point 6): the signed, bilingual PDF a decision gives, its
//! public check by verification code, its offline check with the public key, and the
//! validity the embassy officer enters when issuing. Run on SQLite and PostgreSQL.

use corridor_engine::lang::Lang;
use std::process::Command;

use corridor_engine::model::Reference;
use serde_json::{Value, json};

use crate::support::api::{ApiApp as TestApp, Cast, cast, ok, spawn as spawn_app};
use crate::support::{Backend, Http};

on_both!(
    an_issued_visa_gives_a_signed_bilingual_pdf_that_verifies,
    a_refusal_letter_states_the_reason_and_what_to_do_next,
    no_letter_before_a_decision_and_nothing_is_written,
    an_invalid_validity_is_refused_with_field_errors_and_changes_nothing,
);

/// A submitted business-visa application waiting for the embassy's decision.
async fn at_the_embassy(app: &TestApp, c: &Cast) -> String {
    let reference = app.complete_draft(&c.firm, "it-business-visa").await;
    ok("submit", app.act(&c.firm, &reference, "submit", json!({})).await);
    ok("verify_firm", app.act(&c.reviewer, &reference, "verify_firm", json!({})).await);
    ok("approve", app.act(&c.reviewer2, &reference, "approve", json!({})).await);
    ok("clear", app.act(&c.security, &reference, "clear", json!({})).await);
    reference
}

fn terms() -> Value {
    json!({
        "valid_from": "2026-09-15",
        "valid_until": "2026-12-14",
        "entries": "multiple",
        "permitted_stay_days": "30",
        "conditions": "Business meetings with the host organisation only.",
    })
}

/// The letter's bytes through the API.
async fn letter(app: &TestApp, token: &str, reference: &str) -> (u16, String, Vec<u8>) {
    let r = app
        .http
        .get(app.url(&format!("/api/v1/applications/{reference}/letter")))
        .bearer_auth(token)
        .send()
        .await
        .expect("letter request");
    let status = r.status().as_u16();
    let kind = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, kind, r.bytes().await.expect("body").to_vec())
}

fn pdftotext(path: &std::path::Path) -> String {
    let out = Command::new("pdftotext").args(["-enc", "UTF-8"]).arg(path).arg("-").output().expect("pdftotext");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    // pdftotext wraps right-to-left runs in embedding marks (U+202B ... U+202C) and breaks
    // long lines: the words, in reading order, with single spaces.
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let text: String =
        text.chars().filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')).collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn stored_letter(app: &TestApp, reference: &str) -> Option<corridor_engine::model::LetterRecord> {
    let reference: Reference = reference.parse().expect("reference");
    let record = app.store.application_by_reference(&reference).await.expect("read").expect("application");
    app.store.letter(record.id).await.expect("letter read")
}

async fn an_issued_visa_gives_a_signed_bilingual_pdf_that_verifies(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = at_the_embassy(&app, &c).await;
    let issued = ok(
        "issue_visa",
        app.act(&c.embassy, &reference, "issue_visa", json!({"comment": "Welcome.", "fields": terms()})).await,
    );
    assert_eq!(issued["state"], "visa_issued");

    // The firm downloads a PDF.
    let (status, kind, pdf) = letter(&app, &c.firm, &reference).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pdf));
    assert_eq!(kind, "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let record = stored_letter(&app, &reference).await.expect("the letter was kept at the decision");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("letter.pdf");
    std::fs::write(&file, &pdf).expect("write");

    // Its text: names, dates, number, code, and the Arabic in reading order.
    let text = pdftotext(&file);
    let code = record.code.parse::<corridor_engine::letter::VerificationCode>().expect("stored code").grouped();
    for expected in [
        "Ayesha Khan",
        "AB1234567",
        "15 September 2026",
        "14 December 2026",
        record.number.as_str(),
        code.as_str(),
        "Multiple entries",
        "30 days",
        "Business meetings with the host organisation only.",
        "Doha Digital Services W.L.L.",
        "Indus Software House",
        "Consular and Visa Officer",
        "Embassy of the State of Qatar, Islamabad",
        "سفارة دولة قطر",
        "إشعار بالموافقة",
        "رقم جواز السفر",
        "سفرات متعددة",
    ] {
        assert!(text.contains(expected), "the letter's text holds {expected:?}:\n{text}");
    }
    assert!(record.number.starts_with("QE-ISB/") && record.number.ends_with(&reference), "{}", record.number);

    // A page renders (kept for a person to look at).
    let png = dir.path().join("page");
    let out = Command::new("pdftoppm").args(["-png", "-r", "90", "-f", "1", "-l", "1"]).arg(&file).arg(&png).output();
    let out = out.expect("pdftoppm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rendered = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(".png"))
        .expect("a PNG page");
    assert!(std::fs::metadata(rendered.path()).expect("png").len() > 10_000);
    let artifacts = crate::support::artifacts_dir();
    let _ = std::fs::copy(rendered.path(), artifacts.join(format!("letter-{backend:?}.png")));
    let _ = std::fs::copy(&file, artifacts.join(format!("letter-{backend:?}.pdf")));

    // The same record gives the same bytes, and the audit event holds their SHA-256.
    let (_, _, again) = letter(&app, &c.embassy, &reference).await;
    assert_eq!(again, pdf, "the same letter, byte for byte");
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&pdf).iter().map(|b| format!("{b:02x}")).collect()
    };
    assert_eq!(record.sha256, sha);
    let (_, history) = app.get(&c.embassy, &format!("/api/v1/applications/{reference}/history")).await;
    let issued: Vec<&Value> =
        history["events"].as_array().expect("events").iter().filter(|e| e["action"] == "letter_issued").collect();
    assert_eq!(issued.len(), 1, "one letter_issued event: {history}");
    assert_eq!(issued[0]["data"]["sha256"], sha.as_str());
    assert_eq!(issued[0]["data"]["letter_number"], record.number.as_str());
    let audit = app.cli(&["audit", "verify", "--reference", &reference]);
    assert!(
        audit.status.success(),
        "{}{}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
    );

    // The public page: genuine and valid, the name masked; a made-up code is not found; a
    // malformed one is not a code.
    let public = Http::new(&app.base);
    let page = public.get(&format!("/verify/{code}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("This letter is genuine") && page.body.contains("Valid: the decision stands"));
    assert!(page.body.contains("A***** K***") && !page.body.contains("Ayesha") && !page.body.contains("AB1234567"));
    assert!(page.body.contains(&record.number.replace('/', "&#x2F;")), "{}", page.body);
    let made_up = corridor_engine::letter::VerificationCode::random().grouped();
    let unknown = public.get(&format!("/verify/{made_up}")).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("No letter with this code was issued here"));
    let malformed = public.get("/verify/not-a-code").await;
    assert_eq!(malformed.status, 400);
    assert!(malformed.body.contains("This is not a verification code"));
    let arabic = public
        .client
        .get(app.url(&format!("/verify/{code}")))
        .header("accept-language", "ar-QA,ar;q=0.9")
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    assert!(arabic.contains(r#"<html lang="ar" dir="rtl""#) && arabic.contains("هذا الخطاب صحيح"), "{arabic}");

    // Offline: the published key accepts the file and refuses a copy with one byte changed.
    let key = app.http.get(app.url("/.well-known/corridor-letter-key")).send().await.expect("key");
    assert_eq!(key.status().as_u16(), 200);
    let key = key.text().await.expect("key text").trim().to_string();
    assert!(key.starts_with("ed25519:"), "{key}");
    let file_arg = file.to_str().expect("path");
    let verified = app.cli(&["letter", "verify", file_arg, "--public-key", &key]);
    let said = String::from_utf8_lossy(&verified.stdout).to_string() + &String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "{said}");
    assert!(said.contains("genuine letter") && said.contains(&record.number), "{said}");
    let mut changed = pdf.clone();
    // The letter number in the document's title (its metadata text), else a byte mid-file.
    let at = changed.windows(6).position(|w| w == b"QE-ISB").unwrap_or(changed.len() / 2);
    changed[at] ^= 0x01;
    let forged = dir.path().join("forged.pdf");
    std::fs::write(&forged, &changed).expect("write");
    let refused = app.cli(&["letter", "verify", forged.to_str().expect("path"), "--public-key", &key]);
    let said = String::from_utf8_lossy(&refused.stderr).to_string();
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(said.contains("not a genuine letter"), "{said}");
    // Without a key on the command line, the configured one is used.
    assert!(app.cli(&["letter", "verify", file_arg]).status.success());
}

async fn a_refusal_letter_states_the_reason_and_what_to_do_next(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = at_the_embassy(&app, &c).await;
    let reason = "The invitation letter could not be verified with the host.";
    let visa = app.engine.workflow("it-business-visa").expect("loaded");
    let refuse = visa.transition("embassy_decision", "refuse_visa").expect("declared");
    let code = refuse.reason_codes.first().expect("a declared reason").clone();
    let wording = visa.reason(&code).expect("declared").label.clone();
    let next_steps = refuse.next_steps.clone().expect("the refusal says what comes next");
    ok(
        "refuse_visa",
        app.act(&c.embassy, &reference, "refuse_visa", json!({"reason": reason, "reason_code": code})).await,
    );
    let (status, _, pdf) = letter(&app, &c.firm, &reference).await;
    assert_eq!(status, 200);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("refusal.pdf");
    std::fs::write(&file, &pdf).expect("write");
    let text = pdftotext(&file);
    // pdftotext breaks long sentences into lines: compare words in order, not lines.
    let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = words(&text);
    for expected in [
        "Notice of refusal",
        "Reason for refusal",
        reason,
        wording.get(Lang::En),
        "What you may do next",
        "إشعار بالرفض",
        "سبب الرفض",
        wording.get(Lang::Ar),
        "الخطوات التالية",
    ] {
        assert!(flat.contains(&words(expected)), "the refusal holds {expected:?}:\n{text}");
    }
    // The refusing transition's own next steps, its first words at least (a line may break
    // inside a longer sentence).
    let opening: String = next_steps.get(Lang::En).split_whitespace().take(4).collect::<Vec<_>>().join(" ");
    assert!(flat.contains(&opening), "the next steps {opening:?}:\n{text}");
    assert!(!text.contains("Valid from"), "a refusal grants no validity");
    let record = stored_letter(&app, &reference).await.expect("kept");
    let code = record.code.parse::<corridor_engine::letter::VerificationCode>().expect("code").grouped();
    let page = Http::new(&app.base).get(&format!("/verify/{code}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("A refusal: the letter is genuine and grants nothing"), "{}", page.body);
}

async fn no_letter_before_a_decision_and_nothing_is_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = at_the_embassy(&app, &c).await;
    let events = app.history_len(&c.embassy, &reference).await;
    let (status, kind, body) = letter(&app, &c.embassy, &reference).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert!(kind.starts_with("application/json"));
    let body: Value = serde_json::from_slice(&body).expect("json error");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(letter(&app, &c.firm, &reference).await.0, 404);
    assert_eq!(app.history_len(&c.embassy, &reference).await, events, "nothing written");
    assert!(stored_letter(&app, &reference).await.is_none());
    let out = app.app.dir.path().join("none.pdf");
    let printed = app.cli(&["letter", "print", &reference, "-o", out.to_str().expect("path")]);
    assert_eq!(printed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&printed.stderr).contains("no decision"), "{printed:?}");
    assert!(!out.exists());
    // Once decided, the operator prints the same letter the firm gets.
    ok("issue_visa", app.act(&c.embassy, &reference, "issue_visa", json!({"fields": terms()})).await);
    let printed = app.cli(&["letter", "print", &reference, "-o", out.to_str().expect("path")]);
    assert!(printed.status.success(), "{printed:?}");
    assert_eq!(std::fs::read(&out).expect("printed"), letter(&app, &c.firm, &reference).await.2);
}

async fn an_invalid_validity_is_refused_with_field_errors_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let reference = at_the_embassy(&app, &c).await;
    let version = app.version(&c.embassy, &reference).await;
    let events = app.history_len(&c.embassy, &reference).await;
    let problems = |body: &Value| -> Vec<(String, String)> {
        body["error"]["details"]
            .as_array()
            .expect("details")
            .iter()
            .map(|d| (d["field"].as_str().unwrap_or("").to_string(), d["code"].as_str().unwrap_or("").to_string()))
            .collect()
    };

    let mut backwards = terms();
    backwards["valid_until"] = json!("2026-09-01");
    let (status, body) = app.act(&c.embassy, &reference, "issue_visa", json!({"fields": backwards})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(problems(&body), [("valid_until".to_string(), "not_after".to_string())], "{body}");
    assert!(body["error"]["details"][0]["message"].as_str().unwrap_or("").contains("after"), "{body}");

    let mut bad = terms();
    bad["valid_from"] = json!("2026-02-30");
    bad["permitted_stay_days"] = json!("120");
    bad["entries"] = json!("unlimited");
    let (status, body) = app.act(&c.embassy, &reference, "issue_visa", json!({"fields": bad})).await;
    assert_eq!(status, 422, "{body}");
    let found = problems(&body);
    for expected in [("valid_from", "type"), ("permitted_stay_days", "above_maximum"), ("entries", "not_a_choice")] {
        assert!(found.contains(&(expected.0.to_string(), expected.1.to_string())), "{expected:?} in {found:?}");
    }

    let (status, body) = app.act(&c.embassy, &reference, "issue_visa", json!({})).await;
    assert_eq!(status, 422, "{body}");
    let found = problems(&body);
    for field in ["valid_from", "valid_until", "entries", "permitted_stay_days"] {
        assert!(found.contains(&(field.to_string(), "required".to_string())), "{field} in {found:?}");
    }
    assert!(!found.iter().any(|(f, _)| f == "conditions"), "conditions are optional");

    let (_, now) = app.get(&c.embassy, &format!("/api/v1/applications/{reference}")).await;
    assert_eq!(now["state"], "embassy_decision");
    assert_eq!(now["version"], version);
    assert_eq!(app.history_len(&c.embassy, &reference).await, events);
    assert!(stored_letter(&app, &reference).await.is_none());
}

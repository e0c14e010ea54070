//! Workflow content in the visitor's language: the firm's form and its errors in Arabic and
//! Urdu with no English left in, a refusal's reason code from the case page's request to the
//! firm's timeline and the API, and the admin diagram's state labels.

use corridor_engine::lang::Lang;
use serde_json::json;

use crate::support::{self, Backend};

/// The text of the element whose opening tag holds `marker`, tags stripped.
fn element_text(html: &str, marker: &str) -> String {
    let start = html.find(marker).unwrap_or_else(|| panic!("{marker} in page"));
    let open_end = start + html[start..].find('>').expect("tag end") + 1;
    let close = open_end + html[open_end..].find("</p>").expect("element end");
    let mut out = String::new();
    let mut in_tag = false;
    for c in html[open_end..close].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

async fn form_in(lang: Lang) {
    let app = support::spawn(Backend::Sqlite).await;
    let email = format!("form-{}@firm.example", lang.code());
    app.user(&email, "applicant", "Indus Software House").await;
    let http = app.signed_in(&email).await;
    let switched =
        http.post_form("/applications", "/language", &[("lang", lang.code()), ("next", "/applications")]).await;
    assert_eq!(switched.status, 303);
    let made = http.post_form("/applications/new", "/applications/new", &[("workflow", "it-business-visa")]).await;
    assert_eq!(made.status, 303, "{}", made.body);
    let details = format!("{}/details", made.location().expect("location"));
    let form = http.get(&details).await;
    assert!(form.body.contains(&format!(r#"<html lang="{}" dir="rtl""#, lang.code())));

    let wf = app.engine.workflow("it-business-visa").expect("workflow");
    let escaped = |s: &str| s.replace('&', "&amp;").replace('\'', "&#39;").replace('"', "&quot;");
    for f in &wf.fields {
        assert!(form.body.contains(&escaped(f.label.get(lang))), "label of {} in {lang}", f.name);
        assert_ne!(f.label.get(lang), f.label.en(), "{} is translated", f.name);
        assert!(!form.body.contains(&format!(">{}<", escaped(f.label.en()))), "no English label of {}", f.name);
        if let Some(hint) = &f.hint {
            assert!(form.body.contains(&escaped(hint.get(lang))), "hint of {} in {lang}", f.name);
            assert!(!form.body.contains(&escaped(hint.en())), "no English hint of {}", f.name);
        }
        for o in &f.options {
            assert!(form.body.contains(&escaped(o.label.get(lang))), "option {} in {lang}", o.value);
            assert!(!form.body.contains(&format!(">{}<", escaped(o.label.en()))), "no English option {}", o.value);
        }
    }
    // The nationality list names the countries in the page's language (CLDR's names).
    let pakistan = corridor_engine::countries::name_in("PK", lang).expect("named");
    assert!(form.body.contains(&format!(r#"value="PK">{pakistan}<"#)), "Pakistan in {lang}");
    assert!(!form.body.contains(">Pakistan<") && !form.body.contains(">United Arab Emirates<"), "no English country");

    // A bad passport number: the message is the language's own, label and rule alike.
    let version = support::input_value(&form.body, "version").expect("version");
    let bad = http
        .post_form(&details, &details, &[("version", &version), ("passport_number", "12345"), ("intent", "continue")])
        .await;
    assert_eq!(bad.status, 422);
    let message = element_text(&bad.body, r#"id="f-passport_number-error""#);
    let passport = wf.field("passport_number").expect("passport field");
    let rule = passport.pattern_message.as_ref().expect("pattern message");
    assert!(message.contains(rule.get(lang)), "{message:?} holds the {lang} rule");
    let mid = passport.label.get(lang);
    assert!(message.contains(mid), "{message:?} holds the {lang} label");
    let latin: Vec<&str> = message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.chars().any(|c| c.is_ascii_alphabetic()) && *w != passport.example)
        .collect();
    assert!(latin.is_empty(), "no Latin-script word but the example in {message:?}: {latin:?}");
}

#[tokio::test]
async fn the_business_visa_form_and_its_errors_are_all_arabic() {
    form_in(Lang::Ar).await;
}

#[tokio::test]
async fn the_business_visa_form_and_its_errors_are_all_urdu() {
    form_in(Lang::Ur).await;
}

#[tokio::test]
async fn a_refusal_carries_its_reason_code_to_the_firm_in_the_firms_language() {
    let app = support::api::spawn(Backend::Sqlite).await;
    let firm = app.user("hr@indus.example", "applicant", "Indus Software House").await;
    let reviewer = app.user("omar@moci.example", "ministry_reviewer", "Ministry").await;
    let reference = app.complete_draft(&firm, "it-business-visa").await;
    let (status, body) = app.act(&firm, &reference, "submit", json!({})).await;
    assert_eq!(status, 200, "{body}");

    // A made-up code is a field error and changes nothing.
    let before = app.history_len(&reviewer, &reference).await;
    let version = app.version(&reviewer, &reference).await;
    let (status, body) =
        app.act(&reviewer, &reference, "reject", json!({"reason": "Not registered.", "reason_code": "bribery"})).await;
    assert_eq!(status, 422, "{body}");
    let details = body["error"]["details"].as_array().expect("details");
    assert!(details.iter().any(|d| d["field"] == "reason_code" && d["code"] == "not_a_choice"), "{body}");
    assert_eq!(app.version(&reviewer, &reference).await, version);
    assert_eq!(app.history_len(&reviewer, &reference).await, before);
    // With a reason but no code: the code is required.
    let (status, body) = app.act(&reviewer, &reference, "reject", json!({"reason": "Not registered."})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["details"].as_array().unwrap().iter().any(|d| d["field"] == "reason_code"), "{body}");

    // Through the case page's form: the code's wording is offered in the page's language.
    let officer = app.signed_in("omar@moci.example").await;
    let case_url = format!("/cases/{reference}");
    officer.post_form(&case_url, "/language", &[("lang", "ar"), ("next", &case_url)]).await;
    let case = officer.get(&case_url).await;
    let wf = app.engine.workflow("it-business-visa").expect("workflow");
    let code = wf.reason("firm_not_verifiable").expect("declared reason");
    assert!(case.body.contains(r#"name="reason_code-reject""#), "a reason code choice");
    assert!(case.body.contains(code.label.get(Lang::Ar)), "its Arabic wording");
    let v = support::input_value(&case.body, "version").expect("version");
    let refused = officer
        .post_form(
            &case_url,
            &format!("{case_url}/act"),
            &[
                ("version", &v),
                ("action", "reject"),
                ("reason-reject", "The firm is not on the SECP register."),
                ("reason_code-reject", "firm_not_verifiable"),
            ],
        )
        .await;
    assert_eq!(refused.status, 303, "{}", refused.body);
    let case = officer.get(&case_url).await;
    assert!(case.body.contains(code.label.get(Lang::Ar)), "the staff timeline names it");

    // The API returns the code: in the audit event's data for staff, in the firm's timeline.
    let (_, history) = app.get(&reviewer, &format!("/api/v1/applications/{reference}/history")).await;
    let refusal = history["events"].as_array().unwrap().iter().rfind(|e| e["action"] == "reject").cloned().unwrap();
    assert_eq!(refusal["data"]["reason_code"], "firm_not_verifiable", "{refusal}");
    let r = app
        .http
        .get(app.url(&format!("/api/v1/applications/{reference}/history")))
        .bearer_auth(&firm)
        .header("accept-language", "ur")
        .send()
        .await
        .unwrap();
    let firm_history: serde_json::Value = r.json().await.unwrap();
    let last = firm_history["events"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["reason_code"], "firm_not_verifiable", "{last}");
    assert_eq!(last["reason_label"], code.label.get(Lang::Ur), "{last}");

    // The firm reads it in Urdu on its application page, beside the free text.
    let http = app.signed_in("hr@indus.example").await;
    let page_url = format!("/applications/{reference}");
    http.post_form(&page_url, "/language", &[("lang", "ur"), ("next", &page_url)]).await;
    let page = http.get(&page_url).await;
    assert!(page.body.contains(code.label.get(Lang::Ur)), "the firm's timeline names the reason in Urdu");
    assert!(!page.body.contains(code.label.en()), "not in English");
    assert!(page.body.contains("The firm is not on the SECP register."), "beside the free text");
}

#[tokio::test]
async fn the_admin_diagram_in_arabic_carries_the_arabic_state_labels() {
    let app = support::spawn(Backend::Sqlite).await;
    app.user("admin@corridor.example", "admin", "Corridor").await;
    let http = app.signed_in("admin@corridor.example").await;
    let wf = app.engine.workflow("it-business-visa").expect("workflow");
    let url = format!("/admin/workflows/{}/{}", wf.id, wf.version);
    http.post_form(&url, "/language", &[("lang", "ar"), ("next", &url)]).await;
    let page = http.get(&url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let start = page.body.find("<svg").expect("an inline svg");
    let svg = &page.body[start..start + page.body[start..].find("</svg>").expect("svg end")];
    for s in &wf.states {
        let first_word = s.label.get(Lang::Ar).split_whitespace().next().expect("a word");
        assert!(svg.contains(first_word), "state {} in Arabic: {first_word}", s.name);
    }
    assert!(svg.contains(r#"lang="ar" direction="rtl" unicode-bidi="embed""#), "the labels run right to left");
}

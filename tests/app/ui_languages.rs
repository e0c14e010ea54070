//! Pages in Arabic and Urdu as their readers expect them: dates with CLDR's month names (ICU4X,
//! through `corridor_engine::locale`), and Latin fragments (references, passport numbers,
//! names typed in English) isolated inside right-to-left pages, where the page's headings and
//! values still line up on the right. The browser part runs headless Chromium with axe-core
//! (it fails, never skips, without `chromium`, `chromedriver` and `npm ci` in `tests/browser`).

use chrono::TimeZone;

use crate::support::{self, Backend, Browser, PASSWORD};

const WORKFLOW: &str = "it-business-visa";

/// Monday 7 December 2026, 10:00 in Doha (UTC+3 all year).
fn monday_morning() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc.with_ymd_and_hms(2026, 12, 7, 7, 0, 0).unwrap()
}

#[tokio::test]
async fn an_arabic_page_writes_its_dates_in_arabic_and_an_urdu_page_in_urdu() {
    let app = support::spawn(Backend::Sqlite).await;
    app.clock.set(monday_morning());
    let firm = app.user("ayesha@indus.example", "applicant", "Indus Software House").await;
    let reference = app.complete_draft(&firm, WORKFLOW).await;
    support::act(&app.engine, &app.actor(&firm), &reference, "submit", None).await;
    let page = format!("/applications/{reference}");
    let http = app.signed_in("ayesha@indus.example").await;

    http.post_form(&page, "/language", &[("lang", "ar"), ("next", &page)]).await;
    let arabic = http.get(&page).await;
    assert_eq!(arabic.status, 200);
    // The submission in the timeline: its day, its time of day and Doha's zone, all in Arabic.
    assert!(arabic.body.contains("7 ديسمبر 2026 في 10:00 (توقيت قطر)"), "{}", arabic.body);
    // The date of birth in the summary, 12 April 1990.
    assert!(arabic.body.contains("12 أبريل 1990"), "date of birth in Arabic");
    assert!(!arabic.body.contains("December") && !arabic.body.contains("April"), "no English month on the page");

    http.post_form(&page, "/language", &[("lang", "ur"), ("next", &page)]).await;
    let urdu = http.get(&page).await;
    assert!(urdu.body.contains("7 دسمبر، 2026"), "Urdu month name");
    assert!(urdu.body.contains("12 اپریل، 1990"), "date of birth in Urdu");

    http.post_form(&page, "/language", &[("lang", "en"), ("next", &page)]).await;
    let english = http.get(&page).await;
    assert!(english.body.contains("7 December 2026 at 10:00 (Qatar Time)"), "{}", english.body);
}

async fn sign_in(b: &mut Browser, email: &str) {
    b.goto("/login").await;
    b.fill("#email", email).await;
    b.fill("#password", PASSWORD).await;
    b.submit("#sign-in").await;
}

async fn to_arabic(b: &Browser) {
    b.submit("button[name=lang][value=ar]").await;
    assert_eq!(b.lang_dir().await, ("ar".to_string(), "rtl".to_string()));
}

/// The `dir` an element has (its attribute, or "" when it inherits the page's).
async fn dir_of(b: &Browser, css: &str) -> String {
    b.find(css).await.attr("dir").await.expect("dir attribute").unwrap_or_default()
}

/// How far (in CSS pixels) the end of `inner` (or of `outer`'s text, for "") sits from the
/// right edge of `outer`, with `outer`'s computed direction: a fragment lined up with a
/// right-to-left page is at 0.
async fn gap_to_the_right(b: &Browser, outer: &str, inner: &str) -> (f64, String) {
    let v = b
        .client
        .execute(
            "const o = document.querySelector(arguments[0]);
             const r = document.createRange();
             r.selectNodeContents(arguments[1] ? o.querySelector(arguments[1]) : o);
             return [o.getBoundingClientRect().right - r.getBoundingClientRect().right, getComputedStyle(o).direction];",
            vec![outer.into(), inner.into()],
        )
        .await
        .expect("measure");
    (v[0].as_f64().expect("a width"), v[1].as_str().unwrap_or("").to_string())
}

#[tokio::test]
async fn latin_names_and_numbers_stay_left_to_right_and_in_place_on_arabic_pages() {
    let app = support::spawn(Backend::Sqlite).await;
    let firm = app.user("ayesha@indus.example", "applicant", "Indus Software House").await;
    app.user("fatima@moci.example", "ministry_reviewer", "Ministry of Commerce and Industry").await;
    let submitted = app.complete_draft(&firm, WORKFLOW).await;
    support::act(&app.engine, &app.actor(&firm), &submitted, "submit", None).await;
    let draft = app.complete_draft(&firm, WORKFLOW).await;
    let mut b = support::browser(&app.base, "ui-languages").await;

    // ---- the firm's form, in Arabic ----
    sign_in(&mut b, "ayesha@indus.example").await;
    b.goto(&format!("/applications/{draft}/details")).await;
    to_arabic(&b).await;
    assert_eq!(dir_of(&b, "#f-passport_number").await, "ltr", "a passport number is typed left to right");
    assert_eq!(dir_of(&b, "#f-contact_email").await, "ltr", "so is an e-mail address");
    assert_eq!(dir_of(&b, "#f-employee_full_name").await, "auto", "a name takes the direction it is typed in");
    assert_eq!(b.text(".caption-l [dir=ltr]").await, draft.to_string(), "the reference is isolated");
    b.axe("details-ar").await;
    b.screenshot("details-ar").await;

    // Check your answers: each value isolated, and lined up with the page on the right.
    b.goto(&format!("/applications/{draft}/check")).await;
    let values = b.client.find_all(fantoccini::Locator::Css(".summary-list__value bdi")).await.expect("values");
    let mut shown = Vec::new();
    for v in values {
        shown.push(v.text().await.expect("text"));
    }
    assert!(shown.iter().any(|v| v == "AB1234567") && shown.iter().any(|v| v == "Ayesha Khan"), "{shown:?}");
    let (gap, dir) = gap_to_the_right(&b, ".summary-list__row:first-child .summary-list__value", "bdi").await;
    assert_eq!(dir, "rtl");
    assert!(gap.abs() < 1.0, "the name sits {gap}px from the right edge of its cell");
    b.axe("check-ar").await;
    b.screenshot("check-ar").await;

    // ---- the reviewer's case page, in Arabic ----
    b.submit(".header__account button").await;
    sign_in(&mut b, "fatima@moci.example").await;
    to_arabic(&b).await;
    b.goto(&format!("/cases/{submitted}")).await;
    assert_eq!(b.text("#reference bdi[dir=ltr]").await, submitted.to_string());
    assert_eq!(b.text("h1 bdi").await, "Ayesha Khan");
    // The applicant's name no longer jumps to the left: the heading keeps the page's direction
    // and the name ends at its right edge.
    let (gap, dir) = gap_to_the_right(&b, "h1", "bdi").await;
    assert_eq!(dir, "rtl", "the heading is right to left like the page");
    assert!(gap.abs() < 1.0, "the name sits {gap}px from the heading's right edge");
    assert!(b.exists(".summary-list__value bdi").await, "the case's values are isolated");
    // The workflow's title, in Arabic, lines up with the page too.
    let (gap, dir) = gap_to_the_right(&b, ".caption-l", "").await;
    assert_eq!(dir, "rtl", "the Arabic title is laid out right to left");
    assert!(gap.abs() < 1.0, "the title sits {gap}px from the right edge");
    b.axe("case-ar").await;
    b.screenshot("case-ar").await;
    b.close().await;
}

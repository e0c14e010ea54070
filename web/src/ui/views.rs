//! Rendering: the Tera instance (templates embedded in the binary), the functions and filters
//! templates use, and the context every page gets.
//!
//! Templates get, besides their own variables: `lang`, `dir`, `csrf`, `path`, `user`
//! (`name`, `email`, `role`, or null), `languages`, `nav`, `notice` and `home`. Functions:
//! `t(key=...)`, `csrf_field()`. Filters: `long_date`, `short_date`, `date_time`, `deadline`,
//! `hijri_date`, `number`, `country_name`, `file_size`. Every date and number is written by
//! [`corridor_engine::locale`] (CLDR through ICU4X) in the page's language and digits.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tera::{Context, Tera, Value};

use corridor_engine::locale;

use super::error::{PageError, UiResult};
use super::i18n::{self, LANGS, Lang};
use super::session::Ctx;

/// Every template, embedded at build time. Add a page: put the file in `web/templates/` and
/// its name here.
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "base.html",
    "macros.html",
    "error.html",
    "home.html",
    "login.html",
    "login_code.html",
    "login_enrol.html",
    "recovery_codes.html",
    "account_sessions.html",
    "account_password.html",
    "status.html",
    "verify.html",
    "firm/dashboard.html",
    "firm/start.html",
    "firm/application.html",
    "firm/details.html",
    "firm/documents.html",
    "firm/check.html",
    "firm/confirmation.html",
    "firm/respond.html",
    "firm/withdraw.html",
    "staff/queue.html",
    "staff/case.html",
    "staff/lookup.html",
    "staff/letter.html",
    "admin/macros.html",
    "admin/index.html",
    "admin/users.html",
    "admin/user_new.html",
    "admin/user.html",
    "admin/password.html",
    "admin/organisations.html",
    "admin/organisation_new.html",
    "admin/workflows.html",
    "admin/workflow.html",
    "admin/audit_search.html",
    "admin/audit.html",
    "admin/jobs.html",
    "admin/access.html",
    "admin/holidays.html",
    "admin/holiday_changed.html",
    "admin/tokens.html",
    "partials/timeline.html",
    "partials/summary.html",
];

thread_local! {
    static CSRF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn build() -> Tera {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![".html"]);
    tera.add_raw_templates(TEMPLATES.to_vec()).unwrap_or_else(|e| panic!("templates do not compile: {}", chain(&e)));
    tera.register_function("t", i18n::tera_t);
    tera.register_function("csrf_field", |_: &HashMap<String, Value>| {
        let token = CSRF.with(|c| c.borrow().clone());
        // The token is hex: nothing to escape.
        Ok(Value::String(format!(r#"<input type="hidden" name="csrf" value="{token}">"#)))
    });
    tera.register_filter("long_date", |v: &Value, _: &HashMap<String, Value>| {
        Ok(Value::String(long_date(i18n::current(), v)))
    });
    tera.register_filter("date_time", |v: &Value, _: &HashMap<String, Value>| {
        Ok(Value::String(date_time(i18n::current(), v)))
    });
    tera.register_filter("short_date", |v: &Value, _: &HashMap<String, Value>| {
        Ok(Value::String(date_with(v, |d| locale::short_date(i18n::current(), d))))
    });
    tera.register_filter("hijri_date", |v: &Value, _: &HashMap<String, Value>| {
        Ok(Value::String(date_with(v, |d| locale::hijri_date(i18n::current(), d))))
    });
    tera.register_filter("deadline", |v: &Value, _: &HashMap<String, Value>| {
        Ok(Value::String(match parse_time(v) {
            Some(t) => locale::format_deadline(i18n::current(), t, DISPLAY_TZ),
            None => long_date(i18n::current(), v),
        }))
    });
    tera.register_filter("number", |v: &Value, _: &HashMap<String, Value>| {
        Ok(Value::String(number(i18n::current(), v)))
    });
    tera.register_filter("country_name", |v: &Value, _: &HashMap<String, Value>| {
        let code = v.as_str().unwrap_or("");
        Ok(Value::String(
            corridor_engine::countries::name_in(code, i18n::current())
                .map(str::to_string)
                .unwrap_or_else(|| code.to_string()),
        ))
    });
    tera.register_filter("file_size", |v: &Value, _: &HashMap<String, Value>| {
        Ok(Value::String(file_size(i18n::current(), v.as_i64().or_else(|| v.as_u64().map(|u| u as i64)).unwrap_or(0))))
    });
    tera
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

pub static TERA: LazyLock<Tera> = LazyLock::new(build);

/// Display time zone: the host country's (the deadlines are counted on its calendar).
pub const DISPLAY_TZ: chrono_tz::Tz = chrono_tz::Asia::Qatar;

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|d| d.with_timezone(&Utc))
}

/// A date given as an instant (its day in Doha) or as `YYYY-MM-DD`, written by `f`; anything
/// else as it came.
fn date_with(v: &Value, f: impl Fn(NaiveDate) -> String) -> String {
    if let Some(t) = parse_time(v) {
        return f(t.with_timezone(&DISPLAY_TZ).date_naive());
    }
    match v.as_str().and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()) {
        Some(d) => f(d),
        None => v.as_str().unwrap_or("").to_string(),
    }
}

/// "9 December 2026", "9 ديسمبر 2026", "9 دسمبر، 2026".
pub fn long_date(lang: Lang, v: &Value) -> String {
    date_with(v, |d| locale::date(lang, d))
}

/// An instant as its date and time in Doha, the zone named: "9 December 2026 at 14:30 (Qatar
/// Time)".
pub fn date_time(lang: Lang, v: &Value) -> String {
    match parse_time(v) {
        Some(t) => format!("{} ({})", locale::date_time(lang, t, DISPLAY_TZ), locale::zone_name(lang, DISPLAY_TZ)),
        None => long_date(lang, v),
    }
}

/// A whole number grouped in the page's digits; anything else as it came.
pub fn number(lang: Lang, v: &Value) -> String {
    match v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())) {
        Some(n) => locale::number(lang, n),
        None => v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
    }
}

/// Sizes as the workflow files write them: 1 MB = 1024 × 1024 bytes ("5MB" is 5 MB here).
pub fn file_size(lang: Lang, bytes: i64) -> String {
    const MB: i64 = 1024 * 1024;
    if bytes >= MB {
        // Tenths of a megabyte, rounded half up; whole megabytes without a decimal.
        let tenths = (bytes * 10 + MB / 2) / MB;
        let n = if bytes % MB == 0 { locale::number(lang, bytes / MB) } else { locale::decimal(lang, tenths, 1) };
        i18n::t_args(lang, "units.mb", &[("n", n)])
    } else {
        i18n::t_args(lang, "units.kb", &[("n", locale::number(lang, ((bytes + 1023) / 1024).max(1)))])
    }
}

/// Who sees an entry of the navigation bar. Which roles are which is the engine's (the
/// workflow files name them); the bar only follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Applicant,
    Admin,
    /// Everyone who works cases.
    Staff,
    /// Staff who receive a workflow's escalations (`escalate: {to: ROLE}`).
    Supervisor,
}

/// An entry of the navigation bar.
pub struct NavEntry {
    pub shown_to: Audience,
    pub href: &'static str,
    pub key: &'static str,
}

#[derive(Serialize)]
struct NavItem {
    href: &'static str,
    label: String,
    current: bool,
}

fn nav(ctx: &Ctx) -> Vec<NavItem> {
    let Some(actor) = &ctx.actor else { return vec![] };
    let path = ctx.path.split('?').next().unwrap_or("");
    let shown = |audience: Audience| match audience {
        Audience::Applicant => actor.is_applicant(),
        Audience::Admin => actor.is_admin(),
        Audience::Staff => actor.is_staff(),
        Audience::Supervisor => ctx.supervisor,
    };
    let entries: Vec<&NavEntry> = super::NAV.iter().filter(|e| shown(e.shown_to)).collect();
    // The longest matching prefix is the current one.
    let current = entries
        .iter()
        .filter(|e| path == e.href || (e.href != "/" && path.starts_with(&format!("{}/", e.href))))
        .max_by_key(|e| e.href.len())
        .map(|e| e.href);
    entries
        .iter()
        .map(|e| NavItem { href: e.href, label: i18n::t(ctx.lang, e.key), current: Some(e.href) == current })
        .collect()
}

/// What every page gets.
fn base_context(ctx: &Ctx, page: &mut Context) {
    page.insert("lang", ctx.lang.code());
    page.insert("dir", ctx.lang.dir());
    page.insert("csrf", &ctx.csrf);
    page.insert("path", &ctx.path);
    page.insert(
        "user",
        &ctx.user.as_ref().map(|u| serde_json::json!({"name": u.name, "email": u.email, "role": u.role})),
    );
    page.insert(
        "languages",
        &LANGS
            .iter()
            .map(|l| serde_json::json!({"code": l.code(), "name": l.native_name(), "current": *l == ctx.lang}))
            .collect::<Vec<_>>(),
    );
    page.insert("nav", &nav(ctx));
    page.insert("asset_version", &*super::assets::VERSION);
    if !page.contains_key("errors") {
        super::forms::FormErrors::default().insert_into(page);
    }
    page.insert("home", &super::home_path(ctx.actor.as_ref()));
    let notice = ctx
        .path
        .split_once('?')
        .and_then(|(_, q)| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "notice").map(|(_, v)| v))
        .map(|v| format!("notice.{v}"))
        .filter(|k| i18n::has(k));
    page.insert("notice", &notice);
}

/// Render `template` as a 200 page.
pub fn render(ctx: &Ctx, template: &str, page: Context) -> UiResult<Response> {
    render_status(ctx, StatusCode::OK, template, page)
}

pub fn render_status(ctx: &Ctx, status: StatusCode, template: &str, mut page: Context) -> UiResult<Response> {
    let html = render_string(ctx, template, &mut page)?;
    Ok((status, Html(html)).into_response())
}

pub fn render_string(ctx: &Ctx, template: &str, page: &mut Context) -> UiResult<String> {
    base_context(ctx, page);
    CSRF.with(|c| *c.borrow_mut() = ctx.csrf.clone());
    let out = i18n::with_lang(ctx.lang, || TERA.render(template, page));
    CSRF.with(|c| c.borrow_mut().clear());
    Ok(out?)
}

/// The plain-language page for an error.
pub fn error_page(ctx: &Ctx, kind: PageError) -> Response {
    let mut page = Context::new();
    page.insert("kind", kind.key());
    page.insert("status", &kind.status().as_u16());
    match render_string(ctx, "error.html", &mut page) {
        Ok(html) => (kind.status(), Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the error page itself failed");
            (kind.status(), i18n::t(ctx.lang, &format!("error.{}.title", kind.key()))).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        LazyLock::force(&TERA);
    }

    /// Every literal `t(key="...")` in a template names a message of the catalogue.
    #[test]
    fn every_message_key_in_the_templates_exists() {
        let mut missing = Vec::new();
        let mut checked = 0;
        for (name, source) in TEMPLATES {
            for part in source.split("t(key=\"").skip(1) {
                let key = part.split('"').next().unwrap_or("");
                // Keys built with `~` (e.g. "error." ~ kind) are checked where they are made.
                if key.ends_with('.') || part[key.len() + 1..].trim_start().starts_with('~') {
                    continue;
                }
                checked += 1;
                if !i18n::has(key) {
                    missing.push(format!("{name}: {key}"));
                }
            }
        }
        assert!(checked > 100, "only {checked} keys found: is the scan broken?");
        assert!(missing.is_empty(), "keys missing from web/i18n/en.toml: {missing:#?}");
    }

    #[test]
    fn error_pages_have_their_messages() {
        use super::super::error::PageError::*;
        for kind in [NotFound, Forbidden, Csrf, RateLimited, TooLarge, Conflict, Gone, Invalid, Internal] {
            for part in ["title", "body", "next"] {
                assert!(i18n::has(&format!("error.{}.{part}", kind.key())), "{}.{part}", kind.key());
            }
        }
        for status in ["completed", "in_progress", "not_started", "cannot_start"] {
            assert!(i18n::has(&format!("task.{status}")));
        }
    }

    #[test]
    fn dates_read_in_each_language() {
        let d = Value::String("2026-03-27".into());
        assert_eq!(long_date(Lang::En, &d), "27 March 2026");
        assert_eq!(long_date(Lang::Ar, &d), "27 مارس 2026");
        assert_eq!(long_date(Lang::Ur, &d), "27 مارچ، 2026");
        // An instant is shown on its day in Doha: 21:30 UTC is already the next morning there.
        let late = Value::String("2026-12-08T21:30:00Z".into());
        assert_eq!(long_date(Lang::En, &late), "9 December 2026");
        assert_eq!(date_time(Lang::En, &late), "9 December 2026 at 00:30 (Qatar Time)");
        assert_eq!(date_time(Lang::Ar, &late), "9 ديسمبر 2026 في 00:30 (توقيت قطر)");
        assert_eq!(long_date(Lang::En, &Value::String("not a date".into())), "not a date");
    }

    #[test]
    fn sizes_and_numbers_in_the_page_language() {
        assert_eq!(file_size(Lang::En, 5 * 1024 * 1024), "5 MB");
        assert_eq!(file_size(Lang::En, 1536 * 1024), "1.5 MB");
        assert_eq!(file_size(Lang::En, 10), "1 KB");
        assert_eq!(number(Lang::Ar, &Value::from(12345)), "12,345");
    }
}

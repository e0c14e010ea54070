//! `/admin/holidays`: each working-day calendar's holidays (from its file, added or taken
//! away at run time), and forms to add or remove one. The engine moves the deadlines a change
//! touches and records each move in that application's audit chain; the page shows which.

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{Datelike, NaiveDate};
use corridor_engine::error::EngineError;
use corridor_engine::holidays::{HolidayChange, HolidayEntry, HolidaySource};
use serde::Deserialize;
use tera::Context;

use super::Admin;
use crate::AppState;
use crate::ui::error::{UiError, UiResult};
use crate::ui::forms::{FormData, FormErrors};
use crate::ui::i18n;
use crate::ui::views::{render, render_status};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/holidays", get(list))
        .route("/admin/holidays/add", post(add))
        .route("/admin/holidays/remove", post(remove))
}

/// The engine's warnings about calendars in use that end within 180 days, worded in `lang`
/// (the admin index and the holidays page show them; `/readyz` lists them in English).
pub(crate) fn calendar_warnings(state: &AppState, lang: i18n::Lang) -> Vec<String> {
    state
        .engine
        .calendar_warnings(state.engine.now())
        .iter()
        .map(|w| match w.holidays_until {
            Some(until) => i18n::t_args(
                lang,
                "calendar_warning.until",
                &[("calendar", w.name.clone()), ("date", corridor_engine::locale::date(lang, until))],
            ),
            None => i18n::t_args(lang, "calendar_warning.none", &[("calendar", w.name.clone())]),
        })
        .collect()
}

/// Longest holiday name the engine keeps.
const MAX_NAME: usize = 200;

#[derive(Deserialize)]
struct CalendarQuery {
    calendar: Option<String>,
}

/// The calendar asked for, or else the first one a workflow counts on (or the first one);
/// an unknown one is a page that does not exist.
fn chosen_calendar(state: &AppState, asked: Option<&str>) -> UiResult<String> {
    let ids = state.engine.calendar_ids();
    match asked.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) if ids.iter().any(|i| i == c) => Ok(c.to_string()),
        Some(_) => Err(UiError::NotFound),
        None => state.engine.calendars_in_use().into_iter().chain(ids).next().ok_or(UiError::NotFound),
    }
}

/// What the add form held, to show it again with its errors.
#[derive(Default)]
struct Typed {
    date: String,
    name: String,
}

async fn holidays_page(
    state: &AppState,
    admin: &Admin,
    calendar: &str,
    typed: &Typed,
    errors: &FormErrors,
    status: StatusCode,
) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let entries = state.engine.admin_holidays(&admin.actor, calendar).await?;
    let cal = state.engine.calendar_named(calendar).ok_or(UiError::NotFound)?;
    let calendars: Vec<serde_json::Value> = state
        .engine
        .calendar_ids()
        .into_iter()
        .map(|id| {
            let name = state.engine.calendar_named(&id).map(|c| c.name().to_string()).unwrap_or_else(|| id.clone());
            serde_json::json!({"id": id, "name": name, "current": id == calendar})
        })
        .collect();
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|e: &HolidayEntry| {
            serde_json::json!({
                "date": e.date.format("%Y-%m-%d").to_string(),
                "weekday": corridor_engine::locale::weekday(lang, e.date.weekday()),
                "name": e.name, "approximate": e.approximate,
                "source": e.source, "changed_by": e.changed_by, "changed_at": e.changed_at,
                "active": e.source != HolidaySource::Removed,
            })
        })
        .collect();
    let weekend: Vec<String> = cal.weekend().into_iter().map(|d| corridor_engine::locale::weekday(lang, d)).collect();
    let mut page = Context::new();
    page.insert("calendars", &calendars);
    page.insert(
        "calendar",
        &serde_json::json!({"id": calendar, "name": cal.name(), "timezone": cal.timezone().name(), "weekend": weekend.join(", ")}),
    );
    page.insert("holidays", &rows);
    page.insert("calendar_warnings", &calendar_warnings(state, lang));
    page.insert("typed_date", &typed.date);
    page.insert("typed_name", &typed.name);
    errors.insert_into(&mut page);
    render_status(&admin.ctx, status, "admin/holidays.html", page)
}

async fn list(State(state): State<AppState>, admin: Admin, Query(q): Query<CalendarQuery>) -> UiResult<Response> {
    let calendar = chosen_calendar(&state, q.calendar.as_deref())?;
    holidays_page(&state, &admin, &calendar, &Typed::default(), &FormErrors::default(), StatusCode::OK).await
}

/// What a change did, with the deadlines it moved.
fn change_page(state: &AppState, admin: &Admin, change: &HolidayChange) -> UiResult<Response> {
    let moved: Vec<serde_json::Value> = change
        .moved
        .iter()
        .map(|m| {
            serde_json::json!({"reference": m.reference, "state": m.state, "old": m.old_deadline,
                               "new": m.new_deadline, "timers": m.timers_moved})
        })
        .collect();
    let mut page = Context::new();
    page.insert(
        "change",
        &serde_json::json!({"calendar": change.calendar, "date": change.date.format("%Y-%m-%d").to_string(),
                            "name": change.name, "is_holiday": change.is_holiday,
                            "calendar_name": state.engine.calendar_named(&change.calendar).map(|c| c.name().to_string())
                                .unwrap_or_else(|| change.calendar.clone())}),
    );
    page.insert("moved", &moved);
    render(&admin.ctx, "admin/holiday_changed.html", page)
}

fn parse_date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()
}

async fn add(State(state): State<AppState>, admin: Admin, Form(form): Form<FormData>) -> UiResult<Response> {
    let lang = admin.ctx.lang;
    let calendar = chosen_calendar(&state, Some(form.get("calendar").unwrap_or("")))?;
    let typed = Typed {
        date: form.get("date").unwrap_or("").trim().to_string(),
        name: form.get("name").unwrap_or("").trim().to_string(),
    };
    let mut errors = FormErrors::default();
    let date = parse_date(&typed.date);
    match date {
        _ if typed.date.is_empty() => errors.add("date", "#date", i18n::t(lang, "admin.holidays.error.date_missing")),
        None => errors.add("date", "#date", i18n::t(lang, "admin.holidays.error.date_invalid")),
        Some(d) if !(2000..=2200).contains(&d.year()) => {
            errors.add("date", "#date", i18n::t(lang, "admin.holidays.error.date_range"))
        }
        Some(d) => {
            let existing = state.engine.admin_holidays(&admin.actor, &calendar).await?;
            if existing.iter().any(|e| e.date == d && e.source != HolidaySource::Removed) {
                errors.add("date", "#date", i18n::t(lang, "admin.holidays.error.date_taken"));
            }
        }
    }
    if typed.name.is_empty() {
        errors.add("name", "#name", i18n::t(lang, "admin.holidays.error.name_missing"));
    } else if typed.name.chars().count() > MAX_NAME {
        errors.add("name", "#name", i18n::t(lang, "admin.holidays.error.name_too_long"));
    } else if corridor_engine::fields::has_control(&typed.name) {
        errors.add("name", "#name", i18n::t(lang, "admin.holidays.error.name_invalid"));
    }
    let (Some(date), true) = (date, errors.is_empty()) else {
        return holidays_page(&state, &admin, &calendar, &typed, &errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    match state.engine.add_holiday(&admin.actor, &calendar, date, &typed.name).await {
        Ok(change) => change_page(&state, &admin, &change),
        // A change by someone else since the page was read: the engine's words, on the form.
        Err(EngineError::BadRequest(why)) => {
            errors.add("date", "#date", why);
            holidays_page(&state, &admin, &calendar, &typed, &errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn remove(State(state): State<AppState>, admin: Admin, Form(form): Form<FormData>) -> UiResult<Response> {
    let calendar = chosen_calendar(&state, Some(form.get("calendar").unwrap_or("")))?;
    let date = form.get("date").and_then(parse_date).ok_or(UiError::NotFound)?;
    let change = state.engine.remove_holiday(&admin.actor, &calendar, date).await?;
    change_page(&state, &admin, &change)
}

//! Putting the parts together: store, calendars, workflows, engine, web.

use std::sync::Arc;

use anyhow::Context;
use corridor_engine::auth::SignInPolicy;
use corridor_engine::calendar;
use corridor_engine::clock::Clock;
use corridor_engine::registry::WorkflowRegistry;
use corridor_engine::role::Role;
use corridor_engine::service::Engine;
use corridor_engine::store::{self, Store};
use corridor_engine::workflow::LintContext;
use corridor_web::{AppState, WebSettings};
use tokio::net::TcpListener;

use crate::config::Config;

pub fn lint_context(config: &Config) -> LintContext {
    LintContext {
        templates_dir: config.email_templates_dir(),
        calendars_dir: config.paths.calendars.clone(),
        languages: config.i18n.languages.clone(),
    }
}

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(path) = config.database.url.strip_prefix("sqlite://") {
        if let Some(parent) = std::path::Path::new(path.split('?').next().unwrap_or(path)).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
        }
    }
    let store = store::connect(&config.database.url)
        .await
        .with_context(|| format!("opening the database at {}", redact(&config.database.url)))?;
    store.migrate().await.context("applying database migrations")?;
    Ok(store)
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// The engine and the store it runs on. The engine keeps its store to itself; tools that
/// read or write storage directly (the CLI's, the benchmarks, the tests) use this handle.
pub struct Built {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
}

/// Everything but the listening socket.
pub async fn build_engine(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Engine>> {
    Ok(build(config, clock).await?.engine)
}

/// Everything but the listening socket, with the store handle.
pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Built> {
    corridor_engine::locale::configure(config.i18n.digits.clone());
    let store = open_store(config).await?;
    let calendars = calendar::load_calendars(&config.paths.calendars)
        .with_context(|| format!("loading calendars from {}", config.paths.calendars.display()))?;
    let workflows = WorkflowRegistry::load(&[config.paths.workflows.clone()], &lint_context(config), store.as_ref())
        .await
        .context("loading workflows")?;
    let policy = SignInPolicy {
        second_factor_roles: config.sign_in.second_factor_roles.iter().map(|r| Role::from(r.trim())).collect(),
        max_sessions: config.sign_in.max_sessions,
    };
    let engine = Engine::new(store.clone(), workflows, calendars.into(), clock, config.uploads_dir())
        .with_audit_files(config.audit_files())
        .with_letters(config.letter_settings())
        .with_sign_in_policy(policy);
    for role in &engine.sign_in_policy().second_factor_roles {
        if !engine.assignable_roles().contains(role) {
            tracing::warn!(%role, "sign_in.second_factor_roles names a role no workflow declares");
        }
    }
    // Holidays added or removed at run time (kept in the database) over the calendar files.
    engine.refresh_holidays().await.context("loading the holidays changed at run time")?;
    Ok(Built { engine: Arc::new(engine), store })
}

pub fn web_settings(config: &Config) -> WebSettings {
    WebSettings {
        public_url: config.server.public_url.trim_end_matches('/').to_string(),
        max_upload_bytes: config.server.max_upload_bytes,
        max_body_bytes: config.server.max_body_bytes,
        body_timeout: std::time::Duration::from_secs(config.server.body_timeout_seconds),
        secure_cookies: config.server.secure_cookies,
    }
}

/// The scheduler for this instance: `[scheduler]` and `[mail]` of the configuration (no SMTP
/// URL: e-mails are written under `data_dir/outbox`).
pub fn build_scheduler(
    engine: Arc<Engine>,
    config: &Config,
) -> anyhow::Result<Arc<corridor_engine::scheduler::Scheduler>> {
    use corridor_engine::mail::{EmailTemplates, MailConfig, Mailer};
    use corridor_engine::scheduler::{Scheduler, SchedulerSettings};
    let mut mail = MailConfig::new(config.smtp_url(), config.mail.from.clone(), config.outbox_dir());
    mail.message_id_domain = Some(config.mail.message_id_domain.trim().to_string()).filter(|d| !d.is_empty());
    let mailer = Mailer::new(&mail).context("setting up e-mail ([mail] in the configuration)")?;
    let templates = EmailTemplates::load(&config.email_templates_dir())
        .with_context(|| format!("loading e-mail templates from {}", config.email_templates_dir().display()))?;
    let mut settings = SchedulerSettings::new(
        config.scheduler.lease_seconds,
        std::time::Duration::from_secs(config.scheduler.poll_seconds.max(1)),
        config.server.public_url.clone(),
    );
    settings.documents_retention_days = config.retention.documents_after_days;
    settings.webhook_destinations = corridor_engine::webhook::Destinations::parse(&config.webhooks.allow_private)
        .map_err(|e| anyhow::anyhow!("[webhooks] allow_private: {e}"))?;
    Ok(Scheduler::new(engine, mailer, templates, settings)?)
}

/// The placeholder domain of the shipped `[mail]` settings.
const PLACEHOLDER_DOMAIN: &str = "corridor.local";

/// The `[mail]` keys that still name the placeholder domain `corridor.local`, outside the
/// demo (`None` there, or when none does). Messages would go out from an address nobody
/// reads, with Message-IDs of a domain nobody owns. An empty `message_id_domain` takes the
/// domain of `from`, so then `mail.from` alone is named.
pub fn mail_placeholder_keys(config: &Config, demo: bool) -> Option<String> {
    if demo {
        return None;
    }
    let placeholder = |domain: &str| {
        let domain = domain.trim().trim_end_matches('>').trim().to_ascii_lowercase();
        domain == PLACEHOLDER_DOMAIN || domain.ends_with(&format!(".{PLACEHOLDER_DOMAIN}"))
    };
    let from_domain = config.mail.from.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let mut keys = Vec::new();
    if placeholder(from_domain) {
        keys.push("mail.from");
    }
    if placeholder(&config.mail.message_id_domain) {
        keys.push("mail.message_id_domain");
    }
    (!keys.is_empty()).then(|| keys.join(", "))
}

/// One warning line at start when [`mail_placeholder_keys`] names any key.
pub fn warn_about_mail_placeholders(config: &Config, demo: bool) {
    if let Some(keys) = mail_placeholder_keys(config, demo) {
        tracing::warn!(%keys, "e-mail still uses the placeholder domain {PLACEHOLDER_DOMAIN}: set {keys} in [mail] to this deployment's own domain");
    }
}

/// Serve until the process is asked to stop; the scheduler runs alongside when enabled.
pub async fn serve(engine: Arc<Engine>, config: &Config, listener: TcpListener) -> anyhow::Result<()> {
    let scheduler =
        if config.scheduler.enabled { Some(build_scheduler(engine.clone(), config)?.spawn()) } else { None };
    let state = AppState::new(engine, web_settings(config));
    let app = corridor_web::router(state);
    let header_timeout = std::time::Duration::from_secs(config.server.header_timeout_seconds);
    let served = corridor_web::serve(listener, app, header_timeout, shutdown_signal()).await.context("serving HTTP");
    if let Some(task) = scheduler {
        // A job cut short here is taken up again when its lease runs out.
        task.abort();
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(env: &[(&str, &str)]) -> Config {
        let text = include_str!("../config/corridor.toml");
        Config::parse("corridor.toml", text, |k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
            .expect("the shipped configuration parses")
    }

    #[test]
    fn the_placeholder_mail_domain_is_named_outside_the_demo() {
        let shipped = config(&[]);
        assert_eq!(mail_placeholder_keys(&shipped, false).as_deref(), Some("mail.from"));
        assert_eq!(mail_placeholder_keys(&shipped, true), None, "the demo may keep it");

        let from = ("CORRIDOR_MAIL_FROM", "Visa desk <visas@mofa.gov.qa>");
        assert_eq!(mail_placeholder_keys(&config(&[from]), false), None);
        let id = ("CORRIDOR_MAIL_MESSAGE_ID_DOMAIN", "mail.Corridor.Local");
        assert_eq!(mail_placeholder_keys(&config(&[from, id]), false).as_deref(), Some("mail.message_id_domain"));
        let from_local = ("CORRIDOR_MAIL_FROM", "no-reply@CORRIDOR.LOCAL");
        assert_eq!(
            mail_placeholder_keys(&config(&[from_local, id]), false).as_deref(),
            Some("mail.from, mail.message_id_domain")
        );
        let own = ("CORRIDOR_MAIL_MESSAGE_ID_DOMAIN", "mofa.gov.qa");
        assert_eq!(mail_placeholder_keys(&config(&[from, own]), false), None);
        // A look-alike is not the placeholder.
        let other = ("CORRIDOR_MAIL_FROM", "a@notcorridor.local");
        assert_eq!(mail_placeholder_keys(&config(&[other]), false), None);
    }
}

//! Configuration: `config/corridor.toml`, then environment overrides. Errors name the file,
//! line and column, or the environment variable.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub paths: PathsConfig,
    pub mail: MailConfig,
    pub scheduler: SchedulerConfig,
    pub audit: AuditConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub sign_in: SignInConfig,
    #[serde(default)]
    pub i18n: I18nConfig,
    #[serde(default)]
    pub letters: LettersConfig,
}

/// `[i18n]`: the languages this deployment speaks (every text a user reads in a workflow file
/// must be written in each), and how each is written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct I18nConfig {
    pub languages: Vec<corridor_engine::lang::Lang>,
    /// The digits of each language (`latn`, `arab`, `arabext`): one set for all, or a table.
    pub digits: corridor_engine::locale::Numbering,
}

impl Default for I18nConfig {
    fn default() -> Self {
        I18nConfig { languages: corridor_engine::lang::LANGS.to_vec(), digits: Default::default() }
    }
}

/// `[letters]`: the letterhead and signatories of decision letters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LettersConfig {
    pub authority_en: String,
    pub authority_ar: String,
    pub address_en: String,
    pub address_ar: String,
    /// Letter numbers are `{number_prefix}/{reference}`.
    pub number_prefix: String,
    /// The signatory's title by the deciding officer's role.
    pub titles: std::collections::BTreeMap<String, BilingualText>,
    /// Another letterhead for the letters of one workflow (by its id).
    pub workflows: std::collections::BTreeMap<String, Letterhead>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Letterhead {
    pub authority_en: String,
    pub authority_ar: String,
    pub address_en: String,
    pub address_ar: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BilingualText {
    pub en: String,
    pub ar: String,
}

impl Default for LettersConfig {
    fn default() -> Self {
        LettersConfig {
            authority_en: "Embassy of the State of Qatar".into(),
            authority_ar: "سفارة دولة قطر".into(),
            address_en: String::new(),
            address_ar: String::new(),
            number_prefix: "QE".into(),
            titles: Default::default(),
            workflows: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Days a new API token lives unless `corridor token create --days` says.
    pub token_days: i64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { token_days: corridor_engine::tokens::DEFAULT_DAYS }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Loopback, private and link-local destinations webhooks may reach anyway: addresses
    /// (`10.0.0.5`), address and port (`127.0.0.1:9000`) or networks (`10.20.0.0/16`).
    pub allow_private: Vec<String>,
}

/// `[sign_in]`: who needs a second factor, how many sessions a user keeps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignInConfig {
    /// Roles that must set up a TOTP second factor; `admin` always must.
    pub second_factor_roles: Vec<String>,
    /// Live sessions per user; one more sign-in ends the oldest.
    pub max_sessions: usize,
}

impl Default for SignInConfig {
    fn default() -> Self {
        SignInConfig { second_factor_roles: vec!["admin".into()], max_sessions: 5 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: String,
    pub public_url: String,
    pub secure_cookies: bool,
    pub max_upload_bytes: usize,
    /// A connection must send a whole request head within this many seconds.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: u64,
    /// A request body that sends nothing for this many seconds is cut off.
    #[serde(default = "default_body_timeout")]
    pub body_timeout_seconds: u64,
    /// Largest body accepted on every route but uploads, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

fn default_header_timeout() -> u64 {
    5
}

fn default_body_timeout() -> u64 {
    30
}

fn default_max_body() -> usize {
    256 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsConfig {
    pub data_dir: PathBuf,
    pub workflows: PathBuf,
    pub templates: PathBuf,
    pub calendars: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub smtp_url: String,
    pub from: String,
    /// Right-hand side of Message-IDs; empty: the domain of `from`.
    #[serde(default)]
    pub message_id_domain: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    pub enabled: bool,
    pub poll_seconds: u64,
    pub lease_seconds: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The Ed25519 key file that signs checkpoints; kept outside the database.
    pub signing_key: PathBuf,
    /// The append-only file every checkpoint is also written to.
    pub witness: PathBuf,
    /// When checkpoints are made (5-field cron, UTC); empty: only `corridor audit checkpoint`.
    pub checkpoint_cron: String,
}

/// How long personal data is kept after an application ended.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Document contents are deleted this many days after their application reached a
    /// terminal state (the record and hash stay); 0 keeps them.
    #[serde(default)]
    pub documents_after_days: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The io error is part of the message, not a `source`, so that it is printed once.
    #[error("{path}: cannot read: {error}{hint}")]
    Read { path: String, error: std::io::Error, hint: &'static str },
    #[error("{path}:{line}:{column}: error: {message}")]
    Syntax { path: String, line: usize, column: usize, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

/// Short names kept for scripts (DESIGN.md section 3).
const ALIASES: &[(&str, &str, &str)] =
    &[("CORRIDOR_BIND", "server", "bind"), ("CORRIDOR_SMTP_URL", "mail", "smtp_url")];

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

impl Config {
    /// Read `path` and apply the environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| {
            let hint = if error.kind() == std::io::ErrorKind::NotFound {
                " (run corridor from the project folder, or give --config or CORRIDOR_CONFIG)"
            } else {
                ""
            };
            ConfigError::Read { path: shown.clone(), error, hint }
        })?;
        Self::parse(&shown, &text, |k| std::env::var(k).ok())
    }

    pub fn parse(shown: &str, text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let syntax = |e: toml::de::Error| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            // Type errors point at the value; naming its key tells the reader what to fix.
            let key = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim())
                .filter(|k| !k.is_empty() && !k.starts_with('#'));
            let message = match key {
                Some(key) => format!("{key}: {}", e.message()),
                None => e.message().to_string(),
            };
            ConfigError::Syntax { path: shown.to_string(), line, column, message }
        };
        let mut table: toml::Table = toml::from_str(text).map_err(syntax)?;
        let sections: Vec<String> = table.keys().cloned().collect();
        for section in sections {
            let Some(toml::Value::Table(inner)) = table.get_mut(&section) else {
                continue;
            };
            let keys: Vec<String> = inner.keys().cloned().collect();
            for key in keys {
                let mut vars = vec![format!("CORRIDOR_{}_{}", section.to_uppercase(), key.to_uppercase())];
                vars.extend(
                    ALIASES.iter().filter(|(_, s, k)| *s == section && *k == key).map(|(v, _, _)| v.to_string()),
                );
                for var in vars {
                    if let Some(raw) = env(&var) {
                        let current = &inner[&key];
                        let value =
                            match current {
                                toml::Value::Boolean(_) => {
                                    raw.trim().parse::<bool>().map(toml::Value::Boolean).map_err(|_| {
                                        ConfigError::Env { var: var.clone(), message: "must be true or false".into() }
                                    })?
                                }
                                toml::Value::Integer(_) => {
                                    raw.trim().parse::<i64>().map(toml::Value::Integer).map_err(|_| {
                                        ConfigError::Env { var: var.clone(), message: "must be a whole number".into() }
                                    })?
                                }
                                // Lists from the environment are comma-separated.
                                toml::Value::Array(_) => toml::Value::Array(
                                    raw.split(',')
                                        .map(str::trim)
                                        .filter(|v| !v.is_empty())
                                        .map(|v| toml::Value::String(v.to_string()))
                                        .collect(),
                                ),
                                _ => toml::Value::String(raw),
                            };
                        inner.insert(key.clone(), value);
                    }
                }
            }
        }
        // Re-serialise so that type errors still point into the file when they come from it.
        let config: Config =
            toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
                match toml::from_str::<Config>(text) {
                    Err(file_err) => syntax(file_err),
                    Ok(_) => ConfigError::Env { var: "CORRIDOR_*".into(), message: e.message().to_string() },
                }
            })?;
        if config.server.header_timeout_seconds == 0
            || config.server.body_timeout_seconds == 0
            || config.server.max_body_bytes < 4096
        {
            return Err(ConfigError::Syntax {
                path: shown.into(),
                line: 1,
                column: 1,
                message: "server.header_timeout_seconds and server.body_timeout_seconds must be above 0, \
                          server.max_body_bytes at least 4096"
                    .into(),
            });
        }
        if !(1..=corridor_engine::tokens::MAX_DAYS).contains(&config.api.token_days) {
            return Err(ConfigError::Syntax {
                path: shown.into(),
                line: 1,
                column: 1,
                message: format!("api.token_days must be from 1 to {}", corridor_engine::tokens::MAX_DAYS),
            });
        }
        if let Err(message) = corridor_engine::webhook::Destinations::parse(&config.webhooks.allow_private) {
            return Err(ConfigError::Syntax {
                path: shown.into(),
                line: 1,
                column: 1,
                message: format!("webhooks.allow_private: {message}"),
            });
        }
        if config.sign_in.max_sessions == 0 {
            return Err(ConfigError::Syntax {
                path: shown.to_string(),
                line: 1,
                column: 1,
                message: "sign_in.max_sessions must be above 0".into(),
            });
        }
        if !config.i18n.languages.contains(&corridor_engine::lang::Lang::En) {
            return Err(ConfigError::Syntax {
                path: shown.into(),
                line: 1,
                column: 1,
                message: "i18n.languages must include en (the wording shown where a language is not enabled)".into(),
            });
        }
        if config.server.max_upload_bytes == 0 {
            return Err(ConfigError::Syntax {
                path: shown.into(),
                line: 1,
                column: 1,
                message: "server.max_upload_bytes must be above 0".into(),
            });
        }
        Ok(config)
    }

    pub fn smtp_url(&self) -> Option<String> {
        Some(self.mail.smtp_url.trim().to_string()).filter(|s| !s.is_empty())
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.paths.data_dir.join("uploads")
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.paths.data_dir.join("outbox")
    }

    pub fn email_templates_dir(&self) -> PathBuf {
        self.paths.templates.join("email")
    }

    /// The decision letters' settings for the engine.
    pub fn letter_settings(&self) -> corridor_engine::letter::LetterSettings {
        use corridor_engine::letter::{Bilingual, LetterSettings};
        let head = |h: &Letterhead| {
            (Bilingual::new(&h.authority_en, &h.authority_ar), Bilingual::new(&h.address_en, &h.address_ar))
        };
        let l = &self.letters;
        let (authority, address) =
            (Bilingual::new(&l.authority_en, &l.authority_ar), Bilingual::new(&l.address_en, &l.address_ar));
        LetterSettings {
            public_url: self.server.public_url.clone(),
            authority,
            address,
            number_prefix: self.letters.number_prefix.clone(),
            titles: self
                .letters
                .titles
                .iter()
                .map(|(role, t)| (corridor_engine::role::Role::from(role.as_str()), Bilingual::new(&t.en, &t.ar)))
                .collect(),
            workflows: self.letters.workflows.iter().map(|(id, h)| (id.clone(), head(h))).collect(),
        }
    }

    pub fn audit_files(&self) -> corridor_engine::audit::checkpoint::AuditFiles {
        corridor_engine::audit::checkpoint::AuditFiles {
            signing_key: self.audit.signing_key.clone(),
            witness: self.audit.witness.clone(),
            checkpoint_cron: Some(self.audit.checkpoint_cron.trim().to_string()).filter(|c| !c.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: &str = include_str!("../config/corridor.toml");

    #[test]
    fn defaults_parse() {
        let c = Config::parse("corridor.toml", DEFAULTS, |_| None).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:8080");
        assert!(c.database.url.starts_with("sqlite://"));
        assert_eq!(c.smtp_url(), None);
        assert_eq!(c.retention.documents_after_days, 0, "documents are kept unless a retention period is set");
    }

    #[test]
    fn digits_are_latin_unless_configured_and_a_wrong_set_is_located() {
        use corridor_engine::lang::Lang;
        use corridor_engine::locale::Digits;
        let c = Config::parse("corridor.toml", DEFAULTS, |_| None).unwrap();
        assert_eq!(c.i18n.digits.digits(Lang::Ar), Digits::Latn);
        assert_eq!(c.i18n.digits.digits(Lang::Ur), Digits::Latn);
        let env = |k: &str| (k == "CORRIDOR_I18N_DIGITS").then(|| "arab".to_string());
        let c = Config::parse("corridor.toml", DEFAULTS, env).unwrap();
        assert_eq!(c.i18n.digits.digits(Lang::Ar), Digits::Arab);
        let text = DEFAULTS.replace(r#"digits = { ar = "latn", ur = "latn" }"#, r#"digits = { ar = "hindi" }"#);
        let e = Config::parse("corridor.toml", &text, |_| None).unwrap_err().to_string();
        assert!(e.starts_with("corridor.toml:") && e.contains("`hindi` is not a set of digits"), "{e}");
    }

    #[test]
    fn environment_overrides_any_key_and_the_short_forms() {
        let env = |k: &str| match k {
            "CORRIDOR_DATABASE_URL" => Some("postgres://x@h/db".to_string()),
            "CORRIDOR_BIND" => Some("0.0.0.0:9000".to_string()),
            "CORRIDOR_SCHEDULER_POLL_SECONDS" => Some("2".to_string()),
            _ => None,
        };
        let c = Config::parse("corridor.toml", DEFAULTS, env).unwrap();
        assert_eq!(c.database.url, "postgres://x@h/db");
        assert_eq!(c.server.bind, "0.0.0.0:9000");
        assert_eq!(c.scheduler.poll_seconds, 2);
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let env = |k: &str| (k == "CORRIDOR_SCHEDULER_ENABLED").then(|| "perhaps".to_string());
        let e = Config::parse("corridor.toml", DEFAULTS, env).unwrap_err().to_string();
        assert!(e.contains("CORRIDOR_SCHEDULER_ENABLED"), "{e}");
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let text = DEFAULTS.replace("bind = \"127.0.0.1:8080\"", "bind = 127.0.0.1:8080");
        let e = Config::parse("corridor.toml", &text, |_| None).unwrap_err().to_string();
        assert!(e.starts_with("corridor.toml:7:"), "{e}");
    }

    #[test]
    fn wrong_type_in_file_names_line() {
        let text = DEFAULTS.replace("poll_seconds = 5", "poll_seconds = \"often\"");
        let e = Config::parse("corridor.toml", &text, |_| None).unwrap_err().to_string();
        assert!(e.starts_with("corridor.toml:") && e.contains("poll_seconds: invalid type"), "{e}");
    }
}

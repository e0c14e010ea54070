//! Outgoing e-mail: rendering from templates, and sending through SMTP or into a folder.
//!
//! # Transport
//!
//! [`Mailer`] is built from [`MailConfig`]. With an `smtp_url` it sends through lettre:
//! `smtp://host:25` (plain, for local relays), `smtp://user:pass@host:587?tls=required`
//! (STARTTLS), `smtps://user:pass@host:465` (TLS); user and password percent-encoded. Without
//! one, each message is written as `<outbox_dir>/<id>.eml` (the id taken from its Message-ID, so
//! a retried message overwrites itself instead of appearing twice) and logged.
//!
//! Every message has a Message-ID derived from its deduplication key
//! ([`message_id_for`]): `<first 32 hex digits of sha256(key)@domain>`, so that a message
//! sent again after a crash carries the same id and receiving systems can drop the copy.
//!
//! Failures are classified ([`MailError::kind`]): an SMTP 5xx reply or an invalid address is
//! permanent (dead letter at once); refused connections, time-outs, TLS trouble and 4xx replies
//! are transient (retry later).
//!
//! # Templates
//!
//! `config/templates/email/NAME.txt` is the text part: its first line is `Subject: ...`, then
//! a blank line, then the body. `NAME.html`, when present, is the HTML part (the subject still
//! comes from the text file). Language variants are `NAME.ar.txt`, `NAME.ur.html`, ...; a
//! language without its own text falls back to English (`NAME.txt`, `NAME.html`), and an HTML
//! part is only used together with the text of the same language. Files whose name starts
//! with `_` are layouts and partials for `{% extends %}` / `{% include %}`. Everything is Tera
//! 1 syntax; HTML templates are auto-escaped, text templates and subjects are not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{Address, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::retry::FailureKind;

pub use tera::Context as TemplateContext;

/// Default time allowed for one SMTP exchange.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Bad SMTP URL or sender address in the configuration.
    #[error("mail configuration: {0}")]
    Config(String),
    /// A recipient or sender address that is not an e-mail address.
    #[error("bad e-mail address {0}")]
    Address(String),
    /// The message could not be assembled (no recipient, ...).
    #[error("cannot build the e-mail: {0}")]
    Build(String),
    #[error("e-mail template {template}: {message}")]
    Template { template: String, message: String },
    /// The SMTP exchange failed. `code` is the server's reply code when there was one.
    #[error("SMTP {}: {message}", kind_word(*.kind))]
    Smtp { kind: FailureKind, code: Option<u16>, message: String },
    /// Writing the `.eml` file failed.
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn kind_word(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Transient => "temporary failure",
        FailureKind::Permanent => "permanent failure",
    }
}

impl MailError {
    /// Whether another try may succeed.
    pub fn kind(&self) -> FailureKind {
        match self {
            MailError::Smtp { kind, .. } => *kind,
            // A full disk or a missing folder can be fixed while the message waits.
            MailError::Io { .. } => FailureKind::Transient,
            MailError::Config(_) | MailError::Address(_) | MailError::Build(_) | MailError::Template { .. } => {
                FailureKind::Permanent
            }
        }
    }

    pub fn is_transient(&self) -> bool {
        self.kind() == FailureKind::Transient
    }

    pub fn is_permanent(&self) -> bool {
        self.kind() == FailureKind::Permanent
    }
}

/// `<sha256(dedup_key)[..32 hex]@domain>`: the same key always gives the same Message-ID.
pub fn message_id_for(dedup_key: &str, domain: &str) -> String {
    let digest = hex::encode(Sha256::digest(dedup_key.as_bytes()));
    let domain = domain.trim().trim_matches(|c| c == '<' || c == '>' || c == '@');
    let domain = if domain.is_empty() || !domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
        "corridor.local"
    } else {
        domain
    };
    format!("<{}@{}>", &digest[..32], domain)
}

/// A name and an address, e.g. ("Ayesha Khan", "ayesha@firm.pk").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailAddress {
    pub name: Option<String>,
    pub address: String,
}

impl EmailAddress {
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        let name = name.into();
        EmailAddress { name: if name.trim().is_empty() { None } else { Some(name) }, address: address.into() }
    }

    pub fn bare(address: impl Into<String>) -> Self {
        EmailAddress { name: None, address: address.into() }
    }

    fn mailbox(&self) -> Result<Mailbox, MailError> {
        let address = Address::from_str(self.address.trim())
            .map_err(|e| MailError::Address(format!("`{}`: {e}", self.address)))?;
        // Line breaks in a display name would be folded by lettre anyway; keep names on a line.
        let name = self.name.as_ref().map(|n| one_line(n)).filter(|n| !n.is_empty());
        Ok(Mailbox::new(name, address))
    }
}

impl From<(&str, &str)> for EmailAddress {
    fn from((name, address): (&str, &str)) -> Self {
        EmailAddress::new(name, address)
    }
}

/// One message ready to send.
#[derive(Debug, Clone, Serialize)]
pub struct OutgoingEmail {
    pub to: Vec<EmailAddress>,
    /// `None`: the configured sender.
    pub from: Option<EmailAddress>,
    pub reply_to: Option<EmailAddress>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// With angle brackets, e.g. from [`message_id_for`] or [`Mailer::message_id_for`].
    pub message_id: String,
    /// The language the message is written in (`Content-Language`), e.g. `ar`.
    pub language: Option<String>,
}

impl OutgoingEmail {
    pub fn new(to: Vec<EmailAddress>, rendered: RenderedEmail, message_id: String) -> Self {
        OutgoingEmail {
            to,
            from: None,
            reply_to: None,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            message_id,
            language: Some(rendered.language),
        }
    }
}

/// How the message left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted by the SMTP server, with its reply.
    Smtp { reply: String },
    /// Written to the outbox folder.
    File { path: PathBuf },
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `None` or empty: write `.eml` files into `outbox_dir`.
    pub smtp_url: Option<String>,
    /// The sender, e.g. `Corridor <no-reply@corridor.local>`.
    pub from: String,
    pub outbox_dir: PathBuf,
    /// Right-hand side of Message-IDs; `None`: the sender's domain.
    pub message_id_domain: Option<String>,
    pub timeout: Duration,
}

impl MailConfig {
    pub fn new(smtp_url: Option<String>, from: impl Into<String>, outbox_dir: impl Into<PathBuf>) -> Self {
        MailConfig {
            smtp_url,
            from: from.into(),
            outbox_dir: outbox_dir.into(),
            message_id_domain: None,
            timeout: DEFAULT_SMTP_TIMEOUT,
        }
    }
}

enum Transport {
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
    Folder(PathBuf),
}

/// Sends [`OutgoingEmail`]s through SMTP or into the outbox folder.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    domain: String,
    /// For logs: the SMTP URL without its password.
    describe: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("transport", &self.describe).field("from", &self.from.to_string()).finish()
    }
}

impl Mailer {
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let from = Mailbox::from_str(config.from.trim())
            .map_err(|e| MailError::Config(format!("sender `{}`: {e}", config.from)))?;
        let domain = config
            .message_id_domain
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| from.email.domain().to_string());
        let url = config.smtp_url.as_deref().map(str::trim).filter(|u| !u.is_empty());
        let (transport, describe) = match url {
            Some(url) => {
                let shown = redact_url(url);
                // lettre's connection pool starts a task: it needs the Tokio runtime.
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(MailError::Config("an SMTP mailer must be created inside the Tokio runtime".into()));
                }
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| MailError::Config(format!("SMTP URL `{shown}`: {}", error_chain(&e))))?;
                let transport = builder.timeout(Some(config.timeout)).build();
                (Transport::Smtp(Box::new(transport)), shown)
            }
            None => (Transport::Folder(config.outbox_dir.clone()), format!("folder {}", config.outbox_dir.display())),
        };
        Ok(Mailer { transport, from, domain, describe })
    }

    /// True when messages go to an SMTP server, false when they are written to a folder.
    pub fn uses_smtp(&self) -> bool {
        matches!(self.transport, Transport::Smtp(_))
    }

    /// Where messages go, for logs and the admin page (no password).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// The Message-ID for a deduplication key, with the configured domain.
    pub fn message_id_for(&self, dedup_key: &str) -> String {
        message_id_for(dedup_key, &self.domain)
    }

    /// The message as it will be sent.
    pub fn build(&self, email: &OutgoingEmail) -> Result<Message, MailError> {
        if email.to.is_empty() {
            return Err(MailError::Build("the message has no recipient".into()));
        }
        let from = match &email.from {
            Some(f) => f.mailbox()?,
            None => self.from.clone(),
        };
        let mut builder = Message::builder().from(from).subject(one_line(&email.subject));
        for to in &email.to {
            builder = builder.to(to.mailbox()?);
        }
        if let Some(r) = &email.reply_to {
            builder = builder.reply_to(r.mailbox()?);
        }
        let id = email.message_id.trim();
        let id = if id.is_empty() {
            return Err(MailError::Build("the message has no Message-ID".into()));
        } else if id.starts_with('<') && id.ends_with('>') {
            one_line(id)
        } else {
            format!("<{}>", one_line(id))
        };
        builder = builder.message_id(Some(id));
        // RFC 3834: tell auto-responders not to answer.
        builder = builder
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()));
        if let Some(lang) = email.language.as_deref().and_then(clean_language) {
            builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Content-Language"), lang));
        }
        let built = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(email.text.clone(), html.clone())),
            None => builder.singlepart(SinglePart::plain(email.text.clone())),
        };
        built.map_err(|e| MailError::Build(e.to_string()))
    }

    /// Sends one message.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<Delivery, MailError> {
        let message = self.build(email)?;
        let to: Vec<&str> = email.to.iter().map(|t| t.address.as_str()).collect();
        match &self.transport {
            Transport::Smtp(transport) => match transport.send(message).await {
                Ok(reply) => {
                    let reply = reply.message().collect::<Vec<_>>().join(" ");
                    tracing::info!(message_id = %email.message_id, to = ?to, subject = %email.subject, "e-mail sent");
                    Ok(Delivery::Smtp { reply })
                }
                Err(e) => {
                    let err = classify_smtp(&e);
                    tracing::warn!(message_id = %email.message_id, to = ?to, error = %err, "e-mail not sent");
                    Err(err)
                }
            },
            Transport::Folder(dir) => {
                let path = dir.join(format!("{}.eml", file_stem_for(&email.message_id)));
                write_atomically(&path, &message.formatted()).await?;
                tracing::info!(
                    message_id = %email.message_id,
                    to = ?to,
                    subject = %email.subject,
                    path = %path.display(),
                    "no SMTP server configured: e-mail written to the outbox folder"
                );
                Ok(Delivery::File { path })
            }
        }
    }
}

fn classify_smtp(e: &lettre::transport::smtp::Error) -> MailError {
    let code = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
    let kind = if e.is_permanent() { FailureKind::Permanent } else { FailureKind::Transient };
    MailError::Smtp { kind, code, message: error_chain(e) }
}

/// `smtp://user:secret@host` shown as `smtp://user:***@host`.
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparsable URL)".to_string(),
    }
}

/// A safe file name from a Message-ID: its local part when that is plain, else a hash.
fn file_stem_for(message_id: &str) -> String {
    let inner = message_id.trim().trim_start_matches('<').trim_end_matches('>');
    let local = inner.split('@').next().unwrap_or_default();
    if !local.is_empty()
        && local.len() <= 64
        && local.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        local.to_string()
    } else {
        hex::encode(Sha256::digest(message_id.as_bytes()))[..32].to_string()
    }
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), MailError> {
    let io = |source| MailError::Io { path: path.display().to_string(), source };
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    tokio::fs::write(&tmp, bytes).await.map_err(io)?;
    if let Err(e) = tokio::fs::rename(&tmp, path).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(io(e));
    }
    Ok(())
}

fn one_line(text: &str) -> String {
    text.split(['\r', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Templates

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// The language actually used (`en` when the requested one had no template).
    pub language: String,
}

/// The e-mail templates of one folder.
#[derive(Debug)]
pub struct EmailTemplates {
    tera: tera::Tera,
    /// (name, language) -> has an HTML part. English is "en".
    variants: BTreeMap<(String, String), bool>,
}

const ENGLISH: &str = crate::lang::Lang::En.code();

/// Primary language subtag, lower case: `ar-QA` -> `ar`. `None` when it is not a language tag.
fn clean_language(lang: &str) -> Option<String> {
    let primary = lang.trim().split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
    if (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase()) {
        Some(primary)
    } else {
        None
    }
}

fn tera_error(template: &str, e: &tera::Error) -> MailError {
    MailError::Template { template: template.to_string(), message: error_chain(e) }
}

impl EmailTemplates {
    /// Loads every `.txt` and `.html` file of `dir` (see the module documentation).
    pub fn load(dir: &Path) -> Result<Self, MailError> {
        let io = |source| MailError::Io { path: dir.display().to_string(), source };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut loaded = Vec::new();
        for path in files {
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
            if !(file_name.ends_with(".txt") || file_name.ends_with(".html")) {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|source| MailError::Io { path: path.display().to_string(), source })?;
            loaded.push((file_name, text));
        }
        Self::from_sources(loaded.iter().map(|(n, t)| (n.as_str(), t.as_str())), &dir.display().to_string())
    }

    /// Builds from (file name, content) pairs; `origin` prefixes file names in messages.
    pub fn from_sources<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        origin: &str,
    ) -> Result<Self, MailError> {
        let shown = |file: &str| if origin.is_empty() { file.to_string() } else { format!("{origin}/{file}") };
        let mut raw: Vec<(String, String)> = Vec::new();
        let mut variants: BTreeMap<(String, String), bool> = BTreeMap::new();
        let mut html_only: BTreeSet<(String, String)> = BTreeSet::new();
        for (file, content) in files {
            let content = content.strip_prefix('\u{feff}').unwrap_or(content);
            if file.starts_with('_') {
                raw.push((file.to_string(), content.to_string()));
                continue;
            }
            let (stem, is_html) = match (file.strip_suffix(".txt"), file.strip_suffix(".html")) {
                (Some(s), _) => (s, false),
                (_, Some(s)) => (s, true),
                _ => continue,
            };
            let (name, lang) = match stem.rsplit_once('.') {
                Some((name, lang)) => match clean_language(lang) {
                    Some(l) if l == lang => (name.to_string(), l),
                    _ => {
                        return Err(MailError::Template {
                            template: shown(file),
                            message: format!("`{lang}` is not a language code; name files NAME.txt or NAME.ar.txt"),
                        });
                    }
                },
                None => (stem.to_string(), ENGLISH.to_string()),
            };
            if name.is_empty() {
                return Err(MailError::Template {
                    template: shown(file),
                    message: "the file name has no template name".into(),
                });
            }
            if is_html {
                html_only.insert((name.clone(), lang.clone()));
                raw.push((file.to_string(), content.to_string()));
                continue;
            }
            let (subject, body) = split_subject(content).map_err(|(line, msg)| MailError::Template {
                template: format!("{}:{line}:1", shown(file)),
                message: msg,
            })?;
            raw.push((format!("{file}#subject"), subject));
            raw.push((file.to_string(), body));
            variants.insert((name, lang), false);
        }
        for key in html_only {
            match variants.get_mut(&key) {
                Some(has_html) => *has_html = true,
                None => {
                    let file =
                        if key.1 == ENGLISH { format!("{}.html", key.0) } else { format!("{}.{}.html", key.0, key.1) };
                    return Err(MailError::Template {
                        template: shown(&file),
                        message: "an HTML template needs the text template of the same name (which gives the subject)"
                            .into(),
                    });
                }
            }
        }
        let mut tera = tera::Tera::default();
        tera.add_raw_templates(raw).map_err(|e| tera_error(origin, &e))?;
        Ok(EmailTemplates { tera, variants })
    }

    /// The template names (without language), sorted.
    pub fn names(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.variants.keys().map(|(n, _)| n).collect();
        set.into_iter().cloned().collect()
    }

    /// Whether `name` exists (in English or any language).
    pub fn contains(&self, name: &str) -> bool {
        self.variants.keys().any(|(n, _)| n == name)
    }

    /// The languages `name` is written in.
    pub fn languages(&self, name: &str) -> Vec<String> {
        self.variants.keys().filter(|(n, _)| n == name).map(|(_, l)| l.clone()).collect()
    }

    /// Renders `name` in `lang` (falling back to English): subject, text and optional HTML.
    pub fn render(&self, name: &str, lang: &str, context: &tera::Context) -> Result<RenderedEmail, MailError> {
        let wanted = clean_language(lang).unwrap_or_else(|| ENGLISH.to_string());
        let (lang, has_html) = match self.variants.get(&(name.to_string(), wanted.clone())) {
            Some(h) => (wanted, *h),
            None => match self.variants.get(&(name.to_string(), ENGLISH.to_string())) {
                Some(h) => (ENGLISH.to_string(), *h),
                None => {
                    return Err(MailError::Template {
                        template: name.to_string(),
                        message: if self.contains(name) {
                            format!("no English text and none in `{lang}`")
                        } else {
                            "no such template".into()
                        },
                    });
                }
            },
        };
        let base = if lang == ENGLISH { name.to_string() } else { format!("{name}.{lang}") };
        let txt = format!("{base}.txt");
        let subject = self.tera.render(&format!("{txt}#subject"), context).map_err(|e| tera_error(&txt, &e))?;
        let subject = one_line(&subject);
        if subject.is_empty() {
            return Err(MailError::Template { template: txt, message: "the subject is empty once rendered".into() });
        }
        let text = self.tera.render(&txt, context).map_err(|e| tera_error(&txt, &e))?;
        let html = if has_html {
            let file = format!("{base}.html");
            Some(self.tera.render(&file, context).map_err(|e| tera_error(&file, &e))?)
        } else {
            None
        };
        Ok(RenderedEmail { subject, text, html, language: lang })
    }
}

/// `Subject: ...`, a blank line, the body. Errors carry the 1-based line.
fn split_subject(content: &str) -> Result<(String, String), (usize, String)> {
    let mut lines = content.splitn(3, '\n');
    let first = lines.next().unwrap_or_default().trim_end_matches('\r');
    let Some(subject) = first.strip_prefix("Subject:") else {
        return Err((1, "the first line must be `Subject: ...`".into()));
    };
    let subject = subject.trim();
    if subject.is_empty() {
        return Err((1, "the subject is empty".into()));
    }
    match lines.next() {
        None => Ok((subject.to_string(), String::new())),
        Some(blank) if blank.trim().is_empty() => {
            Ok((subject.to_string(), lines.next().unwrap_or_default().to_string()))
        }
        Some(_) => Err((2, "the subject line must be followed by a blank line".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> EmailTemplates {
        EmailTemplates::from_sources(
            [
                ("deadline_near.txt", "Subject: Due soon: {{ reference }}\n\nDear {{ name }},\n{{ reference }} is due by {{ deadline }}.\n"),
                ("deadline_near.html", "{% extends \"_layout.html\" %}{% block body %}<p>{{ reference }} &amp; {{ name }}</p>{% endblock %}"),
                ("deadline_near.ar.txt", "Subject: موعد قريب: {{ reference }}\r\n\r\nالسادة {{ name }}\r\n"),
                ("_layout.html", "<html><body>{% block body %}{% endblock %}</body></html>"),
                ("visa_issued.txt", "Subject: Visa issued\n\nGood news, {{ name }}."),
                ("visa_issued.ur.txt", "Subject: ویزا جاری\n\n{{ name }}"),
                ("visa_issued.ur.html", "<p dir=\"rtl\">{{ name }}</p>"),
                ("notes.md", "ignored"),
            ],
            "t",
        )
        .unwrap()
    }

    fn ctx() -> tera::Context {
        let mut c = tera::Context::new();
        c.insert("reference", "QA-BV-2026-000123-K");
        c.insert("name", "Ayesha <Khan>");
        c.insert("deadline", "Sun 8 March 2026");
        c
    }

    #[test]
    fn renders_subject_text_and_html() {
        let t = templates();
        let r = t.render("deadline_near", "en", &ctx()).unwrap();
        assert_eq!(r.subject, "Due soon: QA-BV-2026-000123-K");
        assert_eq!(r.text, "Dear Ayesha <Khan>,\nQA-BV-2026-000123-K is due by Sun 8 March 2026.\n");
        // HTML is escaped, the text is not.
        assert_eq!(
            r.html.as_deref(),
            Some("<html><body><p>QA-BV-2026-000123-K &amp; Ayesha &lt;Khan&gt;</p></body></html>")
        );
        assert_eq!(r.language, "en");
        assert_eq!(t.names(), vec!["deadline_near", "visa_issued"]);
        assert!(t.contains("visa_issued"));
        assert!(!t.contains("_layout"));
        assert_eq!(t.languages("visa_issued"), vec!["en", "ur"]);
    }

    #[test]
    fn languages_fall_back_to_english() {
        let t = templates();
        let ar = t.render("deadline_near", "ar-QA", &ctx()).unwrap();
        assert_eq!(ar.subject, "موعد قريب: QA-BV-2026-000123-K");
        assert_eq!(ar.language, "ar");
        // No Arabic HTML: the English HTML is not mixed in with Arabic text.
        assert_eq!(ar.html, None);
        let ur = t.render("deadline_near", "ur", &ctx()).unwrap();
        assert_eq!(ur.language, "en");
        assert!(ur.html.is_some());
        let ur = t.render("visa_issued", "UR", &ctx()).unwrap();
        assert_eq!(ur.html.as_deref(), Some("<p dir=\"rtl\">Ayesha &lt;Khan&gt;</p>"));
        for junk in ["", "../../etc", "a\nb", "ﻉﺮﺑ"] {
            assert_eq!(t.render("visa_issued", junk, &ctx()).unwrap().language, "en");
        }
    }

    #[test]
    fn render_errors_are_reported_not_panicked() {
        let t = templates();
        let e = t.render("nope", "en", &ctx()).unwrap_err();
        assert!(e.to_string().contains("no such template"), "{e}");
        assert_eq!(e.kind(), FailureKind::Permanent);
        // A missing variable names the template and the variable.
        let e = t.render("deadline_near", "en", &tera::Context::new()).unwrap_err();
        assert!(e.to_string().contains("deadline_near.txt"), "{e}");
        assert!(e.to_string().contains("reference"), "{e}");
    }

    #[test]
    fn template_files_are_checked() {
        let bad = |files: Vec<(&str, &str)>| EmailTemplates::from_sources(files, "dir").unwrap_err().to_string();
        assert!(bad(vec![("a.txt", "Hello\n\nbody")]).contains("dir/a.txt:1:1: the first line must be `Subject: ...`"));
        assert!(bad(vec![("a.txt", "Subject: x\nbody")]).contains("dir/a.txt:2:1"));
        assert!(bad(vec![("a.txt", "Subject:   \n\nbody")]).contains("subject is empty"));
        assert!(bad(vec![("a.english.txt", "Subject: x\n\n")]).contains("not a language code"));
        assert!(bad(vec![("a.html", "<p>")]).contains("needs the text template"));
        assert!(bad(vec![("a.txt", "Subject: {{ x \n\nbody")]).contains("dir"));
        assert!(bad(vec![("a.txt", "Subject: x\n\n{% extends \"_missing.txt\" %}")]).contains("dir"));
        // A subject alone is fine.
        let t = EmailTemplates::from_sources([("a.txt", "Subject: only")], "").unwrap();
        assert_eq!(t.render("a", "en", &tera::Context::new()).unwrap().text, "");
    }

    #[test]
    fn subject_lines_stay_on_one_line() {
        let t = EmailTemplates::from_sources([("a.txt", "Subject: {{ s }}\n\nx")], "").unwrap();
        let mut c = tera::Context::new();
        c.insert("s", "one\r\nBcc: victim@example.org");
        assert_eq!(t.render("a", "en", &c).unwrap().subject, "one Bcc: victim@example.org");
    }

    #[test]
    fn shipped_templates_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/templates/email");
        if dir.is_dir() {
            let t = EmailTemplates::load(&dir).unwrap();
            assert!(!t.names().is_empty());
        }
    }

    #[test]
    fn message_ids_are_stable_per_key() {
        let a = message_id_for("reminder:QA-BV-2026-000123-K:ministry_review:1", "corridor.local");
        assert_eq!(a, message_id_for("reminder:QA-BV-2026-000123-K:ministry_review:1", "corridor.local"));
        assert_ne!(a, message_id_for("reminder:QA-BV-2026-000123-K:ministry_review:2", "corridor.local"));
        assert!(a.starts_with('<') && a.ends_with("@corridor.local>"));
        assert_eq!(a.len(), 1 + 32 + 1 + "corridor.local".len() + 1);
        assert!(message_id_for("k", "bad domain\r\n").ends_with("@corridor.local>"));
        assert!(message_id_for("k", "mail.example.qa").ends_with("@mail.example.qa>"));
    }

    fn outgoing() -> OutgoingEmail {
        OutgoingEmail {
            to: vec![EmailAddress::new("Ayesha Khan", "ayesha@firm.example"), ("", "desk@firm.example").into()],
            from: None,
            reply_to: Some(EmailAddress::bare("help@corridor.example")),
            subject: "Due soon".into(),
            text: "Plain text body".into(),
            html: Some("<p>HTML body</p>".into()),
            message_id: message_id_for("k1", "corridor.example"),
            language: Some("ar".into()),
        }
    }

    #[test]
    fn builds_a_message_with_headers() {
        let m = Mailer::new(&MailConfig::new(None, "Corridor <no-reply@corridor.example>", "/nonexistent")).unwrap();
        assert!(!m.uses_smtp());
        assert_eq!(m.message_id_for("k1"), message_id_for("k1", "corridor.example"));
        let raw = String::from_utf8(m.build(&outgoing()).unwrap().formatted()).unwrap();
        assert!(raw.contains("From: Corridor <no-reply@corridor.example>"), "{raw}");
        assert!(raw.contains("To: \"Ayesha Khan\" <ayesha@firm.example>, desk@firm.example"), "{raw}");
        assert!(raw.contains(&format!("Message-ID: {}", message_id_for("k1", "corridor.example"))), "{raw}");
        assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
        assert!(raw.contains("Content-Language: ar"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        let mut e = outgoing();
        e.to.clear();
        assert!(matches!(m.build(&e), Err(MailError::Build(_))));
        let mut e = outgoing();
        e.to.push(EmailAddress::bare("not an address"));
        let err = m.build(&e).unwrap_err();
        assert!(matches!(err, MailError::Address(_)) && err.is_permanent(), "{err}");
        let mut e = outgoing();
        e.message_id = "plain-id@x".into();
        let raw = String::from_utf8(m.build(&e).unwrap().formatted()).unwrap();
        assert!(raw.contains("Message-ID: <plain-id@x>"), "{raw}");
    }

    #[test]
    fn smtp_outside_the_runtime_is_an_error_not_a_panic() {
        let e = Mailer::new(&MailConfig::new(Some("smtp://127.0.0.1:2525".into()), "a@b.example", "x")).unwrap_err();
        assert!(matches!(e, MailError::Config(_)), "{e}");
    }

    #[tokio::test]
    async fn bad_configuration_is_refused() {
        assert!(matches!(Mailer::new(&MailConfig::new(None, "nobody", "x")), Err(MailError::Config(_))));
        for url in ["gopher://127.0.0.1", "smtp://", "not a url", "smtp://127.0.0.1?tls=sometimes"] {
            let e = Mailer::new(&MailConfig::new(Some(url.into()), "a@b.example", "x")).unwrap_err();
            assert!(matches!(e, MailError::Config(_)), "{url}: {e}");
        }
        let m =
            Mailer::new(&MailConfig::new(Some("smtp://u:hunter2@127.0.0.1:2525".into()), "a@b.example", "x")).unwrap();
        assert!(m.uses_smtp());
        assert!(!m.describe().contains("hunter2"), "{}", m.describe());
        assert!(!format!("{m:?}").contains("hunter2"));
        // An empty URL means the folder.
        assert!(!Mailer::new(&MailConfig::new(Some("  ".into()), "a@b.example", "x")).unwrap().uses_smtp());
        for url in ["smtps://u:p@127.0.0.1", "smtp://127.0.0.1:587?tls=required", "smtp://127.0.0.1?tls=opportunistic"]
        {
            assert!(Mailer::new(&MailConfig::new(Some(url.into()), "a@b.example", "x")).is_ok(), "{url}");
        }
    }

    #[tokio::test]
    async fn writes_eml_files_when_no_smtp_server_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("data/outbox");
        let m = Mailer::new(&MailConfig::new(None, "Corridor <no-reply@corridor.example>", &outbox)).unwrap();
        let delivery = m.send(&outgoing()).await.unwrap();
        let Delivery::File { path } = delivery else { panic!("{delivery:?}") };
        assert!(path.starts_with(&outbox));
        let raw = std::fs::read_to_string(&path).unwrap();
        assert!(raw.contains("Subject: Due soon"));
        // Sent again (a retry): the same file, not a second one.
        m.send(&outgoing()).await.unwrap();
        assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1);
        assert_eq!(file_stem_for("<../../etc/passwd@x>").len(), 32);
        assert_eq!(file_stem_for(&message_id_for("k", "d")).len(), 32);
    }

    #[tokio::test]
    async fn an_unwritable_outbox_is_a_transient_failure() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let m = Mailer::new(&MailConfig::new(None, "a@b.example", file.join("outbox"))).unwrap();
        let e = m.send(&outgoing()).await.unwrap_err();
        assert!(matches!(e, MailError::Io { .. }) && e.is_transient(), "{e}");
    }
}

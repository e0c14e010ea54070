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
//! Each template NAME is six files in `config/templates/email/`: `NAME.LANG.txt`, the text
//! part (its first line `Subject: ...`, a blank line, then the body), and `NAME.LANG.html`, the
//! HTML part (its subject is the text file's), for every language Corridor speaks ([`LANGS`]:
//! `en`, `ar`, `ur`). The loader is strict: a file that does not name its language, a language
//! Corridor does not speak, or a template missing a language or a part is an error at start
//! naming the file (every problem at once), so that nobody is ever written to in a language
//! they did not choose. Files whose name starts with `_` are layouts and partials for
//! `{% extends %}` / `{% include %}`. Everything is Tera 1 syntax; HTML templates are
//! auto-escaped, text templates and subjects are not. Every template gets `lang` (the code) and
//! `dir` (`ltr` or `rtl`); the HTML part also the rendered `subject`.
//!
//! Right-to-left messages: in HTML, English fragments go in `<bdi dir="ltr">` (references,
//! addresses, numbers such as an NTN) or `<bdi>` (names and labels, of either script). In plain
//! text the filters `ltr` (U+2066 LEFT-TO-RIGHT ISOLATE … U+2069) and `isolate` (U+2068 FIRST
//! STRONG ISOLATE … U+2069) do the same, line by line. A URL alone on its line needs neither.

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

use crate::lang::{LANGS, Lang};
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
    /// The template folder does not load: every problem, each naming its file.
    #[error("e-mail templates:\n  {}", .0.join("\n  "))]
    Templates(Vec<String>),
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
            MailError::Config(_)
            | MailError::Address(_)
            | MailError::Build(_)
            | MailError::Template { .. }
            | MailError::Templates(_) => FailureKind::Permanent,
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
            html: Some(rendered.html),
            message_id,
            language: Some(rendered.language.code().to_string()),
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
    pub html: String,
    pub language: Lang,
}

/// The two parts every template has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Text,
    Html,
}

impl Part {
    const ALL: [Part; 2] = [Part::Text, Part::Html];

    fn extension(self) -> &'static str {
        match self {
            Part::Text => "txt",
            Part::Html => "html",
        }
    }
}

fn file_name(name: &str, lang: Lang, part: Part) -> String {
    format!("{name}.{}.{}", lang.code(), part.extension())
}

/// The e-mail templates of one folder: every template in every language, as text and HTML.
#[derive(Debug)]
pub struct EmailTemplates {
    tera: tera::Tera,
    names: BTreeSet<String>,
}

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

/// Wraps each line of a value in `open` … U+2069 (POP DIRECTIONAL ISOLATE), so that a
/// reference, an address or a name keeps its own direction inside a right-to-left sentence of
/// a plain-text message (and stray direction marks inside it end with it). Lines, because an
/// isolate ends at the end of its line.
fn isolate(value: &tera::Value, open: char) -> tera::Result<tera::Value> {
    let text = match value {
        tera::Value::String(s) => s.clone(),
        tera::Value::Null => String::new(),
        other => other.to_string(),
    };
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            let (line, cr) = match line.strip_suffix('\r') {
                Some(l) => (l, "\r"),
                None => (line, ""),
            };
            if line.trim().is_empty() { format!("{line}{cr}") } else { format!("{open}{line}\u{2069}{cr}") }
        })
        .collect();
    Ok(tera::Value::String(lines.join("\n")))
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
    /// Every problem found is reported at once.
    pub fn from_sources<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        origin: &str,
    ) -> Result<Self, MailError> {
        let shown = |file: &str| if origin.is_empty() { file.to_string() } else { format!("{origin}/{file}") };
        let mut problems = Vec::new();
        let mut raw: Vec<(String, String)> = Vec::new();
        let mut found: BTreeMap<String, BTreeSet<(Lang, Part)>> = BTreeMap::new();
        for (file, content) in files {
            let content = content.strip_prefix('\u{feff}').unwrap_or(content);
            if file.starts_with('_') {
                raw.push((file.to_string(), content.to_string()));
                continue;
            }
            let (stem, part) = match (file.strip_suffix(".txt"), file.strip_suffix(".html")) {
                (Some(s), _) => (s, Part::Text),
                (_, Some(s)) => (s, Part::Html),
                _ => continue,
            };
            let Some((name, code)) = stem.rsplit_once('.') else {
                problems.push(format!(
                    "{}: name the file {stem}.en.{}: each template file names its language (NAME.LANG.txt and NAME.LANG.html)",
                    shown(file),
                    part.extension()
                ));
                continue;
            };
            let Some(lang) = Lang::from_code(code).filter(|l| l.code() == code) else {
                let known: Vec<&str> = LANGS.iter().map(|l| l.code()).collect();
                problems.push(format!(
                    "{}: `{code}` is not a language Corridor speaks ({})",
                    shown(file),
                    known.join(", ")
                ));
                continue;
            };
            if name.is_empty() || name.contains('.') {
                problems.push(format!("{}: a template is named NAME.LANG.txt, NAME a single word", shown(file)));
                continue;
            }
            match part {
                Part::Text => match split_subject(content) {
                    Ok((subject, body)) => {
                        raw.push((format!("{file}#subject"), subject));
                        raw.push((file.to_string(), body));
                    }
                    Err((line, message)) => {
                        problems.push(format!("{}:{line}:1: {message}", shown(file)));
                        continue;
                    }
                },
                Part::Html => raw.push((file.to_string(), content.to_string())),
            }
            found.entry(name.to_string()).or_default().insert((lang, part));
        }
        for (name, have) in &found {
            for &lang in LANGS {
                for part in Part::ALL {
                    if !have.contains(&(lang, part)) {
                        problems.push(format!(
                            "{}: missing: each template is written in every language ({}), as text and HTML",
                            shown(&file_name(name, lang, part)),
                            LANGS.iter().map(|l| l.code()).collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
            }
        }
        let mut tera = tera::Tera::default();
        tera.register_filter("ltr", |v: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            isolate(v, '\u{2066}')
        });
        tera.register_filter("isolate", |v: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            isolate(v, '\u{2068}')
        });
        if problems.is_empty()
            && let Err(e) = tera.add_raw_templates(raw)
        {
            problems.push(format!("{}: {}", if origin.is_empty() { "templates" } else { origin }, error_chain(&e)));
        }
        if !problems.is_empty() {
            return Err(MailError::Templates(problems));
        }
        Ok(EmailTemplates { tera, names: found.into_keys().collect() })
    }

    /// The template names (without language), sorted.
    pub fn names(&self) -> Vec<String> {
        self.names.iter().cloned().collect()
    }

    /// Whether `name` exists (then in every language, as text and HTML).
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// Renders `name` in `lang`: subject, text and HTML. The templates also get `lang` (its
    /// code), `dir` (`ltr` or `rtl`) and, the HTML, the rendered `subject`.
    pub fn render(&self, name: &str, lang: Lang, context: &tera::Context) -> Result<RenderedEmail, MailError> {
        if !self.contains(name) {
            return Err(MailError::Template { template: name.to_string(), message: "no such template".into() });
        }
        let mut context = context.clone();
        context.insert("lang", lang.code());
        context.insert("dir", lang.dir());
        let txt = file_name(name, lang, Part::Text);
        let subject = self.tera.render(&format!("{txt}#subject"), &context).map_err(|e| tera_error(&txt, &e))?;
        let subject = one_line(&subject);
        if subject.is_empty() {
            return Err(MailError::Template { template: txt, message: "the subject is empty once rendered".into() });
        }
        let text = self.tera.render(&txt, &context).map_err(|e| tera_error(&txt, &e))?;
        context.insert("subject", &subject);
        let file = file_name(name, lang, Part::Html);
        let html = self.tera.render(&file, &context).map_err(|e| tera_error(&file, &e))?;
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

    /// A template in every language and part; `extra` adds or replaces files.
    fn files(name: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        for lang in LANGS {
            let code = lang.code();
            files.insert(format!("{name}.{code}.txt"), format!("Subject: {code} {{{{ reference }}}}\n\n{code} body\n"));
            files.insert(format!("{name}.{code}.html"), format!("<p>{code}</p>"));
        }
        for (f, c) in extra {
            files.insert(f.to_string(), c.to_string());
        }
        files.into_iter().collect()
    }

    fn build(files: &[(String, String)], origin: &str) -> Result<EmailTemplates, MailError> {
        EmailTemplates::from_sources(files.iter().map(|(f, c)| (f.as_str(), c.as_str())), origin)
    }

    fn templates() -> EmailTemplates {
        let mut all = files(
            "deadline_near",
            &[
                (
                    "deadline_near.en.txt",
                    "Subject: Due soon: {{ reference }}\n\nDear {{ name }},\n{{ reference }} is due by {{ deadline }}.\n",
                ),
                (
                    "deadline_near.en.html",
                    "{% extends \"_layout.html\" %}{% block body %}<p>{{ reference }} &amp; {{ name }}</p>{% endblock %}",
                ),
                (
                    "deadline_near.ar.txt",
                    "Subject: موعد قريب: {{ reference | ltr }}\r\n\r\nالسادة {{ name | isolate }}\r\n",
                ),
                (
                    "deadline_near.ar.html",
                    "{% extends \"_layout.html\" %}{% block body %}<p>الطلب <bdi dir=\"ltr\">{{ reference }}</bdi></p>{% endblock %}",
                ),
                (
                    "_layout.html",
                    "<html lang=\"{{ lang }}\" dir=\"{{ dir }}\"><title>{{ subject }}</title><body>{% block body %}{% endblock %}</body></html>",
                ),
            ],
        );
        all.extend(files("visa_issued", &[]));
        all.push(("notes.md".into(), "ignored".into()));
        build(&all, "t").unwrap()
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
        let r = t.render("deadline_near", Lang::En, &ctx()).unwrap();
        assert_eq!(r.subject, "Due soon: QA-BV-2026-000123-K");
        assert_eq!(r.text, "Dear Ayesha <Khan>,\nQA-BV-2026-000123-K is due by Sun 8 March 2026.\n");
        // HTML is escaped, the text is not; the layout knows the language and the subject.
        assert_eq!(
            r.html,
            "<html lang=\"en\" dir=\"ltr\"><title>Due soon: QA-BV-2026-000123-K</title><body><p>QA-BV-2026-000123-K &amp; Ayesha &lt;Khan&gt;</p></body></html>"
        );
        assert_eq!(r.language, Lang::En);
        assert_eq!(t.names(), vec!["deadline_near", "visa_issued"]);
        assert!(t.contains("visa_issued"));
        assert!(!t.contains("_layout"));
    }

    #[test]
    fn right_to_left_messages_isolate_their_english_fragments() {
        let r = templates().render("deadline_near", Lang::Ar, &ctx()).unwrap();
        assert_eq!(r.language, Lang::Ar);
        assert_eq!(r.subject, "موعد قريب: \u{2066}QA-BV-2026-000123-K\u{2069}");
        assert_eq!(r.text, "السادة \u{2068}Ayesha <Khan>\u{2069}\r\n");
        assert!(r.html.starts_with("<html lang=\"ar\" dir=\"rtl\">"), "{}", r.html);
        assert!(r.html.contains("<bdi dir=\"ltr\">QA-BV-2026-000123-K</bdi>"), "{}", r.html);
        // Each line apart (an isolate ends with its line); empty lines stay empty.
        let v = isolate(&tera::Value::String("one\r\n\ntwo".into()), '\u{2068}').unwrap();
        assert_eq!(v, tera::Value::String("\u{2068}one\u{2069}\r\n\n\u{2068}two\u{2069}".into()));
    }

    #[test]
    fn render_errors_are_reported_not_panicked() {
        let t = templates();
        let e = t.render("nope", Lang::En, &ctx()).unwrap_err();
        assert!(e.to_string().contains("no such template"), "{e}");
        assert_eq!(e.kind(), FailureKind::Permanent);
        // A missing variable names the template and the variable.
        let e = t.render("deadline_near", Lang::En, &tera::Context::new()).unwrap_err();
        assert!(e.to_string().contains("deadline_near.en.txt"), "{e}");
        assert!(e.to_string().contains("reference"), "{e}");
    }

    #[test]
    fn template_files_are_checked() {
        let bad = |extra: &[(&str, &str)]| build(&files("a", extra), "dir").unwrap_err().to_string();
        assert!(
            bad(&[("a.en.txt", "Hello\n\nbody")]).contains("dir/a.en.txt:1:1: the first line must be `Subject: ...`")
        );
        assert!(bad(&[("a.ar.txt", "Subject: x\nbody")]).contains("dir/a.ar.txt:2:1"));
        assert!(bad(&[("a.ur.txt", "Subject:   \n\nbody")]).contains("subject is empty"));
        assert!(bad(&[("a.english.txt", "Subject: x\n\n")]).contains("dir/a.english.txt: `english` is not a language"));
        assert!(bad(&[("a.fr.txt", "Subject: x\n\n")]).contains("(en, ar, ur)"));
        assert!(bad(&[("a.txt", "Subject: x\n\n")]).contains("dir/a.txt: name the file a.en.txt"));
        assert!(bad(&[("a.en.txt", "Subject: {{ x \n\nbody")]).contains("dir"));
        assert!(bad(&[("a.en.txt", "Subject: x\n\n{% extends \"_missing.txt\" %}")]).contains("dir"));
        // A language or a part missing names the file; every problem at once.
        let mut some = files("a", &[]);
        some.retain(|(f, _)| f != "a.ur.html" && f != "a.ar.txt");
        some.push(("b.en.txt".into(), "Hello".into()));
        let e = build(&some, "dir").unwrap_err();
        let MailError::Templates(problems) = &e else { panic!("{e:?}") };
        assert!(problems.iter().any(|p| p.starts_with("dir/a.ur.html: missing")), "{problems:#?}");
        assert!(problems.iter().any(|p| p.starts_with("dir/a.ar.txt: missing")), "{problems:#?}");
        assert!(problems.iter().any(|p| p.starts_with("dir/b.en.txt:1:1")), "{problems:#?}");
        assert!(e.is_permanent());
        // A subject alone is fine.
        let t = build(&files("a", &[("a.en.txt", "Subject: only")]), "").unwrap();
        assert_eq!(t.render("a", Lang::En, &tera::Context::new()).unwrap().text, "");
    }

    #[test]
    fn subject_lines_stay_on_one_line() {
        let t = build(&files("a", &[("a.en.txt", "Subject: {{ s }}\n\nx")]), "").unwrap();
        let mut c = tera::Context::new();
        c.insert("s", "one\r\nBcc: victim@example.org");
        assert_eq!(t.render("a", Lang::En, &c).unwrap().subject, "one Bcc: victim@example.org");
    }

    #[test]
    fn shipped_templates_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/templates/email");
        let t = EmailTemplates::load(&dir).unwrap();
        assert!(t.contains("weekly_digest"), "{:?}", t.names());
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

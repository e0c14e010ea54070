//! E-mail against a real SMTP server on loopback (mailin-embedded), not a mock transport.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use corridor_engine::lang::Lang;
use corridor_engine::mail::{
    Delivery, EmailAddress, EmailTemplates, MailConfig, MailError, Mailer, OutgoingEmail, TemplateContext,
};
use corridor_engine::retry::FailureKind;
use mailin_embedded::{Handler, Response, Server, response};

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
struct Received {
    from: String,
    to: Vec<String>,
    data: String,
}

/// Records every message; refuses recipients whose address starts with `reject` (550) or
/// `busy` (451).
#[derive(Clone, Default)]
struct Capture {
    inbox: Arc<Mutex<Vec<Received>>>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Capture {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, from: &str) -> Response {
        self.from = from.to_string();
        self.to.clear();
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let addr = to.trim_start_matches('<');
        if addr.starts_with("reject") {
            return response::NO_MAILBOX;
        }
        if addr.starts_with("busy") {
            return response::INTERNAL_ERROR;
        }
        self.to.push(to.to_string());
        response::OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, _to: &[String]) -> Response {
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let received = Received {
            from: self.from.clone(),
            to: self.to.clone(),
            data: String::from_utf8_lossy(&self.data).into_owned(),
        };
        self.inbox.lock().unwrap().push(received);
        response::OK
    }
}

/// Starts an SMTP server on a free loopback port; returns its port and its inbox. The server
/// thread lives as long as the test process.
fn start_smtp() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let capture = Capture::default();
    let inbox = capture.inbox.clone();
    let mut server = Server::new(capture);
    server.with_name("smtp.test").with_num_threads(4).with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, inbox)
}

/// A port where nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn templates(dir: &std::path::Path) -> EmailTemplates {
    let files = [
        (
            "deadline_near.en.txt",
            "Subject: Due soon: {{ reference }}\n\nDear {{ recipient_name }},\n\nApplication {{ reference }} is due by {{ deadline }}.\n",
        ),
        ("deadline_near.en.html", "<p>Application <b>{{ reference }}</b> is due by {{ deadline }}.</p>\n"),
        (
            "deadline_near.ar.txt",
            "Subject: موعد قريب: {{ reference | ltr }}\n\nالسادة {{ recipient_name | isolate }}،\nالطلب {{ reference | ltr }}\n",
        ),
        (
            "deadline_near.ar.html",
            "<div lang=\"{{ lang }}\" dir=\"{{ dir }}\">الطلب <bdi dir=\"ltr\">{{ reference }}</bdi></div>",
        ),
        ("deadline_near.ur.txt", "Subject: مقررہ تاریخ قریب: {{ reference | ltr }}\n\nدرخواست {{ reference | ltr }}\n"),
        ("deadline_near.ur.html", "<div lang=\"{{ lang }}\" dir=\"{{ dir }}\">درخواست</div>"),
    ];
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    EmailTemplates::load(dir).unwrap()
}

fn context() -> TemplateContext {
    let mut c = TemplateContext::new();
    c.insert("reference", "QA-BV-2026-000123-K");
    c.insert("recipient_name", "Ministry reviewer");
    c.insert("deadline", "Sunday 8 March 2026");
    c
}

fn smtp_mailer(port: u16) -> Mailer {
    let mut config =
        MailConfig::new(Some(format!("smtp://127.0.0.1:{port}")), "Corridor <no-reply@corridor.test>", "unused-outbox");
    config.timeout = std::time::Duration::from_secs(5);
    Mailer::new(&config).unwrap()
}

fn email(mailer: &Mailer, key: &str, to: &str, lang: Lang) -> OutgoingEmail {
    let dir = tempfile::tempdir().unwrap();
    let rendered = templates(dir.path()).render("deadline_near", lang, &context()).unwrap();
    OutgoingEmail::new(vec![EmailAddress::new("Reviewer", to)], rendered, mailer.message_id_for(key))
}

fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    data.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(": ")))
}

#[tokio::test]
async fn a_message_arrives_with_subject_message_id_and_body() {
    let (port, inbox) = start_smtp();
    let mailer = smtp_mailer(port);
    assert!(mailer.uses_smtp());
    let key = "reminder:QA-BV-2026-000123-K:ministry_review:1";
    let message = email(&mailer, key, "reviewer@ministry.test", Lang::En);
    let delivery = mailer.send(&message).await.unwrap();
    assert!(matches!(delivery, Delivery::Smtp { .. }), "{delivery:?}");

    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert!(m.from.contains("no-reply@corridor.test"), "{m:?}");
    assert_eq!(m.to.len(), 1);
    assert!(m.to[0].contains("reviewer@ministry.test"), "{m:?}");
    assert_eq!(header(&m.data, "Subject"), Some("Due soon: QA-BV-2026-000123-K"), "{}", m.data);
    let id = header(&m.data, "Message-ID").unwrap();
    assert_eq!(id, corridor_engine::mail::message_id_for(key, "corridor.test"));
    assert!(id.starts_with('<') && id.ends_with("@corridor.test>"));
    assert!(m.data.contains("Application QA-BV-2026-000123-K is due by Sunday 8 March 2026."), "{}", m.data);
    assert!(m.data.contains("<b>QA-BV-2026-000123-K</b>"), "{}", m.data);
    assert!(m.data.contains("multipart/alternative"), "{}", m.data);

    // The same deduplication key always gives the same Message-ID, another key another one.
    mailer.send(&email(&mailer, key, "reviewer@ministry.test", Lang::En)).await.unwrap();
    mailer.send(&email(&mailer, "another", "reviewer@ministry.test", Lang::En)).await.unwrap();
    let got = inbox.lock().unwrap().clone();
    let ids: Vec<_> = got.iter().map(|m| header(&m.data, "Message-ID").unwrap().to_string()).collect();
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

#[tokio::test]
async fn an_arabic_message_is_encoded_and_arrives() {
    let (port, inbox) = start_smtp();
    let mailer = smtp_mailer(port);
    mailer.send(&email(&mailer, "ar-1", "firm@firm.test", Lang::Ar)).await.unwrap();
    let got = inbox.lock().unwrap().clone();
    let data = &got[0].data;
    let subject = header(data, "Subject").unwrap();
    assert!(subject.to_ascii_lowercase().starts_with("=?utf-8?"), "{data}");
    assert_eq!(header(data, "Content-Language"), Some("ar"), "{data}");
    // Text and HTML, the HTML right to left.
    assert!(data.contains("multipart/alternative"), "{data}");
}

#[tokio::test]
async fn server_down_is_a_transient_failure() {
    let mailer = smtp_mailer(closed_port());
    let err = mailer.send(&email(&mailer, "k", "reviewer@ministry.test", Lang::En)).await.unwrap_err();
    assert_eq!(err.kind(), FailureKind::Transient, "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn rejections_are_classified_by_reply_code() {
    let (port, inbox) = start_smtp();
    let mailer = smtp_mailer(port);
    let err = mailer.send(&email(&mailer, "k1", "reject@ministry.test", Lang::En)).await.unwrap_err();
    match &err {
        MailError::Smtp { kind, code, .. } => {
            assert_eq!(*kind, FailureKind::Permanent, "{err}");
            assert_eq!(*code, Some(550), "{err}");
        }
        other => panic!("{other:?}"),
    }
    let err = mailer.send(&email(&mailer, "k2", "busy@ministry.test", Lang::En)).await.unwrap_err();
    match &err {
        MailError::Smtp { kind, code, .. } => {
            assert_eq!(*kind, FailureKind::Transient, "{err}");
            assert_eq!(*code, Some(451), "{err}");
        }
        other => panic!("{other:?}"),
    }
    // A bad address never reaches the server and is permanent.
    let mut m = email(&mailer, "k3", "reviewer@ministry.test", Lang::En);
    m.to = vec![EmailAddress::bare("no at sign")];
    let err = mailer.send(&m).await.unwrap_err();
    assert_eq!(err.kind(), FailureKind::Permanent, "{err}");
    // The server is still fine afterwards.
    mailer.send(&email(&mailer, "k4", "reviewer@ministry.test", Lang::En)).await.unwrap();
    assert_eq!(inbox.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn without_an_smtp_url_messages_are_written_as_eml_files() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("data").join("outbox");
    let mailer = Mailer::new(&MailConfig::new(None, "Corridor <no-reply@corridor.test>", &outbox)).unwrap();
    assert!(!mailer.uses_smtp());
    let key = "decision:QA-BV-2026-000123-K";
    let delivery = mailer.send(&email(&mailer, key, "firm@firm.test", Lang::En)).await.unwrap();
    let Delivery::File { path } = delivery else { panic!("{delivery:?}") };
    assert_eq!(path.parent(), Some(outbox.as_path()));
    assert_eq!(path.extension().and_then(|e| e.to_str()), Some("eml"));
    let data = std::fs::read_to_string(&path).unwrap();
    assert_eq!(header(&data, "Subject"), Some("Due soon: QA-BV-2026-000123-K"));
    assert_eq!(header(&data, "Message-ID"), Some(mailer.message_id_for(key).as_str()));
    assert!(data.contains("is due by Sunday 8 March 2026."));
    // A retry of the same message replaces its file.
    mailer.send(&email(&mailer, key, "firm@firm.test", Lang::En)).await.unwrap();
    mailer.send(&email(&mailer, "other", "firm@firm.test", Lang::En)).await.unwrap();
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 2);
}

//! A real SMTP server on loopback (mailin-embedded) that records what it accepts.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mailin_embedded::{Handler, Response, Server, response};

/// One message as the SMTP server accepted it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        // Headers end at the first blank line; folded lines start with white space.
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case(name) {
                    value = Some(v.trim().to_string());
                }
            }
        }
        value
    }

    /// The subject as a mail client shows it (RFC 2047 decoded).
    pub fn subject(&self) -> String {
        self.parsed(|m| m.subject().map(str::to_string)).unwrap_or_default()
    }

    /// The plain-text part, decoded.
    pub fn text(&self) -> String {
        self.parsed(|m| m.body_text(0).map(|t| t.into_owned())).unwrap_or_default()
    }

    /// The HTML part, decoded.
    pub fn html(&self) -> String {
        self.parsed(|m| m.body_html(0).map(|t| t.into_owned())).unwrap_or_default()
    }

    fn parsed<T>(&self, read: impl FnOnce(&mail_parser::Message<'_>) -> Option<T>) -> Option<T> {
        mail_parser::MessageParser::default().parse(self.data.as_bytes()).as_ref().and_then(read)
    }

    pub fn message_id(&self) -> String {
        self.header("Message-ID").unwrap_or_default()
    }
}

pub type Inbox = Arc<Mutex<Vec<Received>>>;

/// Records every accepted message. While `refuse_busy` is set, recipients whose address starts
/// with `busy` get a temporary refusal (451), as a full mailbox or a greylisting server gives.
#[derive(Clone)]
struct Capture {
    inbox: Inbox,
    refuse_busy: Arc<AtomicBool>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Capture {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, _from: &str) -> Response {
        self.to.clear();
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let addr = to.trim_start_matches('<');
        if addr.starts_with("busy") && self.refuse_busy.load(Ordering::SeqCst) {
            return response::INTERNAL_ERROR;
        }
        self.to.push(addr.trim_end_matches('>').to_string());
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
        let received = Received { to: self.to.clone(), data: String::from_utf8_lossy(&self.data).into_owned() };
        self.inbox.lock().unwrap().push(received);
        response::OK
    }
}

pub struct Smtp {
    pub port: u16,
    pub inbox: Inbox,
    pub refuse_busy: Arc<AtomicBool>,
}

impl Smtp {
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }

    /// Messages whose subject starts with `prefix`.
    pub fn with_subject(&self, prefix: &str) -> Vec<Received> {
        self.messages().into_iter().filter(|m| m.subject().starts_with(prefix)).collect()
    }
}

/// An SMTP server on `port` (0: any free port). The server thread lives as long as the test
/// process.
pub fn start_smtp_on(port: u16) -> Smtp {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the SMTP port");
    let port = listener.local_addr().unwrap().port();
    let inbox: Inbox = Arc::default();
    let refuse_busy = Arc::new(AtomicBool::new(true));
    let capture = Capture { inbox: inbox.clone(), refuse_busy: refuse_busy.clone(), to: Vec::new(), data: Vec::new() };
    let mut server = Server::new(capture);
    // A thread per connection: lettre keeps a pool of open connections per instance (up to
    // 10), and a server with fewer threads than open connections never greets the rest.
    server.with_name("smtp.test").with_num_threads(64).with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    Smtp { port, inbox, refuse_busy }
}

pub fn start_smtp() -> Smtp {
    start_smtp_on(0)
}

/// A loopback port where nothing listens (yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

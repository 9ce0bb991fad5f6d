//! A real SMTP server over TCP for the notification tests: `python -m aiosmtpd` on
//! 127.0.0.1 with a handler that parses every message it receives (Python's `email`
//! package) and appends it as one JSON line to a file the test reads.
//!
//! Python with aiosmtpd comes from `scripts/ensure-aiosmtpd.sh` (a venv at
//! `target/smtp-venv`, or `$SCIMGATE_SMTP_VENV`); `$SCIMGATE_TEST_SMTP_PYTHON` names
//! another interpreter, and a `python3` on the PATH that has aiosmtpd also does. Without
//! one the SMTP tests are skipped with a note, unless `SCIMGATE_TEST_REQUIRE_SMTP=1`
//! (set by `.ci/run`), which makes them fail instead.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The handler aiosmtpd loads (`-c scimgate_mail_sink.JsonLines FILE`). It answers 250
/// only after the line is written, so a message the client saw accepted is in the file.
const HANDLER: &str = r#"
import json
from email import message_from_bytes, policy


class JsonLines:
    def __init__(self, path):
        self.path = path

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("JsonLines takes one argument: the file to append messages to")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        parts = [
            # SMTP carries CRLF line ends; the test compares with the text as written.
            {"content_type": part.get_content_type(),
             "body": part.get_content().replace("\r\n", "\n")}
            for part in message.walk()
            if not part.is_multipart()
        ]
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message.get("From", "")),
            "to": str(message.get("To", "")),
            "subject": str(message.get("Subject", "")),
            "content_type": message.get_content_type(),
            "parts": parts,
        }
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"
"#;

fn smtp_required() -> bool {
    std::env::var("SCIMGATE_TEST_REQUIRE_SMTP").is_ok_and(|v| v == "1" || v == "true")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn has_aiosmtpd(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The first interpreter that can import aiosmtpd, looked for once per test binary.
fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = std::env::var("SCIMGATE_SMTP_VENV")
                .map(|v| workspace_root().join(v))
                .unwrap_or_else(|_| workspace_root().join("target/smtp-venv"));
            let candidates = std::env::var("SCIMGATE_TEST_SMTP_PYTHON")
                .ok()
                .map(PathBuf::from)
                .into_iter()
                .chain([venv.join("bin/python"), PathBuf::from("python3")]);
            candidates.into_iter().find(|p| has_aiosmtpd(p))
        })
        .as_deref()
}

/// Whether SMTP tests can run here; prints the skip note when not, and panics when
/// they are required (see the module docs).
pub fn smtp_available() -> bool {
    if python().is_some() {
        return true;
    }
    let why = "no Python with aiosmtpd (run scripts/ensure-aiosmtpd.sh)";
    if smtp_required() {
        panic!("SMTP tests are required for this run (SCIMGATE_TEST_REQUIRE_SMTP=1) but there is {why}");
    }
    eprintln!("note: SMTP test skipped, {why}");
    false
}

/// A port on 127.0.0.1 that was free a moment ago (for a server started later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// aiosmtpd running on 127.0.0.1; killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

/// One message as the server received it, MIME already decoded.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMail {
    /// The envelope: `MAIL FROM` and the `RCPT TO` addresses.
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// Headers.
    pub from: String,
    pub to: String,
    pub subject: String,
    /// The top-level type, e.g. `multipart/alternative`.
    pub content_type: String,
    /// Every leaf part in order.
    pub parts: Vec<MailPart>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailPart {
    pub content_type: String,
    pub body: String,
}

impl ReceivedMail {
    /// The body of the (only) part of this type, e.g. `text/plain`.
    pub fn part(&self, content_type: &str) -> &str {
        let matching: Vec<&MailPart> = self
            .parts
            .iter()
            .filter(|p| p.content_type == content_type)
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "want one {content_type} part in {self:#?}"
        );
        &matching[0].body
    }

    pub fn text(&self) -> &str {
        self.part("text/plain")
    }

    pub fn html(&self) -> &str {
        self.part("text/html")
    }
}

impl SmtpServer {
    /// Starts a server on a free port; `None` when SMTP tests are skipped here.
    pub async fn start() -> Option<SmtpServer> {
        Self::start_on(free_port()).await
    }

    /// Starts a server on `port` (say one a client already failed to reach) and waits
    /// until it accepts connections; `None` when SMTP tests are skipped here.
    pub async fn start_on(port: u16) -> Option<SmtpServer> {
        if !smtp_available() {
            return None;
        }
        let python = python()?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("scimgate_mail_sink.py"), HANDLER).unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "scimgate_mail_sink.JsonLines"])
            .arg(dir.path().join("mail.jsonl"))
            .env("PYTHONPATH", dir.path())
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
        let mut server = SmtpServer { port, child, dir };
        server.wait_until_listening().await;
        Some(server)
    }

    async fn wait_until_listening(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "aiosmtpd exited ({status}) before listening on port {}:\n{}",
                    self.port,
                    self.log()
                );
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "aiosmtpd did not listen on port {} within 30 s:\n{}",
                    self.port,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the server printed (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        match std::fs::read_to_string(self.dir.path().join("mail.jsonl")) {
            Ok(text) => text
                .lines()
                .map(|line| {
                    serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("mail sink line ({e}): {line}"))
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("reading the mail sink: {e}"),
        }
    }

    /// The messages whose envelope names `address` as a recipient.
    pub fn messages_to(&self, address: &str) -> Vec<ReceivedMail> {
        self.messages()
            .into_iter()
            .filter(|m| m.rcpt_tos.iter().any(|r| r == address))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! E-mail over SMTP with lettre: plain-text and HTML parts, STARTTLS, TLS or none.

use crate::deliver::Failure;
use crate::outbox::OutboxEntry;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain SMTP, upgraded with STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or network.
    None,
}

#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The From address, e.g. `scimgate <noreply@acme.no>`.
    pub from: String,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .finish()
    }
}

#[derive(Deserialize)]
struct EmailPayload {
    subject: String,
    text: String,
    html: String,
}

fn permanent(message: String) -> Failure {
    Failure {
        message,
        retry: false,
    }
}

pub(crate) async fn send(config: &SmtpConfig, entry: &OutboxEntry) -> Result<(), Failure> {
    let payload: EmailPayload = serde_json::from_str(&entry.payload)
        .map_err(|e| permanent(format!("bad e-mail payload: {e}")))?;
    let from: Mailbox = config
        .from
        .parse()
        .map_err(|e| permanent(format!("smtp.from {:?}: {e}", config.from)))?;
    let to: Mailbox = entry
        .target
        .parse()
        .map_err(|e| permanent(format!("recipient {:?}: {e}", entry.target)))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(payload.subject)
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(payload.text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(payload.html),
                ),
        )
        .map_err(|e| permanent(format!("building the e-mail: {e}")))?;
    let builder = match config.security {
        SmtpSecurity::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
        }
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host),
        SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &config.host,
        )),
    }
    .map_err(|e| permanent(format!("smtp.host {:?}: {e}", config.host)))?;
    let mut builder = builder
        .port(config.port)
        .timeout(Some(std::time::Duration::from_secs(30)));
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let transport = builder.build();
    transport.send(message).await.map_err(|e| Failure {
        // 5xx from the server is permanent (bad recipient, refused); anything else
        // (connection, 4xx, timeouts) may work later.
        retry: !e.is_permanent(),
        message: format!("smtp: {e}"),
    })?;
    Ok(())
}

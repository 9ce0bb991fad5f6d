//! One typed configuration: an optional YAML file, then `SCIMGATE_*` environment
//! variables and command-line flags on top (clap applies both). Unknown keys in the
//! file are an error that names the key.

use anyhow::Context;
use serde::Deserialize;
use std::path::Path;

pub use scimgate_ui::{NameClaim, OidcConfig};

pub const DEFAULT_DATABASE_URL: &str = "scimgate.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The key CRM target secrets are sealed with; created by `scimgate target set`.
pub const DEFAULT_SERVER_KEY_FILE: &str = "scimgate-server.key";

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub log_format: Option<LogFormat>,
    pub sync_tick_ms: Option<u64>,
    /// Where notification e-mails go out; without it e-mail messages wait in the outbox.
    pub smtp: Option<scimgate_notify::email::SmtpConfig>,
    /// Let webhooks and CRM targets reach private, loopback and link-local addresses
    /// (default: no).
    pub allow_private_webhooks: Option<bool>,
    /// The file holding the key CRM target secrets are sealed with (default
    /// `scimgate-server.key`; keep it with the server, not with database backups).
    pub server_key_file: Option<std::path::PathBuf>,
    /// Serve the web UI at `/` (default true; `false` leaves SCIM and the admin API).
    pub ui: Option<bool>,
    /// Web UI sign-in through an OpenID Connect provider (Entra ID, say).
    pub oidc: Option<OidcConfig>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        serde_yaml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
    }
}

/// The effective settings of `scimgate serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub database_url: String,
    pub listen: String,
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    /// How often automatic sync looks for due schedules and settled changes (and the
    /// notification worker for due messages).
    pub sync_tick_ms: u64,
    pub smtp: Option<scimgate_notify::email::SmtpConfig>,
    /// Which addresses webhook subscriptions and CRM targets may point to.
    pub webhook_targets: scimgate_notify::target::TargetPolicy,
    /// The key CRM target secrets are sealed with.
    pub server_key_file: std::path::PathBuf,
    /// Whether the web UI is served at `/`.
    pub ui: bool,
    /// Web UI sign-in through an OpenID Connect provider.
    pub oidc: Option<OidcConfig>,
}

pub const DEFAULT_SYNC_TICK_MS: u64 = 1_000;

impl ServeConfig {
    /// The settings as they may be logged: a database password is never printed.
    pub fn redacted(&self) -> String {
        format!(
            "database_url={} listen={} public_url={} max_body_bytes={} sync_tick_ms={} smtp={} allow_private_webhooks={} ui={} oidc={}",
            redact_url(&self.database_url),
            self.listen,
            self.public_url.as_deref().unwrap_or("(from Host header)"),
            self.max_body_bytes,
            self.sync_tick_ms,
            self.smtp
                .as_ref()
                .map_or_else(|| "(none)".to_owned(), |s| format!("{}:{}", s.host, s.port)),
            self.webhook_targets.allow_private,
            self.ui,
            // The issuer only: the client secret is never logged.
            self.oidc.as_ref().map_or("(none)", |o| o.issuer.as_str())
        )
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact_url("scimgate.db"), "scimgate.db");
    }

    #[test]
    fn unknown_config_keys_are_named() {
        let err = serde_yaml::from_str::<FileConfig>("listen: x\nlisten_addr: y\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");
    }
}

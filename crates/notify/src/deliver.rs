//! The delivery worker: claims due outbox messages, sends them (webhook over HTTP with an
//! HMAC-SHA256 signature; e-mail over SMTP), and records the result: delivered, retried
//! with exponential backoff, or dead.

use crate::Result;
use hmac::{Hmac, Mac};
use scimgate_core::{Channel, OutboxEntry};
use scimgate_core::{Clock, Timestamp};
use scimgate_store::outbox::Attempt;
use scimgate_store::Store;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// The header carrying `sha256=<hex HMAC-SHA256 of the body, keyed by the subscription's secret>`.
pub const SIGNATURE_HEADER: &str = "x-scimgate-signature";

#[derive(Clone)]
pub struct DeliveryConfig {
    /// Attempts before a message is dead.
    pub max_attempts: i64,
    /// The first retry waits this long; each further one twice as long (capped at an hour).
    pub first_backoff_ms: i64,
    pub webhook_timeout: Duration,
    pub smtp: Option<crate::email::SmtpConfig>,
    /// Which addresses webhooks may reach, checked again at every send.
    pub targets: crate::target::TargetPolicy,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 8,
            first_backoff_ms: 5_000,
            webhook_timeout: Duration::from_secs(10),
            smtp: None,
            targets: crate::target::TargetPolicy::PUBLIC_ONLY,
        }
    }
}

/// Why an attempt failed, and whether trying again can help.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub retry: bool,
}

pub struct Worker {
    store: Store,
    clock: Arc<dyn Clock>,
    config: DeliveryConfig,
    http: reqwest::Client,
    holder: String,
}

/// Lease on claimed messages: long enough for a slow SMTP server, short enough that a
/// crashed worker's messages are picked up soon.
const LEASE_MS: i64 = 120_000;

impl Worker {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        config: DeliveryConfig,
        holder: String,
    ) -> Result<Worker> {
        let http = crate::target::guarded_client(config.targets, config.webhook_timeout)?;
        // The lease owner must be unique across replicas (two hosts may share a pid).
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix)
            .map_err(|e| crate::NotifyError::Corrupt(format!("no randomness: {e}")))?;
        let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Worker {
            store,
            clock,
            config,
            http,
            holder: format!("{holder}-{suffix}"),
        })
    }

    /// Delivers what is due now; returns how many messages were attempted.
    pub async fn run_once(&self) -> Result<usize> {
        let now = self.clock.now();
        let due = self
            .store
            .claim_outbox(
                &self.holder,
                now.unix_millis(),
                LEASE_MS,
                20,
                self.config.smtp.is_some(),
            )
            .await?;
        for entry in &due {
            // Each send gets the full lease: a batch of slow receivers must not outlive
            // it, or another replica would send the rest too.
            let until = self.clock.now().unix_millis() + LEASE_MS;
            if !self
                .store
                .renew_outbox_lease(entry.id, &self.holder, until)
                .await?
            {
                continue;
            }
            let result = self.send(entry).await;
            let now = self.clock.now();
            match result {
                Ok(()) => {
                    let at = now.to_rfc3339();
                    let delivered = Attempt::Delivered { at: &at };
                    (self.store)
                        .settle_outbox(entry.id, &self.holder, delivered)
                        .await?;
                }
                Err(failure) => {
                    let attempt = entry.attempts + 1;
                    let retry_at = (failure.retry && attempt < self.config.max_attempts)
                        .then(|| now.unix_millis() + self.backoff_ms(attempt));
                    tracing::warn!(
                        message = entry.id,
                        channel = %entry.channel,
                        attempt,
                        dead = retry_at.is_none(),
                        error = %failure.message,
                        "notification not delivered"
                    );
                    let failed = Attempt::Failed {
                        error: &failure.message,
                        retry_at_ms: retry_at,
                    };
                    (self.store)
                        .settle_outbox(entry.id, &self.holder, failed)
                        .await?;
                }
            }
        }
        Ok(due.len())
    }

    fn backoff_ms(&self, attempt: i64) -> i64 {
        let factor = 1_i64 << (attempt - 1).clamp(0, 20);
        (self.config.first_backoff_ms.saturating_mul(factor)).min(3_600_000)
    }

    async fn send(&self, entry: &OutboxEntry) -> Result<(), Failure> {
        match entry.channel {
            Channel::Webhook => self.send_webhook(entry).await,
            Channel::Email if !self.subscription_exists(entry).await.unwrap_or(true) => {
                Err(Failure {
                    message: "the subscription was removed".into(),
                    retry: false,
                })
            }
            Channel::Email => match &self.config.smtp {
                Some(smtp) => crate::email::send(smtp, entry).await,
                None => Err(Failure {
                    message: "no SMTP server is configured (smtp: in the config file)".into(),
                    retry: true,
                }),
            },
        }
    }

    /// Whether the subscription a message was queued for still exists (`true` for
    /// messages of no subscription, such as welcome e-mails).
    async fn subscription_exists(&self, entry: &OutboxEntry) -> Result<bool> {
        let Some(id) = entry.subscription_id else {
            return Ok(true);
        };
        let found = self.store.subscription_secret(entry.tenant_id, id).await?;
        Ok(found.is_some())
    }

    async fn send_webhook(&self, entry: &OutboxEntry) -> Result<(), Failure> {
        let secret = match entry.subscription_id {
            Some(id) => self.store.subscription_secret(entry.tenant_id, id).await,
            None => Ok(None),
        }
        .map(Option::flatten)
        .map_err(|e| Failure {
            message: e.to_string(),
            retry: true,
        })?
        .ok_or(Failure {
            message: "the subscription was removed".into(),
            retry: false,
        })?;
        // Subscribed under a policy that may since have changed; an IP address in the
        // URL never meets the resolver, so it is checked here.
        let url = reqwest::Url::parse(&entry.target).map_err(|_| Failure {
            message: "the webhook URL is not valid".into(),
            retry: false,
        })?;
        crate::target::check_literal_host(&url, self.config.targets).map_err(|message| {
            Failure {
                message,
                retry: false,
            }
        })?;
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-scimgate-event", &entry.event)
            .header("x-scimgate-delivery", entry.id.to_string())
            .header(
                SIGNATURE_HEADER,
                signature(&secret, entry.payload.as_bytes()),
            )
            .body(entry.payload.clone())
            .send()
            .await
            .map_err(|e| Failure {
                message: format!("webhook: {}", without_url(&e)),
                retry: true,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // 4xx: the receiver refuses this message; sending it again would not change that
        // (except "too many requests" and "timeout", which are about timing).
        let retry = status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408;
        Err(Failure {
            message: format!("webhook answered {status}"),
            retry,
        })
    }
}

/// `sha256=<hex>`: HMAC-SHA256 of `body` keyed by `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A reqwest error without its URL (a webhook URL may carry a token in its query).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    kind.to_owned()
}

/// Runs the worker every `every` until the task is dropped.
pub async fn run(worker: Worker, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = worker.run_once().await {
            tracing::warn!(error = %e, "notification delivery check failed");
        }
    }
}

/// For tests and the admin API's view of when a retry happens.
pub fn at(ms: i64) -> Option<Timestamp> {
    Timestamp::from_unix_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

//! Where a tenant's accounts are pushed: a SCIM 2.0 application or a signed webhook
//! (the crm crate's push worker delivers). Setting, testing and clearing the target, and
//! the queue's state (pending, delivered, dead) with the dead pushes to retry. The token
//! or signing secret is sealed with the server key before it is stored and is never read
//! back out; a webhook's secret is in the result once, when it is made.

use crate::audit::json;
use crate::{App, AppError, Result};
use scimgate_core::{AuditAction, Tenant};
use scimgate_core::{CrmMapping, DeadPush, PushCounts};
use scimgate_crm::push::{self, KeySource, Outbound};
use scimgate_notify::target::{check_webhook_url, guarded_client};
use scimgate_store::crm_push::{CrmTargetRow, OAuth2Client, TargetKind};
use scimgate_store::{Expect, StoreError, Versioned};
use serde::Serialize;
use std::sync::Arc;

/// What an admin asks the target to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSetting {
    /// A SCIM 2.0 base URL and how scimgate proves itself there.
    Scim {
        url: String,
        credentials: ScimCredentials,
    },
    /// An endpoint that gets each account as JSON, signed with a secret made here.
    Webhook { url: String },
}

/// How a target is used, besides where it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetOptions {
    /// Also queue every existing account now (a first push).
    pub push_all: bool,
    /// Delete a deprovisioned account's user on the target instead of deactivating it.
    pub delete_on_deprovision: bool,
    /// Where each account setting goes on a SCIM target (YAML; `None` or empty: the
    /// default).
    pub mapping: Option<String>,
    /// Reconcile a SCIM target every this many hours (1 to 720); `None`: on demand only.
    pub reconcile_every_hours: Option<u32>,
}

/// The longest interval of a scheduled reconcile: 30 days.
const MAX_RECONCILE_HOURS: u32 = 720;

/// How scimgate proves itself to a SCIM application. Its `Debug` hides the secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum ScimCredentials {
    /// The bearer token the application issued.
    Bearer(String),
    /// An OAuth 2.0 client: access tokens from `token_url` by the client credentials
    /// grant.
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: String,
        scope: Option<String>,
    },
}

impl std::fmt::Debug for ScimCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScimCredentials::Bearer(_) => f.write_str("Bearer(..)"),
            ScimCredentials::OAuth2 {
                token_url,
                client_id,
                scope,
                ..
            } => (f.debug_struct("OAuth2"))
                .field("token_url", token_url)
                .field("client_id", client_id)
                .field("scope", scope)
                .finish_non_exhaustive(),
        }
    }
}

/// A target's OAuth 2.0 client as an admin sees it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuth2View {
    pub token_url: String,
    pub client_id: String,
    pub scope: Option<String>,
}

/// The target as an admin sees it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetView {
    pub kind: &'static str,
    pub url: String,
    pub delete_on_deprovision: bool,
    /// The mapping as the admin wrote it; `None`: the default.
    pub mapping: Option<String>,
    /// The OAuth 2.0 client tokens come from; `None`: a static token (or a webhook).
    pub oauth2: Option<OAuth2View>,
    /// Reconciled every this many hours; `None`: on demand only.
    pub reconcile_every_hours: Option<u32>,
    pub updated_at: String,
}

impl TargetView {
    fn of(row: &CrmTargetRow) -> TargetView {
        TargetView {
            kind: row.kind.name(),
            url: row.url.clone(),
            delete_on_deprovision: row.delete_on_deprovision,
            mapping: row.mapping.clone(),
            oauth2: row.oauth2.as_ref().map(|o| OAuth2View {
                token_url: o.token_url.clone(),
                client_id: o.client_id.clone(),
                scope: o.scope.clone(),
            }),
            reconcile_every_hours: row.reconcile_hours,
            updated_at: row.updated_at.clone(),
        }
    }
}

/// The target (if any) and its queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetState {
    pub target: Option<TargetView>,
    pub queue: PushCounts,
    /// How the last scheduled reconcile went; `None` before the first.
    pub last_reconcile: Option<crate::crm_drift::LastReconcile>,
}

/// One account as a push would send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetSample {
    pub username: String,
    /// The JSON body, indented.
    pub document: String,
}

/// A target just saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSaved {
    pub target: TargetView,
    /// Pushes queued now (every account, when a first push was asked for).
    pub queued: u64,
    /// A webhook's signing secret, this once.
    pub secret: Option<String>,
}

/// How Test connection went, in words for the admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionCheck {
    pub ok: bool,
    pub detail: String,
}

/// The longest a Test connection waits for the target.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

impl App {
    /// The same application, sealing and opening CRM secrets with `key`.
    pub fn with_server_key(mut self, key: KeySource) -> App {
        self.server_key = Some(Arc::new(key));
        self
    }

    pub(crate) fn server_key(&self) -> Result<&KeySource> {
        (self.server_key.as_deref()).ok_or_else(|| {
            AppError::Internal("this server has no key for CRM secrets (server_key_file)".into())
        })
    }

    pub async fn crm_target(&self, tenant: &Tenant) -> Result<Versioned<TargetState>> {
        let target = self.store.crm_target_versioned(tenant).await?;
        let queue = self.store.push_counts(tenant).await?;
        let last = self.store.last_reconcile(tenant).await?;
        Ok(Versioned {
            version: target.version,
            value: TargetState {
                target: target.value.as_ref().map(TargetView::of),
                queue,
                last_reconcile: last.and_then(|json| serde_json::from_str(&json).ok()),
            },
        })
    }

    /// Sets (or replaces) where the tenant's accounts are pushed, and how.
    pub async fn set_crm_target(
        &self,
        tenant: &Tenant,
        expect: Expect,
        setting: TargetSetting,
        options: TargetOptions,
    ) -> Result<Versioned<TargetSaved>> {
        let (kind, url, secret, shown, oauth2) = match setting {
            TargetSetting::Scim { url, credentials } => {
                let (secret, oauth2) = self.scim_credentials(credentials)?;
                (TargetKind::Scim, url, secret, None, oauth2)
            }
            TargetSetting::Webhook { url } => {
                let secret = new_signing_secret()?;
                (TargetKind::Webhook, url, secret.clone(), Some(secret), None)
            }
        };
        let url = url.trim().trim_end_matches('/').to_owned();
        let reconcile_hours = options.reconcile_every_hours;
        if let Some(hours) = reconcile_hours {
            if kind != TargetKind::Scim {
                return Err(AppError::Invalid(
                    "reconcile_every_hours: a webhook cannot be read back; only a SCIM target is reconciled".into(),
                ));
            }
            if !(1..=MAX_RECONCILE_HOURS).contains(&hours) {
                return Err(AppError::Invalid(format!(
                    "reconcile_every_hours: {hours} is not between 1 and {MAX_RECONCILE_HOURS}"
                )));
            }
        }
        let mut mapping = (options.mapping.as_deref()).filter(|m| !m.trim().is_empty());
        if let Some(text) = mapping {
            let parsed = CrmMapping::from_yaml(text).map_err(AppError::Invalid)?;
            if parsed == CrmMapping::default() {
                // Stored as "the default", so that it follows the default if that changes
                // (the page posts the default written out when nothing was edited).
                mapping = None;
            }
        }
        self.reachable("url", &url)?;
        let key =
            (self.server_key()?.for_sealing()).map_err(|e| AppError::Internal(e.to_string()))?;
        let row = CrmTargetRow {
            kind,
            url,
            sealed_secret: (key.seal(tenant.id, &secret))
                .map_err(|e| AppError::Internal(e.to_string()))?,
            delete_on_deprovision: options.delete_on_deprovision,
            mapping: mapping.map(str::to_owned),
            oauth2,
            reconcile_hours,
            updated_at: self.now(),
        };
        let before = self.store.crm_target(tenant).await?;
        let saved = (self.store)
            .set_crm_target(tenant, &row, options.push_all, expect)
            .await?;
        let target = TargetView::of(&row);
        let subject = format!("CRM target {} {}", target.kind, target.url);
        let before = before.as_ref().map(TargetView::of);
        (self.audit(
            tenant,
            AuditAction::TargetSet,
            subject,
            before.as_ref().and_then(json),
            json(&target),
        ))
        .await;
        Ok(Versioned {
            version: saved.version,
            value: TargetSaved {
                target,
                queued: saved.queued,
                secret: shown,
            },
        })
    }

    /// The secret to seal (the token, or the OAuth 2.0 client's secret) and the client.
    fn scim_credentials(
        &self,
        credentials: ScimCredentials,
    ) -> Result<(String, Option<OAuth2Client>)> {
        let given = |field: &str, value: String, what: &str| -> Result<String> {
            let value = value.trim().to_owned();
            match value.is_empty() {
                true => Err(AppError::Invalid(format!("{field}: give {what}"))),
                false => Ok(value),
            }
        };
        match credentials {
            ScimCredentials::Bearer(token) => Ok((
                given("token", token, "the bearer token the application issued")?,
                None,
            )),
            ScimCredentials::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scope,
            } => {
                let token_url = given("token_url", token_url, "the OAuth 2.0 token endpoint")?;
                self.reachable("token_url", &token_url)?;
                let client = OAuth2Client {
                    token_url,
                    client_id: given("client_id", client_id, "the OAuth 2.0 client id")?,
                    scope: scope.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
                };
                let secret = given("client_secret", client_secret, "the client's secret")?;
                Ok((secret, Some(client)))
            }
        }
    }

    /// A URL scimgate may send to (http(s), and a public address unless the server
    /// allows private ones); the error names `field`.
    fn reachable(&self, field: &str, url: &str) -> Result<()> {
        match check_webhook_url(url, self.webhook_targets) {
            Ok(_) => Ok(()),
            Err(scimgate_notify::NotifyError::Invalid(m)) => {
                Err(AppError::Invalid(format!("{field}: {m}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stops pushing: the target and its queue go, accounts stay. Returns the new version.
    pub async fn clear_crm_target(&self, tenant: &Tenant, expect: Expect) -> Result<i64> {
        let before = self.store.crm_target(tenant).await?;
        let version = match self
            .store
            .clear_crm_target(tenant, expect, &self.now())
            .await
        {
            Err(StoreError::NotFound) => {
                return Err(AppError::NotFound("the tenant has no CRM target".into()))
            }
            cleared => cleared?,
        };
        let before = before.as_ref().map(TargetView::of);
        let subject = match &before {
            Some(t) => format!("CRM target {} {}", t.kind, t.url),
            None => "CRM target".to_owned(),
        };
        (self.audit(
            tenant,
            AuditAction::TargetClear,
            subject,
            before.as_ref().and_then(json),
            None,
        ))
        .await;
        Ok(version)
    }

    /// Queues the dead pushes again (after the target or its token was fixed); returns
    /// how many.
    pub async fn retry_pushes(&self, tenant: &Tenant) -> Result<u64> {
        let now = self.clock.now().unix_millis();
        let retried = self.store.retry_dead_pushes(tenant, now).await?;
        let subject = format!("{retried} dead pushes queued again");
        (self.audit(tenant, AuditAction::TargetRetry, subject, None, None)).await;
        Ok(retried)
    }

    /// Dead pushes, newest first.
    pub async fn dead_pushes(&self, tenant: &Tenant, limit: i64) -> Result<Vec<DeadPush>> {
        Ok(self.store.dead_pushes(tenant, limit).await?)
    }

    /// One of the tenant's accounts as a push would send it to the target now (a SCIM
    /// user with every extension the mapping uses, as a provider that declares them gets
    /// it; or the webhook's JSON); `None` without a target or an account.
    pub async fn crm_target_sample(&self, tenant: &Tenant) -> Result<Option<TargetSample>> {
        let (Some(target), Some(account)) = (
            self.store.crm_target(tenant).await?,
            self.store.sample_account(tenant).await?,
        ) else {
            return Ok(None);
        };
        let document = match target.kind {
            TargetKind::Scim => {
                let mapping = CrmMapping::from_yaml(target.mapping.as_deref().unwrap_or_default())
                    .map_err(AppError::Internal)?;
                let extensions = (mapping.places.iter())
                    .filter_map(|(_, place)| place.as_ref()?.schema.clone())
                    .collect::<Vec<_>>();
                push::scim::user_document(&account, &extensions, &mapping)
            }
            TargetKind::Webhook => push::webhook::body(tenant.name.as_str(), 0, &account),
        };
        Ok(Some(TargetSample {
            username: account.fields.username.to_string(),
            document: serde_json::to_string_pretty(&document).unwrap_or_default(),
        }))
    }

    /// Whether the target answers with its stored secret. A failing target is a result
    /// (`ok: false`, with why), not an error: the admin asked to find out.
    pub async fn test_crm_target(&self, tenant: &Tenant) -> Result<ConnectionCheck> {
        let Some(target) = self.store.crm_target(tenant).await? else {
            return Err(AppError::NotFound("the tenant has no CRM target".into()));
        };
        let outbound = self.outbound()?;
        let at = self.clock.now().unix_millis();
        let key = self.server_key()?;
        let check = match push::probe(&outbound, key, tenant, &target, at).await {
            Ok(detail) => ConnectionCheck { ok: true, detail },
            Err(failure) => ConnectionCheck {
                ok: false,
                detail: failure.message,
            },
        };
        let outcome = if check.ok { "passed" } else { "failed" };
        let subject = format!(
            "CRM target {} {}: test {outcome}",
            target.kind.name(),
            target.url
        );
        (self.audit(tenant, AuditAction::TargetTest, subject, None, None)).await;
        Ok(check)
    }
}

impl App {
    /// How Test connection and reconcile reach the target: the webhook rules' client and
    /// URL check (the push worker's, built here for the request).
    pub(crate) fn outbound(&self) -> Result<Outbound> {
        let policy = self.webhook_targets;
        Ok(Outbound {
            http: (guarded_client(policy, PROBE_TIMEOUT))
                .map_err(|e| AppError::Internal(e.to_string()))?,
            permits: Arc::new(move |url: &str| {
                (check_webhook_url(url, policy).map(|_| ())).map_err(|e| e.to_string())
            }),
        })
    }
}

/// A webhook's signing secret: 32 random bytes, hex.
fn new_signing_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

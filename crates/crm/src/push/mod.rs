//! The push worker: claims queued account pushes (see the store's `crm_push`), sends
//! each account as it is now to its tenant's CRM target, and records the outcome:
//! delivered, retried with exponential backoff (or when the target's `Retry-After`
//! says), or dead after too many attempts or a refusal that retrying cannot fix.

pub mod drift;
pub mod oauth;
pub mod scim;
pub mod webhook;

use crate::secret::{SecretError, ServerKey};
use futures_util::StreamExt;
use scimgate_core::{Clock, CrmAccount, CrmMapping, DriftReport, Tenant};
use scimgate_store::crm_push::{CrmTargetRow, PushAttempt, PushEntry, TargetKind};
use scimgate_store::Store;
use std::collections::HashMap;
use std::sync::Arc;

/// Why a push failed, and when (if ever) to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub retry: bool,
    /// The target's `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<i64>,
}

impl Failure {
    pub fn retry(message: String) -> Failure {
        Failure {
            message,
            retry: true,
            retry_after_ms: None,
        }
    }

    pub fn dead(message: String) -> Failure {
        Failure {
            message,
            retry: false,
            retry_after_ms: None,
        }
    }

    /// A non-success answer: `429` and `503` come back when the target says, other
    /// server errors and refused credentials (which an admin may fix) back off, and any
    /// other refusal is final.
    pub async fn of_response(response: reqwest::Response) -> Failure {
        let status = response.status().as_u16();
        let retry_after_ms = (response.headers().get("retry-after"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|seconds| seconds.clamp(0, 3_600) * 1_000);
        let body = response.text().await.unwrap_or_default();
        let detail: String = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or(body)
            .chars()
            .take(300)
            .collect();
        Failure {
            message: format!("the target answered {status}: {detail}"),
            retry: matches!(status, 401 | 403 | 408 | 429) || status >= 500,
            retry_after_ms: retry_after_ms.filter(|_| matches!(status, 429 | 503)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Attempts before a push that keeps failing is dead. The default, with the backoff
    /// capped at an hour, keeps trying for about three days: an application down for a
    /// night or a weekend's maintenance gets its changes when it is back, without an
    /// admin.
    pub max_attempts: i64,
    /// The first retry waits this long; each further one twice as long (capped at an hour).
    pub first_backoff_ms: i64,
    /// Pushes claimed at a time.
    pub batch: i64,
    /// Pushes (each to another account) sent side by side.
    pub concurrency: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            max_attempts: 80,
            first_backoff_ms: 5_000,
            batch: 50,
            concurrency: 8,
        }
    }
}

/// Lease on claimed pushes: a crashed worker's are taken up again after it.
const LEASE_MS: i64 = 60_000;

/// Where the worker gets the server key: given (tests), or read from its file when
/// first needed (a server with no CRM target never needs one).
pub enum KeySource {
    Key(Arc<ServerKey>),
    File(std::path::PathBuf),
}

impl KeySource {
    /// The key stored secrets open with; a missing key file is an error.
    pub fn existing(&self) -> Result<Arc<ServerKey>, SecretError> {
        match self {
            KeySource::Key(key) => Ok(key.clone()),
            KeySource::File(path) => ServerKey::load(path).map(Arc::new),
        }
    }

    /// The key a new secret is sealed with, made (and its file written) on first use.
    pub fn for_sealing(&self) -> Result<Arc<ServerKey>, SecretError> {
        match self {
            KeySource::Key(key) => Ok(key.clone()),
            KeySource::File(path) => ServerKey::load_or_create(path).map(Arc::new),
        }
    }

    fn get(&self) -> Result<Arc<ServerKey>, Failure> {
        self.existing().map_err(|e| Failure::retry(e.to_string()))
    }
}

/// Whether a target URL may be reached; the error says why not.
pub type UrlCheck = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// How the worker reaches targets: the HTTP client (built by the server, whose resolver
/// keeps host names off forbidden addresses) and the check of a target URL, run again
/// before every push (an address written in the URL is not resolved, so the client's
/// resolver does not see it).
pub struct Outbound {
    pub http: reqwest::Client,
    pub permits: UrlCheck,
}

pub struct PushWorker {
    /// What each target URL takes (PATCH, schema extensions), asked once per URL.
    profiles: tokio::sync::Mutex<HashMap<String, scim::Profile>>,
    /// OAuth 2.0 access tokens of the targets that take them.
    tokens: oauth::TokenCache,
    store: Store,
    clock: Arc<dyn Clock>,
    key: KeySource,
    outbound: Outbound,
    holder: String,
    config: PushConfig,
}

impl PushWorker {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        key: KeySource,
        outbound: Outbound,
        holder: String,
        config: PushConfig,
    ) -> PushWorker {
        PushWorker {
            profiles: Default::default(),
            tokens: Default::default(),
            store,
            clock,
            key,
            outbound,
            holder,
            config,
        }
    }

    /// Pushes what is due now; returns how many pushes were attempted.
    pub async fn run_once(&self) -> crate::Result<usize> {
        let now = self.clock.now().unix_millis();
        let due = (self.store)
            .claim_pushes(&self.holder, now, LEASE_MS, self.config.batch)
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let tenants: HashMap<i64, Tenant> = (self.store.tenants().await?)
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        // The claim gives each account at most one push, so they can go side by side.
        let attempts = futures_util::stream::iter(due.iter().cloned())
            .map(|entry| self.attempt(&tenants, entry))
            .buffer_unordered(self.config.concurrency.max(1));
        let settled: Vec<crate::Result<()>> = attempts.collect().await;
        settled.into_iter().collect::<crate::Result<Vec<()>>>()?;
        Ok(due.len())
    }

    /// One push: sent, and its outcome recorded.
    async fn attempt(&self, tenants: &HashMap<i64, Tenant>, entry: PushEntry) -> crate::Result<()> {
        let entry = &entry;
        let outcome = match tenants.get(&entry.tenant_id) {
            Some(tenant) => self.push(tenant, entry).await,
            None => Err(Failure::dead("the tenant is gone".into())),
        };
        {
            let at = self.clock.now();
            let at_text = at.to_rfc3339();
            let attempt = match &outcome {
                Ok(()) => PushAttempt::Delivered { at: &at_text },
                Err(failure) => {
                    tracing::warn!(push = entry.id, account = entry.account_pk, error = %failure.message, "CRM push failed");
                    PushAttempt::Failed {
                        error: &failure.message,
                        retry_at_ms: self.retry_at(entry, failure, at.unix_millis()),
                    }
                }
            };
            self.store
                .settle_push(entry.id, &self.holder, attempt)
                .await?;
        }
        Ok(())
    }

    fn retry_at(&self, entry: &PushEntry, failure: &Failure, now_ms: i64) -> Option<i64> {
        if !failure.retry || entry.attempts + 1 >= self.config.max_attempts {
            return None;
        }
        let backoff = (self.config.first_backoff_ms << entry.attempts.clamp(0, 20)).min(3_600_000);
        Some(now_ms + failure.retry_after_ms.unwrap_or(backoff))
    }

    async fn push(&self, tenant: &Tenant, entry: &PushEntry) -> Result<(), Failure> {
        let store_failure = |e: scimgate_store::StoreError| Failure::retry(format!("store: {e}"));
        let Some(target) = self.store.crm_target(tenant).await.map_err(store_failure)? else {
            return Err(Failure::dead(
                "the tenant has no CRM target any more".into(),
            ));
        };
        let Some(account) =
            (self.store.account(tenant, entry.account_pk).await).map_err(store_failure)?
        else {
            return Err(Failure::dead("the account is gone".into()));
        };
        let secret = (self.key.get()?.open(tenant.id, &target.sealed_secret))
            .map_err(|e| Failure::retry(e.to_string()))?;
        (self.outbound.permits)(&target.url).map_err(Failure::dead)?;
        match target.kind {
            TargetKind::Scim => {
                let linked = (self.store.account_target_id(tenant, account.pk).await)
                    .map_err(store_failure)?;
                let mapping = mapping_of(&target)?;
                let now = self.clock.now().unix_millis();
                let token =
                    bearer(&self.outbound, tenant, &target, &secret, now, &self.tokens).await?;
                let mut scim = scim::ScimTarget {
                    http: &self.outbound.http,
                    base: &target.url,
                    token: &token,
                    profile: scim::Profile::default(),
                    mapping: &mapping,
                    delete_on_deprovision: target.delete_on_deprovision,
                };
                let known = self.profiles.lock().await.get(&target.url).cloned();
                scim.profile = match known {
                    Some(profile) => profile,
                    None => {
                        let profile = scim.discover().await?;
                        (self.profiles.lock().await).insert(target.url.clone(), profile.clone());
                        profile
                    }
                };
                let id = match scim.push(&account, linked.as_deref()).await {
                    Ok(id) => id,
                    Err(failure) => {
                        if let Some(client) = &target.oauth2 {
                            // Perhaps the token was refused: the next attempt gets a new one.
                            let key = oauth::TokenKey::new(tenant.id, client, &secret);
                            self.tokens.forget(&key).await;
                        }
                        return Err(failure);
                    }
                };
                if id.is_empty() && linked.is_some() {
                    // Deleted there: a later push (reactivated) finds or creates anew.
                    (self
                        .store
                        .unlink_account_from_target(tenant, account.pk)
                        .await)
                        .map_err(store_failure)?;
                } else if !id.is_empty() && linked.as_deref() != Some(id.as_str()) {
                    (self
                        .store
                        .link_account_to_target(tenant, account.pk, &id)
                        .await)
                        .map_err(store_failure)?;
                }
                if !mapping.as_groups.is_empty() && !id.is_empty() && account.fields.active {
                    let desired = scim::group_names(&account.fields, &mapping.as_groups);
                    // A user found or made anew has none of the memberships made before.
                    let previous = match linked.as_deref() == Some(id.as_str()) {
                        true => (self.store.account_target_groups(tenant, account.pk).await)
                            .map_err(store_failure)?,
                        false => Vec::new(),
                    };
                    if desired != previous {
                        scim.sync_memberships(&id, &desired, &previous).await?;
                        (self.store)
                            .set_account_target_groups(tenant, account.pk, &desired)
                            .await
                            .map_err(store_failure)?;
                    }
                }
                Ok(())
            }
            TargetKind::Webhook => {
                let tenant_name = tenant.name.to_string();
                let id = (&*tenant_name, entry.id);
                webhook::push(&self.outbound.http, &target.url, &secret, id, &account).await
            }
        }
    }
}

/// Test connection: whether `target` answers with its stored secret, in words for the
/// admin (what it takes, or why it failed). Nothing is queued or changed.
pub async fn probe(
    outbound: &Outbound,
    key: &KeySource,
    tenant: &Tenant,
    target: &CrmTargetRow,
    at_ms: i64,
) -> Result<String, Failure> {
    let secret = opened(outbound, key, tenant, target)?;
    match target.kind {
        TargetKind::Scim => {
            let fresh = oauth::TokenCache::default();
            let token = bearer(outbound, tenant, target, &secret, at_ms, &fresh).await?;
            let scim = scim::ScimTarget {
                http: &outbound.http,
                base: &target.url,
                token: &token,
                profile: scim::Profile::default(),
                mapping: &CrmMapping::default(),
                delete_on_deprovision: false,
            };
            scim.probe().await
        }
        TargetKind::Webhook => {
            webhook::probe(
                &outbound.http,
                &target.url,
                &secret,
                tenant.name.as_str(),
                at_ms,
            )
            .await
        }
    }
}

/// Reconcile: the SCIM target's users read back and compared with `accounts` (`links`:
/// the target ids pushes stored, by pk). A webhook cannot be read back.
pub async fn reconcile(
    outbound: &Outbound,
    key: &KeySource,
    tenant: &Tenant,
    target: &CrmTargetRow,
    accounts: &[CrmAccount],
    links: &HashMap<i64, String>,
    now_ms: i64,
) -> Result<DriftReport, Failure> {
    if target.kind != TargetKind::Scim {
        return Err(Failure::dead(
            "a webhook target cannot be read back: drift is checked on SCIM targets".into(),
        ));
    }
    let secret = opened(outbound, key, tenant, target)?;
    let mapping = mapping_of(target)?;
    let fresh = oauth::TokenCache::default();
    let token = bearer(outbound, tenant, target, &secret, now_ms, &fresh).await?;
    let scim = scim::ScimTarget {
        http: &outbound.http,
        base: &target.url,
        token: &token,
        profile: scim::Profile::default(),
        mapping: &mapping,
        delete_on_deprovision: false,
    };
    let profile = scim.discover().await?;
    let users = scim.users().await?;
    Ok(DriftReport {
        accounts: accounts.len(),
        target_users: users.len(),
        drift: drift::compare(accounts, links, &users, (&profile.extensions, &mapping)),
    })
}

/// The bearer token for a SCIM target: its stored token, or an OAuth 2.0 access token
/// got with its stored client secret (the token endpoint checked like the target's URL).
async fn bearer(
    outbound: &Outbound,
    tenant: &Tenant,
    target: &CrmTargetRow,
    secret: &str,
    now_ms: i64,
    tokens: &oauth::TokenCache,
) -> Result<String, Failure> {
    let Some(client) = &target.oauth2 else {
        return Ok(secret.to_owned());
    };
    (outbound.permits)(&client.token_url).map_err(Failure::dead)?;
    let key = oauth::TokenKey::new(tenant.id, client, secret);
    oauth::access_token(&outbound.http, client, secret, (&key, now_ms), tokens).await
}

/// Where the target's settings go (checked when it was set, so an error here is a
/// stored mapping this version no longer reads).
fn mapping_of(target: &CrmTargetRow) -> Result<CrmMapping, Failure> {
    CrmMapping::from_yaml(target.mapping.as_deref().unwrap_or_default()).map_err(Failure::dead)
}

/// The target's secret, opened, once its URL is known to be allowed.
fn opened(
    outbound: &Outbound,
    key: &KeySource,
    tenant: &Tenant,
    target: &CrmTargetRow,
) -> Result<String, Failure> {
    let secret = (key.get()?.open(tenant.id, &target.sealed_secret))
        .map_err(|e| Failure::dead(e.to_string()))?;
    (outbound.permits)(&target.url).map_err(Failure::dead)?;
    Ok(secret)
}

/// reqwest's error text without the URL (its query may carry a user's name or a key).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<target>");
    }
    text
}

/// Runs the worker every `every` until the task is dropped.
pub async fn run(worker: PushWorker, every: std::time::Duration) {
    loop {
        match worker.run_once().await {
            // More may be due: go again at once.
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "CRM push worker"),
        }
        tokio::time::sleep(every).await;
    }
}

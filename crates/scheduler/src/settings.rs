//! Each tenant's sync settings, with the defaults a new tenant starts from.

use crate::cron::Cron;
use crate::{Result, SyncError};
use scimgate_store::{Aggregate, Expect, Store, Tenant, Versioned};
use serde::{Deserialize, Serialize};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    /// Automatic sync (schedule and on change); off until an admin turns it on.
    pub user_sync_active: bool,
    /// Five-field cron, UTC.
    pub schedule: String,
    /// Quiet time after the last SCIM write before an on-change sync starts.
    pub debounce_seconds: u32,
    /// A run is held when it would deprovision more than this share of active accounts…
    pub guard_percent: u32,
    /// …and more than this many.
    pub guard_minimum: u32,
    /// Each account a sync creates (from when this is switched on) gets one welcome
    /// e-mail at its primary address.
    #[serde(default)]
    pub welcome_email: bool,
    /// The CRM sign-in address the welcome e-mail points to.
    #[serde(default)]
    pub sign_in_url: Option<String>,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            user_sync_active: false,
            schedule: "*/15 * * * *".into(),
            debounce_seconds: 30,
            guard_percent: 10,
            guard_minimum: 5,
            welcome_email: false,
            sign_in_url: None,
        }
    }
}

impl SyncSettings {
    pub fn validate(&self) -> Result<Cron> {
        if self.guard_percent > 100 {
            return Err(SyncError::Invalid(format!(
                "guard_percent: {} is more than 100",
                self.guard_percent
            )));
        }
        if self.debounce_seconds > 24 * 3600 {
            return Err(SyncError::Invalid(
                "debounce_seconds: at most one day (86400)".into(),
            ));
        }
        if let Some(url) = &self.sign_in_url {
            if !(url.starts_with("https://") || url.starts_with("http://"))
                || url.chars().any(char::is_whitespace)
            {
                return Err(SyncError::Invalid(format!(
                    "sign_in_url: {url:?} is not an http:// or https:// address"
                )));
            }
        }
        if self.welcome_email && self.sign_in_url.is_none() {
            return Err(SyncError::Invalid(
                "welcome_email: set sign_in_url too, so the e-mail can say where to sign in".into(),
            ));
        }
        Cron::parse(&self.schedule).map_err(SyncError::Invalid)
    }

    /// Whether deprovisioning `count` of `active` accounts trips the guard.
    pub fn guard_trips(&self, count: u64, active: u64) -> bool {
        count > u64::from(self.guard_minimum)
            && count * 100 > active * u64::from(self.guard_percent)
    }
}

pub async fn load(store: &Store, tenant: &Tenant) -> Result<SyncSettings> {
    let row = sqlx::query(
        "SELECT user_sync_active, schedule, debounce_seconds, guard_percent, guard_minimum,
            welcome_email_since, sign_in_url
         FROM sync_settings WHERE tenant_id = $1",
    )
    .bind(tenant.id)
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else {
        return Ok(SyncSettings::default());
    };
    let number = |name: &str| -> Result<u32> {
        let n: i64 = row.try_get(name)?;
        u32::try_from(n).map_err(|_| SyncError::Corrupt(format!("sync setting {name} = {n}")))
    };
    Ok(SyncSettings {
        user_sync_active: row.try_get::<i64, _>("user_sync_active")? != 0,
        schedule: row.try_get("schedule")?,
        debounce_seconds: number("debounce_seconds")?,
        guard_percent: number("guard_percent")?,
        guard_minimum: number("guard_minimum")?,
        welcome_email: row
            .try_get::<Option<String>, _>("welcome_email_since")?
            .is_some(),
        sign_in_url: row.try_get("sign_in_url")?,
    })
}

/// Since when welcome e-mails are on (`None`: off), and the sign-in address.
pub(crate) async fn welcome(store: &Store, tenant: &Tenant) -> Result<Option<(String, String)>> {
    let row = sqlx::query(
        "SELECT welcome_email_since, sign_in_url FROM sync_settings WHERE tenant_id = $1",
    )
    .bind(tenant.id)
    .fetch_optional(store.pool())
    .await?;
    Ok(row.and_then(|row| {
        let since: Option<String> = row.try_get(0).ok()?;
        let url: Option<String> = row.try_get(1).ok()?;
        since.zip(url)
    }))
}

/// Makes sure the tenant has a settings row (the automatic-sync claims live in it).
pub(crate) async fn ensure_row(store: &Store, tenant: &Tenant) -> Result<()> {
    let d = SyncSettings::default();
    sqlx::query(
        "INSERT INTO sync_settings (tenant_id, user_sync_active, schedule, debounce_seconds,
            guard_percent, guard_minimum) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(tenant.id)
    .bind(i64::from(d.user_sync_active))
    .bind(&d.schedule)
    .bind(i64::from(d.debounce_seconds))
    .bind(i64::from(d.guard_percent))
    .bind(i64::from(d.guard_minimum))
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The settings with their version (see `scimgate_store::edits`).
pub async fn load_versioned(store: &Store, tenant: &Tenant) -> Result<Versioned<SyncSettings>> {
    let version = store.edit_version(tenant, Aggregate::Settings).await?;
    let value = load(store, tenant).await?;
    Ok(Versioned { version, value })
}

/// Saves valid settings if `expect` is still their version; returns the new version.
/// `now` starts the welcome e-mails when they are switched on (accounts created earlier
/// never get one); switching them off clears it.
pub async fn save(
    store: &Store,
    tenant: &Tenant,
    settings: &SyncSettings,
    expect: Expect,
    now: &str,
) -> Result<i64> {
    settings.validate()?;
    ensure_row(store, tenant).await?;
    let (tenant, settings, now) = (tenant.clone(), settings.clone(), now.to_owned());
    store
        .write_transaction(move |conn| {
            Box::pin(async move {
                let version =
                    scimgate_store::edits::bump(conn, &tenant, Aggregate::Settings, expect, &now)
                        .await?;
                sqlx::query(
                    "UPDATE sync_settings SET user_sync_active = $1, schedule = $2, debounce_seconds = $3,
                        guard_percent = $4, guard_minimum = $5, sign_in_url = $6,
                        welcome_email_since = CASE WHEN $7 = 0 THEN NULL ELSE COALESCE(welcome_email_since, $8) END
                     WHERE tenant_id = $9",
                )
                .bind(i64::from(settings.user_sync_active))
                .bind(&settings.schedule)
                .bind(i64::from(settings.debounce_seconds))
                .bind(i64::from(settings.guard_percent))
                .bind(i64::from(settings.guard_minimum))
                .bind(&settings.sign_in_url)
                .bind(i64::from(settings.welcome_email))
                .bind(&now)
                .bind(tenant.id)
                .execute(&mut *conn)
                .await?;
                Ok::<_, SyncError>(version)
            })
        })
        .await
}

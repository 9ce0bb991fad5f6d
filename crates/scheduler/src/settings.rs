//! Each tenant's sync settings: what a sync can use (checked here, where cron is
//! known), loaded and saved through the store.

use crate::cron::Cron;
use crate::{Result, SyncError};
pub use scimgate_core::SyncSettings;
use scimgate_store::{Expect, Store, Tenant, Versioned};

/// Refuses settings a sync cannot use, naming the key; the schedule, parsed.
pub fn validate(settings: &SyncSettings) -> Result<Cron> {
    if settings.guard_percent > 100 {
        return Err(SyncError::Invalid(format!(
            "guard_percent: {} is more than 100",
            settings.guard_percent
        )));
    }
    if settings.debounce_seconds > 24 * 3600 {
        return Err(SyncError::Invalid(
            "debounce_seconds: at most one day (86400)".into(),
        ));
    }
    if let Some(url) = &settings.sign_in_url {
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.chars().any(char::is_whitespace)
        {
            return Err(SyncError::Invalid(format!(
                "sign_in_url: {url:?} is not an http:// or https:// address"
            )));
        }
    }
    if settings.welcome_email && settings.sign_in_url.is_none() {
        return Err(SyncError::Invalid(
            "welcome_email: set sign_in_url too, so the e-mail can say where to sign in".into(),
        ));
    }
    Cron::parse(&settings.schedule).map_err(SyncError::Invalid)
}

pub async fn load(store: &Store, tenant: &Tenant) -> Result<SyncSettings> {
    Ok(store.sync_settings(tenant).await?)
}

/// The settings with their version (see `scimgate_store::edits`).
pub async fn load_versioned(store: &Store, tenant: &Tenant) -> Result<Versioned<SyncSettings>> {
    Ok(store.sync_settings_versioned(tenant).await?)
}

/// Saves valid settings if `expect` is still their version; returns the new version.
/// `now` starts the welcome e-mails when they are switched on.
pub async fn save(
    store: &Store,
    tenant: &Tenant,
    settings: &SyncSettings,
    expect: Expect,
    now: &str,
) -> Result<i64> {
    validate(settings)?;
    Ok(store
        .save_sync_settings(tenant, settings, expect, now)
        .await?)
}

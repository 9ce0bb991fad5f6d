//! Each tenant's sync settings row: the settings an admin edits (versioned, see
//! `edits`), since when welcome e-mails are on, and the automatic-sync claims that let
//! replicas agree which of them runs a due tick.

use crate::edits::{self, Aggregate, Expect, Versioned};
use crate::{Result, Store, StoreError, Tenant};
use scimgate_core::SyncSettings;
use sqlx::{AnyConnection, Row};

/// A tick of automatic sync that a replica claims before it runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncClaim {
    /// A schedule fire, by its time (Unix ms).
    Cron,
    /// SCIM changes up to a change sequence.
    Change,
}

impl SyncClaim {
    fn column(self) -> &'static str {
        match self {
            SyncClaim::Cron => "cron_claimed_at",
            SyncClaim::Change => "change_claimed_seq",
        }
    }
}

/// A tenant with automatic sync on, with what deciding whether a run is due needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoSyncTenant {
    pub tenant: Tenant,
    pub schedule: String,
    pub debounce_seconds: i64,
    /// The last schedule fire (Unix ms) and change sequence a run was claimed for.
    pub cron_claimed_at: i64,
    pub change_claimed_seq: i64,
    /// The tenant's change sequence now.
    pub change_seq: i64,
}

async fn ensure_row(conn: &mut AnyConnection, tenant: &Tenant) -> Result<()> {
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
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Every tenant with automatic sync on, with its schedule, quiet time, claims and
    /// change sequence: one query however many tenants there are (tenants with
    /// automatic sync off cost nothing more).
    pub async fn auto_sync_tenants(&self) -> Result<Vec<AutoSyncTenant>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.change_seq, s.schedule, s.debounce_seconds,
                s.cron_claimed_at, s.change_claimed_seq
             FROM sync_settings s JOIN tenants t ON t.id = s.tenant_id
             WHERE s.user_sync_active <> 0 ORDER BY t.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AutoSyncTenant {
                    tenant: crate::tenants::tenant_from_row(row)?,
                    schedule: row.try_get("schedule")?,
                    debounce_seconds: row.try_get("debounce_seconds")?,
                    cron_claimed_at: row.try_get("cron_claimed_at")?,
                    change_claimed_seq: row.try_get("change_claimed_seq")?,
                    change_seq: row.try_get("change_seq")?,
                })
            })
            .collect()
    }

    /// The tenant's settings (the defaults until an admin saves some).
    pub async fn sync_settings(&self, tenant: &Tenant) -> Result<SyncSettings> {
        let row = sqlx::query(
            "SELECT user_sync_active, schedule, debounce_seconds, guard_percent, guard_minimum,
                welcome_email_since, sign_in_url
             FROM sync_settings WHERE tenant_id = $1",
        )
        .bind(tenant.id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(SyncSettings::default());
        };
        let number = |name: &str| -> Result<u32> {
            let n: i64 = row.try_get(name)?;
            u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("sync setting {name} = {n}")))
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

    pub async fn sync_settings_versioned(
        &self,
        tenant: &Tenant,
    ) -> Result<Versioned<SyncSettings>> {
        let version = self.edit_version(tenant, Aggregate::Settings).await?;
        let value = self.sync_settings(tenant).await?;
        Ok(Versioned { version, value })
    }

    /// Saves settings (checked by the caller) if `expect` is still their version; returns
    /// the new version. `now` starts the welcome e-mails when they are switched on
    /// (accounts created earlier never get one); switching them off clears it.
    pub async fn save_sync_settings(
        &self,
        tenant: &Tenant,
        settings: &SyncSettings,
        expect: Expect,
        now: &str,
    ) -> Result<i64> {
        let (tenant, settings, now) = (tenant.clone(), settings.clone(), now.to_owned());
        self.write_conn(move |conn| {
            Box::pin(async move {
                let version = edits::bump(conn, &tenant, Aggregate::Settings, expect, &now).await?;
                ensure_row(conn, &tenant).await?;
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
                Ok::<_, StoreError>(version)
            })
        })
        .await
    }

    /// Since when welcome e-mails are on (`None`: off), and the sign-in address.
    pub async fn welcome_email_since(&self, tenant: &Tenant) -> Result<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT welcome_email_since, sign_in_url FROM sync_settings WHERE tenant_id = $1",
        )
        .bind(tenant.id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|row| {
            let since: Option<String> = row.try_get(0).ok()?;
            let url: Option<String> = row.try_get(1).ok()?;
            since.zip(url)
        }))
    }

    /// Makes sure the tenant has a settings row (the automatic-sync claims live in it).
    pub async fn ensure_sync_settings(&self, tenant: &Tenant) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        ensure_row(&mut conn, tenant).await
    }

    /// The claims made so far: the last schedule fire (Unix ms) and change sequence.
    pub async fn sync_claims(&self, tenant: &Tenant) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT cron_claimed_at, change_claimed_seq FROM sync_settings WHERE tenant_id = $1",
        )
        .bind(tenant.id)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Claims `value` (a fire time or a change sequence) if no replica has claimed it or
    /// a later one; `true` when this call did.
    pub async fn claim_sync(&self, tenant: &Tenant, claim: SyncClaim, value: i64) -> Result<bool> {
        let done = sqlx::query(&format!(
            "UPDATE sync_settings SET {col} = $1 WHERE tenant_id = $2 AND {col} < $1",
            col = claim.column()
        ))
        .bind(value)
        .bind(tenant.id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a claim back (to `before`), unless another replica has claimed a later one.
    pub async fn release_sync_claim(
        &self,
        tenant: &Tenant,
        claim: SyncClaim,
        before: i64,
        claimed: i64,
    ) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE sync_settings SET {col} = $1 WHERE tenant_id = $2 AND {col} = $3",
            col = claim.column()
        ))
        .bind(before)
        .bind(tenant.id)
        .bind(claimed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Restart sync's holding-area half: the staged users and groups are cleared and the
    /// time noted, in one transaction.
    pub async fn clear_holding_area(&self, tenant: &Tenant, now: &str) -> Result<()> {
        let (tenant, now) = (tenant.clone(), now.to_owned());
        self.write_conn(move |conn| {
            Box::pin(async move {
                ensure_row(conn, &tenant).await?;
                Store::clear_staged_in(conn, &tenant).await?;
                sqlx::query("UPDATE sync_settings SET restarted_at = $1 WHERE tenant_id = $2")
                    .bind(&now)
                    .bind(tenant.id)
                    .execute(&mut *conn)
                    .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
    }
}

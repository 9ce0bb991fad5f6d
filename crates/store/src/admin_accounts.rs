//! Web UI accounts (name, password hash, role, granted tenants), their sign-in failures
//! and lockout, and their sessions. Password hashing and the lockout policy are the
//! application's; this module only keeps what it decides.

use crate::columns::Decoded;
use crate::{Result, Store, StoreError};
use scimgate_core::{AdminAccount, AdminRole, TenantName};
use sqlx::Row;

/// An account to create; the hash is already computed (argon2id, by the application).
pub struct NewAdminAccount<'a> {
    pub name: &'a str,
    pub password_hash: Option<&'a str>,
    pub role: AdminRole,
    /// Ids of the tenants it may see.
    pub tenant_ids: &'a [i64],
}

/// What a sign-in needs of an account: the account, its password hash and its lockout.
#[derive(Debug, Clone)]
pub struct SignInRecord {
    pub account: AdminAccount,
    pub password_hash: Option<String>,
    /// Sign-in is refused until then (Unix ms); 0 when not locked.
    pub locked_until: i64,
}

/// A live session: the account and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub account: AdminAccount,
    pub csrf_token: String,
}

const ACCOUNT_COLUMNS: &str = "a.id, a.name, a.role, a.created_at, a.password_hash, a.locked_until";

/// One row per account, its tenants joined in after (they are few).
fn account_from_row(row: &sqlx::any::AnyRow) -> Result<AdminAccount> {
    let id: i64 = row.try_get("id")?;
    let role: String = row.try_get("role")?;
    Ok(AdminAccount {
        id,
        name: row.try_get("name")?,
        role: AdminRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("admin account {id}: role {role:?}")))?,
        tenants: Vec::new(),
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Creates an account; [`StoreError::Conflict`] when the name is taken.
    pub async fn create_admin_account(
        &self,
        new: NewAdminAccount<'_>,
        now: &str,
    ) -> Result<AdminAccount> {
        let (name, hash, tenants) = (
            new.name.to_owned(),
            new.password_hash.map(str::to_owned),
            new.tenant_ids.to_vec(),
        );
        let (role, now) = (new.role, now.to_owned());
        let id = self
            .write_conn(move |conn| {
                Box::pin(async move {
                    let id: i64 = sqlx::query(
                        "INSERT INTO admin_accounts (name, password_hash, role, created_at)
                         VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(&name)
                    .bind(&hash)
                    .bind(role.name())
                    .bind(&now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| StoreError::from_write(e, &format!("admin account {name:?}")))?
                    .try_get(0)?;
                    for tenant_id in tenants {
                        sqlx::query(
                            "INSERT INTO admin_account_tenants (account_id, tenant_id) VALUES ($1, $2)
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(id)
                        .bind(tenant_id)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok::<_, StoreError>(id)
                })
            })
            .await?;
        self.admin_account_by_id(id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Every account, by name.
    pub async fn admin_accounts(&self) -> Result<Vec<AdminAccount>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a ORDER BY a.name"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut accounts = rows.decoded(account_from_row)?;
        for account in &mut accounts {
            account.tenants = self.granted_tenants(account.id).await?;
        }
        Ok(accounts)
    }

    /// How many accounts exist (none: the first-run page is open).
    pub async fn admin_account_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM admin_accounts")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    async fn admin_account_by_id(&self, id: i64) -> Result<Option<AdminAccount>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        self.with_tenants(row.decoded(account_from_row)?).await
    }

    async fn with_tenants(&self, account: Option<AdminAccount>) -> Result<Option<AdminAccount>> {
        let Some(mut account) = account else {
            return Ok(None);
        };
        account.tenants = self.granted_tenants(account.id).await?;
        Ok(Some(account))
    }

    async fn granted_tenants(&self, account_id: i64) -> Result<Vec<TenantName>> {
        sqlx::query(
            "SELECT t.name FROM admin_account_tenants g JOIN tenants t ON t.id = g.tenant_id
             WHERE g.account_id = $1 ORDER BY t.name",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?
        .decoded(|row| {
            let name: String = row.try_get(0)?;
            TenantName::parse(&name).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
    }

    /// The account named `name` with what a sign-in checks.
    pub async fn sign_in_record(&self, name: &str) -> Result<Option<SignInRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a WHERE a.name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (password_hash, locked_until) =
            (row.try_get("password_hash")?, row.try_get("locked_until")?);
        let account = self.with_tenants(Some(account_from_row(&row)?)).await?;
        Ok(account.map(|account| SignInRecord {
            account,
            password_hash,
            locked_until,
        }))
    }

    /// Counts a failed sign-in; from the `lock_after`-th in a row, sign-in is refused
    /// until `lock_until_ms`.
    pub async fn record_sign_in_failure(
        &self,
        account_id: i64,
        lock_after: i64,
        lock_until_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE admin_accounts SET failed_sign_ins = failed_sign_ins + 1,
                locked_until = CASE WHEN failed_sign_ins + 1 >= $1 THEN $2 ELSE locked_until END
             WHERE id = $3",
        )
        .bind(lock_after)
        .bind(lock_until_ms)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A successful sign-in: the failure count starts again.
    pub async fn record_sign_in_success(&self, account_id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE admin_accounts SET failed_sign_ins = 0, locked_until = 0 WHERE id = $1",
        )
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets an account's password hash and ends its sessions (and any lockout).
    /// [`StoreError::NotFound`] when there is no such account.
    pub async fn set_admin_password(&self, name: &str, password_hash: &str) -> Result<()> {
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.write_conn(move |conn| {
            Box::pin(async move {
                let id: i64 = sqlx::query(
                    "UPDATE admin_accounts SET password_hash = $1, failed_sign_ins = 0, locked_until = 0
                     WHERE name = $2 RETURNING id",
                )
                .bind(&hash)
                .bind(&name)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(StoreError::NotFound)?
                .try_get(0)?;
                sqlx::query("DELETE FROM admin_sessions WHERE account_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Removes an account (its sessions and grants with it); [`StoreError::NotFound`]
    /// when there is none.
    pub async fn remove_admin_account(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM admin_accounts WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        match done.rows_affected() {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// Stores a new session (only the hash of its id).
    pub async fn create_admin_session(
        &self,
        account_id: i64,
        id_hash: &str,
        csrf_token: &str,
        now: &str,
        expires_at_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO admin_sessions (id_hash, account_id, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(account_id)
        .bind(csrf_token)
        .bind(now)
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session with this id hash, if it has not expired by `now_ms`.
    pub async fn admin_session(&self, id_hash: &str, now_ms: i64) -> Result<Option<AdminSession>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS}, s.csrf_token FROM admin_sessions s
             JOIN admin_accounts a ON a.id = s.account_id
             WHERE s.id_hash = $1 AND s.expires_at > $2"
        ))
        .bind(id_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let csrf_token: String = row.try_get("csrf_token")?;
        let account = self.with_tenants(Some(account_from_row(&row)?)).await?;
        Ok(account.map(|account| AdminSession {
            account,
            csrf_token,
        }))
    }

    /// Ends a session (sign-out); ending one that is gone is not an error.
    pub async fn end_admin_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a first-run link's token hash, valid until `expires_at_ms`.
    pub async fn add_setup_link(&self, token_hash: &str, expires_at_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO admin_setup_links (token_hash, expires_at) VALUES ($1, $2)")
            .bind(token_hash)
            .bind(expires_at_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether a first-run link is live: its token is known and unexpired, and no
    /// account exists yet.
    pub async fn setup_link_live(&self, token_hash: &str, now_ms: i64) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM admin_setup_links WHERE token_hash = $1 AND expires_at > $2
             AND NOT EXISTS (SELECT 1 FROM admin_accounts)",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Uses a first-run link up: `true` for exactly one caller while it is live, and every
    /// link is gone after (one first administrator).
    pub async fn use_setup_link(&self, token_hash: &str, now_ms: i64) -> Result<bool> {
        let token_hash = token_hash.to_owned();
        self.write_conn(move |conn| {
            Box::pin(async move {
                let live = sqlx::query(
                    "DELETE FROM admin_setup_links WHERE token_hash = $1 AND expires_at > $2
                     AND NOT EXISTS (SELECT 1 FROM admin_accounts)",
                )
                .bind(&token_hash)
                .bind(now_ms)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                    == 1;
                sqlx::query("DELETE FROM admin_setup_links")
                    .execute(&mut *conn)
                    .await?;
                Ok(live)
            })
        })
        .await
    }
}

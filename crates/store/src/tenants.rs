//! Tenants and their SCIM bearer tokens. A token is shown once at creation; only its
//! SHA-256 is stored, and the comparison after the lookup is constant-time.

use crate::columns::Decoded;
use crate::{Result, Store, StoreError};
pub use scimgate_core::Tenant;
use scimgate_core::{TenantName, Timestamp};
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: i64,
    pub label: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// When the token last proved a request (to within [`crate::AUTH_CACHE_TTL`]).
    pub last_used_at: Option<String>,
}

/// A verified token: its id and label (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRef {
    pub id: i64,
    pub label: String,
}

/// A freshly created token: the secret is only ever in this value, never in the database.
pub struct IssuedToken {
    pub info: TokenInfo,
    pub secret: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("info", &self.info)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// SCIM tokens (pasted into Entra) and admin API tokens live in separate tables and
/// carry different prefixes, so one kind can never authenticate as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Scim,
    Admin,
}

impl TokenKind {
    fn table(self) -> &'static str {
        match self {
            TokenKind::Scim => "scim_tokens",
            TokenKind::Admin => "admin_tokens",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Scim => "sgt_",
            TokenKind::Admin => "sga_",
        }
    }
}

fn new_token_secret(kind: TokenKind) -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Corrupt(format!("no randomness for a token: {e}")))?;
    let mut secret = String::with_capacity(4 + 64);
    secret.push_str(kind.prefix());
    for b in bytes {
        secret.push_str(&format!("{b:02x}"));
    }
    Ok(secret)
}

fn token_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn tenant_from_row(row: &sqlx::any::AnyRow) -> Result<Tenant> {
    let id: i64 = row.try_get("id")?;
    let name: String = row.try_get("name")?;
    let name = TenantName::parse(&name)
        .map_err(|e| StoreError::Corrupt(format!("tenant {id} has a bad name: {e}")))?;
    Ok(Tenant { id, name })
}

impl Store {
    pub async fn create_tenant(&self, name: &TenantName, now: Timestamp) -> Result<Tenant> {
        let row = sqlx::query(
            "INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id, name",
        )
        .bind(name.as_str())
        .bind(now.to_rfc3339())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::from_write(e, &format!("tenant {name}")))?;
        tenant_from_row(&row)
    }

    pub async fn tenant(&self, name: &TenantName) -> Result<Option<Tenant>> {
        sqlx::query("SELECT id, name FROM tenants WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?
            .decoded(tenant_from_row)
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        sqlx::query("SELECT id, name FROM tenants ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .decoded(tenant_from_row)
    }

    /// The tenant's change sequence: the number of the last SCIM write.
    pub async fn change_seq(&self, tenant: &Tenant) -> Result<i64> {
        Ok(sqlx::query("SELECT change_seq FROM tenants WHERE id = $1")
            .bind(tenant.id)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// A new token of `kind` (SCIM or admin) for the tenant.
    pub async fn create_token_of(
        &self,
        kind: TokenKind,
        tenant: &Tenant,
        label: &str,
        now: Timestamp,
    ) -> Result<IssuedToken> {
        let secret = new_token_secret(kind)?;
        let created_at = now.to_rfc3339();
        let row = sqlx::query(&format!(
            "INSERT INTO {} (tenant_id, label, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            kind.table()
        ))
        .bind(tenant.id)
        .bind(label)
        .bind(token_hash(&secret))
        .bind(&created_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(IssuedToken {
            info: TokenInfo {
                id: row.try_get(0)?,
                label: label.to_owned(),
                created_at,
                revoked_at: None,
                last_used_at: None,
            },
            secret,
        })
    }

    pub async fn tokens(&self, tenant: &Tenant) -> Result<Vec<TokenInfo>> {
        self.tokens_of(TokenKind::Scim, tenant).await
    }

    pub async fn tokens_of(&self, kind: TokenKind, tenant: &Tenant) -> Result<Vec<TokenInfo>> {
        sqlx::query(&format!(
            "SELECT id, label, created_at, revoked_at, last_used_at FROM {} WHERE tenant_id = $1 ORDER BY id",
            kind.table()
        ))
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(TokenInfo {
                id: row.try_get("id")?,
                label: row.try_get("label")?,
                created_at: row.try_get("created_at")?,
                revoked_at: row.try_get("revoked_at")?,
                last_used_at: row.try_get("last_used_at")?,
            })
        })
        .collect()
    }

    /// When one of the tenant's SCIM tokens last proved a request (to within
    /// [`crate::AUTH_CACHE_TTL`]): the identity provider's last request.
    pub async fn last_scim_request(&self, tenant: &Tenant) -> Result<Option<String>> {
        Ok(
            sqlx::query("SELECT MAX(last_used_at) FROM scim_tokens WHERE tenant_id = $1")
                .bind(tenant.id)
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?,
        )
    }

    /// Revokes one of the tenant's tokens of `kind`; `NotFound` if the id is not one of
    /// them.
    pub async fn revoke_token_of(
        &self,
        kind: TokenKind,
        tenant: &Tenant,
        token_id: i64,
        now: Timestamp,
    ) -> Result<()> {
        let done = sqlx::query(&format!(
            "UPDATE {} SET revoked_at = COALESCE(revoked_at, $1) WHERE tenant_id = $2 AND id = $3",
            kind.table()
        ))
        .bind(now.to_rfc3339())
        .bind(tenant.id)
        .bind(token_id)
        .execute(&self.pool)
        .await?;
        self.auth_cache.forget_tenant(tenant.id);
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Drops every remembered token verification (after tokens or tenants were changed
    /// outside this store handle; revocation through it forgets them by itself).
    pub fn forget_verified_tokens(&self) {
        self.auth_cache.forget_all();
    }

    /// The tenant a presented bearer token belongs to, if it is a live token. Successful
    /// verifications are remembered for [`crate::AUTH_CACHE_TTL`].
    pub async fn authenticate(&self, presented: &str, now: Timestamp) -> Result<Option<Tenant>> {
        let presented_hash = token_hash(presented);
        if let Some(tenant) = self.auth_cache.get(&presented_hash) {
            return Ok(Some(tenant));
        }
        let verified = (self.verify_token(TokenKind::Scim, &presented_hash, now)).await?;
        let tenant = verified.map(|(tenant, _)| tenant);
        if let Some(tenant) = &tenant {
            self.auth_cache.put(presented_hash, tenant.clone());
        }
        Ok(tenant)
    }

    /// The tenant an admin API token belongs to, and the token (its id and label, which
    /// name the caller in the audit log), if it is live. Not cached: the admin API is not
    /// a hot path, and a revoke must take effect at once in every process.
    pub async fn authenticate_admin(
        &self,
        presented: &str,
        now: Timestamp,
    ) -> Result<Option<(Tenant, TokenRef)>> {
        self.verify_token(TokenKind::Admin, &token_hash(presented), now)
            .await
    }

    async fn verify_token(
        &self,
        kind: TokenKind,
        presented_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(Tenant, TokenRef)>> {
        let row = sqlx::query(&format!(
            "SELECT t.id, t.name, k.token_hash, k.id AS token_id, k.label FROM {} k JOIN tenants t ON t.id = k.tenant_id
             WHERE k.token_hash = $1 AND k.revoked_at IS NULL",
            kind.table()
        ))
        .bind(presented_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get("token_hash")?;
        // The index lookup already matched; the constant-time check keeps the final
        // decision free of early-exit timing whatever the database's comparison does.
        if bool::from(stored.as_bytes().ct_eq(presented_hash.as_bytes())) {
            self.note_token_use(kind, presented_hash, now);
            let token = TokenRef {
                id: row.try_get("token_id")?,
                label: row.try_get("label")?,
            };
            Ok(Some((tenant_from_row(&row)?, token)))
        } else {
            Ok(None)
        }
    }

    /// Records when a token was last used: on each verification (not each request:
    /// verified SCIM tokens are remembered a while), written in the background so that the
    /// request does not wait for it. A failed write loses only this timestamp.
    fn note_token_use(&self, kind: TokenKind, token_hash: &str, now: Timestamp) {
        let (pool, token_hash, at) = (self.pool.clone(), token_hash.to_owned(), now.to_rfc3339());
        let sql = format!(
            "UPDATE {} SET last_used_at = $1 WHERE token_hash = $2",
            kind.table()
        );
        tokio::spawn(async move {
            let written = sqlx::query(&sql)
                .bind(at)
                .bind(token_hash)
                .execute(&pool)
                .await;
            if let Err(e) = written {
                tracing::warn!(error = %e, "recording when a token was last used failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_hashed() {
        let a = new_token_secret(TokenKind::Scim).unwrap();
        let b = new_token_secret(TokenKind::Scim).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("sgt_"));
        assert_eq!(a.len(), 4 + 64);
        let admin = new_token_secret(TokenKind::Admin).unwrap();
        assert!(admin.starts_with("sga_"));
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(!format!(
            "{:?}",
            IssuedToken {
                info: TokenInfo {
                    id: 1,
                    label: "x".into(),
                    created_at: String::new(),
                    revoked_at: None,
                    last_used_at: None,
                },
                secret: a.clone()
            }
        )
        .contains(&a));
    }
}

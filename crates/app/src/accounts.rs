//! Web UI accounts: creating, listing, removing, resetting a password, and signing in
//! with a name and password. Passwords are hashed with argon2id; a run of failures locks
//! the account for a while; a wrong name and a wrong password answer alike (and take
//! about as long), so sign-in does not tell who has an account.

use crate::{App, AppError, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use scimgate_core::{AdminAccount, AdminRole, TenantName};
use scimgate_store::{NewAdminAccount, StoreError};
use std::sync::OnceLock;

/// Failed sign-ins in a row that lock an account.
pub const LOCK_AFTER: i64 = 5;
/// How long a lock lasts.
pub const LOCK_MS: i64 = 15 * 60 * 1000;
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// How long a first-run link stays usable.
pub const SETUP_LINK_MS: i64 = 60 * 60 * 1000;

/// What every failed sign-in says, whatever failed.
pub const SIGN_IN_REFUSED: &str =
    "the name or password is wrong (after 5 failures in a row an account is locked for 15 minutes)";

fn hash(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| AppError::Internal(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hash: {e}")))
}

fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash no password matches, verified against when the name is unknown so that the
/// answer takes as long as for a real account.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash("no account has this password").unwrap_or_default())
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::Invalid(format!(
            "the password is too short: use at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(format!(
            "account name {name:?}: 1 to 128 characters, no spaces or control characters"
        )))
    }
}

impl App {
    /// Creates a web UI account that sees `tenants`.
    pub async fn create_admin_account(
        &self,
        name: &str,
        password: &str,
        role: AdminRole,
        tenants: &[TenantName],
    ) -> Result<AdminAccount> {
        check_password(password)?;
        self.create_account(name, Some(password), role, tenants)
            .await
    }

    /// Creates an account with no password: it signs in only through the deployment's
    /// identity provider (OIDC), as `name`.
    pub async fn create_admin_account_without_password(
        &self,
        name: &str,
        role: AdminRole,
        tenants: &[TenantName],
    ) -> Result<AdminAccount> {
        self.create_account(name, None, role, tenants).await
    }

    async fn create_account(
        &self,
        name: &str,
        password: Option<&str>,
        role: AdminRole,
        tenants: &[TenantName],
    ) -> Result<AdminAccount> {
        check_name(name)?;
        let mut tenant_ids = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let found = self.store.tenant(tenant).await?;
            let found =
                found.ok_or_else(|| AppError::NotFound(format!("no tenant named {tenant}")))?;
            tenant_ids.push(found.id);
        }
        let password_hash = password.map(hash).transpose()?;
        let new = NewAdminAccount {
            name,
            password_hash: password_hash.as_deref(),
            role,
            tenant_ids: &tenant_ids,
        };
        Ok(self.store.create_admin_account(new, &self.now()).await?)
    }

    pub async fn admin_accounts(&self) -> Result<Vec<AdminAccount>> {
        Ok(self.store.admin_accounts().await?)
    }

    /// Removes an account; its sessions end with it.
    pub async fn remove_admin_account(&self, name: &str) -> Result<()> {
        self.store
            .remove_admin_account(name)
            .await
            .map_err(|e| no_account(e, name))
    }

    /// Sets a new password; the account's sessions end and any lock is lifted.
    pub async fn reset_admin_password(&self, name: &str, password: &str) -> Result<()> {
        check_password(password)?;
        let password_hash = hash(password)?;
        self.store
            .set_admin_password(name, &password_hash)
            .await
            .map_err(|e| no_account(e, name))
    }

    /// The account, if `password` is its password and it is not locked. Every refusal is
    /// the same [`AppError::Unauthorized`].
    pub async fn sign_in(&self, name: &str, password: &str) -> Result<AdminAccount> {
        let now = self.clock.now().unix_millis();
        let Some(record) = self.store.sign_in_record(name).await? else {
            verify(password, decoy_hash());
            self.audit_sign_in(name, None, false).await;
            return Err(refused());
        };
        let stored = record.password_hash.as_deref().unwrap_or(decoy_hash());
        let matches = verify(password, stored) && record.password_hash.is_some();
        if record.locked_until > now || !matches {
            if !matches {
                (self.store)
                    .record_sign_in_failure(record.account.id, LOCK_AFTER, now + LOCK_MS)
                    .await?;
            }
            self.audit_sign_in(name, Some(&record.account), false).await;
            return Err(refused());
        }
        self.store.record_sign_in_success(record.account.id).await?;
        self.audit_sign_in(name, Some(&record.account), true).await;
        Ok(record.account)
    }
}

impl App {
    /// The account named `name`, signing in through the deployment's identity provider
    /// (OIDC), which has already proven who the person is. The password lock does not
    /// apply: it stops guessing, and a stranger's wrong passwords must not lock someone
    /// out of signing in through their provider.
    pub async fn sign_in_vouched(&self, name: &str) -> Result<AdminAccount> {
        let Some(record) = self.store.sign_in_record(name).await? else {
            self.audit_sign_in(name, None, false).await;
            return Err(AppError::Unauthorized(SIGN_IN_VOUCHED_REFUSED.to_owned()));
        };
        self.store.record_sign_in_success(record.account.id).await?;
        self.audit_sign_in(name, Some(&record.account), true).await;
        Ok(record.account)
    }
}

/// What an identity-provider sign-in without a matching account says: the person is
/// known to the provider, so naming the missing account tells them nothing new.
pub const SIGN_IN_VOUCHED_REFUSED: &str =
    "your identity provider signed you in, but no scimgate account has your name: ask an administrator to create one (scimgate admin create)";

fn token_hash(token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl App {
    /// While no account exists: a new one-time token for the first-run page, valid for
    /// [`SETUP_LINK_MS`] (only its hash is stored). `None` once an account exists.
    pub async fn first_run_token(&self) -> Result<Option<String>> {
        if self.store.admin_account_count().await? > 0 {
            return Ok(None);
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let expires = self.clock.now().unix_millis() + SETUP_LINK_MS;
        self.store
            .add_setup_link(&token_hash(&token), expires)
            .await?;
        Ok(Some(token))
    }

    /// Whether `token` opens the first-run page now.
    /// The tenant the first administrator most likely wants: the only one there is (the
    /// `demo` tenant after `scimgate demo`, say).
    pub async fn first_run_tenant(&self) -> Result<Option<TenantName>> {
        let tenants = self.store.tenants().await?;
        Ok(match tenants.as_slice() {
            [only] => Some(only.name.clone()),
            _ => None,
        })
    }

    pub async fn first_run_open(&self, token: &str) -> Result<bool> {
        let now = self.clock.now().unix_millis();
        Ok(self.store.setup_link_live(&token_hash(token), now).await?)
    }

    /// Creates the first administrator, granted `tenant` (created when it does not exist
    /// yet), with a live first-run token; the token, and every other, is used up.
    pub async fn complete_first_run(
        &self,
        token: &str,
        name: &str,
        password: &str,
        tenant: &TenantName,
    ) -> Result<AdminAccount> {
        check_name(name)?;
        check_password(password)?;
        let now = self.clock.now();
        if !self
            .store
            .use_setup_link(&token_hash(token), now.unix_millis())
            .await?
        {
            return Err(AppError::NotFound(
                "this first-run link is used up or has expired; restart `scimgate serve` for a new one while no account exists".into(),
            ));
        }
        if self.store.tenant(tenant).await?.is_none() {
            self.store.create_tenant(tenant, now).await?;
        }
        let tenants = [tenant.clone()];
        self.create_admin_account(name, password, AdminRole::Administrator, &tenants)
            .await
    }
}

fn refused() -> AppError {
    AppError::Unauthorized(SIGN_IN_REFUSED.into())
}

fn no_account(e: StoreError, name: &str) -> AppError {
    match e {
        StoreError::NotFound => AppError::NotFound(format!("no account named {name:?}")),
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("anything", "not a hash"));
        assert!(!verify("no account has this password!", decoy_hash()));
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_password("short").is_err());
        assert!(check_password("twelve chars").is_ok());
        assert!(check_name("ops@acme.no").is_ok());
        for bad in ["", "two words", "tab\there", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}

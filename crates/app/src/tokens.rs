//! A tenant's SCIM bearer tokens, as the Connection page and the CLI manage them: listed
//! (never their secrets), created (the secret shown once), revoked at once.

use crate::{App, AppError, Result};
use scimgate_core::Tenant;
use scimgate_store::{IssuedToken, StoreError, TokenInfo, TokenKind};

/// Longest token label.
const MAX_LABEL: usize = 100;

impl App {
    /// The tenant's SCIM tokens, live and revoked.
    pub async fn scim_tokens(&self, tenant: &Tenant) -> Result<Vec<TokenInfo>> {
        Ok(self.store.tokens_of(TokenKind::Scim, tenant).await?)
    }

    /// A new SCIM token; its secret is only in the result.
    pub async fn create_scim_token(&self, tenant: &Tenant, label: &str) -> Result<IssuedToken> {
        let label = label.trim();
        if label.is_empty() || label.chars().count() > MAX_LABEL {
            return Err(AppError::Invalid(format!(
                "give the token a label of 1 to {MAX_LABEL} characters (e.g. \"entra\")"
            )));
        }
        let now = self.clock.now();
        Ok((self.store)
            .create_token_of(TokenKind::Scim, tenant, label, now)
            .await?)
    }

    /// Revokes one of the tenant's SCIM tokens; requests with it fail from now on.
    pub async fn revoke_scim_token(&self, tenant: &Tenant, id: i64) -> Result<()> {
        let now = self.clock.now();
        match (self.store)
            .revoke_token_of(TokenKind::Scim, tenant, id, now)
            .await
        {
            Err(StoreError::NotFound) => Err(AppError::NotFound(format!("no token {id}"))),
            done => Ok(done?),
        }
    }
}

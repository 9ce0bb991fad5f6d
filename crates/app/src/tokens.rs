//! A tenant's bearer tokens, as the Connection page and the CLI manage them: SCIM tokens
//! (for the identity provider) and admin API tokens, listed (never their secrets),
//! created (the secret shown once), revoked at once.

use crate::{App, AppError, Result};
use scimgate_core::{AuditAction, Tenant};
use scimgate_store::{IssuedToken, StoreError, TokenInfo, TokenKind};

/// Longest token label.
const MAX_LABEL: usize = 100;

fn kind_words(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Scim => "SCIM token",
        TokenKind::Admin => "admin API token",
    }
}

impl App {
    /// The tenant's SCIM tokens, live and revoked.
    pub async fn scim_tokens(&self, tenant: &Tenant) -> Result<Vec<TokenInfo>> {
        self.tokens(TokenKind::Scim, tenant).await
    }

    /// The tenant's tokens of `kind`, live and revoked.
    pub async fn tokens(&self, kind: TokenKind, tenant: &Tenant) -> Result<Vec<TokenInfo>> {
        Ok(self.store.tokens_of(kind, tenant).await?)
    }

    /// A new SCIM token; its secret is only in the result.
    pub async fn create_scim_token(&self, tenant: &Tenant, label: &str) -> Result<IssuedToken> {
        self.create_token(TokenKind::Scim, tenant, label).await
    }

    /// A new token of `kind`; its secret is only in the result.
    pub async fn create_token(
        &self,
        kind: TokenKind,
        tenant: &Tenant,
        label: &str,
    ) -> Result<IssuedToken> {
        let label = label.trim();
        if label.is_empty() || label.chars().count() > MAX_LABEL {
            return Err(AppError::Invalid(format!(
                "give the token a label of 1 to {MAX_LABEL} characters (e.g. \"entra\")"
            )));
        }
        let now = self.clock.now();
        let issued = self.store.create_token_of(kind, tenant, label, now).await?;
        let subject = format!("{} {} ({label})", kind_words(kind), issued.info.id);
        (self.audit(tenant, AuditAction::TokenCreate, subject, None, None)).await;
        Ok(issued)
    }

    /// Revokes one of the tenant's SCIM tokens; requests with it fail from now on.
    pub async fn revoke_scim_token(&self, tenant: &Tenant, id: i64) -> Result<()> {
        self.revoke_token(TokenKind::Scim, tenant, id).await
    }

    /// Revokes one of the tenant's tokens of `kind`.
    pub async fn revoke_token(&self, kind: TokenKind, tenant: &Tenant, id: i64) -> Result<()> {
        let now = self.clock.now();
        match self.store.revoke_token_of(kind, tenant, id, now).await {
            Err(StoreError::NotFound) => Err(AppError::NotFound(format!(
                "tenant {} has no {} {id}",
                tenant.name,
                kind_words(kind)
            ))),
            Err(e) => Err(e.into()),
            Ok(()) => {
                // The label, for the log; not finding it does not undo the revoke.
                let tokens = (self.store.tokens_of(kind, tenant).await).unwrap_or_default();
                let label = tokens.iter().find(|t| t.id == id).map(|t| t.label.as_str());
                let subject = format!("{} {id} ({})", kind_words(kind), label.unwrap_or(""));
                (self.audit(tenant, AuditAction::TokenRevoke, subject, None, None)).await;
                Ok(())
            }
        }
    }
}

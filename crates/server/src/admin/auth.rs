//! Who may call the admin API for a tenant: a live admin token (`sga_…`) of that very
//! tenant. A token of another tenant learns nothing about this one: 404, as if absent.

use super::error::{ApiError, Result};
use super::AdminState;
use axum::http::header;
use axum::http::request::Parts;
use scimgate_core::TenantName;
use scimgate_store::{Tenant, TokenRef};

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    scimgate_core::tenant::bearer_token(value)
}

/// `/api/v1/tenants/{tenant}/…` → the `{tenant}` segment.
fn path_tenant(parts: &Parts) -> &str {
    parts.uri.path().split('/').nth(4).unwrap_or_default()
}

/// The tenant named in the URL, proven by an admin token of that tenant, and the token
/// (which names the caller in the audit log).
pub async fn tenant(parts: &Parts, state: &AdminState) -> Result<(Tenant, TokenRef)> {
    {
        let Some(token) = bearer(parts) else {
            return Err(ApiError::unauthorized(
                "missing admin token: send Authorization: Bearer sga_… (create one with scimgate admin-token create --tenant T)",
            ));
        };
        let now = state.app.clock().now();
        let Some((tenant, token_ref)) = state.app.store().authenticate_admin(token, now).await?
        else {
            let message = if token.starts_with("sgt_") {
                "this is a SCIM token; the admin API takes an admin token (sga_…)"
            } else {
                "the admin token is not valid (unknown or revoked)"
            };
            return Err(ApiError::unauthorized(message));
        };
        let named = path_tenant(parts);
        let same = TenantName::parse(named).is_ok_and(|name| name == tenant.name);
        if !same {
            tracing::warn!(token_tenant = %tenant.name, "admin token used for another tenant");
            return Err(ApiError::not_found(format!("no tenant named {named:?}")));
        }
        Ok((tenant, token_ref))
    }
}

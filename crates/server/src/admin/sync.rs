//! Manual sync of the company or of one user, and restart sync.

use super::auth::Admin;
use super::error::{ApiError, Result};
use super::params::{Params, Segments};
use super::{staged, AdminState};
use axum::extract::State;
use axum::Json;
use scimgate_crm::CrmTarget;
use scimgate_scheduler::{Outcome, Trigger};
use serde_json::{json, Value};

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn company(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<Outcome>> {
    params.only(&[])?;
    let outcome = state
        .syncer
        .sync_company(&admin.tenant, Trigger::ManualCompany)
        .await?;
    Ok(Json(outcome))
}

/// One user, by staged id or userName; nobody else's account changes. An id that is no
/// longer staged (deleted in the IdP) deprovisions the account it had.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name, user_id))]
pub async fn user(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<Json<Outcome>> {
    params.only(&[])?;
    let wanted = path.get("id")?;
    let id = match staged::resolve_user(&state, &admin.tenant, wanted).await? {
        Some(id) => id,
        // Not staged: an id the IdP deleted may still have an account to deprovision.
        // Checked here so that a typo is a 404, not a failed run in the history.
        None => {
            let accounts = state.syncer.crm().accounts(&admin.tenant).await?;
            if !accounts
                .iter()
                .any(|a| a.staged_user_id.as_deref() == Some(wanted))
            {
                return Err(ApiError::not_found(format!(
                    "no staged user or account with id or userName {wanted:?}"
                )));
            }
            wanted.to_owned()
        }
    };
    tracing::Span::current().record("user_id", id.as_str());
    Ok(Json(state.syncer.sync_user(&admin.tenant, &id).await?))
}

/// Clears the holding area; CRM accounts are kept, unlinked until the IdP sends their
/// users again.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn restart(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&[])?;
    let unlinked = state.syncer.restart(&admin.tenant).await?;
    tracing::info!(unlinked, "restart sync");
    Ok(Json(json!({"unlinked": unlinked})))
}

//! Manual sync of the company or of one user, and restart sync.

use super::auth::Admin;
use super::error::Result;
use super::params::{Params, Segments};
use super::AdminState;
use axum::extract::State;
use axum::Json;
use scimgate_scheduler::Outcome;
use serde_json::{json, Value};

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn company(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<Outcome>> {
    params.only(&[])?;
    Ok(Json(state.app.sync_company(&admin.tenant).await?))
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
    tracing::Span::current().record("user_id", wanted);
    Ok(Json(state.app.sync_user(&admin.tenant, wanted).await?))
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
    let unlinked = state.app.restart(&admin.tenant).await?;
    tracing::info!(unlinked, "restart sync");
    Ok(Json(json!({"unlinked": unlinked})))
}

//! The CRM accounts the sync created and maintains.

use super::auth::Admin;
use super::error::Result;
use super::params::{Params, Segments};
use super::AdminState;
use axum::extract::State;
use axum::Json;
use scimgate_crm::CrmAccount;
use serde_json::{json, Value};

/// `active` and `linked` (to a staged user; false after a restart until re-linked)
/// filter when given.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn list(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&["active", "linked"])?;
    let (active, linked) = (params.flag("active")?, params.flag("linked")?);
    let accounts = state.app.accounts(&admin.tenant, active, linked).await?;
    Ok(Json(json!({"accounts": accounts})))
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn get(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<Json<CrmAccount>> {
    params.only(&[])?;
    let pk = path.number("pk", "account")?;
    Ok(Json(state.app.account(&admin.tenant, pk).await?))
}

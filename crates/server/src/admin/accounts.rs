//! The CRM accounts the sync created and maintains.

use super::auth::Admin;
use super::error::{ApiError, Result};
use super::params::{Params, Segments};
use super::AdminState;
use axum::extract::State;
use axum::Json;
use scimgate_crm::{CrmAccount, CrmTarget};
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
    let active = params.flag("active")?;
    let linked = params.flag("linked")?;
    let accounts: Vec<CrmAccount> = state
        .syncer
        .crm()
        .accounts(&admin.tenant)
        .await?
        .into_iter()
        .filter(|a| active.is_none_or(|want| a.fields.active == want))
        .filter(|a| linked.is_none_or(|want| a.staged_user_id.is_some() == want))
        .collect();
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
    state
        .syncer
        .crm()
        .account(&admin.tenant, pk)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no account {pk}")))
}

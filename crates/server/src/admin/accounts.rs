//! The CRM accounts the sync created and maintains.

use super::call::Call;
use super::error::Result;
use axum::Json;
use scimgate_crm::CrmAccount;
use serde_json::{json, Value};

/// `active` and `linked` (to a staged user; false after a restart until re-linked)
/// filter when given.
pub async fn list(call: Call) -> Result<Json<Value>> {
    let params = call.params.only(&["active", "linked"])?;
    let (active, linked) = (params.flag("active")?, params.flag("linked")?);
    let accounts = call.app.accounts(&call.tenant, active, linked).await?;
    Ok(Json(json!({"accounts": accounts})))
}

pub async fn get(call: Call) -> Result<Json<CrmAccount>> {
    call.no_params()?;
    let pk = call.path.number("pk", "account")?;
    Ok(Json(call.app.account(&call.tenant, pk).await?))
}

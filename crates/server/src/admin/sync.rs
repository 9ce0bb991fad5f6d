//! Manual sync of the company or of one user, and restart sync.

use super::call::Call;
use super::error::Result;
use axum::Json;
use scimgate_scheduler::Outcome;
use serde_json::{json, Value};

pub async fn company(call: Call) -> Result<Json<Outcome>> {
    call.no_params()?;
    Ok(Json(call.app.sync_company(&call.tenant).await?))
}

/// One user, by staged id or userName; nobody else's account changes. An id that is no
/// longer staged (deleted in the IdP) deprovisions the account it had.
pub async fn user(call: Call) -> Result<Json<Outcome>> {
    call.no_params()?;
    let wanted = call.path.get("id")?;
    Ok(Json(call.app.sync_user(&call.tenant, wanted).await?))
}

/// Clears the holding area; CRM accounts are kept, unlinked until the IdP sends their
/// users again.
pub async fn restart(call: Call) -> Result<Json<Value>> {
    call.no_params()?;
    let unlinked = call.app.restart(&call.tenant).await?;
    tracing::info!(unlinked, "restart sync");
    Ok(Json(json!({"unlinked": unlinked})))
}

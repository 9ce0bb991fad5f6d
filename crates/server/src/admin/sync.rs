//! Manual sync of the company or of one user, and restart sync.

use super::call::Call;
use super::error::{ApiError, Result};
use axum::Json;
use scimgate_app::RuleSetRef;
use scimgate_scheduler::Outcome;
use serde_json::{json, Value};

/// `?rules=published` (the default) or `?rules=draft`: which rules the run uses.
fn rules(call: &Call) -> Result<RuleSetRef> {
    match call.params.only(&["rules"])?.one("rules")? {
        None | Some("published") => Ok(RuleSetRef::Published),
        Some("draft") => Ok(RuleSetRef::Draft),
        Some(other) => Err(ApiError::bad_request(format!(
            "query parameter rules: {other:?} is not published or draft"
        ))),
    }
}

pub async fn company(call: Call) -> Result<Json<Outcome>> {
    let rules = rules(&call)?;
    Ok(Json(call.app.sync_company_with(&call.tenant, rules).await?))
}

/// One user, by staged id or userName; nobody else's account changes. An id that is no
/// longer staged (deleted in the IdP) deprovisions the account it had.
pub async fn user(call: Call) -> Result<Json<Outcome>> {
    let rules = rules(&call)?;
    let wanted = call.path.get("id")?;
    Ok(Json(
        call.app.sync_user_with(&call.tenant, wanted, rules).await?,
    ))
}

/// Clears the holding area; CRM accounts are kept, unlinked until the IdP sends their
/// users again.
pub async fn restart(call: Call) -> Result<Json<Value>> {
    call.no_params()?;
    let unlinked = call.app.restart(&call.tenant).await?;
    tracing::info!(unlinked, "restart sync");
    Ok(Json(json!({"unlinked": unlinked})))
}

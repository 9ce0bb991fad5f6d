//! Manual sync of the company or of one user, and restart sync.

use super::call::Call;
use super::error::{ApiError, Result};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
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

/// Syncs the company and answers with what the run did; with `Prefer: respond-async`
/// (RFC 7240), starts the run as a job and answers `202 Accepted` at once, with the
/// run's URL in `Location` to poll.
pub async fn company(call: Call) -> Result<Response> {
    let rules = rules(&call)?;
    if !call.prefers_async() {
        let outcome = call.app.sync_company_with(&call.tenant, rules).await?;
        return Ok(Json(outcome).into_response());
    }
    let run_id = call.app.start_company_sync(&call.tenant, rules).await?;
    let url = format!("/api/v1/tenants/{}/runs/{run_id}", call.tenant.name);
    let body = json!({"run_id": run_id, "status": "running", "url": url});
    Ok((
        StatusCode::ACCEPTED,
        [
            (header::LOCATION, url.as_str()),
            (
                header::HeaderName::from_static("preference-applied"),
                "respond-async",
            ),
        ],
        Json(body),
    )
        .into_response())
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

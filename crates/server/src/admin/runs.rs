//! Run history, and the admin's decision on a run the mass-deprovision guard held.

use super::call::Call;
use super::error::Result;
use axum::http::StatusCode;
use axum::Json;
use scimgate_scheduler::Outcome;
use serde_json::{json, Value};

const DEFAULT_RUNS: u64 = 20;
const MAX_RUNS: u64 = 1000;

pub async fn list(call: Call) -> Result<Json<Value>> {
    let limit = call
        .params
        .only(&["limit"])?
        .number("limit", DEFAULT_RUNS, MAX_RUNS)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let list = call.app.runs(&call.tenant, limit).await?;
    Ok(Json(json!({"runs": list})))
}

/// The run named in the path (`{id}`); no query parameters.
fn run_id(call: &Call) -> Result<i64> {
    call.no_params()?;
    call.path.number("id", "run")
}

pub async fn get(call: Call) -> Result<Json<Value>> {
    let (run, users) = call.app.run(&call.tenant, run_id(&call)?).await?;
    Ok(Json(json!({"run": run, "users": users})))
}

/// Asks a running run to stop at its next safe point: 202; the run ends `cancelled`.
pub async fn cancel(call: Call) -> Result<(StatusCode, Json<Value>)> {
    let id = run_id(&call)?;
    call.app.cancel_run(&call.tenant, id).await?;
    let body = json!({"run_id": id, "cancel_requested": true});
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// Applies the deprovisions a held run held back (those still due).
pub async fn approve(call: Call) -> Result<Json<Outcome>> {
    Ok(Json(
        call.app.approve_run(&call.tenant, run_id(&call)?).await?,
    ))
}

/// Discards a held run's deprovisions.
pub async fn reject(call: Call) -> Result<StatusCode> {
    call.app.reject_run(&call.tenant, run_id(&call)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

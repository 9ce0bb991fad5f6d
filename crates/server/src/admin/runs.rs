//! Run history, and the admin's decision on a run the mass-deprovision guard held.

use super::auth::Admin;
use super::error::Result;
use super::params::{Params, Segments};
use super::AdminState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use scimgate_scheduler::Outcome;
use serde_json::{json, Value};

const DEFAULT_RUNS: u64 = 20;
const MAX_RUNS: u64 = 1000;

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn list(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&["limit"])?;
    let limit = params.number("limit", DEFAULT_RUNS, MAX_RUNS)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let list = state.app.runs(&admin.tenant, limit).await?;
    Ok(Json(json!({"runs": list})))
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name, run_id))]
pub async fn get(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&[])?;
    let id = path.number("id", "run")?;
    tracing::Span::current().record("run_id", id);
    let (run, users) = state.app.run(&admin.tenant, id).await?;
    Ok(Json(json!({"run": run, "users": users})))
}

/// Applies the deprovisions a held run held back (those still due).
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name, run_id))]
pub async fn approve(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<Json<Outcome>> {
    params.only(&[])?;
    let id = path.number("id", "run")?;
    tracing::Span::current().record("run_id", id);
    Ok(Json(state.app.approve_run(&admin.tenant, id).await?))
}

/// Discards a held run's deprovisions.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name, run_id))]
pub async fn reject(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<StatusCode> {
    params.only(&[])?;
    let id = path.number("id", "run")?;
    tracing::Span::current().record("run_id", id);
    state.app.reject_run(&admin.tenant, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

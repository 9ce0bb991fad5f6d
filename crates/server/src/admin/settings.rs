//! The tenant's sync settings: automatic sync, schedule, debounce, deprovision guard.

use super::auth::Admin;
use super::body::Document;
use super::error::Result;
use super::params::Params;
use super::{version, AdminState};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use scimgate_scheduler::SyncSettings;

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn get(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Response> {
    params.only(&[])?;
    version::respond(state.app.settings(&admin.tenant).await?)
}

/// Replaces the settings (the full object); a bad schedule or guard is refused.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn put(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    headers: HeaderMap,
    body: Document,
) -> Result<Response> {
    params.only(&[])?;
    let new: SyncSettings = body.json()?;
    let expect = version::expected(&headers, Some(&body), "the sync settings")?;
    version::respond(state.app.save_settings(&admin.tenant, expect, &new).await?)
}

//! The tenant's sync settings: automatic sync, schedule, debounce, deprovision guard.

use super::auth::Admin;
use super::body::JsonBody;
use super::error::Result;
use super::params::Params;
use super::AdminState;
use axum::extract::State;
use axum::Json;
use scimgate_scheduler::{settings, SyncSettings};

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn get(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<SyncSettings>> {
    params.only(&[])?;
    Ok(Json(settings::load(&state.store, &admin.tenant).await?))
}

/// Replaces the settings (the full object); a bad schedule or guard is refused.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn put(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    JsonBody(new): JsonBody<SyncSettings>,
) -> Result<Json<SyncSettings>> {
    params.only(&[])?;
    settings::save(&state.store, &admin.tenant, &new).await?;
    Ok(Json(settings::load(&state.store, &admin.tenant).await?))
}

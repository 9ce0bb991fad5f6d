//! The tenant's sync settings: automatic sync, schedule, debounce, deprovision guard.

use super::body::Document;
use super::call::Call;
use super::error::Result;
use super::version;
use axum::response::Response;
use scimgate_scheduler::SyncSettings;

pub async fn get(call: Call) -> Result<Response> {
    call.no_params()?;
    version::respond(call.app.settings(&call.tenant).await?)
}

/// Replaces the settings (the full object); a bad schedule or guard is refused.
pub async fn put(call: Call, body: Document) -> Result<Response> {
    call.no_params()?;
    let new: SyncSettings = body.json()?;
    let expect = call.expected(Some(&body), "the sync settings")?;
    version::respond(call.app.save_settings(&call.tenant, expect, &new).await?)
}

//! The Overview page: the tenant at a glance (holding area, automatic sync, set-up
//! checklist, seats per user plan, last runs, runs waiting for approval, the CRM target's
//! push queue).

use crate::pages::{render, Frame, Page};
use crate::session::InTenant;
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use scimgate_app::{PlanSeats, Step, TargetState};
use scimgate_core::Run;

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    frame: Frame,
    users: i64,
    groups: i64,
    last_change: Option<String>,
    last_request: Option<String>,
    user_sync_active: bool,
    checklist: Vec<Step>,
    seats: Vec<PlanSeats>,
    runs: Vec<Run>,
    held_runs: Vec<Run>,
    crm_target: TargetState,
}

pub async fn show(at: InTenant) -> Response {
    let overview = match at.signed.app.overview(&at.tenant).await {
        Ok(overview) => overview,
        Err(e) => return Page::internal(&e),
    };
    let page = OverviewPage {
        frame: Frame::tenant("Overview", &at, "overview"),
        users: overview.holding.users,
        groups: overview.holding.groups,
        last_change: overview.holding.last_change,
        last_request: overview.last_scim_request,
        user_sync_active: overview.user_sync_active,
        checklist: overview.checklist,
        seats: overview.seats,
        runs: overview.recent_runs,
        held_runs: overview.held_runs,
        crm_target: overview.crm_target,
    };
    render(StatusCode::OK, &page)
}

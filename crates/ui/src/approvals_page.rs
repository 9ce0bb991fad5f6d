//! The Approvals page: every run the mass-deprovision guard holds, with the users it
//! would deprovision (filter by name, CSV, each user's Why), **Approve** (typed
//! confirmation) and **Reject**. Deciding needs the Operator role; everyone reads.

use crate::pages::{render, Frame, Page};
use crate::session::InTenant;
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use scimgate_core::{AdminRole, Run, RunStatus, RunUser};
use serde::Deserialize;

/// Held users a run shows on the page (the CSV has them all).
const SHOWN: usize = 500;

struct HeldRun {
    run: Run,
    users: Vec<RunUser>,
    /// Held users of the run (before the name filter).
    held: usize,
    /// Those the filter keeps, when more than the page shows.
    more: usize,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    frame: Frame,
    runs: Vec<HeldRun>,
    q: String,
    can_act: bool,
    done: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct Shown {
    #[serde(default)]
    q: String,
    #[serde(default)]
    done: String,
}

pub async fn show(at: InTenant, Query(shown): Query<Shown>) -> Response {
    let app = &at.signed.app;
    let runs = match app.runs(&at.tenant, 200).await {
        Ok(runs) => runs,
        Err(e) => return Page::internal(&e),
    };
    let wanted = shown.q.trim().to_lowercase();
    let mut held_runs = Vec::new();
    for run in runs.into_iter().filter(|r| r.status == RunStatus::Held) {
        let (run, users) = match app.run(&at.tenant, run.id).await {
            Ok(found) => found,
            Err(e) => return Page::internal(&e),
        };
        let held: Vec<RunUser> = users
            .into_iter()
            .filter(|u| u.outcome == scimgate_core::RunOutcome::Held)
            .collect();
        let count = held.len();
        let mut kept: Vec<RunUser> = held
            .into_iter()
            .filter(|u| wanted.is_empty() || u.username.to_lowercase().contains(&wanted))
            .collect();
        let more = kept.len().saturating_sub(SHOWN);
        kept.truncate(SHOWN);
        held_runs.push(HeldRun {
            run,
            users: kept,
            held: count,
            more,
        });
    }
    let page = ApprovalsPage {
        frame: Frame::tenant("Approvals", &at, "approvals"),
        runs: held_runs,
        q: shown.q.clone(),
        can_act: at.signed.account.role.allows(AdminRole::Operator),
        done: match shown.done.as_str() {
            "approved" => Some("Approved: the held deprovisions were applied."),
            "rejected" => Some("Rejected: the held deprovisions were discarded."),
            _ => None,
        },
    };
    render(StatusCode::OK, &page)
}

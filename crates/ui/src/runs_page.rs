//! The Runs page and a run's page: every run (manual, automatic, one user) with its
//! trigger, rules, status and counts; **Sync company** starts a run as a job and opens
//! its page, which follows it while it runs (htmx polls its status every two seconds; a
//! Refresh link without script) and offers **Cancel**. A finished run lists what it did
//! to each user (filter by outcome, CSV) and its errors grouped by cause; a held run
//! offers Approve (typed confirmation) and Reject. Syncing, cancelling and deciding need
//! the Operator role.

use crate::forms::{field, OperatorPosted, Posted};
use crate::pages::{render, Frame, Page};
use crate::session::InTenant;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use scimgate_app::{AppError, RuleSetRef};
use scimgate_core::{AdminRole, Run, RunStatus, RunUser};
use serde::Deserialize;

/// Runs the list shows.
const LISTED: i64 = 50;
/// Users a run's page lists (the CSV has them all).
const SHOWN_USERS: usize = 1_000;

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    frame: Frame,
    runs: Vec<Run>,
    can_sync: bool,
    problem: Option<String>,
}

pub async fn list(at: InTenant) -> Response {
    list_with(&at, StatusCode::OK, None).await
}

async fn list_with(at: &InTenant, status: StatusCode, problem: Option<String>) -> Response {
    let runs = match at.signed.app.runs(&at.tenant, LISTED).await {
        Ok(runs) => runs,
        Err(e) => return Page::internal(&e),
    };
    let page = RunsPage {
        frame: Frame::tenant("Runs", at, "runs"),
        runs,
        can_sync: at.signed.account.role.allows(AdminRole::Operator),
        problem,
    };
    render(status, &page)
}

#[derive(Template)]
#[template(path = "sync_confirm.html")]
struct SyncConfirm {
    frame: Frame,
    rule_version: i64,
    create: u64,
    update: u64,
    deprovision: u64,
    unchanged: u64,
    errors: u64,
    will_sync: u64,
    welcome: Option<u64>,
    guard_holds: bool,
    seat_refusals: Vec<(String, u64)>,
    errors_by_cause: Vec<(String, u64)>,
    age: String,
    stale: bool,
}

/// The Sync company dialog: what the run would do (the stored preview's counts, the
/// welcome e-mails it sends, users held for lack of seats, whether the guard holds it),
/// with Cancel focused; the run starts only from its form.
pub async fn confirm(at: InTenant) -> Response {
    if !at.signed.account.role.allows(AdminRole::Operator) {
        return Page::forbidden(AdminRole::Operator);
    }
    let forecast = match at.signed.app.sync_forecast(&at.tenant).await {
        Ok(f) => f,
        Err(e @ (AppError::NotFound(_) | AppError::Invalid(_))) => {
            return list_with(&at, StatusCode::CONFLICT, Some(e.to_string())).await
        }
        Err(e) => return Page::internal(&e),
    };
    let summary = &forecast.preview.summary;
    let totals = &summary.totals;
    let now = at.signed.app.clock().now().unix_millis();
    let page = SyncConfirm {
        frame: Frame::tenant("Sync company", &at, "runs"),
        rule_version: summary.rule_version,
        create: totals.create,
        update: totals.update,
        deprovision: totals.deprovision,
        unchanged: totals.unchanged,
        errors: totals.error,
        will_sync: totals.users_synced,
        welcome: forecast.welcome,
        guard_holds: summary.deprovisions_held,
        seat_refusals: forecast.seat_refusals.clone(),
        errors_by_cause: forecast.errors.clone(),
        age: crate::preview_page::age(now, summary.computed_at_ms),
        stale: forecast.preview.stale,
    };
    render(StatusCode::OK, &page)
}

/// Sync company: the run starts as a job; its page follows it.
pub async fn start(OperatorPosted(Posted { at, .. }): OperatorPosted) -> Response {
    match at
        .signed
        .app
        .start_company_sync(&at.tenant, RuleSetRef::Published)
        .await
    {
        Ok(run_id) => {
            let to = format!("/t/{}/runs/{run_id}", at.tenant.name);
            Redirect::to(&to).into_response()
        }
        Err(e @ (AppError::Busy | AppError::NotFound(_) | AppError::Rules { .. })) => {
            list_with(&at, StatusCode::CONFLICT, Some(e.to_string())).await
        }
        Err(e) => Page::internal(&e),
    }
}

/// Errors of one cause, and how many users had it.
struct Cause {
    error: String,
    users: usize,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    frame: Frame,
    run: Run,
    running: bool,
    held: bool,
    users: Vec<RunUser>,
    outcome: String,
    outcomes: Vec<&'static str>,
    causes: Vec<Cause>,
    can_act: bool,
    /// Every user (of the outcome asked for) is listed; else the first [`SHOWN_USERS`].
    listed_all: bool,
    problem: Option<String>,
}

/// The run's status alone, which htmx polls while the run runs.
#[derive(Template)]
#[template(path = "run_status.html")]
struct RunStatusFragment {
    tenant: String,
    run: Run,
    running: bool,
}

#[derive(Deserialize, Default)]
pub struct Shown {
    /// Only the users with this outcome.
    #[serde(default)]
    outcome: String,
    /// The status fragment alone (htmx polling).
    #[serde(default)]
    status: Option<u8>,
    done: Option<String>,
}

fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "cancel" => "Asked to stop: the run stops at its next safe point.",
        "approved" => "Approved: the held deprovisions were applied.",
        "rejected" => "Rejected: the held deprovisions were discarded.",
        _ => return None,
    })
}

pub async fn show(
    at: InTenant,
    Path((_, id)): Path<(String, i64)>,
    Query(shown): Query<Shown>,
) -> Response {
    run_page(&at, id, shown, StatusCode::OK, None).await
}

async fn run_page(
    at: &InTenant,
    id: i64,
    shown: Shown,
    status: StatusCode,
    problem: Option<String>,
) -> Response {
    if shown.status.is_some() {
        return status_fragment(at, id).await;
    }
    let (run, users) = match at.signed.app.run(&at.tenant, id).await {
        Ok(found) => found,
        Err(AppError::NotFound(_)) => return Page::not_found(),
        Err(e) => return Page::internal(&e),
    };
    let running = run.status == RunStatus::Running;
    let mut causes: Vec<Cause> = Vec::new();
    for error in users.iter().filter_map(|u| u.error.as_deref()) {
        match causes.iter_mut().find(|c| c.error == error) {
            Some(cause) => cause.users += 1,
            None => causes.push(Cause {
                error: error.to_owned(),
                users: 1,
            }),
        }
    }
    causes.sort_by_key(|cause| std::cmp::Reverse(cause.users));
    let wanted = shown.outcome.as_str();
    let mut users: Vec<RunUser> = users
        .into_iter()
        .filter(|u| wanted.is_empty() || u.outcome == wanted)
        .collect();
    let listed_all = users.len() <= SHOWN_USERS;
    users.truncate(SHOWN_USERS);
    let toast = shown.done.as_deref().and_then(done_text).map(str::to_owned);
    let page = RunPage {
        frame: Frame::tenant(&format!("Run {id}"), at, "runs").with_toast(toast),
        held: run.status == RunStatus::Held,
        running,
        run,
        users,
        outcome: shown.outcome,
        outcomes: scimgate_core::RunOutcome::ALL
            .iter()
            .map(|o| o.name())
            .collect(),
        causes,
        can_act: at.signed.account.role.allows(AdminRole::Operator),
        listed_all,
        problem,
    };
    render(status, &page)
}

/// The run's status section as server-sent events while it runs: `status` with the
/// section's HTML each time the run changes, `end` with it as the run ended (the page
/// then reloads itself to list what the run did). The page's script follows these.
pub async fn events(at: InTenant, Path((_, id)): Path<(String, i64)>) -> Response {
    let app = &at.signed.app;
    match app.run_status(&at.tenant, id).await {
        Ok(_) => {}
        Err(AppError::NotFound(_)) => return Page::not_found(),
        Err(e) => return Page::internal(&e),
    }
    let tenant = at.tenant.name.to_string();
    let every = std::time::Duration::from_secs(1);
    let updates = app.watch_run(&at.tenant, id, (every, std::time::Duration::from_secs(60)));
    let events = futures_util::StreamExt::map(updates, move |update| {
        let event = match update {
            Ok(run) => {
                let running = run.status == RunStatus::Running;
                let name = if running { "status" } else { "end" };
                let fragment = RunStatusFragment {
                    tenant: tenant.clone(),
                    run,
                    running,
                };
                match fragment.render() {
                    Ok(html) => Event::default().event(name).data(html),
                    Err(_) => Event::default().event("error").data("unreadable"),
                }
            }
            Err(e) => {
                tracing::warn!(run = id, error = %e, "a run's events stopped");
                Event::default().event("error").data("unreadable")
            }
        };
        Ok::<_, std::convert::Infallible>(event)
    });
    // Proxies that buffer (nginx) would hold the events back.
    (
        [("x-accel-buffering", "no")],
        Sse::new(events).keep_alive(KeepAlive::default()),
    )
        .into_response()
}

/// The status alone, for htmx (an older page's poll) and `?status=1`: the run row only, not its users. Once the run has
/// ended, htmx is told to reload the page (`HX-Refresh`), so the Cancel button goes and
/// the users it touched appear.
async fn status_fragment(at: &InTenant, id: i64) -> Response {
    let run = match at.signed.app.run_status(&at.tenant, id).await {
        Ok(run) => run,
        Err(AppError::NotFound(_)) => return Page::not_found(),
        Err(e) => return Page::internal(&e),
    };
    let running = run.status == RunStatus::Running;
    let fragment = RunStatusFragment {
        tenant: at.tenant.name.to_string(),
        run,
        running,
    };
    let mut response = render(StatusCode::OK, &fragment);
    if !running && crate::pages::is_fragment() {
        let headers = response.headers_mut();
        headers.insert("hx-refresh", header::HeaderValue::from_static("true"));
    }
    response
}

/// What a run did to each user (`?outcome=` one outcome only), as CSV (formula-safe).
pub async fn export(
    at: InTenant,
    Path((_, id)): Path<(String, i64)>,
    Query(shown): Query<Shown>,
) -> Response {
    let (_, mut users) = match at.signed.app.run(&at.tenant, id).await {
        Ok(found) => found,
        Err(AppError::NotFound(_)) => return Page::not_found(),
        Err(e) => return Page::internal(&e),
    };
    if !shown.outcome.is_empty() {
        users.retain(|u| u.outcome.name() == shown.outcome);
    }
    let mut csv = scimgate_core::csv::row(&["user_id", "username", "outcome", "account", "error"]);
    csv.push_str("\r\n");
    for u in &users {
        let account = u.account.map(|a| a.to_string()).unwrap_or_default();
        csv.push_str(&scimgate_core::csv::row(&[
            u.user_id.as_str(),
            &u.username,
            u.outcome.name(),
            &account,
            u.error.as_deref().unwrap_or(""),
        ]));
        csv.push_str("\r\n");
    }
    let file = format!("attachment; filename=\"run-{id}.csv\"");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, file),
        ],
        csv,
    )
        .into_response()
}

/// Cancel, Approve (typed "approve") or Reject, then back to the run's page.
pub async fn act(
    Path((_, id, action)): Path<(String, i64, String)>,
    OperatorPosted(Posted { at, fields }): OperatorPosted,
) -> Response {
    let app = &at.signed.app;
    let result = match action.as_str() {
        "cancel" => app.cancel_run(&at.tenant, id).await.map(|()| "cancel"),
        "approve" if field(&fields, "confirm").map(str::trim) != Some("approve") => {
            Err(AppError::Invalid(
                "type approve to confirm: the held deprovisions will be applied".into(),
            ))
        }
        "approve" => app.approve_run(&at.tenant, id).await.map(|_| "approved"),
        "reject" => app.reject_run(&at.tenant, id).await.map(|()| "rejected"),
        _ => return Page::not_found(),
    };
    match result {
        Ok(done) => {
            // Decided on the Approvals page: back there.
            let to = match field(&fields, "back") {
                Some("approvals") => format!("/t/{}/approvals?done={done}", at.tenant.name),
                _ => format!("/t/{}/runs/{id}?done={done}", at.tenant.name),
            };
            Redirect::to(&to).into_response()
        }
        Err(AppError::NotFound(_)) => Page::not_found(),
        Err(e @ (AppError::Invalid(_) | AppError::Conflict(_) | AppError::Busy)) => {
            let status = match e {
                AppError::Invalid(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::CONFLICT,
            };
            run_page(&at, id, Shown::default(), status, Some(e.to_string())).await
        }
        Err(e) => Page::internal(&e),
    }
}

//! The Users page (the holding area: search, group, pages, all in SQL) and the user page
//! (Result, Why, Entra data, and Sync user for Operators).

use crate::pages::{encode, render, Frame, Page};
use crate::session::InTenant;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use scimgate_app::{AppError, FieldRow, UserSearch, UserStatus};
use scimgate_core::AdminRole;
use serde::Deserialize;

/// Users a page shows.
const PAGE: i64 = 50;

/// One row of the list.
struct Row {
    id: String,
    user_name: String,
    display_name: String,
    external_id: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    frame: Frame,
    q: String,
    group: String,
    groups: Vec<(String, String)>,
    status: String,
    /// `(name in the URL, label)`.
    statuses: Vec<(&'static str, &'static str)>,
    users: Vec<Row>,
    shown: String,
    previous: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: Option<i64>,
}

pub async fn list(at: InTenant, Query(query): Query<ListQuery>) -> Response {
    let page = query.page.unwrap_or(1).max(1);
    // An unknown status (a hand-edited URL) shows everyone rather than nobody.
    let status = UserStatus::parse(&query.status);
    let search = UserSearch {
        text: Some(query.q.as_str()).filter(|q| !q.trim().is_empty()),
        group_id: Some(query.group.as_str()).filter(|g| !g.is_empty()),
        status,
        offset: (page - 1).saturating_mul(PAGE),
        limit: PAGE,
    };
    let app = &at.signed.app;
    let found = match app.search_users(&at.tenant, &search).await {
        Ok(found) => found,
        Err(AppError::Invalid(_)) => return Page::not_found(),
        Err(e) => return Page::internal(&e),
    };
    let groups = match app.group_names(&at.tenant).await {
        Ok(groups) => groups,
        Err(e) => return Page::internal(&e),
    };
    let href = |page: i64| {
        format!(
            "/t/{}/users?q={}&group={}&status={}&page={page}",
            at.tenant.name,
            encode(&query.q),
            encode(&query.group),
            status.map_or("", UserStatus::name)
        )
    };
    let first = search.offset + 1;
    let last = search.offset + found.users.len() as i64;
    let shown = if found.users.is_empty() {
        format!("{} users found", found.total)
    } else {
        format!("{first}–{last} of {} users", found.total)
    };
    let users = found
        .users
        .into_iter()
        .map(|u| {
            let text = |key: &str| u.body[key].as_str().unwrap_or_default().to_owned();
            Row {
                user_name: text("userName"),
                display_name: text("displayName"),
                external_id: u.external_id.clone().unwrap_or_default(),
                active: scimgate_core::staged::is_active(&u.body),
                id: u.id,
            }
        })
        .collect();
    let view = UsersPage {
        frame: Frame::tenant("Users", &at, "users"),
        q: query.q.clone(),
        group: query.group.clone(),
        groups,
        status: status.map_or("", UserStatus::name).to_owned(),
        statuses: UserStatus::ALL
            .iter()
            .map(|s| (s.name(), s.label()))
            .collect(),
        users,
        shown,
        previous: (page > 1).then(|| href(page - 1)),
        next: (last < found.total).then(|| href(page + 1)),
    };
    render(StatusCode::OK, &view)
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    frame: Frame,
    id: String,
    user_name: String,
    external_id: Option<String>,
    created_at: String,
    action: &'static str,
    reason: Option<String>,
    result: Vec<FieldRow>,
    /// A draft exists: the table has its column.
    has_draft: bool,
    /// Why the draft cannot be evaluated, when it cannot.
    draft_problem: Option<String>,
    why: Vec<(String, String)>,
    verdict: String,
    groups: Vec<String>,
    raw: String,
    /// The runs that touched this user, newest first.
    history: Vec<(scimgate_core::Run, scimgate_core::RunUser)>,
    can_sync: bool,
    problem: Option<String>,
}

async fn user_page(
    at: &InTenant,
    id: &str,
    done: Option<String>,
    problem: Option<String>,
) -> Response {
    let view = match at.signed.app.user_view(&at.tenant, id).await {
        Ok(view) => view,
        Err(AppError::NotFound(_)) => return Page::not_found(),
        Err(
            AppError::Invalid(message)
            | AppError::Rules {
                context: message, ..
            },
        ) => {
            let message = format!("The rules cannot be evaluated: {message}");
            return user_without_rules(at, id, message).await;
        }
        Err(e) => return Page::internal(&e),
    };
    let history = match at.signed.app.user_history(&at.tenant, &view.id).await {
        Ok(history) => history,
        Err(e) => return Page::internal(&e),
    };
    let page = UserPage {
        frame: Frame::tenant(&view.user_name, at, "users").with_toast(done),
        history,
        id: view.id,
        user_name: view.user_name,
        external_id: view.external_id,
        created_at: view.created_at,
        action: view.action,
        reason: view.reason,
        result: view.fields,
        has_draft: view.has_draft && view.draft_problem.is_none(),
        draft_problem: view.draft_problem,
        why: view.why,
        verdict: view.verdict,
        groups: view.groups,
        raw: view.raw,
        can_sync: at.signed.account.role.allows(AdminRole::Operator),
        problem,
    };
    render(StatusCode::OK, &page)
}

/// The user page when no rule set can be evaluated (none saved yet, or it does not
/// compile): the Entra data, and what to do.
async fn user_without_rules(at: &InTenant, id: &str, message: String) -> Response {
    let (user, groups) = match at.signed.app.staged_user(&at.tenant, id).await {
        Ok(found) => found,
        Err(AppError::NotFound(_)) => return Page::not_found(),
        Err(e) => return Page::internal(&e),
    };
    let history = match at.signed.app.user_history(&at.tenant, &user.id).await {
        Ok(history) => history,
        Err(e) => return Page::internal(&e),
    };
    let page = UserPage {
        frame: Frame::tenant("User", at, "users"),
        history,
        user_name: user.body["userName"]
            .as_str()
            .unwrap_or(&user.id)
            .to_owned(),
        raw: serde_json::to_string_pretty(&user.body).unwrap_or_default(),
        id: user.id,
        external_id: user.external_id,
        created_at: user.created_at,
        action: "unknown",
        reason: None,
        result: Vec::new(),
        has_draft: false,
        draft_problem: None,
        why: Vec::new(),
        verdict: String::new(),
        groups: groups.into_iter().map(|g| g.display_name).collect(),
        can_sync: false,
        problem: Some(message),
    };
    render(StatusCode::OK, &page)
}

pub async fn show(at: InTenant, Path((_, id)): Path<(String, String)>) -> Response {
    user_page(&at, &id, None, None).await
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// Syncs this one user now (Operator); the page shows the run's outcome.
pub async fn sync(
    at: InTenant,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(refused) = at.signed.may_post(&form.csrf, AdminRole::Operator) {
        return refused.into_response();
    }
    match at.signed.app.sync_user(&at.tenant, &id).await {
        Ok(outcome) => {
            tracing::info!(tenant = %at.tenant.name, account = %at.signed.account.name, user = %id, run = outcome.run_id, "sync user");
            let done = format!(
                "Run {} {}: {} created, {} updated, {} deprovisioned, {} unchanged, {} errors.",
                outcome.run_id,
                outcome.status,
                outcome.created,
                outcome.updated,
                outcome.deprovisioned,
                outcome.unchanged,
                outcome.errors
            );
            user_page(&at, &id, Some(done), None).await
        }
        Err(AppError::NotFound(_)) => Page::not_found(),
        Err(
            e @ (AppError::Busy
            | AppError::Invalid(_)
            | AppError::Rules { .. }
            | AppError::Conflict(_)),
        ) => user_page(&at, &id, None, Some(e.to_string())).await,
        Err(e) => Page::internal(&e),
    }
}

/// `/t/{tenant}/users/` with a trailing slash: the list.
pub async fn to_list(at: InTenant) -> Response {
    Redirect::to(&format!("/t/{}/users", at.tenant.name)).into_response()
}

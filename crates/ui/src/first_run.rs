//! First run: while no account exists, `serve` prints a one-time link to this page, which
//! creates the first administrator (and its tenant) and signs them in. Once an account
//! exists, or the link is used or an hour old, the page is a 404.

use crate::pages::{render, Frame, Page};
use crate::sign_in::start_session;
use crate::UiState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use scimgate_app::AppError;
use scimgate_core::TenantName;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "first_run.html")]
struct FirstRunPage {
    frame: Frame,
    token: String,
    name: String,
    tenant: String,
    problem: Option<String>,
}

#[derive(Deserialize)]
pub struct Link {
    token: String,
}

pub async fn form(State(state): State<UiState>, Query(link): Query<Link>) -> Response {
    match state.app.first_run_open(&link.token).await {
        Ok(true) => {
            let tenant = match state.app.first_run_tenant().await {
                Ok(tenant) => tenant.map(|t| t.to_string()).unwrap_or_default(),
                Err(e) => return Page::internal(&e),
            };
            let page = FirstRunPage {
                frame: Frame::bare("First run"),
                token: link.token,
                name: String::new(),
                tenant,
                problem: None,
            };
            render(StatusCode::OK, &page)
        }
        Ok(false) => Page::not_found(),
        Err(e) => Page::internal(&e),
    }
}

#[derive(Deserialize)]
pub struct FirstAdmin {
    token: String,
    name: String,
    password: String,
    tenant: String,
}

pub async fn submit(State(state): State<UiState>, Form(form): Form<FirstAdmin>) -> Response {
    let again = |problem: String| {
        let page = FirstRunPage {
            frame: Frame::bare("First run"),
            token: form.token.clone(),
            name: form.name.clone(),
            tenant: form.tenant.clone(),
            problem: Some(problem),
        };
        render(StatusCode::BAD_REQUEST, &page)
    };
    let tenant = match TenantName::parse(form.tenant.trim()) {
        Ok(tenant) => tenant,
        Err(e) => return again(e.to_string()),
    };
    // Checked before the link is used up, so a typo does not cost the link.
    match state.app.first_run_open(&form.token).await {
        Ok(true) => {}
        Ok(false) => return Page::not_found(),
        Err(e) => return Page::internal(&e),
    }
    let created = (state.app)
        .complete_first_run(&form.token, &form.name, &form.password, &tenant)
        .await;
    match created {
        Ok(account) => {
            tracing::info!(account = %account.name, tenant = %tenant, "first administrator created");
            start_session(&state, &account, crate::sign_in::Landing::Redirect).await
        }
        Err(AppError::Invalid(problem)) => again(problem),
        Err(AppError::NotFound(_)) => Page::not_found(),
        Err(e) => Page::internal(&e),
    }
}

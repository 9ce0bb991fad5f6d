//! The tenant picker, and the Connection page: the Tenant URL to paste into Entra, the
//! SCIM tokens (created with the secret shown once, revoked), and Entra's set-up steps.

use crate::pages::{render, Frame, Page};
use crate::session::{InTenant, Signed};
use crate::UiState;
use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use scimgate_app::AppError;
use scimgate_core::{AdminRole, TenantName};
use scimgate_store::TokenInfo;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "tenants.html")]
struct TenantsPage {
    frame: Frame,
    tenants: Vec<TenantName>,
}

/// `/`: the only tenant's first page, or a choice among several.
pub async fn home(signed: Signed) -> Response {
    if let [only] = signed.account.tenants.as_slice() {
        return Redirect::to(&format!("/t/{only}/overview")).into_response();
    }
    let page = TenantsPage {
        frame: Frame::signed("Choose a tenant", &signed),
        tenants: signed.account.tenants.clone(),
    };
    render(StatusCode::OK, &page)
}

/// A token just created: the one time its secret is shown.
struct Created {
    label: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "connection.html")]
struct ConnectionPage {
    frame: Frame,
    tenant_url: String,
    tokens: Vec<TokenInfo>,
    can_edit: bool,
    created: Option<Created>,
    problem: Option<String>,
}

/// The public base URL: the configured one, else what the browser used.
fn base_url(state: &UiState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

async fn connection_page(
    at: &InTenant,
    state: &UiState,
    headers: &HeaderMap,
    created: Option<Created>,
    problem: Option<String>,
) -> Response {
    let tokens = match at.signed.app.scim_tokens(&at.tenant).await {
        Ok(tokens) => tokens,
        Err(e) => return Page::internal(&e),
    };
    let page = ConnectionPage {
        frame: Frame::tenant("Connection", at, "connection"),
        tenant_url: format!("{}{}", base_url(state, headers), at.tenant.name.scim_path()),
        tokens,
        can_edit: at.signed.account.role.allows(AdminRole::Administrator),
        created,
        problem: problem.clone(),
    };
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(status, &page)
}

pub async fn connection(
    at: InTenant,
    State(state): State<UiState>,
    headers: HeaderMap,
) -> Response {
    connection_page(&at, &state, &headers, None, None).await
}

#[derive(Deserialize)]
pub struct NewToken {
    csrf: String,
    label: String,
}

pub async fn create_token(
    at: InTenant,
    State(state): State<UiState>,
    headers: HeaderMap,
    Form(form): Form<NewToken>,
) -> Response {
    if let Err(refused) = at.signed.may_post(&form.csrf, AdminRole::Administrator) {
        return refused.into_response();
    }
    match at
        .signed
        .app
        .create_scim_token(&at.tenant, &form.label)
        .await
    {
        Ok(issued) => {
            tracing::info!(tenant = %at.tenant.name, account = %at.signed.account.name, token = issued.info.id, "SCIM token created");
            let created = Created {
                label: issued.info.label.clone(),
                secret: issued.secret.clone(),
            };
            connection_page(&at, &state, &headers, Some(created), None).await
        }
        Err(AppError::Invalid(problem)) => {
            connection_page(&at, &state, &headers, None, Some(problem)).await
        }
        Err(e) => Page::internal(&e),
    }
}

#[derive(Deserialize)]
pub struct Revoke {
    csrf: String,
}

pub async fn revoke_token(
    at: InTenant,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
    Form(form): Form<Revoke>,
) -> Response {
    if let Err(refused) = at.signed.may_post(&form.csrf, AdminRole::Administrator) {
        return refused.into_response();
    }
    let Ok(id) = id.parse::<i64>() else {
        return Page::not_found();
    };
    match at.signed.app.revoke_scim_token(&at.tenant, id).await {
        Ok(()) => {
            tracing::info!(tenant = %at.tenant.name, account = %at.signed.account.name, token = id, "SCIM token revoked");
            Redirect::to(&format!("/t/{}/connection", at.tenant.name)).into_response()
        }
        Err(AppError::NotFound(_)) => Page::not_found(),
        Err(e) => Page::internal(&e),
    }
}

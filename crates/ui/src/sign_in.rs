//! Signing in with a name and password, and signing out.

use crate::pages::{render, Frame, Page};
use crate::session::{self, ClientAddress, Signed};
use crate::UiState;
use askama::Template;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use scimgate_app::{Actor, AppError};
use scimgate_core::AdminAccount;
use serde::Deserialize;
use std::time::Duration;

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    frame: Frame,
    name: String,
    problem: Option<String>,
    /// Who the identity-provider button names, when OIDC is configured.
    provider: Option<String>,
}

impl SignInPage {
    fn new(state: &UiState, name: String, problem: Option<String>) -> SignInPage {
        SignInPage {
            frame: Frame::bare("Sign in"),
            name,
            problem,
            provider: state.oidc.as_deref().map(|o| o.label().to_owned()),
        }
    }
}

pub async fn form(State(state): State<UiState>) -> Response {
    render(
        StatusCode::OK,
        &SignInPage::new(&state, String::new(), None),
    )
}

/// The sign-in form again, saying why the last attempt failed.
pub fn refused_page(state: &UiState, status: StatusCode, problem: String) -> Response {
    render(
        status,
        &SignInPage::new(state, String::new(), Some(problem)),
    )
}

#[derive(Deserialize)]
pub struct Credentials {
    name: String,
    password: String,
}

/// A refused sign-in waits this long before answering: guessing is slow even before
/// the account locks.
const SLOW_DOWN: Duration = Duration::from_millis(500);

pub async fn submit(
    State(state): State<UiState>,
    ClientAddress(from): ClientAddress,
    Form(credentials): Form<Credentials>,
) -> Response {
    let app = &state.app.acting_as(Actor::ui(&credentials.name, &from));
    let account = match app.sign_in(&credentials.name, &credentials.password).await {
        Ok(account) => account,
        Err(AppError::Unauthorized(problem)) => {
            tokio::time::sleep(SLOW_DOWN).await;
            let page = SignInPage::new(&state, credentials.name, Some(problem));
            return render(StatusCode::UNAUTHORIZED, &page);
        }
        Err(e) => return Page::internal(&e),
    };
    start_session(&state, &account, Landing::Redirect).await
}

/// How a new session reaches its first page.
pub enum Landing {
    /// A redirect: the sign-in was a form of this site.
    Redirect,
    /// A page of this site that moves on by itself: the browser came from another site
    /// (the identity provider), and the SameSite=Strict cookie would not be sent on a
    /// redirect chain that began there.
    FromElsewhere,
}

#[derive(Template)]
#[template(path = "moving_on.html")]
struct MovingOn {
    frame: Frame,
}

/// Signs `account` in: a new session, its cookie, and the way to the first page.
pub async fn start_session(state: &UiState, account: &AdminAccount, landing: Landing) -> Response {
    let app = &state.app;
    let (Some(id), Some(csrf)) = (session::random_hex(32), session::random_hex(32)) else {
        return Page::internal(&"no randomness for a session");
    };
    let now = app.clock().now();
    let expires = now.unix_millis() + session::LIFETIME_MS;
    let stored = (app.store())
        .create_admin_session(
            account.id,
            &session::hash(&id),
            &csrf,
            &now.to_rfc3339(),
            expires,
        )
        .await;
    if let Err(e) = stored {
        return Page::internal(&e);
    }
    tracing::info!(account = %account.name, "signed in");
    let mut response = match landing {
        Landing::Redirect => Redirect::to("/").into_response(),
        Landing::FromElsewhere => render(
            StatusCode::OK,
            &MovingOn {
                frame: Frame::bare("Signed in"),
            },
        ),
    };
    let cookie = session::cookie(Some(&id), state.secure_cookies);
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn sign_out(signed: Signed, Form(form): Form<CsrfOnly>) -> Response {
    if let Err(refused) = signed.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    if let Err(e) = signed
        .app
        .store()
        .end_admin_session(&signed.session_hash)
        .await
    {
        return Page::internal(&e);
    }
    let mut response = Redirect::to("/sign-in").into_response();
    let cookie = session::cookie(None, signed.secure_cookies);
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

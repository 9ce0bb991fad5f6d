//! Signed-in requests. A session is a random id in an HttpOnly, SameSite=Strict cookie
//! (Secure when the UI is served over TLS); the database keeps only its SHA-256, so a
//! read of the database does not yield live sessions. Sessions expire, and end on
//! sign-out, a password reset or the account's removal.

use crate::pages::Page;
use crate::UiState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use scimgate_app::{Actor, App};
use scimgate_core::{AdminAccount, AdminRole, Tenant, TenantName};
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "scimgate_session";
/// How long a session lasts from sign-in.
pub const LIFETIME_MS: i64 = 12 * 3600 * 1000;

/// `bytes` random bytes as hex.
pub fn random_hex(bytes: usize) -> Option<String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).ok()?;
    Some(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn hash(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The session cookie to set (`id`), or to clear (`None`).
pub fn cookie(id: Option<&str>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = match id {
        Some(id) => format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            LIFETIME_MS / 1000
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""))
}

/// The value of the cookie called `name`.
pub fn cookie_value<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value)
}

fn session_id(parts: &Parts) -> Option<&str> {
    cookie_value(&parts.headers, COOKIE)
}

/// A request of a signed-in account.
pub struct Signed {
    pub account: AdminAccount,
    /// The session's CSRF token, which every form of this session carries.
    pub csrf: String,
    pub session_hash: String,
    pub app: App,
    pub secure_cookies: bool,
}

impl FromRequestParts<UiState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &UiState) -> Result<Signed, Response> {
        let to_sign_in = || Redirect::to("/sign-in").into_response();
        let Some(id) = session_id(parts) else {
            return Err(to_sign_in());
        };
        let session_hash = hash(id);
        let now = state.app.clock().now().unix_millis();
        let found = state.app.store().admin_session(&session_hash, now).await;
        match found {
            Ok(Some(session)) => Ok(Signed {
                // Changes made in this request are recorded as this account's.
                app: (state.app)
                    .acting_as(Actor::ui(&session.account.name, &client_address(parts))),
                account: session.account,
                csrf: session.csrf_token,
                session_hash,
                secure_cookies: state.secure_cookies,
            }),
            Ok(None) => Err(to_sign_in()),
            Err(e) => Err(Page::internal(&e)),
        }
    }
}

/// Why a signed-in request may not do what it asks (both 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The account's role is below this one.
    Role(AdminRole),
    /// The form's CSRF token is not the session's.
    Csrf,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Role(needed) => Page::forbidden(needed),
            Refusal::Csrf => Page::csrf_refused(),
        }
    }
}

impl Signed {
    pub fn require(&self, needed: AdminRole) -> Result<(), Refusal> {
        if self.account.role.allows(needed) {
            Ok(())
        } else {
            Err(Refusal::Role(needed))
        }
    }

    pub fn check_csrf(&self, sent: &str) -> Result<(), Refusal> {
        if crate::security::csrf_matches(sent, &self.csrf) {
            Ok(())
        } else {
            Err(Refusal::Csrf)
        }
    }

    /// A form that changes something: its CSRF token first, then the role it needs.
    pub fn may_post(&self, csrf: &str, needed: AdminRole) -> Result<(), Refusal> {
        self.check_csrf(csrf)?;
        self.require(needed)
    }
}

/// A signed-in request for one of the account's tenants (`/t/{tenant}/…`). Another
/// tenant, granted or not to someone else, is a 404 as if it did not exist.
pub struct InTenant {
    pub signed: Signed,
    pub tenant: Tenant,
    /// Automatic sync and waiting approvals, for the header.
    pub status: scimgate_app::TenantStatus,
}

impl FromRequestParts<UiState> for InTenant {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &UiState) -> Result<InTenant, Response> {
        let signed = Signed::from_request_parts(parts, state).await?;
        let named = parts.uri.path().split('/').nth(2).unwrap_or_default();
        let granted = TenantName::parse(named)
            .ok()
            .filter(|name| signed.account.tenants.contains(name));
        let Some(name) = granted else {
            return Err(Page::not_found());
        };
        let tenant = match signed.app.store().tenant(&name).await {
            Ok(Some(tenant)) => tenant,
            Ok(None) => return Err(Page::not_found()),
            Err(e) => return Err(Page::internal(&e)),
        };
        match signed.app.tenant_status(&tenant).await {
            Ok(status) => Ok(InTenant {
                signed,
                tenant,
                status,
            }),
            Err(e) => Err(Page::internal(&e)),
        }
    }
}

/// The address of the client a request came from (the TCP peer), as the audit log records
/// it; empty where the server was not given peer addresses.
pub fn client_address(parts: &Parts) -> String {
    use axum::extract::ConnectInfo;
    (parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>())
        .map(|ConnectInfo(peer)| peer.ip().to_string())
        .unwrap_or_default()
}

/// [`client_address`] as an extractor, for pages answered before anyone is signed in.
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(client_address(parts)))
    }
}

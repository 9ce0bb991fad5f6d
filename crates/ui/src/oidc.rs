//! Signing in through the deployment's identity provider with OpenID Connect: the
//! authorization code flow with PKCE (S256), a `state` bound to the browser by a cookie,
//! a nonce, and the ID token's signature, issuer, audience and expiry checked by the
//! `openidconnect` crate. The provider only proves who someone is; what they may see
//! comes from their scimgate account, found by the name claim (`scimgate admin create
//! NAME --no-password` makes one for a person who signs in only this way).

use crate::pages::Page;
use crate::session::ClientAddress;
use crate::sign_in::{start_session, Landing};
use crate::UiState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use scimgate_app::Actor;
use scimgate_app::AppError;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// The `oidc` section of the configuration.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct OidcConfig {
    /// The provider's issuer URL; Entra ID's is
    /// `https://login.microsoftonline.com/{directory id}/v2.0`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The ID token claim that is the scimgate account's name.
    #[serde(default)]
    pub name_claim: NameClaim,
    /// Who the sign-in button names ("Sign in with …").
    #[serde(default = "default_label")]
    pub label: String,
}

fn default_label() -> String {
    "your identity provider".to_owned()
}

// Written out so that the client secret never reaches a log line.
impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("name_claim", &self.name_claim)
            .field("label", &self.label)
            .finish()
    }
}

/// Which claim names the account.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NameClaim {
    /// Entra ID puts the user principal name here (`alice@contoso.com`).
    #[default]
    PreferredUsername,
    /// Only when the provider does not say the address is unverified.
    Email,
    /// The provider's subject identifier, stable but opaque.
    Sub,
}

/// Where the provider sends the browser back to.
pub const CALLBACK_PATH: &str = "/sign-in/oidc/callback";
const COOKIE: &str = "scimgate_oidc";
/// How long a started sign-in may take at the provider.
const PENDING_MS: i64 = 10 * 60 * 1000;
/// Sign-ins in progress kept at once; beyond it the oldest is dropped, so memory is bounded.
const MAX_PENDING: usize = 10_000;
/// Provider metadata and signing keys are fetched again after this long, so that a key
/// rotation at the provider is picked up.
const METADATA_MS: i64 = 60 * 60 * 1000;

/// A started sign-in, kept until the provider sends the browser back.
struct Pending {
    nonce: Nonce,
    verifier: PkceCodeVerifier,
    redirect: RedirectUrl,
    started_ms: i64,
}

pub struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    metadata: tokio::sync::Mutex<Option<(CoreProviderMetadata, i64)>>,
    pending: Mutex<HashMap<String, Pending>>,
}

/// Why a sign-in through the provider did not happen.
enum Failure {
    /// The provider could not be reached or answered nonsense (502).
    Provider(String),
    /// The browser came back with a state this server did not start for it (400).
    Stale,
    /// The provider refused, or its answer did not prove who the person is (401).
    Refused(String),
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Result<Oidc, String> {
        IssuerUrl::new(config.issuer.clone()).map_err(|e| format!("oidc.issuer: {e}"))?;
        let http = reqwest::Client::builder()
            // Following a redirect would let a provider's answer send this server
            // anywhere (server-side request forgery).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("oidc: HTTP client: {e}"))?;
        Ok(Oidc {
            config,
            http,
            metadata: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub fn label(&self) -> &str {
        &self.config.label
    }

    async fn metadata(&self, now_ms: i64) -> Result<CoreProviderMetadata, Failure> {
        let mut cached = self.metadata.lock().await;
        if let Some((metadata, fetched)) = cached.as_ref() {
            if now_ms - fetched < METADATA_MS {
                return Ok(metadata.clone());
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| Failure::Provider(format!("issuer: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| Failure::Provider(format!("discovery at {}: {e}", self.config.issuer)))?;
        *cached = Some((metadata.clone(), now_ms));
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
        redirect: RedirectUrl,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect)
    }

    /// The provider's authorization URL for a new sign-in, and its state.
    async fn start(&self, redirect: RedirectUrl, now_ms: i64) -> Result<(String, String), Failure> {
        let metadata = self.metadata(now_ms).await?;
        let client = self.client(metadata, redirect.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        let mut pending = self.pending.lock().map_err(|_| Failure::Stale)?;
        pending.retain(|_, p| now_ms - p.started_ms < PENDING_MS);
        // Full (someone is starting sign-ins by the thousand): the oldest gives way, so
        // that a flood cannot keep real people from signing in.
        while pending.len() >= MAX_PENDING {
            let oldest = (pending.iter())
                .min_by_key(|(_, p)| p.started_ms)
                .map(|(state, _)| state.clone());
            match oldest {
                Some(state) => pending.remove(&state),
                None => break,
            };
        }
        let state = state.secret().clone();
        let started = Pending {
            nonce,
            verifier,
            redirect,
            started_ms: now_ms,
        };
        pending.insert(state.clone(), started);
        Ok((url.to_string(), state))
    }

    /// The account name the provider vouches for, from the code it sent back.
    async fn finish(&self, state: &str, code: String, now_ms: i64) -> Result<String, Failure> {
        let started = {
            let mut pending = self.pending.lock().map_err(|_| Failure::Stale)?;
            pending.remove(state).ok_or(Failure::Stale)?
        };
        if now_ms - started.started_ms >= PENDING_MS {
            return Err(Failure::Stale);
        }
        let metadata = self.metadata(now_ms).await?;
        let client = self.client(metadata, started.redirect);
        let request = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| Failure::Provider(format!("the provider has no token endpoint: {e}")))?
            .set_pkce_verifier(started.verifier);
        let tokens = request
            .request_async(&self.http)
            .await
            .map_err(|e| Failure::Refused(format!("the code was not accepted: {e}")))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| Failure::Refused("the provider sent no ID token".to_owned()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &started.nonce)
            .map_err(|e| Failure::Refused(format!("the ID token was not valid: {e}")))?;
        let name = match self.config.name_claim {
            NameClaim::PreferredUsername => claims.preferred_username().map(|n| n.to_string()),
            NameClaim::Email => claims
                .email()
                .filter(|_| claims.email_verified() != Some(false))
                .map(|e| e.to_string()),
            NameClaim::Sub => Some(claims.subject().to_string()),
        };
        name.ok_or_else(|| {
            Failure::Refused(format!(
                "the ID token has no {:?} claim to name an account by",
                self.config.name_claim
            ))
        })
    }
}

/// `/sign-in/oidc`: off to the provider.
pub async fn start(State(state): State<UiState>, headers: HeaderMap) -> Response {
    let Some(oidc) = state.oidc.as_deref() else {
        return Page::not_found();
    };
    let Some(redirect) = callback_url(&state, &headers) else {
        return failed(
            &state,
            Failure::Provider(
                "no public_url is set and the request has no Host to build the callback URL from"
                    .to_owned(),
            ),
        );
    };
    let now = state.app.clock().now().unix_millis();
    match oidc.start(redirect, now).await {
        Ok((url, browser_state)) => {
            let mut response = Redirect::to(&url).into_response();
            let cookie = state_cookie(Some(&browser_state), state.secure_cookies);
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(failure) => failed(&state, failure),
    }
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `/sign-in/oidc/callback`: the provider sent the browser back.
pub async fn callback(
    State(state): State<UiState>,
    ClientAddress(from): ClientAddress,
    headers: HeaderMap,
    Query(back): Query<Callback>,
) -> Response {
    let Some(oidc) = state.oidc.as_deref() else {
        return Page::not_found();
    };
    let answer = async {
        if let Some(error) = back.error {
            let detail = back.error_description.unwrap_or_default();
            return Err(Failure::Refused(format!(
                "the provider said {error}: {detail}"
            )));
        }
        let (Some(code), Some(sent_state)) = (back.code, back.state) else {
            return Err(Failure::Stale);
        };
        // The state must be the one this browser was given: a code someone else started
        // cannot sign this browser in (login CSRF).
        let cookie_state = crate::session::cookie_value(&headers, COOKIE).unwrap_or_default();
        if !crate::security::csrf_matches(&sent_state, cookie_state) {
            return Err(Failure::Stale);
        }
        let now = state.app.clock().now().unix_millis();
        oidc.finish(&sent_state, code, now).await
    };
    let name = match answer.await {
        Ok(name) => name,
        Err(failure) => return with_state_cleared(failed(&state, failure), state.secure_cookies),
    };
    let app = state.app.acting_as(Actor::ui(&name, &from));
    let account = match app.sign_in_vouched(&name).await {
        Ok(account) => account,
        Err(AppError::Unauthorized(problem)) => {
            tracing::warn!(%name, "identity provider sign-in without a usable account");
            let response = crate::sign_in::refused_page(&state, StatusCode::FORBIDDEN, problem);
            return with_state_cleared(response, state.secure_cookies);
        }
        Err(e) => return Page::internal(&e),
    };
    // The browser arrives here from the provider's site, and a SameSite=Strict session
    // cookie is not sent on a redirect chain that began elsewhere: a page of our own
    // moves on instead, so the first signed-in page already has its session.
    let response = start_session(&state, &account, Landing::FromElsewhere).await;
    with_state_cleared(response, state.secure_cookies)
}

fn callback_url(state: &UiState, headers: &HeaderMap) -> Option<RedirectUrl> {
    let base = match &state.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = headers.get(header::HOST)?.to_str().ok()?;
            format!("http://{host}")
        }
    };
    RedirectUrl::new(format!("{base}{CALLBACK_PATH}")).ok()
}

/// The cookie binding a started sign-in to this browser. SameSite=Lax, unlike the
/// session's: it must come back on the provider's top-level redirect to the callback.
fn state_cookie(state: Option<&str>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let (value, age) = match state {
        Some(state) => (state, PENDING_MS / 1000),
        None => ("", 0),
    };
    let cookie = format!(
        "{COOKIE}={value}; Path=/sign-in/oidc; HttpOnly; SameSite=Lax; Max-Age={age}{secure}"
    );
    HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static(""))
}

fn with_state_cleared(mut response: Response, secure: bool) -> Response {
    (response.headers_mut()).append(header::SET_COOKIE, state_cookie(None, secure));
    response
}

fn failed(state: &UiState, failure: Failure) -> Response {
    match failure {
        Failure::Provider(problem) => {
            tracing::error!(%problem, "identity provider sign-in failed");
            let message = "The identity provider could not be reached or gave an answer \
                scimgate cannot use; the server log has the details. Try again, or sign in \
                with a password.";
            Page::message(StatusCode::BAD_GATEWAY, "Sign-in failed", message.into())
        }
        Failure::Stale => {
            let message = "This sign-in was not started in this browser, or took longer \
                than 10 minutes. Start again from the sign-in page.";
            Page::message(StatusCode::BAD_REQUEST, "Sign-in expired", message.into())
        }
        Failure::Refused(problem) => {
            tracing::warn!(%problem, "identity provider sign-in refused");
            crate::sign_in::refused_page(
                state,
                StatusCode::UNAUTHORIZED,
                format!("The identity provider did not sign you in ({problem})."),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_stays_out_of_debug_output() {
        let config: OidcConfig = serde_json::from_value(serde_json::json!({
            "issuer": "https://login.example/v2.0",
            "client_id": "c",
            "client_secret": "hunter2",
        }))
        .unwrap_or_else(|e| unreachable!("{e}"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(config.name_claim, NameClaim::PreferredUsername);
    }

    #[test]
    fn an_issuer_that_is_not_a_url_is_refused_naming_the_key() {
        let config = OidcConfig {
            issuer: "login.example.com without a scheme".into(),
            client_id: "c".into(),
            client_secret: "s".into(),
            name_claim: NameClaim::default(),
            label: default_label(),
        };
        let refused = Oidc::new(config).err().unwrap_or_default();
        assert!(refused.starts_with("oidc.issuer"), "{refused}");
    }

    #[test]
    fn the_state_cookie_comes_back_from_the_provider_and_is_cleared_after() {
        let set = state_cookie(Some("abc"), true);
        let set = set.to_str().unwrap_or_default();
        assert!(set.contains("SameSite=Lax") && set.contains("Secure") && set.contains("HttpOnly"));
        let cleared = state_cookie(None, false);
        assert!(cleared.to_str().unwrap_or_default().contains("Max-Age=0"));
    }
}

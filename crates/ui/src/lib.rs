//! The Identity Manager web UI: server-rendered pages (askama templates, escaped by
//! default) with htmx served from the binary, over the same application layer the admin
//! API and the CLI call. Signed-in sessions, roles, tenants granted per account, CSRF
//! tokens on every form and a strict Content-Security-Policy (docs/ui.md).

mod approvals_page;
mod assets;
mod crm_target_page;
mod first_run;
mod forms;
mod licences_page;
mod logs_page;
mod oidc;
mod overview_page;
mod pages;
mod preview_page;
mod rule_editor_page;
mod rules_page;
mod runs_page;
mod security;
mod session;
mod settings_page;
mod sign_in;
mod tenant_pages;
mod users_page;

use axum::routing::{get, post};
use axum::Router;
use scimgate_app::App;
use std::sync::Arc;

pub use oidc::{NameClaim, OidcConfig};

/// What the UI's handlers share.
#[derive(Clone)]
pub struct UiState {
    app: App,
    /// Cookies marked `Secure`: the UI is reached over TLS (`public_url` is https).
    secure_cookies: bool,
    /// The configured public base URL, for the Tenant URL shown to admins.
    public_url: Option<String>,
    /// Sign-in through the deployment's identity provider, when configured.
    oidc: Option<Arc<oidc::Oidc>>,
}

/// The UI's routes: `/`, `/sign-in`, `/sign-out`, `/t/{tenant}/…` and `/ui/assets/…`.
/// An `oidc` configuration whose issuer is not a URL is refused, naming the key.
pub fn router(
    app: App,
    public_url: Option<String>,
    oidc: Option<OidcConfig>,
) -> Result<Router, String> {
    let oidc = oidc.map(oidc::Oidc::new).transpose()?.map(Arc::new);
    let secure_cookies = public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    let public_host = security::PublicHost::of(public_url.as_deref());
    let state = UiState {
        app,
        secure_cookies,
        public_url,
        oidc,
    };
    let router = Router::new()
        .route("/", get(tenant_pages::home))
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/sign-in/oidc", get(oidc::start))
        .route(oidc::CALLBACK_PATH, get(oidc::callback))
        .route("/first-run", get(first_run::form).post(first_run::submit))
        .route("/t/{tenant}/connection", get(tenant_pages::connection))
        .route(
            "/t/{tenant}/connection/tokens",
            post(tenant_pages::create_token),
        )
        .route(
            "/t/{tenant}/connection/tokens/{id}/revoke",
            post(tenant_pages::revoke_token),
        )
        .route("/t/{tenant}/overview", get(overview_page::show))
        .route("/t/{tenant}/users", get(users_page::list))
        .route("/t/{tenant}/users/", get(users_page::to_list))
        .route("/t/{tenant}/users/{id}", get(users_page::show))
        .route("/t/{tenant}/users/{id}/sync", post(users_page::sync))
        .route(
            "/t/{tenant}/settings",
            get(settings_page::show).post(settings_page::save),
        )
        .route(
            "/t/{tenant}/settings/subscriptions",
            post(settings_page::subscribe),
        )
        .route(
            "/t/{tenant}/settings/subscriptions/{id}/remove",
            post(settings_page::unsubscribe),
        )
        .route(
            "/t/{tenant}/settings/subscriptions/{id}/test",
            post(settings_page::test),
        )
        .route("/t/{tenant}/settings/restart", post(settings_page::restart))
        .route(
            "/t/{tenant}/settings/crm-target",
            get(crm_target_page::show).post(crm_target_page::save),
        )
        .route(
            "/t/{tenant}/settings/crm-target/test",
            post(crm_target_page::test),
        )
        .route(
            "/t/{tenant}/settings/crm-target/retry",
            post(crm_target_page::retry),
        )
        .route(
            "/t/{tenant}/settings/crm-target/drift",
            post(crm_target_page::drift),
        )
        .route(
            "/t/{tenant}/settings/crm-target/drift/fix",
            post(crm_target_page::fix),
        )
        .route(
            "/t/{tenant}/settings/crm-target/clear",
            post(crm_target_page::clear),
        )
        .route(
            "/t/{tenant}/settings/welcome-forecast",
            get(settings_page::welcome_forecast),
        )
        .route("/t/{tenant}/rules", get(rules_page::show))
        .route("/t/{tenant}/rules/active", post(rules_page::switch))
        .route("/t/{tenant}/rules/move", post(rules_page::move_rule))
        .route("/t/{tenant}/rules/yaml", post(rules_page::save_yaml))
        .route("/t/{tenant}/rules/discard", post(rules_page::discard))
        .route("/t/{tenant}/rules/publish", post(rules_page::publish))
        .route(
            "/t/{tenant}/rules/versions/{version}/restore",
            post(rules_page::restore),
        )
        .route("/t/{tenant}/rules/export", get(rules_page::export))
        .route("/t/{tenant}/rules/impact", get(rules_page::impact))
        .route(
            "/t/{tenant}/rules/edit",
            get(rule_editor_page::show).post(rule_editor_page::submit),
        )
        .route(
            "/t/{tenant}/rules/duplicate",
            post(rule_editor_page::duplicate),
        )
        .route("/t/{tenant}/rules/delete", post(rule_editor_page::delete))
        .route("/t/{tenant}/preview", get(preview_page::show))
        .route("/t/{tenant}/preview/export", get(preview_page::export))
        .route(
            "/t/{tenant}/preview/recompute",
            post(preview_page::recompute),
        )
        .route("/t/{tenant}/approvals", get(approvals_page::show))
        .route("/t/{tenant}/licences", get(licences_page::show))
        .route("/t/{tenant}/runs", get(runs_page::list))
        .route("/t/{tenant}/runs/start", post(runs_page::start))
        .route("/t/{tenant}/runs/confirm", get(runs_page::confirm))
        .route("/t/{tenant}/runs/{id}", get(runs_page::show))
        .route("/t/{tenant}/runs/{id}/export", get(runs_page::export))
        .route("/t/{tenant}/runs/{id}/events", get(runs_page::events))
        .route("/t/{tenant}/runs/{id}/{action}", post(runs_page::act))
        .route("/t/{tenant}/logs", get(logs_page::show))
        .route("/t/{tenant}/logs/export", get(logs_page::export))
        .route(assets::HTMX_PATH, get(assets::htmx))
        .route(assets::CSS_PATH, get(assets::css))
        .route(assets::JS_PATH, get(assets::js))
        .layer(axum::middleware::from_fn_with_state(
            public_host,
            security::guard,
        ))
        .with_state(state);
    Ok(router)
}

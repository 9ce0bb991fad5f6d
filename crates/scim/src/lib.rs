//! SCIM 2.0 service provider (RFC 7643/7644) in front of the holding area.
//!
//! Ingest only stages what arrives: it never calls rules or CRM code (docs/design.md §2).

pub mod auth_failures;
mod discovery;
mod discovery_handlers;
pub mod error;
pub mod etag;
pub mod filter;
mod handlers;
pub mod http;
pub mod limits;
mod listing;
pub mod patch;
#[cfg(test)]
mod patch_tests;
pub mod render;
pub mod resource;
pub mod schema;
pub mod translate;

use axum::http::HeaderMap;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use error::ScimError;
use scimgate_core::clock::SharedClock;
use scimgate_store::Store;

/// Everything the SCIM handlers need.
#[derive(Clone)]
pub struct ScimState {
    pub store: Store,
    pub clock: SharedClock,
    pub max_body_bytes: usize,
    /// Externally visible base URL (`https://scim.example.com`); when absent the request's
    /// `Host` header is used.
    pub public_url: Option<String>,
    /// Rejected tokens per tenant, for `scim.auth_failures` notifications.
    pub auth_failures: std::sync::Arc<auth_failures::AuthFailures>,
}

pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

impl ScimState {
    pub fn public_base(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    }
}

/// The SCIM routes, all under `/scim/v2/{tenant}`.
pub fn router(state: ScimState) -> Router {
    use discovery_handlers as d;
    use handlers as h;
    let routes: [(&str, MethodRouter<ScimState>); 12] = [
        ("/Users", get(h::list_users).post(h::create_user)),
        ("/Users/.search", post(h::search_users)),
        ("/Users/{id}", h::one_user()),
        ("/Groups", get(h::list_groups).post(h::create_group)),
        ("/Groups/.search", post(h::search_groups)),
        ("/Groups/{id}", h::one_group()),
        ("/.search", post(crate::listing::search_root)),
        ("/ServiceProviderConfig", get(d::service_provider_config)),
        ("/Schemas", get(d::schemas)),
        ("/Schemas/{id}", get(d::schema_by_id)),
        ("/ResourceTypes", get(d::resource_types)),
        ("/ResourceTypes/{id}", get(d::resource_type_by_id)),
    ];
    routes
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(&format!("/scim/v2/{{tenant}}{path}"), methods)
        })
        .method_not_allowed_fallback(|| async { ScimError::method_not_allowed() })
        .with_state(state)
}

/// For paths under `/scim` that name no endpoint.
pub async fn not_found() -> ScimError {
    ScimError::not_found("no such SCIM endpoint")
}

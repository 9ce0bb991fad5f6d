//! One admin API request as a handler sees it: the tenant its token proves, the
//! application layer, the query parameters, the path's segments and the version a write
//! is based on. One extractor, so each handler says only what is its own.

use super::body::Document;
use super::error::{ApiError, Result};
use super::params::{Params, Segments};
use super::{auth, version, AdminState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use scimgate_app::{Actor, App, Expect, Via};
use scimgate_store::Tenant;

pub struct Call {
    pub tenant: Tenant,
    pub app: App,
    pub params: Params,
    pub path: Segments,
    headers: HeaderMap,
}

impl FromRequestParts<AdminState> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Call> {
        // Authentication first: a caller without a valid token learns nothing else.
        let (tenant, token) = auth::tenant(parts, state).await?;
        tracing::Span::current().record("tenant", tenant.name.as_str());
        let actor = Actor {
            who: format!("admin API token {} ({})", token.id, token.label),
            via: Via::Api,
            from: crate::client_address(parts),
        };
        Ok(Call {
            tenant,
            app: state.app.acting_as(actor),
            params: Params::from_request_parts(parts, state).await?,
            path: Segments::from_request_parts(parts, state).await?,
            headers: parts.headers.clone(),
        })
    }
}

impl Call {
    /// For endpoints that take no query parameters: refuses any.
    pub fn no_params(&self) -> Result<()> {
        self.params.only(&[]).map(|_| ())
    }

    /// The caller asked to be answered before the work is done (`Prefer: respond-async`).
    pub fn prefers_async(&self) -> bool {
        (self.headers.get_all("prefer").iter())
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
    }

    /// The version a write of `what` is based on (`If-Match`, or the body's `version`).
    pub fn expected(&self, body: Option<&Document>, what: &'static str) -> Result<Expect> {
        version::expected(&self.headers, body, what)
    }
}

//! The discovery endpoints (`/ServiceProviderConfig`, `/Schemas`, `/ResourceTypes`):
//! the documents of `discovery` and `schema`, served.

use crate::error::ScimError;
use crate::handlers::OneResource;
use crate::http::{scim_response, Authed};
use crate::listing::list_response;
use crate::{discovery, schema};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

type Result<T> = std::result::Result<T, ScimError>;

pub async fn service_provider_config(auth: Authed) -> Result<Response> {
    Ok(scim_response(
        StatusCode::OK,
        &discovery::service_provider_config(&auth.base),
        HeaderMap::new(),
    ))
}

/// A discovery collection (`/Schemas`, `/ResourceTypes`) as a ListResponse.
fn discovery_list(all: Vec<Value>) -> Response {
    scim_response(
        StatusCode::OK,
        &list_response(all.len() as i64, 1, all),
        HeaderMap::new(),
    )
}

/// One entry of a discovery collection by its `id` (case-insensitive), or 404.
fn discovery_entry(all: Vec<Value>, what: &str, id: &str) -> Result<Response> {
    let found = all
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(id)))
        .ok_or_else(|| ScimError::not_found(format!("{what} {id} not found")))?;
    Ok(scim_response(StatusCode::OK, &found, HeaderMap::new()))
}

pub async fn schemas(auth: Authed) -> Result<Response> {
    Ok(discovery_list(schema::all_schemas(&auth.base)))
}

pub async fn schema_by_id(r: OneResource) -> Result<Response> {
    discovery_entry(schema::all_schemas(&r.auth.base), "schema", &r.id)
}

pub async fn resource_types(auth: Authed) -> Result<Response> {
    Ok(discovery_list(discovery::resource_types(&auth.base)))
}

pub async fn resource_type_by_id(r: OneResource) -> Result<Response> {
    let all = discovery::resource_types(&r.auth.base);
    discovery_entry(all, "resource type", &r.id)
}

//! Request plumbing shared by the SCIM handlers: authentication, body and query
//! parsing, and `application/scim+json` responses. Every rejection is a SCIM error.

use crate::error::{ScimError, SCIM_CONTENT_TYPE};
use crate::filter::{self, Filter, Target};
use crate::render::Projection;
use crate::schema::ResourceType;
use crate::ScimState;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use scimgate_core::TenantName;
use scimgate_store::Tenant;
use serde_json::Value;

/// The tenant a request is for, proven by its bearer token.
pub struct Authed {
    pub tenant: Tenant,
    /// The tenant's SCIM base URL, for `meta.location` and member `$ref`s.
    pub base: String,
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    scimgate_core::tenant::bearer_token(value)
}

impl FromRequestParts<ScimState> for Authed {
    type Rejection = ScimError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ScimState,
    ) -> Result<Self, Self::Rejection> {
        let path_tenant = parts
            .uri
            .path()
            .split('/')
            .nth(3)
            .unwrap_or_default()
            .to_owned();
        let authenticated = match bearer(parts) {
            Some(token) => state.store.authenticate(token, state.clock.now()).await?,
            None => None,
        };
        let Some(tenant) = authenticated else {
            if let Ok(named) = TenantName::parse(&path_tenant) {
                state.auth_failures.count(named, state.clock.now());
            }
            return Err(ScimError::unauthorized());
        };
        // A valid token of another tenant learns nothing about this one: 404, as if absent.
        let Ok(path_tenant) = TenantName::parse(&path_tenant) else {
            return Err(ScimError::not_found("no such tenant"));
        };
        if tenant.name != path_tenant {
            tracing::warn!(token_tenant = %tenant.name, path_tenant = %path_tenant, "token used for another tenant");
            return Err(ScimError::not_found("no such tenant"));
        }
        let base = format!(
            "{}{}",
            state.public_base(&parts.headers),
            tenant.name.scim_path()
        );
        Ok(Authed { tenant, base })
    }
}

/// A JSON request body: `application/scim+json` or `application/json`, size-limited.
pub struct ScimBody(pub Value);

impl FromRequest<ScimState> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &ScimState) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            let ok = essence.eq_ignore_ascii_case(SCIM_CONTENT_TYPE)
                || essence.eq_ignore_ascii_case("application/json");
            if !ok {
                return Err(ScimError::unsupported_media_type(ct));
            }
        }
        let limit = state.max_body_bytes;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(ScimError::payload_too_large(limit));
        }
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| ScimError::payload_too_large(limit))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ScimError::invalid_syntax(
                "the request body is empty; send a JSON object",
            ));
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
        })?;
        Ok(ScimBody(value))
    }
}

/// Query parameters, matched case-insensitively by name.
pub struct QueryParams(pub Vec<(String, String)>);

impl QueryParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|q| QueryParams(q.0))
            .map_err(|e| ScimError::invalid_syntax(format!("bad query string: {e}")))
    }
}

/// What a list or search asks for, validated.
pub struct ListRequest {
    pub filter: Option<Filter>,
    pub start_index: i64,
    pub count: i64,
    pub projection: Projection,
}

pub const DEFAULT_COUNT: i64 = 100;
pub const MAX_COUNT: i64 = 1000;

impl ListRequest {
    pub fn new(
        filter: Option<&str>,
        start_index: Option<i64>,
        count: Option<i64>,
        attributes: Option<&str>,
        excluded: Option<&str>,
        targets: &[ResourceType],
    ) -> Result<ListRequest, ScimError> {
        let filter = match filter.map(str::trim).filter(|f| !f.is_empty()) {
            None => None,
            Some(text) => {
                let mut parsed = filter::parse_filter(text)
                    .map_err(|e| ScimError::invalid_filter(format!("bad filter {text:?}: {e}")))?;
                if let [rt] = targets {
                    parsed = filter::qualify(parsed, *rt);
                }
                let mut errors = targets
                    .iter()
                    .filter_map(|rt| filter::check(&parsed, Target::Resource(*rt)).err());
                if let Some(first) = errors.next() {
                    if errors.count() + 1 == targets.len() {
                        return Err(ScimError::invalid_filter(format!(
                            "bad filter {text:?}: {first}"
                        )));
                    }
                }
                Some(parsed)
            }
        };
        Ok(ListRequest {
            filter,
            // RFC 7644 §3.4.2.4: values below 1 are taken as 1, negative counts as 0.
            start_index: start_index.unwrap_or(1).max(1),
            count: count.unwrap_or(DEFAULT_COUNT).clamp(0, MAX_COUNT),
            projection: Projection::parse(attributes, excluded)?,
        })
    }

    pub fn from_query(q: &QueryParams, targets: &[ResourceType]) -> Result<ListRequest, ScimError> {
        let int = |name: &str| -> Result<Option<i64>, ScimError> {
            q.get(name)
                .map(|v| {
                    v.trim().parse::<i64>().map_err(|_| {
                        ScimError::invalid_value(format!("{name} must be an integer, not {v:?}"))
                    })
                })
                .transpose()
        };
        ListRequest::new(
            q.get("filter"),
            int("startIndex")?,
            int("count")?,
            q.get("attributes"),
            q.get("excludedAttributes"),
            targets,
        )
    }

    /// A `SearchRequest` body (POST `.search`).
    pub fn from_search(body: &Value, targets: &[ResourceType]) -> Result<ListRequest, ScimError> {
        let Value::Object(obj) = body else {
            return Err(ScimError::invalid_syntax(
                "a SearchRequest must be a JSON object",
            ));
        };
        if let Some(schemas) = crate::schema::get_ci(obj, "schemas") {
            let ok = schemas.as_array().is_some_and(|s| {
                s.iter().any(|u| {
                    u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(crate::schema::SEARCH_REQUEST))
                })
            });
            if !ok {
                return Err(ScimError::invalid_syntax(format!(
                    "schemas must be [\"{}\"]",
                    crate::schema::SEARCH_REQUEST
                )));
            }
        }
        let text = |name: &str| -> Result<Option<String>, ScimError> {
            match crate::schema::get_ci(obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) if name.ends_with("ttributes") => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_owned).ok_or_else(|| {
                            ScimError::invalid_value(format!("{name} must list strings"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| Some(v.join(","))),
                Some(other) => Err(ScimError::invalid_value(format!(
                    "{name} must be a string, not {other}"
                ))),
            }
        };
        let int = |name: &str| -> Result<Option<i64>, ScimError> {
            match crate::schema::get_ci(obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
                Some(other) => Err(ScimError::invalid_value(format!(
                    "{name} must be an integer, not {other}"
                ))),
            }
        };
        ListRequest::new(
            text("filter")?.as_deref(),
            int("startIndex")?,
            int("count")?,
            text("attributes")?.as_deref(),
            text("excludedAttributes")?.as_deref(),
            targets,
        )
    }
}

/// A SCIM JSON response.
pub fn scim_response(status: StatusCode, body: &Value, extra: HeaderMap) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    headers.extend(extra);
    response
}

pub fn empty_response(status: StatusCode) -> Response {
    let mut response = (status, Body::empty()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    response
}

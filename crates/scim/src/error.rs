//! The one place SCIM failures become HTTP: RFC 7644 §3.12 error bodies with the right
//! status and `scimType`. Every client mistake maps to a 4xx, never a 500.

use crate::schema;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use scimgate_store::StoreError;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {detail}")]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some(ScimType::Uniqueness), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            "a valid bearer token for this tenant is required",
        )
    }
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("request body is larger than {limit} bytes"),
        )
    }
    pub fn unsupported_media_type(got: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            format!("content type {got:?} is not supported; send application/scim+json"),
        )
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            "method not allowed on this endpoint",
        )
    }
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, None, detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, None, detail)
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, None, detail)
    }

    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({
            "schemas": [schema::ERROR],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t.as_str());
        }
        body
    }
}

impl From<StoreError> for ScimError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ScimError::not_found("resource not found"),
            StoreError::Conflict(what) => ScimError::uniqueness(format!("{what} already exists")),
            StoreError::Rejected(inner) => match inner.downcast::<ScimError>() {
                Ok(scim) => *scim,
                Err(other) => ScimError::invalid_value(other.to_string()),
            },
            StoreError::Unstorable(why) => ScimError::invalid_value(why),
            StoreError::UnknownMember(id) => ScimError::invalid_value(format!(
                "member {id:?} is not a user or group of this tenant (nor may a group be its own member)"
            )),
            StoreError::VersionMismatch { current } => crate::etag::stale(current),
            ref db @ StoreError::Database(_) if db.is_input_refused() => {
                tracing::info!(error = %err, "the database refused a client's value");
                ScimError::invalid_value(
                    "a value is too long or holds a character that cannot be stored",
                )
            }
            StoreError::Unavailable(_)
            | StoreError::WriterStopped
            | StoreError::Database(_)
            | StoreError::SqliteRead(_) => {
                tracing::error!(error = %err, "store unavailable");
                ScimError::unavailable("the store is temporarily unavailable; retry later")
            }
            // Admin edits only; SCIM never writes a versioned aggregate.
            StoreError::BadUrl { .. } | StoreError::Corrupt(_) | StoreError::Stale(_) => {
                tracing::error!(error = %err, "store failure");
                ScimError::internal("internal error")
            }
        }
    }
}

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(SCIM_CONTENT_TYPE),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scimgate\""),
            );
        }
        // Only a real outage is a 503, and a client may come back shortly.
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_and_type(err: ScimError) -> (u16, Option<&'static str>) {
        (err.status.as_u16(), err.scim_type.map(ScimType::as_str))
    }

    #[test]
    fn store_errors_map_to_scim_statuses() {
        assert_eq!(status_and_type(StoreError::NotFound.into()), (404, None));
        assert_eq!(
            status_and_type(StoreError::Conflict("x".into()).into()),
            (409, Some("uniqueness"))
        );
        let rejected = StoreError::Rejected(Box::new(ScimError::invalid_path("bad")));
        assert_eq!(status_and_type(rejected.into()), (400, Some("invalidPath")));
        let other = StoreError::Rejected("plain".into());
        assert_eq!(status_and_type(other.into()), (400, Some("invalidValue")));
        assert_eq!(
            status_and_type(StoreError::Unavailable("x".into()).into()),
            (503, None)
        );
        assert_eq!(
            status_and_type(StoreError::WriterStopped.into()),
            (503, None)
        );
        assert_eq!(
            status_and_type(StoreError::Corrupt("x".into()).into()),
            (500, None)
        );
        assert_eq!(
            status_and_type(StoreError::Database(sqlx::Error::RowNotFound).into()),
            (503, None)
        );
        assert_eq!(
            status_and_type(StoreError::Unstorable("userName holds NUL".into()).into()),
            (400, Some("invalidValue"))
        );
        let unknown: ScimError = StoreError::UnknownMember("u-9".into()).into();
        assert_eq!(
            (unknown.status.as_u16(), unknown.scim_type),
            (400, Some(ScimType::InvalidValue))
        );
        assert!(unknown.detail.contains("u-9"), "{}", unknown.detail);
        assert_eq!(
            status_and_type(StoreError::VersionMismatch { current: 4 }.into()),
            (412, None)
        );
    }

    #[test]
    fn outages_say_when_to_come_back() {
        let response = ScimError::unavailable("down").into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let response = ScimError::invalid_value("x").into_response();
        assert!(!response.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn error_bodies_follow_rfc7644() {
        let body = ScimError::invalid_filter("nope").body();
        assert_eq!(body["schemas"][0], schema::ERROR);
        assert_eq!(body["status"], "400");
        assert_eq!(body["scimType"], "invalidFilter");
        assert_eq!(body["detail"], "nope");
        assert!(ScimError::not_found("x").body().get("scimType").is_none());
    }

    #[test]
    fn every_scim_type_has_its_rfc_name() {
        for (t, name) in [
            (ScimType::InvalidFilter, "invalidFilter"),
            (ScimType::TooMany, "tooMany"),
            (ScimType::Uniqueness, "uniqueness"),
            (ScimType::Mutability, "mutability"),
            (ScimType::InvalidSyntax, "invalidSyntax"),
            (ScimType::InvalidPath, "invalidPath"),
            (ScimType::NoTarget, "noTarget"),
            (ScimType::InvalidValue, "invalidValue"),
            (ScimType::InvalidVers, "invalidVers"),
        ] {
            assert_eq!(t.as_str(), name);
        }
    }

    #[test]
    fn unauthorized_carries_the_bearer_challenge() {
        let response = ScimError::unauthorized().into_response();
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(response.headers()[header::CONTENT_TYPE], SCIM_CONTENT_TYPE);
    }
}

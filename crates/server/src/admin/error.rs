//! The admin API's one error type, and the one place errors become HTTP: every error is
//! `{"error": {"status": 400, "message": "…"}}`. Client mistakes get a message that says
//! what is wrong; anything else is a 500 whose detail goes to the log, not the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use scimgate_app::AppError;
use scimgate_store::StoreError;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

const INTERNAL: &str = "internal error: the request could not be completed (the server log has the detail under this request's X-Request-Id)";

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
    }

    /// A failure that is not the client's: logged in full, answered with a generic message.
    pub fn internal(detail: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "admin API request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"status": self.status.as_u16(), "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scimgate admin API\""),
            );
        }
        response
    }
}

/// The one map from the application's errors to HTTP.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        let status = match &e {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Invalid(_) | AppError::Rules { .. } | AppError::Unstorable(_) => {
                StatusCode::BAD_REQUEST
            }
            AppError::Conflict(_) | AppError::Busy | AppError::Stale(_) => StatusCode::CONFLICT,
            AppError::VersionRequired { .. } => StatusCode::PRECONDITION_REQUIRED,
            AppError::Target(_) => StatusCode::BAD_GATEWAY,
            AppError::Internal(_) => return ApiError::internal(&e),
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        AppError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    async fn body(e: ApiError) -> (StatusCode, Value, Option<String>) {
        let response = e.into_response();
        let status = response.status();
        let auth = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), auth)
    }

    fn status_of(e: impl Into<ApiError>) -> (u16, String) {
        let e = e.into();
        (e.status.as_u16(), e.message)
    }

    #[tokio::test]
    async fn the_body_carries_status_and_message() {
        let (status, value, auth) = body(ApiError::bad_request("column \"x\" is unknown")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            value,
            json!({"error": {"status": 400, "message": "column \"x\" is unknown"}})
        );
        assert_eq!(auth, None);
        let (status, value, auth) = body(ApiError::unauthorized("no token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(value["error"]["status"], 401);
        assert!(auth.unwrap().starts_with("Bearer"));
    }

    #[test]
    fn app_errors_map_to_statuses() {
        assert_eq!(
            status_of(AppError::NotFound("no run 9".into())),
            (404, "no run 9".into())
        );
        assert_eq!(status_of(AppError::Invalid("schedule".into())).0, 400);
        let rules = AppError::Rules {
            context: "the rule set was not saved".into(),
            problems: vec![scimgate_rules::LoadError {
                place: Some(scimgate_rules::Place {
                    file: "rules.yaml".into(),
                    line: 3,
                    column: 5,
                }),
                rule: Some("A".into()),
                message: "role \"Boss\" is not in the catalogue".into(),
            }],
        };
        assert_eq!(
            status_of(rules),
            (
                400,
                "the rule set was not saved:\nrules.yaml:3:5: rule \"A\": role \"Boss\" is not in the catalogue".into()
            )
        );
        assert_eq!(status_of(AppError::Unstorable("too long".into())).0, 400);
        assert_eq!(status_of(AppError::Conflict("not held".into())).0, 409);
        assert_eq!(status_of(AppError::Unauthorized("no".into())).0, 401);
        let (status, message) = status_of(AppError::Target("answered 401".into()));
        assert_eq!(
            (status, message.as_str()),
            (502, "the CRM target: answered 401")
        );
        let (status, message) = status_of(AppError::Busy);
        assert_eq!(status, 409);
        assert!(message.contains("already running"), "{message}");
        let (status, message) = status_of(AppError::Stale(scimgate_core::StaleEdit {
            what: "the rule set",
            expected: 3,
            current: 5,
            changed_at: "2026-12-06T10:00:00.000Z".into(),
        }));
        assert_eq!(status, 409);
        assert!(
            message.starts_with("the rule set changed since version 3: it is at version 5"),
            "{message}"
        );
        assert_eq!(
            status_of(AppError::VersionRequired {
                what: "the catalogue"
            })
            .0,
            428
        );
        let (status, message) = status_of(AppError::Internal("secret detail".into()));
        assert_eq!((status, message.as_str()), (500, INTERNAL));
    }

    #[test]
    fn store_errors_map_to_statuses() {
        assert_eq!(status_of(StoreError::NotFound).0, 404);
        assert_eq!(
            status_of(StoreError::Conflict("tenant x".into())),
            (409, "tenant x already exists".into())
        );
        for e in [
            StoreError::WriterStopped,
            StoreError::Unavailable("down".into()),
            StoreError::Corrupt("bad".into()),
            StoreError::Database(sqlx::Error::PoolTimedOut),
            StoreError::BadUrl {
                url: "x".into(),
                reason: "y".into(),
            },
            StoreError::Rejected("no".into()),
        ] {
            assert_eq!(status_of(e), (500, INTERNAL.into()));
        }
    }
}

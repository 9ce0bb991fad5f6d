//! The admin API's one error type, and the one place errors become HTTP: every error is
//! `{"error": {"status": 400, "message": "…"}}`. Client mistakes get a message that says
//! what is wrong; anything else is a 500 whose detail goes to the log, not the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use scimgate_crm::CrmError;
use scimgate_notify::NotifyError;
use scimgate_scheduler::SyncError;
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

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
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

    /// A database error: the client's value when the database refused it (too long for
    /// an index, a NUL), otherwise the server's failure. Explicit checks catch the known
    /// cases first with a better message; this keeps the rest from being a 500.
    fn database(err: &sqlx::Error) -> ApiError {
        if scimgate_store::blame(err) == scimgate_store::Blame::Input {
            tracing::info!(error = %err, "the database refused a client's value");
            return ApiError::bad_request(UNSTORABLE);
        }
        ApiError::internal(err)
    }
}

const UNSTORABLE: &str = "a value is too long or holds a character that cannot be stored";

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

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> ApiError {
        match e {
            SyncError::Rules(m) | SyncError::Invalid(m) => ApiError::bad_request(m),
            SyncError::NotFound(m) => ApiError::not_found(m),
            SyncError::Busy => ApiError::conflict(SyncError::Busy.to_string()),
            SyncError::Conflict(m) => ApiError::conflict(m),
            SyncError::Crm(e) => e.into(),
            SyncError::Notify(e) => e.into(),
            SyncError::Store(e) => e.into(),
            SyncError::Database(e) => ApiError::database(&e),
            e @ SyncError::Corrupt(_) => ApiError::internal(&e),
        }
    }
}

impl From<CrmError> for ApiError {
    fn from(e: CrmError) -> ApiError {
        match e {
            CrmError::Invalid(m) => ApiError::bad_request(m),
            CrmError::NotFound => ApiError::not_found("not found"),
            CrmError::Store(e) => e.into(),
            CrmError::Database(e) => ApiError::database(&e),
            e @ CrmError::Corrupt(_) => ApiError::internal(&e),
        }
    }
}

impl From<NotifyError> for ApiError {
    fn from(e: NotifyError) -> ApiError {
        match e {
            NotifyError::Invalid(m) => ApiError::bad_request(m),
            NotifyError::NotFound => ApiError::not_found("not found"),
            NotifyError::Store(e) => e.into(),
            NotifyError::Database(e) => ApiError::database(&e),
            e @ NotifyError::Corrupt(_) => ApiError::internal(&e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found("not found"),
            StoreError::Conflict(what) => ApiError::conflict(format!("{what} already exists")),
            StoreError::Unstorable(why) => ApiError::bad_request(why),
            StoreError::UnknownMember(_) => ApiError::bad_request(e.to_string()),
            StoreError::VersionMismatch { .. } => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, e.to_string())
            }
            StoreError::Database(e) => ApiError::database(&e),
            e => ApiError::internal(&e),
        }
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
    fn sync_errors_map_to_statuses() {
        assert_eq!(
            status_of(SyncError::Rules("rule \"A\": line 3".into())),
            (400, "rule \"A\": line 3".into())
        );
        assert_eq!(status_of(SyncError::Invalid("schedule".into())).0, 400);
        assert_eq!(
            status_of(SyncError::NotFound("no run 9".into())),
            (404, "no run 9".into())
        );
        let (status, message) = status_of(SyncError::Busy);
        assert_eq!(status, 409);
        assert!(message.contains("already running"), "{message}");
        assert_eq!(status_of(SyncError::Conflict("not held".into())).0, 409);
        assert_eq!(
            status_of(SyncError::Crm(CrmError::Invalid("seats".into()))).0,
            400
        );
        assert_eq!(status_of(SyncError::Store(StoreError::NotFound)).0, 404);
        let (status, message) = status_of(SyncError::Corrupt("secret detail".into()));
        assert_eq!(status, 500);
        assert!(!message.contains("secret detail"));
        assert_eq!(
            status_of(SyncError::Database(sqlx::Error::PoolTimedOut)).0,
            500
        );
    }

    #[test]
    fn crm_errors_map_to_statuses() {
        assert_eq!(
            status_of(CrmError::Invalid("a role needs a name".into())),
            (400, "a role needs a name".into())
        );
        assert_eq!(status_of(CrmError::NotFound).0, 404);
        assert_eq!(status_of(CrmError::Store(StoreError::NotFound)).0, 404);
        let (status, message) = status_of(CrmError::Corrupt("account 3".into()));
        assert_eq!((status, message.as_str()), (500, INTERNAL));
        assert_eq!(
            status_of(CrmError::Database(sqlx::Error::PoolClosed)).0,
            500
        );
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

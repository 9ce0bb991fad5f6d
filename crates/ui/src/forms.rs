//! Posted forms: the fields of a form an Administrator posted with this session's CSRF
//! token (checked before the handler runs), and the version an edit is based on.

use crate::session::InTenant;
use crate::UiState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use axum::Form;
use scimgate_app::{AppError, Expect};
use scimgate_core::AdminRole;

/// A form's fields as name/value pairs (a name may repeat: checkboxes).
pub type Fields = Vec<(String, String)>;

pub fn field<'f>(fields: &'f Fields, name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A form posted by an Administrator with this session's CSRF token (checked
/// before any handler runs), with its fields.
pub struct Posted {
    pub at: InTenant,
    pub fields: Fields,
}

impl Posted {
    /// The form, if the session may post it with the `needed` role.
    async fn from(
        request: Request,
        state: &UiState,
        needed: AdminRole,
    ) -> Result<Posted, Response> {
        let (mut parts, body) = request.into_parts();
        let at = InTenant::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let Form(fields) = Form::<Fields>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let csrf = field(&fields, "csrf").unwrap_or_default();
        match at.signed.may_post(csrf, needed) {
            Ok(()) => Ok(Posted { at, fields }),
            Err(refused) => Err(refused.into_response()),
        }
    }
}

impl FromRequest<UiState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &UiState) -> Result<Posted, Response> {
        Posted::from(request, state, AdminRole::Administrator).await
    }
}

/// [`Posted`] by an Operator or an Administrator: syncs, cancels, approvals.
pub struct OperatorPosted(pub Posted);

impl FromRequest<UiState> for OperatorPosted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &UiState) -> Result<OperatorPosted, Response> {
        Posted::from(request, state, AdminRole::Operator)
            .await
            .map(OperatorPosted)
    }
}

pub fn version(fields: &Fields) -> Result<Expect, AppError> {
    field(fields, "version")
        .and_then(|v| v.parse().ok())
        .map(Expect::Version)
        .ok_or_else(|| AppError::Invalid("the form has no version; reload the page".into()))
}

//! Optimistic concurrency over HTTP: reads carry the version of what they return (an
//! `ETag` header, so bodies keep their shape); writes name the version they are based on
//! (`If-Match`, or a `version` member of a JSON body). A write without one is 428; one
//! based on an older version is 409 (see `AppError::Stale`).

use super::body::Document;
use super::error::{ApiError, Result};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use scimgate_app::{AppError, Expect, Versioned};
use serde::Serialize;

/// `"7"`, `W/"7"` or `7`.
fn parse_if_match(value: &str) -> Option<i64> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    value.parse().ok()
}

/// The version a write is based on.
pub fn expected(
    headers: &HeaderMap,
    body: Option<&Document>,
    what: &'static str,
) -> Result<Expect> {
    let header = match headers.get(header::IF_MATCH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(parse_if_match)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "If-Match: {value:?} is not a version (send the ETag a GET returned, e.g. \"3\")"
                    ))
                })?,
        ),
    };
    let member = match body {
        Some(document) => document.version()?,
        None => None,
    };
    match (header, member) {
        (Some(h), Some(m)) if h != m => Err(ApiError::bad_request(format!(
            "If-Match names version {h} but the body's version is {m}"
        ))),
        (Some(v), _) | (None, Some(v)) => Ok(Expect::Version(v)),
        (None, None) => Err(AppError::VersionRequired { what }.into()),
    }
}

/// A versioned value as JSON, its version as `ETag`.
pub fn respond<T: Serialize>(versioned: Versioned<T>) -> Result<Response> {
    let mut response = Json(versioned.value).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", versioned.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// `204 No Content` after a write, with the version it made.
pub fn no_content(version: i64) -> Response {
    let mut response = axum::http::StatusCode::NO_CONTENT.into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(if_match: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_str(if_match).unwrap());
        h
    }

    #[test]
    fn if_match_takes_etag_forms() {
        for form in ["\"7\"", "W/\"7\"", "7", " \"7\" "] {
            assert_eq!(
                expected(&headers(form), None, "the rule set").unwrap(),
                Expect::Version(7),
                "{form}"
            );
        }
        let e = expected(&headers("\"x\""), None, "the rule set").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
    }

    #[test]
    fn a_write_without_a_version_is_428() {
        let e = expected(&HeaderMap::new(), None, "the catalogue").unwrap_err();
        assert_eq!(e.status.as_u16(), 428);
        assert!(e.message.contains("the catalogue"), "{}", e.message);
    }

    #[test]
    fn the_body_may_name_the_version() {
        let body = Document::Json(r#"{"version": 4, "a": 1}"#.into());
        assert_eq!(
            expected(&HeaderMap::new(), Some(&body), "x").unwrap(),
            Expect::Version(4)
        );
        let e = expected(&headers("5"), Some(&body), "x").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
    }
}

//! Request bodies: JSON (with `deny_unknown_fields` on the target type, so a misspelt key
//! is a 400 naming it) or, where an endpoint takes a file, YAML. axum's own rejections
//! never reach the client: they become our error body.

use super::error::{ApiError, Result};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

/// A request body as sent: JSON (`application/json`, or no content type) or YAML
/// (`application/yaml`, `text/yaml` and their `x-` forms).
pub enum Document {
    Json(Bytes),
    Yaml(String),
}

const YAML_TYPES: [&str; 4] = [
    "application/yaml",
    "text/yaml",
    "application/x-yaml",
    "text/x-yaml",
];

fn is_yaml(headers: &HeaderMap) -> Result<bool> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(false);
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        return Ok(false);
    }
    if YAML_TYPES.iter().any(|t| essence.eq_ignore_ascii_case(t)) {
        return Ok(true);
    }
    Err(ApiError::unsupported_media_type(format!(
        "content type {text:?} is not accepted: send application/json (or, where the endpoint takes a file, application/yaml)"
    )))
}

impl<S: Send + Sync> FromRequest<S> for Document {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Document> {
        let yaml = is_yaml(req.headers())?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        if !yaml {
            return Ok(Document::Json(bytes));
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|e| ApiError::bad_request(format!("the YAML body is not UTF-8: {e}")))?;
        if text.contains('\0') {
            return Err(ApiError::bad_request(
                "the YAML body holds a NUL character, which cannot be stored",
            ));
        }
        Ok(Document::Yaml(text))
    }
}

impl Document {
    /// The body as JSON of type `T`; a YAML body is refused (415).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        self.json_or_empty()?
            .ok_or_else(|| ApiError::bad_request("the request body is empty; send a JSON object"))
    }

    /// Like [`Document::json`], but an empty body is `None` (an optional body).
    pub fn json_or_empty<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        match self {
            Document::Json(bytes) => parse_json(bytes, true),
            Document::Yaml(_) => Err(ApiError::unsupported_media_type(
                "this endpoint takes a JSON body (application/json), not YAML",
            )),
        }
    }

    /// The `version` a JSON object body names (what the change is based on, as GET
    /// returned it), if any; the typed body never sees that member.
    pub fn version(&self) -> Result<Option<i64>> {
        let Document::Json(bytes) = self else {
            return Ok(None);
        };
        let value: Option<serde_json::Value> = parse_json(bytes, false)?;
        match value.as_ref().and_then(|v| v.get("version")) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                ApiError::bad_request(format!("version: {v} is not a version number"))
            }),
        }
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8], without_version: bool) -> Result<Option<T>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the JSON body is not accepted: {e}")))?;
    // No string the admin API stores may hold NUL (PostgreSQL refuses it; SQLite would
    // not): checked once here, naming the field, before any type or database sees it.
    // Lengths are the body limit's and, for names, their own checks' business.
    scimgate_core::text::check_no_nul_json(&value)
        .map_err(|(place, why)| ApiError::bad_request(format!("{place} {why}")))?;
    if let (true, Some(object)) = (without_version, value.as_object_mut()) {
        object.remove("version");
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("the JSON body is not accepted: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Seats {
        seats: u64,
    }

    #[test]
    fn json_errors_name_the_problem() {
        let doc = Document::Json(Bytes::from_static(br#"{"sets": 3}"#));
        let e = doc.json::<Seats>().unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.contains("unknown field `sets`"), "{}", e.message);
        let e = Document::Json(Bytes::from_static(b" "))
            .json::<Seats>()
            .unwrap_err();
        assert!(e.message.contains("empty"), "{}", e.message);
        assert!(Document::Json(Bytes::new())
            .json_or_empty::<Seats>()
            .unwrap()
            .is_none());
        let e = Document::Yaml("seats: 3".into())
            .json::<Seats>()
            .unwrap_err();
        assert_eq!(e.status.as_u16(), 415);
    }

    #[test]
    fn content_types_choose_json_or_yaml() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            is_yaml(&h)
        };
        assert!(!is_yaml(&HeaderMap::new()).unwrap());
        assert!(!with("application/json; charset=utf-8").unwrap());
        assert!(with("application/yaml").unwrap());
        assert!(with("Text/YAML").unwrap());
        assert_eq!(with("text/plain").unwrap_err().status.as_u16(), 415);
    }
}

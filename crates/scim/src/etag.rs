//! ETags (RFC 7644 §3.14, RFC 7232): every resource's `meta.version` is `W/"N"`, its
//! version number. `If-Match` on PUT, PATCH and DELETE makes the write conditional (checked
//! inside the write's transaction, so two clients cannot both win); `If-None-Match` on GET
//! answers `304 Not Modified` when the client's copy is current.

use crate::error::ScimError;
use axum::http::{header, HeaderMap, HeaderName};

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The versions an `If-Match` / `If-None-Match` header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `*`: any current version.
    Any,
    /// A list of entity tags; tags that are not ours (`"abc"`) match nothing.
    Versions(Vec<i64>),
}

impl Condition {
    pub fn matches(&self, version: i64) -> bool {
        match self {
            Condition::Any => true,
            Condition::Versions(versions) => versions.contains(&version),
        }
    }
}

/// Reads one condition header; `None` when absent. Tags compare weakly (RFC 7232 §2.3.2):
/// `W/"3"` and `"3"` both name version 3, since SCIM's versions are weak by nature.
pub fn condition(headers: &HeaderMap, name: HeaderName) -> Result<Option<Condition>, ScimError> {
    let mut values = headers.get_all(name.clone()).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    let mut versions = Vec::new();
    for value in values {
        let text = value
            .to_str()
            .map_err(|_| ScimError::invalid_syntax(format!("{name} is not text")))?;
        for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if tag == "*" {
                return Ok(Some(Condition::Any));
            }
            let opaque = tag.strip_prefix("W/").unwrap_or(tag);
            let inner = opaque
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .ok_or_else(|| {
                    ScimError::invalid_syntax(format!(
                        "{name} must list entity tags such as W/\"3\", not {tag:?}"
                    ))
                })?;
            if let Ok(version) = inner.parse::<i64>() {
                versions.push(version);
            }
        }
    }
    Ok(Some(Condition::Versions(versions)))
}

pub fn if_match(headers: &HeaderMap) -> Result<Option<Condition>, ScimError> {
    condition(headers, header::IF_MATCH)
}

/// A malformed `If-None-Match` is ignored: at worst the client gets the full answer it
/// would have had without the header.
pub fn if_none_match(headers: &HeaderMap) -> Option<Condition> {
    condition(headers, header::IF_NONE_MATCH).ok().flatten()
}

pub fn stale(current: i64) -> ScimError {
    ScimError::precondition_failed(format!(
        "the resource has changed: it is now at version {}",
        etag(current)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn tags_parse_and_match_weakly() {
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
        assert_eq!(if_match(&with("*")).unwrap(), Some(Condition::Any));
        let c = if_match(&with("W/\"3\", \"5\"")).unwrap().unwrap();
        assert!(c.matches(3) && c.matches(5) && !c.matches(4));
        // A tag that is not one of ours is well-formed but never current.
        let c = if_match(&with("\"abc\"")).unwrap().unwrap();
        assert!(!c.matches(1));
        assert_eq!(
            if_match(&with("3")).unwrap_err().scim_type,
            Some(crate::error::ScimType::InvalidSyntax)
        );
        assert_eq!(etag(7), "W/\"7\"");
        assert_eq!(stale(8).status.as_u16(), 412);
    }
}

//! Query parameters and path segments, parsed with messages that name the parameter.
//! Unknown query parameters are refused, so a typo (`fitler=`) is not silently ignored.

use super::error::{ApiError, Result};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use std::collections::HashMap;

/// The query string as name/value pairs, in order (a name may repeat).
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Params> {
        Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
    }
}

/// Which slice of a list a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
}

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

impl Page {
    pub fn of<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect()
    }
}

impl Params {
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// Refuses any parameter not in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<&Params> {
        if let Some((name, _)) = self.0.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            let takes = if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            };
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {name:?} (this endpoint takes: {takes})"
            )));
        }
        Ok(self)
    }

    /// Every value of a repeatable parameter.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a parameter given at most once.
    pub fn one<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_request(format!(
                "query parameter {name:?} is given more than once"
            )));
        }
        Ok(first)
    }

    pub fn number(&self, name: &str, default: u64, max: u64) -> Result<u64> {
        let Some(text) = self.one(name)? else {
            return Ok(default);
        };
        let n: u64 = text.trim().parse().map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter {name}: {text:?} is not a whole number"
            ))
        })?;
        if n > max {
            return Err(ApiError::bad_request(format!(
                "query parameter {name}: {n} is more than the maximum, {max}"
            )));
        }
        Ok(n)
    }

    pub fn flag(&self, name: &str) -> Result<Option<bool>> {
        match self.one(name)? {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::bad_request(format!(
                "query parameter {name}: {other:?} is not true or false"
            ))),
        }
    }

    /// `offset` (default 0) and `limit` (default 100, at most 1000).
    pub fn page(&self) -> Result<Page> {
        let offset = self.number("offset", 0, u64::MAX)?;
        let limit = self.number("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
        Ok(Page {
            offset: usize::try_from(offset).unwrap_or(usize::MAX),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        })
    }
}

/// The path's `{…}` segments by name (percent-decoded).
pub struct Segments(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Segments {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Segments> {
        Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|p| Segments(p.0))
            .map_err(|e| ApiError::bad_request(format!("bad path: {}", e.body_text())))
    }
}

impl Segments {
    pub fn get(&self, name: &str) -> Result<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::internal(&format!("route has no {{{name}}} segment")))
    }

    /// A numeric id (`{id}` of a run, `{pk}` of an account): `what` names it in errors.
    pub fn number(&self, name: &str, what: &str) -> Result<i64> {
        let text = self.get(name)?;
        text.parse()
            .map_err(|_| ApiError::not_found(format!("no {what} {text:?} (ids are numbers)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        let p = Params::from_pairs(&[("serch", "x")]);
        let e = p.only(&["search", "limit"]).err().unwrap();
        assert!(e.message.contains("\"serch\""), "{}", e.message);
        assert!(e.message.contains("search, limit"), "{}", e.message);
        let p = Params::from_pairs(&[("limit", "1"), ("limit", "2")]);
        assert!(p.page().is_err());
    }

    #[test]
    fn paging_has_defaults_and_a_maximum() {
        assert_eq!(
            Params::from_pairs(&[]).page().unwrap(),
            Page {
                offset: 0,
                limit: 100
            }
        );
        let e = Params::from_pairs(&[("limit", "1001")]).page().unwrap_err();
        assert!(e.message.contains("limit") && e.message.contains("1000"));
        let e = Params::from_pairs(&[("offset", "-1")]).page().unwrap_err();
        assert!(e.message.contains("offset"), "{}", e.message);
        let page = Page {
            offset: 1,
            limit: 2,
        };
        assert_eq!(page.of(vec![1, 2, 3, 4]), vec![2, 3]);
    }

    #[test]
    fn flags_are_true_or_false() {
        let p = Params::from_pairs(&[("active", "true"), ("linked", "yes")]);
        assert_eq!(p.flag("active").unwrap(), Some(true));
        assert!(p.flag("linked").unwrap_err().message.contains("\"yes\""));
        assert_eq!(p.flag("other").unwrap(), None);
    }
}

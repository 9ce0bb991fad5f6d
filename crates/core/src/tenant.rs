//! A tenant's name is part of every SCIM URL (`/scim/v2/{tenant}`), so it is parsed once
//! at the boundary and trusted everywhere after.

use std::fmt;

/// A tenant as stored: its database id (what every row is scoped by) and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: i64,
    pub name: TenantName,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantName(String);

/// As its text (`"acme"`).
impl serde::Serialize for TenantName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TenantNameError {
    #[error("tenant name must not be empty")]
    Empty,
    #[error("tenant name is longer than {max} characters")]
    TooLong { max: usize },
    #[error("tenant name {0:?} may only contain lowercase letters a-z, digits and '-', and must start with a letter or digit")]
    BadCharacters(String),
}

impl TenantName {
    pub const MAX_LEN: usize = 63;

    pub fn parse(raw: &str) -> Result<Self, TenantNameError> {
        if raw.is_empty() {
            return Err(TenantNameError::Empty);
        }
        if raw.len() > Self::MAX_LEN {
            return Err(TenantNameError::TooLong { max: Self::MAX_LEN });
        }
        let well_formed = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-');
        if !well_formed {
            return Err(TenantNameError::BadCharacters(raw.to_owned()));
        }
        Ok(TenantName(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn scim_path(&self) -> String {
        format!("/scim/v2/{}", self.0)
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The token of an `Authorization: Bearer <token>` header value (the scheme in any
/// case); `None` for another scheme or an empty token. The SCIM endpoint and the admin
/// API both authenticate this way.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_url_safe_names() {
        assert_eq!(
            TenantName::parse("acme-2").unwrap().scim_path(),
            "/scim/v2/acme-2"
        );
    }

    #[test]
    fn rejects_names_that_would_break_the_url() {
        assert_eq!(TenantName::parse(""), Err(TenantNameError::Empty));
        assert!(matches!(
            TenantName::parse("Acme"),
            Err(TenantNameError::BadCharacters(_))
        ));
        assert!(matches!(
            TenantName::parse("a/b"),
            Err(TenantNameError::BadCharacters(_))
        ));
        assert!(matches!(
            TenantName::parse("-a"),
            Err(TenantNameError::BadCharacters(_))
        ));
        assert!(matches!(
            TenantName::parse(&"a".repeat(64)),
            Err(TenantNameError::TooLong { .. })
        ));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header_value() {
        assert_eq!(bearer_token("Bearer sgt_abc"), Some("sgt_abc"));
        assert_eq!(bearer_token("  bearer   sgt_abc "), Some("sgt_abc"));
        assert_eq!(bearer_token("Basic dXNlcjpwdw=="), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("sgt_abc"), None);
    }
}

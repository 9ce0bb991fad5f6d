//! People who sign in to the web UI: an account, its role, and the tenants granted to it.

use crate::named::named;
use crate::TenantName;
use serde::Serialize;

/// What an account may do, each role including the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    /// Reads everything of its tenants, exports.
    Viewer,
    /// Also syncs, restarts nothing, approves or rejects held runs.
    Operator,
    /// Also edits rules, settings, catalogue, subscriptions and tokens; restarts sync.
    Administrator,
}

named!(AdminRole {
    Viewer => "viewer",
    Operator => "operator",
    Administrator => "administrator",
});

impl AdminRole {
    /// [`AdminRole::parse`], or a message naming the roles.
    pub fn parse_named(text: &str) -> Result<AdminRole, String> {
        AdminRole::parse(text).ok_or_else(|| {
            format!("unknown role {text:?} (roles: viewer, operator, administrator)")
        })
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: AdminRole) -> bool {
        self >= needed
    }
}

/// An account as listed (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminAccount {
    pub id: i64,
    pub name: String,
    pub role: AdminRole,
    /// The tenants it sees, by name, sorted.
    pub tenants: Vec<TenantName>,
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_before_them() {
        assert!(AdminRole::Administrator.allows(AdminRole::Operator));
        assert!(AdminRole::Operator.allows(AdminRole::Viewer));
        assert!(!AdminRole::Viewer.allows(AdminRole::Operator));
        assert!(!AdminRole::Operator.allows(AdminRole::Administrator));
        for role in AdminRole::ALL {
            assert_eq!(AdminRole::parse(role.name()), Some(*role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.name());
        }
        assert!(AdminRole::parse_named("root")
            .unwrap_err()
            .contains("viewer"));
    }
}

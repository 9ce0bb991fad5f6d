//! A CRM account, and the changes a sync makes to accounts: what the planner produces
//! and every CRM target applies.

use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;

/// A catalogue name an account carries: its user plan, company, groups and role. A
/// company of 100,000 accounts uses a few dozen distinct names, so accounts read or
/// planned together share each one ([`Names`]) rather than each holding its own copy.
pub type Name = Arc<str>;

/// Hands out one shared [`Name`] per distinct text.
#[derive(Debug, Default)]
pub struct Names(HashSet<Name>);

impl Names {
    pub fn get(&mut self, text: &str) -> Name {
        if let Some(name) = self.0.get(text) {
            return name.clone();
        }
        let name: Name = text.into();
        self.0.insert(name.clone());
        name
    }

    pub fn of(&mut self, text: Option<&str>) -> Option<Name> {
        text.map(|t| self.get(t))
    }

    pub fn all<S: AsRef<str>>(&mut self, texts: &[S]) -> Vec<Name> {
        texts.iter().map(|t| self.get(t.as_ref())).collect()
    }
}

/// What an account should look like: the identity taken from the staged user and the
/// six settings from the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountFields {
    /// The identity is shared text: a plan item shows the same name and e-mail as the
    /// account it plans, and holds them once for both.
    pub username: Arc<str>,
    pub display_name: Option<Arc<str>>,
    pub email: Option<Arc<str>>,
    pub user_plan: Option<Name>,
    pub owner_company: Option<Name>,
    pub primary_group: Option<Name>,
    pub secondary_groups: Vec<Name>,
    pub role: Option<Name>,
    pub confidential: bool,
    pub active: bool,
}

impl AccountFields {
    /// The fields that differ, as `(field, old, new)` in a fixed order, values as text.
    pub fn diff(&self, new: &AccountFields) -> Vec<(&'static str, String, String)> {
        let text = |v: &Option<Arc<str>>| v.as_deref().unwrap_or_default().to_owned();
        let mut out = Vec::new();
        let mut field = |name: &'static str, old: String, new: String| {
            if old != new {
                out.push((name, old, new));
            }
        };
        field(
            "username",
            self.username.to_string(),
            new.username.to_string(),
        );
        field(
            "display_name",
            text(&self.display_name),
            text(&new.display_name),
        );
        field("email", text(&self.email), text(&new.email));
        field("user_plan", text(&self.user_plan), text(&new.user_plan));
        field(
            "owner_company",
            text(&self.owner_company),
            text(&new.owner_company),
        );
        field(
            "primary_group",
            text(&self.primary_group),
            text(&new.primary_group),
        );
        field(
            "secondary_groups",
            self.secondary_groups.join(", "),
            new.secondary_groups.join(", "),
        );
        field("role", text(&self.role), text(&new.role));
        field(
            "confidential",
            self.confidential.to_string(),
            new.confidential.to_string(),
        );
        field("active", self.active.to_string(), new.active.to_string());
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrmAccount {
    pub pk: i64,
    /// The staged user the account belongs to; `None` after a restart, until the IdP
    /// sends the user again and the account is re-linked by externalId.
    pub staged_user_id: Option<String>,
    pub external_id: Option<String>,
    #[serde(flatten)]
    pub fields: AccountFields,
    pub created_at: String,
    pub updated_at: String,
    pub deactivated_at: Option<String>,
}

/// One change to the CRM. Each is idempotent: a create for a staged user that already
/// has an account updates that account instead; a deactivation of an inactive account
/// does nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create {
        staged_user_id: String,
        external_id: Option<String>,
        fields: AccountFields,
    },
    Update {
        pk: i64,
        /// Set when the account is (re-)linked to this staged user.
        staged_user_id: String,
        external_id: Option<String>,
        fields: AccountFields,
    },
    /// Deprovisioning: the account is deactivated and its seat freed; its data is kept.
    Deactivate { pk: i64 },
}

//! What exists in the CRM (passed in as data; the CRM crate will own storing it). Rules
//! may only name catalogue entries.

use crate::settings::{Setting, SettingValue};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default)]
    pub user_plans: Vec<CatalogEntry>,
    #[serde(default)]
    pub companies: Vec<CatalogEntry>,
    #[serde(default)]
    pub groups: Vec<CatalogEntry>,
    #[serde(default)]
    pub roles: Vec<CatalogEntry>,
}

/// A name, or an object with a name (and e.g. `seats` for a user plan).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum CatalogEntry {
    Name(String),
    Entry(NamedEntry),
}

/// Fixed: was an inline variant, where serde cannot deny unknown fields, so a typo
/// (`{ name: Standard, sets: 3 }`) silently meant "no seat count".
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NamedEntry {
    pub name: String,
    #[serde(default)]
    pub seats: Option<u64>,
}

impl CatalogEntry {
    pub fn name(&self) -> &str {
        match self {
            CatalogEntry::Name(n) => n,
            CatalogEntry::Entry(e) => &e.name,
        }
    }
}

impl Catalog {
    pub fn from_yaml(text: &str) -> Result<Catalog, String> {
        serde_yaml::from_str(text).map_err(|e| format!("catalogue: {e}"))
    }

    fn names(&self, setting: Setting) -> Option<(&'static str, &[CatalogEntry])> {
        match setting {
            Setting::UserPlan => Some(("user plan", &self.user_plans)),
            Setting::OwnerCompany => Some(("company", &self.companies)),
            Setting::PrimaryGroup | Setting::SecondaryGroups => Some(("user group", &self.groups)),
            Setting::Role => Some(("role", &self.roles)),
            Setting::Confidential => None,
        }
    }

    /// `Err` names the first value the catalogue does not have.
    pub fn check(&self, setting: Setting, value: &SettingValue) -> Result<(), String> {
        let Some((kind, entries)) = self.names(setting) else {
            return Ok(());
        };
        let known = |name: &str| entries.iter().any(|e| e.name() == name);
        let missing = match value {
            SettingValue::Text(t) => (!known(t)).then_some(t.as_str()),
            SettingValue::List(l) => l.iter().map(String::as_str).find(|t| !known(t)),
            SettingValue::Flag(_) => None,
        };
        match missing {
            None => Ok(()),
            Some(name) => {
                let all: Vec<&str> = entries.iter().map(CatalogEntry::name).collect();
                Err(format!(
                    "{kind} {name:?} is not in the catalogue (known: {})",
                    all.join(", ")
                ))
            }
        }
    }
}

//! Rules may only name what the catalogue has (the catalogue type itself is a domain
//! type, in `scimgate_core`).

use crate::settings::{Setting, SettingValue};
pub use scimgate_core::catalog::{Catalog, CatalogEntry, NamedEntry};

fn names(catalog: &Catalog, setting: Setting) -> Option<(&'static str, &[CatalogEntry])> {
    match setting {
        Setting::UserPlan => Some(("user plan", &catalog.user_plans)),
        Setting::OwnerCompany => Some(("company", &catalog.companies)),
        Setting::PrimaryGroup | Setting::SecondaryGroups => Some(("user group", &catalog.groups)),
        Setting::Role => Some(("role", &catalog.roles)),
        Setting::Confidential => None,
    }
}

/// `Err` names the first value the catalogue does not have.
pub fn check(catalog: &Catalog, setting: Setting, value: &SettingValue) -> Result<(), String> {
    let Some((kind, entries)) = names(catalog, setting) else {
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

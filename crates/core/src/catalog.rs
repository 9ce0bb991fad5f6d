//! What exists in the CRM: the user plans (with purchased seats), companies, groups and
//! roles an admin maintains, and that rules may name.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
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
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum CatalogEntry {
    Name(String),
    Entry(NamedEntry),
}

/// Its own struct, not an inline variant: serde cannot deny unknown fields on an inline
/// variant, so a typo (`{ name: Standard, sets: 3 }`) would silently mean "no seat count".
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
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

    /// Purchased seats (user plans only); `None` is no limit.
    pub fn seats(&self) -> Option<u64> {
        match self {
            CatalogEntry::Name(_) => None,
            CatalogEntry::Entry(e) => e.seats,
        }
    }
}

/// The kinds of catalogue entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogKind {
    UserPlan,
    Company,
    Group,
    Role,
}

impl CatalogKind {
    pub const ALL: [CatalogKind; 4] = [
        CatalogKind::UserPlan,
        CatalogKind::Company,
        CatalogKind::Group,
        CatalogKind::Role,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CatalogKind::UserPlan => "user_plan",
            CatalogKind::Company => "company",
            CatalogKind::Group => "group",
            CatalogKind::Role => "role",
        }
    }

    pub fn parse(text: &str) -> Option<CatalogKind> {
        CatalogKind::ALL.into_iter().find(|k| k.name() == text)
    }
}

impl Catalog {
    pub fn from_yaml(text: &str) -> Result<Catalog, String> {
        serde_yaml::from_str(text).map_err(|e| format!("catalogue: {e}"))
    }

    pub fn entries(&self, kind: CatalogKind) -> &[CatalogEntry] {
        match kind {
            CatalogKind::UserPlan => &self.user_plans,
            CatalogKind::Company => &self.companies,
            CatalogKind::Group => &self.groups,
            CatalogKind::Role => &self.roles,
        }
    }

    pub fn entries_mut(&mut self, kind: CatalogKind) -> &mut Vec<CatalogEntry> {
        match kind {
            CatalogKind::UserPlan => &mut self.user_plans,
            CatalogKind::Company => &mut self.companies,
            CatalogKind::Group => &mut self.groups,
            CatalogKind::Role => &mut self.roles,
        }
    }

    /// Every entry with its kind, user plans first.
    pub fn all(&self) -> impl Iterator<Item = (CatalogKind, &CatalogEntry)> {
        CatalogKind::ALL
            .into_iter()
            .flat_map(move |kind| self.entries(kind).iter().map(move |e| (kind, e)))
    }
}

/// Why an entry cannot be in a catalogue: no name, a name too long to index or with
/// control characters, seats on anything but a user plan.
pub fn check_entry(kind: CatalogKind, name: &str, seats: Option<u64>) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(format!("a {} needs a name", kind.name()));
    }
    if name.len() > crate::text::MAX_INDEXED_BYTES {
        return Err(format!(
            "a {} name is at most {} bytes long",
            kind.name(),
            crate::text::MAX_INDEXED_BYTES
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "{name:?}: a {} name cannot contain control characters",
            kind.name()
        ));
    }
    if seats.is_some() && kind != CatalogKind::UserPlan {
        return Err(format!("{name:?}: only user plans have seats"));
    }
    if seats.is_some_and(|s| i64::try_from(s).is_err()) {
        return Err(format!("{name:?}: too many seats"));
    }
    Ok(())
}

/// An entry as stored: kind, name, seats.
pub type EntryRow<'a> = (CatalogKind, &'a str, Option<u64>);

impl Catalog {
    /// Every entry checked, refusing duplicates (a name listed twice is a mistake in the
    /// file, and which seat count wins would be a guess).
    pub fn checked_entries(&self) -> Result<Vec<EntryRow<'_>>, String> {
        let mut rows: Vec<EntryRow<'_>> = Vec::new();
        for (kind, entry) in self.all() {
            let (name, seats) = (entry.name(), entry.seats());
            check_entry(kind, name, seats)?;
            if rows.iter().any(|(k, n, _)| *k == kind && *n == name) {
                return Err(format!("{} {name:?} is listed twice", kind.name()));
            }
            rows.push((kind, name, seats));
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in CatalogKind::ALL {
            assert_eq!(CatalogKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(CatalogKind::parse("plan"), None);
    }

    #[test]
    fn entries_are_read_by_kind_in_order() {
        let catalog =
            Catalog::from_yaml("user_plans: [{name: Standard, seats: 5}, Free]\nroles: [Boss]")
                .unwrap();
        let all: Vec<(CatalogKind, &str, Option<u64>)> = catalog
            .all()
            .map(|(k, e)| (k, e.name(), e.seats()))
            .collect();
        assert_eq!(
            all,
            vec![
                (CatalogKind::UserPlan, "Standard", Some(5)),
                (CatalogKind::UserPlan, "Free", None),
                (CatalogKind::Role, "Boss", None),
            ]
        );
        assert!(Catalog::from_yaml("user_plans: [{name: X, sets: 3}]").is_err());
    }

    #[test]
    fn entries_are_checked() {
        let refused = |yaml: &str| {
            Catalog::from_yaml(yaml)
                .unwrap()
                .checked_entries()
                .unwrap_err()
        };
        assert_eq!(refused("roles: ['  ']"), "a role needs a name");
        assert!(refused("roles: [{name: Boss, seats: 2}]").contains("only user plans have seats"));
        assert!(refused("companies: [Acme, Acme]").contains("listed twice"));
        assert!(refused("groups: [\"a\\tb\"]").contains("control characters"));
        let long = format!(
            "roles: [{}]",
            "x".repeat(crate::text::MAX_INDEXED_BYTES + 1)
        );
        assert!(refused(&long).contains("at most"));
        // The same name under two kinds is two entries.
        let ok = Catalog::from_yaml("groups: [Sales]\nroles: [Sales]").unwrap();
        assert_eq!(ok.checked_entries().unwrap().len(), 2);
    }
}

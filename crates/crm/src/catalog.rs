//! The kinds of catalogue entries, as stored.

use serde::{Deserialize, Serialize};

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

//! Which part of a filter the database can answer from its indexed columns.
//!
//! A translation is always a *superset* of the filter's matches, and `exact` says whether
//! it is the filter itself. Exact translations are counted and paged in SQL; otherwise
//! the candidates are scanned and the filter is evaluated in memory, so every filter is
//! answered correctly and the common ones (`userName eq`, `externalId eq`) by an index.

use crate::filter::{AttrRef, CompareOp, Filter};
use crate::schema::ResourceType;
use scimgate_store::{Column, Cond};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// `None`: the database cannot narrow the search (every resource is a candidate).
    pub cond: Option<Cond>,
    pub exact: bool,
}

const EVERYTHING: Translation = Translation {
    cond: None,
    exact: false,
};

pub fn translate(filter: &Filter, rt: ResourceType) -> Translation {
    match filter {
        Filter::And(a, b) => {
            let (a, b) = (translate(a, rt), translate(b, rt));
            let exact = a.exact && b.exact;
            let cond = match (a.cond, b.cond) {
                (Some(x), Some(y)) => Some(Cond::And(vec![x, y])),
                (Some(x), None) | (None, Some(x)) => Some(x),
                (None, None) => None,
            };
            Translation { cond, exact }
        }
        Filter::Or(a, b) => match (translate(a, rt), translate(b, rt)) {
            (
                Translation {
                    cond: Some(x),
                    exact: ex,
                },
                Translation {
                    cond: Some(y),
                    exact: ey,
                },
            ) => Translation {
                cond: Some(Cond::Or(vec![x, y])),
                exact: ex && ey,
            },
            _ => EVERYTHING,
        },
        Filter::Not(_) | Filter::Has(_) => EVERYTHING,
        Filter::Present(attr) => match column(attr, rt) {
            // pr means "has a non-empty value": NULL-ness is a superset, not the same.
            Some((col, _)) => Translation {
                cond: Some(Cond::Present(col)),
                exact: false,
            },
            None => EVERYTHING,
        },
        Filter::Compare { attr, op, value } => compare(attr, *op, value, rt),
    }
}

/// The indexed column an attribute reference reads, and whether reading that column is
/// exactly the reference (not the case for `emails[type eq "work"].value`).
fn column(attr: &AttrRef, rt: ResourceType) -> Option<(Column, bool)> {
    if attr
        .urn
        .as_deref()
        .is_some_and(|u| !u.eq_ignore_ascii_case(rt.core_schema()))
    {
        return None;
    }
    let name = attr.name.to_ascii_lowercase();
    let sub = attr.sub.as_deref().map(str::to_ascii_lowercase);
    let plain = attr.filter.is_none() && sub.is_none();
    match (rt, name.as_str(), sub.as_deref()) {
        (_, "id", None) if plain => Some((Column::Id, true)),
        (_, "externalid", None) if plain => Some((Column::ExternalId, true)),
        (_, "displayname", None) if plain => Some((Column::DisplayName, true)),
        (ResourceType::User, "username", None) if plain => Some((Column::UserName, true)),
        (ResourceType::User, "active", None) if plain => Some((Column::Active, true)),
        (ResourceType::User, "emails", None | Some("value")) => {
            Some((Column::EmailValue, attr.filter.is_none()))
        }
        (ResourceType::Group, "members", None | Some("value")) => {
            Some((Column::MemberValue, attr.filter.is_none()))
        }
        _ => None,
    }
}

fn compare(attr: &AttrRef, op: CompareOp, value: &Value, rt: ResourceType) -> Translation {
    let Some((col, exact_column)) = column(attr, rt) else {
        return EVERYTHING;
    };
    if col == Column::Active {
        let wanted = match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        return match (op, wanted) {
            (CompareOp::Eq, Some(b)) => Translation {
                cond: Some(Cond::IsActive(b)),
                exact: true,
            },
            _ => EVERYTHING,
        };
    }
    let Value::String(text) = value else {
        return EVERYTHING;
    };
    // Case-exact columns hold the text as sent; only equality on them is exact.
    let folded = matches!(
        col,
        Column::UserName | Column::DisplayName | Column::EmailValue
    );
    let cond = match op {
        CompareOp::Eq => Cond::Eq(col, text.clone()),
        CompareOp::Sw if folded => Cond::StartsWith(col, text.clone()),
        CompareOp::Ew if folded => Cond::EndsWith(col, text.clone()),
        CompareOp::Co if folded => Cond::Contains(col, text.clone()),
        _ => return EVERYTHING,
    };
    // A multi-valued column needs the whole filter when it is filtered (`emails[...]`).
    Translation {
        cond: Some(cond),
        exact: exact_column,
    }
}

/// Whether evaluating the filter in memory needs a group's members loaded.
pub fn mentions_members(filter: &Filter) -> bool {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => mentions_members(a) || mentions_members(b),
        Filter::Not(inner) => mentions_members(inner),
        Filter::Present(attr) | Filter::Has(attr) | Filter::Compare { attr, .. } => {
            attr.name.eq_ignore_ascii_case("members")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse_filter;

    fn t(filter: &str, rt: ResourceType) -> Translation {
        translate(&parse_filter(filter).unwrap(), rt)
    }

    #[test]
    fn entra_lookups_are_exact_index_queries() {
        let got = t(r#"userName eq "A@B.com""#, ResourceType::User);
        assert_eq!(
            got,
            Translation {
                cond: Some(Cond::Eq(Column::UserName, "A@B.com".into())),
                exact: true
            }
        );
        assert!(t(r#"externalId eq "x""#, ResourceType::User).exact);
        assert!(t(r#"displayName eq "Sales""#, ResourceType::Group).exact);
        assert!(
            t(
                r#"members.value eq "u1" and displayName sw "S""#,
                ResourceType::Group
            )
            .exact
        );
        assert!(t(r#"active eq "False""#, ResourceType::User).exact);
    }

    #[test]
    fn partial_translations_are_supersets() {
        let got = t(
            r#"emails[type eq "work"].value eq "a@b.c""#,
            ResourceType::User,
        );
        assert_eq!(
            got,
            Translation {
                cond: Some(Cond::Eq(Column::EmailValue, "a@b.c".into())),
                exact: false
            }
        );
        let got = t(r#"userName eq "a" and title eq "x""#, ResourceType::User);
        assert_eq!(got.cond, Some(Cond::Eq(Column::UserName, "a".into())));
        assert!(!got.exact);
        assert_eq!(
            t(r#"userName eq "a" or title eq "x""#, ResourceType::User),
            EVERYTHING
        );
        assert_eq!(
            t(r#"not (userName eq "a")"#, ResourceType::User),
            EVERYTHING
        );
        assert_eq!(t(r#"externalId sw "a""#, ResourceType::User), EVERYTHING);
        assert_eq!(t(r#"userName gt "a""#, ResourceType::User), EVERYTHING);
        let enterprise =
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#;
        assert_eq!(t(enterprise, ResourceType::User), EVERYTHING);
    }
}

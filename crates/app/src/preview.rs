//! The preview's query language: keep the plan items that match every
//! `column:operator:value` filter, sorted by a column. The same for the admin API, the
//! CLI and the web UI; each front end pages the result its own way.

use crate::{AppError, Result};
use scimgate_scheduler::PlanItem;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Action,
    UserId,
    Username,
    ExternalId,
    UserPlan,
    OwnerCompany,
    PrimaryGroup,
    SecondaryGroups,
    Role,
    Confidential,
    Reason,
}

impl Column {
    pub const ALL: [Column; 11] = [
        Column::Action,
        Column::UserId,
        Column::Username,
        Column::ExternalId,
        Column::UserPlan,
        Column::OwnerCompany,
        Column::PrimaryGroup,
        Column::SecondaryGroups,
        Column::Role,
        Column::Confidential,
        Column::Reason,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Column::Action => "action",
            Column::UserId => "user_id",
            Column::Username => "username",
            Column::ExternalId => "external_id",
            Column::UserPlan => "user_plan",
            Column::OwnerCompany => "owner_company",
            Column::PrimaryGroup => "primary_group",
            Column::SecondaryGroups => "secondary_groups",
            Column::Role => "role",
            Column::Confidential => "confidential",
            Column::Reason => "reason",
        }
    }

    pub fn parse(text: &str, what: &str) -> Result<Column> {
        by_name(&Column::ALL, Column::name, text, what, "column")
    }

    /// The item's value in this column; `None` when it has none (e.g. no target).
    fn value(self, item: &PlanItem) -> Option<String> {
        let target = item.target.as_ref();
        match self {
            Column::Action => Some(item.action.name().to_owned()),
            Column::UserId => Some(item.user_id.clone()),
            Column::Username => Some(item.username.clone()),
            Column::ExternalId => item.external_id.clone(),
            Column::UserPlan => target.and_then(|t| t.user_plan.clone()),
            Column::OwnerCompany => target.and_then(|t| t.owner_company.clone()),
            Column::PrimaryGroup => target.and_then(|t| t.primary_group.clone()),
            Column::SecondaryGroups => target.map(|t| t.secondary_groups.join(", ")),
            Column::Role => target.and_then(|t| t.role.clone()),
            Column::Confidential => target.map(|t| t.confidential.to_string()),
            Column::Reason => item.reason.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    Null,
    NotNull,
    Empty,
    NotEmpty,
}

impl Operator {
    pub const ALL: [Operator; 10] = [
        Operator::Equals,
        Operator::NotEquals,
        Operator::Contains,
        Operator::NotContains,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::Null,
        Operator::NotNull,
        Operator::Empty,
        Operator::NotEmpty,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::NotEquals => "not_equals",
            Operator::Contains => "contains",
            Operator::NotContains => "not_contains",
            Operator::StartsWith => "starts_with",
            Operator::EndsWith => "ends_with",
            Operator::Null => "null",
            Operator::NotNull => "not_null",
            Operator::Empty => "empty",
            Operator::NotEmpty => "not_empty",
        }
    }

    fn takes_value(self) -> bool {
        !matches!(
            self,
            Operator::Null | Operator::NotNull | Operator::Empty | Operator::NotEmpty
        )
    }
}

/// One `filter=column:operator:value`. String comparisons ignore case; a column with no
/// value compares as "" (so `role:not_equals:Admin` keeps users without a role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    column: Column,
    operator: Operator,
    /// Lower-cased.
    value: String,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter> {
        let what = format!("filter {text:?}");
        let mut parts = text.splitn(3, ':');
        let column = parts.next().unwrap_or_default();
        let Some(operator) = parts.next() else {
            return Err(AppError::Invalid(format!(
                "{what}: expected column:operator:value, e.g. username:contains:smith"
            )));
        };
        let value = parts.next();
        let column = Column::parse(column, &what)?;
        let operator = by_name(&Operator::ALL, Operator::name, operator, &what, "operator")?;
        let value = match (operator.takes_value(), value) {
            (true, None) => {
                return Err(AppError::Invalid(format!(
                    "{what}: operator {} needs a value: {}:{}:VALUE",
                    operator.name(),
                    column.name(),
                    operator.name()
                )))
            }
            (false, Some(v)) if !v.is_empty() => {
                return Err(AppError::Invalid(format!(
                    "{what}: operator {} takes no value",
                    operator.name()
                )))
            }
            (_, v) => v.unwrap_or_default().to_lowercase(),
        };
        Ok(Filter {
            column,
            operator,
            value,
        })
    }

    pub fn matches(&self, item: &PlanItem) -> bool {
        let raw = self.column.value(item);
        let empty = raw.as_deref().is_none_or(str::is_empty);
        let text = raw.as_deref().unwrap_or_default().to_lowercase();
        let v = self.value.as_str();
        match self.operator {
            Operator::Equals => text == v,
            Operator::NotEquals => text != v,
            Operator::Contains => text.contains(v),
            Operator::NotContains => !text.contains(v),
            Operator::StartsWith => text.starts_with(v),
            Operator::EndsWith => text.ends_with(v),
            Operator::Null => raw.is_none(),
            Operator::NotNull => raw.is_some(),
            Operator::Empty => empty,
            Operator::NotEmpty => !empty,
        }
    }
}

/// Filters (all must match) and a sort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewQuery {
    pub filters: Vec<Filter>,
    pub sort: Column,
    pub descending: bool,
}

impl PreviewQuery {
    /// `order` is `asc` (the default) or `desc`; the sort column defaults to username.
    pub fn parse<'a>(
        filters: impl IntoIterator<Item = &'a str>,
        sort: Option<&str>,
        order: Option<&str>,
    ) -> Result<PreviewQuery> {
        let filters = filters
            .into_iter()
            .map(Filter::parse)
            .collect::<Result<Vec<_>>>()?;
        let sort = match sort {
            Some(text) => Column::parse(text, "sort")?,
            None => Column::Username,
        };
        let descending = match order {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(AppError::Invalid(format!(
                    "order: {other:?} is not asc or desc"
                )))
            }
        };
        Ok(PreviewQuery {
            filters,
            sort,
            descending,
        })
    }

    /// The items that match, in order (ties by username, then id).
    pub fn select(&self, items: Vec<PlanItem>) -> Vec<PlanItem> {
        let mut keyed: Vec<(Option<String>, PlanItem)> = items
            .into_iter()
            .filter(|item| self.filters.iter().all(|f| f.matches(item)))
            .map(|item| (self.sort.value(&item).map(|v| v.to_lowercase()), item))
            .collect();
        keyed.sort_by(|(a, x), (b, y)| {
            let primary = a.cmp(b);
            let primary = if self.descending {
                primary.reverse()
            } else {
                primary
            };
            primary.then_with(|| tie_break(x, y))
        });
        keyed.into_iter().map(|(_, item)| item).collect()
    }
}

fn tie_break(x: &PlanItem, y: &PlanItem) -> Ordering {
    x.username
        .to_lowercase()
        .cmp(&y.username.to_lowercase())
        .then_with(|| x.user_id.cmp(&y.user_id))
}

/// The one of `all` whose name is `text`, or an error in `what` naming the valid ones.
fn by_name<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    text: &str,
    what: &str,
    noun: &str,
) -> Result<T> {
    all.iter()
        .copied()
        .find(|t| name(*t) == text)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|t| name(*t)).collect();
            AppError::Invalid(format!(
                "{what}: unknown {noun} {text:?} ({noun}s: {})",
                names.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scimgate_core::AccountFields;
    use scimgate_scheduler::Action;

    fn item(username: &str, role: Option<&str>, groups: &[&str]) -> PlanItem {
        PlanItem {
            user_id: format!("id-{username}"),
            username: username.into(),
            external_id: Some(format!("ext:{username}")),
            action: Action::Create,
            account: None,
            target: Some(AccountFields {
                username: username.into(),
                display_name: None,
                email: None,
                user_plan: Some("Standard".into()),
                owner_company: None,
                primary_group: None,
                secondary_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                role: role.map(str::to_owned),
                confidential: false,
                active: true,
            }),
            changes: Vec::new(),
            reason: None,
            synced: true,
            arrived: String::new(),
        }
    }

    fn keeps(filter: &str, item: &PlanItem) -> bool {
        Filter::parse(filter).unwrap().matches(item)
    }

    #[test]
    fn every_operator_compares_without_case() {
        let a = item(
            "Alice@Contoso.com",
            Some("Sales user"),
            &["EMEA", "Nordics"],
        );
        let no_target = PlanItem {
            target: None,
            ..item("bob", None, &[])
        };
        assert!(keeps("username:equals:alice@contoso.COM", &a));
        assert!(keeps("role:not_equals:admin", &a));
        assert!(keeps("role:not_equals:admin", &no_target));
        assert!(keeps("secondary_groups:contains:emea, nordics", &a));
        assert!(keeps("username:not_contains:fabrikam", &a));
        assert!(keeps("username:starts_with:ALICE", &a));
        assert!(keeps("username:ends_with:.com", &a));
        assert!(keeps("role:null", &no_target) && !keeps("role:null", &a));
        assert!(keeps("role:not_null", &a));
        assert!(keeps("owner_company:empty", &a) && keeps("reason:empty:", &a));
        assert!(keeps("secondary_groups:not_empty", &a));
        assert!(!keeps("secondary_groups:not_empty", &no_target));
        // The value may itself contain ':'.
        assert!(keeps("external_id:equals:EXT:alice@contoso.com", &a));
        assert!(keeps("confidential:equals:false", &a));
        assert!(keeps("action:equals:create", &a));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let e = Filter::parse("usrname:equals:x").unwrap_err();
        assert!(e.to_string().contains("unknown column \"usrname\""), "{e}");
        assert!(e.to_string().contains("username, external_id"), "{e}");
        let e = Filter::parse("username:like:x").unwrap_err();
        assert!(e.to_string().contains("unknown operator \"like\""), "{e}");
        assert!(e.to_string().contains("starts_with"), "{e}");
        let e = Filter::parse("username").unwrap_err();
        assert!(e.to_string().contains("column:operator:value"), "{e}");
        let e = Filter::parse("username:equals").unwrap_err();
        assert!(e.to_string().contains("needs a value"), "{e}");
        let e = Filter::parse("role:null:x").unwrap_err();
        assert!(e.to_string().contains("takes no value"), "{e}");
    }

    #[test]
    fn sort_applies_after_filters() {
        let items = vec![
            item("carol", None, &[]),
            item("alice", Some("R"), &[]),
            item("bob", None, &[]),
        ];
        let query = PreviewQuery::parse(["role:null"], Some("username"), Some("desc")).unwrap();
        let names: Vec<String> = query
            .select(items)
            .into_iter()
            .map(|i| i.username)
            .collect();
        assert_eq!(names, ["carol", "bob"]);
        let e = PreviewQuery::parse([], None, Some("up")).unwrap_err();
        assert!(e.to_string().contains("\"up\" is not asc or desc"));
        let e = PreviewQuery::parse([], Some("nme"), None).unwrap_err();
        assert!(e.to_string().contains("sort: unknown column \"nme\""));
    }
}

//! The preview's query language: `column:operator[:value]` filters (all must match) and
//! a sort of one or two keys. The same for the admin API, the CLI and the web UI. The
//! stored preview answers it in SQL (`scimgate_store::preview`); a draft posted to the
//! API is previewed without being stored, and [`PreviewQuery::select`] answers it in
//! memory with the same meaning.

use crate::{AppError, Result};
use scimgate_scheduler::PlanItem;
use scimgate_store::{PreviewFilter, PreviewOp, PreviewRow, PreviewSort};
use std::collections::HashMap;

pub use scimgate_store::PreviewColumn as Column;

/// Every column, as URLs and CSV headers name them.
pub const COLUMNS: [(Column, &str); 15] = [
    (Column::Name, "name"),
    (Column::Username, "username"),
    (Column::UserPlan, "user_plan"),
    (Column::OwnerCompany, "owner_company"),
    (Column::PrimaryGroup, "primary_group"),
    (Column::SecondaryGroups, "secondary_groups"),
    (Column::Role, "role"),
    (Column::Confidential, "confidential"),
    (Column::Action, "action"),
    (Column::Changed, "changed"),
    (Column::Email, "email"),
    (Column::ExternalId, "external_id"),
    (Column::UserId, "user_id"),
    (Column::Reason, "reason"),
    (Column::SetBy, "set_by"),
];

/// The operators, as filters name them.
pub const OPERATORS: [&str; 12] = [
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "null",
    "not_null",
    "empty",
    "not_empty",
    "one_of",
    "changed",
];

/// Longest filter value accepted (a value is compared, never stored).
const MAX_VALUE: usize = 1_000;
/// Filters one query may have, and values one `one_of` may list: each is a bound SQL
/// parameter, and databases cap those.
const MAX_FILTERS: usize = 20;
const MAX_ONE_OF: usize = 100;

pub fn column_name(column: Column) -> &'static str {
    COLUMNS
        .iter()
        .find(|(c, _)| *c == column)
        .map_or("?", |(_, n)| n)
}

pub fn parse_column(text: &str, what: &str) -> Result<Column> {
    COLUMNS
        .iter()
        .find(|(_, n)| *n == text)
        .map(|(c, _)| *c)
        .ok_or_else(|| {
            let names: Vec<&str> = COLUMNS.iter().map(|(_, n)| *n).collect();
            AppError::Invalid(format!(
                "{what}: unknown column {text:?} (columns: {})",
                names.join(", ")
            ))
        })
}

/// The operator's name in a filter.
pub fn operator_name(op: &PreviewOp) -> &'static str {
    match op {
        PreviewOp::Equals(_) => "equals",
        PreviewOp::NotEquals(_) => "not_equals",
        PreviewOp::Contains(_) => "contains",
        PreviewOp::NotContains(_) => "not_contains",
        PreviewOp::StartsWith(_) => "starts_with",
        PreviewOp::EndsWith(_) => "ends_with",
        PreviewOp::Null => "null",
        PreviewOp::NotNull => "not_null",
        PreviewOp::Empty => "empty",
        PreviewOp::NotEmpty => "not_empty",
        PreviewOp::OneOf(_) => "one_of",
        PreviewOp::Changed => "changed",
    }
}

/// The value as a filter writes it (`one_of` joins its values with `|`).
pub fn operator_value(op: &PreviewOp) -> Option<String> {
    match op {
        PreviewOp::Equals(v)
        | PreviewOp::NotEquals(v)
        | PreviewOp::Contains(v)
        | PreviewOp::NotContains(v)
        | PreviewOp::StartsWith(v)
        | PreviewOp::EndsWith(v) => Some(v.clone()),
        PreviewOp::OneOf(values) => Some(values.join("|")),
        _ => None,
    }
}

/// A filter as text again (`role:equals:Sales user`).
pub fn filter_text(filter: &PreviewFilter) -> String {
    let head = format!(
        "{}:{}",
        column_name(filter.column),
        operator_name(&filter.op)
    );
    match operator_value(&filter.op) {
        Some(v) => format!("{head}:{v}"),
        None => head,
    }
}

/// Parses `column:operator:value`; `value` may itself hold `:`. `one_of` takes values
/// separated by `|`; `null`, `not_null`, `empty`, `not_empty` and `changed` take none.
pub fn parse_filter(text: &str) -> Result<PreviewFilter> {
    let what = format!("filter {text:?}");
    let mut parts = text.splitn(3, ':');
    let column = parts.next().unwrap_or_default();
    let Some(operator) = parts.next() else {
        return Err(AppError::Invalid(format!(
            "{what}: expected column:operator:value, e.g. username:contains:smith"
        )));
    };
    let column = parse_column(column, &what)?;
    let value = parts.next();
    if let Some(v) = value {
        if v.contains('\0') {
            return Err(AppError::Invalid(format!(
                "{what}: a value cannot hold NUL"
            )));
        }
        if v.len() > MAX_VALUE {
            return Err(AppError::Invalid(format!(
                "{what}: a value is at most {MAX_VALUE} bytes"
            )));
        }
    }
    let needs = |v: Option<&str>| -> Result<String> {
        v.map(str::to_owned).ok_or_else(|| {
            AppError::Invalid(format!(
                "{what}: operator {operator} needs a value: {}:{operator}:VALUE",
                column_name(column)
            ))
        })
    };
    let op = match operator {
        "equals" => PreviewOp::Equals(needs(value)?),
        "not_equals" => PreviewOp::NotEquals(needs(value)?),
        "contains" => PreviewOp::Contains(needs(value)?),
        "not_contains" => PreviewOp::NotContains(needs(value)?),
        "starts_with" => PreviewOp::StartsWith(needs(value)?),
        "ends_with" => PreviewOp::EndsWith(needs(value)?),
        "one_of" => {
            let values: Vec<String> = needs(value)?.split('|').map(str::to_owned).collect();
            if values.len() > MAX_ONE_OF {
                return Err(AppError::Invalid(format!(
                    "{what}: one_of lists at most {MAX_ONE_OF} values"
                )));
            }
            PreviewOp::OneOf(values)
        }
        "null" | "not_null" | "empty" | "not_empty" | "changed" => {
            if value.is_some_and(|v| !v.is_empty()) {
                return Err(AppError::Invalid(format!(
                    "{what}: operator {operator} takes no value"
                )));
            }
            match operator {
                "null" => PreviewOp::Null,
                "not_null" => PreviewOp::NotNull,
                "empty" => PreviewOp::Empty,
                "not_empty" => PreviewOp::NotEmpty,
                _ => PreviewOp::Changed,
            }
        }
        other => {
            return Err(AppError::Invalid(format!(
                "{what}: unknown operator {other:?} (operators: {})",
                OPERATORS.join(", ")
            )))
        }
    };
    Ok(PreviewFilter { column, op })
}

/// What a column holds for a row, `None` when it holds nothing (SQL NULL).
fn stored(column: Column, row: &PreviewRow) -> Option<String> {
    match column {
        Column::Name => row.name.clone(),
        Column::Username => Some(row.username.clone()),
        Column::UserPlan => row.user_plan.clone(),
        Column::OwnerCompany => row.owner_company.clone(),
        Column::PrimaryGroup => row.primary_group.clone(),
        Column::SecondaryGroups => row.secondary_groups.as_ref().map(|g| g.join(", ")),
        Column::Role => row.role.clone(),
        Column::Confidential => row.confidential.map(|c| c.to_string()),
        Column::Action => Some(row.action.clone()),
        Column::Changed => Some(row.changed.join(",")),
        Column::Email => row.email.clone(),
        Column::ExternalId => row.external_id.clone(),
        Column::UserId => Some(row.user_id.clone()),
        Column::Reason => row.reason.clone(),
        Column::SetBy => row.set_by.clone(),
    }
}

/// Whether `row` passes `filter`: the meaning the SQL has, in memory.
pub fn matches(filter: &PreviewFilter, row: &PreviewRow) -> bool {
    let key = filter.column.key(row);
    let fold = scimgate_core::text::fold_case;
    match &filter.op {
        PreviewOp::Equals(v) => key == fold(v),
        PreviewOp::NotEquals(v) => key != fold(v),
        PreviewOp::Contains(v) => key.contains(&fold(v)),
        PreviewOp::NotContains(v) => !key.contains(&fold(v)),
        PreviewOp::StartsWith(v) => key.starts_with(&fold(v)),
        PreviewOp::EndsWith(v) => key.ends_with(&fold(v)),
        PreviewOp::Null => stored(filter.column, row).is_none(),
        PreviewOp::NotNull => stored(filter.column, row).is_some(),
        PreviewOp::Empty => key.is_empty(),
        PreviewOp::NotEmpty => !key.is_empty(),
        PreviewOp::OneOf(values) => values.iter().any(|v| key == fold(v)),
        PreviewOp::Changed => match filter.column.field() {
            Some(field) => row.changed.iter().any(|c| c == field),
            None => !row.changed.is_empty(),
        },
    }
}

/// Filters and a sort (one or two keys; ties by user id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewQuery {
    pub filters: Vec<PreviewFilter>,
    pub sort: Vec<PreviewSort>,
}

impl PreviewQuery {
    /// `sort` is one or two columns separated by a comma, each with `-` in front to
    /// reverse it (`-role,username`); `order=desc` reverses the first (the API's older
    /// spelling). The default is by username; username breaks ties, then the id.
    pub fn parse<'a>(
        filters: impl IntoIterator<Item = &'a str>,
        sort: Option<&str>,
        order: Option<&str>,
    ) -> Result<PreviewQuery> {
        let filters = filters
            .into_iter()
            .map(parse_filter)
            .collect::<Result<Vec<_>>>()?;
        if filters.len() > MAX_FILTERS {
            return Err(AppError::Invalid(format!(
                "filter: at most {MAX_FILTERS} filters in one query"
            )));
        }
        let mut keys = Vec::new();
        for part in sort.unwrap_or("username").split(',') {
            let (descending, name) = match part.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, part),
            };
            keys.push(PreviewSort {
                column: parse_column(name, "sort")?,
                descending,
            });
        }
        if keys.len() > 2 {
            return Err(AppError::Invalid(
                "sort: at most two columns, e.g. sort=role,-username".into(),
            ));
        }
        match order {
            None | Some("asc") => {}
            Some("desc") => keys[0].descending = !keys[0].descending,
            Some(other) => {
                return Err(AppError::Invalid(format!(
                    "order: {other:?} is not asc or desc"
                )))
            }
        }
        // Ties by username (then by id, always): people read a list by name.
        if !keys.iter().any(|k| k.column == Column::Username) {
            keys.push(PreviewSort {
                column: Column::Username,
                descending: false,
            });
        }
        Ok(PreviewQuery {
            filters,
            sort: keys,
        })
    }

    /// The sort as `sort=` writes it (without the username that breaks ties).
    pub fn sort_text(&self) -> String {
        let implicit = self.sort.len() > 1
            && self
                .sort
                .last()
                .is_some_and(|s| s.column == Column::Username && !s.descending);
        let shown = &self.sort[..self.sort.len() - usize::from(implicit)];
        shown
            .iter()
            .map(|s| {
                format!(
                    "{}{}",
                    if s.descending { "-" } else { "" },
                    column_name(s.column)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The items that match, in order: a preview computed in memory (a draft posted to
    /// the API) filtered and sorted as the stored preview is in SQL.
    pub fn select(&self, items: Vec<PlanItem>) -> Vec<PlanItem> {
        let none = HashMap::new();
        let mut keyed: Vec<(Vec<String>, PlanItem)> = items
            .into_iter()
            .filter_map(|item| {
                let row = scimgate_scheduler::preview_row(&item, &none);
                if !self.filters.iter().all(|f| matches(f, &row)) {
                    return None;
                }
                let keys = self.sort.iter().map(|s| s.column.key(&row)).collect();
                Some((keys, item))
            })
            .collect();
        keyed.sort_by(|(a, x), (b, y)| {
            let mut order = std::cmp::Ordering::Equal;
            for ((ka, kb), sort) in a.iter().zip(b).zip(&self.sort) {
                order = order.then_with(|| {
                    let o = ka.cmp(kb);
                    if sort.descending {
                        o.reverse()
                    } else {
                        o
                    }
                });
            }
            order.then_with(|| x.user_id.cmp(&y.user_id))
        });
        keyed.into_iter().map(|(_, item)| item).collect()
    }
}

/// The sort keys and user id that continue a page after (or before) `row`.
pub fn cursor_of(sort: &[PreviewSort], row: &PreviewRow) -> String {
    let mut parts: Vec<String> = sort.iter().map(|s| s.column.key(row)).collect();
    parts.push(row.user_id.clone());
    serde_json::Value::from(parts).to_string()
}

/// Reads what [`cursor_of`] wrote; a cursor that does not fit the sort is a client's
/// mistake.
pub fn parse_cursor(sort: &[PreviewSort], text: &str) -> Result<(Vec<String>, String)> {
    let bad = || {
        AppError::Invalid(format!(
            "page cursor {text:?} does not belong to this sort: start again from the first page"
        ))
    };
    let mut parts: Vec<String> = serde_json::from_str(text).map_err(|_| bad())?;
    if parts.len() != sort.len() + 1 || parts.iter().any(|p| p.contains('\0')) {
        return Err(bad());
    }
    let id = parts.pop().ok_or_else(bad)?;
    Ok((parts, id))
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
            display_name: None,
            email: None,
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
                secondary_groups: groups.iter().map(|g| (*g).into()).collect(),
                role: role.map(Into::into),
                confidential: false,
                active: true,
            }),
            changes: Vec::new(),
            reason: None,
            set_by: "Base".into(),
            synced: true,
            arrived: 0,
        }
    }

    fn keeps(filter: &str, item: &PlanItem) -> bool {
        let row = scimgate_scheduler::preview_row(item, &HashMap::new());
        matches(&parse_filter(filter).unwrap(), &row)
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
        assert!(keeps("role:one_of:Admin|sales USER", &a));
        assert!(!keeps("role:one_of:Admin|Support", &a));
        assert!(!keeps("role:changed", &a));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let e = parse_filter("usrname:equals:x").unwrap_err();
        assert!(e.to_string().contains("unknown column \"usrname\""), "{e}");
        assert!(e.to_string().contains("username, user_plan"), "{e}");
        let e = parse_filter("username:like:x").unwrap_err();
        assert!(e.to_string().contains("unknown operator \"like\""), "{e}");
        assert!(e.to_string().contains("starts_with"), "{e}");
        let e = parse_filter("username").unwrap_err();
        assert!(e.to_string().contains("column:operator:value"), "{e}");
        let e = parse_filter("username:equals").unwrap_err();
        assert!(e.to_string().contains("needs a value"), "{e}");
        let e = parse_filter("role:null:x").unwrap_err();
        assert!(e.to_string().contains("takes no value"), "{e}");
        let e = parse_filter("role:equals:a\0b").unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
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
            .select(items.clone())
            .into_iter()
            .map(|i| i.username.to_string())
            .collect();
        assert_eq!(names, ["carol", "bob"]);
        let query = PreviewQuery::parse([], Some("-role,username"), None).unwrap();
        assert_eq!(query.sort_text(), "-role");
        assert_eq!(query.sort.len(), 2);
        let names: Vec<String> = query
            .select(items)
            .into_iter()
            .map(|i| i.username.to_string())
            .collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
        let e = PreviewQuery::parse([], None, Some("up")).unwrap_err();
        assert!(e.to_string().contains("\"up\" is not asc or desc"));
        let e = PreviewQuery::parse([], Some("nme"), None).unwrap_err();
        assert!(e.to_string().contains("sort: unknown column \"nme\""));
    }

    #[test]
    fn cursors_round_trip_and_refuse_another_sort() {
        let query = PreviewQuery::parse([], Some("role"), None).unwrap();
        let row = scimgate_scheduler::preview_row(&item("Bo", Some("R"), &[]), &HashMap::new());
        let cursor = cursor_of(&query.sort, &row);
        assert_eq!(
            parse_cursor(&query.sort, &cursor).unwrap(),
            (vec!["r".to_owned(), "bo".to_owned()], "id-Bo".to_owned())
        );
        assert!(parse_cursor(&query.sort[..1], &cursor).is_err());
        assert!(parse_cursor(&query.sort, "not json").is_err());
    }
}

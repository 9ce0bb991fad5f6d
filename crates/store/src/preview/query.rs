//! The preview's query language as the store runs it: columns, operators, sorts and
//! cursors, and their translation to SQL over `preview_rows` (the case-folded `*_k`
//! copies, LIKE with its wildcards escaped, keyset paging).

use super::{PreviewRow, PreviewRules};
use crate::query::{Bind, SqlBuilder};
use scimgate_core::text::fold_case;

/// A column of the preview, as filters and sorting name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewColumn {
    Name,
    Username,
    UserPlan,
    OwnerCompany,
    PrimaryGroup,
    SecondaryGroups,
    Role,
    Confidential,
    Action,
    Changed,
    Email,
    ExternalId,
    UserId,
    Reason,
    SetBy,
}

impl PreviewColumn {
    /// The column as stored, and the case-folded copy filters and sorting use.
    pub(super) fn sql(self) -> (&'static str, &'static str) {
        match self {
            PreviewColumn::Name => ("name", "name_k"),
            PreviewColumn::Username => ("username", "username_k"),
            PreviewColumn::UserPlan => ("user_plan", "user_plan_k"),
            PreviewColumn::OwnerCompany => ("owner_company", "owner_company_k"),
            PreviewColumn::PrimaryGroup => ("primary_group", "primary_group_k"),
            PreviewColumn::SecondaryGroups => ("secondary_groups", "secondary_groups_k"),
            PreviewColumn::Role => ("role", "role_k"),
            PreviewColumn::Confidential => ("confidential", "COALESCE(confidential, '')"),
            PreviewColumn::Action => ("action", "action"),
            PreviewColumn::Changed => ("changed", "changed"),
            PreviewColumn::Email => ("email", "email_k"),
            PreviewColumn::ExternalId => ("external_id", "external_id_k"),
            // Server-made ids are ASCII: lower() means the same on both databases.
            PreviewColumn::UserId => ("user_id", "lower(user_id)"),
            PreviewColumn::Reason => ("reason", "reason_k"),
            PreviewColumn::SetBy => ("set_by", "set_by_k"),
        }
    }

    /// The field name a plan's change list uses for this column, if it has one.
    pub fn field(self) -> Option<&'static str> {
        Some(match self {
            PreviewColumn::Name => "display_name",
            PreviewColumn::Username => "username",
            PreviewColumn::UserPlan => "user_plan",
            PreviewColumn::OwnerCompany => "owner_company",
            PreviewColumn::PrimaryGroup => "primary_group",
            PreviewColumn::SecondaryGroups => "secondary_groups",
            PreviewColumn::Role => "role",
            PreviewColumn::Confidential => "confidential",
            PreviewColumn::Email => "email",
            _ => return None,
        })
    }

    /// A row's value in this column, as the sort key compares it.
    pub fn key(self, row: &PreviewRow) -> String {
        let text = |v: &Option<String>| v.as_deref().map(fold_case).unwrap_or_default();
        match self {
            PreviewColumn::Name => text(&row.name),
            PreviewColumn::Username => fold_case(&row.username),
            PreviewColumn::UserPlan => text(&row.user_plan),
            PreviewColumn::OwnerCompany => text(&row.owner_company),
            PreviewColumn::PrimaryGroup => text(&row.primary_group),
            PreviewColumn::SecondaryGroups => {
                text(&row.secondary_groups.as_ref().map(|g| g.join(", ")))
            }
            PreviewColumn::Role => text(&row.role),
            PreviewColumn::Confidential => {
                row.confidential.map(|c| c.to_string()).unwrap_or_default()
            }
            PreviewColumn::Action => row.action.clone(),
            PreviewColumn::Changed => changed_text(&row.changed),
            PreviewColumn::Email => text(&row.email),
            PreviewColumn::ExternalId => text(&row.external_id),
            PreviewColumn::UserId => fold_case(&row.user_id),
            PreviewColumn::Reason => text(&row.reason),
            PreviewColumn::SetBy => text(&row.set_by),
        }
    }
}

/// How a filter compares a column with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewOp {
    Equals(String),
    NotEquals(String),
    Contains(String),
    NotContains(String),
    StartsWith(String),
    EndsWith(String),
    Null,
    NotNull,
    Empty,
    NotEmpty,
    OneOf(Vec<String>),
    /// The action changes this column's field.
    Changed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewFilter {
    pub column: PreviewColumn,
    pub op: PreviewOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewSort {
    pub column: PreviewColumn,
    pub descending: bool,
}

/// Where a page starts: the sort keys and user id of the row just before it (`After`)
/// or just after it (`Before`, a page back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewCursor {
    First,
    After(Vec<String>, String),
    Before(Vec<String>, String),
}

/// A page of the preview: the rows matching every filter, in the sort's order (ties by
/// user id), `limit` of them from the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewQuery {
    pub filters: Vec<PreviewFilter>,
    pub sort: Vec<PreviewSort>,
    pub cursor: PreviewCursor,
    pub limit: i64,
    /// Rows skipped first (the admin API's `offset`; pages use the cursor).
    pub offset: i64,
}

/// The filtered set's size, by action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviewCounts {
    pub total: u64,
    pub synced: u64,
    pub staged: u64,
    pub by_action: Vec<(String, u64)>,
}

impl PreviewCounts {
    pub fn of(&self, action: &str) -> u64 {
        (self.by_action.iter())
            .find(|(a, _)| a == action)
            .map_or(0, |(_, n)| *n)
    }
}

/// `,role,user_plan,`: every field between commas, so `LIKE '%,role,%'` finds one.
pub(super) fn changed_text(fields: &[String]) -> String {
    if fields.is_empty() {
        String::new()
    } else {
        format!(",{},", fields.join(","))
    }
}

/// `%` and `_` are LIKE's wildcards and `\` its escape here: a filter value means itself.
pub(super) fn like_escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn scope(sql: &mut SqlBuilder, rules: PreviewRules, generation: i64) {
    let rules = sql.bind(Bind::Text(rules.name().to_owned()));
    let generation = sql.bind(Bind::Int(generation));
    sql.push(&format!(
        "tenant_id = $1 AND rules = {rules} AND generation = {generation}"
    ));
}

pub(super) fn filter_sql(sql: &mut SqlBuilder, filter: &PreviewFilter) {
    let (stored, key) = filter.column.sql();
    let fold = |v: &str| fold_case(v);
    let like = |sql: &mut SqlBuilder, negate: bool, pattern: String| {
        let p = sql.bind(Bind::Text(pattern));
        let not = if negate { "NOT " } else { "" };
        sql.push(&format!("{key} {not}LIKE {p} ESCAPE '\\'"));
    };
    match &filter.op {
        PreviewOp::Equals(v) => {
            let p = sql.bind(Bind::Text(fold(v)));
            sql.push(&format!("{key} = {p}"));
        }
        PreviewOp::NotEquals(v) => {
            let p = sql.bind(Bind::Text(fold(v)));
            sql.push(&format!("{key} <> {p}"));
        }
        PreviewOp::Contains(v) => like(sql, false, format!("%{}%", like_escaped(&fold(v)))),
        PreviewOp::NotContains(v) => like(sql, true, format!("%{}%", like_escaped(&fold(v)))),
        PreviewOp::StartsWith(v) => like(sql, false, format!("{}%", like_escaped(&fold(v)))),
        PreviewOp::EndsWith(v) => like(sql, false, format!("%{}", like_escaped(&fold(v)))),
        PreviewOp::Null => sql.push(&format!("{stored} IS NULL")),
        PreviewOp::NotNull => sql.push(&format!("{stored} IS NOT NULL")),
        PreviewOp::Empty => sql.push(&format!("{key} = ''")),
        PreviewOp::NotEmpty => sql.push(&format!("{key} <> ''")),
        PreviewOp::OneOf(values) if values.is_empty() => sql.push("1 = 0"),
        PreviewOp::OneOf(values) => {
            let params: Vec<String> = values
                .iter()
                .map(|v| sql.bind(Bind::Text(fold(v))))
                .collect();
            sql.push(&format!("{key} IN ({})", params.join(", ")));
        }
        PreviewOp::Changed => match filter.column.field() {
            Some(field) => {
                let p = sql.bind(Bind::Text(format!("%,{field},%")));
                sql.push(&format!("changed LIKE {p}"));
            }
            // Columns without a field of their own: changed when anything is.
            None => sql.push("changed <> ''"),
        },
    }
}

/// Rows strictly after (or, going back, before) the cursor in the sort's order.
pub(super) fn keyset_sql(
    sql: &mut SqlBuilder,
    sort: &[PreviewSort],
    keys: &[String],
    id: &str,
    backwards: bool,
) {
    // (k1 > a) OR (k1 = a AND ((k2 > b) OR (k2 = b AND id > c))), each comparison
    // turned round for a descending key (and all of them for a page back).
    let mut open = 0;
    for (sort, key) in sort.iter().zip(keys) {
        let column = sort.column.sql().1;
        let p = sql.bind(Bind::Text(key.clone()));
        let op = if sort.descending != backwards {
            "<"
        } else {
            ">"
        };
        sql.push(&format!("({column} {op} {p} OR ({column} = {p} AND "));
        open += 1;
    }
    let p = sql.bind(Bind::Text(id.to_owned()));
    sql.push(&format!(
        "user_id {} {p}",
        if backwards { "<" } else { ">" }
    ));
    for _ in 0..open {
        sql.push("))");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_values_mean_themselves() {
        assert_eq!(like_escaped("50%_a\\b"), "50\\%\\_a\\\\b");
        assert_eq!(changed_text(&[]), "");
        assert_eq!(
            changed_text(&["role".into(), "user_plan".into()]),
            ",role,user_plan,"
        );
    }
}

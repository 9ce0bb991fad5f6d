//! A small predicate language over the indexed columns, and its translation to SQL.
//! The SCIM layer translates what it can of a filter into a [`Cond`]; the store only
//! knows columns, never SCIM attribute names.

use crate::{ResourceKind, Result, StoreError};
use scimgate_core::text::fold_case;

/// Indexed values. Text columns marked *folded* hold [`fold_case`]d text and are
/// compared with folded operands, which the builder folds itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    /// folded
    UserName,
    ExternalId,
    /// folded
    DisplayName,
    Active,
    /// folded; any of the user's e-mail values
    EmailValue,
    /// any member id of the group
    MemberValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Eq(Column, String),
    IsActive(bool),
    StartsWith(Column, String),
    EndsWith(Column, String),
    Contains(Column, String),
    Present(Column),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

impl Cond {
    /// Whether at most a handful of rows can match: equality on a column with a unique
    /// index per tenant (id, userName) or one a resource rarely shares (externalId).
    pub(crate) fn is_point_lookup(&self) -> bool {
        matches!(
            self,
            Cond::Eq(Column::Id | Column::UserName | Column::ExternalId, _)
        )
    }
}

#[derive(Debug)]
pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

/// Collects SQL text and its bind values; `$1` is always the tenant id.
pub(crate) struct SqlBuilder {
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl SqlBuilder {
    pub fn new(tenant_id: i64) -> Self {
        SqlBuilder {
            sql: String::new(),
            binds: vec![Bind::Int(tenant_id)],
        }
    }

    pub fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    pub fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    pub fn apply<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for bind in &self.binds {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.as_str()),
            };
        }
        query
    }
}

fn is_folded(column: Column) -> bool {
    matches!(
        column,
        Column::UserName | Column::DisplayName | Column::EmailValue
    )
}

fn like_pattern(prefix: &str, operand: &str, suffix: &str) -> String {
    let mut pattern = String::with_capacity(operand.len() + 2);
    pattern.push_str(prefix);
    for c in operand.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str(suffix);
    pattern
}

enum Test {
    Equals(String),
    Like(String),
    NotNull,
}

impl Cond {
    /// Appends this condition as a SQL boolean expression over `kind`'s table.
    pub(crate) fn write_sql(&self, kind: ResourceKind, out: &mut SqlBuilder) -> Result<()> {
        match self {
            Cond::And(parts) | Cond::Or(parts) => {
                if parts.is_empty() {
                    out.push(if matches!(self, Cond::And(_)) {
                        "1 = 1"
                    } else {
                        "1 = 0"
                    });
                    return Ok(());
                }
                let joiner = if matches!(self, Cond::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                out.push("(");
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push(joiner);
                    }
                    part.write_sql(kind, out)?;
                }
                out.push(")");
                Ok(())
            }
            Cond::IsActive(active) => {
                if kind != ResourceKind::User {
                    return Err(unsupported(Column::Active, kind));
                }
                let p = out.bind(Bind::Int(i64::from(*active)));
                out.push(&format!("active = {p}"));
                Ok(())
            }
            Cond::Eq(col, v) => column_test(*col, Test::Equals(operand(*col, v)), kind, out),
            Cond::StartsWith(col, v) => column_test(
                *col,
                Test::Like(like_pattern("", &operand(*col, v), "%")),
                kind,
                out,
            ),
            Cond::EndsWith(col, v) => column_test(
                *col,
                Test::Like(like_pattern("%", &operand(*col, v), "")),
                kind,
                out,
            ),
            Cond::Contains(col, v) => column_test(
                *col,
                Test::Like(like_pattern("%", &operand(*col, v), "%")),
                kind,
                out,
            ),
            Cond::Present(col) => column_test(*col, Test::NotNull, kind, out),
        }
    }
}

fn operand(column: Column, value: &str) -> String {
    if is_folded(column) {
        fold_case(value)
    } else {
        value.to_owned()
    }
}

fn unsupported(column: Column, kind: ResourceKind) -> StoreError {
    StoreError::Corrupt(format!(
        "column {column:?} is not indexed for {}",
        kind.name()
    ))
}

fn column_test(column: Column, test: Test, kind: ResourceKind, out: &mut SqlBuilder) -> Result<()> {
    let (expr, side_table) = match (kind, column) {
        (_, Column::Id) => ("id", None),
        (_, Column::ExternalId) => ("external_id", None),
        (_, Column::DisplayName) => ("display_name_folded", None),
        (ResourceKind::User, Column::UserName) => ("user_name_folded", None),
        (ResourceKind::User, Column::EmailValue) => {
            ("value_folded", Some(("user_id", "staged_user_emails")))
        }
        (ResourceKind::Group, Column::MemberValue) => {
            ("member_id", Some(("group_id", "staged_group_members")))
        }
        _ => return Err(unsupported(column, kind)),
    };
    let test_sql = match test {
        Test::Equals(v) => {
            let p = out.bind(Bind::Text(v));
            format!("{expr} = {p}")
        }
        Test::Like(pattern) => {
            let p = out.bind(Bind::Text(pattern));
            format!("{expr} LIKE {p} ESCAPE '\\'")
        }
        Test::NotNull => format!("{expr} IS NOT NULL"),
    };
    match side_table {
        None => out.push(&test_sql),
        Some((owner_column, table)) => out.push(&format!(
            "id IN (SELECT {owner_column} FROM {table} WHERE tenant_id = $1 AND {test_sql})"
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_operands_are_escaped() {
        assert_eq!(like_pattern("%", "50%_a\\b", "%"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn folded_columns_fold_their_operand() {
        let mut b = SqlBuilder::new(7);
        Cond::And(vec![
            Cond::Eq(Column::UserName, "Bjensen@Example.COM".into()),
            Cond::Eq(Column::ExternalId, "AbC".into()),
        ])
        .write_sql(ResourceKind::User, &mut b)
        .unwrap();
        assert_eq!(b.sql, "(user_name_folded = $2 AND external_id = $3)");
        assert!(matches!(&b.binds[1], Bind::Text(v) if v == "bjensen@example.com"));
        assert!(matches!(&b.binds[2], Bind::Text(v) if v == "AbC"));
    }

    #[test]
    fn columns_of_the_other_kind_are_refused() {
        let mut b = SqlBuilder::new(1);
        assert!(Cond::Present(Column::MemberValue)
            .write_sql(ResourceKind::User, &mut b)
            .is_err());
        assert!(Cond::IsActive(true)
            .write_sql(ResourceKind::Group, &mut b)
            .is_err());
    }
}

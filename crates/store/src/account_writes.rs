//! Applying account changes (the built-in CRM target's writes): a chunk of changes goes
//! as a few statements of up to [`BATCH`] rows each ([`crate::json_rows`]), not one
//! statement per account. On PostgreSQL the round trip of each statement was most of a
//! first company sync's time.
//!
//! The changes are applied in their order: consecutive changes of one kind share a
//! statement, and a change that touches an account already in the statement being built
//! (the same staged user for a create, the same pk otherwise) starts the next one, so
//! the result is the same as applying them one by one.

use crate::json_rows::{self, integer, text, without_nul};
use crate::{Result, StoreError};
use scimgate_core::{AccountFields, Change};
use serde_json::Value;
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// Rows per statement.
const BATCH: usize = 1_000;

/// The account fields' columns, in the order [`field_values`] writes them.
const FIELD_COLUMNS: &str = "username, display_name, email, user_plan, owner_company, \
    primary_group, secondary_groups, role, confidential, active";

/// Applies `changes` in order; returns each change's account pk.
pub(crate) async fn apply_changes(
    conn: &mut AnyConnection,
    tenant_id: i64,
    changes: &[Change],
    now: &str,
) -> Result<Vec<i64>> {
    let mut pks = Vec::with_capacity(changes.len());
    for batch in batches(changes) {
        let applied = match &batch[0] {
            Change::Create { .. } => create(conn, tenant_id, batch, now).await?,
            Change::Update { .. } => update(conn, tenant_id, batch, now).await?,
            Change::Deactivate { .. } => deactivate(conn, tenant_id, batch, now).await?,
        };
        pks.extend(applied);
    }
    Ok(pks)
}

/// What makes two changes touch the same account within one statement.
#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    Staged(&'a str),
    Pk(i64),
}

fn kind_and_key(change: &Change) -> (u8, Key<'_>) {
    match change {
        Change::Create { staged_user_id, .. } => (0, Key::Staged(staged_user_id)),
        Change::Update { pk, .. } => (1, Key::Pk(*pk)),
        Change::Deactivate { pk } => (2, Key::Pk(*pk)),
    }
}

/// Splits `changes` into consecutive runs of one kind, each touching an account at most
/// once and at most [`BATCH`] long.
fn batches(changes: &[Change]) -> Vec<&[Change]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut seen = HashSet::new();
    for (n, change) in changes.iter().enumerate() {
        let (kind, key) = kind_and_key(change);
        let same_kind = n > start && kind_and_key(&changes[start]).0 == kind;
        if n > start && (!same_kind || n - start == BATCH || seen.contains(&key)) {
            out.push(&changes[start..n]);
            start = n;
            seen.clear();
        }
        seen.insert(key);
    }
    if start < changes.len() {
        out.push(&changes[start..]);
    }
    out
}

/// The ten account fields as JSON row values, in [`FIELD_COLUMNS`] order.
fn field_values(fields: &AccountFields) -> Result<[Value; 10]> {
    let opt = |v: Option<&str>| match v {
        Some(v) => Value::from(without_nul(v).into_owned()),
        None => Value::Null,
    };
    let groups: Vec<_> = fields
        .secondary_groups
        .iter()
        .map(|g| without_nul(g))
        .collect();
    let groups = serde_json::to_string(&groups).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok([
        Value::from(without_nul(&fields.username).into_owned()),
        opt(fields.display_name.as_deref()),
        opt(fields.email.as_deref()),
        opt(fields.user_plan.as_deref()),
        opt(fields.owner_company.as_deref()),
        opt(fields.primary_group.as_deref()),
        Value::from(groups),
        opt(fields.role.as_deref()),
        Value::from(i64::from(fields.confidential)),
        Value::from(i64::from(fields.active)),
    ])
}

/// The select list reading [`FIELD_COLUMNS`] from row columns `from..from + 10`.
fn field_reads(from: usize) -> String {
    (from..from + 10)
        .map(|n| if n >= from + 8 { integer(n) } else { text(n) })
        .collect::<Vec<_>>()
        .join(", ")
}

fn optional_text(value: &Option<String>) -> Value {
    value
        .as_deref()
        .map_or(Value::Null, |v| Value::from(without_nul(v).into_owned()))
}

/// The changes as the JSON array their statement unpacks, one row each:
/// `[staged user, externalId, fields…]` for a create, `[pk, staged user, externalId,
/// fields…]` for an update, `[pk]` for a deactivation.
fn json_array(batch: &[Change]) -> Result<String> {
    let mut rows = Vec::with_capacity(batch.len());
    for change in batch {
        // Staged user ids are scimgate's own (UUIDs): no NUL to drop.
        let row = match change {
            Change::Create {
                staged_user_id,
                external_id,
                fields,
            } => [
                vec![
                    Value::from(staged_user_id.as_str()),
                    optional_text(external_id),
                ],
                field_values(fields)?.to_vec(),
            ]
            .concat(),
            Change::Update {
                pk,
                staged_user_id,
                external_id,
                fields,
            } => [
                vec![
                    Value::from(*pk),
                    Value::from(staged_user_id.as_str()),
                    optional_text(external_id),
                ],
                field_values(fields)?.to_vec(),
            ]
            .concat(),
            Change::Deactivate { pk } => vec![Value::from(*pk)],
        };
        rows.push(Value::Array(row));
    }
    Ok(Value::Array(rows).to_string())
}

/// The pk of the account an update or deactivation touches.
fn pk_of(change: &Change) -> i64 {
    match change {
        Change::Update { pk, .. } | Change::Deactivate { pk } => *pk,
        Change::Create { .. } => unreachable!("a create's pk is the database's to give"),
    }
}

/// Creates, each an upsert on (tenant, staged user): a resumed run may create what the
/// interrupted one already created, and that becomes an update.
async fn create(
    conn: &mut AnyConnection,
    tenant_id: i64,
    batch: &[Change],
    now: &str,
) -> Result<Vec<i64>> {
    let rows = json_array(batch)?;
    let sql = format!(
        "INSERT INTO crm_accounts (tenant_id, staged_user_id, external_id, {FIELD_COLUMNS},
            created_at, updated_at)
         SELECT $1, {}, {}, {}, $2, $2 FROM {} WHERE true
         ON CONFLICT (tenant_id, staged_user_id) DO UPDATE SET
            external_id = excluded.external_id, username = excluded.username,
            display_name = excluded.display_name, email = excluded.email,
            user_plan = excluded.user_plan, owner_company = excluded.owner_company,
            primary_group = excluded.primary_group,
            secondary_groups = excluded.secondary_groups, role = excluded.role,
            confidential = excluded.confidential, active = excluded.active,
            updated_at = excluded.updated_at
         RETURNING staged_user_id, pk",
        text(0),
        text(1),
        field_reads(2),
        json_rows::source(conn, 3),
    );
    let returned = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(now)
        .bind(rows)
        .fetch_all(&mut *conn)
        .await?;
    let mut pk_of = HashMap::with_capacity(returned.len());
    for row in returned {
        pk_of.insert(row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?);
    }
    batch
        .iter()
        .map(|change| match change {
            Change::Create { staged_user_id, .. } => {
                pk_of.get(staged_user_id).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!("no account returned for {staged_user_id}"))
                })
            }
            _ => unreachable!("a batch holds one kind of change"),
        })
        .collect()
}

/// Updates by pk; a pk that is not the tenant's account fails the whole chunk. The `+` in
/// `+a.tenant_id` keeps SQLite from driving the join by the tenant's index: it then put the
/// accounts in the outer loop and read the JSON rows again for each of the tenant's
/// accounts (8 s for 1,000 updates among 20,000 accounts); without an index on that term
/// it looks each row up by pk. PostgreSQL reads `+x` as `x` and plans by pk either way.
async fn update(
    conn: &mut AnyConnection,
    tenant_id: i64,
    batch: &[Change],
    now: &str,
) -> Result<Vec<i64>> {
    let rows = json_array(batch)?;
    let active = integer(12);
    let sql = format!(
        "UPDATE crm_accounts AS a SET staged_user_id = {}, external_id = {}, username = {},
            display_name = {}, email = {}, user_plan = {}, owner_company = {},
            primary_group = {}, secondary_groups = {}, role = {}, confidential = {},
            active = {active}, updated_at = $2,
            deactivated_at = CASE WHEN {active} = 1 THEN NULL
                                  ELSE COALESCE(a.deactivated_at, $2) END
         FROM {} WHERE +a.tenant_id = $1 AND a.pk = {}",
        text(1),
        text(2),
        text(3),
        text(4),
        text(5),
        text(6),
        text(7),
        text(8),
        text(9),
        text(10),
        integer(11),
        json_rows::source(conn, 3),
        integer(0),
    );
    let done = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(now)
        .bind(rows)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() != batch.len() as u64 {
        return Err(StoreError::NotFound);
    }
    Ok(batch.iter().map(pk_of).collect())
}

/// Deactivations by pk; an account already inactive is left as it is.
async fn deactivate(
    conn: &mut AnyConnection,
    tenant_id: i64,
    batch: &[Change],
    now: &str,
) -> Result<Vec<i64>> {
    let rows = json_array(batch)?;
    let sql = format!(
        "UPDATE crm_accounts SET active = 0, updated_at = $2, deactivated_at = $2
         WHERE tenant_id = $1 AND active = 1 AND pk IN (SELECT {} FROM {})",
        integer(0),
        json_rows::source(conn, 3),
    );
    sqlx::query(&sql)
        .bind(tenant_id)
        .bind(now)
        .bind(rows)
        .execute(&mut *conn)
        .await?;
    Ok(batch.iter().map(pk_of).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(id: &str) -> Change {
        Change::Create {
            staged_user_id: id.into(),
            external_id: None,
            fields: AccountFields {
                username: id.into(),
                display_name: None,
                email: None,
                user_plan: None,
                owner_company: None,
                primary_group: None,
                secondary_groups: vec![],
                role: None,
                confidential: false,
                active: true,
            },
        }
    }

    #[test]
    fn batches_keep_order_and_never_touch_an_account_twice() {
        let changes = vec![
            Change::Deactivate { pk: 1 },
            Change::Deactivate { pk: 2 },
            create("a"),
            create("b"),
            create("a"),
            Change::Deactivate { pk: 3 },
        ];
        let sizes: Vec<usize> = batches(&changes).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![2, 2, 1, 1]);
        let many: Vec<Change> = (0..2_500).map(|n| create(&n.to_string())).collect();
        let sizes: Vec<usize> = batches(&many).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![1_000, 1_000, 500]);
        assert!(batches(&[]).is_empty());
    }
}

//! Seats in use (active accounts per user plan) kept as counts (`seats_in_use`), so the
//! Overview and every one-user plan read a few rows instead of every account. Each
//! transaction that applies account changes reads the seat each touched account holds
//! before it, and adds the difference after it: one read and a few upserts per chunk.
//! (Row triggers did the same on SQLite at no measurable cost, but on PostgreSQL every
//! account update became an update of the plan's one counter row, and a first sync of
//! 100,000 accounts took twice as long.)

use crate::{json_rows, Result};
use scimgate_core::{AccountFields, Change};
use serde_json::Value;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// The plan whose seat an account holds, if it holds one (active, with a plan).
type Seat = Option<String>;

/// As stored: without NUL characters (crate::json_rows::without_nul), so that the seat
/// read back from the account is the one counted.
fn seat_of(fields: &AccountFields) -> Seat {
    (fields.user_plan.as_deref())
        .filter(|_| fields.active)
        .map(|plan| json_rows::without_nul(plan).into_owned())
}

/// The seats held now by the accounts `changes` touch: by pk, and by staged user (a
/// create may find the account a resumed run already made).
///
/// Each kind is one join of the ids (bound as one JSON array, crate::json_rows) with the
/// accounts: the database looks each id up in its index. An `IN (…)` list instead let
/// PostgreSQL, before it had statistics for a freshly filled table, scan every account
/// of the tenant for each list, so a first sync slowed as it went. `CROSS JOIN` keeps
/// SQLite from putting the accounts in the outer loop (it does not reorder one), where
/// it had scanned every account for each id.
pub(crate) async fn held_before(
    conn: &mut AnyConnection,
    tenant_id: i64,
    changes: &[Change],
) -> Result<(HashMap<i64, Seat>, HashMap<String, Seat>)> {
    let mut pks = Vec::new();
    let mut staged = Vec::new();
    for change in changes {
        match change {
            Change::Create { staged_user_id, .. } => {
                staged.push(Value::from(vec![staged_user_id.as_str()]))
            }
            Change::Update { pk, .. } | Change::Deactivate { pk } => {
                pks.push(Value::from(vec![*pk]))
            }
        }
    }
    let by_pk = seats_by(conn, tenant_id, ("pk", json_rows::integer(0)), pks).await?;
    let by_staged = seats_by(
        conn,
        tenant_id,
        ("staged_user_id", json_rows::text(0)),
        staged,
    );
    let by_staged = by_staged.await?;
    Ok((by_pk, by_staged))
}

/// The seats held by the accounts whose `column` equals one of `ids` (JSON rows of one
/// value, read by `read`), by that column.
async fn seats_by<K>(
    conn: &mut AnyConnection,
    tenant_id: i64,
    (column, read): (&str, String),
    ids: Vec<Value>,
) -> Result<HashMap<K, Seat>>
where
    K: std::hash::Hash + Eq + for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    let mut seats = HashMap::new();
    if ids.is_empty() {
        return Ok(seats);
    }
    let sql = format!(
        "SELECT a.{column}, a.active, a.user_plan FROM {} CROSS JOIN crm_accounts a
         WHERE a.tenant_id = $1 AND a.{column} = {read}",
        json_rows::source(conn, 2),
    );
    // Not prepared: a plan cached while the table was small could scan it once it has
    // grown.
    let rows = sqlx::query(&sql)
        .persistent(false)
        .bind(tenant_id)
        .bind(Value::Array(ids).to_string())
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        seats.insert(row.try_get(column)?, held(&row)?);
    }
    Ok(seats)
}

fn held(row: &sqlx::any::AnyRow) -> Result<Seat> {
    let active: i64 = row.try_get("active")?;
    let plan: Option<String> = row.try_get("user_plan")?;
    Ok(plan.filter(|_| active == 1))
}

/// Seats per plan gained (positive) or freed (negative) by applying `changes` to
/// accounts that held `before`.
pub(crate) fn deltas(
    changes: &[Change],
    (by_pk, by_staged): &(HashMap<i64, Seat>, HashMap<String, Seat>),
) -> HashMap<String, i64> {
    let mut deltas: HashMap<String, i64> = HashMap::new();
    for change in changes {
        let (old, new) = match change {
            Change::Create {
                staged_user_id,
                fields,
                ..
            } => (
                by_staged.get(staged_user_id).cloned().flatten(),
                seat_of(fields),
            ),
            Change::Update { pk, fields, .. } => {
                (by_pk.get(pk).cloned().flatten(), seat_of(fields))
            }
            Change::Deactivate { pk } => (by_pk.get(pk).cloned().flatten(), None),
        };
        if old == new {
            continue;
        }
        if let Some(plan) = old {
            *deltas.entry(plan).or_default() -= 1;
        }
        if let Some(plan) = new {
            *deltas.entry(plan).or_default() += 1;
        }
    }
    deltas.retain(|_, delta| *delta != 0);
    deltas
}

/// Adds the deltas to the counts, inside the transaction that applied the changes.
pub(crate) async fn add(
    conn: &mut AnyConnection,
    tenant_id: i64,
    deltas: &HashMap<String, i64>,
) -> Result<()> {
    for (plan, delta) in deltas {
        sqlx::query(
            "INSERT INTO seats_in_use (tenant_id, user_plan, used) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, user_plan)
             DO UPDATE SET used = seats_in_use.used + excluded.used",
        )
        .bind(tenant_id)
        .bind(plan.as_str())
        .bind(*delta)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

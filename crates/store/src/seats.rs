//! Seats in use (active accounts per user plan) kept as counts (`seats_in_use`), so the
//! Overview and every one-user plan read a few rows instead of every account. Each
//! transaction that applies account changes reads the seat each touched account holds
//! before it, and adds the difference after it: one read and a few upserts per chunk.
//! (Row triggers did the same on SQLite at no measurable cost, but on PostgreSQL every
//! account update became an update of the plan's one counter row, and a first sync of
//! 100,000 accounts took twice as long.)

use crate::Result;
use scimgate_core::{AccountFields, Change};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// The plan whose seat an account holds, if it holds one (active, with a plan).
type Seat = Option<String>;

fn seat_of(fields: &AccountFields) -> Seat {
    fields.user_plan.clone().filter(|_| fields.active)
}

/// Rows read per query (well under both databases' limits on bound values).
const BATCH: usize = 500;

/// The seats held now by the accounts `changes` touch: by pk, and by staged user (a
/// create may find the account a resumed run already made).
pub(crate) async fn held_before(
    conn: &mut AnyConnection,
    tenant_id: i64,
    changes: &[Change],
) -> Result<(HashMap<i64, Seat>, HashMap<String, Seat>)> {
    let mut pks = Vec::new();
    let mut staged = Vec::new();
    for change in changes {
        match change {
            Change::Create { staged_user_id, .. } => staged.push(staged_user_id.clone()),
            Change::Update { pk, .. } | Change::Deactivate { pk } => pks.push(*pk),
        }
    }
    let mut by_pk = HashMap::new();
    let mut by_staged = HashMap::new();
    for batch in pks.chunks(BATCH) {
        let sql = format!(
            "SELECT pk, active, user_plan FROM crm_accounts WHERE tenant_id = $1 AND pk IN ({})",
            placeholders(batch.len())
        );
        // Not prepared: a plan cached while the table was small scans it once it has grown.
        let mut query = sqlx::query(&sql).persistent(false).bind(tenant_id);
        for pk in batch {
            query = query.bind(*pk);
        }
        for row in query.fetch_all(&mut *conn).await? {
            by_pk.insert(row.try_get("pk")?, held(&row)?);
        }
    }
    for batch in staged.chunks(BATCH) {
        let sql = format!(
            "SELECT staged_user_id, active, user_plan FROM crm_accounts
             WHERE tenant_id = $1 AND staged_user_id IN ({})",
            placeholders(batch.len())
        );
        let mut query = sqlx::query(&sql).persistent(false).bind(tenant_id);
        for id in batch {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut *conn).await? {
            by_staged.insert(row.try_get("staged_user_id")?, held(&row)?);
        }
    }
    Ok((by_pk, by_staged))
}

/// `$2, $3, …`: `$1` is the tenant.
fn placeholders(n: usize) -> String {
    (2..n + 2)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
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

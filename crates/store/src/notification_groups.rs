//! Notification groups: one row per problem (fingerprint) a tenant's subscribers were
//! told about, so a recurring problem is one message and its end is one "resolved".
//! The notifier decides; these are the reads and writes it decides with, all inside the
//! transaction of the run that saw the problem.

use crate::columns::Decoded;
use crate::{Backend, Result, Tenant, Tx};
use scimgate_core::EventKind;
use sqlx::Row;

/// Where a problem stands, as `notification_groups.open` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// Resolved, or never announced.
    Ended,
    /// Announced and still there.
    Current,
    /// A `sync.error` set that changed: not announced as resolved (some of its errors
    /// may remain), and still inside its window.
    Superseded,
}

impl GroupState {
    fn stored(self) -> i64 {
        match self {
            GroupState::Ended => 0,
            GroupState::Current => 1,
            GroupState::Superseded => 2,
        }
    }

    /// Any other number is taken as ended: the problem is announced afresh.
    fn read(stored: i64) -> GroupState {
        match stored {
            1 => GroupState::Current,
            2 => GroupState::Superseded,
            _ => GroupState::Ended,
        }
    }
}

/// One problem's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub fingerprint: String,
    pub cause: String,
    pub state: GroupState,
    /// When it was last announced (Unix milliseconds).
    pub last_sent_at: i64,
    /// How often it recurred since it was last announced.
    pub recurrences: i64,
}

fn group_from_row(row: &sqlx::any::AnyRow) -> Result<Group> {
    Ok(Group {
        fingerprint: row.try_get("fingerprint")?,
        cause: row.try_get("cause")?,
        state: GroupState::read(row.try_get("open")?),
        last_sent_at: row.try_get("last_sent_at")?,
        recurrences: row.try_get("recurrences")?,
    })
}

const COLUMNS: &str = "fingerprint, cause, open, last_sent_at, recurrences";

/// The problem's row, created (ended, never sent) if absent, and locked until the
/// transaction ends: two replicas recording the same problem at once take turns instead
/// of both deciding to send.
pub async fn group_in(
    tx: &mut Tx<'_>,
    tenant: &Tenant,
    fingerprint: &str,
    kind: EventKind,
    cause: &str,
) -> Result<Group> {
    sqlx::query(
        "INSERT INTO notification_groups (tenant_id, fingerprint, kind, cause, open, last_sent_at, recurrences)
         VALUES ($1, $2, $3, $4, 0, 0, 0) ON CONFLICT (tenant_id, fingerprint) DO NOTHING",
    )
    .bind(tenant.id)
    .bind(fingerprint)
    .bind(kind.name())
    .bind(cause)
    .execute(&mut *tx.conn)
    .await?;
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notification_groups WHERE tenant_id = $1 AND fingerprint = $2{lock}"
    ))
    .bind(tenant.id)
    .bind(fingerprint)
    .fetch_one(&mut *tx.conn)
    .await?;
    group_from_row(&row)
}

/// The problems of one kind that are not ended.
pub async fn unended_in(tx: &mut Tx<'_>, tenant: &Tenant, kind: EventKind) -> Result<Vec<Group>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notification_groups WHERE tenant_id = $1 AND kind = $2 AND open <> $3"
    ))
    .bind(tenant.id)
    .bind(kind.name())
    .bind(GroupState::Ended.stored())
    .fetch_all(&mut *tx.conn)
    .await?
    .decoded(group_from_row)
}

/// What happens to a problem's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupChange {
    /// Announced now: current, sent at this time, no recurrences yet.
    Sent { at_ms: i64 },
    /// Seen again within its window: current, one more recurrence.
    Recurred,
    /// Only the state changes.
    Became(GroupState),
}

pub async fn change_group_in(
    tx: &mut Tx<'_>,
    tenant: &Tenant,
    fingerprint: &str,
    change: GroupChange,
) -> Result<()> {
    let query = match change {
        GroupChange::Sent { at_ms } => sqlx::query(
            "UPDATE notification_groups SET open = $1, last_sent_at = $2, recurrences = 0
             WHERE tenant_id = $3 AND fingerprint = $4",
        )
        .bind(GroupState::Current.stored())
        .bind(at_ms),
        GroupChange::Recurred => sqlx::query(
            "UPDATE notification_groups SET open = $1, recurrences = recurrences + 1
             WHERE tenant_id = $2 AND fingerprint = $3",
        )
        .bind(GroupState::Current.stored()),
        GroupChange::Became(state) => sqlx::query(
            "UPDATE notification_groups SET open = $1 WHERE tenant_id = $2 AND fingerprint = $3",
        )
        .bind(state.stored()),
    };
    query
        .bind(tenant.id)
        .bind(fingerprint)
        .execute(&mut *tx.conn)
        .await?;
    Ok(())
}

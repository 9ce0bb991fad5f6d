//! What admins edit — the rule set, the catalogue, the sync settings, the subscriptions —
//! each with a version per tenant. Every read returns it; every write names the version
//! it was based on and bumps it in its own transaction, so a write based on an older
//! version is refused ([`StoreError::Stale`]) instead of silently overwriting another
//! admin's change.
//!
//! One lock order: a write that reads another aggregate to check itself (a rule set
//! checked against the catalogue, a catalogue against the rule set) first locks the
//! catalogue's version row, so the two checks cannot pass side by side on PostgreSQL.

use crate::{Result, Store, StoreError, Tenant};
use scimgate_core::StaleEdit;
use sqlx::{AnyConnection, Row};

/// An aggregate an admin edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    RuleSet,
    /// The draft rule set (its edits; publishing it bumps [`Aggregate::RuleSet`]).
    RuleDraft,
    Catalog,
    Settings,
    Subscriptions,
    /// Where accounts are pushed (a SCIM application or a webhook).
    CrmTarget,
}

impl Aggregate {
    fn key(self) -> &'static str {
        match self {
            Aggregate::RuleSet => "rule_set",
            Aggregate::RuleDraft => "rule_draft",
            Aggregate::Catalog => "catalog",
            Aggregate::Settings => "settings",
            Aggregate::Subscriptions => "subscriptions",
            Aggregate::CrmTarget => "crm_target",
        }
    }

    /// As messages name it.
    pub fn noun(self) -> &'static str {
        match self {
            Aggregate::RuleSet => "the rule set",
            Aggregate::RuleDraft => "the draft rule set",
            Aggregate::Catalog => "the catalogue",
            Aggregate::Settings => "the sync settings",
            Aggregate::Subscriptions => "the subscriptions",
            Aggregate::CrmTarget => "the CRM target",
        }
    }
}

/// The version a write is based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The version the writer read; any other is stale.
    Version(i64),
    /// Overwrite whatever is there: a deliberate replace from a file (`scimgate catalog
    /// import`, `rules apply`), not an edit of something read.
    Any,
}

/// A value with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub version: i64,
    pub value: T,
}

/// The current version (0: never written).
pub(crate) async fn current(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    aggregate: Aggregate,
) -> Result<(i64, Option<String>)> {
    let row = sqlx::query(
        "SELECT version, changed_at FROM edit_versions WHERE tenant_id = $1 AND aggregate = $2",
    )
    .bind(tenant.id)
    .bind(aggregate.key())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(row) => (row.try_get(0)?, row.try_get(1)?),
        None => (0, None),
    })
}

async fn ensure_row(conn: &mut AnyConnection, tenant: &Tenant, aggregate: Aggregate) -> Result<()> {
    sqlx::query(
        "INSERT INTO edit_versions (tenant_id, aggregate, version, changed_at) VALUES ($1, $2, 0, '')
         ON CONFLICT (tenant_id, aggregate) DO NOTHING",
    )
    .bind(tenant.id)
    .bind(aggregate.key())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Bumps the version inside the write's transaction, refusing a stale expectation. The
/// UPDATE holds the row until commit: a concurrent write of the same aggregate waits,
/// then finds the version moved and is refused.
pub(crate) async fn bump(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    aggregate: Aggregate,
    expect: Expect,
    now: &str,
) -> Result<i64> {
    ensure_row(conn, tenant, aggregate).await?;
    let expected = match expect {
        Expect::Version(v) => Some(v),
        Expect::Any => None,
    };
    let row = sqlx::query(
        "UPDATE edit_versions SET version = version + 1, changed_at = $1
         WHERE tenant_id = $2 AND aggregate = $3 AND ($4 IS NULL OR version = $4)
         RETURNING version",
    )
    .bind(now)
    .bind(tenant.id)
    .bind(aggregate.key())
    .bind(expected)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(row.try_get(0)?),
        None => Err(stale(conn, tenant, aggregate, expected.unwrap_or_default()).await?),
    }
}

/// The error for a write based on version `expected`, naming the current one.
async fn stale(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    aggregate: Aggregate,
    expected: i64,
) -> Result<StoreError> {
    let (current, changed_at) = current(conn, tenant, aggregate).await?;
    Ok(StoreError::Stale(StaleEdit {
        what: aggregate.noun(),
        expected,
        current,
        changed_at: changed_at.unwrap_or_default(),
    }))
}

/// Locks an aggregate's version row without changing it (see the lock order above).
pub(crate) async fn lock(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    aggregate: Aggregate,
) -> Result<()> {
    ensure_row(conn, tenant, aggregate).await?;
    sqlx::query(
        "UPDATE edit_versions SET version = version WHERE tenant_id = $1 AND aggregate = $2",
    )
    .bind(tenant.id)
    .bind(aggregate.key())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// The version of what an admin edits (0: never written).
    pub async fn edit_version(&self, tenant: &Tenant, aggregate: Aggregate) -> Result<i64> {
        let mut conn = self.pool.acquire().await?;
        Ok(current(&mut conn, tenant, aggregate).await?.0)
    }

    /// [`StoreError::Stale`] unless `expect` is the aggregate's version: for an edit that
    /// must refuse a stale base before it reads what to change.
    pub async fn check_version(
        &self,
        tenant: &Tenant,
        aggregate: Aggregate,
        expect: Expect,
    ) -> Result<()> {
        let Expect::Version(expected) = expect else {
            return Ok(());
        };
        let mut conn = self.pool.acquire().await?;
        if current(&mut conn, tenant, aggregate).await?.0 == expected {
            return Ok(());
        }
        Err(stale(&mut conn, tenant, aggregate, expected).await?)
    }
}

//! Group members must name a user or group of the same tenant, and a group is not its own
//! member. The check runs before a write changes anything, so a refusal needs no savepoint.
//!
//! Checking each write on its own cost a query per group PATCH (half the throughput of
//! Entra's member adds), so the batch learns which of the ids its group writes add exist
//! with one query per tenant, before it runs them; a write then queries only ids the batch
//! did not know. Nothing can delete a known id before the write that adds it: every write
//! of a tenant holds the tenant's row until it commits, and a delete earlier in the same
//! batch forgets the id.

use super::rows::Prefetched;
use super::{Failure, Failure::Refused, Job};
use crate::query::Bind;
use crate::{Current, Member, MemberOp, ResourceKind, StoreError, Tenant, Write};
use sqlx::pool::PoolConnection;
use sqlx::{Any, Row};
use std::collections::{HashMap, HashSet};

#[derive(Default)]
pub(super) struct KnownMembers {
    /// Per tenant id, the ids known to exist.
    existing: HashMap<i64, HashSet<String>>,
}

impl KnownMembers {
    /// Learns which of the ids the batch's group writes add exist. A mutation is computed
    /// here from the prefetched state only to see its member ids; it runs again, for real,
    /// when its turn comes.
    pub(super) async fn load<'a>(
        &mut self,
        conn: &mut PoolConnection<Any>,
        jobs: impl Iterator<Item = &'a Job>,
        prefetched: &Prefetched,
    ) -> Result<(), sqlx::Error> {
        let mut wanted: Vec<(&Tenant, String)> = Vec::new();
        for job in jobs {
            let added: Vec<String> = match &job.write {
                Write::Create {
                    kind: ResourceKind::Group,
                    members,
                    ..
                } => members.iter().map(|m| m.value.clone()).collect(),
                Write::Mutate {
                    kind: ResourceKind::Group,
                    id,
                    mutator,
                } => match (prefetched.rows).get(&(job.tenant.id, ResourceKind::Group, id.clone()))
                {
                    Some((current, _)) => mutator(Current {
                        id: current.id.clone(),
                        body: current.body.clone(),
                        version: current.version,
                    })
                    .ok()
                    // A mutation the store refuses is refused when it runs; its ids must
                    // not reach a query (PostgreSQL fails on a NUL).
                    .filter(|m| m.check_storable_over(&current.body).is_ok())
                    .map(|m| added_ids(&m.members))
                    .unwrap_or_default(),
                    None => Vec::new(),
                },
                _ => Vec::new(),
            };
            wanted.extend(added.into_iter().map(|id| (&job.tenant, id)));
        }
        wanted.sort_by(|a, b| (a.0.id, &a.1).cmp(&(b.0.id, &b.1)));
        wanted.dedup_by(|a, b| a.0.id == b.0.id && a.1 == b.1);
        for same_tenant in wanted.chunk_by(|a, b| a.0.id == b.0.id) {
            let tenant = same_tenant[0].0;
            let ids: Vec<&str> = same_tenant.iter().map(|(_, id)| id.as_str()).collect();
            let found = existing(conn, tenant, &ids).await?;
            self.existing.entry(tenant.id).or_default().extend(found);
        }
        Ok(())
    }

    /// A resource deleted in this batch is no longer a possible member.
    pub(super) fn forget(&mut self, tenant: &Tenant, id: &str) {
        if let Some(ids) = self.existing.get_mut(&tenant.id) {
            ids.remove(id);
        }
    }

    pub(super) async fn ensure(
        &mut self,
        conn: &mut PoolConnection<Any>,
        tenant: &Tenant,
        group_id: &str,
        members: &[Member],
    ) -> Result<(), Failure> {
        if let Some(own) = members.iter().find(|m| m.value == group_id) {
            return Err(Refused(StoreError::UnknownMember(own.value.clone())));
        }
        let mut unknown: Vec<&str> = members
            .iter()
            .map(|m| m.value.as_str())
            .filter(|id| {
                !self
                    .existing
                    .get(&tenant.id)
                    .is_some_and(|known| known.contains(*id))
            })
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort_unstable();
        unknown.dedup();
        let found = existing(conn, tenant, &unknown).await?;
        if let Some(missing) = unknown.iter().find(|id| !found.contains(**id)) {
            return Err(Refused(StoreError::UnknownMember((*missing).to_owned())));
        }
        self.existing.entry(tenant.id).or_default().extend(found);
        Ok(())
    }
}

fn added_ids(ops: &[MemberOp]) -> Vec<String> {
    ops.iter()
        .flat_map(|op| match op {
            MemberOp::Add(members) => members.iter().map(|m| m.value.clone()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Which of `ids` (distinct) are users or groups of the tenant. Counted first, among
/// users only (members are nearly always users): one row back instead of one per id (rows
/// are what costs, on SQLite most). Groups are looked at, and ids listed, only when some
/// are not users, and listed only when some are missing: a client's mistake, and rare.
async fn existing(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    ids: &[&str],
) -> Result<HashSet<String>, sqlx::Error> {
    let mut found = HashSet::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut all_there = false;
        for tables in [Tables::Users, Tables::UsersAndGroups] {
            let q = ids_query(tenant, chunk, "COUNT(*)", tables);
            let count: i64 = q
                .apply(sqlx::query(&q.sql))
                .fetch_one(&mut **conn)
                .await?
                .try_get(0)?;
            if count == chunk.len() as i64 {
                all_there = true;
                break;
            }
        }
        if all_there {
            found.extend(chunk.iter().map(|id| (*id).to_owned()));
            continue;
        }
        let q = ids_query(tenant, chunk, "id", Tables::UsersAndGroups);
        for row in q.apply(sqlx::query(&q.sql)).fetch_all(&mut **conn).await? {
            found.insert(row.try_get::<String, _>(0)?);
        }
    }
    Ok(found)
}

#[derive(Clone, Copy)]
enum Tables {
    Users,
    UsersAndGroups,
}

/// `SELECT {what}` over the tenant's users (and groups) whose id is one of `ids`. Ids are
/// ours (UUIDs), so no user and group share one and a count is a count of distinct ids.
fn ids_query(
    tenant: &Tenant,
    ids: &[&str],
    what: &str,
    tables: Tables,
) -> crate::query::SqlBuilder {
    let mut q = crate::query::SqlBuilder::new(tenant.id);
    let params: Vec<String> = ids
        .iter()
        .map(|id| q.bind(Bind::Text((*id).to_owned())))
        .collect();
    let list = params.join(", ");
    let users = format!("SELECT id FROM staged_users WHERE tenant_id = $1 AND id IN ({list})");
    q.sql = match tables {
        Tables::Users => format!("SELECT {what} FROM ({users}) AS found"),
        Tables::UsersAndGroups => format!(
            "SELECT {what} FROM ({users}
             UNION ALL SELECT id FROM staged_groups WHERE tenant_id = $1 AND id IN ({list})) AS found"
        ),
    };
    q
}

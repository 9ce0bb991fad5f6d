//! Change sequence numbers, read and written once per tenant per batch.

use super::{Failure, Failure::Refused};
use crate::{Backend, Result, StoreError, Tenant};
use sqlx::pool::PoolConnection;
use sqlx::{Any, Row};

/// The tenants' change sequences within one batch: each tenant's row is read (and on
/// PostgreSQL locked) once, numbers are handed out to the writes that succeed, and the
/// final value is written back once before the commit. Commit order is sequence order,
/// since every writer of a tenant queues on that row.
#[derive(Default)]
pub(super) struct Sequences {
    last: Vec<(i64, i64)>,
    dirty: Vec<i64>,
}

impl Sequences {
    pub(super) async fn next(
        &mut self,
        conn: &mut PoolConnection<Any>,
        backend: Backend,
        tenant: &Tenant,
    ) -> Result<i64, Failure> {
        if let Some((_, last)) = self.last.iter().find(|(id, _)| *id == tenant.id) {
            return Ok(last + 1);
        }
        let lock = if backend == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let row = sqlx::query(&format!(
            "SELECT change_seq FROM tenants WHERE id = $1{lock}"
        ))
        .bind(tenant.id)
        .fetch_optional(&mut **conn)
        .await?
        .ok_or(Refused(StoreError::NotFound))?;
        let last: i64 = row.try_get(0)?;
        self.last.push((tenant.id, last));
        Ok(last + 1)
    }

    pub(super) fn consume(&mut self, tenant: &Tenant, count: i64) {
        if let Some((_, last)) = self.last.iter_mut().find(|(id, _)| *id == tenant.id) {
            *last += count;
            if !self.dirty.contains(&tenant.id) {
                self.dirty.push(tenant.id);
            }
        }
    }

    pub(super) async fn store(&self, conn: &mut PoolConnection<Any>) -> Result<(), sqlx::Error> {
        for (tenant_id, last) in self.last.iter().filter(|(id, _)| self.dirty.contains(id)) {
            sqlx::query("UPDATE tenants SET change_seq = $2 WHERE id = $1")
                .bind(tenant_id)
                .bind(last)
                .execute(&mut **conn)
                .await?;
        }
        Ok(())
    }
}

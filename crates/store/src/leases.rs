//! Leases: a named lock in the database, held by one process until it expires. Taking
//! or renewing one is a single conditional upsert, so two replicas on one PostgreSQL
//! can never both hold it; a crashed holder's lease simply runs out.

use crate::{Result, Store};
use scimgate_core::Timestamp;

impl Store {
    /// Takes the lease (or renews it, if `holder` has it) until `now + ttl_ms`. `false`:
    /// someone else holds it.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        ttl_ms: i64,
    ) -> Result<bool> {
        let now_ms = now.unix_millis();
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now_ms + ttl_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

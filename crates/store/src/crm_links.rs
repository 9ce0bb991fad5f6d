//! Each account's link to its user on the tenant's CRM target: the id the target gave
//! the user, and the target groups scimgate made it a member of (see `crm_push` for the
//! target and the queue of pushes).

use crate::{Result, Store, StoreError, Tenant};
use sqlx::Row;
use std::collections::HashMap;

impl Store {
    /// The id the target gave the account, once linked.
    pub async fn account_target_id(&self, tenant: &Tenant, pk: i64) -> Result<Option<String>> {
        Ok(
            sqlx::query("SELECT target_id FROM crm_accounts WHERE tenant_id = $1 AND pk = $2")
                .bind(tenant.id)
                .bind(pk)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get::<Option<String>, _>(0))
                .transpose()?
                .flatten(),
        )
    }

    /// Every linked account's target id, by account pk: what a reconcile matches the
    /// target's users with first.
    pub async fn account_links(&self, tenant: &Tenant) -> Result<HashMap<i64, String>> {
        let rows = sqlx::query(
            "SELECT pk, target_id FROM crm_accounts WHERE tenant_id = $1 AND target_id IS NOT NULL",
        )
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("pk")?, row.try_get("target_id")?)))
            .collect()
    }

    /// The account forgets the user it was linked to (deleted on the target).
    pub async fn unlink_account_from_target(&self, tenant: &Tenant, pk: i64) -> Result<()> {
        let tenant_id = tenant.id;
        self.write_conn(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE crm_accounts SET target_id = NULL, target_groups = NULL
                     WHERE tenant_id = $1 AND pk = $2",
                )
                .bind(tenant_id)
                .bind(pk)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// The groups on the target the account's user was made a member of.
    pub async fn account_target_groups(&self, tenant: &Tenant, pk: i64) -> Result<Vec<String>> {
        let row =
            sqlx::query("SELECT target_groups FROM crm_accounts WHERE tenant_id = $1 AND pk = $2")
                .bind(tenant.id)
                .bind(pk)
                .fetch_optional(&self.pool)
                .await?;
        let text: Option<String> = match row {
            Some(row) => row.try_get(0)?,
            None => None,
        };
        match text {
            None => Ok(Vec::new()),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("target_groups of account {pk}: {e}"))),
        }
    }

    /// Records the groups on the target the account's user is now a member of.
    pub async fn set_account_target_groups(
        &self,
        tenant: &Tenant,
        pk: i64,
        groups: &[String],
    ) -> Result<()> {
        let (tenant_id, text) = (tenant.id, serde_json::to_string(groups).unwrap_or_default());
        self.write_conn(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE crm_accounts SET target_groups = $1 WHERE tenant_id = $2 AND pk = $3",
                )
                .bind(text)
                .bind(tenant_id)
                .bind(pk)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Records the id the target gave the account.
    pub async fn link_account_to_target(
        &self,
        tenant: &Tenant,
        pk: i64,
        target_id: &str,
    ) -> Result<()> {
        let (tenant_id, target_id) = (tenant.id, target_id.to_owned());
        self.write_conn(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE crm_accounts SET target_id = $3 WHERE tenant_id = $1 AND pk = $2",
                )
                .bind(tenant_id)
                .bind(pk)
                .bind(&target_id)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }
}

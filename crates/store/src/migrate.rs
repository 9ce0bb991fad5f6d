//! Migrations are embedded in the binary (an installed scimgate has no source tree) and
//! applied at start-up. Both backends carry the same versions; a test checks the folders.

use crate::{Backend, Result, StoreError};
use sqlx::{AnyPool, Executor, Row};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $file,
            sqlite: include_str!(concat!("../../../migrations/sqlite/", $file)),
            postgres: include_str!(concat!("../../../migrations/postgres/", $file)),
        }
    };
}

pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_holding_area.sql"),
    migration!(2, "0002_crm_and_sync.sql"),
    migration!(3, "0003_notifications.sql"),
    migration!(4, "0004_edit_versions.sql"),
    migration!(5, "0005_admin_accounts.sql"),
    migration!(6, "0006_users_page_and_token_use.sql"),
    migration!(7, "0007_seats_and_member_index.sql"),
    migration!(8, "0008_rule_versions.sql"),
    migration!(9, "0009_audit_log.sql"),
    migration!(10, "0010_run_rules.sql"),
    migration!(11, "0011_run_cancel.sql"),
    migration!(12, "0012_stored_preview.sql"),
    migration!(13, "0013_preview_set_by.sql"),
    migration!(14, "0014_crm_push.sql"),
    migration!(15, "0015_crm_target_options.sql"),
];

/// Serialises concurrent start-ups of several replicas on one PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x5c17_6a7e;

pub(crate) async fn apply(pool: &AnyPool, backend: Backend) -> Result<Vec<&'static Migration>> {
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        conn.execute(sqlx::query("SELECT pg_advisory_lock($1)").bind(PG_MIGRATION_LOCK))
            .await?;
    }
    let result = apply_locked(&mut conn, backend).await;
    if backend == Backend::Postgres {
        conn.execute(sqlx::query("SELECT pg_advisory_unlock($1)").bind(PG_MIGRATION_LOCK))
            .await?;
    }
    result
}

async fn apply_locked(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
) -> Result<Vec<&'static Migration>> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS scimgate_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    )
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM scimgate_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    if let Some(newest) = applied.iter().max() {
        if MIGRATIONS.iter().all(|m| m.version < *newest) {
            return Err(StoreError::Corrupt(format!(
                "the database is at schema version {newest}, newer than this scimgate knows; upgrade scimgate"
            )));
        }
    }
    let mut done = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let sql = match backend {
            Backend::Sqlite => migration.sqlite,
            Backend::Postgres => migration.postgres,
        };
        conn.execute(backend.begin_write()).await?;
        let step = async {
            conn.execute(sqlx::raw_sql(sql)).await?;
            sqlx::query("INSERT INTO scimgate_migrations (version, name) VALUES ($1, $2)")
                .bind(migration.version)
                .bind(migration.name)
                .execute(&mut *conn)
                .await?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        match step {
            Ok(()) => {
                conn.execute("COMMIT").await?;
                tracing::info!(
                    version = migration.version,
                    name = migration.name,
                    "migration applied"
                );
                done.push(migration);
            }
            Err(err) => {
                let _ = conn.execute("ROLLBACK").await;
                return Err(StoreError::Database(err));
            }
        }
    }
    Ok(done)
}

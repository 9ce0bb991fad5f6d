//! Persistence for scimgate: one API over SQLite (the embedded default) and PostgreSQL.
//!
//! Reads go straight to the connection pool. Writes go through a single writer task per
//! process ([`writer`]) that packs concurrent writes into one transaction, so many SCIM
//! requests share one durable commit (one fsync) instead of paying one each.

mod account_writes;
mod accounts;
mod admin_accounts;
mod audit;
mod auth_cache;
mod bulk;
mod catalog;
mod columns;
mod connect;
mod crm_links;
pub mod crm_push;
mod edits;
mod error;
mod json_rows;
mod leases;
mod migrate;
pub mod notification_groups;
pub mod outbox;
mod point_reads;
mod preview;
mod query;
mod resources;
mod rule_sets;
mod rule_versions;
pub mod runs;
mod seats;
mod snapshot;
mod staged_search;
pub mod subscriptions;
mod sync_settings;
mod tenants;
mod types;
mod write_gate;
mod writer;

pub use admin_accounts::{AdminSession, NewAdminAccount, SignInRecord};
pub use audit::AuditFilter;
pub use auth_cache::TTL as AUTH_CACHE_TTL;
pub use bulk::{Tx, TxWork};
pub use connect::Backend;
pub use edits::{Aggregate, Expect, Versioned};
pub use error::{blame, Blame, Rejection, StoreError};
pub use migrate::{Migration, MIGRATIONS};
pub use preview::{
    PreviewBasis, PreviewColumn, PreviewCounts, PreviewCursor, PreviewFilter, PreviewOp,
    PreviewQuery, PreviewRow, PreviewRules, PreviewSort, PreviewState, StalePreview,
};
pub use query::{Column, Cond};
pub use resources::Page;
pub use rule_sets::CatalogEdit;
pub use rule_versions::{DraftWrite, Publication, RuleDraft, RuleVersion};
pub use snapshot::{HoldingGroups, Snapshot, StagedGroup, StagedUser};
pub use staged_search::{HoldingSummary, UserPage, UserSearch, UserStatus};
pub use subscriptions::NewSubscription;
pub use sync_settings::{AutoSyncTenant, SyncClaim};
pub use tenants::{IssuedToken, Tenant, TokenInfo, TokenKind, TokenRef};
pub use types::{
    Current, IndexedDoc, Member, MemberOp, Mutation, Mutator, ResourceKind, StoredResource,
    UnstorableAt, Write, WriteOutcome,
};

use sqlx::AnyPool;
use tokio::sync::mpsc;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle to the database. Cheap to clone; all clones share the pool and the writer.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    writer: mpsc::Sender<writer::Job>,
    auth_cache: std::sync::Arc<auth_cache::AuthCache>,
    /// One SQLite write transaction at a time, in arrival order (see [`write_gate`]).
    gate: std::sync::Arc<write_gate::WriteGate>,
    /// The SQLite file, for bulk reads on a direct connection (see [`bulk`]).
    sqlite_path: Option<std::path::PathBuf>,
    /// SQLite's point reads on the calling thread (see [`point_reads`]); `None` on
    /// PostgreSQL.
    point_reads: Option<std::sync::Arc<point_reads::PointReads>>,
}

impl Store {
    /// Connects, applies pending migrations and starts the writer task.
    pub async fn open(database_url: &str) -> Result<Store> {
        let store = Self::connect(database_url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects and starts the writer task without touching the schema.
    pub async fn connect(database_url: &str) -> Result<Store> {
        let (pool, backend) = connect::pool(database_url).await?;
        let gate = std::sync::Arc::new(write_gate::WriteGate::new(backend));
        let writer = writer::spawn(pool.clone(), backend, gate.clone());
        Ok(Store {
            pool,
            backend,
            writer,
            auth_cache: Default::default(),
            gate,
            sqlite_path: connect::sqlite_path(database_url),
            point_reads: connect::sqlite_path(database_url)
                .map(|path| std::sync::Arc::new(point_reads::PointReads::new(path))),
        })
    }

    pub async fn migrate(&self) -> Result<Vec<&'static Migration>> {
        migrate::apply(&self.pool, self.backend).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// How many rows a long job (a sync's changes, a preview's rows) should write in its
    /// next transaction: `whole`, or fewer while SCIM writes are arriving and would wait
    /// behind it (see [`write_gate::rows_per_transaction`]).
    pub fn rows_per_transaction(&self, whole: usize) -> usize {
        write_gate::rows_per_transaction(&self.gate, whole)
    }

    /// Takes the next [`Store::rows_per_transaction`] items off the front of `rest`.
    pub fn next_transaction<'a, T>(&self, rest: &mut &'a [T], whole: usize) -> &'a [T] {
        let (next, after) = rest.split_at(self.rows_per_transaction(whole).min(rest.len()));
        *rest = after;
        next
    }

    /// SQLite's `(journal_mode, synchronous)` as a pooled connection reports them
    /// (`("wal", 2)` = WAL with FULL sync); `None` on PostgreSQL.
    pub async fn sqlite_durability(&self) -> Result<Option<(String, i64)>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        use sqlx::Row;
        let mut conn = self.pool.acquire().await?;
        let mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        let sync: i64 = sqlx::query("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        Ok(Some((mode, sync)))
    }

    /// Waits for all pooled connections to close (used by tests and at shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

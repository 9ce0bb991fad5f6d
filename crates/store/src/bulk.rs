//! Transactions for the crates that keep their own tables here, and bulk reads on
//! SQLite through a direct connection. sqlx runs each SQLite connection on
//! its own thread and hands every row over a channel, which costs ≈ 10 µs a row; reading
//! 100,000 staged users and their accounts that way was most of a preview's time. Here
//! the rows are read on the calling thread (in `block_in_place`) inside one read
//! transaction: a consistent snapshot, beside the writer (WAL).

use crate::{Backend, Result, Store, StoreError};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use sqlx::AnyConnection;
use std::future::Future;
use std::pin::Pin;

/// The future a [`Store::write_transaction`] body returns, borrowing the transaction.
pub type TxWork<'c, T, E> = Pin<Box<dyn Future<Output = std::result::Result<T, E>> + Send + 'c>>;

/// Whether blocking this thread is allowed (`block_in_place`): only on a multi-threaded
/// tokio runtime, where its other tasks can move to another thread.
pub(crate) fn on_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

impl Store {
    /// Runs `read` in a read transaction on a direct SQLite connection. `None` when the
    /// store is PostgreSQL, or when not on a multi-threaded runtime (where blocking the
    /// thread would stall everything); the caller then reads through the pool.
    pub fn sqlite_bulk_read<T>(
        &self,
        read: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Option<Result<T>> {
        self.sqlite_direct(
            OpenFlags::SQLITE_OPEN_READ_ONLY,
            TransactionBehavior::Deferred,
            read,
        )
    }

    /// Runs `write` in an IMMEDIATE write transaction on a direct SQLite connection (it
    /// waits its turn behind the writer task, up to the busy timeout): bulk inserts bind
    /// values natively instead of one by one through sqlx. `None` as for
    /// [`Store::sqlite_bulk_read`].
    pub fn sqlite_bulk_write<T>(
        &self,
        write: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Option<Result<T>> {
        self.sqlite_direct(
            OpenFlags::SQLITE_OPEN_READ_WRITE,
            TransactionBehavior::Immediate,
            write,
        )
    }

    fn sqlite_direct<T>(
        &self,
        access: OpenFlags,
        behavior: TransactionBehavior,
        work: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Option<Result<T>> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let path = self.sqlite_path.as_ref()?;
        if !on_multi_thread_runtime() {
            return None;
        }
        Some(tokio::task::block_in_place(|| {
            let mut conn =
                Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            conn.busy_timeout(std::time::Duration::from_secs(15))?;
            // No mmap: a scan reads the whole file once, and mapped pages would count as
            // this process's resident memory for no gain.
            conn.pragma_update(None, "mmap_size", 0_i64)?;
            // The write turn only once the connection is open: opening it is not writing.
            let writes = matches!(behavior, TransactionBehavior::Immediate);
            let _turn = writes.then(|| self.gate.turn_blocking());
            let tx = conn.transaction_with_behavior(behavior)?;
            let out = work(&tx)?;
            tx.commit()?;
            Ok(out)
        }))
    }
}

/// A write transaction in progress, handed to the body of [`Store::write_transaction`].
/// The store's `*_in` functions write through it, so the work of several aggregates (a
/// run's end, the notifications it causes, the welcome e-mails it owes) commits or rolls
/// back as one.
pub struct Tx<'c> {
    pub(crate) conn: &'c mut AnyConnection,
}

impl Tx<'_> {
    pub(crate) fn backend(&self) -> Backend {
        match self.conn.backend_name() {
            "PostgreSQL" => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }
}

impl Store {
    /// Runs `work` in one write transaction on a pooled connection: committed if it
    /// returns `Ok`, rolled back otherwise. IMMEDIATE on SQLite, so it queues behind the
    /// SCIM writer instead of deadlocking with it.
    pub async fn write_transaction<T, E: From<StoreError>>(
        &self,
        work: impl for<'c> FnOnce(Tx<'c>) -> TxWork<'c, T, E>,
    ) -> std::result::Result<T, E> {
        let _turn = self.gate.turn().await;
        // A sqlx transaction, not a bare BEGIN: if this future is dropped half-way (a
        // client hung up, shutdown), the connection is rolled back before it is reused.
        let mut tx = self
            .pool
            .begin_with(self.backend.begin_write())
            .await
            .map_err(StoreError::from)?;
        match work(Tx { conn: &mut tx }).await {
            Ok(value) => {
                tx.commit().await.map_err(StoreError::from)?;
                Ok(value)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    /// [`Store::write_transaction`] for the store's own modules, on the bare connection.
    pub(crate) async fn write_conn<T, E: From<StoreError>>(
        &self,
        work: impl for<'c> FnOnce(&'c mut AnyConnection) -> TxWork<'c, T, E>,
    ) -> std::result::Result<T, E> {
        self.write_transaction(move |tx| work(tx.conn)).await
    }
}

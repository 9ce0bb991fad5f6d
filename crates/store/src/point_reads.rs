//! Point reads on SQLite (a resource by id, the Entra matching query `userName eq …`) on
//! the calling thread, through a few direct read-only connections kept open.
//!
//! sqlx runs each SQLite connection on its own thread and hands the statement and every
//! row across by channel: for a lookup that SQLite answers in tens of microseconds, the
//! hand-offs were most of the cost (a `perf` profile of `GET /Users?filter=userName eq`
//! spent 42 % of its time in the kernel waking threads, and a third in sqlx's SQLite
//! threads). A statement that reads a handful of rows through a unique index is shorter
//! than those hand-offs, so it runs where it is asked, without leaving the runtime thread.
//! Anything that may read many rows stays on the pool.
//!
//! The connections never wait: their busy timeout is zero, and a read that meets a busy
//! database (a WAL reset in another process) falls back to the pool, which waits.

use crate::query::Bind;
use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::Mutex;

/// Idle connections kept; more may be open at once, and the extra ones are closed.
const KEEP_IDLE: usize = 8;

pub(crate) struct PointReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl PointReads {
    pub(crate) fn new(path: PathBuf) -> PointReads {
        PointReads {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `sql` with `binds` (`$1`, `$2` … in order) and decodes each row; `None` when
    /// the database was busy or this connection could not be had, and the caller should
    /// read through the pool instead.
    pub(crate) fn query<T>(
        &self,
        sql: &str,
        binds: &[Bind],
        decode: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
    ) -> Option<Result<Vec<T>>> {
        let conn = match self.take() {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "opening a direct SQLite read connection failed; reading through the pool");
                return None;
            }
        };
        let read = run(&conn, sql, binds, decode);
        self.give_back(conn);
        match &read {
            Err(StoreError::SqliteRead(e))
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) =>
            {
                None
            }
            _ => Some(read),
        }
    }

    fn take(&self) -> Result<Connection> {
        if let Some(conn) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::ZERO)?;
        // As the pool's connections: pages read from the memory map, not by read().
        conn.pragma_update(None, "mmap_size", 268_435_456_i64)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < KEEP_IDLE {
                idle.push(conn);
            }
        }
    }
}

fn run<T>(
    conn: &Connection,
    sql: &str,
    binds: &[Bind],
    decode: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    for (n, bind) in binds.iter().enumerate() {
        // `$n` is a named parameter to SQLite: find its index by name, whatever the order
        // the SQL first mentions them in.
        let Some(index) = statement.parameter_index(&format!("${}", n + 1))? else {
            continue;
        };
        match bind {
            Bind::Int(v) => statement.raw_bind_parameter(index, v)?,
            Bind::Text(v) => statement.raw_bind_parameter(index, v.as_str())?,
        }
    }
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

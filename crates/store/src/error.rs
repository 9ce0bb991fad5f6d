use std::error::Error as StdError;

/// Why a write's mutator refused the current state (e.g. an invalid PATCH). The store
/// does not know SCIM; the caller downcasts this back to its own error type.
pub type Rejection = Box<dyn StdError + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0} already exists")]
    Conflict(String),
    #[error("the write was refused: {0}")]
    Rejected(Rejection),
    #[error("the database URL {url:?} is not supported: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    SqliteRead(#[from] rusqlite::Error),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the store's writer has stopped")]
    WriterStopped,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A value no database here may hold (see `scimgate_core::text`): the client's
    /// mistake, refused before it reached a database or, failing that, by one.
    #[error("{0}")]
    Unstorable(String),
    /// A group member that is neither a user nor a group of the tenant (or is the group).
    #[error("member {0:?} is not a user or group of this tenant")]
    UnknownMember(String),
    /// An admin's edit was based on an older version of what it changes (see `edits`).
    #[error(transparent)]
    Stale(#[from] scimgate_core::StaleEdit),
    /// The resource changed since the version the client named (`If-Match`).
    #[error("the resource has changed: it is at version {current}")]
    VersionMismatch { current: i64 },
}

impl From<crate::UnstorableAt> for StoreError {
    fn from((place, why): crate::UnstorableAt) -> Self {
        StoreError::Unstorable(format!("{place} {why}"))
    }
}

/// How a database error reflects on the request that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The database refused a value it was given: the client's.
    Input,
    /// Anything else: the database, the connection, the server, or our own bug.
    Outage,
}

/// PostgreSQL's codes for a text value it cannot hold: NUL (`22021`, `22P05`), too long
/// for its column (`22001`), too large for an index entry (`54000`). Only these are the
/// client's: other data exceptions (a bad cast, a bad date) would be our own bugs, and
/// must stay server errors rather than pass as a client's mistake.
const REFUSED_VALUE_CODES: [&str; 4] = ["22021", "22P05", "22001", "54000"];

/// Tells apart a value the database refused from a database that failed.
pub fn blame(err: &sqlx::Error) -> Blame {
    match err {
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|code| REFUSED_VALUE_CODES.contains(&code.as_ref())) =>
        {
            Blame::Input
        }
        _ => Blame::Outage,
    }
}

impl StoreError {
    /// True when the failure is the request's own value, refused by a database: callers
    /// answer 400, not 5xx. Explicit checks catch these first; this is the safety net.
    pub fn is_input_refused(&self) -> bool {
        match self {
            StoreError::Unstorable(_) => true,
            StoreError::Database(err) => blame(err) == Blame::Input,
            _ => false,
        }
    }
}

impl StoreError {
    pub(crate) fn from_write(err: sqlx::Error, what: &str) -> StoreError {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(what.to_owned())
            }
            _ => StoreError::Database(err),
        }
    }
}

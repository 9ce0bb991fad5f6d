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

//! Opening a pool for either backend from one URL, with SQLite made durable.

use crate::{Result, StoreError};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Starts a transaction that will write. On SQLite, IMMEDIATE takes the write lock up
    /// front: no deadlock upgrading a read lock while another process (the CLI) writes.
    pub fn begin_write(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// `scimgate.db`, `sqlite:scimgate.db`, `sqlite://path?mode=rwc` or `postgres://…`.
/// A bare path is a SQLite file, created if absent.
pub(crate) fn normalize_url(raw: &str) -> Result<(String, Backend)> {
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        return Ok((raw.to_owned(), Backend::Postgres));
    }
    let path_and_query = if let Some(rest) = raw.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = raw.strip_prefix("sqlite:") {
        rest
    } else if raw.contains("://") {
        return Err(StoreError::BadUrl {
            url: raw.to_owned(),
            reason: "use a SQLite file path, sqlite:PATH or postgres://…".into(),
        });
    } else {
        raw
    };
    if path_and_query.is_empty() || path_and_query.starts_with(":memory:") {
        return Err(StoreError::BadUrl {
            url: raw.to_owned(),
            reason: "an in-memory SQLite database would lose every write; give a file path".into(),
        });
    }
    let url = if path_and_query.contains("mode=") {
        format!("sqlite://{path_and_query}")
    } else if path_and_query.contains('?') {
        format!("sqlite://{path_and_query}&mode=rwc")
    } else {
        format!("sqlite://{path_and_query}?mode=rwc")
    };
    Ok((url, Backend::Sqlite))
}

/// The file of a SQLite URL (what `normalize_url` would open); `None` for PostgreSQL.
pub(crate) fn sqlite_path(raw_url: &str) -> Option<std::path::PathBuf> {
    let (url, backend) = normalize_url(raw_url).ok()?;
    if backend != Backend::Sqlite {
        return None;
    }
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    Some(std::path::PathBuf::from(path))
}

pub(crate) async fn pool(raw_url: &str) -> Result<(AnyPool, Backend)> {
    sqlx::any::install_default_drivers();
    let (url, backend) = normalize_url(raw_url)?;
    let options = AnyConnectOptions::from_str(&url).map_err(|e| StoreError::BadUrl {
        url: raw_url.to_owned(),
        reason: e.to_string(),
    })?;
    let pool = AnyPoolOptions::new()
        .max_connections(match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        })
        .acquire_timeout(Duration::from_secs(30))
        // No ping before every acquire: it doubled each query's round trips (a hand-off to
        // SQLite's worker thread, a Sync to PostgreSQL) and halved lookups per second. A
        // connection that died meanwhile (PostgreSQL restarted) fails the one statement
        // that meets it and is then discarded by the pool.
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers run beside the writer; synchronous=FULL makes every
                    // acknowledged commit survive a power cut (a lost deprovisioning would
                    // leave a departed employee with CRM access).
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                        "PRAGMA busy_timeout = 15000",
                        // Reads from memory-mapped pages and a larger page cache instead
                        // of a read() system call per page.
                        "PRAGMA mmap_size = 268435456",
                        "PRAGMA cache_size = -16384",
                        "PRAGMA foreign_keys = ON",
                    ] {
                        conn.execute(pragma).await?;
                    }
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok((pool, backend))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bulk_reader_opens_the_same_sqlite_file() {
        let path = |url: &str| sqlite_path(url).map(|p| p.display().to_string());
        assert_eq!(path("scimgate.db").as_deref(), Some("scimgate.db"));
        assert_eq!(path("sqlite:/tmp/x.db").as_deref(), Some("/tmp/x.db"));
        assert_eq!(
            path("sqlite:///tmp/y.db?mode=rwc").as_deref(),
            Some("/tmp/y.db")
        );
        assert_eq!(path("postgres://u@h/db"), None);
    }

    #[test]
    fn bare_paths_are_sqlite_files_created_on_demand() {
        let (url, backend) = normalize_url("scimgate.db").unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert_eq!(url, "sqlite://scimgate.db?mode=rwc");
        assert_eq!(
            normalize_url("sqlite:/tmp/x.db").unwrap().0,
            "sqlite:///tmp/x.db?mode=rwc"
        );
        assert_eq!(
            normalize_url("sqlite://x.db?mode=ro").unwrap().0,
            "sqlite://x.db?mode=ro"
        );
    }

    #[test]
    fn postgres_urls_pass_through_and_others_are_refused() {
        assert_eq!(
            normalize_url("postgres://u@h/db").unwrap().1,
            Backend::Postgres
        );
        assert!(matches!(
            normalize_url("mysql://h/db"),
            Err(StoreError::BadUrl { .. })
        ));
        assert!(matches!(
            normalize_url("sqlite::memory:"),
            Err(StoreError::BadUrl { .. })
        ));
    }
}

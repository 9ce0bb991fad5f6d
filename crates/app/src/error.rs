//! The application's one error type. Front ends map it once each: the admin API (and
//! the web UI) to an HTTP status, the CLI to a message and an exit code.

use scimgate_crm::CrmError;
use scimgate_notify::NotifyError;
use scimgate_rules::LoadError;
use scimgate_scheduler::SyncError;
use scimgate_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// What the request names does not exist (for this tenant).
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong: a bad value, a bad name, an unknown kind.
    #[error("{0}")]
    Invalid(String),
    /// Who is asking could not be verified: a refused sign-in (the message never says
    /// which part was wrong).
    #[error("{0}")]
    Unauthorized(String),
    /// A rule set that does not compile: every problem, each naming its rule and place.
    #[error("{context}:\n{}", scimgate_rules::problems_text(problems))]
    Rules {
        context: String,
        problems: Vec<LoadError>,
    },
    /// The change is valid but the current state refuses it (the saved rules need what a
    /// catalogue change removes; a run that is not held).
    #[error("{0}")]
    Conflict(String),
    /// Another run of this tenant holds the sync lease.
    #[error("a sync of this tenant is already running; try again when it has finished")]
    Busy,
    /// The edit was based on an older version of what it changes.
    #[error(transparent)]
    Stale(#[from] scimgate_core::StaleEdit),
    /// A write that must name the version it was based on did not.
    #[error("name the version of {what} this change is based on: send If-Match with the ETag (or the `version`) that reading it returned")]
    VersionRequired { what: &'static str },
    /// The tenant's CRM target could not be read or refused scimgate (unreachable, a
    /// refused token): the request was right, the application on the other side was not.
    #[error("the CRM target: {0}")]
    Target(String),
    /// The database refused a value the client sent (too long to index, a NUL).
    #[error("{0}")]
    Unstorable(String),
    /// Not the client's doing: the database, the CRM target, or a bug. The detail is for
    /// the log, not for the client.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// A one-line message for a client: the detail of an internal error stays out.
    pub fn is_internal(&self) -> bool {
        matches!(self, AppError::Internal(_))
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::NotFound => AppError::NotFound("not found".into()),
            StoreError::Conflict(what) => AppError::Conflict(format!("{what} already exists")),
            StoreError::Unstorable(why) => AppError::Unstorable(why),
            e @ StoreError::UnknownMember(_) => AppError::Invalid(e.to_string()),
            StoreError::Stale(edit) => AppError::Stale(edit),
            e @ StoreError::VersionMismatch { .. } => AppError::Conflict(e.to_string()),
            e if e.is_input_refused() => {
                tracing::info!(error = %e, "the database refused a client's value");
                AppError::Unstorable(UNSTORABLE.into())
            }
            e => AppError::Internal(e.to_string()),
        }
    }
}

const UNSTORABLE: &str = "a value is too long or holds a character that cannot be stored";

impl From<SyncError> for AppError {
    fn from(e: SyncError) -> AppError {
        match e {
            SyncError::Rules(m) | SyncError::Invalid(m) => AppError::Invalid(m),
            SyncError::NotFound(m) => AppError::NotFound(m),
            SyncError::Busy => AppError::Busy,
            SyncError::Conflict(m) => AppError::Conflict(m),
            SyncError::Crm(e) => e.into(),
            SyncError::Notify(e) => e.into(),
            SyncError::Store(e) => e.into(),
            e @ SyncError::Corrupt(_) => AppError::Internal(e.to_string()),
        }
    }
}

impl From<CrmError> for AppError {
    fn from(e: CrmError) -> AppError {
        match e {
            CrmError::Store(e) => e.into(),
            e @ (CrmError::Refused(_) | CrmError::Unavailable(_)) => {
                AppError::Internal(e.to_string())
            }
        }
    }
}

impl From<NotifyError> for AppError {
    fn from(e: NotifyError) -> AppError {
        match e {
            NotifyError::Invalid(m) => AppError::Invalid(m),
            NotifyError::NotFound => AppError::NotFound("not found".into()),
            NotifyError::Store(e) => e.into(),
            e @ NotifyError::Corrupt(_) => AppError::Internal(e.to_string()),
        }
    }
}

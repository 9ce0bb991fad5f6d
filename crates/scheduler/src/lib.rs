//! The sync engine: plan (preview) what the rules make of the staged users against the
//! CRM, apply it (one user, the company, or automatically), hold mass deprovisioning for
//! an admin, restart, and keep the history of every run. docs/design.md §6.

pub mod auto;
pub mod cron;
pub mod plan;
pub mod runs;
pub mod settings;
mod sync;

pub use plan::{Action, FieldChange, Plan, PlanItem, Scope, SeatUse, Totals};
pub use runs::{Run, RunOutcome, RunStatus, RunUser, Trigger};
pub use scimgate_core::RuleSource;
pub use settings::SyncSettings;
pub use sync::{
    preview_row, Job, Outcome, PreviewSummary, Progress, Refresh, StoredPreview, Syncer,
    INCREMENTAL_MAX_USERS,
};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] scimgate_store::StoreError),
    #[error(transparent)]
    Crm(#[from] scimgate_crm::CrmError),
    #[error(transparent)]
    Notify(#[from] scimgate_notify::NotifyError),
    #[error("corrupt sync data: {0}")]
    Corrupt(String),
    /// The rule set does not compile (every problem, one per line).
    #[error("{0}")]
    Rules(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// Another run of this tenant holds the sync lease.
    #[error("a sync of this tenant is already running; try again when it has finished")]
    Busy,
    /// An approve or reject of a run that is not held.
    #[error("{0}")]
    Conflict(String),
}

pub type Result<T, E = SyncError> = std::result::Result<T, E>;

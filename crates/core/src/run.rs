//! A sync run as the history keeps it: what started it, how it ended, what it did to
//! each user. Stored by name (`name()`), read back with `parse`.

use crate::named::named;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    ManualUser,
    ManualCompany,
    Schedule,
    Change,
}

named!(Trigger {
    ManualUser => "manual_user",
    ManualCompany => "manual_company",
    Schedule => "schedule",
    Change => "change",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    /// Could not complete (an error, or the process stopped); the next run completes it.
    Failed,
    /// The mass-deprovision guard held its deprovisions back for an admin to decide.
    Held,
    Approved,
    Rejected,
    /// Held, then a newer held run took its place.
    Superseded,
    /// Stopped by an admin at a safe point; the next run completes what it left.
    Cancelled,
}

named!(RunStatus {
    Running => "running",
    Completed => "completed",
    Failed => "failed",
    Held => "held",
    Approved => "approved",
    Rejected => "rejected",
    Superseded => "superseded",
    Cancelled => "cancelled",
});

/// What a run did to one user it touched (users left unchanged are counted, not listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Created,
    Updated,
    Deprovisioned,
    Error,
    /// A deprovision the guard held back.
    Held,
}

named!(RunOutcome {
    Created => "created",
    Updated => "updated",
    Deprovisioned => "deprovisioned",
    Error => "error",
    Held => "held",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub id: i64,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub users_received: i64,
    pub users_synced: i64,
    pub created: i64,
    pub updated: i64,
    pub deprovisioned: i64,
    pub unchanged: i64,
    pub errors: i64,
    /// Deprovisions the guard held back.
    pub held: i64,
    pub message: Option<String>,
    /// The rules the run used: `published` (automatic sync always), or `draft`.
    pub rules: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunUser {
    pub user_id: String,
    pub username: String,
    pub outcome: RunOutcome,
    pub account: Option<i64>,
    pub error: Option<String>,
}

/// A run's counts as applied so far (written after every chunk, so a run that stops
/// half-way still shows what it did).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub users_received: u64,
    pub users_synced: u64,
    pub created: u64,
    pub updated: u64,
    pub deprovisioned: u64,
    pub unchanged: u64,
    pub errors: u64,
    pub held: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back() {
        for t in Trigger::ALL {
            assert_eq!(Trigger::parse(t.name()), Some(*t));
        }
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.name()), Some(*s));
        }
        for o in RunOutcome::ALL {
            assert_eq!(RunOutcome::parse(o.name()), Some(*o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.name());
        }
        assert_eq!(RunStatus::parse("done"), None);
        assert!(Trigger::Schedule == "schedule");
    }
}

//! The queue of account pushes to a tenant's CRM target, as admins see it.

use serde::Serialize;

/// How many of a tenant's pushes are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PushCounts {
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
}

/// A push that will not be tried again until an admin retries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadPush {
    pub id: i64,
    pub account_pk: i64,
    /// `None` when the account is gone.
    pub username: Option<String>,
    pub attempts: i64,
    pub last_error: String,
    pub queued_at: String,
}

/// How a target's user differs from what scimgate would push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// The user is there, but a mapped attribute was changed on the target (by hand, or
    /// by the application).
    Edited,
    /// An active account has no user on the target.
    Missing,
    /// A user on the target that no account of scimgate matches (left alone).
    Extra,
}

/// One attribute that differs: its SCIM path, what scimgate would send, what is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub attribute: String,
    pub expected: serde_json::Value,
    pub found: serde_json::Value,
}

/// One account (or target user) out of step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub kind: DriftKind,
    /// The account; `None` for an extra user.
    pub account_pk: Option<i64>,
    pub username: String,
    /// The user's id on the target; `None` for a missing one.
    pub target_id: Option<String>,
    /// For an edited user, what differs.
    pub differences: Vec<Difference>,
}

/// A reconcile: the target's users read back and compared with the accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    pub accounts: usize,
    pub target_users: usize,
    pub drift: Vec<Drift>,
}

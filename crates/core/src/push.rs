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

//! Admins' edits carry the version they were based on; an edit based on an older
//! version than the current one is refused with what changed.

/// An edit of `what` based on version `expected`, when it is at `current`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} changed since version {expected}: it is at version {current} (changed at {changed_at}); read it again and redo the change")]
pub struct StaleEdit {
    /// What the edit changes, as a sentence names it ("the rule set").
    pub what: &'static str,
    pub expected: i64,
    pub current: i64,
    pub changed_at: String,
}

//! The holding area's contents as the planner and the admin screens see them.

use serde_json::Value;

/// A staged user: the SCIM resource as the IdP sent it.
#[derive(Debug, Clone)]
pub struct StagedUser {
    pub id: String,
    pub external_id: Option<String>,
    /// When the IdP first sent the user (RFC 3339): the order in which users get seats.
    pub created_at: String,
    pub body: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedGroup {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
}

/// The holding area of one tenant at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub users: Vec<StagedUser>,
    pub groups: Vec<StagedGroup>,
    /// `(group id, member id)`.
    pub memberships: Vec<(String, String)>,
    /// The tenant's change sequence when the snapshot was read.
    pub change_seq: i64,
}

/// Whether a SCIM user is active: `active` false — a boolean, or Entra's string
/// `"False"` — means inactive; anything else, or no `active` at all, means active. The
/// rules, the planner, the admin API and the web UI all decide it here.
pub fn is_active(raw: &Value) -> bool {
    match raw.get("active") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
        _ => true,
    }
}

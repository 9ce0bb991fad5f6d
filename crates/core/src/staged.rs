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

//! The holding area's contents as the planner and the admin screens see them.

use serde_json::Value;
use std::collections::HashMap;

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

/// The holding area's groups with, for each member, the groups it is a direct member of:
/// what the planner keeps beside the users it reads chunk by chunk. Indexed by member
/// rather than kept as `(group, member)` pairs, so 100,000 users in 3–4 groups each cost
/// one id and a few small indexes apiece, not two ids per membership.
#[derive(Debug, Clone, Default)]
pub struct HoldingGroups {
    pub groups: Vec<StagedGroup>,
    /// Member id → indexes into `groups`, in the order the memberships were read.
    pub of_member: HashMap<String, Vec<u32>>,
    /// The tenant's change sequence when the holding area was read.
    pub change_seq: i64,
    /// How many staged users the read hands over (so a planner can size its plan once).
    pub users: usize,
}

impl HoldingGroups {
    /// Records that `member` is in the group with this id; a membership of a group
    /// that is not among `groups` is left out, as no group can be shown for it.
    pub fn add_membership(&mut self, by_id: &HashMap<String, u32>, group_id: &str, member: &str) {
        if let Some(&n) = by_id.get(group_id) {
            match self.of_member.get_mut(member) {
                Some(list) => list.push(n),
                None => {
                    self.of_member.insert(member.to_owned(), vec![n]);
                }
            }
        }
    }

    /// The index [`HoldingGroups::add_membership`] looks groups up in.
    pub fn group_ids(&self) -> HashMap<String, u32> {
        (self.groups.iter().enumerate())
            .map(|(n, g)| (g.id.clone(), n as u32))
            .collect()
    }

    /// The groups `member` is a direct member of.
    pub fn groups_of<'a>(&'a self, member: &str) -> impl Iterator<Item = &'a StagedGroup> {
        (self.of_member.get(member).into_iter().flatten()).map(|n| &self.groups[*n as usize])
    }

    /// As `(group id, member id)` pairs, with `users` beside them.
    pub fn into_snapshot(self, users: Vec<StagedUser>) -> Snapshot {
        let mut memberships = Vec::new();
        for (member, list) in &self.of_member {
            for n in list {
                memberships.push((self.groups[*n as usize].id.clone(), member.clone()));
            }
        }
        Snapshot {
            users,
            groups: self.groups,
            memberships,
            change_seq: self.change_seq,
        }
    }
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

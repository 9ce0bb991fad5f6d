//! What the store keeps and the writes it accepts. The store knows nothing of SCIM
//! semantics: callers hand it documents already validated, with their indexed values.

use crate::Rejection;
use scimgate_core::Timestamp;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub(crate) fn table(self) -> &'static str {
        match self {
            ResourceKind::User => "staged_users",
            ResourceKind::Group => "staged_groups",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
}

/// A resource body plus the values the store indexes. The body excludes what the server
/// owns (`id`, `meta`) and, for groups, `members` (kept one row per member).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexedDoc {
    pub body: Value,
    pub user_name: Option<String>,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: Option<bool>,
    pub emails: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub value: String,
    pub member_type: Option<String>,
    pub display: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOp {
    /// Adds members; an existing member is left as it is (Entra re-sends members freely).
    Add(Vec<Member>),
    /// Removes exactly these ids; ids that are not members are ignored.
    Remove(Vec<String>),
    RemoveAll,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub kind: ResourceKind,
    pub id: String,
    pub body: Value,
    pub created: Timestamp,
    pub last_modified: Timestamp,
    pub version: i64,
    /// Internal ordering key: stable paging and resumable scans.
    pub position: i64,
}

/// The state a mutator sees, read inside the write's transaction.
#[derive(Debug, Clone)]
pub struct Current {
    pub id: String,
    pub body: Value,
    pub version: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Mutation {
    pub doc: IndexedDoc,
    pub members: Vec<MemberOp>,
}

/// Computes the new state from the current one, inside the transaction that writes it,
/// so concurrent PATCHes of one resource never lose each other's changes.
pub type Mutator = Box<dyn FnOnce(Current) -> Result<Mutation, Rejection> + Send>;

pub enum Write {
    Create {
        kind: ResourceKind,
        doc: IndexedDoc,
        members: Vec<Member>,
    },
    Mutate {
        kind: ResourceKind,
        id: String,
        mutator: Mutator,
    },
    Delete {
        kind: ResourceKind,
        id: String,
    },
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Write::Create { kind, .. } => write!(f, "Create({})", kind.name()),
            Write::Mutate { kind, id, .. } => write!(f, "Mutate({}, {id})", kind.name()),
            Write::Delete { kind, id } => write!(f, "Delete({}, {id})", kind.name()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The resource as written; `None` after a delete.
    pub resource: Option<StoredResource>,
    /// The tenant's change sequence number assigned to this write.
    pub change_seq: i64,
}

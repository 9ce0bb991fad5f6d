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
/// so concurrent PATCHes of one resource never lose each other's changes. It may be
/// called more than once: a batch the database refuses is retried in parts.
pub type Mutator = Box<dyn Fn(Current) -> Result<Mutation, Rejection> + Send + Sync>;

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
        /// Delete only if the resource is at one of these versions (`If-Match`);
        /// otherwise [`crate::StoreError::VersionMismatch`].
        if_match: Option<Vec<i64>>,
    },
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Write::Create { kind, .. } => write!(f, "Create({})", kind.name()),
            Write::Mutate { kind, id, .. } => write!(f, "Mutate({}, {id})", kind.name()),
            Write::Delete { kind, id, .. } => write!(f, "Delete({}, {id})", kind.name()),
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

/// A value the store refuses before any database sees it: where it is, and why.
pub type UnstorableAt = (String, scimgate_core::text::Unstorable);

impl IndexedDoc {
    /// The store's input rules (see [`scimgate_core::text`]): indexed values of at most
    /// `MAX_INDEXED_BYTES`, every string and key of the body within `MAX_TEXT_BYTES`,
    /// no NUL anywhere. Indexed values are checked first: their tighter limit is the
    /// clearer message.
    pub fn check_storable(&self) -> Result<(), UnstorableAt> {
        self.check_storable_over(None)
    }

    /// The same rules for a changed resource: values the stored body (`before`) already
    /// holds pass, so a resource stored before the rules can still be changed elsewhere.
    pub fn check_storable_over(&self, before: Option<&Value>) -> Result<(), UnstorableAt> {
        use scimgate_core::text::{check_storable, check_storable_json_over, MAX_INDEXED_BYTES};
        let kept = |name: &str, value: &str| {
            before.and_then(|b| b.get(name)).and_then(Value::as_str) == Some(value)
        };
        let indexed = [
            ("userName", &self.user_name),
            ("externalId", &self.external_id),
            ("displayName", &self.display_name),
        ];
        for (name, value) in indexed {
            if let Some(value) = value.as_deref().filter(|v| !kept(name, v)) {
                check_storable(value, MAX_INDEXED_BYTES).map_err(|why| (name.to_owned(), why))?;
            }
        }
        let kept_email = |email: &str| {
            before
                .and_then(|b| b.get("emails"))
                .and_then(Value::as_array)
                .is_some_and(|old| {
                    old.iter()
                        .any(|e| e.get("value").and_then(Value::as_str) == Some(email))
                })
        };
        for email in self.emails.iter().filter(|e| !kept_email(e)) {
            check_storable(email, MAX_INDEXED_BYTES)
                .map_err(|why| ("emails.value".to_owned(), why))?;
        }
        check_storable_json_over(&self.body, before)
    }
}

impl Member {
    /// A member's id is indexed; its type and display are plain text.
    pub fn check_storable(&self) -> Result<(), UnstorableAt> {
        use scimgate_core::text::{check_storable, MAX_TEXT_BYTES};
        check_member_id(&self.value)?;
        for (name, value) in [
            ("members.type", &self.member_type),
            ("members.display", &self.display),
        ] {
            if let Some(value) = value {
                check_storable(value, MAX_TEXT_BYTES).map_err(|why| (name.to_owned(), why))?;
            }
        }
        Ok(())
    }
}

fn check_member_id(id: &str) -> Result<(), UnstorableAt> {
    scimgate_core::text::check_storable(id, scimgate_core::text::MAX_INDEXED_BYTES)
        .map_err(|why| ("members.value".to_owned(), why))
}

impl MemberOp {
    pub fn check_storable(&self) -> Result<(), UnstorableAt> {
        match self {
            MemberOp::Add(members) => members.iter().try_for_each(Member::check_storable),
            MemberOp::Remove(ids) => ids.iter().try_for_each(|id| check_member_id(id)),
            MemberOp::RemoveAll => Ok(()),
        }
    }
}

impl Mutation {
    /// Checks the new state; what the stored body (`before`) already holds passes.
    pub fn check_storable_over(&self, before: &Value) -> Result<(), UnstorableAt> {
        self.doc.check_storable_over(Some(before))?;
        self.members.iter().try_for_each(MemberOp::check_storable)
    }
}

impl Write {
    /// Checks what can be checked before the write joins a batch; a mutation's result is
    /// checked by the writer once the mutator has computed it.
    pub fn check_storable(&self) -> Result<(), UnstorableAt> {
        let id_ok = |id: &str| {
            scimgate_core::text::check_storable(id, scimgate_core::text::MAX_INDEXED_BYTES)
                .map_err(|why| ("id".to_owned(), why))
        };
        match self {
            Write::Create { doc, members, .. } => {
                doc.check_storable()?;
                members.iter().try_for_each(Member::check_storable)
            }
            Write::Mutate { id, .. } | Write::Delete { id, .. } => id_ok(id),
        }
    }
}

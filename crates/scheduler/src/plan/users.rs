//! Staged users as the planner takes them: what the rules read of each (the document
//! and its groups) beside who it is, and the CRM identity taken from the document.

use scimgate_core::{HoldingGroups, StagedGroup, StagedUser};
use scimgate_rules::{GroupRef, UserInput};
use std::sync::Arc;

/// Who a staged user is, beside what the rules read of it.
#[derive(Debug, Clone)]
pub struct UserMeta {
    pub id: String,
    pub external_id: Option<String>,
    /// When the IdP first sent the user (RFC 3339).
    pub arrived: String,
}

/// Staged users ready to plan: `inputs[i]` is what the rules see of `meta[i]`. Kept as
/// two vectors so the rules can evaluate `inputs` as one slice on every core.
#[derive(Debug, Default)]
pub struct PlanUsers {
    pub meta: Vec<UserMeta>,
    pub inputs: Vec<UserInput>,
}

impl PlanUsers {
    /// A chunk of the holding area's users, as the rules see them.
    pub fn of_chunk(holding: &HoldingGroups, users: Vec<StagedUser>) -> PlanUsers {
        let mut chunk = PlanUsers::default();
        for user in users {
            let groups = (holding.groups_of(&user.id))
                .map(|g| GroupRef {
                    display_name: g.display_name.clone(),
                    external_id: g.external_id.clone(),
                })
                .collect();
            chunk.inputs.push(UserInput {
                user: user.body,
                groups,
            });
            chunk.meta.push(UserMeta {
                id: user.id,
                external_id: user.external_id,
                arrived: user.created_at,
            });
        }
        chunk
    }

    /// One staged user and its groups.
    pub fn one(user: StagedUser, groups: Vec<StagedGroup>) -> PlanUsers {
        PlanUsers {
            inputs: vec![UserInput {
                user: user.body,
                groups: groups
                    .into_iter()
                    .map(|g| GroupRef {
                        display_name: g.display_name,
                        external_id: g.external_id,
                    })
                    .collect(),
            }],
            meta: vec![UserMeta {
                id: user.id,
                external_id: user.external_id,
                arrived: user.created_at,
            }],
        }
    }
}

/// userName, a display name and the primary e-mail, shared between a plan item and
/// its target account.
pub(super) type Identity = (Arc<str>, Option<Arc<str>>, Option<Arc<str>>);

/// The CRM identity of a staged user: userName, a display name, the primary e-mail.
pub(super) fn identity(meta: &UserMeta, body: &serde_json::Value) -> Identity {
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
    let username = text(body.get("userName")).unwrap_or_else(|| meta.id.clone());
    let display = text(body.get("displayName")).or_else(|| {
        let name = body.get("name")?;
        let formatted = text(name.get("formatted"));
        formatted.or_else(|| {
            let parts: Vec<String> = [name.get("givenName"), name.get("familyName")]
                .into_iter()
                .filter_map(text)
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
    });
    let emails = body.get("emails").and_then(|e| e.as_array());
    let email = emails.and_then(|list| {
        let primary = list.iter().find(|e| {
            e.get("primary").is_some_and(|p| {
                p.as_bool() == Some(true)
                    || p.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
            })
        });
        text(primary.or(list.first()).and_then(|e| e.get("value")))
    });
    (
        username.into(),
        display.map(Into::into),
        email.map(Into::into),
    )
}

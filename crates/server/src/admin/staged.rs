//! The holding area as the IdP filled it: staged users and groups, searched in memory
//! from one snapshot (an admin API, not a hot path).

use super::call::Call;
use super::error::{ApiError, Result};
use super::params::Params;
use axum::Json;
use scimgate_store::{Snapshot, StagedGroup, StagedUser};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

fn contains(haystack: Option<&str>, needle: &str) -> bool {
    haystack.is_some_and(|h| h.to_lowercase().contains(needle))
}

fn text<'a>(user: &'a StagedUser, key: &str) -> Option<&'a str> {
    user.body.get(key).and_then(Value::as_str)
}

/// Group display names by member id, and each group's member count.
struct Memberships<'a> {
    groups_of: HashMap<&'a str, Vec<&'a StagedGroup>>,
    members_of: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Memberships<'a> {
    fn of(snapshot: &'a Snapshot) -> Memberships<'a> {
        let by_id: HashMap<&str, &StagedGroup> =
            snapshot.groups.iter().map(|g| (g.id.as_str(), g)).collect();
        let mut groups_of: HashMap<&str, Vec<&StagedGroup>> = HashMap::new();
        let mut members_of: HashMap<&str, Vec<&str>> = HashMap::new();
        for (group, member) in &snapshot.memberships {
            if let Some(g) = by_id.get(group.as_str()) {
                groups_of.entry(member.as_str()).or_default().push(g);
            }
            members_of
                .entry(group.as_str())
                .or_default()
                .push(member.as_str());
        }
        Memberships {
            groups_of,
            members_of,
        }
    }

    fn groups(&self, user: &str) -> &[&'a StagedGroup] {
        self.groups_of.get(user).map(Vec::as_slice).unwrap_or(&[])
    }

    fn member_count(&self, group: &str) -> usize {
        self.members_of.get(group).map_or(0, Vec::len)
    }
}

fn user_json(user: &StagedUser, groups: &[&StagedGroup]) -> Value {
    json!({
        "id": user.id,
        "userName": text(user, "userName"),
        "externalId": user.external_id,
        "displayName": text(user, "displayName"),
        // As the rules see it.
        "active": scimgate_rules::is_active(&user.body),
        "groups": groups.iter().map(|g| g.display_name.as_str()).collect::<Vec<_>>(),
    })
}

fn user_list<'a>(
    users: impl Iterator<Item = &'a StagedUser>,
    memberships: &Memberships<'_>,
    params: &Params,
) -> Result<Value> {
    let page = params.page()?;
    let users: Vec<&StagedUser> = users.collect();
    let total = users.len();
    let users: Vec<Value> = page
        .of(users)
        .into_iter()
        .map(|u| user_json(u, memberships.groups(&u.id)))
        .collect();
    Ok(json!({"total": total, "users": users}))
}

/// `search` matches userName, displayName or externalId (case-insensitive, contains);
/// `group` keeps members of the group with that display name (case-insensitive) or id.
pub async fn users(call: Call) -> Result<Json<Value>> {
    let params = call.params.only(&["search", "group", "offset", "limit"])?;
    let search = params.one("search")?.map(str::to_lowercase);
    let group = params.one("group")?;
    let snapshot = call.app.holding_area(&call.tenant).await?;
    let memberships = Memberships::of(&snapshot);
    let users = snapshot.users.iter().filter(|u| {
        let found = search.as_deref().is_none_or(|s| {
            contains(text(u, "userName"), s)
                || contains(text(u, "displayName"), s)
                || contains(u.external_id.as_deref(), s)
        });
        let in_group = group.is_none_or(|g| {
            memberships
                .groups(&u.id)
                .iter()
                .any(|m| m.id == g || m.display_name.eq_ignore_ascii_case(g))
        });
        found && in_group
    });
    Ok(Json(user_list(users, &memberships, params)?))
}

/// `search` matches displayName or externalId (case-insensitive, contains).
pub async fn groups(call: Call) -> Result<Json<Value>> {
    let params = call.params.only(&["search", "offset", "limit"])?;
    let search = params.one("search")?.map(str::to_lowercase);
    let page = params.page()?;
    let snapshot = call.app.holding_area(&call.tenant).await?;
    let memberships = Memberships::of(&snapshot);
    let groups: Vec<&StagedGroup> = snapshot
        .groups
        .iter()
        .filter(|g| {
            search.as_deref().is_none_or(|s| {
                contains(Some(&g.display_name), s) || contains(g.external_id.as_deref(), s)
            })
        })
        .collect();
    let total = groups.len();
    let groups: Vec<Value> = page
        .of(groups)
        .into_iter()
        .map(|g| {
            json!({
                "id": g.id,
                "displayName": g.display_name,
                "externalId": g.external_id,
                "members": memberships.member_count(&g.id),
            })
        })
        .collect();
    Ok(Json(json!({"total": total, "groups": groups})))
}

pub async fn members(call: Call) -> Result<Json<Value>> {
    let params = call.params.only(&["offset", "limit"])?;
    let id = call.path.get("id")?;
    let snapshot = call.app.holding_area(&call.tenant).await?;
    if !snapshot.groups.iter().any(|g| g.id == id) {
        return Err(ApiError::not_found(format!(
            "no staged group with id {id:?}"
        )));
    }
    let memberships = Memberships::of(&snapshot);
    let members: HashSet<&str> = memberships
        .members_of
        .get(id)
        .into_iter()
        .flatten()
        .copied()
        .collect();
    let users = snapshot
        .users
        .iter()
        .filter(|u| members.contains(u.id.as_str()));
    Ok(Json(user_list(users, &memberships, params)?))
}

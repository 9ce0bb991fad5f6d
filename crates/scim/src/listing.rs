//! Listing and searching: `GET /Users` and `/Groups` with a filter and paging, their
//! `.search`, and the root `.search` over both.

use crate::error::ScimError;
use crate::filter::{self, Target};
use crate::handlers::kind;
use crate::http::{scim_response, Authed, ListRequest, ScimBody};
use crate::render::render;
use crate::schema::{self, ResourceType};
use crate::translate::{mentions_members, translate};
use crate::ScimState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use scimgate_store::{Member, StoredResource};
use serde_json::{json, Value};
use std::collections::HashMap;

type Result<T> = std::result::Result<T, ScimError>;

/// Matching resources of one type: the total and the requested window, rendered.
async fn search_one(
    state: &ScimState,
    auth: &Authed,
    rt: ResourceType,
    req: &ListRequest,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<Value>)> {
    let translation = req.filter.as_ref().map(|f| translate(f, rt));
    let (total, page) = match (&req.filter, translation) {
        (None, _) => {
            let page = state
                .store
                .list(&auth.tenant, kind(rt), None, offset, limit)
                .await?;
            (page.total, page.resources)
        }
        (Some(_), Some(t)) if t.exact => {
            let page = state
                .store
                .list(&auth.tenant, kind(rt), t.cond.as_ref(), offset, limit)
                .await?;
            (page.total, page.resources)
        }
        (Some(filter), translation) => {
            let cond = translation.and_then(|t| t.cond);
            scan_filtered(state, auth, rt, filter, cond.as_ref(), offset, limit).await?
        }
    };
    let mut shown = Vec::with_capacity(page.len());
    let mut members = if rt == ResourceType::Group && req.projection.includes("members") {
        Some(members_by_group(state, auth, &page).await?)
    } else {
        None
    };
    for stored in &page {
        let mine = members
            .as_mut()
            .map(|m| m.remove(&stored.id).unwrap_or_default());
        shown.push(
            req.projection
                .apply(rt, render(rt, stored, mine.as_deref(), &auth.base)),
        );
    }
    Ok((total, shown))
}

/// The members of the given groups with one query, keyed by group id.
async fn members_by_group(
    state: &ScimState,
    auth: &Authed,
    groups: &[StoredResource],
) -> Result<HashMap<String, Vec<Member>>> {
    let mut by_group: HashMap<String, Vec<Member>> = HashMap::new();
    if groups.is_empty() {
        return Ok(by_group);
    }
    let ids: Vec<&str> = groups.iter().map(|r| r.id.as_str()).collect();
    for (group, member) in state.store.members(&auth.tenant, &ids).await? {
        by_group.entry(group).or_default().push(member);
    }
    Ok(by_group)
}

const SCAN_CHUNK: i64 = 500;

/// Evaluates a filter the database could not answer exactly over its candidates,
/// chunk by chunk, counting every match and keeping the requested window.
#[allow(clippy::too_many_arguments)]
async fn scan_filtered(
    state: &ScimState,
    auth: &Authed,
    rt: ResourceType,
    filter: &filter::Filter,
    cond: Option<&scimgate_store::Cond>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<StoredResource>)> {
    let needs_members = rt == ResourceType::Group && mentions_members(filter);
    let mut after = 0;
    let mut total = 0;
    let mut window = Vec::new();
    loop {
        let chunk = state
            .store
            .scan(&auth.tenant, kind(rt), cond, after, SCAN_CHUNK)
            .await?;
        let Some(last) = chunk.last() else { break };
        after = last.position;
        let mut members = if needs_members {
            Some(members_by_group(state, auth, &chunk).await?)
        } else {
            None
        };
        for stored in chunk {
            let mine = members
                .as_mut()
                .map(|m| m.remove(&stored.id).unwrap_or_default());
            let doc = render(rt, &stored, mine.as_deref(), &auth.base);
            let hit = filter::eval(filter, &doc, Target::Resource(rt))
                .map_err(|e| ScimError::invalid_filter(e.to_string()))?;
            if hit {
                if total >= offset && (total - offset) < limit {
                    window.push(stored);
                }
                total += 1;
            }
        }
    }
    Ok((total, window))
}

pub(crate) fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

pub async fn list(
    state: &ScimState,
    auth: Authed,
    rt: ResourceType,
    req: ListRequest,
) -> Result<Response> {
    let (total, shown) = search_one(state, &auth, rt, &req, req.start_index - 1, req.count).await?;
    Ok(scim_response(
        StatusCode::OK,
        &list_response(total, req.start_index, shown),
        HeaderMap::new(),
    ))
}

/// POST `/.search` at the tenant root: Users, then Groups, paged as one list.
pub async fn search_all(state: &ScimState, auth: Authed, req: ListRequest) -> Result<Response> {
    let offset = req.start_index - 1;
    let (users_total, mut shown) =
        search_one(state, &auth, ResourceType::User, &req, offset, req.count).await?;
    let group_offset = (offset - users_total).max(0);
    let group_limit = req.count - shown.len() as i64;
    let (groups_total, groups) = search_one(
        state,
        &auth,
        ResourceType::Group,
        &req,
        group_offset,
        group_limit,
    )
    .await?;
    shown.extend(groups);
    Ok(scim_response(
        StatusCode::OK,
        &list_response(users_total + groups_total, req.start_index, shown),
        HeaderMap::new(),
    ))
}

// ---- axum entry points -------------------------------------------------------------

pub async fn search_root(
    State(s): State<ScimState>,
    auth: Authed,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let req = ListRequest::from_search(&body, &[ResourceType::User, ResourceType::Group])?;
    search_all(&s, auth, req).await
}

//! The SCIM endpoints of one resource type (`/Users`, `/Groups`): create, read,
//! replace, patch and delete one resource. Listing and `.search` are in `listing`,
//! discovery in `discovery_handlers`.

use crate::error::ScimError;
use crate::http::{empty_response, scim_response, Authed, ListRequest, QueryParams, ScimBody};
use crate::render::{etag, render, Projection};
use crate::resource;
use crate::schema::ResourceType;
use crate::{etag, patch, ScimState};
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use scimgate_store::{
    Current, Member, MemberOp, Mutation, Rejection, ResourceKind, StoredResource, Write,
};
use serde_json::Value;

type Result<T> = std::result::Result<T, ScimError>;

pub(crate) fn kind(rt: ResourceType) -> ResourceKind {
    match rt {
        ResourceType::User => ResourceKind::User,
        ResourceType::Group => ResourceKind::Group,
    }
}

/// A request about one resource (`…/Users/{id}`): the tenant its token proves, the
/// resource's id, and the headers (`If-Match`, `If-None-Match`).
pub struct OneResource {
    pub(crate) state: ScimState,
    pub(crate) auth: Authed,
    pub(crate) id: String,
    pub(crate) headers: HeaderMap,
}

impl FromRequestParts<ScimState> for OneResource {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &ScimState) -> Result<OneResource> {
        // Authentication first: an unauthenticated caller learns nothing about ids.
        let auth = Authed::from_request_parts(parts, state).await?;
        let path = Path::<(String, String)>::from_request_parts(parts, state).await;
        Ok(OneResource {
            state: state.clone(),
            auth,
            id: resource_id(path)?,
            headers: parts.headers.clone(),
        })
    }
}

fn resource_id(path: std::result::Result<Path<(String, String)>, PathRejection>) -> Result<String> {
    let id = path
        .map(|Path((_, id))| id)
        .map_err(|e| ScimError::invalid_syntax(format!("bad resource path: {e}")))?;
    // An id no resource could have (a NUL, 1 MB) names nothing, on either database.
    if !crate::limits::is_possible_id(&id) {
        return Err(ScimError::not_found("no resource has this id"));
    }
    Ok(id)
}

fn single_headers(
    auth: &Authed,
    rt: ResourceType,
    stored: &StoredResource,
    created: bool,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&etag(stored.version)) {
        headers.insert(header::ETAG, v);
    }
    if created {
        if let Ok(v) =
            HeaderValue::from_str(&format!("{}/{}/{}", auth.base, rt.endpoint(), stored.id))
        {
            headers.insert(header::LOCATION, v);
        }
    }
    headers
}

async fn members_of(state: &ScimState, auth: &Authed, id: &str) -> Result<Vec<Member>> {
    Ok(state
        .store
        .members(&auth.tenant, &[id])
        .await?
        .into_iter()
        .map(|(_, m)| m)
        .collect())
}

/// Renders one resource, loading a group's members only when the response shows them.
async fn show(
    state: &ScimState,
    auth: &Authed,
    rt: ResourceType,
    stored: &StoredResource,
    projection: &Projection,
) -> Result<Value> {
    let members = if rt == ResourceType::Group && projection.includes("members") {
        Some(members_of(state, auth, &stored.id).await?)
    } else {
        None
    };
    Ok(projection.apply(rt, render(rt, stored, members.as_deref(), &auth.base)))
}

pub async fn create(
    state: &ScimState,
    auth: Authed,
    rt: ResourceType,
    body: Value,
) -> Result<Response> {
    let normalized = resource::normalize(rt, body)?;
    let write = Write::Create {
        kind: kind(rt),
        doc: normalized.doc,
        members: normalized.members.unwrap_or_default(),
    };
    let outcome = state
        .store
        .write(&auth.tenant, state.clock.now(), write)
        .await?;
    let stored = written(outcome.resource, "create")?;
    tracing::info!(tenant = %auth.tenant.name, resource = rt.name(), id = %stored.id, "created");
    answer(state, &auth, rt, &stored, StatusCode::CREATED).await
}

/// The resource a write returned (every create, replace and patch returns one).
fn written(resource: Option<StoredResource>, what: &str) -> Result<StoredResource> {
    resource.ok_or_else(|| ScimError::internal(format!("{what} returned nothing")))
}

/// The resource as written, in full, with its `Location` and `ETag`.
async fn answer(
    state: &ScimState,
    auth: &Authed,
    rt: ResourceType,
    stored: &StoredResource,
    status: StatusCode,
) -> Result<Response> {
    let shown = show(state, auth, rt, stored, &Projection::default()).await?;
    let created = status == StatusCode::CREATED;
    let headers = single_headers(auth, rt, stored, created);
    Ok(scim_response(status, &shown, headers))
}

pub async fn get(
    state: &ScimState,
    auth: Authed,
    rt: ResourceType,
    id: &str,
    q: &QueryParams,
    headers: &HeaderMap,
) -> Result<Response> {
    let projection = Projection::parse(q.get("attributes"), q.get("excludedAttributes"))?;
    let unless = etag::if_none_match(headers);
    let stored = state
        .store
        .get(&auth.tenant, kind(rt), id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("{} {id} not found", rt.name())))?;
    if unless.is_some_and(|c| c.matches(stored.version)) {
        let mut response = empty_response(StatusCode::NOT_MODIFIED);
        response
            .headers_mut()
            .extend(single_headers(&auth, rt, &stored, false));
        return Ok(response);
    }
    let shown = show(state, &auth, rt, &stored, &projection).await?;
    Ok(scim_response(
        StatusCode::OK,
        &shown,
        single_headers(&auth, rt, &stored, false),
    ))
}

pub async fn replace(r: OneResource, rt: ResourceType, body: Value) -> Result<Response> {
    let condition = etag::if_match(&r.headers)?;
    let normalized = resource::normalize(rt, body)?;
    let member_ops = match normalized.members {
        Some(members) => vec![MemberOp::RemoveAll, MemberOp::Add(members)],
        None => Vec::new(),
    };
    let doc = normalized.doc;
    let mutation = move |_: Current| {
        Ok(Mutation {
            doc: doc.clone(),
            members: member_ops.clone(),
        })
    };
    let stored = mutate(&r.state, &r.auth, rt, r.id, condition, mutation, "replace").await?;
    answer(&r.state, &r.auth, rt, &stored, StatusCode::OK).await
}

pub async fn modify(r: OneResource, rt: ResourceType, body: Value) -> Result<Response> {
    let condition = etag::if_match(&r.headers)?;
    let ops = patch::parse(rt, body)?;
    let mutation = move |current: Current| {
        let (doc, members) = patch::patch_resource(rt, current.body, &ops)
            .map_err(|e| -> Rejection { Box::new(e) })?;
        Ok(Mutation { doc, members })
    };
    let stored = mutate(&r.state, &r.auth, rt, r.id, condition, mutation, "patch").await?;
    match rt {
        // Group PATCH answers 204: a group can have 100k members, not worth echoing.
        ResourceType::Group => {
            let mut response = empty_response(StatusCode::NO_CONTENT);
            response
                .headers_mut()
                .extend(single_headers(&r.auth, rt, &stored, false));
            Ok(response)
        }
        ResourceType::User => answer(&r.state, &r.auth, rt, &stored, StatusCode::OK).await,
    }
}

pub async fn delete(
    state: &ScimState,
    auth: Authed,
    rt: ResourceType,
    id: String,
    headers: &HeaderMap,
) -> Result<Response> {
    let write = Write::Delete {
        kind: kind(rt),
        id: id.clone(),
        if_match: match etag::if_match(headers)? {
            None | Some(etag::Condition::Any) => None,
            Some(etag::Condition::Versions(versions)) => Some(versions),
        },
    };
    state
        .store
        .write(&auth.tenant, state.clock.now(), write)
        .await
        .map_err(|e| not_found_as(e, rt, &id))?;
    tracing::info!(tenant = %auth.tenant.name, resource = rt.name(), %id, "deleted");
    Ok(empty_response(StatusCode::NO_CONTENT))
}

fn not_found_as(err: scimgate_store::StoreError, rt: ResourceType, id: &str) -> ScimError {
    match err {
        scimgate_store::StoreError::NotFound => {
            ScimError::not_found(format!("{} {id} not found", rt.name()))
        }
        other => other.into(),
    }
}

/// `If-Match`, checked against the version the write's transaction sees.
/// Changes one resource with `mutation` (given the resource as stored), if it still
/// matches `condition` (`If-Match`); the resource as written.
async fn mutate(
    state: &ScimState,
    auth: &Authed,
    rt: ResourceType,
    id: String,
    condition: Option<etag::Condition>,
    mutation: impl Fn(Current) -> std::result::Result<Mutation, Rejection> + Send + Sync + 'static,
    what: &str,
) -> Result<StoredResource> {
    let write = Write::Mutate {
        kind: kind(rt),
        id: id.clone(),
        mutator: Box::new(move |current| {
            check_current(condition.as_ref(), &current)?;
            mutation(current)
        }),
    };
    let outcome = state
        .store
        .write(&auth.tenant, state.clock.now(), write)
        .await
        .map_err(|e| not_found_as(e, rt, &id))?;
    written(outcome.resource, what)
}

fn check_current(
    condition: Option<&etag::Condition>,
    current: &scimgate_store::Current,
) -> std::result::Result<(), Rejection> {
    match condition {
        Some(c) if !c.matches(current.version) => Err(Box::new(etag::stale(current.version))),
        _ => Ok(()),
    }
}

macro_rules! resource_routes {
    ($rt:expr, $one:ident, $list:ident, $create:ident, $search:ident, $get:ident, $put:ident, $patch:ident, $delete:ident) => {
        /// The methods on one resource (`…/{id}`).
        pub fn $one() -> axum::routing::MethodRouter<ScimState> {
            axum::routing::get($get)
                .put($put)
                .patch($patch)
                .delete($delete)
        }
        pub async fn $list(
            State(s): State<ScimState>,
            auth: Authed,
            q: QueryParams,
        ) -> Result<Response> {
            let req = ListRequest::from_query(&q, &[$rt])?;
            crate::listing::list(&s, auth, $rt, req).await
        }
        pub async fn $create(
            State(s): State<ScimState>,
            auth: Authed,
            ScimBody(body): ScimBody,
        ) -> Result<Response> {
            create(&s, auth, $rt, body).await
        }
        pub async fn $search(
            State(s): State<ScimState>,
            auth: Authed,
            ScimBody(body): ScimBody,
        ) -> Result<Response> {
            let req = ListRequest::from_search(&body, &[$rt])?;
            crate::listing::list(&s, auth, $rt, req).await
        }
        pub async fn $get(r: OneResource, q: QueryParams) -> Result<Response> {
            get(&r.state, r.auth, $rt, &r.id, &q, &r.headers).await
        }
        pub async fn $put(r: OneResource, ScimBody(body): ScimBody) -> Result<Response> {
            replace(r, $rt, body).await
        }
        pub async fn $patch(r: OneResource, ScimBody(body): ScimBody) -> Result<Response> {
            modify(r, $rt, body).await
        }
        pub async fn $delete(r: OneResource) -> Result<Response> {
            delete(&r.state, r.auth, $rt, r.id, &r.headers).await
        }
    };
}

resource_routes!(
    ResourceType::User,
    one_user,
    list_users,
    create_user,
    search_users,
    get_user,
    put_user,
    patch_user,
    delete_user
);
resource_routes!(
    ResourceType::Group,
    one_group,
    list_groups,
    create_group,
    search_groups,
    get_group,
    put_group,
    patch_group,
    delete_group
);

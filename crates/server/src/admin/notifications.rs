//! Notification subscriptions (e-mail addresses and webhooks per event) and the outbox,
//! where an admin sees what was sent and what could not be (dead, with the last error).

use super::auth::Admin;
use super::body::JsonBody;
use super::error::{ApiError, Result};
use super::params::{Params, Segments, DEFAULT_LIMIT, MAX_LIMIT};
use super::AdminState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use scimgate_notify::{outbox, subscriptions, Channel, EventKind, NotifyError};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscriptionBody {
    channel: String,
    target: String,
    events: Vec<String>,
}

fn channel(name: &str) -> Result<Channel> {
    Channel::parse_named(name).map_err(ApiError::bad_request)
}

fn event(name: &str) -> Result<EventKind> {
    EventKind::parse_named(name).map_err(ApiError::bad_request)
}

/// A subscription's id that this tenant does not have is a 404 naming it.
fn no_subscription(id: i64) -> impl Fn(NotifyError) -> ApiError {
    move |e| match e {
        NotifyError::NotFound => ApiError::not_found(format!("no subscription {id}")),
        e => e.into(),
    }
}

/// Never carries a webhook's secret: that is shown once, when it is created.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn list(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&[])?;
    let list = subscriptions::list(&state.store, &admin.tenant).await?;
    Ok(Json(json!({"subscriptions": list})))
}

/// 201 with the subscription; a webhook's signing secret is in `secret`, this once.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn add(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    JsonBody(body): JsonBody<NewSubscriptionBody>,
) -> Result<(StatusCode, Json<Value>)> {
    params.only(&[])?;
    let channel = channel(&body.channel)?;
    let events = body
        .events
        .iter()
        .map(|name| event(name))
        .collect::<Result<Vec<_>>>()?;
    let now = state.clock.now();
    let created = subscriptions::add(
        &state.store,
        &admin.tenant,
        channel,
        &body.target,
        &events,
        &now.to_rfc3339(),
        state.webhook_targets,
    )
    .await?;
    let mut answer = json!(created.subscription);
    if let (Some(secret), Some(map)) = (created.secret, answer.as_object_mut()) {
        map.insert("secret".into(), Value::String(secret));
    }
    Ok((StatusCode::CREATED, Json(answer)))
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name, subscription))]
pub async fn remove(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<StatusCode> {
    params.only(&[])?;
    let id = path.number("id", "subscription")?;
    tracing::Span::current().record("subscription", id);
    subscriptions::remove(&state.store, &admin.tenant, id)
        .await
        .map_err(no_subscription(id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a test message to one subscription; the delivery worker sends it like any other.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name, subscription))]
pub async fn test(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<(StatusCode, Json<Value>)> {
    params.only(&[])?;
    let id = path.number("id", "subscription")?;
    tracing::Span::current().record("subscription", id);
    let now = state.clock.now();
    let outbox_id = outbox::enqueue_test(
        &state.store,
        &admin.tenant,
        id,
        now.unix_millis(),
        &now.to_rfc3339(),
    )
    .await
    .map_err(no_subscription(id))?;
    Ok((StatusCode::ACCEPTED, Json(json!({"outbox_id": outbox_id}))))
}

/// Messages newest first; `status` keeps pending, delivered or dead ones.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn outbox(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&["status", "limit"])?;
    let status = params.one("status")?;
    let limit = params.number("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let messages = outbox::list(&state.store, &admin.tenant, status, limit)
        .await
        .map_err(|e| match e {
            NotifyError::Invalid(m) => ApiError::bad_request(format!("query parameter {m}")),
            e => e.into(),
        })?;
    Ok(Json(json!({"messages": messages})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_named_with_the_valid_ones() {
        assert_eq!(channel("webhook").unwrap(), Channel::Webhook);
        let e = channel("Email").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            e.message,
            "unknown channel \"Email\" (channels: email, webhook)"
        );
        assert_eq!(event("sync.held").unwrap(), EventKind::SyncHeld);
        let e = event("sync.errors").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            e.message,
            "unknown event \"sync.errors\" (events: sync.error, sync.failed, sync.held, seats.exhausted, scim.auth_failures)"
        );
    }

    #[test]
    fn a_missing_subscription_is_named() {
        let e = no_subscription(7)(NotifyError::NotFound);
        assert_eq!(
            (e.status, e.message.as_str()),
            (StatusCode::NOT_FOUND, "no subscription 7")
        );
        let e = no_subscription(7)(NotifyError::Invalid("bad".into()));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}

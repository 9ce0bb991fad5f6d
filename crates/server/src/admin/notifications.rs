//! Notification subscriptions (e-mail addresses and webhooks per event) and the outbox,
//! where an admin sees what was sent and what could not be (dead, with the last error).

use super::auth::Admin;
use super::body::Document;
use super::error::{ApiError, Result};
use super::params::{Params, Segments, DEFAULT_LIMIT, MAX_LIMIT};
use super::{version, AdminState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use scimgate_app::Versioned;
use scimgate_notify::{Channel, EventKind};
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

/// Never carries a webhook's secret: that is shown once, when it is created.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn list(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Response> {
    params.only(&[])?;
    let list = state.app.subscriptions(&admin.tenant).await?;
    version::respond(Versioned {
        version: list.version,
        value: json!({"subscriptions": list.value}),
    })
}

/// 201 with the subscription; a webhook's signing secret is in `secret`, this once.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn add(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    headers: HeaderMap,
    document: Document,
) -> Result<Response> {
    params.only(&[])?;
    let body: NewSubscriptionBody = document.json()?;
    let expect = version::expected(&headers, Some(&document), "the subscriptions")?;
    let channel = channel(&body.channel)?;
    let events = body
        .events
        .iter()
        .map(|name| event(name))
        .collect::<Result<Vec<_>>>()?;
    let created = state
        .app
        .subscribe(&admin.tenant, expect, channel, &body.target, &events)
        .await?;
    let mut answer = json!(created.value.subscription);
    if let (Some(secret), Some(map)) = (created.value.secret, answer.as_object_mut()) {
        map.insert("secret".into(), Value::String(secret));
    }
    let mut response = version::respond(Versioned {
        version: created.version,
        value: answer,
    })?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name, subscription))]
pub async fn remove(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
    headers: HeaderMap,
) -> Result<Response> {
    params.only(&[])?;
    let id = path.number("id", "subscription")?;
    tracing::Span::current().record("subscription", id);
    let expect = version::expected(&headers, None, "the subscriptions")?;
    let version = state.app.unsubscribe(&admin.tenant, expect, id).await?;
    Ok(version::no_content(version))
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
    let outbox_id = state.app.test_subscription(&admin.tenant, id).await?;
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
    let messages = state.app.outbox(&admin.tenant, status, limit).await?;
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
}

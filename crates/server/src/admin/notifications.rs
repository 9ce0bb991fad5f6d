//! Notification subscriptions (e-mail addresses and webhooks per event) and the outbox,
//! where an admin sees what was sent and what could not be (dead, with the last error).

use super::body::Document;
use super::call::Call;
use super::error::{ApiError, Result};
use super::params::{DEFAULT_LIMIT, MAX_LIMIT};
use super::version;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use scimgate_app::Versioned;
use scimgate_core::OutboxStatus;
use scimgate_notify::{Channel, EventKind};
use serde::Deserialize;
use serde_json::{json, Value};

const SUBSCRIPTIONS: &str = "the subscriptions";

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
pub async fn list(call: Call) -> Result<Response> {
    call.no_params()?;
    let list = call.app.subscriptions(&call.tenant).await?;
    version::respond(Versioned {
        version: list.version,
        value: json!({"subscriptions": list.value}),
    })
}

/// 201 with the subscription; a webhook's signing secret is in `secret`, this once.
pub async fn add(call: Call, document: Document) -> Result<Response> {
    call.no_params()?;
    let body: NewSubscriptionBody = document.json()?;
    let expect = call.expected(Some(&document), SUBSCRIPTIONS)?;
    let channel = channel(&body.channel)?;
    let events = body
        .events
        .iter()
        .map(|name| event(name))
        .collect::<Result<Vec<_>>>()?;
    let created = (call.app)
        .subscribe(&call.tenant, expect, channel, &body.target, &events)
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

/// The subscription named in the path (`{id}`); no query parameters.
fn subscription_id(call: &Call) -> Result<i64> {
    call.no_params()?;
    call.path.number("id", "subscription")
}

pub async fn remove(call: Call) -> Result<Response> {
    let id = subscription_id(&call)?;
    let expect = call.expected(None, SUBSCRIPTIONS)?;
    let version = call.app.unsubscribe(&call.tenant, expect, id).await?;
    Ok(version::no_content(version))
}

/// Queues a test message to one subscription; the delivery worker sends it like any other.
pub async fn test(call: Call) -> Result<(StatusCode, Json<Value>)> {
    let id = subscription_id(&call)?;
    let outbox_id = call.app.test_subscription(&call.tenant, id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"outbox_id": outbox_id}))))
}

/// Messages newest first; `status` keeps pending, delivered or dead ones.
pub async fn outbox(call: Call) -> Result<Json<Value>> {
    let params = call.params.only(&["status", "limit"])?;
    let status = (params.one("status")?.map(OutboxStatus::parse_named))
        .transpose()
        .map_err(|m| ApiError::bad_request(format!("query parameter {m}")))?;
    let limit = params.number("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let messages = call.app.outbox(&call.tenant, status, limit).await?;
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

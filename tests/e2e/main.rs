//! End-to-end tests: the real server on 127.0.0.1:0 over HTTP, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod bad_input;
mod concurrency;
mod crm_push;
mod entra;
mod isolation;
mod notifications;
mod versions;

use reqwest::Method;

/// The aggregate a write to `rest` (under `/api/v1/tenants/{t}`) changes, as the path
/// that reads it: those writes must name the version they are based on.
pub fn versioned_base(method: &Method, rest: &str) -> Option<&'static str> {
    let path = rest.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("PUT", ["catalog"]) | ("PUT" | "DELETE", ["catalog", _, _]) => Some("/catalog"),
        ("PUT", ["rules"]) | ("PUT", ["rules", "order"]) => Some("/rules"),
        ("POST", ["rules", _, "activate" | "deactivate"]) => Some("/rules"),
        ("PUT" | "DELETE", ["rules", "draft"])
        | ("POST", ["rules", "draft", "publish"])
        | ("POST", ["rules", "versions", _, "restore"]) => Some("/rules/draft"),
        ("PUT", ["settings"]) => Some("/settings"),
        ("POST", ["subscriptions"]) | ("DELETE", ["subscriptions", _]) => Some("/subscriptions"),
        ("PUT" | "DELETE", ["target"]) => Some("/target"),
        _ => None,
    }
}

/// What a front end does before a write: read the aggregate and send its ETag back as
/// `If-Match` ("0" when there is nothing to read yet, as for a first rule set).
pub async fn with_current_version(
    client: &reqwest::Client,
    base_url: &str,
    token: Option<&str>,
    method: &Method,
    rest: &str,
    request: reqwest::RequestBuilder,
) -> reqwest::RequestBuilder {
    let Some(base) = versioned_base(method, rest) else {
        return request;
    };
    let mut read = client.get(format!("{base_url}{base}"));
    if let Some(token) = token {
        read = read.bearer_auth(token);
    }
    let etag = read
        .send()
        .await
        .ok()
        .and_then(|r| r.headers().get("etag")?.to_str().ok().map(str::to_owned))
        .unwrap_or_else(|| "\"0\"".to_owned());
    request.header("if-match", etag)
}

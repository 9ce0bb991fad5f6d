//! The admin API: JSON over HTTP for one tenant at a time, under
//! `/api/v1/tenants/{tenant}/…`, authenticated with the tenant's admin token. Its
//! OpenAPI document (`openapi.json`, served at `/api/v1/openapi.json`) is written by
//! hand; a test checks it documents exactly the routes of [`endpoints`].

mod accounts;
mod audit;
mod auth;
mod body;
mod call;
mod catalog;
mod error;
mod notifications;
mod params;
mod preview;
mod rule_versions;
mod rules;
mod runs;
mod settings;
mod staged;
mod sync;
mod target;
mod version;

pub use error::ApiError;

use axum::handler::Handler;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{any, on, MethodFilter, MethodRouter};
use axum::Router;
use scimgate_app::App;

#[derive(Clone)]
pub struct AdminState {
    app: App,
}

/// The admin API's routes over the application layer.
pub fn router(app: App) -> Router {
    let state = AdminState { app };
    endpoints()
        .into_iter()
        .fold(Router::new(), |router, e| router.route(&e.path, e.handler))
        .route("/api", any(no_endpoint))
        .route("/api/{*rest}", any(no_endpoint))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(refuse_nul_in_url))
        .with_state(state)
}

/// A NUL (`%00`) in the URL names nothing that could be stored: 404 for the path (no such
/// user, entry or run can exist), 400 for the query. Refused here, once, so no handler
/// passes one to a database (PostgreSQL fails on it; SQLite would not).
async fn refuse_nul_in_url(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let uri = request.uri();
    // Every `%` in a valid URI starts an escape, so `%00` cannot be part of another one.
    let nul = |s: &str| s.as_bytes().windows(3).any(|w| w == b"%00");
    if nul(uri.path()) {
        return ApiError::not_found("not found: the path holds a NUL character").into_response();
    }
    if uri.query().is_some_and(nul) {
        return ApiError::bad_request("a query parameter holds a NUL character (%00)")
            .into_response();
    }
    next.run(request).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    /// As OpenAPI spells it.
    #[cfg_attr(not(test), allow(dead_code))] // read by the OpenAPI tests
    pub(crate) fn name(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Delete => "delete",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

pub(crate) struct Endpoint {
    #[cfg_attr(not(test), allow(dead_code))] // read by the OpenAPI tests
    pub verb: Verb,
    pub path: String,
    handler: MethodRouter<AdminState>,
}

fn endpoint<H, T>(verb: Verb, path: &str, handler: H) -> Endpoint
where
    H: Handler<T, AdminState>,
    T: 'static,
{
    Endpoint {
        verb,
        path: path.to_owned(),
        handler: on(verb.filter(), handler),
    }
}

/// An endpoint of one tenant: `rest` under `/api/v1/tenants/{tenant}`.
fn of_tenant<H, T>(verb: Verb, rest: &str, handler: H) -> Endpoint
where
    H: Handler<T, AdminState>,
    T: 'static,
{
    endpoint(verb, &format!("/api/v1/tenants/{{tenant}}{rest}"), handler)
}

/// Every route the admin API serves: the router is built from this list, and the
/// OpenAPI test checks the document against it.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    use of_tenant as t;
    use Verb::{Delete, Get, Post, Put};
    vec![
        endpoint(Get, "/api/v1/openapi.json", openapi),
        t(Get, "/catalog", catalog::get),
        t(Put, "/catalog", catalog::replace),
        t(Put, "/catalog/{kind}/{name}", catalog::put_entry),
        t(Delete, "/catalog/{kind}/{name}", catalog::delete_entry),
        t(Get, "/rules", rules::get),
        t(Put, "/rules", rules::put),
        t(Post, "/rules/validate", rules::validate),
        t(Put, "/rules/order", rules::order),
        t(Post, "/rules/{name}/activate", rules::activate),
        t(Post, "/rules/{name}/deactivate", rules::deactivate),
        t(Get, "/rules/draft", rule_versions::get_draft),
        t(Put, "/rules/draft", rule_versions::put_draft),
        t(Delete, "/rules/draft", rule_versions::delete_draft),
        t(Post, "/rules/draft/publish", rule_versions::publish),
        t(Get, "/rules/versions", rule_versions::list),
        t(Get, "/rules/versions/{version}", rule_versions::get),
        t(
            Post,
            "/rules/versions/{version}/restore",
            rule_versions::restore,
        ),
        t(Get, "/rules/diff", rule_versions::diff),
        t(Get, "/audit", audit::list),
        t(Get, "/users", staged::users),
        t(Get, "/groups", staged::groups),
        t(Get, "/groups/{id}/members", staged::members),
        t(Get, "/preview", preview::saved),
        t(Post, "/preview", preview::draft),
        t(Get, "/preview/users/{id}", preview::user),
        t(Post, "/sync", sync::company),
        t(Post, "/sync/users/{id}", sync::user),
        t(Post, "/restart", sync::restart),
        t(Get, "/runs", runs::list),
        t(Get, "/runs/{id}", runs::get),
        t(Get, "/runs/{id}/events", runs::events),
        t(Post, "/runs/{id}/approve", runs::approve),
        t(Post, "/runs/{id}/reject", runs::reject),
        t(Post, "/runs/{id}/cancel", runs::cancel),
        t(Get, "/settings", settings::get),
        t(Put, "/settings", settings::put),
        t(Get, "/accounts", accounts::list),
        t(Get, "/accounts/{pk}", accounts::get),
        t(Get, "/subscriptions", notifications::list),
        t(Post, "/subscriptions", notifications::add),
        t(Delete, "/subscriptions/{id}", notifications::remove),
        t(Post, "/subscriptions/{id}/test", notifications::test),
        t(Get, "/outbox", notifications::outbox),
        t(Get, "/target", target::get),
        t(Put, "/target", target::put),
        t(Delete, "/target", target::delete),
        t(Post, "/target/test", target::test),
        t(Post, "/target/retry", target::retry),
        t(Get, "/target/dead", target::dead),
        t(Get, "/target/drift", target::drift),
        t(Post, "/target/drift/fix", target::fix),
    ]
}

const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn no_endpoint() -> ApiError {
    ApiError::not_found("no such admin API endpoint (see /api/v1/openapi.json)")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method (see /api/v1/openapi.json)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn document() -> Value {
        serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
    }

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    #[test]
    fn openapi_documents_every_route_and_no_other() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
        let served: Vec<(String, &str)> = endpoints()
            .iter()
            .map(|e| (e.path.to_owned(), e.verb.name()))
            .collect();
        for (path, verb) in &served {
            let op = &doc["paths"][path.as_str()][*verb];
            assert!(op.is_object(), "{verb} {path} is not in openapi.json");
            assert!(
                op["responses"].is_object(),
                "{verb} {path} has no responses"
            );
            if path.contains("{tenant}") {
                for status in ["401", "404"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{verb} {path} does not document {status}"
                    );
                }
            }
        }
        for (path, item) in doc["paths"].as_object().unwrap() {
            for verb in item.as_object().unwrap().keys() {
                if METHODS.contains(&verb.as_str()) {
                    assert!(
                        served.iter().any(|(p, v)| p == path && v == verb),
                        "openapi.json documents {verb} {path}, which is not served"
                    );
                }
            }
        }
    }

    /// Every `{name}` in a path is a documented path parameter.
    #[test]
    fn openapi_documents_every_path_parameter() {
        let doc = document();
        for e in endpoints() {
            let item = &doc["paths"][e.path.as_str()];
            let op = &item[e.verb.name()];
            let params: Vec<Value> = [&item["parameters"], &op["parameters"]]
                .into_iter()
                .filter_map(Value::as_array)
                .flatten()
                .map(|p| resolve(&doc, p).clone())
                .collect();
            for name in e
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{} {}: path parameter {name} is not documented",
                    e.verb.name(),
                    e.path
                );
            }
        }
    }

    fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
        match v["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => doc.pointer(pointer).unwrap_or(&Value::Null),
            None => v,
        }
    }

    /// Every `$ref` points at something the document defines.
    #[test]
    fn openapi_references_resolve() {
        fn walk(doc: &Value, v: &Value) {
            match v {
                Value::Object(map) => {
                    if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                        let pointer = r.strip_prefix('#').unwrap_or(r);
                        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
                    }
                    map.values().for_each(|v| walk(doc, v));
                }
                Value::Array(list) => list.iter().for_each(|v| walk(doc, v)),
                _ => {}
            }
        }
        let doc = document();
        walk(&doc, &doc);
    }
}

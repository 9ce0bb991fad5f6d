//! Two admins editing the same thing: every read carries a version, every write must
//! name one, and a write based on an older version is refused with 409 naming what
//! changed — for the rule set, the catalogue, the settings and the subscriptions.

use reqwest::Method;
use scimgate_core::{Clock, SystemClock};
use scimgate_store::TokenKind;
use scimgate_testkit::{on_both_backends, DbBackend, TestServer};
use serde_json::{json, Value};

const CATALOG: &str = "user_plans: [{name: Standard, seats: 5}]\nroles: [User, Boss]\n";
const RULES: &str = "rules:\n  - name: Everyone\n    applies_to: all\n    set: { user_plan: Standard, role: User }\n";

struct Admin {
    s: TestServer,
    token: String,
}

impl Admin {
    async fn start(backend: DbBackend) -> Option<Admin> {
        let s = TestServer::start(backend).await?;
        let token = s
            .store
            .create_token_of(TokenKind::Admin, &s.tenant, "versions", SystemClock.now())
            .await
            .unwrap()
            .secret;
        Some(Admin { s, token })
    }

    /// `(status, ETag, body)`.
    async fn call(
        &self,
        method: Method,
        rest: &str,
        if_match: Option<&str>,
        body: Option<(&str, String)>,
    ) -> (u16, Option<String>, Value) {
        let url = self.s.url(&format!("/api/v1/tenants/acme{rest}"));
        let mut req = self.s.client.request(method, url).bearer_auth(&self.token);
        if let Some(version) = if_match {
            req = req.header("if-match", format!("\"{version}\""));
        }
        if let Some((content_type, text)) = body {
            req = req.header("content-type", content_type).body(text);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().trim_matches('"').to_owned());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, etag, body)
    }

    async fn version(&self, rest: &str) -> String {
        let (status, etag, body) = self.call(Method::GET, rest, None, None).await;
        assert_eq!(status, 200, "{body}");
        etag.expect("a read carries its version as ETag")
    }
}

fn yaml(text: &str) -> Option<(&'static str, String)> {
    Some(("application/yaml", text.to_owned()))
}

fn json_body(value: Value) -> Option<(&'static str, String)> {
    Some(("application/json", value.to_string()))
}

fn message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

on_both_backends!(a_stale_write_is_409_and_changes_nothing);

async fn a_stale_write_is_409_and_changes_nothing(backend: DbBackend) {
    let Some(a) = Admin::start(backend).await else {
        return;
    };
    // The catalogue: both admins read version v; the first write wins, the second is 409.
    let v = a.version("/catalog").await;
    let (status, _, body) = a.call(Method::PUT, "/catalog", None, yaml(CATALOG)).await;
    assert_eq!(status, 428, "a write without a version: {body}");
    assert!(message(&body).contains("the catalogue"), "{body}");
    let (status, etag, body) = a
        .call(Method::PUT, "/catalog", Some(&v), yaml(CATALOG))
        .await;
    assert_eq!(status, 200, "{body}");
    let after_first = etag.unwrap();
    assert_ne!(after_first, v);
    let (status, _, body) = a
        .call(
            Method::PUT,
            "/catalog/role/Admin",
            Some(&v),
            json_body(json!({})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let text = message(&body);
    assert!(
        text.contains(&format!(
            "the catalogue changed since version {v}: it is at version {after_first}"
        )),
        "{text}"
    );
    let (_, _, catalog) = a.call(Method::GET, "/catalog", None, None).await;
    assert_eq!(
        catalog["roles"].as_array().unwrap().len(),
        2,
        "the stale write changed nothing"
    );

    // The rule set: two edits based on one read.
    let (status, _, body) = a.call(Method::PUT, "/rules", Some("0"), yaml(RULES)).await;
    assert_eq!(status, 200, "{body}");
    let v = a.version("/rules").await;
    let (status, _, body) = a
        .call(Method::POST, "/rules/Everyone/deactivate", Some(&v), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rules"][0]["active"], false);
    let (status, _, body) = a
        .call(
            Method::PUT,
            "/rules/order",
            Some(&v),
            json_body(json!({"order": ["Everyone"]})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        message(&body).starts_with("the rule set changed since version"),
        "{body}"
    );
    let (status, _, body) = a.call(Method::PUT, "/rules", Some(&v), yaml(RULES)).await;
    assert_eq!(
        status, 409,
        "the stale save did not undo the deactivation: {body}"
    );
    let (_, _, rules) = a.call(Method::GET, "/rules", None, None).await;
    assert_eq!(rules["rules"][0]["active"], false);

    // The settings: the body may carry the version it was read with (GET → edit → PUT).
    let (_, etag, mut settings) = a.call(Method::GET, "/settings", None, None).await;
    let read_version = etag.unwrap();
    settings["version"] = json!(read_version.parse::<i64>().unwrap());
    settings["debounce_seconds"] = json!(60);
    let (status, _, body) = a
        .call(Method::PUT, "/settings", None, json_body(settings.clone()))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["debounce_seconds"], 60);
    settings["debounce_seconds"] = json!(90);
    let (status, _, body) = a
        .call(Method::PUT, "/settings", None, json_body(settings))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        message(&body).contains(&format!(
            "the sync settings changed since version {read_version}"
        )),
        "{body}"
    );

    // The subscriptions: removing one based on a list that has since grown is refused.
    let v = a.version("/subscriptions").await;
    let add = json!({"channel": "email", "target": "ops@acme.no", "events": ["sync.failed"]});
    let (status, _, created) = a
        .call(
            Method::POST,
            "/subscriptions",
            Some(&v),
            json_body(add.clone()),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (status, _, body) = a
        .call(Method::POST, "/subscriptions", Some(&v), json_body(add))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _, body) = a
        .call(
            Method::DELETE,
            &format!("/subscriptions/{id}"),
            Some(&v),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let current = a.version("/subscriptions").await;
    let (status, etag, _) = a
        .call(
            Method::DELETE,
            &format!("/subscriptions/{id}"),
            Some(&current),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_ne!(etag.unwrap(), current);
}

on_both_backends!(concurrent_edits_of_one_version_let_exactly_one_through);

/// Ten admins send a change based on the same version at once: one lands, nine get 409.
async fn concurrent_edits_of_one_version_let_exactly_one_through(backend: DbBackend) {
    let Some(a) = Admin::start(backend).await else {
        return;
    };
    let v = a.version("/catalog").await;
    let a = &a;
    let v = &v;
    let writes = (0..10).map(|i| async move {
        a.call(
            Method::PUT,
            &format!("/catalog/company/Company{i}"),
            Some(v),
            json_body(json!({})),
        )
        .await
        .0
    });
    // Polled together: all ten requests are in flight before any answer is read.
    let mut statuses = join_all(writes.map(Box::pin).collect()).await;
    statuses.sort();
    assert_eq!(
        statuses,
        [[200].as_slice(), &[409; 9]].concat(),
        "{statuses:?}"
    );
    let (_, _, catalog) = a.call(Method::GET, "/catalog", None, None).await;
    assert_eq!(catalog["companies"].as_array().unwrap().len(), 1);
}

async fn join_all<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut results: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futures.iter_mut().enumerate() {
            if results[i].is_none() {
                match std::pin::Pin::new(f).poll(cx) {
                    Poll::Ready(v) => results[i] = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.unwrap()).collect()
}

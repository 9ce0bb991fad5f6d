//! Notification subscriptions and the outbox through the admin API, over real HTTP, on
//! SQLite and PostgreSQL.

use reqwest::Method;
use scimgate_core::{Clock, SystemClock};
use scimgate_notify::target::TargetPolicy;
use scimgate_store::{Tenant, TokenKind};
use scimgate_testkit::{on_both_backends, DbBackend, TestServer};
use serde_json::{json, Value};

const EVENTS: &str = "sync.error, sync.failed, sync.held, seats.exhausted, scim.auth_failures";

struct Api {
    s: TestServer,
    token: String,
}

async fn admin_token(s: &TestServer, tenant: &Tenant) -> String {
    s.store
        .create_token_of(TokenKind::Admin, tenant, "test admin", SystemClock.now())
        .await
        .unwrap()
        .secret
}

/// Status and JSON body (`Null` when empty); every body is `application/json`.
async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    if text.is_empty() {
        return (status, Value::Null);
    }
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "status {status}: {text}"
    );
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

/// The message of an error answer, after checking its status and body shape.
fn message(expected: u16, got: &(u16, Value)) -> String {
    let (status, body) = got;
    assert_eq!(*status, expected, "{body}");
    assert_eq!(body["error"]["status"], expected, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

fn expect(status: u16, got: (u16, Value)) -> Value {
    assert_eq!(got.0, status, "{}", got.1);
    got.1
}

impl Api {
    async fn start(backend: DbBackend) -> Option<Api> {
        Self::start_with(backend, TargetPolicy::ALLOW_PRIVATE).await
    }

    /// A server whose webhooks may reach what `policy` permits.
    async fn start_with(backend: DbBackend, policy: TargetPolicy) -> Option<Api> {
        let s = TestServer::start_with(backend, |c| c.webhook_targets = policy).await?;
        let token = admin_token(&s, &s.tenant).await;
        Some(Api { s, token })
    }

    /// `method` on `/api/v1/tenants/{tenant}{rest}` with `token`; a JSON body when given.
    async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        tenant: &str,
        rest: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let path = format!("/api/v1/tenants/{tenant}{rest}");
        let mut req = self
            .s
            .client
            .request(method.clone(), self.s.url(&path))
            .query(query);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let base = self.s.url(&format!("/api/v1/tenants/{tenant}"));
        req = crate::with_current_version(&self.s.client, &base, token, &method, rest, req).await;
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        read(req.send().await.unwrap()).await
    }

    /// As acme's admin.
    async fn send(
        &self,
        method: Method,
        rest: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call(Some(&self.token), method, "acme", rest, query, body)
            .await
    }

    async fn subscribe(&self, body: Value) -> (u16, Value) {
        self.send(Method::POST, "/subscriptions", &[], Some(body))
            .await
    }

    async fn subscriptions(&self) -> Vec<Value> {
        expect(
            200,
            self.send(Method::GET, "/subscriptions", &[], None).await,
        )["subscriptions"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn outbox(&self, query: &[(&str, &str)]) -> Vec<Value> {
        expect(200, self.send(Method::GET, "/outbox", query, None).await)["messages"]
            .as_array()
            .unwrap()
            .clone()
    }
}

async fn subscriptions_are_added_listed_and_removed(backend: DbBackend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    assert!(api.subscriptions().await.is_empty());

    let email = expect(
        201,
        api.subscribe(json!({"channel": "email", "target": " ops@acme.example ",
                             "events": ["sync.held", "sync.error", "sync.held"]}))
            .await,
    );
    assert_eq!(email["channel"], "email");
    assert_eq!(email["target"], "ops@acme.example", "trimmed");
    assert_eq!(email["events"], json!(["sync.error", "sync.held"]));
    assert!(email["id"].is_i64() && email["created_at"].is_string());
    assert!(
        email.get("secret").is_none(),
        "e-mail has no secret: {email}"
    );

    let hook = expect(
        201,
        api.subscribe(
            json!({"channel": "webhook", "target": "https://hooks.acme.example/scim?k=1",
                             "events": ["seats.exhausted"]}),
        )
        .await,
    );
    assert_eq!(hook["channel"], "webhook");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64, "{secret}");
    assert!(secret.chars().all(|c| c.is_ascii_hexdigit()), "{secret}");

    // The list has both, without the secret: it was shown once.
    let listed = api.send(Method::GET, "/subscriptions", &[], None).await;
    assert!(!listed.1.to_string().contains(&secret), "{}", listed.1);
    let listed = api.subscriptions().await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], email);
    let mut without_secret = hook.clone();
    without_secret.as_object_mut().unwrap().remove("secret");
    assert_eq!(listed[1], without_secret);
    assert!(listed.iter().all(|s| s.get("secret").is_none()));

    let id = email["id"].as_i64().unwrap();
    let removed = api
        .send(Method::DELETE, &format!("/subscriptions/{id}"), &[], None)
        .await;
    assert_eq!(removed, (204, Value::Null));
    let again = api
        .send(Method::DELETE, &format!("/subscriptions/{id}"), &[], None)
        .await;
    assert_eq!(message(404, &again), format!("no subscription {id}"));
    let test = api
        .send(
            Method::POST,
            &format!("/subscriptions/{id}/test"),
            &[],
            None,
        )
        .await;
    assert_eq!(message(404, &test), format!("no subscription {id}"));
    let not_a_number = api
        .send(Method::DELETE, "/subscriptions/abc", &[], None)
        .await;
    assert!(message(404, &not_a_number).contains("\"abc\""));
    let left = api.subscriptions().await;
    assert_eq!(left, vec![without_secret]);
}

async fn a_test_message_is_queued_and_shown_in_the_outbox(backend: DbBackend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    assert!(api.outbox(&[]).await.is_empty());
    let hook = expect(
        201,
        api.subscribe(
            json!({"channel": "webhook", "target": "https://hooks.acme.example/x",
                             "events": ["sync.failed"]}),
        )
        .await,
    );
    let id = hook["id"].as_i64().unwrap();
    let queued = expect(
        202,
        api.send(
            Method::POST,
            &format!("/subscriptions/{id}/test"),
            &[],
            None,
        )
        .await,
    );
    assert_eq!(queued.as_object().unwrap().len(), 1, "{queued}");
    let outbox_id = queued["outbox_id"].as_i64().unwrap();

    let messages = api.outbox(&[]).await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m["id"], outbox_id);
    assert_eq!(m["subscription_id"], id);
    assert_eq!(m["event"], "test");
    assert_eq!(m["status"], "pending");
    assert_eq!(m["channel"], "webhook");
    assert_eq!(m["target"], "https://hooks.acme.example/x");
    assert_eq!(m["attempts"], 0);
    assert_eq!(m["last_error"], Value::Null);
    assert_eq!(m["delivered_at"], Value::Null);
    assert!(m.get("payload").is_none(), "no payload in the list: {m}");
    assert!(m.get("tenant_id").is_none(), "{m}");
    assert_eq!(api.outbox(&[("status", "pending")]).await, messages);
    assert!(api.outbox(&[("status", "delivered")]).await.is_empty());
    assert!(api.outbox(&[("status", "dead")]).await.is_empty());

    // A message the worker gave up on is listed as dead, with why.
    sqlx::query(
        "UPDATE outbox SET status = 'dead', attempts = 8, last_error = 'webhook answered 410 Gone' WHERE id = $1",
    )
    .bind(outbox_id)
    .execute(api.s.store.pool())
    .await
    .unwrap();
    let second = expect(
        202,
        api.send(
            Method::POST,
            &format!("/subscriptions/{id}/test"),
            &[],
            None,
        )
        .await,
    )["outbox_id"]
        .as_i64()
        .unwrap();
    let dead = api.outbox(&[("status", "dead")]).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["id"], outbox_id);
    assert_eq!(dead[0]["last_error"], "webhook answered 410 Gone");
    assert_eq!(dead[0]["attempts"], 8);
    // Newest first, and limit cuts.
    let all: Vec<Value> = api
        .outbox(&[])
        .await
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(all, vec![json!(second), json!(outbox_id)]);
    let one = api.outbox(&[("limit", "1")]).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["id"], second);

    let bad_status = api
        .send(Method::GET, "/outbox", &[("status", "failed")], None)
        .await;
    let text = message(400, &bad_status);
    assert!(
        text.contains("status") && text.contains("\"failed\"") && text.contains("dead"),
        "{text}"
    );
    let too_many = api
        .send(Method::GET, "/outbox", &[("limit", "1001")], None)
        .await;
    assert!(message(400, &too_many).contains("limit"));
    let unknown = api
        .send(Method::GET, "/outbox", &[("state", "dead")], None)
        .await;
    assert!(message(400, &unknown).contains("\"state\""));
}

async fn bad_subscriptions_are_refused_with_a_message(backend: DbBackend) {
    // As in production: webhooks go to public addresses only.
    let Some(api) = Api::start_with(backend, TargetPolicy::PUBLIC_ONLY).await else {
        return;
    };
    let webhook =
        |target: &str| json!({"channel": "webhook", "target": target, "events": ["sync.error"]});
    let cases = [
        (
            json!({"channel": "email", "target": "ops@acme.example", "events": ["sync.error", "sync.eror"]}),
            vec!["unknown event \"sync.eror\"", EVENTS],
        ),
        (
            json!({"channel": "sms", "target": "+4712345678", "events": ["sync.error"]}),
            vec!["unknown channel \"sms\"", "email, webhook"],
        ),
        (
            json!({"channel": "email", "target": "ops.acme.example", "events": ["sync.error"]}),
            vec!["\"ops.acme.example\"", "e-mail address"],
        ),
        (
            json!({"channel": "email", "target": "a@acme.example, b@acme.example", "events": ["sync.error"]}),
            vec!["e-mail address"],
        ),
        (
            json!({"channel": "webhook", "target": "ftp://hooks.acme.example", "events": ["sync.error"]}),
            vec!["\"ftp://hooks.acme.example\"", "URL"],
        ),
        (
            json!({"channel": "webhook", "target": "hooks.acme.example/x", "events": ["sync.error"]}),
            vec!["\"hooks.acme.example/x\"", "URL"],
        ),
        (
            webhook("https://user:secret@hooks.acme.example/x"),
            vec!["credentials"],
        ),
        (webhook("http://[::1"), vec!["not a valid URL"]),
        (
            webhook("http://169.254.169.254/latest/meta-data/"),
            vec!["private, loopback or link-local", "allow_private_webhooks"],
        ),
        (webhook("http://127.0.0.1:9/"), vec!["private"]),
        (webhook("http://[::1]:9/"), vec!["private"]),
        (webhook("http://10.0.0.8/hook"), vec!["private"]),
        (webhook("http://192.168.1.1/hook"), vec!["private"]),
        (webhook("http://localhost:9/"), vec!["private"]),
        (webhook("http://[fe80::1]/"), vec!["private"]),
        (
            json!({"channel": "webhook", "target": "https://hooks.acme.example/\u{0}", "events": ["sync.error"]}),
            vec!["NUL"],
        ),
        (
            json!({"channel": "email", "target": "ops@acme.example", "evnts": ["sync.error"]}),
            vec!["unknown field `evnts`"],
        ),
        (
            json!({"channel": "email", "target": "ops@acme.example", "events": ["sync.error"], "secret": "mine"}),
            vec!["unknown field `secret`"],
        ),
        (
            json!({"channel": "email", "target": "ops@acme.example"}),
            vec!["missing field `events`"],
        ),
        (
            json!({"channel": "email", "target": "ops@acme.example", "events": []}),
            vec!["at least one event", EVENTS],
        ),
        (
            json!({"channel": "email", "target": "ops@acme.example", "events": "sync.error"}),
            vec!["invalid type"],
        ),
    ];
    for (body, wanted) in cases {
        let got = api.subscribe(body.clone()).await;
        let text = message(400, &got);
        for part in wanted {
            assert!(text.contains(part), "{body}: {text:?} lacks {part:?}");
        }
    }
    let empty = api.send(Method::POST, "/subscriptions", &[], None).await;
    assert!(message(400, &empty).contains("empty"));
    let yaml = api
        .s
        .client
        .post(api.s.url("/api/v1/tenants/acme/subscriptions"))
        .bearer_auth(&api.token)
        .header("content-type", "application/yaml")
        .body("channel: email\n")
        .send()
        .await
        .unwrap();
    message(415, &read(yaml).await);
    let query = api
        .send(Method::GET, "/subscriptions", &[("channel", "email")], None)
        .await;
    assert!(message(400, &query).contains("\"channel\""));
    assert!(api.subscriptions().await.is_empty(), "nothing was saved");
    // Nothing is lost for the public ones.
    expect(
        201,
        api.subscribe(webhook("https://hooks.acme.example/x")).await,
    );
}

/// With private targets allowed (the server's switch), 127.0.0.1 is accepted; credentials
/// in the URL and broken URLs still are not.
async fn private_webhooks_need_the_servers_switch(backend: DbBackend) {
    let Some(api) = Api::start_with(backend, TargetPolicy::ALLOW_PRIVATE).await else {
        return;
    };
    let webhook =
        |target: &str| json!({"channel": "webhook", "target": target, "events": ["sync.error"]});
    expect(201, api.subscribe(webhook("http://127.0.0.1:9/hook")).await);
    expect(201, api.subscribe(webhook("http://localhost:9/hook")).await);
    message(
        400,
        &api.subscribe(webhook("http://u:p@127.0.0.1:9/")).await,
    );
    message(400, &api.subscribe(webhook("http://[::1")).await);
    let listed = api.subscriptions().await;
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .all(|s| !s["target"].as_str().unwrap().contains('@')));
}

async fn tokens_are_checked_and_tenants_kept_apart(backend: DbBackend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let hook = expect(
        201,
        api.subscribe(
            json!({"channel": "webhook", "target": "https://hooks.acme.example/x",
                             "events": ["sync.error"]}),
        )
        .await,
    );
    let id = hook["id"].as_i64().unwrap();
    expect(
        202,
        api.send(
            Method::POST,
            &format!("/subscriptions/{id}/test"),
            &[],
            None,
        )
        .await,
    );
    let (globex, _) = api.s.add_tenant("globex").await;
    let globex_token = admin_token(&api.s, &globex).await;
    let new = json!({"channel": "email", "target": "ops@globex.example", "events": ["sync.error"]});
    let endpoints = [
        (Method::GET, "/subscriptions".to_owned(), None),
        (Method::POST, "/subscriptions".to_owned(), Some(new.clone())),
        (Method::DELETE, format!("/subscriptions/{id}"), None),
        (Method::POST, format!("/subscriptions/{id}/test"), None),
        (Method::GET, "/outbox".to_owned(), None),
    ];
    for (method, rest, body) in &endpoints {
        let call = |token: Option<&'static str>| {
            api.call(token, method.clone(), "acme", rest, &[], body.clone())
        };
        let none = call(None).await;
        assert!(
            message(401, &none).contains("missing admin token"),
            "{rest}"
        );
        let wrong = call(Some("sga_wrong")).await;
        assert!(message(401, &wrong).contains("not valid"), "{rest}");
        let scim = api
            .call(
                Some(&api.s.token),
                method.clone(),
                "acme",
                rest,
                &[],
                body.clone(),
            )
            .await;
        assert!(message(401, &scim).contains("SCIM token"), "{rest}");
        let other = api
            .call(
                Some(&globex_token),
                method.clone(),
                "acme",
                rest,
                &[],
                body.clone(),
            )
            .await;
        assert_eq!(message(404, &other), "no tenant named \"acme\"", "{rest}");
    }
    // Nothing of acme changed, and nothing was added.
    assert_eq!(api.subscriptions().await.len(), 1);
    assert_eq!(api.outbox(&[]).await.len(), 1);

    // Under its own name, globex sees none of acme's subscriptions or messages, and
    // cannot reach them by id.
    let globex_call = |method: Method, rest: String, body: Option<Value>| {
        let token = globex_token.clone();
        let api = &api;
        async move {
            api.call(Some(&token), method, "globex", &rest, &[], body)
                .await
        }
    };
    let listed = expect(
        200,
        globex_call(Method::GET, "/subscriptions".into(), None).await,
    );
    assert_eq!(listed, json!({"subscriptions": []}));
    let outbox = expect(200, globex_call(Method::GET, "/outbox".into(), None).await);
    assert_eq!(outbox, json!({"messages": []}));
    let test = globex_call(Method::POST, format!("/subscriptions/{id}/test"), None).await;
    message(404, &test);
    let remove = globex_call(Method::DELETE, format!("/subscriptions/{id}"), None).await;
    message(404, &remove);
    let own = expect(
        201,
        globex_call(Method::POST, "/subscriptions".into(), Some(new)).await,
    );
    assert_eq!(api.subscriptions().await.len(), 1, "acme still has one");
    let own_id = own["id"].as_i64().unwrap();
    let cross = api
        .send(
            Method::DELETE,
            &format!("/subscriptions/{own_id}"),
            &[],
            None,
        )
        .await;
    message(404, &cross);
    let listed = expect(
        200,
        globex_call(Method::GET, "/subscriptions".into(), None).await,
    );
    assert_eq!(listed["subscriptions"], json!([own]));
}

on_both_backends!(
    subscriptions_are_added_listed_and_removed,
    a_test_message_is_queued_and_shown_in_the_outbox,
    bad_subscriptions_are_refused_with_a_message,
    private_webhooks_need_the_servers_switch,
    tokens_are_checked_and_tenants_kept_apart,
);

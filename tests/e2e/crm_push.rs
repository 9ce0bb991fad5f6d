//! Pushing accounts to a CRM target: over SCIM 2.0 to a second scimgate (on the same
//! backend) and to python-scim's scim2-server, and as signed webhooks; faults (a busy
//! target, a pusher killed mid-delivery, a target down for hours) and reconcile.

use scimgate_core::{AccountFields, Change, SystemClock};
use scimgate_crm::push::{KeySource, Outbound, PushConfig, PushWorker};
use scimgate_crm::secret::ServerKey;
use scimgate_store::crm_push::{CrmTargetRow, TargetKind};
use scimgate_store::Expect;
use scimgate_testkit::{on_both_backends, DbBackend, TestDb, TestServer};
use std::sync::Arc;

fn account(username: &str, active: bool) -> AccountFields {
    AccountFields {
        username: username.into(),
        display_name: Some(format!("{username} Display").into()),
        email: Some(format!("{username}@acme.example").into()),
        user_plan: Some("Sales Premium".into()),
        owner_company: Some("Acme AS".into()),
        primary_group: Some("Sales".into()),
        secondary_groups: vec!["Oslo".into(), "Support".into()],
        role: Some("Manager".into()),
        confidential: false,
        active,
    }
}

/// The tenant whose accounts are pushed.
async fn acme(store: &scimgate_store::Store) -> scimgate_store::Tenant {
    let name = scimgate_core::TenantName::parse("acme").unwrap();
    let now = scimgate_core::Clock::now(&SystemClock);
    store.create_tenant(&name, now).await.unwrap()
}

/// A push worker on `clock` that may reach only this machine (every target here is on
/// 127.0.0.1).
fn loopback_worker(
    store: &scimgate_store::Store,
    clock: Arc<scimgate_testkit::ManualClock>,
    key: Arc<ServerKey>,
) -> PushWorker {
    PushWorker::new(
        store.clone(),
        clock,
        KeySource::Key(key),
        loopback(),
        "test-worker".into(),
        PushConfig::default(),
    )
}

/// A way out that reaches only this machine.
fn loopback() -> Outbound {
    let permits = |url: &str| match url.starts_with("http://127.0.0.1:") {
        true => Ok(()),
        false => Err(format!("{url} is not on this machine")),
    };
    Outbound {
        http: reqwest::Client::new(),
        permits: Arc::new(permits),
    }
}

/// Pushes until the queue has nothing due; returns how many pushes were attempted.
async fn drain(worker: &PushWorker) -> usize {
    let mut total = 0;
    loop {
        match worker.run_once().await.unwrap() {
            0 => return total,
            n => total += n,
        }
    }
}

async fn accounts_reach_a_scim_target_once_and_in_their_latest_state(backend: DbBackend) {
    let Some(target) = TestServer::start(backend).await else {
        return;
    };
    let Some(source_db) = TestDb::new(backend).await else {
        return;
    };
    let source = source_db.store().await;
    let tenant = acme(&source).await;
    let key = Arc::new(ServerKey::from_bytes(&[42; 32]).unwrap());
    let now = "2026-01-01T00:00:00.000Z";

    // The target already has ann (created by hand, no externalId): she is linked by
    // userName, not created twice.
    let (status, _) = target
        .post("/Users", serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann", "nickName": "Annie"}))
        .await;
    assert_eq!(status, 201);

    let row = CrmTargetRow {
        kind: TargetKind::Scim,
        url: target.scim(""),
        sealed_secret: key.seal(tenant.id, &target.token).unwrap(),
        delete_on_deprovision: false,
        mapping: None,
        oauth2: None,
        reconcile_hours: None,
        updated_at: now.into(),
    };
    // First with a token the CRM refuses.
    let wrong = CrmTargetRow {
        sealed_secret: key.seal(tenant.id, "not-the-token").unwrap(),
        ..row.clone()
    };
    source
        .set_crm_target(&tenant, &wrong, false, Expect::Any)
        .await
        .unwrap();
    let pks = source
        .apply_account_changes(
            &tenant,
            &[
                Change::Create {
                    staged_user_id: "s-ann".into(),
                    external_id: Some("ext-ann".into()),
                    fields: account("ann", true),
                },
                Change::Create {
                    staged_user_id: "s-bob".into(),
                    external_id: Some("ext-bob".into()),
                    fields: account("bob", true),
                },
            ],
            now,
        )
        .await
        .unwrap();
    let t0 = scimgate_core::Timestamp::parse_rfc3339(now)
        .unwrap()
        .unix_millis();
    let clock = scimgate_testkit::ManualClock::at(t0);
    let worker = loopback_worker(&source, clock.clone(), key.clone());
    assert_eq!(worker.run_once().await.unwrap(), 2);
    let counts = source.push_counts(&tenant).await.unwrap();
    assert_eq!(
        (counts.pending, counts.dead),
        (2, 0),
        "401: retried later, not dead"
    );
    // The token fixed: the waiting pushes go through, and the CRM is still known to take
    // PATCH (a refused discovery is not remembered as "no PATCH").
    source
        .set_crm_target(&tenant, &row, false, Expect::Any)
        .await
        .unwrap();
    clock.advance_ms(5_000);
    assert_eq!(drain(&worker).await, 2);
    let counts = source.push_counts(&tenant).await.unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.dead), (0, 2, 0));

    let (_, list) = target.get("/Users").await;
    assert_eq!(list["totalResults"], 2, "no duplicate: {list}");
    let (_, found) = target.get("/Users?filter=userName%20eq%20%22bob%22").await;
    let bob = &found["Resources"][0];
    assert_eq!(bob["externalId"], "ext-bob");
    assert_eq!(bob["displayName"], "bob Display");
    assert_eq!(bob["emails"][0]["value"], "bob@acme.example");
    assert_eq!(bob["title"], "Manager");
    assert_eq!(bob["active"], true);
    let enterprise = &bob["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(
        (
            enterprise["organization"].as_str(),
            enterprise["department"].as_str()
        ),
        (Some("Acme AS"), Some("Sales"))
    );
    // scimgate declares only the enterprise extension: its own is left out, or a strict
    // provider would refuse the user.
    assert!(
        bob.get(scimgate_crm::push::scim::CRM_EXTENSION).is_none(),
        "{bob}"
    );
    assert_eq!(bob["schemas"].as_array().unwrap().len(), 2);
    let bob_id = bob["id"].as_str().unwrap().to_owned();
    assert_eq!(
        source
            .account_target_id(&tenant, pks[1])
            .await
            .unwrap()
            .as_deref(),
        Some(bob_id.as_str())
    );
    let (_, found) = target.get("/Users?filter=userName%20eq%20%22ann%22").await;
    assert_eq!(
        found["Resources"][0]["externalId"], "ext-ann",
        "ann linked and updated"
    );
    // Updated by PATCH (the target offers it): what scimgate does not map stays.
    assert_eq!(found["Resources"][0]["nickName"], "Annie");

    // Deprovisioning: bob is deactivated on the target, by his link.
    source
        .apply_account_changes(&tenant, &[Change::Deactivate { pk: pks[1] }], now)
        .await
        .unwrap();
    assert_eq!(drain(&worker).await, 1);
    let (_, bob) = target.get(&format!("/Users/{bob_id}")).await;
    assert_eq!(bob["active"], false);

    // Queued twice (a run repeated after a crash): delivered twice, still one user each.
    let again = Change::Update {
        pk: pks[0],
        staged_user_id: "s-ann".into(),
        external_id: Some("ext-ann".into()),
        fields: account("ann", true),
    };
    source
        .apply_account_changes(&tenant, std::slice::from_ref(&again), now)
        .await
        .unwrap();
    source
        .apply_account_changes(&tenant, &[again], now)
        .await
        .unwrap();
    assert_eq!(drain(&worker).await, 2);
    let (_, list) = target.get("/Users").await;
    assert_eq!(list["totalResults"], 2);

    // The target unreachable: the push stays queued for a retry, not lost.
    let down = CrmTargetRow {
        url: "http://127.0.0.1:9/scim/v2/acme".into(),
        ..row
    };
    source
        .set_crm_target(&tenant, &down, true, Expect::Any)
        .await
        .unwrap();
    assert_eq!(worker.run_once().await.unwrap(), 2);
    let counts = source.push_counts(&tenant).await.unwrap();
    assert_eq!((counts.pending, counts.dead), (2, 0), "retried later");
    assert_eq!(worker.run_once().await.unwrap(), 0, "not due yet");
}

on_both_backends!(accounts_reach_a_scim_target_once_and_in_their_latest_state);

/// A target answering `429 Too Many Requests` with `Retry-After: 7`: the push comes back
/// after those 7 s (not the worker's own backoff), and nothing is sent meanwhile.
async fn a_busy_target_is_asked_again_when_it_says(backend: DbBackend) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let tenant = acme(&store).await;
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let busy = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "7")],
                r#"{"detail":"slow down"}"#,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/scim/v2", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, busy).await.unwrap() });

    let key = Arc::new(ServerKey::from_bytes(&[1; 32]).unwrap());
    let now = "2026-01-01T00:00:00.000Z";
    let t0 = scimgate_core::Timestamp::parse_rfc3339(now)
        .unwrap()
        .unix_millis();
    let row = CrmTargetRow {
        kind: TargetKind::Scim,
        url,
        sealed_secret: key.seal(tenant.id, "token").unwrap(),
        delete_on_deprovision: false,
        mapping: None,
        oauth2: None,
        reconcile_hours: None,
        updated_at: now.into(),
    };
    store
        .set_crm_target(&tenant, &row, false, Expect::Any)
        .await
        .unwrap();
    let create = Change::Create {
        staged_user_id: "s-ann".into(),
        external_id: Some("ext-ann".into()),
        fields: account("ann", true),
    };
    store
        .apply_account_changes(&tenant, &[create], now)
        .await
        .unwrap();
    let clock = scimgate_testkit::ManualClock::at(t0);
    let worker = loopback_worker(&store, clock.clone(), key);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(asked.load(Ordering::SeqCst), 1, "one request, then wait");
    clock.advance_ms(6_999);
    assert_eq!(
        worker.run_once().await.unwrap(),
        0,
        "not before Retry-After"
    );
    clock.advance_ms(1);
    assert_eq!(
        worker.run_once().await.unwrap(),
        1,
        "due when the target said"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    let counts = store.push_counts(&tenant).await.unwrap();
    assert_eq!((counts.pending, counts.dead), (1, 0));
    server.abort();
}

on_both_backends!(a_busy_target_is_asked_again_when_it_says);

/// A webhook target: each account change POSTed as JSON with its signature, an
/// idempotency key that stays the same across retries, and a sequence that grows per
/// account; a failed attempt is retried, then the next change follows in order.
async fn accounts_reach_a_webhook_signed_and_in_order(backend: DbBackend) {
    use scimgate_crm::push::webhook::{IDEMPOTENCY_HEADER, SEQUENCE_HEADER, SIGNATURE_HEADER};
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let tenant = acme(&store).await;
    // Down once, then up.
    let receiver = scimgate_testkit::WebhookReceiver::start(&[503, 200]).await;
    let key = Arc::new(ServerKey::from_bytes(&[5; 32]).unwrap());
    let secret = "whsec-test";
    let now = "2026-01-01T00:00:00.000Z";
    let t0 = scimgate_core::Timestamp::parse_rfc3339(now)
        .unwrap()
        .unix_millis();
    let row = CrmTargetRow {
        kind: TargetKind::Webhook,
        url: receiver.url.clone(),
        sealed_secret: key.seal(tenant.id, secret).unwrap(),
        delete_on_deprovision: false,
        mapping: None,
        oauth2: None,
        reconcile_hours: None,
        updated_at: now.into(),
    };
    store
        .set_crm_target(&tenant, &row, false, Expect::Any)
        .await
        .unwrap();
    let create = Change::Create {
        staged_user_id: "s-ann".into(),
        external_id: Some("ext-ann".into()),
        fields: account("ann", true),
    };
    let pk = store
        .apply_account_changes(&tenant, &[create], now)
        .await
        .unwrap()[0];
    store
        .apply_account_changes(&tenant, &[Change::Deactivate { pk }], now)
        .await
        .unwrap();
    let clock = scimgate_testkit::ManualClock::at(t0);
    let worker = loopback_worker(&store, clock.clone(), key);
    assert_eq!(
        worker.run_once().await.unwrap(),
        1,
        "the second waits for the first"
    );
    clock.advance_ms(5_000);
    assert_eq!(drain(&worker).await, 2);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    let (first, retried, second) = (&requests[0], &requests[1], &requests[2]);
    assert_eq!(first.answered, 503);
    assert_eq!(
        first.header(IDEMPOTENCY_HEADER),
        retried.header(IDEMPOTENCY_HEADER)
    );
    assert_ne!(
        retried.header(IDEMPOTENCY_HEADER),
        second.header(IDEMPOTENCY_HEADER)
    );
    let sequence = |r: &scimgate_testkit::ReceivedRequest| -> i64 {
        r.header(SEQUENCE_HEADER).unwrap().parse().unwrap()
    };
    assert!(sequence(second) > sequence(retried));
    for request in &requests {
        let expected = format!(
            "sha256={}",
            scimgate_testkit::hmac_sha256_hex(secret, request.body.as_bytes())
        );
        assert_eq!(request.header(SIGNATURE_HEADER), Some(expected.as_str()));
    }
    let (created, deactivated) = (retried.json(), second.json());
    assert_eq!(created["account"]["username"], "ann");
    assert_eq!(created["account"]["user_plan"], "Sales Premium");
    // Each push sends the account as it is when sent: by the retry, ann was already
    // deactivated, and the receiver never sees an older state after a newer one.
    assert_eq!(created["account"]["active"], false);
    assert_eq!(deactivated["account"]["active"], false);
    assert_eq!(deactivated["sequence"], sequence(second));
    let counts = store.push_counts(&tenant).await.unwrap();
    assert_eq!((counts.pending, counts.delivered), (0, 2));
}

on_both_backends!(accounts_reach_a_webhook_signed_and_in_order);

/// A request the proxy passed on, and the target's status.
struct Forwarded {
    method: String,
    path: String,
    status: u16,
    body: String,
}

/// What the proxy in front of a target does with each request.
const FORWARD: u8 = 0;
/// Answers `503` without asking the target: the application is down.
const DOWN: u8 = 1;
/// Forwards a `POST`, then never answers: the pusher is killed while it waits.
const STALL_AFTER_POST: u8 = 2;

/// A proxy on 127.0.0.1 in front of a real scimgate target, switched between
/// [`FORWARD`], [`DOWN`] and [`STALL_AFTER_POST`]; it logs each request the target
/// answered.
struct Proxy {
    url: String,
    mode: Arc<std::sync::atomic::AtomicU8>,
    log: Arc<std::sync::Mutex<Vec<Forwarded>>>,
    task: tokio::task::JoinHandle<()>,
}

/// A resource server's check of access tokens: each is introspected (RFC 7662) at the
/// authorization server; an active one is let through with the target's own token.
#[derive(Clone)]
struct Gate {
    introspection_url: String,
    client_id: String,
    client_secret: String,
    target_token: String,
    /// Every access token presented, in order.
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Gate {
    /// The header to send on, or `None` (refused) for a missing or inactive token.
    async fn admit(&self, http: &reqwest::Client, authorization: Option<&str>) -> Option<String> {
        let token = authorization?.strip_prefix("Bearer ")?.to_owned();
        self.seen.lock().unwrap().push(token.clone());
        let answer: serde_json::Value = (http.post(&self.introspection_url))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (answer["active"] == true).then(|| format!("Bearer {}", self.target_token))
    }
}

impl Proxy {
    async fn start(target: &TestServer) -> Proxy {
        Proxy::start_gated(target, None).await
    }

    async fn start_gated(target: &TestServer, gate: Option<Gate>) -> Proxy {
        use axum::response::IntoResponse;
        use std::sync::atomic::Ordering;
        let mode = Arc::new(std::sync::atomic::AtomicU8::new(FORWARD));
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (base, http) = (target.url(""), reqwest::Client::new());
        let (switch, written) = (mode.clone(), log.clone());
        let forward = move |request: axum::extract::Request| {
            let (base, http, switch, written, gate) = (
                base.clone(),
                http.clone(),
                switch.clone(),
                written.clone(),
                gate.clone(),
            );
            async move {
                let mode = switch.load(Ordering::SeqCst);
                if mode == DOWN {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                let (mut parts, body) = request.into_parts();
                if let Some(gate) = &gate {
                    let presented = parts.headers.get("authorization");
                    let presented = presented.and_then(|v| v.to_str().ok());
                    match gate.admit(&http, presented).await {
                        Some(header) => {
                            parts
                                .headers
                                .insert("authorization", header.parse().unwrap());
                        }
                        None => return axum::http::StatusCode::UNAUTHORIZED.into_response(),
                    }
                }
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let path = parts.uri.path_and_query().unwrap().as_str().to_owned();
                let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap();
                let mut sent = http.request(method.clone(), format!("{base}{path}"));
                for name in ["authorization", "content-type", "accept"] {
                    if let Some(value) = parts.headers.get(name) {
                        sent = sent.header(name, value.to_str().unwrap());
                    }
                }
                let text = String::from_utf8_lossy(&body).into_owned();
                let answer = sent.body(body).send().await.unwrap();
                let status = answer.status().as_u16();
                written.lock().unwrap().push(Forwarded {
                    method: method.to_string(),
                    path,
                    status,
                    body: text,
                });
                if mode == STALL_AFTER_POST && method == reqwest::Method::POST {
                    std::future::pending::<()>().await;
                }
                let body = answer.bytes().await.unwrap();
                let status = axum::http::StatusCode::from_u16(status).unwrap();
                (status, [("content-type", "application/scim+json")], body).into_response()
            }
        };
        let app = axum::Router::new().fallback(forward);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/scim/v2/{}",
            listener.local_addr().unwrap(),
            target.tenant.name
        );
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Proxy {
            url,
            mode,
            log,
            task,
        }
    }

    fn switch(&self, mode: u8) {
        self.mode.store(mode, std::sync::atomic::Ordering::SeqCst);
    }

    /// The writes (POST, PATCH, PUT) the target accepted, as `(method, path)`.
    fn accepted_writes(&self) -> Vec<(String, String)> {
        let log = self.log.lock().unwrap();
        (log.iter())
            .filter(|f| f.method != "GET" && (200..300).contains(&f.status))
            .map(|f| (f.method.clone(), f.path.clone()))
            .collect()
    }

    /// The bodies of the PATCH requests to paths ending in `path`.
    fn patches_to(&self, path: &str) -> Vec<serde_json::Value> {
        let log = self.log.lock().unwrap();
        (log.iter())
            .filter(|f| f.method == "PATCH" && f.path.ends_with(path))
            .map(|f| serde_json::from_str(&f.body).unwrap())
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const NOW: &str = "2026-01-01T00:00:00.000Z";

/// Tenant `acme`, in its own database, pushing to the SCIM target at `url` with `token`,
/// on a manual clock at [`NOW`].
struct Pushing {
    store: scimgate_store::Store,
    tenant: scimgate_store::Tenant,
    key: Arc<ServerKey>,
    row: CrmTargetRow,
    clock: Arc<scimgate_testkit::ManualClock>,
    _db: TestDb,
}

async fn pushing_to(
    backend: DbBackend,
    url: &str,
    token: &str,
    delete_on_deprovision: bool,
) -> Option<Pushing> {
    let db = TestDb::new(backend).await?;
    let store = db.store().await;
    let tenant = acme(&store).await;
    let key = Arc::new(ServerKey::from_bytes(&[9; 32]).unwrap());
    let row = CrmTargetRow {
        kind: TargetKind::Scim,
        url: url.to_owned(),
        sealed_secret: key.seal(tenant.id, token).unwrap(),
        delete_on_deprovision,
        mapping: None,
        oauth2: None,
        reconcile_hours: None,
        updated_at: NOW.into(),
    };
    (store
        .set_crm_target(&tenant, &row, false, Expect::Any)
        .await)
        .unwrap();
    let t0 = scimgate_core::Timestamp::parse_rfc3339(NOW)
        .unwrap()
        .unix_millis();
    Some(Pushing {
        store,
        tenant,
        key,
        row,
        clock: scimgate_testkit::ManualClock::at(t0),
        _db: db,
    })
}

impl Pushing {
    fn worker(&self) -> PushWorker {
        loopback_worker(&self.store, self.clock.clone(), self.key.clone())
    }
}

/// [`Pushing`] to a real scimgate target through a [`Proxy`].
struct BehindProxy {
    target: TestServer,
    proxy: Proxy,
    pushing: Pushing,
}

async fn behind_proxy(backend: DbBackend) -> Option<BehindProxy> {
    let target = TestServer::start(backend).await?;
    let proxy = Proxy::start(&target).await;
    let pushing = pushing_to(backend, &proxy.url, &target.token, false).await?;
    Some(BehindProxy {
        target,
        proxy,
        pushing,
    })
}

fn create(name: &str) -> Change {
    Change::Create {
        staged_user_id: format!("s-{name}"),
        external_id: Some(format!("ext-{name}")),
        fields: account(name, true),
    }
}

/// The pusher killed after the target created the users but before it heard back (so
/// before the links were stored), and started again: the new one waits for the dead
/// one's lease, then finds the users by externalId and updates them; none is created
/// twice.
async fn a_pusher_killed_mid_delivery_creates_no_duplicates(backend: DbBackend) {
    let Some(BehindProxy {
        target,
        proxy,
        pushing,
    }) = behind_proxy(backend).await
    else {
        return;
    };
    let Pushing {
        store,
        tenant,
        key,
        clock,
        ..
    } = &pushing;
    let pks = (store.apply_account_changes(tenant, &[create("ann"), create("bob")], NOW))
        .await
        .unwrap();
    proxy.switch(STALL_AFTER_POST);
    let first = loopback_worker(store, clock.clone(), key.clone());
    let killed = tokio::time::timeout(std::time::Duration::from_secs(3), first.run_once());
    assert!(
        killed.await.is_err(),
        "the first pusher waits on its POSTs until it is killed"
    );
    drop(first);
    let (_, list) = target.get("/Users").await;
    assert_eq!(
        list["totalResults"], 2,
        "the target created both users: {list}"
    );
    for pk in &pks {
        assert_eq!(store.account_target_id(tenant, *pk).await.unwrap(), None);
    }

    proxy.switch(FORWARD);
    let restarted = loopback_worker(store, clock.clone(), key.clone());
    assert_eq!(
        restarted.run_once().await.unwrap(),
        0,
        "the dead pusher's lease holds"
    );
    clock.advance_ms(60_001);
    assert_eq!(drain(&restarted).await, 2);
    let (_, list) = target.get("/Users").await;
    assert_eq!(list["totalResults"], 2, "no duplicate: {list}");
    for (pk, who) in pks.iter().zip(["ann", "bob"]) {
        let linked = store.account_target_id(tenant, *pk).await.unwrap();
        assert_eq!(linked, Some(user_id(&list, who)));
    }
    let posts = (proxy.accepted_writes().into_iter())
        .filter(|(m, _)| m == "POST")
        .count();
    assert_eq!(posts, 2, "one POST per user, only by the killed pusher");
    let counts = store.push_counts(tenant).await.unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.dead), (0, 2, 0));
}

on_both_backends!(a_pusher_killed_mid_delivery_creates_no_duplicates);

/// The target down for six hours while accounts change: nothing is dead, nothing sent;
/// when it is back every change is delivered once, each account's in order, and the
/// target ends with each account's latest state.
async fn a_target_down_for_hours_gets_every_change_once_in_order(backend: DbBackend) {
    let Some(BehindProxy {
        target,
        proxy,
        pushing,
    }) = behind_proxy(backend).await
    else {
        return;
    };
    let Pushing {
        store,
        tenant,
        key,
        clock,
        ..
    } = &pushing;
    let now = NOW;
    let worker = loopback_worker(store, clock.clone(), key.clone());
    // bob reaches the target before it goes down; ann is created while it is down.
    let bob = (store
        .apply_account_changes(tenant, &[create("bob")], now)
        .await)
        .unwrap()[0];
    assert_eq!(drain(&worker).await, 1);
    proxy.switch(DOWN);
    let ann = (store
        .apply_account_changes(tenant, &[create("ann")], now)
        .await)
        .unwrap()[0];
    let mut ann_fields = account("ann", true);
    for (hour, title) in [(1, "Lead"), (3, "Director")] {
        clock.advance_ms(3_600_000);
        ann_fields.role = Some(title.into());
        let update = Change::Update {
            pk: ann,
            staged_user_id: "s-ann".into(),
            external_id: Some("ext-ann".into()),
            fields: ann_fields.clone(),
        };
        (store.apply_account_changes(tenant, &[update], now).await).unwrap();
        if hour == 3 {
            let gone = Change::Deactivate { pk: bob };
            (store.apply_account_changes(tenant, &[gone], now).await).unwrap();
        }
        drain(&worker).await;
    }
    // Six hours of the worker's ticks against a target that is down.
    for _ in 0..36 {
        clock.advance_ms(600_000);
        drain(&worker).await;
    }
    let counts = store.push_counts(tenant).await.unwrap();
    assert_eq!(
        (counts.pending, counts.delivered, counts.dead),
        (4, 1, 0),
        "waiting, none dead"
    );
    assert_eq!(proxy.accepted_writes().len(), 1, "only bob's first push");

    proxy.switch(FORWARD);
    clock.advance_ms(3_600_000);
    for _ in 0..5 {
        drain(&worker).await;
    }
    let counts = store.push_counts(tenant).await.unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.dead), (0, 5, 0));
    let (_, list) = target.get("/Users").await;
    assert_eq!(list["totalResults"], 2, "{list}");
    let (_, found) = target.get("/Users?filter=userName%20eq%20%22ann%22").await;
    assert_eq!(
        found["Resources"][0]["title"], "Director",
        "ann's latest state"
    );
    let (_, found) = target.get("/Users?filter=userName%20eq%20%22bob%22").await;
    assert_eq!(found["Resources"][0]["active"], false, "bob deactivated");
    // Each push once, and only what it changes: ann's POST (sent when the target came
    // back) already carried her latest state, so her two updates had nothing left to
    // send; bob's deactivation is a PATCH of `active` alone.
    let writes = proxy.accepted_writes();
    let posts = writes.iter().filter(|(m, _)| m == "POST").count();
    assert_eq!(posts, 2, "{writes:?}");
    let ann = format!("/Users/{}", user_id(&list, "ann"));
    assert!(proxy.patches_to(&ann).is_empty(), "{writes:?}");
    let bob = format!("/Users/{}", user_id(&list, "bob"));
    let patches = proxy.patches_to(&bob);
    assert_eq!(patches.len(), 1, "{writes:?}");
    assert_eq!(
        patches[0]["Operations"],
        serde_json::json!([{"op": "replace", "path": "active", "value": false}])
    );
}

/// The target's id of the user `user_name` in a `/Users` list.
fn user_id(list: &serde_json::Value, user_name: &str) -> String {
    let users = list["Resources"].as_array().unwrap();
    let user = users.iter().find(|u| u["userName"] == user_name).unwrap();
    user["id"].as_str().unwrap().to_owned()
}

on_both_backends!(a_target_down_for_hours_gets_every_change_once_in_order);

/// scim2-server (python-scim's strict provider, from PyPI) as the CRM: accounts arrive
/// with the mapped attributes and the enterprise extension it declares (not scimgate's
/// own, which it does not), are updated by PATCH and deactivated, are not duplicated when
/// queued twice; a reconcile then finds nothing out of step, and a hand edit is drift.
async fn accounts_reach_scim2_server_and_drift_is_found(backend: DbBackend) {
    let Some(crm) = scimgate_testkit::Scim2Server::start().await else {
        return;
    };
    let Some(pushing) = pushing_to(backend, &crm.url, &crm.token, false).await else {
        return;
    };
    let Pushing {
        store,
        tenant,
        key,
        row,
        ..
    } = &pushing;
    let pks = (store.apply_account_changes(tenant, &[create("ann"), create("bob")], NOW))
        .await
        .unwrap();
    let worker = pushing.worker();
    assert_eq!(drain(&worker).await, 2);
    let counts = store.push_counts(tenant).await.unwrap();
    assert_eq!((counts.delivered, counts.dead), (2, 0));

    let bob = crm.users_where("userName", "bob").await;
    assert_eq!(bob.len(), 1, "{bob:?}");
    let bob = &bob[0];
    assert_eq!(bob["externalId"], "ext-bob");
    assert_eq!(bob["displayName"], "bob Display");
    assert_eq!(bob["emails"][0]["value"], "bob@acme.example");
    assert_eq!(bob["title"], "Manager");
    assert_eq!(bob["active"], true);
    let enterprise = &bob[scimgate_crm::push::scim::ENTERPRISE];
    assert_eq!(enterprise["organization"], "Acme AS");
    assert_eq!(enterprise["department"], "Sales");
    assert!(bob.get(scimgate_crm::push::scim::CRM_EXTENSION).is_none());

    // ann promoted, bob leaves: a PATCH each.
    let mut promoted = account("ann", true);
    promoted.role = Some("Director".into());
    let update = Change::Update {
        pk: pks[0],
        staged_user_id: "s-ann".into(),
        external_id: Some("ext-ann".into()),
        fields: promoted.clone(),
    };
    let changes = [update.clone(), Change::Deactivate { pk: pks[1] }];
    (store.apply_account_changes(tenant, &changes, NOW).await).unwrap();
    // The same change again (a run repeated after a crash).
    (store.apply_account_changes(tenant, &[update], NOW).await).unwrap();
    assert_eq!(drain(&worker).await, 3);
    assert_eq!(
        crm.users_where("userName", "ann").await[0]["title"],
        "Director"
    );
    assert_eq!(crm.users_where("userName", "bob").await[0]["active"], false);
    assert_eq!(crm.get("/Users").await.1["totalResults"], 2, "no duplicate");

    // Reconcile: in step; then someone renames ann on the CRM.
    let reconcile = async || {
        let accounts = store.accounts(tenant).await.unwrap();
        let links = store.account_links(tenant).await.unwrap();
        let key = KeySource::Key(key.clone());
        (scimgate_crm::push::reconcile(&loopback(), &key, tenant, row, &accounts, &links, 0))
            .await
            .unwrap()
    };
    let report = reconcile().await;
    assert_eq!((report.accounts, report.target_users), (2, 2));
    assert!(report.drift.is_empty(), "{report:?}");
    let ann_id = store
        .account_target_id(tenant, pks[0])
        .await
        .unwrap()
        .unwrap();
    let rename = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Annie"}]
    });
    let patched = (crm.request(reqwest::Method::PATCH, &format!("/Users/{ann_id}")))
        .body(rename.to_string())
        .send()
        .await
        .unwrap();
    assert!(
        patched.status().is_success(),
        "{}",
        patched.text().await.unwrap()
    );
    let report = reconcile().await;
    assert_eq!(report.drift.len(), 1, "{report:?}");
    let drift = &report.drift[0];
    assert_eq!(
        (drift.kind, drift.account_pk),
        (scimgate_core::DriftKind::Edited, Some(pks[0]))
    );
    assert_eq!(drift.differences[0].attribute, "displayName");
    assert_eq!(drift.differences[0].found, "Annie");
}

on_both_backends!(accounts_reach_scim2_server_and_drift_is_found);

/// A tenant that asks for it has a deprovisioned account's user deleted on the target
/// (not deactivated); reactivated, the account gets a new user there.
async fn deprovisioned_users_are_deleted_when_the_tenant_asks(backend: DbBackend) {
    let Some(target) = TestServer::start(backend).await else {
        return;
    };
    let Some(pushing) = pushing_to(backend, &target.scim(""), &target.token, true).await else {
        return;
    };
    let (store, tenant) = (&pushing.store, &pushing.tenant);
    assert!(
        store
            .crm_target(tenant)
            .await
            .unwrap()
            .unwrap()
            .delete_on_deprovision
    );
    let pk = (store
        .apply_account_changes(tenant, &[create("ann")], NOW)
        .await)
        .unwrap()[0];
    let worker = pushing.worker();
    assert_eq!(drain(&worker).await, 1);
    let first = store.account_target_id(tenant, pk).await.unwrap().unwrap();

    let leave = Change::Deactivate { pk };
    (store.apply_account_changes(tenant, &[leave], NOW).await).unwrap();
    assert_eq!(drain(&worker).await, 1);
    assert_eq!(target.get("/Users").await.1["totalResults"], 0, "deleted");
    assert_eq!(target.get(&format!("/Users/{first}")).await.0, 404);
    assert_eq!(store.account_target_id(tenant, pk).await.unwrap(), None);

    let back = Change::Update {
        pk,
        staged_user_id: "s-ann".into(),
        external_id: Some("ext-ann".into()),
        fields: account("ann", true),
    };
    (store.apply_account_changes(tenant, &[back], NOW).await).unwrap();
    assert_eq!(drain(&worker).await, 1);
    let (_, list) = target.get("/Users").await;
    assert_eq!(list["totalResults"], 1, "{list}");
    let again = store.account_target_id(tenant, pk).await.unwrap();
    assert_eq!(again, Some(user_id(&list, "ann")));
    assert_ne!(again, Some(first));
    let counts = store.push_counts(tenant).await.unwrap();
    assert_eq!((counts.delivered, counts.dead), (3, 0));
}

on_both_backends!(deprovisioned_users_are_deleted_when_the_tenant_asks);

/// A SCIM application behind OAuth 2.0: panva's oidc-provider is its authorization
/// server, and a resource server in front of a second scimgate admits only the tokens
/// the provider says are active. scimgate gets a token by the client credentials grant,
/// keeps using it, and its pushes arrive; with a wrong client secret nothing gets
/// through and the pushes wait.
async fn a_target_behind_oauth2_is_reached_with_client_credentials(backend: DbBackend) {
    const CLIENT: &str = "scimgate-crm";
    const SECRET: &str = "a-client-secret-for-the-crm";
    use scimgate_testkit::oidc_provider::OidcProvider;
    let Some(op) = OidcProvider::start_issuing_client_credentials(CLIENT, SECRET).await else {
        return;
    };
    let Some(target) = TestServer::start(backend).await else {
        return;
    };
    let gate = Gate {
        introspection_url: op.introspection_endpoint(),
        client_id: CLIENT.into(),
        client_secret: SECRET.into(),
        target_token: target.token.clone(),
        seen: Default::default(),
    };
    let proxy = Proxy::start_gated(&target, Some(gate.clone())).await;
    let Some(pushing) = pushing_to(backend, &proxy.url, "no static token", false).await else {
        return;
    };
    let (store, tenant) = (&pushing.store, &pushing.tenant);
    let oauth2 = |secret: &str| CrmTargetRow {
        sealed_secret: pushing.key.seal(tenant.id, secret).unwrap(),
        oauth2: Some(scimgate_store::crm_push::OAuth2Client {
            token_url: op.token_endpoint(),
            client_id: CLIENT.into(),
            scope: Some("scim".into()),
        }),
        ..pushing.row.clone()
    };
    (store
        .set_crm_target(tenant, &oauth2(SECRET), false, Expect::Any)
        .await)
        .unwrap();
    let stored = store.crm_target(tenant).await.unwrap().unwrap();
    assert_eq!(stored.oauth2.unwrap().client_id, CLIENT);

    let changes = [create("ann"), create("bob")];
    (store.apply_account_changes(tenant, &changes, NOW).await).unwrap();
    let worker = pushing.worker();
    assert_eq!(drain(&worker).await, 2);
    let counts = store.push_counts(tenant).await.unwrap();
    assert_eq!((counts.pending, counts.delivered), (0, 2));
    assert_eq!(target.get("/Users").await.1["totalResults"], 2);
    let seen = gate.seen.lock().unwrap().clone();
    assert!(seen.len() >= 4, "discovery and two pushes: {seen:?}");
    assert!(
        seen.iter().all(|t| *t == seen[0]),
        "one token, kept: {seen:?}"
    );

    // A wrong client secret: the same worker asks again with it (a token is kept for its
    // tenant, client and secret, not for the client alone), the token endpoint refuses
    // the client, nothing reaches the application, and the push waits.
    (store
        .set_crm_target(tenant, &oauth2("not-the-secret"), false, Expect::Any)
        .await)
        .unwrap();
    let pk = store.accounts(tenant).await.unwrap()[0].pk;
    let update = Change::Update {
        pk,
        staged_user_id: "s-ann".into(),
        external_id: Some("ext-ann".into()),
        fields: account("ann", true),
    };
    (store.apply_account_changes(tenant, &[update], NOW).await).unwrap();
    let before = gate.seen.lock().unwrap().len();
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let counts = store.push_counts(tenant).await.unwrap();
    assert_eq!(
        (counts.pending, counts.dead),
        (1, 0),
        "waits for the secret to be fixed"
    );
    assert_eq!(
        gate.seen.lock().unwrap().len(),
        before,
        "nothing sent to the application"
    );
}

on_both_backends!(a_target_behind_oauth2_is_reached_with_client_credentials);

/// A target reconciled every six hours: the first check runs at once, the next not
/// before six hours have passed; each records its counts (a user edited by hand on the
/// target shows as edited), and a target that cannot be read records why.
async fn a_scheduled_reconcile_records_what_differs(backend: DbBackend) {
    let Some(target) = TestServer::start(backend).await else {
        return;
    };
    let Some(pushing) = pushing_to(backend, &target.scim(""), &target.token, false).await else {
        return;
    };
    let (store, tenant, clock) = (&pushing.store, &pushing.tenant, &pushing.clock);
    let every_six_hours = CrmTargetRow {
        reconcile_hours: Some(6),
        ..pushing.row.clone()
    };
    (store
        .set_crm_target(tenant, &every_six_hours, false, Expect::Any)
        .await)
        .unwrap();
    let app = scimgate_app::App::builtin(
        store.clone(),
        clock.clone(),
        scimgate_notify::target::TargetPolicy::ALLOW_PRIVATE,
    )
    .with_server_key(KeySource::Key(pushing.key.clone()));
    (store
        .apply_account_changes(tenant, &[create("ann")], NOW)
        .await)
        .unwrap();
    assert_eq!(drain(&pushing.worker()).await, 1);

    assert_eq!(app.reconcile_due().await.unwrap(), 1, "due at once");
    let state = app.crm_target(tenant).await.unwrap().value;
    assert_eq!(state.target.unwrap().reconcile_every_hours, Some(6));
    let last = state.last_reconcile.unwrap();
    assert_eq!(
        (last.edited, last.missing, last.extra, last.error),
        (0, 0, 0, None)
    );

    let (_, list) = target.get("/Users").await;
    let rename = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "By hand"}]});
    assert_eq!(
        target
            .patch(&format!("/Users/{}", user_id(&list, "ann")), rename)
            .await
            .0,
        200
    );
    clock.advance_ms(6 * 3_600_000 - 1);
    assert_eq!(
        app.reconcile_due().await.unwrap(),
        0,
        "not before six hours"
    );
    clock.advance_ms(1);
    assert_eq!(app.reconcile_due().await.unwrap(), 1);
    let last = app
        .crm_target(tenant)
        .await
        .unwrap()
        .value
        .last_reconcile
        .unwrap();
    assert_eq!((last.edited, last.missing, last.extra), (1, 0, 0));

    // Moved somewhere nothing answers: saving it makes a check due, which records why.
    let gone = CrmTargetRow {
        url: "http://127.0.0.1:9/scim/v2".into(),
        ..every_six_hours
    };
    (store
        .set_crm_target(tenant, &gone, false, Expect::Any)
        .await)
        .unwrap();
    assert_eq!(app.reconcile_due().await.unwrap(), 1);
    let last = app
        .crm_target(tenant)
        .await
        .unwrap()
        .value
        .last_reconcile
        .unwrap();
    assert!(last.error.unwrap().contains("did not answer"));
}

on_both_backends!(a_scheduled_reconcile_records_what_differs);

/// Secondary groups and the role as group memberships on the target: the groups are
/// created there as needed, the user is made a member, and a group the account leaves
/// loses the member (the group itself stays).
async fn groups_and_role_become_memberships_on_the_target(backend: DbBackend) {
    let Some(target) = TestServer::start(backend).await else {
        return;
    };
    let Some(pushing) = pushing_to(backend, &target.scim(""), &target.token, false).await else {
        return;
    };
    let (store, tenant) = (&pushing.store, &pushing.tenant);
    let as_groups = CrmTargetRow {
        mapping: Some("secondary_groups: groups\nrole: groups\n".into()),
        ..pushing.row.clone()
    };
    (store
        .set_crm_target(tenant, &as_groups, false, Expect::Any)
        .await)
        .unwrap();
    // The CRM has a Support group already: it is used, not made twice.
    let support = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Support"});
    assert_eq!(target.post("/Groups", support).await.0, 201);
    let pk = (store
        .apply_account_changes(tenant, &[create("ann")], NOW)
        .await)
        .unwrap()[0];
    let worker = pushing.worker();
    assert_eq!(drain(&worker).await, 1);

    let ann = store.account_target_id(tenant, pk).await.unwrap().unwrap();
    let members_of = async |name: &str| -> Vec<String> {
        let (_, list) = target
            .get(&format!("/Groups?filter=displayName%20eq%20%22{name}%22"))
            .await;
        assert_eq!(list["totalResults"], 1, "one group {name}: {list}");
        let id = list["Resources"][0]["id"].as_str().unwrap().to_owned();
        let (_, group) = target.get(&format!("/Groups/{id}")).await;
        (group["members"].as_array().into_iter().flatten())
            .map(|m| m["value"].as_str().unwrap().to_owned())
            .collect()
    };
    for group in ["Manager", "Oslo", "Support"] {
        assert_eq!(
            members_of(group).await,
            std::slice::from_ref(&ann),
            "{group}"
        );
    }
    let (_, user) = target.get(&format!("/Users/{ann}")).await;
    assert!(
        user.get("title").is_none(),
        "the role is a membership, not a title: {user}"
    );

    // ann leaves Support.
    let mut fields = account("ann", true);
    fields.secondary_groups = vec!["Oslo".into()];
    let update = Change::Update {
        pk,
        staged_user_id: "s-ann".into(),
        external_id: Some("ext-ann".into()),
        fields,
    };
    (store.apply_account_changes(tenant, &[update], NOW).await).unwrap();
    assert_eq!(drain(&worker).await, 1);
    assert!(members_of("Support").await.is_empty());
    assert_eq!(members_of("Oslo").await, std::slice::from_ref(&ann));
    assert_eq!(members_of("Manager").await, [ann]);
    let groups = store.account_target_groups(tenant, pk).await.unwrap();
    assert_eq!(groups, ["Manager", "Oslo"]);
}

on_both_backends!(groups_and_role_become_memberships_on_the_target);

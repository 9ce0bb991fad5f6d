//! The sync engine as real processes: a `scimgate sync` killed half-way is completed by
//! the next run without duplicates, and two `scimgate serve` replicas on one database
//! run each automatic sync once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scimgate_core::{Clock, SystemClock, TenantName};
use scimgate_rules::Catalog;
use scimgate_scheduler::{RuleSource, RunStatus, SyncSettings, Syncer, Trigger};
use scimgate_store::Expect;
use scimgate_store::{IndexedDoc, ResourceKind, Store, Tenant, TokenKind, Write};
use scimgate_testkit::process::ServeProcess;
use scimgate_testkit::{entra_user, on_both_backends, DbBackend, TestDb};
use serde_json::json;
use sqlx::Row;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_scimgate");

const RULES: &str = "rules:\n  - name: Everyone\n    set: { user_plan: Standard, role: User }\n";
const CATALOG: &str = "user_plans: [Standard]\nroles: [User]\n";

/// A tenant with an unlimited Standard plan and a rule giving it to everyone.
async fn tenant_with_rules(store: &Store) -> Tenant {
    let tenant = store
        .create_tenant(&TenantName::parse("acme").unwrap(), SystemClock.now())
        .await
        .unwrap();
    let app = app(store);
    app.replace_catalog(&tenant, Expect::Any, Catalog::from_yaml(CATALOG).unwrap())
        .await
        .unwrap();
    let source = RuleSource {
        yaml: RULES.into(),
        scripts: Default::default(),
    };
    app.save_rules(&tenant, Expect::Any, source).await.unwrap();
    tenant
}

fn app(store: &Store) -> scimgate_app::App {
    scimgate_app::App::builtin(store.clone(), Arc::new(SystemClock), Default::default())
}

/// Stages `count` users through the store's write path, many at a time.
async fn stage_users(store: &Store, tenant: &Tenant, count: usize) {
    let mut tasks = Vec::new();
    for i in 0..count {
        let (store, tenant) = (store.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move {
            let name = format!("user{i}@contoso.com");
            let doc = IndexedDoc {
                body: json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "externalId": format!("ext-{i}"), "active": true}),
                user_name: Some(name.clone()),
                external_id: Some(format!("ext-{i}")),
                active: Some(true),
                emails: vec![],
                display_name: None,
            };
            store
                .write(&tenant, SystemClock.now(), Write::Create { kind: ResourceKind::User, doc, members: vec![] })
                .await
                .unwrap();
        }));
        if tasks.len() >= 256 {
            for t in tasks.drain(..) {
                t.await.unwrap();
            }
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// [`tenant_with_rules`], with automatic sync on change (a schedule that does not fire
/// today, 1 January, and a 1 s quiet period) and a SCIM token for Entra.
async fn syncing_on_change(store: &Store) -> (Tenant, String) {
    let tenant = tenant_with_rules(store).await;
    let token = store
        .create_token_of(TokenKind::Scim, &tenant, "entra", SystemClock.now())
        .await
        .unwrap()
        .secret;
    let settings = SyncSettings {
        user_sync_active: true,
        schedule: "0 0 1 1 *".into(),
        debounce_seconds: 1,
        ..SyncSettings::default()
    };
    app(store)
        .save_settings(&tenant, Expect::Any, &settings)
        .await
        .unwrap();
    (tenant, token)
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

async fn a_sync_killed_half_way_is_completed_by_the_next_without_duplicates(backend: DbBackend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let tenant = tenant_with_rules(&store).await;
    const USERS: i64 = 30_000;
    stage_users(&store, &tenant, USERS as usize).await;

    let mut child = tokio::process::Command::new(BIN)
        .args(["--database-url", &db.url, "sync", "--tenant", "acme"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Kill it once some chunks are committed and before the last one is.
    let deadline = Instant::now() + Duration::from_secs(120);
    let at_kill = loop {
        let accounts = count(&store, "SELECT COUNT(*) FROM crm_accounts").await;
        if accounts >= 1_000 {
            child.start_kill().unwrap();
            break accounts;
        }
        assert!(
            Instant::now() < deadline,
            "the sync never committed a chunk"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    child.wait().await.unwrap();
    let after_kill = count(&store, "SELECT COUNT(*) FROM crm_accounts").await;
    assert!(
        after_kill < USERS,
        "the run finished before the kill ({at_kill} when killed)"
    );
    let running = count(
        &store,
        "SELECT COUNT(*) FROM sync_runs WHERE status = 'running'",
    )
    .await;
    assert_eq!(running, 1, "the killed run is left running");

    // The killed process's lease runs out (2 minutes); rather than wait, the test lets it
    // expire now.
    sqlx::query("UPDATE leases SET expires_at = 0")
        .execute(store.pool())
        .await
        .unwrap();
    let syncer = Syncer::new(store.clone(), Arc::new(SystemClock));
    let next = syncer
        .sync_company(&tenant, Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(next.status, RunStatus::Completed);
    assert_eq!(
        next.created as i64,
        USERS - after_kill,
        "the next run creates exactly the rest"
    );
    assert_eq!(next.unchanged as i64, after_kill);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM crm_accounts").await,
        USERS
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(DISTINCT staged_user_id) FROM crm_accounts"
        )
        .await,
        USERS,
        "no duplicates"
    );
    let runs = store.runs(&tenant, 10).await.unwrap();
    let killed = runs.iter().find(|r| r.id != next.run_id).unwrap();
    assert_eq!(killed.status, RunStatus::Failed);
    assert!(killed.message.as_deref().unwrap().contains("interrupted"));
    let again = syncer
        .sync_company(&tenant, Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(
        (again.created, again.updated, again.unchanged as i64),
        (0, 0, USERS)
    );
}

async fn serve(db: &TestDb) -> ServeProcess {
    ServeProcess::start(BIN, &db.url, &["--sync-tick-ms", "100"]).await
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn two_servers_run_each_settled_change_once(backend: DbBackend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let (tenant, token) = syncing_on_change(&store).await;
    let a = serve(&db).await;
    let b = serve(&db).await;
    let client = reqwest::Client::new();

    let runs = || async { count(&store, "SELECT COUNT(*) FROM sync_runs").await };
    for (round, server) in [(1, &a), (2, &b)] {
        for n in 0..3 {
            let user = entra_user(
                &format!("r{round}u{n}@contoso.com"),
                &format!("r{round}-{n}"),
            );
            let resp = client
                .post(format!("{}/scim/v2/acme/Users", server.base))
                .bearer_auth(&token)
                .header("content-type", "application/scim+json")
                .body(user.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
        }
        wait_for("the automatic sync", async || {
            count(&store, "SELECT COUNT(*) FROM crm_accounts").await == round * 3
        })
        .await;
        // Give the other replica time to (wrongly) start a second run.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(
            runs().await,
            round,
            "one run per settled change, round {round}"
        );
    }
    let list = store.runs(&tenant, 10).await.unwrap();
    assert!(
        list.iter()
            .all(|r| r.trigger == "change" && r.status == RunStatus::Completed),
        "{list:?}"
    );
    assert_eq!(list.iter().map(|r| r.created).sum::<i64>(), 6);
    a.stop().await;
    b.stop().await;
}

/// Entra-shaped users into one scimgate, its rules and automatic sync, and out to a CRM
/// that speaks SCIM 2.0 (a second scimgate): created there with the mapped attributes,
/// then deactivated there when the IdP deactivates them, and the seat freed.
async fn entra_users_reach_a_scim_crm_and_leave_it(backend: DbBackend) {
    let Some(crm) = scimgate_testkit::TestServer::start(backend).await else {
        return;
    };
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let (tenant, token) = syncing_on_change(&store).await;
    let key_file = std::env::temp_dir().join(format!(
        "scimgate-push-{}-{}.key",
        std::process::id(),
        backend.name()
    ));
    let _ = std::fs::remove_file(&key_file);
    let key = key_file.to_str().unwrap();
    let global = ["--allow-private-webhooks", "--server-key-file", key];
    let set = tokio::process::Command::new(BIN)
        .args(["--database-url", &db.url])
        .args(global)
        .args([
            "target",
            "--tenant",
            "acme",
            "set",
            "--scim",
            &crm.scim(""),
            "--token",
            &crm.token,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let stored = store.crm_target(&tenant).await.unwrap().unwrap();
    assert!(
        !stored.sealed_secret.contains(&crm.token),
        "the token is sealed at rest"
    );
    // Test connection, from the terminal: the CRM takes the token and PATCH.
    let test = tokio::process::Command::new(BIN)
        .args(["--database-url", &db.url])
        .args(global)
        .args(["target", "--tenant", "acme", "test"])
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(
        said.contains("connected") && said.contains("updates with PATCH"),
        "{said}"
    );

    let server = ServeProcess::start_at(
        BIN,
        &db.url,
        "127.0.0.1:0",
        &global,
        &["--sync-tick-ms", "100"],
    )
    .await;
    let client = reqwest::Client::new();
    let scim = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        client
            .request(method, format!("{}/scim/v2/acme{path}", server.base))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
    };
    let mut ids = Vec::new();
    for n in 0..3 {
        let user = entra_user(&format!("u{n}@contoso.com"), &format!("obj-{n}"));
        let resp = scim(reqwest::Method::POST, "/Users", user)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let body: serde_json::Value = resp.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let on_crm = async |filter: &str| {
        let (_, list) = crm
            .get(&format!(
                "/Users?filter={}",
                filter.replace(' ', "%20").replace('"', "%22")
            ))
            .await;
        list["Resources"][0].clone()
    };
    wait_for("the users on the CRM", async || {
        crm.get("/Users").await.1["totalResults"] == 3
    })
    .await;
    let user = on_crm("externalId eq \"obj-1\"").await;
    assert_eq!(user["userName"], "u1@contoso.com");
    assert_eq!(user["displayName"], "Test User");
    assert_eq!(user["emails"][0]["value"], "u1@contoso.com");
    assert_eq!(user["title"], "User", "the role the rules set");
    assert_eq!(user["active"], true);
    assert!(
        user.get(scimgate_crm::push::scim::CRM_EXTENSION).is_none(),
        "an extension the CRM does not declare is not sent"
    );

    // Entra deactivates u1: the account goes, on the CRM too, and its seat is freed.
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let resp = scim(
        reqwest::Method::PATCH,
        &format!("/Users/{}", ids[1]),
        deactivate,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    wait_for("the deactivation on the CRM", async || {
        on_crm("externalId eq \"obj-1\"").await["active"] == false
    })
    .await;
    assert_eq!(
        store.seats_in_use(&tenant).await.unwrap(),
        vec![("Standard".to_owned(), 2)]
    );
    assert_eq!(
        crm.get("/Users").await.1["totalResults"],
        3,
        "deactivated, not deleted"
    );
    let counts = store.push_counts(&tenant).await.unwrap();
    assert_eq!((counts.pending, counts.dead), (0, 0));

    // Someone edits u2 on the CRM: `target drift` names it, `--fix` pushes it again.
    let u2 = on_crm("externalId eq \"obj-2\"").await;
    let retitle = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Boss"}]});
    let id = u2["id"].as_str().unwrap();
    assert_eq!(crm.patch(&format!("/Users/{id}"), retitle).await.0, 200);
    let drift = tokio::process::Command::new(BIN)
        .args(["--database-url", &db.url])
        .args(global)
        .args(["target", "--tenant", "acme", "drift", "--fix"])
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&drift.stdout);
    assert!(
        drift.status.success(),
        "{}",
        String::from_utf8_lossy(&drift.stderr)
    );
    assert!(
        said.contains("3 accounts, 3 users on the target, 1 out of step"),
        "{said}"
    );
    assert!(said.contains("edited   u2@contoso.com"), "{said}");
    assert!(
        said.contains("title: expected \"User\", found \"Boss\""),
        "{said}"
    );
    assert!(
        said.contains("pushes queued for 1 drifted account(s)"),
        "{said}"
    );
    wait_for("the fix on the CRM", async || {
        on_crm("externalId eq \"obj-2\"").await["title"] == "User"
    })
    .await;
    server.stop().await;
    let _ = std::fs::remove_file(&key_file);
}

on_both_backends!(
    a_sync_killed_half_way_is_completed_by_the_next_without_duplicates,
    two_servers_run_each_settled_change_once,
    entra_users_reach_a_scim_crm_and_leave_it,
);

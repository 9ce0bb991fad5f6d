//! Automatic sync with an injected clock: the schedule and the on-change debounce, and
//! two replicas (two stores on one database) running each tick once.

use crate::fixture::{Fixture, GatedCrm};
use scimgate_core::{Clock, Timestamp};
use scimgate_scheduler::auto::AutoSync;
use scimgate_scheduler::{SyncSettings, Syncer, Trigger};
use scimgate_testkit::{on_both_backends, DbBackend};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

on_both_backends!(
    nothing_runs_until_user_sync_is_switched_on,
    schedule_fires_once_per_cron_slot_across_two_replicas,
    changes_sync_once_after_the_quiet_period_across_two_replicas,
    a_long_run_does_not_hold_up_another_tenant,
    a_run_that_panics_does_not_keep_its_tenant_out,
    a_busy_pool_says_when_a_worker_is_free,
);

/// A clock the test moves by hand.
struct TestClock(AtomicI64);

impl TestClock {
    fn at(text: &str) -> Arc<TestClock> {
        Arc::new(TestClock(AtomicI64::new(
            Timestamp::parse_rfc3339(text).unwrap().unix_millis(),
        )))
    }
    fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds * 1000, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

/// Two replicas: each its own store (own pool and writer) on the fixture's database.
async fn replicas(f: &Fixture, clock: &Arc<TestClock>) -> (AutoSync, AutoSync) {
    let mut out = Vec::new();
    for _ in 0..2 {
        let store = f.server.db.store().await;
        out.push(AutoSync::new(Syncer::new(store, clock.clone())));
    }
    let b = out.pop().unwrap();
    let a = out.pop().unwrap();
    (a, b)
}

async fn switch_on(f: &Fixture, schedule: &str, debounce: u32) {
    let settings = SyncSettings {
        user_sync_active: true,
        schedule: schedule.into(),
        debounce_seconds: debounce,
        ..SyncSettings::default()
    };
    f.app()
        .save_settings(f.tenant(), scimgate_store::Expect::Any, &settings)
        .await
        .unwrap();
}

async fn run_count(f: &Fixture) -> usize {
    f.syncer.store().runs(f.tenant(), 1000).await.unwrap().len()
}

async fn nothing_runs_until_user_sync_is_switched_on(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    f.user("ann@acme.no", "e-ann", "Ops").await;
    let clock = TestClock::at("2026-11-22T10:00:00Z");
    let (a, _) = replicas(&f, &clock).await;
    for _ in 0..3 {
        assert!(a.tick(clock.now()).await.unwrap().is_empty());
        clock.advance(3600);
    }
    assert_eq!(run_count(&f).await, 0);
    assert!(f.accounts().await.is_empty());
    assert!(!SyncSettings::default().user_sync_active, "off by default");
}

async fn schedule_fires_once_per_cron_slot_across_two_replicas(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    f.user("ann@acme.no", "e-ann", "Ops").await;
    let clock = TestClock::at("2026-11-22T10:07:00Z");
    // Debounce of a day: only the schedule can start runs here.
    switch_on(&f, "*/15 * * * *", 86_400).await;
    let (a, b) = replicas(&f, &clock).await;

    // The 10:00 slot: exactly one replica runs it.
    let ran_a = a.tick(clock.now()).await.unwrap();
    let ran_b = b.tick(clock.now()).await.unwrap();
    assert_eq!(ran_a.len() + ran_b.len(), 1, "{ran_a:?} {ran_b:?}");
    assert_eq!(
        ran_a.iter().chain(&ran_b).next().unwrap().trigger,
        Trigger::Schedule
    );
    assert_eq!(f.accounts().await.len(), 1);
    // Later in the same slot: nothing.
    clock.advance(7 * 60);
    assert!(a.tick(clock.now()).await.unwrap().is_empty());
    assert!(b.tick(clock.now()).await.unwrap().is_empty());
    // 10:15: one more run, whichever replica looks first.
    clock.advance(60);
    let ran = b.tick(clock.now()).await.unwrap().len() + a.tick(clock.now()).await.unwrap().len();
    assert_eq!(ran, 1);
    assert_eq!(run_count(&f).await, 2);
    let runs = f.syncer.store().runs(f.tenant(), 10).await.unwrap();
    assert!(runs.iter().all(|r| r.trigger == "schedule"));
}

async fn changes_sync_once_after_the_quiet_period_across_two_replicas(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let clock = TestClock::at("2026-11-22T10:01:00Z");
    // A yearly schedule (1 January, 00:00) that has not fired within a day.
    switch_on(&f, "0 0 1 1 *", 30).await;
    let (a, b) = replicas(&f, &clock).await;
    // Nothing changed yet: the first look only notes the sequence.
    a.tick(clock.now()).await.unwrap();
    b.tick(clock.now()).await.unwrap();
    let settled_runs = run_count(&f).await;

    f.user("ann@acme.no", "e-ann", "Ops").await;
    clock.advance(5);
    assert!(
        a.tick(clock.now()).await.unwrap().is_empty(),
        "writes have not settled"
    );
    assert!(b.tick(clock.now()).await.unwrap().is_empty());
    f.user("bob@acme.no", "e-bob", "Ops").await;
    // Replicas tick every second: they see the second write as it happens.
    assert!(a.tick(clock.now()).await.unwrap().is_empty());
    assert!(b.tick(clock.now()).await.unwrap().is_empty());
    clock.advance(20);
    // 25 s after the first write but only 20 s after the last: still waiting.
    assert!(a.tick(clock.now()).await.unwrap().is_empty());
    assert!(b.tick(clock.now()).await.unwrap().is_empty());
    clock.advance(15);
    let ran = a.tick(clock.now()).await.unwrap().len() + b.tick(clock.now()).await.unwrap().len();
    assert_eq!(ran, 1, "one run for the settled changes");
    assert_eq!(f.accounts().await.len(), 2);
    let runs = f.syncer.store().runs(f.tenant(), 10).await.unwrap();
    assert_eq!(runs.len(), settled_runs + 1);
    assert_eq!(runs[0].trigger, "change");
    // Quiet afterwards: no more runs.
    clock.advance(120);
    assert!(a.tick(clock.now()).await.unwrap().is_empty());
    assert!(b.tick(clock.now()).await.unwrap().is_empty());
}

/// Runs are jobs: while one tenant's run is in flight (held at the gate), a tick still
/// returns at once, another tenant's due run starts and finishes, and the busy tenant is
/// not claimed again; when the gate opens, its run completes.
async fn a_long_run_does_not_hold_up_another_tenant(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let store = f.server.store.clone();
    // A second tenant with its own token, catalogue, rules and user, through SCIM.
    let globex_name = scimgate_core::TenantName::parse("globex").unwrap();
    let globex = store
        .create_tenant(&globex_name, Clock::now(&scimgate_core::SystemClock))
        .await
        .unwrap();
    let token = store
        .create_token_of(
            scimgate_store::TokenKind::Scim,
            &globex,
            "entra",
            Clock::now(&scimgate_core::SystemClock),
        )
        .await
        .unwrap()
        .secret;
    let app = f.app();
    let catalog = scimgate_core::Catalog::from_yaml(crate::fixture::CATALOG).unwrap();
    app.replace_catalog(&globex, scimgate_store::Expect::Any, catalog)
        .await
        .unwrap();
    app.save_rules(
        &globex,
        scimgate_store::Expect::Any,
        crate::fixture::draft(crate::fixture::RULES),
    )
    .await
    .unwrap();
    let on = SyncSettings {
        user_sync_active: true,
        schedule: "0 0 1 1 *".into(),
        debounce_seconds: 1,
        ..SyncSettings::default()
    };
    for tenant in [f.tenant(), &globex] {
        app.save_settings(tenant, scimgate_store::Expect::Any, &on)
            .await
            .unwrap();
    }
    let clock = TestClock::at("2026-11-22T10:01:00Z");
    let (crm, gate) = GatedCrm::closed(&store, f.tenant());
    let auto = AutoSync::with_workers(Syncer::with_crm(store.clone(), clock.clone(), crm), 2);
    // The first look notes each tenant's change sequence.
    assert_eq!(auto.start_due(clock.now()).await.unwrap(), 0);
    f.user("ann@acme.no", "e-ann", "Ops").await;
    let created = f
        .server
        .client
        .post(f.server.url("/scim/v2/globex/Users"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "gus@globex.example", "externalId": "e-gus", "active": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    auto.start_due(clock.now()).await.unwrap();
    clock.advance(5);
    assert_eq!(
        auto.start_due(clock.now()).await.unwrap(),
        2,
        "both tenants are due"
    );
    // globex's run finishes while acme's waits at the gate.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut done = Vec::new();
    while !done
        .iter()
        .any(|s: &scimgate_scheduler::auto::Started| s.tenant == "globex")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "globex waited for acme: {done:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        done.extend(auto.finished().await);
    }
    assert!(done.iter().all(|s| s.tenant != "acme"), "{done:?}");
    assert_eq!(store.runs(&globex, 10).await.unwrap().len(), 1);
    // acme is in flight: a later tick does not claim it again.
    clock.advance(5);
    f.user("bob@acme.no", "e-bob", "Ops").await;
    clock.advance(5);
    assert_eq!(auto.start_due(clock.now()).await.unwrap(), 0);
    gate.add_permits(1_000);
    let rest = auto.tick(clock.now()).await.unwrap();
    assert!(
        rest.iter()
            .any(|s| s.tenant == "acme" && s.trigger == Trigger::Change),
        "{rest:?}"
    );
    assert!(!f.accounts().await.is_empty());
}

/// A run that panics ends its job: its tenant is not left marked as running on this
/// replica, so the next due tick claims it again (and, while the dead run's lease has
/// not run out, gives the claim back as busy instead of losing it).
async fn a_run_that_panics_does_not_keep_its_tenant_out(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let clock = TestClock::at("2026-11-22T10:01:00Z");
    switch_on(&f, "0 0 1 1 *", 1).await;
    let store = f.server.store.clone();
    let crm = GatedCrm::panicking_once(&store, f.tenant());
    let auto = AutoSync::new(Syncer::with_crm(store.clone(), clock.clone(), crm));
    auto.start_due(clock.now()).await.unwrap();
    f.user("ann@acme.no", "e-ann", "Ops").await;
    auto.start_due(clock.now()).await.unwrap();
    clock.advance(5);
    assert_eq!(auto.start_due(clock.now()).await.unwrap(), 1);
    assert!(auto.drain(std::time::Duration::from_secs(20)).await);
    f.user("bob@acme.no", "e-bob", "Ops").await;
    auto.start_due(clock.now()).await.unwrap();
    clock.advance(5);
    assert_eq!(
        auto.start_due(clock.now()).await.unwrap(),
        1,
        "claimed again"
    );
}

/// `serve` looks for due tenants again as soon as a worker is free (not a tick later):
/// `worker_freed` waits for that, and says no while every worker is busy.
async fn a_busy_pool_says_when_a_worker_is_free(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let clock = TestClock::at("2026-11-22T10:01:00Z");
    switch_on(&f, "0 0 1 1 *", 1).await;
    let store = f.server.store.clone();
    let (crm, gate) = GatedCrm::closed(&store, f.tenant());
    let auto = AutoSync::with_workers(Syncer::with_crm(store.clone(), clock.clone(), crm), 1);
    let short = std::time::Duration::from_millis(100);
    assert!(
        auto.worker_freed(short).await,
        "an idle pool has a free worker"
    );
    auto.start_due(clock.now()).await.unwrap();
    f.user("ann@acme.no", "e-ann", "Ops").await;
    auto.start_due(clock.now()).await.unwrap();
    clock.advance(5);
    assert_eq!(auto.start_due(clock.now()).await.unwrap(), 1);
    assert!(
        !auto.worker_freed(short).await,
        "the one worker waits at the gate"
    );
    gate.add_permits(1_000);
    assert!(auto.worker_freed(std::time::Duration::from_secs(20)).await);
    assert!(auto.drain(std::time::Duration::from_secs(20)).await);
    assert_eq!(store.runs(f.tenant(), 5).await.unwrap().len(), 1);
}

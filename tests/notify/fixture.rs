//! A server with a catalogue and rules, a syncer and a delivery worker on one clock the
//! test moves by hand, and helpers to subscribe and to deliver.

use scimgate_core::{Clock, Timestamp};
use scimgate_notify::deliver::{DeliveryConfig, Worker};
use scimgate_notify::email::{SmtpConfig, SmtpSecurity};
use scimgate_notify::outbox::{self, OutboxEntry};
use scimgate_notify::{subscriptions, Channel, EventKind, Subscription};
use scimgate_rules::Catalog;
use scimgate_scheduler::{Outcome, RuleSource, Syncer, Trigger};
use scimgate_store::Expect;
use scimgate_testkit::{entra_user, DbBackend, TestServer};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const CATALOG: &str = r#"
user_plans:
  - { name: "Standard", seats: 100 }
  - { name: "Sales Premium", seats: 1 }
companies: ["Acme"]
groups: ["Staff", "Sales"]
roles: ["User", "Sales user", "Finance user"]
"#;

/// Sales users get the one-seat plan; a user in department "Boss" gets role "Chief",
/// which the catalogue does not have: an error for that user at sync time.
pub const RULES: &str = r#"
rules:
  - name: Sales
    applies_to: { member_of: "Sales" }
    set:
      user_plan: "Sales Premium"
      role: "Sales user"
      primary_group: "Sales"
  - name: Boss role
    applies_to: all
    set:
      role:
        mode: if_not_set
        expr: 'if user.enterprise.department == "Boss" { "Chief" } else { () }'
  - name: Everyone
    applies_to: all
    set:
      user_plan: { value: "Standard", mode: if_not_set }
      role: { value: "User", mode: if_not_set }
      primary_group: { value: "Staff", mode: if_not_set }
      owner_company: "Acme"
"#;

/// The retry delay after a first failed attempt (doubling after each further one).
pub const FIRST_BACKOFF_MS: i64 = 60_000;

/// A clock the test moves by hand.
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn advance_hours(&self, hours: i64) {
        self.advance_ms(hours * 3_600_000);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

pub struct Fixture {
    pub server: TestServer,
    pub syncer: Syncer,
    pub clock: Arc<TestClock>,
}

impl Fixture {
    pub async fn start(backend: DbBackend) -> Option<Fixture> {
        let server = TestServer::start(backend).await?;
        let clock = Arc::new(TestClock(AtomicI64::new(
            Timestamp::parse_rfc3339("2026-11-22T10:00:00Z")
                .unwrap()
                .unix_millis(),
        )));
        let syncer = Syncer::new(server.store.clone(), clock.clone());
        let f = Fixture {
            server,
            syncer,
            clock,
        };
        let catalog = Catalog::from_yaml(CATALOG).unwrap();
        let app = f.app();
        app.replace_catalog(f.tenant(), Expect::Any, catalog)
            .await
            .unwrap();
        let source = RuleSource {
            yaml: RULES.to_owned(),
            scripts: Default::default(),
        };
        app.save_rules(f.tenant(), Expect::Any, source)
            .await
            .unwrap();
        Some(f)
    }

    /// The application layer over the fixture's store and clock.
    pub fn app(&self) -> scimgate_app::App {
        scimgate_app::App::builtin(
            self.server.store.clone(),
            self.clock.clone(),
            scimgate_notify::target::TargetPolicy::ALLOW_PRIVATE,
        )
    }

    pub fn tenant(&self) -> &scimgate_store::Tenant {
        &self.server.tenant
    }

    pub fn now(&self) -> String {
        self.clock.now().to_rfc3339()
    }

    /// A worker on this database and clock; e-mail goes to 127.0.0.1:`smtp_port`.
    pub fn worker(&self, smtp_port: Option<u16>) -> Worker {
        let config = DeliveryConfig {
            max_attempts: 5,
            first_backoff_ms: FIRST_BACKOFF_MS,
            webhook_timeout: Duration::from_secs(10),
            smtp: smtp_port.map(|port| SmtpConfig {
                host: "127.0.0.1".into(),
                port,
                security: SmtpSecurity::None,
                username: None,
                password: None,
                from: "scimgate <noreply@scimgate.test>".into(),
            }),
            // The test receivers listen on 127.0.0.1.
            targets: scimgate_notify::target::TargetPolicy::ALLOW_PRIVATE,
        };
        Worker::new(
            self.server.store.clone(),
            self.clock.clone(),
            config,
            "test".into(),
        )
        .unwrap()
    }

    /// Attempts everything due until nothing is; returns how many attempts were made.
    pub async fn deliver(&self, worker: &Worker) -> usize {
        let mut attempted = 0;
        loop {
            let n = worker.run_once().await.unwrap();
            if n == 0 {
                return attempted;
            }
            attempted += n;
        }
    }

    pub async fn subscribe_email(&self, address: &str, events: &[EventKind]) -> Subscription {
        let new = subscriptions::add(
            &self.server.store,
            self.tenant(),
            Channel::Email,
            address,
            events,
            Expect::Any,
            &self.now(),
            scimgate_notify::target::TargetPolicy::ALLOW_PRIVATE,
        )
        .await
        .unwrap()
        .value;
        assert!(new.secret.is_none(), "e-mail subscriptions have no secret");
        new.subscription
    }

    /// The subscription and its signing secret (shown only now).
    pub async fn subscribe_webhook(
        &self,
        url: &str,
        events: &[EventKind],
    ) -> (Subscription, String) {
        let new = subscriptions::add(
            &self.server.store,
            self.tenant(),
            Channel::Webhook,
            url,
            events,
            Expect::Any,
            &self.now(),
            scimgate_notify::target::TargetPolicy::ALLOW_PRIVATE,
        )
        .await
        .unwrap()
        .value;
        (new.subscription, new.secret.unwrap())
    }

    /// The tenant's outbox, oldest first.
    pub async fn outbox(&self) -> Vec<OutboxEntry> {
        let mut all = outbox::list(&self.server.store, self.tenant(), None, 1000)
            .await
            .unwrap();
        all.reverse();
        all
    }

    pub async fn sync(&self) -> Outcome {
        self.syncer
            .sync_company(self.tenant(), Trigger::ManualCompany)
            .await
            .unwrap()
    }

    /// POSTs an Entra-shaped user over SCIM; returns its id.
    pub async fn user(&self, user_name: &str, department: &str) -> String {
        let mut body = entra_user(user_name, &format!("ext-{user_name}"));
        body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] =
            json!(department);
        let (status, created) = self.server.post("/Users", body).await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().unwrap().to_owned()
    }

    /// POSTs a group with members over SCIM.
    pub async fn group(&self, name: &str, members: &[&str]) {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let (status, created) = self
            .server
            .post(
                "/Groups",
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name,
                    "externalId": format!("ext-{name}"),
                    "members": members,
                }),
            )
            .await;
        assert_eq!(status, 201, "{created}");
    }

    /// An Entra PATCH (Replace) of one attribute.
    pub async fn replace(&self, id: &str, path: &str, value: &str) {
        let (status, body) = self
            .server
            .patch(
                &format!("/Users/{id}"),
                json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Replace", "path": path, "value": value}]
                }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn set_department(&self, id: &str, department: &str) {
        self.replace(
            id,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            department,
        )
        .await;
    }

    /// Entra's disable: `active` becomes "False".
    pub async fn disable(&self, id: &str) {
        self.replace(id, "active", "False").await;
    }
}

/// Checks a webhook request's `x-scimgate-signature` against `secret`.
pub fn signed_with(request: &scimgate_testkit::ReceivedRequest, secret: &str) -> bool {
    let expected = format!(
        "sha256={}",
        scimgate_testkit::hmac_sha256_hex(secret, request.body.as_bytes())
    );
    request.header("x-scimgate-signature") == Some(expected.as_str())
}

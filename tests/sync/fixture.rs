//! A server with a catalogue and a rule set, and the syncer over its database.

use scimgate_app::App;
use scimgate_crm::{CrmAccount, CrmTarget};
use scimgate_rules::Catalog;
use scimgate_scheduler::{Plan, PlanItem, RuleSource, Syncer};
use scimgate_store::Expect;
use scimgate_testkit::{entra_user, DbBackend, TestServer};
use serde_json::{json, Value};
use std::sync::Arc;

pub const CATALOG: &str = r#"
user_plans:
  - { name: "Standard", seats: 4 }
  - { name: "Sales Premium", seats: 1 }
companies: ["Acme"]
groups: ["Staff", "Sales"]
roles: ["User", "Sales user", "Finance user"]
"#;

pub const RULES: &str = r#"
rules:
  - name: Sales
    applies_to: { member_of: "Sales" }
    set:
      user_plan: "Sales Premium"
      role: "Sales user"
      primary_group: "Sales"
  - name: Finance role
    applies_to: all
    set:
      role:
        mode: if_not_set
        expr: 'if user.enterprise.department == "Finance" { "Finance user" } else { () }'
  - name: Everyone
    applies_to: { not_member_of: "Contractors" }
    set:
      user_plan: { value: "Standard", mode: if_not_set }
      role: { value: "User", mode: if_not_set }
      primary_group: { value: "Staff", mode: if_not_set }
      owner_company: "Acme"
"#;

pub struct Fixture {
    pub server: TestServer,
    pub syncer: Syncer,
    /// Where the syncer (and [`Fixture::app`]) put accounts.
    pub crm: Arc<dyn CrmTarget>,
}

impl Fixture {
    pub async fn start(backend: DbBackend) -> Option<Fixture> {
        Self::with(backend, CATALOG, RULES).await
    }

    pub async fn with(backend: DbBackend, catalog: &str, rules: &str) -> Option<Fixture> {
        Self::into_target(backend, catalog, rules, None).await
    }

    /// A fixture syncing into `crm` (`None`: the built-in CRM).
    pub async fn into_target(
        backend: DbBackend,
        catalog: &str,
        rules: &str,
        crm: Option<Arc<dyn CrmTarget>>,
    ) -> Option<Fixture> {
        let server = TestServer::start(backend).await?;
        let crm =
            crm.unwrap_or_else(|| Arc::new(scimgate_crm::BuiltinCrm::new(server.store.clone())));
        let clock = Arc::new(scimgate_core::SystemClock);
        let syncer = Syncer::with_crm(server.store.clone(), clock, crm.clone());
        let fixture = Fixture {
            server,
            syncer,
            crm,
        };
        fixture.set_catalog(catalog).await;
        fixture.set_rules(rules).await;
        Some(fixture)
    }

    pub fn tenant(&self) -> &scimgate_store::Tenant {
        &self.server.tenant
    }

    /// The application layer over the fixture's store and CRM target.
    pub fn app(&self) -> App {
        App::new(
            self.server.store.clone(),
            Arc::new(scimgate_core::SystemClock),
            self.crm.clone(),
            scimgate_notify::target::TargetPolicy::ALLOW_PRIVATE,
        )
    }

    pub async fn set_catalog(&self, yaml: &str) {
        let catalog = Catalog::from_yaml(yaml).unwrap();
        self.app()
            .replace_catalog(self.tenant(), Expect::Any, catalog)
            .await
            .unwrap();
    }

    pub async fn set_rules(&self, yaml: &str) {
        self.app()
            .save_rules(self.tenant(), Expect::Any, draft(yaml))
            .await
            .unwrap();
    }

    /// POSTs an Entra-shaped user; returns its id.
    pub async fn user(&self, user_name: &str, external_id: &str, department: &str) -> String {
        let mut body = entra_user(user_name, external_id);
        body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] =
            json!(department);
        let (status, created) = self.server.post("/Users", body).await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().unwrap().to_owned()
    }

    /// POSTs a group with members; returns its id.
    pub async fn group(&self, name: &str, members: &[&str]) -> String {
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
        created["id"].as_str().unwrap().to_owned()
    }

    /// Entra's disable: PATCH Replace active "False".
    pub async fn set_active(&self, id: &str, active: bool) {
        let (status, body) = self
            .server
            .patch(
                &format!("/Users/{id}"),
                json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Replace", "path": "active", "value": if active { "True" } else { "False" }}]
                }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn set_department(&self, id: &str, department: &str) {
        let (status, body) = self
            .server
            .patch(
                &format!("/Users/{id}"),
                json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Replace",
                        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                        "value": department}]
                }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn accounts(&self) -> Vec<CrmAccount> {
        self.syncer.crm().accounts(self.tenant()).await.unwrap()
    }

    /// The target's seats in use (kept as counts by the database) are the active
    /// accounts per plan, counted here one by one.
    pub async fn assert_seats_counted(&self) {
        let mut counted = std::collections::BTreeMap::<String, u64>::new();
        for account in self.accounts().await {
            if let (true, Some(plan)) = (account.fields.active, account.fields.user_plan) {
                *counted.entry(plan.to_string()).or_default() += 1;
            }
        }
        let kept = self.syncer.crm().seats_in_use(self.tenant()).await.unwrap();
        assert_eq!(kept, counted.into_iter().collect::<Vec<_>>());
    }

    pub async fn account_of(&self, user_id: &str) -> Option<CrmAccount> {
        self.accounts()
            .await
            .into_iter()
            .find(|a| a.staged_user_id.as_deref() == Some(user_id))
    }

    pub async fn preview(&self) -> Plan {
        self.syncer.preview(self.tenant(), None).await.unwrap()
    }
}

pub fn draft(yaml: &str) -> RuleSource {
    RuleSource {
        yaml: yaml.to_owned(),
        scripts: Default::default(),
    }
}

pub fn item<'p>(plan: &'p Plan, user_id: &str) -> &'p PlanItem {
    plan.items
        .iter()
        .find(|i| i.user_id == user_id)
        .unwrap_or_else(|| panic!("{user_id} not in the plan: {:#?}", plan.items))
}

pub fn seats(plan: &Plan, user_plan: &str) -> (u64, Option<u64>) {
    let s = plan
        .seats
        .iter()
        .find(|s| s.user_plan == user_plan)
        .unwrap();
    (s.used, s.purchased)
}

/// The built-in CRM, except that reading one tenant's accounts waits until the test
/// opens the gate: that tenant's run stays in flight as long as the test wants.
pub struct GatedCrm {
    inner: scimgate_crm::BuiltinCrm,
    gated: i64,
    gate: Arc<tokio::sync::Semaphore>,
    /// Gate the gated tenant's changes instead, from this many applied chunks on.
    applies_before_gate: Option<usize>,
    applies: std::sync::atomic::AtomicUsize,
    /// Calls waiting at the gate now.
    waiting: std::sync::atomic::AtomicUsize,
    /// The gated tenant's first read of accounts panics instead (a bug in a target).
    panics_once: std::sync::atomic::AtomicBool,
}

impl GatedCrm {
    /// A CRM over `store` whose gate for `tenant` is closed; add permits to open it.
    pub fn closed(
        store: &scimgate_store::Store,
        tenant: &scimgate_store::Tenant,
    ) -> (Arc<GatedCrm>, Arc<tokio::sync::Semaphore>) {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let crm = GatedCrm {
            inner: scimgate_crm::BuiltinCrm::new(store.clone()),
            gated: tenant.id,
            gate: gate.clone(),
            applies_before_gate: None,
            applies: Default::default(),
            waiting: Default::default(),
            panics_once: Default::default(),
        };
        (Arc::new(crm), gate)
    }

    /// A CRM whose gate for `tenant` closes after `applies` chunks were applied: a run
    /// stops half-way until the test opens it.
    pub fn closed_after(
        store: &scimgate_store::Store,
        tenant: &scimgate_store::Tenant,
        applies: usize,
    ) -> (Arc<GatedCrm>, Arc<tokio::sync::Semaphore>) {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let crm = GatedCrm {
            inner: scimgate_crm::BuiltinCrm::new(store.clone()),
            gated: tenant.id,
            gate: gate.clone(),
            applies_before_gate: Some(applies),
            applies: Default::default(),
            waiting: Default::default(),
            panics_once: Default::default(),
        };
        (Arc::new(crm), gate)
    }

    /// A CRM (its gate open) whose first read of `tenant`'s accounts panics.
    pub fn panicking_once(
        store: &scimgate_store::Store,
        tenant: &scimgate_store::Tenant,
    ) -> Arc<GatedCrm> {
        let (crm, gate) = GatedCrm::closed(store, tenant);
        gate.add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
        crm.panics_once
            .store(true, std::sync::atomic::Ordering::SeqCst);
        crm
    }

    /// How many calls wait at the gate now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn wait_at_gate(&self) {
        use std::sync::atomic::Ordering;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _open = self.gate.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl scimgate_crm::CrmTarget for GatedCrm {
    fn name(&self) -> &'static str {
        "gated"
    }

    fn accounts<'a>(
        &'a self,
        tenant: &'a scimgate_store::Tenant,
    ) -> scimgate_crm::CrmFuture<'a, Vec<scimgate_core::CrmAccount>> {
        #[allow(clippy::panic)]
        if tenant.id == self.gated
            && self
                .panics_once
                .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("a bug in a CRM target");
        }
        Box::pin(async move {
            if tenant.id == self.gated && self.applies_before_gate.is_none() {
                self.wait_at_gate().await;
            }
            self.inner.accounts(tenant).await
        })
    }

    fn account<'a>(
        &'a self,
        tenant: &'a scimgate_store::Tenant,
        pk: i64,
    ) -> scimgate_crm::CrmFuture<'a, Option<scimgate_core::CrmAccount>> {
        self.inner.account(tenant, pk)
    }

    fn apply<'a>(
        &'a self,
        tenant: &'a scimgate_store::Tenant,
        changes: &'a [scimgate_core::Change],
        now: &'a str,
    ) -> scimgate_crm::CrmFuture<'a, Vec<i64>> {
        Box::pin(async move {
            if let (true, Some(before)) = (tenant.id == self.gated, self.applies_before_gate) {
                let seen = self
                    .applies
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if seen >= before {
                    self.wait_at_gate().await;
                }
            }
            self.inner.apply(tenant, changes, now).await
        })
    }

    fn unlink_all<'a>(
        &'a self,
        tenant: &'a scimgate_store::Tenant,
    ) -> scimgate_crm::CrmFuture<'a, u64> {
        self.inner.unlink_all(tenant)
    }
}

//! The web UI in a real browser (headless Chromium through chromedriver) against the real
//! `scimgate serve` process, on SQLite and PostgreSQL, with a real SMTP server and a real
//! OpenID Provider: an administrator signs in with a password, creates and revokes a
//! SCIM token, searches a user, reads Why and syncs the user, turns automatic sync on
//! (the server's scheduler syncs the rest), adds an e-mail subscription and sends a test
//! (the SMTP server receives it); then an operator signs in through the identity
//! provider. Every page visited is checked with axe-core: no serious or critical
//! accessibility violation (and a page with known violations shows the check can fail).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scimgate_app::App;
use scimgate_core::{AdminRole, Clock, SystemClock, TenantName};
use scimgate_notify::target::TargetPolicy;
use scimgate_store::{Store, TokenKind};
use scimgate_testkit::browser::{axe_source, Browser};
use scimgate_testkit::oidc_provider::{OidcProvider, CLIENT_ID, CLIENT_SECRET};
use scimgate_testkit::process::ServeProcess;
use scimgate_testkit::smtp::{free_port, SmtpServer};
use scimgate_testkit::{on_both_backends, DbBackend, TestDb};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";
const OPERATOR: &str = "alice@acme.example";
const OPERATOR_PASSWORD: &str = "alice's provider password";

/// Everything the browser talks to, running.
struct Stage {
    base: String,
    scim_token: String,
    /// The SCIM token of tenant crm: the CRM target acme's accounts are pushed to.
    crm_token: String,
    store: Store,
    mail: SmtpServer,
    browser: Browser,
    axe: String,
    _op: OidcProvider,
    _server: ServeProcess,
    _config: tempfile::NamedTempFile,
    /// Holds the server key that seals the CRM target's token.
    _key_dir: tempfile::TempDir,
    _db: TestDb,
}

async fn stage(backend: DbBackend) -> Option<Stage> {
    let db = TestDb::new(backend).await?;
    let browser = Browser::start().await?;
    let axe = axe_source()?;
    let mail = SmtpServer::start().await?;
    // The server's address is fixed first: the provider must know the callback URL.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let accounts = json!([{
        "sub": "3f2c9a70-0000-4000-8000-00000000a11c",
        "password": OPERATOR_PASSWORD,
        "email": OPERATOR,
        "name": "Alice Operator",
    }]);
    let op = OidcProvider::start(&format!("{base}/sign-in/oidc/callback"), &accounts).await?;

    let store = db.store().await;
    let app = App::builtin(
        store.clone(),
        Arc::new(SystemClock),
        TargetPolicy::default(),
    );
    let acme = TenantName::parse("acme").unwrap();
    let tenant = store.create_tenant(&acme, SystemClock.now()).await.unwrap();
    let scim_token = (store.create_token_of(TokenKind::Scim, &tenant, "entra", SystemClock.now()))
        .await
        .unwrap()
        .secret;
    // Another tenant of the same server stands in for the CRM (real SCIM over HTTP).
    let crm = TenantName::parse("crm").unwrap();
    let crm = store.create_tenant(&crm, SystemClock.now()).await.unwrap();
    let crm_token = (store.create_token_of(TokenKind::Scim, &crm, "pushes", SystemClock.now()))
        .await
        .unwrap()
        .secret;
    app.create_admin_account(
        "ops",
        PASSWORD,
        AdminRole::Administrator,
        std::slice::from_ref(&acme),
    )
    .await
    .unwrap();
    app.create_admin_account_without_password(OPERATOR, AdminRole::Operator, &[acme])
        .await
        .unwrap();
    let catalog =
        scimgate_core::Catalog::from_yaml(include_str!("../../rules/catalog.yaml")).unwrap();
    app.replace_catalog(&tenant, scimgate_app::Expect::Any, catalog)
        .await
        .unwrap();
    let rules = scimgate_core::RuleSource {
        yaml: include_str!("../../rules/sales-plan.yaml").into(),
        scripts: Default::default(),
    };
    app.save_rules(&tenant, scimgate_app::Expect::Any, rules)
        .await
        .unwrap();

    let config = tempfile::NamedTempFile::new().unwrap();
    let key_dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "sync_tick_ms: 200
allow_private_webhooks: true
server_key_file: {key}
smtp:
  host: 127.0.0.1
  port: {smtp}
  security: none
  from: scimgate@acme.example
oidc:
  issuer: {issuer}
  client_id: {CLIENT_ID}
  client_secret: {CLIENT_SECRET}
  name_claim: email
  label: the test provider
",
        smtp = mail.port,
        issuer = op.issuer,
        key = key_dir.path().join("server.key").display(),
    );
    std::fs::write(config.path(), yaml).unwrap();
    let server = ServeProcess::start_at(
        env!("CARGO_BIN_EXE_scimgate"),
        &db.url,
        &format!("127.0.0.1:{port}"),
        &["--config", &config.path().display().to_string()],
        &[],
    )
    .await;
    assert_eq!(server.base, base);
    Some(Stage {
        base,
        scim_token,
        crm_token,
        store,
        mail,
        browser,
        axe,
        _op: op,
        _server: server,
        _config: config,
        _key_dir: key_dir,
        _db: db,
    })
}

impl Stage {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Entra-shaped users through SCIM, two of them in a Sales group.
    async fn provision(&self, users: usize) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut ids = Vec::new();
        for n in 0..users {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("user{n:03}@acme.example"),
                "externalId": format!("0000{n:04}-aaaa-bbbb-cccc-000000000000"),
                "displayName": format!("Person {n:03}"),
                "active": true,
                "emails": [{"value": format!("p{n:03}@mail.acme.example"), "type": "work", "primary": true}],
            });
            let created = http
                .post(self.url("/scim/v2/acme/Users"))
                .bearer_auth(&self.scim_token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(created.status(), 201);
            let created: serde_json::Value = created.json().await.unwrap();
            ids.push(created["id"].as_str().unwrap().to_owned());
        }
        let sales = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Sales", "externalId": "5a1e5000-0000-0000-0000-000000000000",
            "members": [{"value": ids[0]}, {"value": ids[1]}],
        });
        let created = http
            .post(self.url("/scim/v2/acme/Groups"))
            .bearer_auth(&self.scim_token)
            .json(&sales)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }

    /// Entra's disable (PATCH active false) for `user{n:03}` in `users`.
    async fn deactivate(&self, users: std::ops::Range<usize>) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        for n in users {
            let found: serde_json::Value = http
                .get(self.url(&format!(
                    "/scim/v2/acme/Users?filter=userName%20eq%20%22user{n:03}@acme.example%22"
                )))
                .bearer_auth(&self.scim_token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let id = found["Resources"][0]["id"].as_str().unwrap().to_owned();
            let patched = http
                .patch(self.url(&format!("/scim/v2/acme/Users/{id}")))
                .bearer_auth(&self.scim_token)
                .json(&json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Replace", "path": "active", "value": false}]
                }))
                .send()
                .await
                .unwrap();
            assert!(patched.status().is_success());
        }
    }

    /// Saves the page shown now as `NAME.png` in `$SCIMGATE_UI_SCREENSHOTS` (how
    /// docs/ui/ is refreshed: `SCIMGATE_UI_SCREENSHOTS=$PWD/docs/ui cargo test --test
    /// browser`); nothing without it.
    async fn screenshot(&self, name: &str) {
        if let Ok(dir) = std::env::var("SCIMGATE_UI_SCREENSHOTS") {
            let png = self.browser.screenshot().await;
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
        }
    }

    /// No serious or critical axe-core violation on the page shown now.
    async fn assert_accessible(&self, page: &str) {
        let violations = self.browser.accessibility_violations(&self.axe).await;
        assert!(
            violations.is_empty(),
            "axe-core on the {page} page:\n{}",
            violations.join("\n")
        );
    }

    fn app(&self) -> App {
        App::builtin(
            self.store.clone(),
            Arc::new(SystemClock),
            TargetPolicy::default(),
        )
    }

    async fn scim_status(&self, token: &str) -> u16 {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let answer = http
            .get(self.url("/scim/v2/acme/Users?count=1"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        answer.status().as_u16()
    }
}

async fn an_administrator_works_through_the_ui(backend: DbBackend) {
    let Some(stage) = stage(backend).await else {
        return;
    };
    stage.provision(3).await;
    let browser = &stage.browser;

    // Sign in with a password; a wrong one first.
    browser.goto(&stage.url("/")).await;
    browser.wait_for_url("/sign-in").await;
    stage.assert_accessible("sign-in").await;
    browser.find("#name").await.fill("ops").await;
    browser
        .find("#password")
        .await
        .fill("not the password")
        .await;
    browser.button("Sign in").await.click().await;
    browser.wait_for_text("the name or password is wrong").await;
    browser.find("#password").await.fill(PASSWORD).await;
    browser.button("Sign in").await.click().await;
    browser.wait_for_url("/t/acme/overview").await;
    let overview = browser.wait_for_text("ops").await;
    assert!(overview.contains("administrator"), "{overview}");
    stage.assert_accessible("overview").await;
    stage.screenshot("overview").await;

    // Create a token: shown once, works against SCIM; then revoked, and refused at once.
    browser.button("Connection").await.click().await;
    browser.wait_for_text("Tenant URL").await;
    stage.assert_accessible("connection").await;
    browser.find("#label").await.fill("entra-prod").await;
    browser.button("Create token").await.click().await;
    let secret = browser.find("#new-token").await.value().await;
    assert!(secret.len() >= 32, "a token was shown: {secret:?}");
    stage.assert_accessible("connection, token created").await;
    assert_eq!(stage.scim_status(&secret).await, 200);
    browser.goto(&stage.url("/t/acme/connection")).await;
    let again = browser.wait_for_text("entra-prod").await;
    assert!(!again.contains(&secret), "the token is shown only once");
    let revoke =
        "//tr[td[contains(normalize-space(), 'entra-prod')]]//button[normalize-space()='Revoke']";
    browser.find_xpath(revoke).await.click().await;
    browser.wait_for_text("Revoked ").await;
    assert_eq!(stage.scim_status(&secret).await, 401);
    assert_eq!(stage.scim_status(&stage.scim_token).await, 200);

    // Search the holding area, open a user, read Why, sync the user.
    browser.button("Users").await.click().await;
    browser.wait_for_text("user002@acme.example").await;
    stage.assert_accessible("users").await;
    browser.find("#q").await.fill("user001").await;
    browser.button("Search").await.click().await;
    browser.wait_for_url("q=user001").await;
    let found = browser.wait_for_text("user001@acme.example").await;
    assert!(!found.contains("user002@acme.example"), "{found}");
    browser
        .find_xpath("//a[contains(normalize-space(), 'user001@acme.example')]")
        .await
        .click()
        .await;
    let user = browser.wait_for_text("Why").await;
    assert!(user.contains("Result"), "{user}");
    stage.assert_accessible("user").await;
    browser.button("Sync user").await.click().await;
    browser.wait_for_text("1 created").await;
    let tenant = stage
        .store
        .tenant(&TenantName::parse("acme").unwrap())
        .await;
    let tenant = tenant.unwrap().unwrap();
    let accounts = stage.app().accounts(&tenant, None, None).await.unwrap();
    assert_eq!(accounts.len(), 1, "the one user has a CRM account");

    // Automatic sync on.
    browser.button("Settings").await.click().await;
    browser.wait_for_text("Automatic sync").await;
    // The welcome forecast arrives by itself (htmx under the page's CSP).
    browser.wait_for_text("would get one on the next run").await;
    stage.assert_accessible("settings").await;
    stage.screenshot("settings").await;
    // A schedule that is not one: htmx swaps the 400 in, so the admin reads why.
    let schedule = browser.find("#schedule").await;
    let good_schedule = schedule.value().await;
    schedule.fill("0 25 * * *").await;
    browser.button("Save settings").await.click().await;
    browser.wait_for_text("25 is outside").await;
    browser.find("#schedule").await.fill(&good_schedule).await;
    let active = browser.find("input[name=user_sync_active]").await;
    assert!(!active.is_selected().await);
    active.click().await;
    browser.button("Save settings").await.click().await;
    // The result is a toast.
    let toast = browser.find(".toast").await;
    browser.wait_for_text("Settings saved.").await;
    assert!(toast.text().await.contains("Settings saved."));
    let settings = stage.app().settings(&tenant).await.unwrap();
    assert!(settings.value.user_sync_active, "automatic sync is on");
    // …and the scheduler in the server gives the other two users their accounts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stage
        .app()
        .accounts(&tenant, None, None)
        .await
        .unwrap()
        .len()
        < 3
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "automatic sync did not run within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // An e-mail subscription, and a test message the SMTP server receives.
    browser
        .find("#target")
        .await
        .fill("it-alerts@acme.example")
        .await;
    browser.button("Add subscription").await.click().await;
    browser.wait_for_text("Subscription added.").await;
    browser.button("Send test").await.click().await;
    browser.wait_for_text("Test message queued").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stage.mail.messages_to("it-alerts@acme.example").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the test message never reached the SMTP server: {}",
            stage.mail.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A CRM target: acme's accounts pushed to tenant crm of the same server over SCIM.
    browser
        .find_xpath("//a[.='CRM target settings']")
        .await
        .click()
        .await;
    browser.wait_for_text("No CRM target").await;
    stage.assert_accessible("CRM target").await;
    browser
        .find("#url")
        .await
        .fill(&stage.url("/scim/v2/crm"))
        .await;
    browser.find("#token").await.fill(&stage.crm_token).await;
    browser.find("input[name=push_all]").await.click().await;
    browser.button("Save target").await.click().await;
    browser.wait_for_text("CRM target saved").await;
    browser.button("Test connection").await.click().await;
    browser.wait_for_text("Test passed").await;
    stage.assert_accessible("CRM target, tested").await;
    stage.screenshot("crm-target").await;
    // The server's push worker delivers the three accounts.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let users: serde_json::Value = (http.get(stage.url("/scim/v2/crm/Users")))
            .bearer_auth(&stage.crm_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if users["totalResults"] == 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the accounts did not reach the CRM target within 30 s: {users}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.button("Check for drift").await.click().await;
    let report = browser.wait_for_text("users on the target").await;
    assert!(
        report.contains("3 accounts, 3 users on the target: 0 out of step"),
        "{report}"
    );
    stage.assert_accessible("CRM target drift").await;

    // Rules: switch one off (a draft; sync keeps the published rules), publish it.
    let before = stage.app().rule_set(&tenant).await.unwrap().version;
    browser.button("Rules").await.click().await;
    browser.wait_for_text("Published versions").await;
    stage.assert_accessible("rules").await;
    browser
        .find_xpath("//li[.//strong[.='Nordic sales']]//button[@role='switch']")
        .await
        .click()
        .await;
    browser.wait_for_text("Draft — 1 change(s)").await;
    // The draft's impact arrives by itself (htmx).
    browser
        .wait_for_text("What the next company sync would do")
        .await;
    stage.assert_accessible("rules with a draft").await;
    assert_eq!(stage.app().rule_set(&tenant).await.unwrap().version, before);
    browser.find("#comment").await.fill("Nordics paused").await;
    browser.button("Publish").await.click().await;
    browser
        .wait_for_text("Published: sync uses these rules")
        .await;
    let published = stage.app().rule_set(&tenant).await.unwrap();
    assert!(published.version > before);
    assert!(
        !(published.value.rules.iter())
            .find(|r| r.name == "Nordic sales")
            .unwrap()
            .active
    );

    browser.button("Sign out").await.click().await;
    browser.wait_for_url("/sign-in").await;

    // The operator signs in through the identity provider.
    browser
        .button("Sign in with the test provider")
        .await
        .click()
        .await;
    browser.wait_for_url("/interaction/").await;
    browser.find("#login").await.fill(OPERATOR).await;
    browser
        .find("#password")
        .await
        .fill(OPERATOR_PASSWORD)
        .await;
    browser.button("Sign in").await.click().await;
    browser.wait_for_url("/t/acme/overview").await;
    let signed_in = browser.wait_for_text(OPERATOR).await;
    assert!(signed_in.contains("operator"), "{signed_in}");
    // The operator's session works on the next page too (its cookie is SameSite=Strict).
    browser.goto(&stage.url("/t/acme/users")).await;
    browser.wait_for_text("user002@acme.example").await;
}

/// The rule editor, end to end in a real browser: a rule scoped to a group with a Rhai
/// condition (a deliberate error shown at its line and column, then fixed), tried on a
/// user, saved to the draft, moved up, another rule switched off, the draft's impact,
/// publish with a comment, restore the previous version; the Logs page lists each step.
/// Then every shipped rule file is imported through the YAML view and every rule saved
/// back through the form: the rules mean what they meant.
async fn an_administrator_writes_rules_in_the_editor(backend: DbBackend) {
    let Some(stage) = stage(backend).await else {
        return;
    };
    stage.provision(3).await;
    let browser = &stage.browser;
    let tenant = stage
        .store
        .tenant(&TenantName::parse("acme").unwrap())
        .await
        .unwrap()
        .unwrap();
    browser.goto(&stage.url("/sign-in")).await;
    browser.find("#name").await.fill("ops").await;
    browser.find("#password").await.fill(PASSWORD).await;
    browser.button("Sign in").await.click().await;
    browser.wait_for_url("/t/acme/overview").await;
    let first = stage.app().rule_set(&tenant).await.unwrap().version;

    // A new rule: Sales staff who are not interns get the Nordics group and the role.
    browser.goto(&stage.url("/t/acme/rules")).await;
    browser
        .find_xpath("//a[normalize-space()='New rule']")
        .await
        .click()
        .await;
    browser.wait_for_text("A new rule goes last").await;
    stage.assert_accessible("rule editor").await;
    browser.find("#name").await.fill("Sales, not interns").await;
    browser.find("#scope-member").await.click().await;
    browser.find("#group").await.fill("Sales").await;
    // A deliberate error: the comparison has no right-hand side.
    browser.find("#when").await.fill("user.title ==").await;
    browser.find("#role-value").await.click().await;
    browser
        .find_xpath("//select[@id='role-value-input']/option[.='Sales user']")
        .await
        .click()
        .await;
    browser.find("#secondary_groups-value").await.click().await;
    browser
        .find_xpath("//select[@id='secondary_groups-value-input']/option[.='Nordics']")
        .await
        .click()
        .await;
    browser.button("Check").await.click().await;
    let checked = browser.wait_for_text("Line 1, column").await;
    assert!(checked.contains("Not saved yet"), "{checked}");
    stage.assert_accessible("rule editor with an error").await;
    assert!(stage
        .app()
        .rule_draft(&tenant)
        .await
        .unwrap()
        .value
        .is_none());
    browser
        .find("#when")
        .await
        .fill("(user.title ?? \"\") != \"Intern\"")
        .await;
    browser.button("Check").await.click().await;
    browser.wait_for_text("No problems").await;
    // Tried on a Sales member: the new rule gives the role, and the Why trail says so.
    browser
        .find("#try-user")
        .await
        .fill("user000@acme.example")
        .await;
    browser.button("Try on user").await.click().await;
    let tried = browser
        .wait_for_text("With this rule: user000@acme.example")
        .await;
    assert!(tried.contains("Sales, not interns"), "{tried}");
    assert!(stage
        .app()
        .rule_draft(&tenant)
        .await
        .unwrap()
        .value
        .is_none());
    browser.button("Save to draft").await.click().await;
    browser.wait_for_text("Draft — 1 change(s)").await;
    let draft = stage
        .app()
        .rule_draft(&tenant)
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(draft.changes.added, ["Sales, not interns"]);
    let form = stage
        .app()
        .rule_form(&tenant, "Sales, not interns")
        .await
        .unwrap();
    assert_eq!(
        form.scope,
        scimgate_app::RuleScope::MemberOf("Sales".into())
    );
    assert_eq!(form.when, "(user.title ?? \"\") != \"Intern\"");
    assert_eq!(
        form.setting(scimgate_app::Setting::Role).value,
        "Sales user"
    );
    assert_eq!(
        form.setting(scimgate_app::Setting::SecondaryGroups).value,
        "Nordics"
    );

    // Move it up one place; switch "Nordic sales" off.
    browser
        .find_xpath("//li[.//strong[.='Sales, not interns']]//button[starts-with(normalize-space(), 'Move up')]")
        .await
        .click()
        .await;
    // (An added rule that moves is still one change: "added".)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let draft = stage
            .app()
            .rule_draft(&tenant)
            .await
            .unwrap()
            .value
            .unwrap();
        let names: Vec<String> = draft.rules.rules.into_iter().map(|r| r.name).collect();
        if names[names.len() - 2] == "Sales, not interns" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not moved: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser
        .find_xpath("//li[.//strong[.='Nordic sales']]//button[@role='switch']")
        .await
        .click()
        .await;
    browser.wait_for_text("Changed: Nordic sales").await;
    // Preview the draft: its impact on the next company sync arrives by itself.
    browser
        .wait_for_text("What the next company sync would do")
        .await;
    assert_eq!(stage.app().rule_set(&tenant).await.unwrap().version, first);
    browser
        .find("#comment")
        .await
        .fill("Sales roles by title")
        .await;
    browser.button("Publish").await.click().await;
    browser
        .wait_for_text("Published: sync uses these rules")
        .await;
    let second = stage.app().rule_set(&tenant).await.unwrap().version;
    assert!(second > first);

    // Restore the first version, publish it: the rules are as they were.
    let restore = format!(
        "//tr[td[starts-with(normalize-space(), '{first}')]]//button[starts-with(normalize-space(), 'Restore as draft')]"
    );
    browser.find_xpath(&restore).await.click().await;
    browser.wait_for_text("The version is now the draft").await;
    browser
        .find("#comment")
        .await
        .fill("back to the first")
        .await;
    browser.button("Publish").await.click().await;
    browser
        .wait_for_text("Published: sync uses these rules")
        .await;
    let (_, was) = stage.app().rule_version(&tenant, first).await.unwrap();
    let now = stage.app().rule_set(&tenant).await.unwrap();
    assert_eq!(now.value.source, was.source);

    // The Logs page lists each step, newest first, by ops.
    browser.button("Logs").await.click().await;
    browser.wait_for_text("Export CSV").await;
    stage.assert_accessible("logs").await;
    browser
        .find_xpath("//select[@id='area']/option[.='rules']")
        .await
        .click()
        .await;
    browser.button("Filter").await.click().await;
    browser.wait_for_url("area=rules").await;
    let rows = browser
        .execute(
            "return [...document.querySelectorAll('#audit-log tbody tr')].map(r => [...r.cells].map(c => c.innerText.trim()))",
            json!([]),
        )
        .await;
    let steps: Vec<(String, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[4].as_str().unwrap().to_owned(),
                r[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let ops = |action: &str| (action.to_owned(), "ops".to_owned());
    assert_eq!(
        steps[..6],
        [
            ops("rules.publish"),
            ops("rules.restore"),
            ops("rules.publish"),
            ops("rules.draft"),
            ops("rules.draft"),
            ops("rules.draft"),
        ],
        "{rows}"
    );

    // Every shipped rule file: imported through the YAML view, published, and each rule
    // saved back through the form unchanged — the draft then differs in nothing.
    let rules_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut scripts = std::collections::BTreeMap::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&rules_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".rhai") {
            scripts.insert(name, std::fs::read_to_string(&path).unwrap());
        } else if name.ends_with(".yaml") && name != "catalog.yaml" {
            files.push(path);
        }
    }
    files.sort();
    // The scripts are in the published set, so a pasted file that names one compiles
    // (the YAML view keeps the scripts there are).
    let with_scripts = scimgate_core::RuleSource {
        yaml: now.value.source.yaml.clone(),
        scripts,
    };
    (stage
        .app()
        .save_rules(&tenant, scimgate_app::Expect::Any, with_scripts))
    .await
    .unwrap();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        browser.goto(&stage.url("/t/acme/rules")).await;
        browser.wait_for_text("As YAML").await;
        browser
            .execute(
                "document.getElementById('yaml').value = arguments[0]",
                json!([text]),
            )
            .await;
        browser.button("Save draft").await.click().await;
        browser.wait_for_text("Draft saved.").await;
        browser
            .find("#comment")
            .await
            .fill(&format!("import {file}"))
            .await;
        browser.button("Publish").await.click().await;
        browser
            .wait_for_text("Published: sync uses these rules")
            .await;
        let imported = stage.app().rule_set(&tenant).await.unwrap();
        for rule in imported.value.rules.iter().map(|r| r.name.clone()) {
            let query: String = (rule.bytes())
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            browser
                .goto(&stage.url(&format!("/t/acme/rules/edit?rule={query}")))
                .await;
            browser.wait_for_text("Save to draft").await;
            browser.button("Save to draft").await.click().await;
            browser.wait_for_text("Draft saved.").await;
        }
        let draft = stage
            .app()
            .rule_draft(&tenant)
            .await
            .unwrap()
            .value
            .unwrap();
        assert!(
            draft.changes.is_empty(),
            "{file}: saving every rule through the form changed {:?}",
            draft.changes
        );
        let discard = stage.app().rule_draft(&tenant).await.unwrap().version;
        (stage
            .app()
            .discard_rule_draft(&tenant, scimgate_app::Expect::Version(discard)))
        .await
        .unwrap();
    }
}

/// The Preview page in a real browser: filter by role with two operators, sort by a
/// header, change the page size and the page, and export the filtered set as CSV,
/// read back through the browser's own session. Then sync the company through the
/// dialog and watch the run finish; approve a held run, and reject another.
async fn an_administrator_previews_the_company(backend: DbBackend) {
    let Some(stage) = stage(backend).await else {
        return;
    };
    stage.provision(60).await;
    let browser = &stage.browser;
    browser.goto(&stage.url("/sign-in")).await;
    browser.find("#name").await.fill("ops").await;
    browser.find("#password").await.fill(PASSWORD).await;
    browser.button("Sign in").await.click().await;
    browser.wait_for_url("/t/acme/overview").await;

    browser.button("Preview").await.click().await;
    browser.wait_for_text("1–50 of 60").await;
    let page = browser.text().await;
    assert!(page.contains("60 Create"), "{page}");
    stage.assert_accessible("preview").await;

    // Role is one of Sales user | Sales manager, and the username is not user000.
    browser
        .find_xpath("//select[@id='op_role']/option[@value='one_of']")
        .await
        .click()
        .await;
    browser
        .find("#v_role")
        .await
        .fill("sales user|Sales manager")
        .await;
    browser
        .find_xpath("//select[@id='op_username']/option[@value='not_equals']")
        .await
        .click()
        .await;
    browser
        .find("#v_username")
        .await
        .fill("user000@acme.example")
        .await;
    browser.button("Apply filters").await.click().await;
    browser.wait_for_text("1–1 of 1").await;
    let filtered = browser.find("#preview-table").await.text().await;
    assert!(filtered.contains("user001@acme.example"), "{filtered}");
    assert!(!filtered.contains("user000@acme.example"), "{filtered}");
    stage.assert_accessible("preview, filtered").await;
    // Clear all; 25 a page.
    browser.button("Clear all filters").await.click().await;
    browser.wait_for_text("1–50 of 60").await;
    browser
        .find_xpath("//select[@id='size']/option[@value='25']")
        .await
        .click()
        .await;
    browser.button("Apply filters").await.click().await;
    browser.wait_for_text("1–25 of 60").await;
    // By role; then by username, which (the default, ascending) turns round.
    browser
        .find_xpath("//th//a[starts-with(normalize-space(), 'Role')]")
        .await
        .click()
        .await;
    browser.wait_for_url("sort=role").await;
    browser
        .find_xpath("//th//a[starts-with(normalize-space(), 'Username')]")
        .await
        .click()
        .await;
    browser.wait_for_url("sort=username").await;
    browser
        .find_xpath("//th//a[starts-with(normalize-space(), 'Username')]")
        .await
        .click()
        .await;
    browser.wait_for_url("sort=-username").await;
    let first_row = browser.find("#preview-table tbody tr").await.text().await;
    assert!(first_row.contains("user059@acme.example"), "{first_row}");
    browser.button("Next page").await.click().await;
    browser.wait_for_text("26–50 of 60").await;
    let first_row = browser.find("#preview-table tbody tr").await.text().await;
    assert!(first_row.contains("user034@acme.example"), "{first_row}");
    stage.assert_accessible("preview, second page").await;

    // Export the set with a filter, and read the file the browser is given.
    browser
        .goto(&stage.url("/t/acme/preview?op_role=equals&v_role=User&sort=-username"))
        .await;
    browser.wait_for_text("1–50 of 58").await;
    let href = browser
        .execute(
            "return document.querySelector('a[download]').getAttribute('href');",
            json!([]),
        )
        .await;
    let csv = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.text()).then(done, e => done(String(e)));",
            json!([href]),
        )
        .await;
    let csv = csv.as_str().unwrap().to_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 59, "header and 58 users: {csv}");
    assert!(lines[0].starts_with("\"name\",\"username\""), "{csv}");
    assert!(
        lines[1].contains("user059@acme.example"),
        "in the page's order: {csv}"
    );

    // Sync company through the dialog (Cancel has the focus), and watch the run finish.
    browser.button("Runs").await.click().await;
    browser.button("Sync company…").await.click().await;
    browser
        .wait_for_text("Sync all users that match the published rules")
        .await;
    let dialog = browser.text().await;
    assert!(dialog.contains("60 Create"), "{dialog}");
    let focused = browser
        .execute("return document.activeElement.id;", json!([]))
        .await;
    assert_eq!(focused, json!("confirm-cancel"), "Cancel has the focus");
    stage.assert_accessible("sync company dialog").await;
    browser.button("Sync 60 user(s) now").await.click().await;
    browser.wait_for_url("/t/acme/runs/").await;
    browser.wait_for_text("completed").await;
    stage.assert_accessible("run").await;

    // The guard holds a run that deprovisions 3 of 60: approved on the Approvals page.
    let app = stage.app();
    let tenant = stage
        .store
        .tenant(&TenantName::parse("acme").unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut settings = app.settings(&tenant).await.unwrap();
    settings.value.guard_percent = 2;
    settings.value.guard_minimum = 1;
    app.save_settings(
        &tenant,
        scimgate_app::Expect::Version(settings.version),
        &settings.value,
    )
    .await
    .unwrap();
    stage.deactivate(0..3).await;
    let first = app.sync_company(&tenant).await.unwrap();
    assert_eq!(first.status.name(), "held");
    let first = first.run_id;
    browser.goto(&stage.url("/t/acme/overview")).await;
    browser.find("a.pill.alert").await.click().await;
    browser.wait_for_url("/t/acme/approvals").await;
    browser
        .wait_for_text(&format!("Run {first} · 3 deprovision(s) held"))
        .await;
    stage.assert_accessible("approvals").await;
    browser
        .find(&format!("#confirm-{first}"))
        .await
        .fill("approve")
        .await;
    browser
        .button(&format!("Approve run {first}"))
        .await
        .click()
        .await;
    browser
        .wait_for_text("Approved: the held deprovisions were applied.")
        .await;
    let active = app.accounts(&tenant, None, None).await.unwrap();
    assert_eq!(active.iter().filter(|a| a.fields.active).count(), 57);
    // Another, rejected.
    stage.deactivate(3..6).await;
    let second = app.sync_company(&tenant).await.unwrap();
    assert_eq!(second.status.name(), "held");
    browser.goto(&stage.url("/t/acme/approvals")).await;
    browser
        .button(&format!("Reject run {}", second.run_id))
        .await
        .click()
        .await;
    browser
        .wait_for_text("Rejected: the held deprovisions were discarded.")
        .await;
    let active = app.accounts(&tenant, None, None).await.unwrap();
    assert_eq!(active.iter().filter(|a| a.fields.active).count(), 57);
}

/// The accessibility check is not vacuous: a page with an unlabelled field and an image
/// without a text alternative fails it.
#[tokio::test]
async fn the_accessibility_check_finds_known_violations() {
    let (Some(browser), Some(axe)) = (Browser::start().await, axe_source()) else {
        return;
    };
    let page = "data:text/html,<!doctype html><html lang=en><title>t</title><main>\
        <img src=x.png><input type=text></main></html>";
    browser.goto(page).await;
    let violations = browser.accessibility_violations(&axe).await;
    let rules: Vec<&str> = violations
        .iter()
        .filter_map(|v| v.split(':').next())
        .collect();
    assert!(
        rules.contains(&"image-alt") && rules.contains(&"label"),
        "{violations:?}"
    );
}

on_both_backends!(
    an_administrator_works_through_the_ui,
    an_administrator_writes_rules_in_the_editor,
    an_administrator_previews_the_company,
);

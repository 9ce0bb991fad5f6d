//! The web UI over real HTTP on SQLite and PostgreSQL: sign-in (and its refusals and
//! lockout), sessions, tenants granted per account (another tenant's page is 404), the
//! Connection page's tokens (shown once, working against SCIM, revoked at once), roles,
//! CSRF and cross-site refusals, and the security headers every page carries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use scimgate_app::accounts::{LOCK_AFTER, SETUP_LINK_MS};
use scimgate_app::App;
use scimgate_core::{AdminRole, Clock, SystemClock, TenantName};
use scimgate_notify::target::TargetPolicy;
use scimgate_server::config::{NameClaim, OidcConfig};
use scimgate_store::TokenKind;
use scimgate_testkit::{on_both_backends, DbBackend, ManualClock, TestServer};
use std::sync::Arc;

const PASSWORD: &str = "correct horse battery staple";

/// A browser without JavaScript: it keeps the session cookie and does not follow
/// redirects, so each answer can be looked at.
struct Browser<'s> {
    server: &'s TestServer,
    http: reqwest::Client,
    cookie: Option<String>,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    csp: Option<String>,
    request_id: Option<String>,
    vary: Option<String>,
    /// `HX-Refresh`: htmx is told to reload the page.
    hx_refresh: Option<String>,
    body: String,
}

impl<'s> Browser<'s> {
    fn new(server: &'s TestServer) -> Browser<'s> {
        let http = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        Browser {
            server,
            http,
            cookie: None,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie.as_str()),
            None => request,
        };
        let response = request.send().await.unwrap();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
        };
        let (location, set_cookie, csp, request_id, vary) = (
            header(LOCATION),
            header(SET_COOKIE),
            header(CONTENT_SECURITY_POLICY),
            header(reqwest::header::HeaderName::from_static("x-request-id")),
            header(reqwest::header::VARY),
        );
        let hx_refresh = header(reqwest::header::HeaderName::from_static("hx-refresh"));
        if let Some(set) = &set_cookie {
            let pair = set.split(';').next().unwrap().to_owned();
            self.cookie = (!pair.ends_with('=')).then_some(pair);
        }
        Answer {
            status: response.status(),
            location,
            set_cookie,
            csp,
            request_id,
            vary,
            body: response.text().await.unwrap(),
            hx_refresh,
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = self.http.get(self.server.url(path));
        self.send(request).await
    }

    /// `path` as htmx asks for it; `restoring` as when it lost the page from its history.
    async fn get_htmx(&mut self, path: &str, restoring: bool) -> Answer {
        let mut request = self
            .http
            .get(self.server.url(path))
            .header("HX-Request", "true");
        if restoring {
            request = request.header("HX-History-Restore-Request", "true");
        }
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let request = self.http.post(self.server.url(path)).form(form);
        self.send(request).await
    }

    async fn sign_in(&mut self, name: &str, password: &str) -> Answer {
        self.post("/sign-in", &[("name", name), ("password", password)])
            .await
    }

    /// The CSRF token of the forms on `path`.
    async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        let at = page
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &page.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// The application layer over the server's store, as the admin API and the CLI use it.
fn app_of(server: &TestServer) -> App {
    App::builtin(
        server.store.clone(),
        Arc::new(SystemClock),
        TargetPolicy::default(),
    )
}

/// A server with tenants acme (its own) and globex, and an account on acme.
async fn setup(backend: DbBackend, role: AdminRole) -> Option<TestServer> {
    let server = TestServer::start(backend).await?;
    let globex = TenantName::parse("globex").unwrap();
    server
        .store
        .create_tenant(&globex, SystemClock.now())
        .await
        .unwrap();
    let app = app_of(&server);
    let acme = server.tenant.name.clone();
    app.create_admin_account("ops", PASSWORD, role, &[acme])
        .await
        .unwrap();
    Some(server)
}

async fn signing_in_and_out(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Administrator).await else {
        return;
    };
    let mut browser = Browser::new(&server);
    // Not signed in: every page leads to the sign-in form.
    let home = browser.get("/").await;
    assert_eq!(
        (home.status, home.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/sign-in"))
    );
    let form = browser.get("/sign-in").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("name=\"password\""), "{}", form.body);
    let csp = form.csp.expect("a Content-Security-Policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!form.body.contains("<script>"), "no inline script");
    // A wrong password and an unknown name: 401, the same words, no session.
    let wrong = browser.sign_in("ops", "not the password at all").await;
    let unknown = browser.sign_in("nobody", PASSWORD).await;
    assert_eq!(
        (wrong.status, unknown.status),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    let problem = |a: &Answer| {
        a.body[a.body.find("role=\"alert\"").unwrap()..]
            .split("</p>")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(problem(&wrong), problem(&unknown));
    assert!(wrong.set_cookie.is_none() && browser.cookie.is_none());
    // The right password: a session cookie that scripts cannot read and other sites
    // cannot send, and the only tenant's first page.
    let signed = browser.sign_in("ops", PASSWORD).await;
    assert_eq!(
        (signed.status, signed.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/"))
    );
    let cookie = signed.set_cookie.unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP on 127.0.0.1: {cookie}"
    );
    let home = browser.get("/").await;
    assert_eq!(home.location.as_deref(), Some("/t/acme/overview"));
    let overview = browser.get("/t/acme/overview").await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    assert!(
        overview.body.contains("0</strong> staged users"),
        "{}",
        overview.body
    );
    assert!(
        overview.body.contains("To do</span> Users received"),
        "{}",
        overview.body
    );
    let page = browser.get("/t/acme/connection").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(&format!("{}/scim/v2/acme", server.url(""))),
        "{}",
        page.body
    );
    // The session is stored only as a hash.
    let id = browser.cookie.clone().unwrap();
    let id = id.split_once('=').unwrap().1;
    let raw: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_sessions WHERE id_hash = $1")
        .bind(id)
        .fetch_one(server.store.pool())
        .await
        .unwrap();
    assert_eq!(raw, 0, "the cookie's id is not what the database keeps");
    // Sign-out needs the form's CSRF token, then ends the session for good.
    let csrf = browser.csrf("/t/acme/connection").await;
    let refused = browser.post("/sign-out", &[("csrf", "forged")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let out = browser.post("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/sign-in"));
    let replayed = browser
        .http
        .get(server.url("/t/acme/connection"))
        .header(COOKIE, format!("scimgate_session={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        replayed.status(),
        StatusCode::SEE_OTHER,
        "the ended session no longer signs in"
    );
}

async fn repeated_failures_lock_the_account(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Viewer).await else {
        return;
    };
    let mut browser = Browser::new(&server);
    for _ in 0..LOCK_AFTER {
        let wrong = browser.sign_in("ops", "still the wrong one").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    let locked = browser.sign_in("ops", PASSWORD).await;
    assert_eq!(
        locked.status,
        StatusCode::UNAUTHORIZED,
        "locked: even the right password is refused"
    );
    assert!(browser.cookie.is_none());
}

async fn another_tenants_pages_are_not_found(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Administrator).await else {
        return;
    };
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let granted = browser.get("/t/acme/connection").await;
    assert_eq!(granted.status, StatusCode::OK);
    // globex exists but is not granted; initech does not exist: the same 404.
    let other = browser.get("/t/globex/connection").await;
    let missing = browser.get("/t/initech/connection").await;
    assert_eq!(
        (other.status, missing.status),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(other.body, missing.body);
    let csrf = browser.csrf("/t/acme/connection").await;
    let post = browser
        .post(
            "/t/globex/connection/tokens",
            &[("csrf", &csrf), ("label", "x")],
        )
        .await;
    assert_eq!(post.status, StatusCode::NOT_FOUND);
    let globex = server
        .store
        .tenant(&TenantName::parse("globex").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(server
        .store
        .tokens_of(TokenKind::Scim, &globex)
        .await
        .unwrap()
        .is_empty());
}

async fn a_token_is_shown_once_works_and_is_revoked(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Administrator).await else {
        return;
    };
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let csrf = browser.csrf("/t/acme/connection").await;
    let created = browser
        .post(
            "/t/acme/connection/tokens",
            &[("csrf", &csrf), ("label", "entra")],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let at = created
        .body
        .find("id=\"new-token\" value=\"")
        .expect("the new token, shown");
    let rest = &created.body[at + "id=\"new-token\" value=\"".len()..];
    let secret = rest[..rest.find('"').unwrap()].to_owned();
    assert!(secret.starts_with("sgt_"), "{secret}");
    // It authenticates against SCIM.
    let users = |token: String| {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = server.url("/scim/v2/acme/Users");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(users(secret.clone()).await, StatusCode::OK);
    // Its use is recorded (in the background) and shown next to it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let tokens = (server.store.tokens_of(TokenKind::Scim, &server.tenant))
            .await
            .unwrap();
        let entra = tokens.iter().find(|t| t.label == "entra").unwrap();
        if let Some(at) = &entra.last_used_at {
            let page = browser.get("/t/acme/connection").await;
            assert!(page.body.contains(at.as_str()), "{}", page.body);
            // …and the Overview reads it as the identity provider's last request.
            let overview = browser.get("/t/acme/overview").await;
            let said =
                format!("Last request from the identity provider: <span class=\"mono\">{at}");
            assert!(overview.body.contains(&said), "{}", overview.body);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "last use never recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Shown once: the page never shows it again.
    let again = browser.get("/t/acme/connection").await;
    assert!(!again.body.contains(&secret));
    assert!(again.body.contains("entra"));
    // An empty label is the admin's mistake: 400 with the reason, nothing created.
    let before = server
        .store
        .tokens_of(TokenKind::Scim, &server.tenant)
        .await
        .unwrap()
        .len();
    let empty = browser
        .post(
            "/t/acme/connection/tokens",
            &[("csrf", &csrf), ("label", "  ")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains("label"), "{}", empty.body);
    assert_eq!(
        server
            .store
            .tokens_of(TokenKind::Scim, &server.tenant)
            .await
            .unwrap()
            .len(),
        before
    );
    // Revoking takes effect at once.
    let tokens = server
        .store
        .tokens_of(TokenKind::Scim, &server.tenant)
        .await
        .unwrap();
    let id = tokens.iter().find(|t| t.label == "entra").unwrap().id;
    let revoke = browser
        .post(
            &format!("/t/acme/connection/tokens/{id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(revoke.status, StatusCode::SEE_OTHER, "{}", revoke.body);
    assert_eq!(users(secret).await, StatusCode::UNAUTHORIZED);
    let unknown = browser
        .post(
            "/t/acme/connection/tokens/999999/revoke",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn forms_refuse_viewers_forgeries_and_other_sites(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Viewer).await else {
        return;
    };
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let page = browser.get("/t/acme/connection").await;
    assert!(
        !page.body.contains("Create token"),
        "a viewer is not offered the form"
    );
    let csrf = browser.csrf("/t/acme/connection").await;
    let count = || async {
        server
            .store
            .tokens_of(TokenKind::Scim, &server.tenant)
            .await
            .unwrap()
            .len()
    };
    let before = count().await;
    let viewer = browser
        .post(
            "/t/acme/connection/tokens",
            &[("csrf", &csrf), ("label", "x")],
        )
        .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    // A forged token, or a post from another site: refused before anything changes.
    let forged = browser
        .post(
            "/t/acme/connection/tokens",
            &[("csrf", "forged"), ("label", "x")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let cross = browser
        .http
        .post(server.url("/sign-in"))
        .header(ORIGIN, "https://evil.example")
        .form(&[("name", "ops"), ("password", PASSWORD)]);
    let cross = browser.send(cross).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert!(cross.set_cookie.is_none());
    assert_eq!(count().await, before);
}

async fn the_first_run_link_works_once(backend: DbBackend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let app = app_of(&server);
    let token = app
        .first_run_token()
        .await
        .unwrap()
        .expect("no account yet: a link");
    let mut browser = Browser::new(&server);
    assert_eq!(
        browser.get("/first-run?token=guess").await.status,
        StatusCode::NOT_FOUND
    );
    let page = browser.get(&format!("/first-run?token={token}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // An hour later the link is dead.
    let later = ManualClock::at(SystemClock.now().unix_millis() + SETUP_LINK_MS + 1000);
    let later = App::builtin(server.store.clone(), later, TargetPolicy::default());
    assert!(!later.first_run_open(&token).await.unwrap());
    // A mistake in the form does not use the link up.
    let short = [
        ("token", token.as_str()),
        ("name", "root"),
        ("password", "short"),
        ("tenant", "newco"),
    ];
    let refused = browser.post("/first-run", &short).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("12 characters"), "{}", refused.body);
    let good = [
        ("token", token.as_str()),
        ("name", "root"),
        ("password", PASSWORD),
        ("tenant", "newco"),
    ];
    let created = browser.post("/first-run", &good).await;
    assert_eq!(
        (created.status, created.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/")),
        "{}",
        created.body
    );
    assert_eq!(
        browser.get("/").await.location.as_deref(),
        Some("/t/newco/overview")
    );
    let accounts = app.admin_accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        (accounts[0].role, accounts[0].tenants[0].as_str()),
        (AdminRole::Administrator, "newco")
    );
    // Never again: the link, a new one, or a replay of the form.
    let mut stranger = Browser::new(&server);
    assert_eq!(
        stranger
            .get(&format!("/first-run?token={token}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stranger.post("/first-run", &good).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(app.first_run_token().await.unwrap().is_none());
    assert_eq!(app.admin_accounts().await.unwrap().len(), 1);
}

/// `serve` prints the first-run link after its address while no account exists.
async fn serve_prints_the_first_run_link(backend: DbBackend) {
    use tokio::io::AsyncBufReadExt;
    let Some(db) = scimgate_testkit::TestDb::new(backend).await else {
        return;
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .args([
            "--database-url",
            &db.url,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let wait = std::time::Duration::from_secs(30);
    let listening = tokio::time::timeout(wait, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = listening
        .strip_prefix("scimgate listening on ")
        .unwrap()
        .to_owned();
    let link_line = tokio::time::timeout(wait, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let link = &link_line[link_line.find("http://").expect("a link")..];
    assert!(
        link.starts_with(&format!("{base}/first-run?token=")),
        "{link_line}"
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = http.get(link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let _ = child.start_kill();
}

/// The value of the hidden `version` input of the form posting to `action`.
fn form_version(body: &str, action: &str) -> String {
    let form = &body[body
        .find(&format!("action=\"{action}\""))
        .expect("the form")..];
    let at = form.find("name=\"version\" value=\"").expect("a version");
    let rest = &form[at + "name=\"version\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The value of the first hidden input named `name` on the page.
fn form_field(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = body.find(&marker).expect("the field") + marker.len();
    body[at..at + body[at..].find('"').unwrap()].to_owned()
}

/// The editor's fields as a browser would post them for a new rule "Nordic leads".
fn editor_fields<'a>(csrf: &'a str, when: &'a str, role_kind: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("version", "0"),
        ("published", ""),
        ("original", ""),
        ("name", "Nordic leads"),
        ("active", "on"),
        ("scope", "member_of"),
        ("group", "Sales"),
        ("when", when),
        ("role_kind", role_kind),
        ("role_value", "Sales manager"),
        ("role_expr", "\"Sales \" + \"manager\""),
        ("role_mode", "if_not_set"),
        ("secondary_groups_kind", "value"),
        ("secondary_groups_value", "Nordics"),
        ("secondary_groups_value", "EMEA"),
        ("secondary_groups_mode", "always"),
        ("confidential_kind", "unset"),
        ("confidential_value", "false"),
    ]
}

async fn the_rule_editor_refuses_what_cannot_be_saved(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Administrator).await else {
        return;
    };
    let app = app_of(&server);
    let ids = stage(&server, &app, 3).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let csrf = browser.csrf("/t/acme/overview").await;
    let blank = browser.get("/t/acme/rules/edit").await;
    assert_eq!(blank.status, StatusCode::OK);
    // The group picker offers the staged groups, with their externalIds.
    assert!(
        blank.body.contains(
            "<option value=\"Sales\">Sales · 5a1e5000-0000-0000-0000-000000000000</option>"
        ),
        "{}",
        blank.body
    );
    let unknown = browser.get("/t/acme/rules/edit?rule=Nobody").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Code that does not compile: named at its line and column, nothing saved.
    let mut fields = editor_fields(&csrf, "member_of(\"Office Oslo\") ||\r\n  == 1", "expr");
    fields.push(("intent", "save"));
    let refused = browser.post("/t/acme/rules/edit", &fields).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("Line 2, column 3:") && refused.body.contains("id=\"when-problem\""),
        "{}",
        refused.body
    );
    // What was typed is shown back.
    assert!(refused.body.contains("Office Oslo"));
    assert!(app
        .rule_draft(&server.tenant)
        .await
        .unwrap()
        .value
        .is_none());
    // A value the catalogue lacks: under its setting, nothing saved.
    let mut fields = editor_fields(&csrf, "", "value");
    fields.retain(|(k, _)| *k != "role_value");
    fields.push(("role_value", "Chief of everything"));
    fields.push(("intent", "check"));
    let refused = browser.post("/t/acme/rules/edit", &fields).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("id=\"role-problem\"")
            && refused.body.contains("Chief of everything"),
        "{}",
        refused.body
    );
    // A name another rule has.
    let mut fields = editor_fields(&csrf, "", "value");
    fields.retain(|(k, _)| *k != "name");
    fields.push(("name", "Sales"));
    fields.push(("intent", "save"));
    let taken = browser.post("/t/acme/rules/edit", &fields).await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST);
    assert!(taken.body.contains("already named"), "{}", taken.body);
    // Tried on a user who is not staged.
    let mut fields = editor_fields(&csrf, "", "value");
    fields.push(("intent", "try"));
    fields.push(("try_user", "nobody@acme.example"));
    let missing = browser.post("/t/acme/rules/edit", &fields).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("no staged user"));
    assert!(app
        .rule_draft(&server.tenant)
        .await
        .unwrap()
        .value
        .is_none());

    // Saved: exactly what the form said, with both groups and the mode.
    let mut fields = editor_fields(&csrf, "", "expr");
    fields.push(("intent", "save"));
    let saved = browser.post("/t/acme/rules/edit", &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let form = app.rule_form(&server.tenant, "Nordic leads").await.unwrap();
    let role = form.setting(scimgate_app::Setting::Role);
    assert_eq!(
        (
            role.kind,
            role.expr.as_str(),
            role.if_not_set,
            role.value.as_str()
        ),
        (
            scimgate_app::SettingKind::Expr,
            "\"Sales \" + \"manager\"",
            true,
            ""
        )
    );
    assert_eq!(
        form.setting(scimgate_app::Setting::SecondaryGroups).value,
        "Nordics\nEMEA"
    );
    assert_eq!(
        form.setting(scimgate_app::Setting::Confidential).kind,
        scimgate_app::SettingKind::Unset
    );
    // The editor lists a rule's secondary groups in the rule's order (a browser posts a
    // multiple choice in the page's order), then the rest of the catalogue.
    let editor = browser.get("/t/acme/rules/edit?rule=Nordic%20leads").await;
    let select = &editor.body[editor
        .body
        .find("id=\"secondary_groups-value-input\"")
        .unwrap()..];
    let (nordics, emea, staff) = (
        select.find(">Nordics<").unwrap(),
        select.find(">EMEA<").unwrap(),
        select.find(">Staff<").unwrap(),
    );
    assert!(nordics < emea && emea < staff, "{select}");
    // A form shown again after Check keeps the versions it was loaded at.
    let mut fields = editor_fields(&csrf, "", "value");
    fields.retain(|(k, _)| *k != "version");
    fields.push(("version", "1"));
    fields.push(("intent", "check"));
    let checked = browser.post("/t/acme/rules/edit", &fields).await;
    assert!(
        checked.body.contains("name=\"version\" value=\"1\""),
        "{}",
        checked.body
    );
    // Duplicate opens the copy; Delete removes it.
    let page = browser.get("/t/acme/rules").await;
    let version = form_version(&page.body, "/t/acme/rules/duplicate");
    let copied = browser
        .post(
            "/t/acme/rules/duplicate",
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("rule", "Nordic leads"),
            ],
        )
        .await;
    assert_eq!(copied.status, StatusCode::SEE_OTHER);
    assert_eq!(
        copied.location.as_deref(),
        Some("/t/acme/rules/edit?rule=Nordic%20leads%20%28copy%29")
    );
    let draft = app.rule_draft(&server.tenant).await.unwrap();
    let names: Vec<String> = (draft.value.unwrap().rules.rules.into_iter())
        .map(|r| r.name)
        .collect();
    let at = names.iter().position(|n| n == "Nordic leads").unwrap();
    assert_eq!(names[at + 1], "Nordic leads (copy)");
    let deleted = browser
        .post(
            "/t/acme/rules/delete",
            &[
                ("csrf", &csrf),
                ("version", &draft.version.to_string()),
                ("rule", "Nordic leads (copy)"),
            ],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let again = browser
        .post(
            "/t/acme/rules/delete",
            &[
                ("csrf", &csrf),
                ("version", &(draft.version + 1).to_string()),
                ("rule", "Nordic leads (copy)"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let names: Vec<String> = (app.rule_draft(&server.tenant).await.unwrap().value.unwrap())
        .rules
        .rules
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert!(!names.iter().any(|n| n.contains("(copy)")), "{names:?}");
    // A stale form (an older draft version) is refused with 409, nothing overwritten.
    let mut fields = editor_fields(&csrf, "", "value");
    fields.retain(|(k, _)| *k != "name" && *k != "version");
    fields.push(("name", "Late"));
    fields.push(("version", "1"));
    fields.push(("intent", "save"));
    let stale = browser.post("/t/acme/rules/edit", &fields).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(app.rule_form(&server.tenant, "Late").await.is_err());
    // The user page says what the draft would set where it differs from the published set.
    let user = browser.get(&format!("/t/acme/users/{}", ids[0])).await;
    assert!(user.body.contains("Draft rules say"), "{}", user.body);
    assert!(
        user.body
            .contains("[&#34;Nordics&#34;, &#34;EMEA&#34;] (by Nordic leads)"),
        "{}",
        user.body
    );
    // Each rule's reach, counted on request: the two Sales members.
    let plain = browser.get("/t/acme/rules").await;
    assert!(!plain.body.contains("staged user(s)</span>"));
    let counted = browser.get("/t/acme/rules?matches=1").await;
    for rule in ["Sales", "Nordic leads"] {
        let shown = format!(
            "<strong>{rule}</strong> <span class=\"muted\">· applies to 2 staged user(s)</span>"
        );
        assert!(counted.body.contains(&shown), "{rule}: {}", counted.body);
    } // A draft that no longer compiles (the catalogue lost a group only it uses) does not
      // hide what the published rules do for the user.
    let catalog = app.catalog(&server.tenant).await.unwrap().version;
    (app.delete_catalog_entry(
        &server.tenant,
        scimgate_app::Expect::Version(catalog),
        scimgate_core::CatalogKind::Group,
        "EMEA",
    ))
    .await
    .unwrap();
    let user = browser.get(&format!("/t/acme/users/{}", ids[0])).await;
    assert_eq!(user.status, StatusCode::OK);
    assert!(
        user.body.contains("The draft rules cannot be evaluated")
            && user.body.contains("Sales Premium")
            && !user.body.contains("Draft rules say"),
        "{}",
        user.body
    );
}

/// Runs page: Sync company starts a job and opens its page, which shows the run to its
/// end; per-user outcomes, CSV; Cancel and Approve refused on a finished run; a viewer
/// cannot start one.
async fn an_operator_syncs_the_company_and_follows_the_run(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Operator).await else {
        return;
    };
    let app = app_of(&server);
    stage(&server, &app, 3).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let list = browser.get("/t/acme/runs").await;
    assert!(list.body.contains("Sync company") && list.body.contains("No runs yet."));
    let csrf = browser.csrf("/t/acme/runs").await;
    let started = browser.post("/t/acme/runs/start", &[("csrf", &csrf)]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let run_url = started.location.clone().unwrap();
    let id: i64 = run_url.rsplit('/').next().unwrap().parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let page = loop {
        let status = browser.get(&format!("{run_url}?status=1")).await;
        if !status.body.contains("Running…") {
            break browser.get(&run_url).await;
        }
        assert!(
            status
                .body
                .contains(&format!("data-events=\"{run_url}/events\"")),
            "{}",
            status.body
        );
        assert!(std::time::Instant::now() < deadline, "the run never ended");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        page.body
            .contains("<h2 id=\"run-status-title\">completed</h2>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("data-events"),
        "a finished run is not followed"
    );
    // Its events: the status section as it ended, then the stream closes.
    let events = browser.get(&format!("{run_url}/events")).await;
    assert_eq!(events.status, StatusCode::OK);
    assert!(
        events.body.starts_with("event: end\ndata: ") && events.body.contains("completed"),
        "{}",
        events.body
    );
    let unknown = browser.get("/t/acme/runs/999999/events").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // htmx polling a run that has ended is told to reload the whole page.
    let ended = browser
        .get_htmx(&format!("{run_url}?status=1"), false)
        .await;
    assert_eq!(ended.hx_refresh.as_deref(), Some("true"));
    let plain = browser.get(&format!("{run_url}?status=1")).await;
    assert_eq!(plain.hx_refresh, None);
    assert!(page.body.contains("user000@acme.example") && page.body.contains(">created<"));
    let none = browser.get(&format!("{run_url}?outcome=error")).await;
    assert!(none.body.contains("No users with this outcome"));
    let csv = browser.get(&format!("{run_url}/export")).await;
    assert_eq!(csv.body.lines().count(), 4, "{}", csv.body);
    assert!(csv.body.starts_with("\"user_id\",\"username\",\"outcome\""));
    let (run, _) = app.run(&server.tenant, id).await.unwrap();
    assert_eq!((run.created, run.trigger.name()), (3, "manual_company"));
    // A finished run cannot be cancelled; approving needs the typed word, and a held run.
    let cancel = browser
        .post(&format!("{run_url}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(cancel.status, StatusCode::CONFLICT);
    assert!(cancel.body.contains("only a running run"));
    let untyped = browser
        .post(
            &format!("{run_url}/approve"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(untyped.status, StatusCode::BAD_REQUEST);
    let typed = browser
        .post(
            &format!("{run_url}/approve"),
            &[("csrf", &csrf), ("confirm", "approve")],
        )
        .await;
    assert_eq!(typed.status, StatusCode::CONFLICT, "{}", typed.body);
    let unknown = browser
        .post("/t/acme/runs/999999/cancel", &[("csrf", &csrf)])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let list = browser.get("/t/acme/runs").await;
    assert!(list
        .body
        .contains(&format!("<a href=\"/t/acme/runs/{id}\">{id}</a>")));
    // The audit log names the operator's start.
    let log = browser.get("/t/acme/logs?area=sync").await;
    assert!(
        log.body.contains(&format!("run {id} started")),
        "{}",
        log.body
    );
}

async fn settings_are_saved_with_their_version(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Administrator).await else {
        return;
    };
    let app = app_of(&server);
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let page = browser.get("/t/acme/settings").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("every 15 minutes"),
        "the default schedule in words"
    );
    assert!(
        page.body.contains("Automatic sync off</a>"),
        "the header says it"
    );
    let csrf = browser.csrf("/t/acme/settings").await;
    let version = form_version(&page.body, "/t/acme/settings");
    let form = |schedule: &'static str, version: String, csrf: String| {
        vec![
            ("csrf", csrf),
            ("version", version),
            ("user_sync_active", "on".into()),
            ("schedule", schedule.into()),
            ("debounce_seconds", "45".into()),
            ("guard_percent", "20".into()),
            ("guard_minimum", "3".into()),
            ("sign_in_url", String::new()),
        ]
    };
    let post = |b: &mut Browser<'_>, fields: Vec<(&'static str, String)>| {
        b.http.post(b.server.url("/t/acme/settings")).form(&fields)
    };
    // A schedule that is not one: 400 naming it, nothing saved.
    let bad = post(
        &mut browser,
        form("every day", version.clone(), csrf.clone()),
    );
    let bad = browser.send(bad).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("schedule"), "{}", bad.body);
    assert!(
        !app.settings(&server.tenant)
            .await
            .unwrap()
            .value
            .user_sync_active
    );
    // Saved: on, read back in words with its next fire times.
    let saved = post(
        &mut browser,
        form("30 2 * * *", version.clone(), csrf.clone()),
    );
    let saved = browser.send(saved).await;
    assert_eq!(
        saved.location.as_deref(),
        Some("/t/acme/settings?done=saved"),
        "{}",
        saved.body
    );
    let now = app.settings(&server.tenant).await.unwrap().value;
    assert!(now.user_sync_active);
    assert_eq!(
        (
            now.schedule.as_str(),
            now.debounce_seconds,
            now.guard_percent
        ),
        ("30 2 * * *", 45, 20)
    );
    let page = browser.get("/t/acme/settings?done=saved").await;
    assert!(page.body.contains("Settings saved.") && page.body.contains("every day at 02:30 UTC"));
    let users = browser.get("/t/acme/users").await;
    assert!(
        users.body.contains("Automatic sync on</a>"),
        "every tenant page's header"
    );
    // The same old version again: someone saved since, so 409 and nothing changes.
    let stale = post(&mut browser, form("0 * * * *", version, csrf));
    let stale = browser.send(stale).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(
        stale.body.contains("changed since version"),
        "{}",
        stale.body
    );
    assert_eq!(
        app.settings(&server.tenant).await.unwrap().value.schedule,
        "30 2 * * *"
    );
}

async fn subscriptions_tests_and_restart_from_settings(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Administrator).await else {
        return;
    };
    let app = app_of(&server);
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let page = browser.get("/t/acme/settings").await;
    let csrf = browser.csrf("/t/acme/settings").await;
    let version = form_version(&page.body, "/t/acme/settings/subscriptions");
    let add = [
        ("csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("channel", "email"),
        ("target", "ops@acme.example"),
        ("event", "sync.error"),
        ("event", "sync.held"),
    ];
    let added = browser.post("/t/acme/settings/subscriptions", &add).await;
    assert_eq!(
        added.location.as_deref(),
        Some("/t/acme/settings?done=subscribed"),
        "{}",
        added.body
    );
    let subs = app.subscriptions(&server.tenant).await.unwrap().value;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].events.len(), 2);
    let id = subs[0].id;
    let test = browser
        .post(
            &format!("/t/acme/settings/subscriptions/{id}/test"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(test.location.as_deref(), Some("/t/acme/settings?done=test"));
    let queued = app.outbox(&server.tenant, None, 10).await.unwrap();
    assert_eq!(
        (
            queued.len(),
            queued[0].event.as_str(),
            queued[0].target.as_str()
        ),
        (1, "test", "ops@acme.example")
    );
    let page = browser.get("/t/acme/settings").await;
    let version = form_version(
        &page.body,
        &format!("/t/acme/settings/subscriptions/{id}/remove"),
    );
    let removed = browser
        .post(
            &format!("/t/acme/settings/subscriptions/{id}/remove"),
            &[("csrf", &csrf), ("version", &version)],
        )
        .await;
    assert_eq!(
        removed.location.as_deref(),
        Some("/t/acme/settings?done=unsubscribed")
    );
    assert!(app
        .subscriptions(&server.tenant)
        .await
        .unwrap()
        .value
        .is_empty());
    // Restart needs the tenant's name typed; a wrong one changes nothing.
    let wrong = browser
        .post(
            "/t/acme/settings/restart",
            &[("csrf", &csrf), ("confirm", "acm")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("nothing was changed"), "{}", wrong.body);
    let done = browser
        .post(
            "/t/acme/settings/restart",
            &[("csrf", &csrf), ("confirm", "acme")],
        )
        .await;
    assert_eq!(
        done.location.as_deref(),
        Some("/t/acme/settings?done=restarted"),
        "{}",
        done.body
    );
}

async fn a_viewer_reads_settings_but_cannot_change_them(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Viewer).await else {
        return;
    };
    let app = app_of(&server);
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let page = browser.get("/t/acme/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Save settings") && !page.body.contains("Restart sync"));
    let csrf = browser.csrf("/t/acme/settings").await;
    let version = form_version(&page.body, "/t/acme/settings");
    let fields = [
        ("csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("user_sync_active", "on"),
        ("schedule", "* * * * *"),
        ("debounce_seconds", "1"),
        ("guard_percent", "1"),
        ("guard_minimum", "1"),
    ];
    let refused = browser.post("/t/acme/settings", &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let restart = browser
        .post(
            "/t/acme/settings/restart",
            &[("csrf", &csrf), ("confirm", "acme")],
        )
        .await;
    assert_eq!(restart.status, StatusCode::FORBIDDEN);
    assert!(
        !app.settings(&server.tenant)
            .await
            .unwrap()
            .value
            .user_sync_active
    );
}

/// Entra-shaped users and a group through SCIM, and the example catalogue and sales rules.
async fn stage(server: &TestServer, app: &App, users: usize) -> Vec<String> {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut ids = Vec::new();
    for n in 0..users {
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("user{n:03}@acme.example"),
            "externalId": format!("0000{n:04}-aaaa-bbbb-cccc-000000000000"),
            "displayName": format!("Person {n:03}"),
            "active": true,
            "emails": [{"value": format!("p{n:03}@mail.acme.example"), "type": "work", "primary": true}],
        });
        let created = http
            .post(server.url("/scim/v2/acme/Users"))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let created: serde_json::Value = created.json().await.unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let sales = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Sales", "externalId": "5a1e5000-0000-0000-0000-000000000000",
        "members": [{"value": ids[0]}, {"value": ids[1]}],
    });
    let created = http
        .post(server.url("/scim/v2/acme/Groups"))
        .bearer_auth(&server.token)
        .json(&sales)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let catalog =
        scimgate_core::Catalog::from_yaml(include_str!("../../rules/catalog.yaml")).unwrap();
    app.replace_catalog(&server.tenant, scimgate_app::Expect::Any, catalog)
        .await
        .unwrap();
    let rules = scimgate_core::RuleSource {
        yaml: include_str!("../../rules/sales-plan.yaml").into(),
        scripts: Default::default(),
    };
    app.save_rules(&server.tenant, scimgate_app::Expect::Any, rules)
        .await
        .unwrap();
    ids
}

async fn users_are_searched_and_paged_in_the_holding_area(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Viewer).await else {
        return;
    };
    let app = app_of(&server);
    let ids = stage(&server, &app, 60).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let overview = browser.get("/t/acme/overview").await;
    for ticked in [
        "Done</span> Users received",
        "Done</span> externalId is Entra",
        "Done</span> Groups received",
        "Done</span> Rules saved",
    ] {
        assert!(
            overview.body.contains(ticked),
            "{ticked}: {}",
            overview.body
        );
    }
    assert!(
        overview.body.contains("60</strong> staged users"),
        "{}",
        overview.body
    );
    let first = browser.get("/t/acme/users").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first.body.contains("1–50 of 60 users"), "{}", first.body);
    assert!(
        first.body.contains("user000@acme.example") && !first.body.contains("user050@acme.example")
    );
    let second = browser.get("/t/acme/users?q=&group=&page=2").await;
    assert!(
        second.body.contains("51–60 of 60 users") && second.body.contains("user059@acme.example")
    );
    // Search by e-mail, externalId or name; case does not matter; wildcards are literal.
    for q in ["P007@MAIL", "00000007-aaaa", "person 007"] {
        let found = browser
            .get(&format!("/t/acme/users?q={}", q.replace(' ', "+")))
            .await;
        assert!(
            found.body.contains("1–1 of 1 users") && found.body.contains("user007@acme.example"),
            "{q}: {}",
            found.body
        );
    }
    // Two characters are looked for row by row, three or more through the trigram index:
    // both find the same, and neither takes wildcards or quotes as anything but text.
    for (q, shown) in [
        ("07", "1–1 of 1 users"),
        ("%25", "0 users found"),
        ("%25_%25", "0 users found"),
        ("%22user007", "0 users found"),
        ("user0%22", "0 users found"),
        ("ACME.EXAMPLE", "1–50 of 60 users"),
    ] {
        let found = browser.get(&format!("/t/acme/users?q={q}")).await;
        assert_eq!(found.status, StatusCode::OK, "{q}: {}", found.body);
        assert!(found.body.contains(shown), "{q}: {}", found.body);
    }
    // The index follows the holding area: a renamed user is found by its new name only,
    // a deleted one not at all.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let rename = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "userName", "value": "renamed.person@acme.example"}],
    });
    let patched = http
        .patch(server.url(&format!("/scim/v2/acme/Users/{}", ids[8])))
        .bearer_auth(&server.token)
        .json(&rename)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let deleted = http
        .delete(server.url(&format!("/scim/v2/acme/Users/{}", ids[9])))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for (q, shown) in [
        ("renamed.person", "1–1 of 1 users"),
        ("user008@", "0 users found"),
        ("user009@", "0 users found"),
        ("p009@mail", "0 users found"),
    ] {
        let found = browser.get(&format!("/t/acme/users?q={q}")).await;
        assert!(found.body.contains(shown), "{q}: {}", found.body);
    }
    // The group browser keeps the group's members.
    let group_id = app.group_names(&server.tenant).await.unwrap()[0].0.clone();
    let members = browser
        .get(&format!("/t/acme/users?group={group_id}"))
        .await;
    assert!(members.body.contains("1–2 of 2 users"), "{}", members.body);
    // The user page: the rules' result with the rule that set each value, the trail, the raw resource.
    let user = browser.get(&format!("/t/acme/users/{}", ids[0])).await;
    assert_eq!(user.status, StatusCode::OK, "{}", user.body);
    assert!(
        user.body.contains("Sales Premium") && user.body.contains("Result: create"),
        "{}",
        user.body
    );
    assert!(
        user.body.contains("<strong>Sales</strong>: matched"),
        "{}",
        user.body
    );
    assert!(user
        .body
        .contains("Synced: the rules give this user a CRM account."));
    assert!(
        user.body.contains("p000@mail.acme.example"),
        "the raw resource"
    );
    assert!(
        !user.body.contains("Sync user"),
        "a viewer is not offered Sync user"
    );
    let other = browser.get(&format!("/t/acme/users/{}", ids[2])).await;
    assert!(
        other.body.contains("Standard") && other.body.contains("not member of"),
        "{}",
        other.body
    );
    assert_eq!(
        browser.get("/t/acme/users/no-such-user").await.status,
        StatusCode::NOT_FOUND
    );
    // A viewer cannot sync.
    let csrf = browser.csrf("/t/acme/settings").await;
    let refused = browser
        .post(
            &format!("/t/acme/users/{}/sync", ids[0]),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(app
        .accounts(&server.tenant, None, None)
        .await
        .unwrap()
        .is_empty());
}

async fn an_operator_syncs_one_user(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Operator).await else {
        return;
    };
    let app = app_of(&server);
    let ids = stage(&server, &app, 3).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let page = browser.get(&format!("/t/acme/users/{}", ids[0])).await;
    assert!(page.body.contains("Sync user"));
    let csrf = browser.csrf(&format!("/t/acme/users/{}", ids[0])).await;
    let synced = browser
        .post(
            &format!("/t/acme/users/{}/sync", ids[0]),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(synced.status, StatusCode::OK, "{}", synced.body);
    assert!(
        synced.body.contains("<div class=\"toast\">")
            && synced
                .body
                .contains("id=\"announcer\" class=\"skip\" role=\"status\"")
            && synced.body.contains("1 created"),
        "the outcome is a toast: {}",
        synced.body
    );
    assert!(synced.body.contains("Result: unchanged"), "{}", synced.body);
    let accounts = app.accounts(&server.tenant, None, None).await.unwrap();
    assert_eq!(accounts.len(), 1, "only this user's account");
    // The user's History lists the run and what it did; another user's is empty.
    let page = browser.get(&format!("/t/acme/users/{}", ids[0])).await;
    let run = app.runs(&server.tenant, 1).await.unwrap().remove(0);
    assert!(
        page.body.contains(&format!("<tr><td>{}</td>", run.id))
            && page.body.contains("created</td>"),
        "{}",
        page.body
    );
    let other = browser.get(&format!("/t/acme/users/{}", ids[1])).await;
    assert!(
        other.body.contains("No run has changed this user"),
        "{}",
        other.body
    );
    // The status facet: the synced user, the rest staged only, nobody deprovisioned.
    for (status, shown) in [
        ("synced", "1–1 of 1 users"),
        ("staged", "1–2 of 2 users"),
        ("deprovisioned", "0 users found"),
        ("error", "0 users found"),
        ("nonsense", "1–3 of 3 users"),
    ] {
        let page = browser.get(&format!("/t/acme/users?status={status}")).await;
        assert!(page.body.contains(shown), "{status}: {}", page.body);
    }
    // The Overview counts the seat it took, against the catalogue's purchased seats.
    let overview = browser.get("/t/acme/overview").await;
    assert!(
        overview.body.contains("<td>Sales Premium</td><td>1</td>")
            && overview.body.contains("<td>Standard</td><td>0</td>"),
        "{}",
        overview.body
    );
    // One Sales Premium seat, taken: the other Sales member's run ends in error, and
    // the facet finds them (and only them).
    let one_seat = include_str!("../../rules/catalog.yaml").replace(
        "{ name: \"Sales Premium\", seats: 80 }",
        "{ name: \"Sales Premium\", seats: 1 }",
    );
    let catalog = scimgate_core::Catalog::from_yaml(&one_seat).unwrap();
    app.replace_catalog(&server.tenant, scimgate_app::Expect::Any, catalog)
        .await
        .unwrap();
    let outcome = app.sync_company(&server.tenant).await.unwrap();
    assert_eq!(outcome.errors, 1, "{outcome:?}");
    let in_error = browser.get("/t/acme/users?status=error").await;
    assert!(
        in_error.body.contains("1–1 of 1 users") && in_error.body.contains("user001@acme.example"),
        "{}",
        in_error.body
    );
}

/// htmx gets the body without the document around it (a browser the whole page), and the
/// Settings page's welcome forecast is what the next run really queues.
async fn htmx_fragments_and_the_welcome_forecast(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Operator).await else {
        return;
    };
    let app = app_of(&server);
    stage(&server, &app, 3).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;

    let page = browser.get("/t/acme/overview").await;
    assert!(page.body.starts_with("<!doctype html>"), "{}", page.body);
    let fragment = browser.get_htmx("/t/acme/overview", false).await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(
        fragment
            .body
            .starts_with("<title>Overview · scimgate</title>")
            && !fragment.body.contains("<html")
            && !fragment.body.contains("<script")
            && fragment.body.contains("<main id=\"main\">")
            && fragment.body.contains("aria-current=\"page\">Overview</a>"),
        "{}",
        fragment.body
    );
    assert!(
        fragment
            .vary
            .as_deref()
            .is_some_and(|v| v.contains("HX-Request")),
        "{:?}",
        fragment.vary
    );
    let restored = browser.get_htmx("/t/acme/overview", true).await;
    assert!(
        restored.body.starts_with("<!doctype html>"),
        "{}",
        restored.body
    );
    // An error page is a fragment too (htmx swaps every status in).
    let missing = browser.get_htmx("/t/acme/users/no-such-user", false).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.starts_with("<title>Not found"),
        "{}",
        missing.body
    );

    // The forecast: asked for by the page, counted on its own request.
    let settings = browser.get("/t/acme/settings").await;
    assert!(
        settings
            .body
            .contains("hx-get=\"/t/acme/settings/welcome-forecast\""),
        "{}",
        settings.body
    );
    let forecast = |body: &str| -> u64 {
        let at = body.find("<strong>").expect("a count") + "<strong>".len();
        body[at..at + body[at..].find('<').unwrap()]
            .parse()
            .unwrap()
    };
    let off = browser
        .get_htmx("/t/acme/settings/welcome-forecast", false)
        .await;
    assert!(off.body.contains("Switched on, <strong>"), "{}", off.body);
    let expected = forecast(&off.body);
    assert!(
        expected > 0,
        "the rules give someone an account: {}",
        off.body
    );
    // Without htmx the address gives the Settings page with the count in it.
    let direct = browser.get("/t/acme/settings/welcome-forecast").await;
    assert_eq!(
        direct.location.as_deref(),
        Some("/t/acme/settings?forecast=1#welcome-forecast")
    );
    let counted = browser.get("/t/acme/settings?forecast=1").await;
    assert_eq!(
        forecast(&counted.body[counted.body.find("welcome-forecast\" class").unwrap()..]),
        expected
    );

    let mut settings = app.settings(&server.tenant).await.unwrap().value;
    settings.welcome_email = true;
    settings.sign_in_url = Some("https://crm.acme.example".into());
    app.save_settings(&server.tenant, scimgate_app::Expect::Any, &settings)
        .await
        .unwrap();
    let on = browser
        .get_htmx("/t/acme/settings/welcome-forecast", false)
        .await;
    assert!(on.body.contains("account(s) would get one"), "{}", on.body);
    assert_eq!(forecast(&on.body), expected);
    app.sync_company(&server.tenant).await.unwrap();
    let queued = app.outbox(&server.tenant, None, 100).await.unwrap();
    let welcomes = queued.iter().filter(|m| m.event == "welcome").count();
    assert_eq!(
        welcomes as u64, expected,
        "the forecast is what the run queued"
    );
    let after = browser
        .get_htmx("/t/acme/settings/welcome-forecast", false)
        .await;
    assert_eq!(forecast(&after.body), 0, "{}", after.body);
}

/// The Rules page: edits go to a draft (sync keeps the published rules), a broken draft is
/// refused at its rule, publishing needs a comment and makes a version, an old version is
/// restored as the draft; Viewers read only, a stale form is a conflict.
async fn rules_are_drafted_published_and_restored(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Administrator).await else {
        return;
    };
    let app = app_of(&server);
    stage(&server, &app, 2).await;
    let first = app.rule_set(&server.tenant).await.unwrap();
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let page = browser.get("/t/acme/rules").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(&format!(
            "Showing the published rules, version {}",
            first.version
        )) && page.body.contains("<strong>Nordic sales</strong>"),
        "{}",
        page.body
    );
    let csrf = browser.csrf("/t/acme/rules").await;

    // A page read before someone published: its edit would begin a draft from an older
    // version, which publishing would then undo. Refused.
    let older = (first.version - 1).to_string();
    let stale = browser
        .post(
            "/t/acme/rules/active",
            &[
                ("csrf", &csrf),
                ("version", "0"),
                ("published", &older),
                ("rule", "Nordic sales"),
                ("active", "false"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(app
        .rule_draft(&server.tenant)
        .await
        .unwrap()
        .value
        .is_none());

    // Switch a rule off: a draft, the published set untouched.
    let off = browser
        .post(
            "/t/acme/rules/active",
            &[
                ("csrf", &csrf),
                ("version", "0"),
                ("rule", "Nordic sales"),
                ("active", "false"),
            ],
        )
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    let page = browser.get("/t/acme/rules?done=saved").await;
    assert!(
        page.body.contains("Draft — 1 change(s)") && page.body.contains("Changed: Nordic sales"),
        "{}",
        page.body
    );
    assert_eq!(
        app.rule_set(&server.tenant).await.unwrap().version,
        first.version
    );
    let draft = app.rule_draft(&server.tenant).await.unwrap();
    assert!(!draft.value.as_ref().unwrap().rules.rules[2].active);
    let version = form_version(&page.body, "/t/acme/rules/move");
    assert_eq!(version, draft.version.to_string());

    // Move the last rule up; a stale version is a conflict that changes nothing.
    let stale = browser
        .post(
            "/t/acme/rules/move",
            &[
                ("csrf", &csrf),
                ("version", "0"),
                ("rule", "Everyone else"),
                ("direction", "up"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    let moved = browser
        .post(
            "/t/acme/rules/move",
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("rule", "Everyone else"),
                ("direction", "up"),
            ],
        )
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    let names: Vec<String> = (app.rule_draft(&server.tenant).await.unwrap().value.unwrap())
        .rules
        .rules
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(
        names,
        ["Sales", "Sales managers", "Everyone else", "Nordic sales"]
    );

    // YAML with a plan the catalogue lacks: refused at its rule, the draft unchanged.
    let page = browser.get("/t/acme/rules").await;
    let version = form_version(&page.body, "/t/acme/rules/yaml");
    let broken =
        include_str!("../../rules/sales-plan.yaml").replace("\"Sales Premium\"", "\"Platinum\"");
    let refused = browser
        .post(
            "/t/acme/rules/yaml",
            &[("csrf", &csrf), ("version", &version), ("yaml", &broken)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("Platinum")
            && refused.body.contains("Sales")
            && refused.body[refused.body.find("<textarea").unwrap()..].contains("Platinum"),
        "{}",
        refused.body
    );
    assert_eq!(
        app.rule_draft(&server.tenant)
            .await
            .unwrap()
            .version
            .to_string(),
        version
    );

    // The impact of the draft, for htmx; the export of the draft.
    let impact = browser.get_htmx("/t/acme/rules/impact", false).await;
    assert!(
        impact
            .body
            .contains("Published</th><th scope=\"col\">Draft"),
        "{}",
        impact.body
    );
    let export = browser.get("/t/acme/rules/export?of=draft").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.body.contains("active: false"), "{}", export.body);

    // Publish: a comment is required; then a new version, no draft.
    let empty = browser
        .post(
            "/t/acme/rules/publish",
            &[("csrf", &csrf), ("version", &version), ("comment", " ")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);
    let published = browser
        .post(
            "/t/acme/rules/publish",
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("comment", "Nordics off for now"),
            ],
        )
        .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    let now = app.rule_set(&server.tenant).await.unwrap();
    assert!(now.version > first.version);
    assert!(
        !now.value
            .rules
            .iter()
            .find(|r| r.name == "Nordic sales")
            .unwrap()
            .active
    );
    assert!(app
        .rule_draft(&server.tenant)
        .await
        .unwrap()
        .value
        .is_none());
    let page = browser
        .get(&format!("/t/acme/rules?compare={}", first.version))
        .await;
    assert!(
        page.body.contains("Nordics off for now")
            && page.body.contains("Changed: Nordic sales")
            && page.body.contains("Moved: Nordic sales"),
        "{}",
        page.body
    );

    // Restore the first version as the draft and publish it: as it was.
    let restored = browser
        .post(
            &format!("/t/acme/rules/versions/{}/restore", first.version),
            &[("csrf", &csrf), ("version", "0")],
        )
        .await;
    assert_eq!(restored.status, StatusCode::SEE_OTHER, "{}", restored.body);
    let page = browser.get("/t/acme/rules").await;
    let version = form_version(&page.body, "/t/acme/rules/publish");
    let back = browser
        .post(
            "/t/acme/rules/publish",
            &[("csrf", &csrf), ("version", &version), ("comment", "back")],
        )
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(
        app.rule_set(&server.tenant).await.unwrap().value.source,
        first.value.source
    );
    assert_eq!(app.rule_versions(&server.tenant).await.unwrap().len(), 3);

    // The Logs page lists each step, by this account, from this address.
    let logs = browser.get("/t/acme/logs?area=rules").await;
    assert_eq!(logs.status, StatusCode::OK);
    let rows: Vec<&str> = logs.body.split("<tr>").skip(2).collect();
    let action_of = |row: &str| {
        [
            "rules.publish",
            "rules.restore",
            "rules.draft",
            "rules.discard",
        ]
        .into_iter()
        .find(|a| row.contains(&format!(">{a}<")))
        .unwrap_or("?")
        .to_owned()
    };
    let actions: Vec<String> = rows.iter().map(|r| action_of(r)).collect();
    assert_eq!(
        actions[..2],
        ["rules.publish", "rules.restore"],
        "{}",
        logs.body
    );
    assert!(
        rows[0].contains("<td>ops</td>")
            && rows[0].contains(">127.0.0.1<")
            && rows[0].contains("version ")
            && rows[0].contains(": back"),
        "{}",
        rows[0]
    );
    assert!(logs.body.contains("Nordics off for now"));
    let signs = browser.get("/t/acme/logs?area=sign_in").await;
    assert!(
        signs.body.contains(">sign_in.ok<") && signs.body.contains("account ops"),
        "{}",
        signs.body
    );
    let export = browser.get("/t/acme/logs/export?area=rules").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(
        export.body.starts_with("\"id\",\"at\",\"who\""),
        "{}",
        export.body
    );
    assert!(export.body.contains("\"rules.publish\""));
    let bad = browser.get("/t/acme/logs?since=yesterday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("not a date"));
}

async fn a_viewer_reads_rules_but_cannot_change_them(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Viewer).await else {
        return;
    };
    let app = app_of(&server);
    stage(&server, &app, 2).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let page = browser.get("/t/acme/rules").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Nordic sales") && !page.body.contains("Save draft"));
    let csrf = browser.csrf("/t/acme/overview").await;
    let refused = browser
        .post(
            "/t/acme/rules/active",
            &[
                ("csrf", &csrf),
                ("version", "0"),
                ("rule", "Sales"),
                ("active", "false"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(app
        .rule_draft(&server.tenant)
        .await
        .unwrap()
        .value
        .is_none());
    // A viewer reads the audit log too; the refused change is not in it.
    let logs = browser.get("/t/acme/logs").await;
    assert_eq!(logs.status, StatusCode::OK);
    assert!(logs.body.contains(">sign_in.ok<") && !logs.body.contains(">rules.draft<"));
    // The editor shows a viewer the rule, without the buttons, and refuses a post.
    let editor = browser.get("/t/acme/rules/edit?rule=Sales").await;
    assert_eq!(editor.status, StatusCode::OK);
    assert!(!editor.body.contains("Save to draft"));
    let refused = browser
        .post(
            "/t/acme/rules/delete",
            &[("csrf", &csrf), ("version", "0"), ("rule", "Sales")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let runs = browser.get("/t/acme/runs").await;
    assert!(runs.status == StatusCode::OK && !runs.body.contains("Sync company"));
    let start = browser.post("/t/acme/runs/start", &[("csrf", &csrf)]).await;
    assert_eq!(start.status, StatusCode::FORBIDDEN);
}

/// Sign-in through an identity provider, without the provider (the whole flow runs in
/// tests/browser against a real one): the button only when configured, a provider that
/// cannot be reached is a 502 that says so, and a callback this browser did not start or
/// that the provider refused signs nobody in.
async fn identity_provider_sign_in_refusals(backend: DbBackend) {
    let Some(plain) = setup(backend, AdminRole::Administrator).await else {
        return;
    };
    let mut browser = Browser::new(&plain);
    assert!(!browser.get("/sign-in").await.body.contains("Sign in with"));
    assert_eq!(
        browser.get("/sign-in/oidc").await.status,
        StatusCode::NOT_FOUND
    );

    // Configured, with the provider's port closed.
    let closed = scimgate_testkit::smtp::free_port();
    let Some(server) = TestServer::start_with(backend, |config| {
        config.oidc = Some(OidcConfig {
            issuer: format!("http://127.0.0.1:{closed}"),
            client_id: "scimgate".into(),
            client_secret: "s3cret-of-the-client".into(),
            name_claim: NameClaim::Email,
            label: "Contoso Entra ID".into(),
        });
    })
    .await
    else {
        return;
    };
    let mut browser = Browser::new(&server);
    let form = browser.get("/sign-in").await;
    assert!(
        form.body.contains("Sign in with Contoso Entra ID"),
        "{}",
        form.body
    );
    let start = browser.get("/sign-in/oidc").await;
    assert_eq!(start.status, StatusCode::BAD_GATEWAY);
    assert!(
        start.body.contains("could not be reached"),
        "{}",
        start.body
    );
    assert!(!start.body.contains("s3cret"), "no secret on the page");
    let forged = browser
        .get("/sign-in/oidc/callback?code=stolen&state=made-up")
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{}", forged.body);
    assert!(forged.body.contains("Start again"), "{}", forged.body);
    let denied = browser
        .get("/sign-in/oidc/callback?error=access_denied&error_description=user+cancelled")
        .await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert!(
        denied.body.contains("access_denied: user cancelled"),
        "{}",
        denied.body
    );
    assert!(browser.cookie.is_none(), "nobody is signed in");
    assert_eq!(browser.get("/").await.location.as_deref(), Some("/sign-in"));
}

/// A failure on the server is a page that names the request's id, which the log lines
/// carry too (here the database goes away under a signed-in admin).
async fn a_server_error_page_names_the_request_id(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Administrator).await else {
        return;
    };
    let mut browser = Browser::new(&server);
    assert_eq!(
        browser.sign_in("ops", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    server.store.close().await;
    let page = browser.get("/t/acme/overview").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    let id = page.request_id.expect("an X-Request-Id");
    assert!(
        page.body.contains(&format!("request id {id}")),
        "{}",
        page.body
    );
    assert!(
        page.csp.is_some(),
        "the error page has the security headers too"
    );
}

/// `ui: false` leaves SCIM and the admin API, and no page.
async fn the_ui_can_be_turned_off(backend: DbBackend) {
    let Some(server) = TestServer::start_with(backend, |config| config.ui = false).await else {
        return;
    };
    let mut browser = Browser::new(&server);
    for path in ["/", "/sign-in", "/t/acme/overview", "/first-run"] {
        assert_eq!(
            browser.get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let users = server
        .client
        .get(server.url("/scim/v2/acme/Users"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), StatusCode::OK);
}

async fn the_preview_page_filters_sorts_pages_and_exports(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Viewer).await else {
        return;
    };
    let app = app_of(&server);
    stage(&server, &app, 60).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let first = browser.get("/t/acme/preview").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    // The counts strip and SuperOffice's columns, in its order.
    assert!(
        first.body.contains("<strong>60</strong> Received"),
        "{}",
        first.body
    );
    assert!(
        first.body.contains("<strong>60</strong> Create"),
        "{}",
        first.body
    );
    let headers: Vec<usize> = [
        ">Name",
        ">Username",
        ">User plan",
        ">Owner company",
        ">Primary group",
        ">Secondary group",
        ">Role",
        ">Confidential",
    ]
    .iter()
    .map(|h| first.body.find(h).unwrap_or_else(|| panic!("{h}")))
    .collect();
    assert!(headers.windows(2).all(|w| w[0] < w[1]), "column order");
    assert!(first.body.contains("1–50 of 60"), "{}", first.body);
    assert!(first.body.contains("aria-sort=\"ascending\""));
    // Filter by role with two operators: is one of, and is not equal to.
    let sales = browser
        .get("/t/acme/preview?op_role=one_of&v_role=sales+user|nobody&op_username=not_equals&v_username=user000@acme.example")
        .await;
    assert!(sales.body.contains("1–1 of 1"), "{}", sales.body);
    assert!(
        sales.body.contains("user001@acme.example")
            && !sales.body.contains(">user002@acme.example")
    );
    // Sort by username descending; the second page continues where the first ended.
    let desc = browser.get("/t/acme/preview?sort=-username&size=25").await;
    assert!(desc.body.contains("aria-sort=\"descending\""));
    let rows = |body: &str| -> Vec<String> {
        body.match_indices("data-user=\"")
            .map(|(at, _)| {
                let rest = &body[at + 11..];
                rest[..rest.find('"').unwrap()].to_owned()
            })
            .collect()
    };
    assert_eq!(rows(&desc.body).len(), 25);
    assert!(
        desc.body.find("user059@acme.example").unwrap()
            < desc.body.find("user058@acme.example").unwrap()
    );
    let next = desc.body.split("rel=\"next\"").next().unwrap();
    let href = next[next.rfind("href=\"").unwrap() + 6..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    let second = browser.get(&href).await;
    assert!(second.body.contains("26–50 of 60"), "{}", second.body);
    assert!(
        second.body.contains("user034@acme.example")
            && !second.body.contains(">user035@acme.example<")
    );
    let first_ids = rows(&desc.body);
    assert!(
        rows(&second.body).iter().all(|id| !first_ids.contains(id)),
        "pages do not overlap"
    );
    // Back to the first page.
    let prev = second.body.split("rel=\"prev\"").next().unwrap();
    let href = prev[prev.rfind("href=\"").unwrap() + 6..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    let back = browser.get(&href).await;
    assert_eq!(rows(&back.body), first_ids);
    // A filter the language refuses is said, and the page still shows.
    let bad = browser.get("/t/acme/preview?op_role=equals").await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.body.contains("needs a value"), "{}", bad.body);
    // Export: the whole filtered set, formula-safe CSV.
    let csv = browser
        .get("/t/acme/preview/export?op_role=equals&v_role=User")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 59, "header + 58 users: {}", csv.body);
    assert!(lines[0].starts_with("\"name\",\"username\",\"user_plan\""));
    // Columns: hidden, added and moved; the state is in the URL.
    let moved = browser
        .get("/t/acme/preview?col=username&col=role&col=action&move=up:role")
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER);
    let moved_to = moved.location.unwrap();
    assert!(
        moved_to.contains("col=role&col=username&col=action"),
        "{moved_to}"
    );
    let narrow = browser.get(&moved_to).await;
    let at = |header: &str| {
        narrow
            .body
            .find(&format!("class=\"sort\">{header}"))
            .unwrap_or_else(|| panic!("{header} column: {}", narrow.body))
    };
    assert!(at("Role") < at("Username"), "role moved before username");
    assert!(!narrow.body.contains("class=\"sort\">Owner company"));
    // Set by rule: the Sales members' values all come from the rule "Sales" (the
    // if_not_set rule after it finds them set), everyone else's from "Everyone else".
    let set_by = browser
        .get("/t/acme/preview?col=username&col=set_by&op_set_by=equals&v_set_by=sales")
        .await;
    assert!(
        set_by.body.contains("class=\"sort\">Set by rule"),
        "{}",
        set_by.body
    );
    assert!(set_by.body.contains("1–2 of 2"), "{}", set_by.body);
    assert!(set_by.body.contains("user001@acme.example"));
    let others = browser
        .get("/t/acme/preview?col=set_by&op_set_by=equals&v_set_by=Everyone+else")
        .await;
    assert!(others.body.contains("1–50 of 58"), "{}", others.body);
    // A filter on a column not shown (the counts strip's action) is kept by both forms.
    let by_action = browser
        .get("/t/acme/preview?op_action=equals&v_action=create&op_role=equals&v_role=User")
        .await;
    assert_eq!(
        by_action
            .body
            .matches("name=\"op_action\" value=\"equals\"")
            .count(),
        2,
        "the filter form and the Columns form carry it: {}",
        by_action.body
    );
    assert!(by_action.body.contains("name=\"v_role\" value=\"User\""));
    // A Viewer reads and exports; Recompute (it rewrites every row) and the Sync company
    // dialog are an Operator's.
    let viewer_page = browser.get("/t/acme/preview").await;
    assert!(!viewer_page.body.contains(">Recompute<"));
    let csrf = browser.csrf("/t/acme/users").await;
    let refused = browser
        .post("/t/acme/preview/recompute", &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get("/t/acme/runs/confirm").await.status,
        StatusCode::FORBIDDEN
    );
    for page in ["preview/export", "approvals", "licences", "runs/confirm"] {
        let other = browser.get(&format!("/t/globex/{page}")).await;
        assert_eq!(other.status, StatusCode::NOT_FOUND, "globex {page}");
    }
    // An Operator recomputes; back to where it was.
    let app = app_of(&server);
    app.create_admin_account(
        "op",
        PASSWORD,
        AdminRole::Operator,
        std::slice::from_ref(&server.tenant.name),
    )
    .await
    .unwrap();
    let mut browser = Browser::new(&server);
    browser.sign_in("op", PASSWORD).await;
    let csrf = browser.csrf("/t/acme/preview").await;
    let done = browser
        .post(
            "/t/acme/preview/recompute",
            &[
                ("csrf", &csrf),
                ("rules", "published"),
                ("back", "/t/acme/preview?sort=role"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location.as_deref(), Some("/t/acme/preview?sort=role"));
    for back in ["https://evil.example/", "/t/acme/preview?a\nb"] {
        let elsewhere = browser
            .post(
                "/t/acme/preview/recompute",
                &[("csrf", &csrf), ("back", back)],
            )
            .await;
        assert_eq!(
            elsewhere.location.as_deref(),
            Some("/t/acme/preview"),
            "{back}"
        );
    }
    // Another tenant's preview is not found.
    assert_eq!(
        browser.get("/t/globex/preview").await.status,
        StatusCode::NOT_FOUND
    );
}

/// PATCHes `active` of staged users over SCIM (Entra's disable).
async fn set_active(server: &TestServer, ids: &[String], active: bool) {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for id in ids {
        let answer = http
            .patch(server.url(&format!("/scim/v2/acme/Users/{id}")))
            .bearer_auth(&server.token)
            .json(&serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "active", "value": active}]
            }))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
    }
}

async fn the_sync_dialog_licences_and_approvals(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Operator).await else {
        return;
    };
    let app = app_of(&server);
    let tenant = server.tenant.clone();
    let ids = stage(&server, &app, 12).await;
    // Standard cut to 5 seats: of the 10 Standard users, 5 are held.
    let catalog = include_str!("../../rules/catalog.yaml").replace(
        "{ name: \"Standard\", seats: 500 }",
        "{ name: \"Standard\", seats: 5 }",
    );
    let catalog = scimgate_core::Catalog::from_yaml(&catalog).unwrap();
    app.replace_catalog(&tenant, scimgate_app::Expect::Any, catalog)
        .await
        .unwrap();
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;

    let licences = browser.get("/t/acme/licences").await;
    assert_eq!(licences.status, StatusCode::OK, "{}", licences.body);
    let standard = licences.body.split("<td>Standard</td>").nth(1).unwrap();
    let cells: Vec<&str> = standard
        .split("</tr>")
        .next()
        .unwrap()
        .split("<td>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap())
        .collect();
    assert_eq!(
        cells,
        ["5", "0", "5", "", "5"],
        "purchased, in use, after, left, held: {standard}"
    );
    assert!(licences.body.contains("5 more needed"), "{}", licences.body);
    assert!(licences
        .body
        .contains("<strong>5 user(s)</strong> will be held"));

    // The dialog says what the run would do; Cancel has the focus.
    let dialog = browser.get("/t/acme/runs/confirm").await;
    assert_eq!(dialog.status, StatusCode::OK, "{}", dialog.body);
    for said in [
        "<strong>7</strong> Create",
        "<strong>5</strong> Errors",
        "Welcome e-mails off",
        "5 user(s) will be held: user plan &#34;Standard&#34; has no free seat (5 purchased, all in use)",
        "autofocus id=\"confirm-cancel\"",
        "Sync 7 user(s) now",
    ] {
        assert!(dialog.body.contains(said), "{said}: {}", dialog.body);
    }
    let csrf = browser.csrf("/t/acme/runs/confirm").await;
    let started = browser.post("/t/acme/runs/start", &[("csrf", &csrf)]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.accounts(&tenant, None, None).await.unwrap().len() < 7 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never created the accounts"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let after = browser.get("/t/acme/licences").await;
    assert!(
        after.body.contains("<td>Standard</td><td>5</td><td>5</td>"),
        "{}",
        after.body
    );

    // The guard holds a run that deprovisions 3 of 7: it waits on the Approvals page.
    let mut settings = app.settings(&tenant).await.unwrap();
    settings.value.guard_percent = 10;
    settings.value.guard_minimum = 1;
    app.save_settings(
        &tenant,
        scimgate_app::Expect::Version(settings.version),
        &settings.value,
    )
    .await
    .unwrap();
    let synced: Vec<String> = app
        .accounts(&tenant, None, None)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|a| a.staged_user_id)
        .collect();
    set_active(&server, &synced[..3], false).await;
    let held = app.sync_company(&tenant).await.unwrap();
    assert_eq!(held.status.name(), "held");
    let approvals = browser.get("/t/acme/approvals").await;
    assert_eq!(approvals.status, StatusCode::OK);
    assert!(
        approvals
            .body
            .contains(&format!("Run {} · 3 deprovision(s) held", held.run_id)),
        "{}",
        approvals.body
    );
    assert_eq!(
        approvals
            .body
            .matches("Why<span class=\"skip\"> for")
            .count(),
        3
    );
    let one = app.accounts(&tenant, None, None).await.unwrap();
    let first = one
        .iter()
        .find(|a| a.staged_user_id.as_deref() == Some(synced[0].as_str()))
        .unwrap();
    let narrowed = browser
        .get(&format!("/t/acme/approvals?q={}", first.fields.username))
        .await;
    assert_eq!(
        narrowed
            .body
            .matches("Why<span class=\"skip\"> for")
            .count(),
        1,
        "{}",
        narrowed.body
    );
    let csv = browser
        .get(&format!("/t/acme/runs/{}/export?outcome=held", held.run_id))
        .await;
    assert_eq!(csv.body.lines().count(), 4, "{}", csv.body);
    // Approving needs the typed word; then back to the Approvals page.
    let run = format!("/t/acme/runs/{}", held.run_id);
    let untyped = browser
        .post(
            &format!("{run}/approve"),
            &[("csrf", &csrf), ("confirm", "ok"), ("back", "approvals")],
        )
        .await;
    assert_eq!(untyped.status, StatusCode::BAD_REQUEST);
    let approved = browser
        .post(
            &format!("{run}/approve"),
            &[
                ("csrf", &csrf),
                ("confirm", "approve"),
                ("back", "approvals"),
            ],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    assert_eq!(
        approved.location.as_deref(),
        Some("/t/acme/approvals?done=approved")
    );
    let active = app.accounts(&tenant, None, None).await.unwrap();
    assert_eq!(
        active.iter().filter(|a| a.fields.active).count(),
        4,
        "three deprovisioned"
    );

    // Another held run, rejected.
    set_active(&server, &synced[3..6], false).await;
    let held = app.sync_company(&tenant).await.unwrap();
    assert_eq!(held.status.name(), "held");
    let rejected = browser
        .post(
            &format!("/t/acme/runs/{}/reject", held.run_id),
            &[("csrf", &csrf), ("back", "approvals")],
        )
        .await;
    assert_eq!(
        rejected.location.as_deref(),
        Some("/t/acme/approvals?done=rejected")
    );
    let empty = browser.get("/t/acme/approvals?done=rejected").await;
    assert!(empty.body.contains("No run is waiting for an approval."));
    assert!(empty
        .body
        .contains("Rejected: the held deprovisions were discarded."));
    // Rejected: the three keep their accounts (the run created others the freed seats allow).
    let accounts = app.accounts(&tenant, None, None).await.unwrap();
    for id in &synced[3..6] {
        let account = accounts
            .iter()
            .find(|a| a.staged_user_id.as_deref() == Some(id.as_str()))
            .unwrap();
        assert!(account.fields.active, "nothing more deprovisioned");
    }
    let _ = ids;
}

/// Settings → CRM target: a refused form changes nothing, a stale one is a conflict, the
/// token is never shown back, Test connection against a second scimgate, the queue and
/// the dead pushes (retried), what a push sends, a webhook's secret shown once, and the
/// Overview's queue figures.
async fn the_crm_target_is_set_tested_and_retried_from_settings(backend: DbBackend) {
    let Some(server) = setup(backend, AdminRole::Administrator).await else {
        return;
    };
    let Some(crm) = TestServer::start(backend).await else {
        return;
    };
    let mut browser = Browser::new(&server);
    browser.sign_in("ops", PASSWORD).await;
    let overview = browser.get("/t/acme/overview").await;
    assert!(
        overview.body.contains("Set a CRM target"),
        "{}",
        overview.body
    );
    const PAGE: &str = "/t/acme/settings/crm-target";
    let page = browser.get(PAGE).await;
    assert!(page.body.contains("No CRM target"), "{}", page.body);
    let csrf = browser.csrf(PAGE).await;
    let version = form_version(&page.body, PAGE);
    let url = crm.scim("");
    let form = |version: &'static str, token: &'static str| {
        let (csrf, url) = (csrf.as_str(), url.as_str());
        [
            ("csrf", csrf),
            ("version", version),
            ("kind", "scim"),
            ("url", url),
            ("token", token),
        ]
    };
    let version: &'static str = Box::leak(version.into_boxed_str());
    let empty = browser.post(PAGE, &form(version, "")).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(
        empty.body.contains("give the bearer token"),
        "{}",
        empty.body
    );
    let stale = (browser.post(PAGE, &form("7", "x")).await).status;
    assert_eq!(stale, StatusCode::CONFLICT);
    assert!((server.store.crm_target(&server.tenant).await.unwrap()).is_none());

    let token: &'static str = Box::leak(crm.token.clone().into_boxed_str());
    let saved = browser.post(PAGE, &form(version, token)).await;
    assert_eq!(
        saved.location.as_deref(),
        Some("/t/acme/settings/crm-target?done=saved"),
        "{}",
        saved.body
    );
    let page = browser.get(PAGE).await;
    assert!(
        page.body.contains(&url) && !page.body.contains(token),
        "{}",
        page.body
    );

    let tested = browser
        .post(&format!("{PAGE}/test"), &[("csrf", &csrf)])
        .await;
    assert_eq!(tested.status, StatusCode::OK);
    assert!(tested.body.contains("Test passed"), "{}", tested.body);
    assert!(
        tested.body.contains("updates with PATCH"),
        "{}",
        tested.body
    );

    // An account the sync made is queued, shown as a push would send it.
    let fields = scimgate_core::AccountFields {
        username: "ann@acme.example".into(),
        display_name: Some("Ann".into()),
        email: None,
        user_plan: Some("Sales Premium".into()),
        owner_company: None,
        primary_group: None,
        secondary_groups: vec![],
        role: None,
        confidential: false,
        active: true,
    };
    let create = scimgate_core::Change::Create {
        staged_user_id: "s-ann".into(),
        external_id: Some("ext-ann".into()),
        fields,
    };
    let now = SystemClock.now().to_rfc3339();
    (server
        .store
        .apply_account_changes(&server.tenant, &[create], &now)
        .await)
        .unwrap();
    let page = browser.get(PAGE).await;
    assert!(
        page.body.contains("<strong>1</strong> pending"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("&#34;userName&#34;: &#34;ann@acme.example&#34;"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Sales Premium"),
        "the user plan in scimgate's extension"
    );

    // Not pushed yet (no worker here): drift says ann is missing on the CRM; Fix queues
    // her push again.
    let drift = browser
        .post(&format!("{PAGE}/drift"), &[("csrf", &csrf)])
        .await;
    assert_eq!(drift.status, StatusCode::OK, "{}", drift.body);
    assert!(
        drift.body.contains("<strong>1</strong> out of step"),
        "{}",
        drift.body
    );
    assert!(
        drift.body.contains("Missing on the target"),
        "{}",
        drift.body
    );
    let pk = form_field(&drift.body, "account");
    let fix = [("csrf", csrf.as_str()), ("account", pk.as_str())];
    let fixed = browser.post(&format!("{PAGE}/drift/fix"), &fix).await;
    assert_eq!(
        fixed.location.as_deref(),
        Some("/t/acme/settings/crm-target?done=fixed")
    );
    assert_eq!(
        server
            .store
            .push_counts(&server.tenant)
            .await
            .unwrap()
            .pending,
        2
    );

    // A push refused for good is listed, and retried.
    let claimed = (server.store.claim_pushes("t", i64::MAX / 2, 1, 1).await).unwrap();
    let refused = scimgate_store::crm_push::PushAttempt::Failed {
        error: "the target answered 400: bad userName",
        retry_at_ms: None,
    };
    assert!((server.store.settle_push(claimed[0].id, "t", refused).await).unwrap());
    let overview = browser.get("/t/acme/overview").await;
    assert!(overview.body.contains("1 dead"), "{}", overview.body);
    let page = browser.get(PAGE).await;
    assert!(
        page.body.contains("the target answered 400: bad userName"),
        "{}",
        page.body
    );
    let retried = browser
        .post(&format!("{PAGE}/retry"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        retried.location.as_deref(),
        Some("/t/acme/settings/crm-target?done=retried")
    );
    assert_eq!(
        server.store.push_counts(&server.tenant).await.unwrap().dead,
        0
    );

    // A webhook's signing secret is on the page that saved it, and nowhere after.
    let page = browser.get(PAGE).await;
    let version = form_version(&page.body, PAGE);
    let hook = [
        ("csrf", csrf.as_str()),
        ("version", &version),
        ("kind", "webhook"),
        ("url", "http://127.0.0.1:9/hook"),
    ];
    let saved = browser.post(PAGE, &hook).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let marker = "aria-label=\"Signing secret\" value=\"";
    let at = saved.body.find(marker).expect("the secret") + marker.len();
    let secret = &saved.body[at..at + 64];
    assert!(secret.chars().all(|c| c.is_ascii_hexdigit()), "{secret}");
    assert!(!browser.get(PAGE).await.body.contains(secret));

    let page = browser.get(PAGE).await;
    let clear = format!("{PAGE}/clear");
    let version = form_version(&page.body, &clear);
    let cleared = browser
        .post(&clear, &[("csrf", &csrf), ("version", &version)])
        .await;
    assert_eq!(
        cleared.location.as_deref(),
        Some("/t/acme/settings/crm-target?done=cleared")
    );
    assert!((server.store.crm_target(&server.tenant).await.unwrap()).is_none());
}

on_both_backends!(
    the_crm_target_is_set_tested_and_retried_from_settings,
    a_server_error_page_names_the_request_id,
    the_sync_dialog_licences_and_approvals,
    the_preview_page_filters_sorts_pages_and_exports,
    the_ui_can_be_turned_off,
    identity_provider_sign_in_refusals,
    users_are_searched_and_paged_in_the_holding_area,
    an_operator_syncs_one_user,
    htmx_fragments_and_the_welcome_forecast,
    rules_are_drafted_published_and_restored,
    a_viewer_reads_rules_but_cannot_change_them,
    the_rule_editor_refuses_what_cannot_be_saved,
    an_operator_syncs_the_company_and_follows_the_run,
    settings_are_saved_with_their_version,
    subscriptions_tests_and_restart_from_settings,
    a_viewer_reads_settings_but_cannot_change_them,
    the_first_run_link_works_once,
    serve_prints_the_first_run_link,
    signing_in_and_out,
    repeated_failures_lock_the_account,
    another_tenants_pages_are_not_found,
    a_token_is_shown_once_works_and_is_revoked,
    forms_refuse_viewers_forgeries_and_other_sites,
);

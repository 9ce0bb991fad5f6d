//! Test support shared by the store tests and the end-to-end tests.
//!
//! Every test gets its own database: a new SQLite file in a temporary directory, or a new
//! PostgreSQL database (dropped afterwards) on the server named by
//! `SCIMGATE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Without a reachable PostgreSQL the PostgreSQL variants are skipped with a note, unless
//! `SCIMGATE_TEST_REQUIRE_POSTGRES=1` (set by `.ci/run`), which makes them fail instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scimgate_core::{Clock, SystemClock, TenantName};
use scimgate_server::config::ServeConfig;
use scimgate_store::{Backend, Store, Tenant, TokenKind};
use serde_json::Value;
use sqlx::Connection;
use std::sync::Arc;

pub use scimgate_store::Backend as DbBackend;

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

fn postgres_admin_url() -> String {
    std::env::var("SCIMGATE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned())
}

fn postgres_required() -> bool {
    std::env::var("SCIMGATE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

impl TestDb {
    /// A fresh, empty database; `None` only for PostgreSQL when none is reachable and
    /// PostgreSQL tests are not required.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = dir.path().join("test.db").display().to_string();
                Some(TestDb {
                    url,
                    backend,
                    _dir: Some(dir),
                    pg_admin: None,
                })
            }
            Backend::Postgres => {
                sqlx::any::install_default_drivers();
                let admin = postgres_admin_url();
                let mut conn = match sqlx::AnyConnection::connect(&admin).await {
                    Ok(c) => c,
                    Err(e) if !postgres_required() => {
                        eprintln!("note: PostgreSQL test skipped, {admin} unreachable: {e}");
                        return None;
                    }
                    Err(e) => panic!(
                        "PostgreSQL is required for this run but {admin} is unreachable: {e}"
                    ),
                };
                let name = format!("sg_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                let url = format!("{base}/{name}");
                Some(TestDb {
                    url,
                    backend,
                    _dir: None,
                    pg_admin: Some((admin, name)),
                })
            }
        }
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg_admin.take() else {
            return;
        };
        // Drop runs inside the test's runtime; use a thread with its own to clean up.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::DbBackend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::DbBackend::Postgres).await
                }
            }
        )*
    };
}

/// The real HTTP server on 127.0.0.1:0 over a fresh database, with one tenant.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub store: Store,
    pub tenant: Tenant,
    pub token: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    /// The server key sealing CRM targets' secrets (this server's own).
    pub key_file: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Starts the server, or returns `None` when the backend is unavailable (see module docs).
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with(backend, |_| {}).await
    }

    /// Like [`TestServer::start`], with the serve configuration changed first.
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut ServeConfig),
    ) -> Option<TestServer> {
        let db = TestDb::new(backend).await?;
        let store = db.store().await;
        let tenant = store
            .create_tenant(&TenantName::parse("acme").unwrap(), SystemClock.now())
            .await
            .unwrap();
        let token = store
            .create_token_of(TokenKind::Scim, &tenant, "test", SystemClock.now())
            .await
            .unwrap()
            .secret;
        let config = ServeConfig {
            database_url: db.url.clone(),
            listen: "127.0.0.1:0".into(),
            public_url: None,
            max_body_bytes: 1024 * 1024,
            sync_tick_ms: 1_000,
            smtp: None,
            // The tests' webhook receivers listen on 127.0.0.1.
            webhook_targets: scimgate_notify::target::TargetPolicy::ALLOW_PRIVATE,
            // Set below, one per server (made when a test sets a CRM target).
            server_key_file: std::path::PathBuf::new(),
            ui: true,
            oidc: None,
        };
        // Bound first, so that `configure` can read the address from `listen` (an OIDC
        // provider needs the callback URL before the server starts).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let key_file = std::env::temp_dir().join(format!(
            "scimgate-test-{}-{}.key",
            std::process::id(),
            addr.port()
        ));
        let mut config = ServeConfig {
            listen: addr.to_string(),
            server_key_file: key_file.clone(),
            ..config
        };
        configure(&mut config);
        let app =
            scimgate_server::build_app(store.clone(), Arc::new(SystemClock), &config).unwrap();
        let task = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, app).await.unwrap();
        });
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        Some(TestServer {
            addr,
            store,
            tenant,
            token,
            client,
            db,
            key_file,
            task,
        })
    }

    /// Adds another tenant with a token: `(tenant, token)`.
    pub async fn add_tenant(&self, name: &str) -> (Tenant, String) {
        let tenant = self
            .store
            .create_tenant(&TenantName::parse(name).unwrap(), SystemClock.now())
            .await
            .unwrap();
        let token = self
            .store
            .create_token_of(TokenKind::Scim, &tenant, "test", SystemClock.now())
            .await
            .unwrap()
            .secret;
        (tenant, token)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `http://addr/scim/v2/acme` + path.
    pub fn scim(&self, path: &str) -> String {
        self.url(&format!("/scim/v2/{}{}", self.tenant.name, path))
    }

    /// A request to the tenant's SCIM API with its token and the SCIM content type.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.scim(path))
            .bearer_auth(&self.token)
            .header("content-type", "application/scim+json")
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.req(method, path);
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        read(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.key_file);
    }
}

/// Status and JSON body (`Value::Null` for an empty body). Asserts the SCIM content type
/// on every response that has a body.
pub async fn read(resp: reqwest::Response) -> (u16, Value) {
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
        Some("application/scim+json"),
        "status {status}, body {text}"
    );
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

/// The user Microsoft Entra ID creates (its documented POST body: core + enterprise
/// extension), with the given `userName` and `externalId`.
pub fn entra_user(user_name: &str, external_id: &str) -> Value {
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", enterprise],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "addresses": [{"primary": true, "type": "work", "country": "NO", "locality": "Oslo",
                       "postalCode": "0150", "streetAddress": "Sentrum 1"}],
        "displayName": "Test User",
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "phoneNumbers": [{"type": "mobile", "value": "+47 900 00 000"}],
        "roles": [],
        "title": "Sales rep",
        enterprise: {"employeeNumber": "701984", "department": "Sales", "manager": {"value": "boss-id"}}
    })
}

pub mod browser;
pub mod oidc_provider;
pub mod process;
pub mod scim2_server;
pub mod smtp;
pub mod webhook;

pub use scim2_server::Scim2Server;
pub use smtp::{ReceivedMail, SmtpServer};
pub use webhook::{hmac_sha256_hex, ReceivedRequest, WebhookReceiver};

/// A clock a test moves by hand.
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// Starting at `unix_ms`.
    pub fn at(unix_ms: i64) -> std::sync::Arc<ManualClock> {
        std::sync::Arc::new(ManualClock(std::sync::atomic::AtomicI64::new(unix_ms)))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl scimgate_core::Clock for ManualClock {
    fn now(&self) -> scimgate_core::Timestamp {
        let ms = self.0.load(std::sync::atomic::Ordering::SeqCst);
        scimgate_core::Timestamp::from_unix_millis(ms).expect("a valid test time")
    }
}

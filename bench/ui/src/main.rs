//! The web UI over a large holding area: with 100,000 staged users (Entra-shaped, 20
//! groups of members) and rules/bench.yaml, the time from request to full response for
//! the Users page with a search, the Users page without one (a later page), and the user
//! page (Result and Why, which runs the rules for that user), after one sync of the whole
//! company (so 100,000 CRM accounts exist, as in a tenant in use). The server is the real
//! HTTP application (`build_app`) on 127.0.0.1, signed in with a real session; requests
//! go one at a time, so each time is one page's own cost.
//!
//! The Preview page too (the stored preview with a filter and a sort, a later page), and
//! the stored preview's refresh: computed whole, and brought up to date after one SCIM
//! change (a PATCH of one user's department over real SCIM HTTP).
//!
//! `ui-bench --database-url URL [--users 100000] [--requests 300] [--only preview]`.
//! Seeding is skipped when the tenant already holds the users, so a second run measures
//! at once.

use anyhow::{bail, Context};
use clap::Parser;
use mimalloc::MiMalloc;
use scimgate_app::App;
use scimgate_core::{AdminRole, Clock, SystemClock, TenantName};
use scimgate_store::{IndexedDoc, ResourceKind, Store, Write};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

const TENANT: &str = "uibench";
const GROUPS: u64 = 20;
const PASSWORD: &str = "a benchmark's password";

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 100_000)]
    users: u64,
    /// Requests per page kind.
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// Lift the example catalogue's seat limits before the first sync, so every user
    /// gets an account (100,000 accounts instead of the 705 the seats allow).
    #[arg(long)]
    unlimited_seats: bool,
    /// `preview`: only the Preview page and the stored preview's refresh.
    #[arg(long)]
    only: Option<String>,
    /// Refreshes timed per kind (whole: at most 5; after one change).
    #[arg(long, default_value_t = 20)]
    refreshes: usize,
}

fn external_id(i: u64) -> String {
    let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 40) & 0xfff,
        i
    )
}

fn user(i: u64) -> IndexedDoc {
    let name = format!("user{i:06}@contoso.example");
    let display = format!("Person {i:06}");
    let department = ["Sales", "Customer Support", "Marketing", "Finance"][(i % 4) as usize];
    IndexedDoc {
        body: json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": external_id(i),
            "userName": name,
            "active": true,
            "displayName": display,
            "emails": [{"primary": true, "type": "work", "value": name}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": department,
            },
        }),
        user_name: Some(name.clone()),
        external_id: Some(external_id(i)),
        display_name: Some(display),
        active: Some(true),
        emails: vec![name],
    }
}

fn group(g: u64) -> IndexedDoc {
    let names = ["Sales", "Service", "Marketing", "Finance", "Office Oslo"];
    let name = match names.get(g as usize) {
        Some(name) => (*name).to_owned(),
        None => format!("Team {g:02}"),
    };
    IndexedDoc {
        body: json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "externalId": external_id(1_000_000 + g),
        }),
        user_name: None,
        external_id: Some(external_id(1_000_000 + g)),
        display_name: Some(name),
        active: None,
        emails: vec![],
    }
}

/// `requests` pages of one kind, one at a time, after 5 not counted (connection set-up,
/// cold caches).
async fn time_pages(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    picks: &mut Picks,
    mut path: PathMaker,
    requests: usize,
) -> anyhow::Result<Timings> {
    let mut timings = Timings(Vec::with_capacity(requests));
    for n in 0..requests + 5 {
        let url = format!("{base}{}", path(picks));
        let started = Instant::now();
        let answer = http.get(&url).header("cookie", cookie).send().await?;
        let status = answer.status();
        let body = answer.text().await?;
        let took = started.elapsed();
        if status != 200 || !body.contains("</html>") {
            bail!("{url}: {status}\n{body}");
        }
        if n >= 5 {
            timings.0.push(took);
        }
    }
    Ok(timings)
}

/// The stored preview computed whole (at most 5 times); then `n` times one user's
/// department changed over SCIM and the preview brought up to date.
async fn stored_preview_refresh(
    app: &App,
    tenant: &scimgate_core::Tenant,
    base: &str,
    ids: &[String],
    n: usize,
) -> anyhow::Result<()> {
    use scimgate_app::PreviewRules::Published;
    let mut whole = Timings(Vec::new());
    for _ in 0..n.min(5) {
        let started = Instant::now();
        app.recompute_preview(tenant, Published).await?;
        whole.0.push(started.elapsed());
    }
    println!("{}", whole.line("stored preview, computed whole"));
    // What of that is planning (the rules for every user, in memory, nothing written).
    let mut plan = Timings(Vec::new());
    for _ in 0..n.min(3) {
        let started = Instant::now();
        app.preview(tenant, None).await?;
        plan.0.push(started.elapsed());
    }
    println!("{}", plan.line("of which the plan alone (in memory)"));
    let token = app
        .store()
        .create_token_of(
            scimgate_store::TokenKind::Scim,
            tenant,
            "bench",
            SystemClock.now(),
        )
        .await?
        .secret;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let mut one = Timings(Vec::new());
    let mut scim = Timings(Vec::new());
    for k in 0..n {
        let id = &ids[k % ids.len()];
        let department = ["Finance", "Sales", "Marketing"][k % 3];
        let started = Instant::now();
        let answer = http
            .patch(format!("{base}/scim/v2/{TENANT}/Users/{id}"))
            .bearer_auth(&token)
            .json(&json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                    "value": department}]
            }))
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("PATCH {id}: {}", answer.status());
        }
        scim.0.push(started.elapsed());
        let started = Instant::now();
        let preview = app
            .current_preview(tenant, Published)
            .await?
            .context("no preview")?;
        one.0.push(started.elapsed());
        if preview.stale {
            bail!("the preview is still stale after its refresh");
        }
    }
    println!("{}", scim.line("SCIM PATCH of one user"));
    println!("{}", one.line("stored preview, after one change"));
    Ok(())
}

/// 100,000 users through the store's write path (many in flight, so group commit packs
/// them), then groups whose members are every 20th user.
async fn seed(store: &Store, tenant: &scimgate_core::Tenant, users: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..256 {
        let (store, tenant, next) = (store.clone(), tenant.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= users {
                    return Ok::<_, anyhow::Error>(ids);
                }
                let write = Write::Create {
                    kind: ResourceKind::User,
                    doc: user(i),
                    members: vec![],
                };
                let written = store.write(&tenant, SystemClock.now(), write).await?;
                let id = written.resource.context("no resource written")?.id;
                ids.push((i, id));
            }
        }));
    }
    let mut ids = Vec::new();
    for w in workers {
        ids.extend(w.await??);
    }
    for g in 0..GROUPS {
        let members = ids
            .iter()
            .filter(|(i, _)| i % GROUPS == g)
            .map(|(_, id)| scimgate_store::Member {
                value: id.clone(),
                member_type: Some("User".to_owned()),
                display: None,
            })
            .collect();
        let write = Write::Create {
            kind: ResourceKind::Group,
            doc: group(g),
            members,
        };
        store.write(tenant, SystemClock.now(), write).await?;
    }
    eprintln!(
        "seeded {users} users and {GROUPS} groups in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

struct Timings(Vec<Duration>);

impl Timings {
    fn at(&self, quantile: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * quantile).round() as usize;
        sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    fn line(&self, kind: &str) -> String {
        format!(
            "{kind:<34} n={:<4} p50={:>6.1} ms  p95={:>6.1} ms  p99={:>6.1} ms  max={:>6.1} ms",
            self.0.len(),
            self.at(0.5),
            self.at(0.95),
            self.at(0.99),
            self.at(1.0)
        )
    }
}

/// Makes the path of the next request of one kind.
type PathMaker = Box<dyn FnMut(&mut Picks) -> String>;

/// xorshift: the same request sequence every run.
struct Picks(u64);

impl Picks {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The stored preview logs how long each step of a computation took.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,scimgate_scheduler=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let store = Store::open(&args.database_url).await?;
    let clock: scimgate_core::clock::SharedClock = Arc::new(SystemClock);
    let app = App::builtin(
        store.clone(),
        clock.clone(),
        scimgate_notify::target::TargetPolicy::default(),
    );
    let name = TenantName::parse(TENANT)?;
    let tenant = match store.tenant(&name).await? {
        Some(tenant) => tenant,
        None => store.create_tenant(&name, SystemClock.now()).await?,
    };
    let staged = app.overview(&tenant).await?.holding.users as u64;
    if staged == 0 {
        seed(&store, &tenant, args.users).await?;
        scimgate_server::demo::load_examples(&app, &tenant).await?;
        if args.unlimited_seats {
            let mut catalog = app.catalog(&tenant).await?.value;
            for plan in &mut catalog.user_plans {
                *plan = scimgate_core::CatalogEntry::Name(plan.name().to_owned());
            }
            app.replace_catalog(&tenant, scimgate_app::Expect::Any, catalog)
                .await?;
        }
        app.create_admin_account(
            "bench",
            PASSWORD,
            AdminRole::Viewer,
            std::slice::from_ref(&name),
        )
        .await?;
    } else if staged != args.users {
        bail!(
            "tenant {TENANT} holds {staged} users, not {}: use a fresh database",
            args.users
        );
    }
    // A company in use: every user synced once, so the user page meets 100,000 accounts.
    if app.accounts(&tenant, None, None).await?.is_empty() {
        let started = Instant::now();
        let outcome = app.sync_company(&tenant).await?;
        eprintln!(
            "synced: {} accounts created in {:.1}s",
            outcome.created,
            started.elapsed().as_secs_f64()
        );
    }
    let ids: Vec<String> = {
        let page = app
            .search_users(
                &tenant,
                &scimgate_app::UserSearch {
                    text: None,
                    group_id: None,
                    status: None,
                    offset: 0,
                    limit: 200,
                },
            )
            .await?;
        page.users.into_iter().map(|u| u.id).collect()
    };

    let config = scimgate_server::config::ServeConfig {
        database_url: args.database_url.clone(),
        listen: "127.0.0.1:0".into(),
        public_url: None,
        max_body_bytes: 1 << 20,
        sync_tick_ms: 1000,
        smtp: None,
        webhook_targets: Default::default(),
        server_key_file: scimgate_server::config::DEFAULT_SERVER_KEY_FILE.into(),
        ui: true,
        oidc: None,
    };
    let router = scimgate_server::build_app(store.clone(), clock, &config)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let signed = http
        .post(format!("{base}/sign-in"))
        .form(&[("name", "bench"), ("password", PASSWORD)])
        .send()
        .await?;
    let cookie = signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("signing in gave no session cookie")?
        .to_owned();

    let mut picks = Picks(0x2545_f491_4f6c_dd1d);
    let users = args.users;
    println!(
        "ui-bench: {} on {}, {users} staged users, {} requests per kind, one at a time",
        store.backend().name(),
        TENANT,
        args.requests
    );
    stored_preview_refresh(&app, &tenant, &base, &ids, args.refreshes).await?;
    let preview_kinds: Vec<(&str, PathMaker)> = vec![
        (
            "Preview, first page",
            Box::new(|_| format!("/t/{TENANT}/preview")),
        ),
        (
            "Preview, role filter + plan sort",
            Box::new(|p| {
                let role = ["User", "Sales+user", "Sales+manager"][p.below(3) as usize];
                format!("/t/{TENANT}/preview?op_role=equals&v_role={role}&sort=-user_plan")
            }),
        ),
        (
            "Preview, name contains + role sort",
            Box::new(move |p| {
                format!(
                    "/t/{TENANT}/preview?op_username=contains&v_username=user{:04}&sort=role&then=-username",
                    p.below(users / 100)
                )
            }),
        ),
        (
            "Preview, two filters, 200 a page",
            Box::new(|p| {
                format!(
                    "/t/{TENANT}/preview?op_user_plan=not_equals&v_user_plan=Standard&op_name=ends_with&v_name={}&size=200&sort=name",
                    p.below(10)
                )
            }),
        ),
    ];
    for (kind, path) in preview_kinds {
        let timings = time_pages(&http, &base, &cookie, &mut picks, path, args.requests).await?;
        println!("{}", timings.line(kind));
    }
    if args.only.as_deref() == Some("preview") {
        store.close().await;
        return Ok(());
    }
    let kinds: [(&str, PathMaker); 4] = [
        (
            "Users, search by userName part",
            Box::new(move |p| format!("/t/{TENANT}/users?q=user{:05}", p.below(users / 10))),
        ),
        (
            "Users, search by externalId",
            Box::new(move |p| format!("/t/{TENANT}/users?q={}", external_id(p.below(users)))),
        ),
        (
            "Users, no search, a later page",
            Box::new(move |p| format!("/t/{TENANT}/users?page={}", 1 + p.below(users / 50))),
        ),
        (
            "User page (Result, Why, Entra data)",
            Box::new({
                let ids = ids.clone();
                move |p| {
                    format!(
                        "/t/{TENANT}/users/{}",
                        ids[p.below(ids.len() as u64) as usize]
                    )
                }
            }),
        ),
    ];
    for (kind, path) in kinds {
        let timings = time_pages(&http, &base, &cookie, &mut picks, path, args.requests).await?;
        println!("{}", timings.line(kind));
    }
    store.close().await;
    Ok(())
}

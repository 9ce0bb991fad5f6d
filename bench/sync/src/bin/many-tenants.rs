//! Many tenants on one `serve` (issue 13): 1,000 tenants, 100 of them with automatic
//! sync on and one staged user each, and one tenant (`demo`, filled by `scimgate demo`)
//! with 100,000 users. Measures, on the real `serve` process over real HTTP:
//!
//! 1. idle CPU: `serve`'s user + system time over a quiet period (nothing due), as a
//!    share of one core;
//! 2. while the big tenant's company sync runs (started through the admin API as a job),
//!    the time from one SCIM change in each of the 100 tenants until each of them has a
//!    run that started after its change and ended.
//!
//! `many-tenants-bench --database-url postgres://… --scimgate target/release/scimgate`;
//! fill the big tenant first with `scimgate --database-url … demo --users 100000`.

use anyhow::{bail, Context};
use clap::Parser;
use scimgate_core::{Clock, SystemClock, TenantName};
use scimgate_scheduler::SyncSettings;
use scimgate_store::{Expect, Store, TokenKind};
use serde_json::json;
use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    /// The `scimgate` binary to run as `serve`.
    #[arg(long)]
    scimgate: String,
    #[arg(long, default_value_t = 1000)]
    tenants: usize,
    /// Of them, with automatic sync on (on change, one second's quiet time).
    #[arg(long, default_value_t = 100)]
    active: usize,
    /// Seconds of quiet over which idle CPU is measured.
    #[arg(long, default_value_t = 30)]
    idle_seconds: u64,
}

/// `serve`'s CPU time so far (user + system), from /proc.
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which ends at the last ')'.
    let rest = stat.rsplit(')').next().context("no /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // USER_HZ is 100 on Linux.
    Ok(Duration::from_millis(ticks * 10))
}

fn tenant_name(n: usize) -> anyhow::Result<TenantName> {
    Ok(TenantName::parse(&format!("t{n:05}"))?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = Store::open(&args.database_url).await?;
    let clock: scimgate_core::clock::SharedClock = Arc::new(SystemClock);
    let app = scimgate_app::App::builtin(store.clone(), clock.clone(), Default::default());
    let big = store
        .tenant(&TenantName::parse("demo")?)
        .await?
        .context("no demo tenant: run `scimgate demo --users 100000` on this database first")?;
    let catalog = app.catalog(&big).await?.value;
    let rules = app.rule_set(&big).await?.value.source;
    // Tenants, settings, catalogue and rules, and a SCIM token for each active one.
    let mut tokens = Vec::new();
    for n in 0..args.tenants {
        let name = tenant_name(n)?;
        let tenant = match store.tenant(&name).await? {
            Some(t) => t,
            None => store.create_tenant(&name, SystemClock.now()).await?,
        };
        if n < args.active {
            app.replace_catalog(&tenant, Expect::Any, catalog.clone())
                .await?;
            app.save_rules(&tenant, Expect::Any, rules.clone()).await?;
            let on = SyncSettings {
                user_sync_active: true,
                schedule: "0 0 1 1 *".into(),
                debounce_seconds: 1,
                ..SyncSettings::default()
            };
            app.save_settings(&tenant, Expect::Any, &on).await?;
            let token = store
                .create_token_of(TokenKind::Scim, &tenant, "bench", SystemClock.now())
                .await?
                .secret;
            tokens.push((tenant, token));
        }
    }
    let admin = store
        .create_token_of(TokenKind::Admin, &big, "bench", SystemClock.now())
        .await?
        .secret;

    // serve, on a free port.
    let mut serve = std::process::Command::new(&args.scimgate)
        .args([
            "--database-url",
            &args.database_url,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("SCIMGATE_SYNC_TICK_MS", "1000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = serve.id();
    let stdout = serve.stdout.take().context("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().context("serve ended")??;
        if let Some(url) = line.strip_prefix("scimgate listening on ") {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let http = reqwest::Client::builder().no_proxy().build()?;

    // One user in each active tenant (a first on-change sync each), then quiet.
    let mut users = Vec::new();
    for (n, (tenant, token)) in tokens.iter().enumerate() {
        let name = format!("user{n}@t.example");
        let found: serde_json::Value = http
            .get(format!(
                "{base}/scim/v2/{}/Users?filter=userName%20eq%20%22{name}%22",
                tenant.name
            ))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let id = match found["Resources"][0]["id"].as_str() {
            Some(id) => id.to_owned(),
            None => {
                let created: serde_json::Value = http
                    .post(format!("{base}/scim/v2/{}/Users", tenant.name))
                    .bearer_auth(token)
                    .json(&json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": name, "externalId": format!("ext-{n}"), "active": true,
                    }))
                    .send()
                    .await?
                    .json()
                    .await?;
                created["id"].as_str().context("no id")?.to_owned()
            }
        };
        users.push(id);
    }
    let settled = Instant::now();
    loop {
        let mut pending = 0;
        for (tenant, _) in &tokens {
            let seq = store.change_seq(tenant).await?;
            let claimed = store.sync_claims(tenant).await?;
            let running = store
                .runs(tenant, 1)
                .await?
                .first()
                .is_some_and(|r| r.status.name() == "running");
            if claimed.1 < seq || running {
                pending += 1;
            }
        }
        if pending == 0 {
            break;
        }
        if settled.elapsed() > Duration::from_secs(300) {
            bail!("{pending} tenants never settled");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    let before = cpu_time(pid)?;
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let idle = cpu_time(pid)? - before;
    println!(
        "idle: serve used {:.2} s of CPU in {} s = {:.2} % of one core ({} tenants, {} with automatic sync on)",
        idle.as_secs_f64(),
        args.idle_seconds,
        idle.as_secs_f64() * 100.0 / args.idle_seconds as f64,
        args.tenants,
        args.active
    );

    // The big company sync, as a job.
    let started = http
        .post(format!("{base}/api/v1/tenants/demo/sync"))
        .bearer_auth(&admin)
        .header("prefer", "respond-async")
        .send()
        .await?;
    if started.status() != 202 {
        bail!("the big sync did not start: {}", started.status());
    }
    let big_run: serde_json::Value = started.json().await?;
    let big_run = big_run["run_id"].as_i64().context("no run id")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // One change in each active tenant.
    let t0 = Instant::now();
    let sent_at = SystemClock.now();
    for ((tenant, token), id) in tokens.iter().zip(&users) {
        let answer = http
            .patch(format!("{base}/scim/v2/{}/Users/{id}", tenant.name))
            .bearer_auth(token)
            .json(&json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "displayName", "value": format!("Changed {}", t0.elapsed().as_micros())}]
            }))
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("PATCH in {}: {}", tenant.name, answer.status());
        }
    }
    let sent = t0.elapsed();
    let mut done: Vec<Option<Duration>> = vec![None; tokens.len()];
    while done.iter().any(Option::is_none) {
        for (n, (tenant, _)) in tokens.iter().enumerate() {
            if done[n].is_some() {
                continue;
            }
            let last = store.runs(tenant, 1).await?;
            if let Some(run) = last.first() {
                let after = run.started_at.as_str() >= sent_at.to_rfc3339().as_str();
                if after && run.status.name() != "running" {
                    done[n] = Some(t0.elapsed());
                }
            }
        }
        if t0.elapsed() > Duration::from_secs(600) {
            bail!("not all tenants synced within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let big_status = store.run(&big, big_run).await?.context("no big run")?;
    let mut times: Vec<Duration> = done.into_iter().flatten().collect();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize].as_secs_f64();
    println!(
        "{} changes sent in {:.2} s; synced after p50 {:.2} s, p95 {:.2} s, all {:.2} s; the 100,000-user sync was {} then",
        tokens.len(),
        sent.as_secs_f64(),
        at(0.5),
        at(0.95),
        at(1.0),
        big_status.status.name()
    );
    let _ = serve.kill();
    store.close().await;
    Ok(())
}

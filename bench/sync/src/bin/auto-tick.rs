//! Automatic-sync tick benchmark (issue 13, "many tenants"): the cost of one tick when
//! nothing is due, over many tenants, most with automatic sync off. It compares the
//! tick as it is (one query for the tenants with automatic sync on, due-ness decided in
//! memory) with the tick as it was (every tenant looked at one query at a time: its
//! settings, then for the active ones the settings row, the claims and the change
//! sequence), in alternating rounds on the same database. At one tick per second, a
//! tick's mean time in ms is the share of a core (per mille) that ticking costs.

use clap::Parser;
use scimgate_core::{Clock, SystemClock, TenantName};
use scimgate_scheduler::auto::AutoSync;
use scimgate_scheduler::{SyncSettings, Syncer};
use scimgate_store::{Expect, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    /// Tenants in all.
    #[arg(long, default_value_t = 500)]
    tenants: usize,
    /// Of them, with automatic sync on (a schedule that is not due, nothing changed).
    #[arg(long, default_value_t = 20)]
    active: usize,
    /// Ticks timed per way, in rounds of ten, the two ways alternating.
    #[arg(long, default_value_t = 300)]
    ticks: usize,
}

/// The tick as it was before issue 13: every tenant, one query at a time.
async fn tick_one_tenant_at_a_time(store: &Store) -> anyhow::Result<()> {
    for tenant in store.tenants().await? {
        let settings = store.sync_settings(&tenant).await?;
        if !settings.user_sync_active {
            continue;
        }
        store.ensure_sync_settings(&tenant).await?;
        let _claims = store.sync_claims(&tenant).await?;
        let _cron = scimgate_scheduler::cron::Cron::parse(&settings.schedule);
        let _seq = store.change_seq(&tenant).await?;
    }
    Ok(())
}

fn summary(name: &str, mut times: Vec<Duration>) -> f64 {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(times[((times.len() as f64 - 1.0) * q).round() as usize]);
    let mean = times.iter().map(|d| ms(*d)).sum::<f64>() / times.len() as f64;
    println!(
        "{name:<28} mean {mean:7.3} ms  p50 {:7.3} ms  p99 {:7.3} ms  ({} ticks)",
        at(0.5),
        at(0.99),
        times.len()
    );
    mean
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = Store::open(&args.database_url).await?;
    let clock: scimgate_core::clock::SharedClock = Arc::new(SystemClock);
    let app = scimgate_app::App::builtin(store.clone(), clock.clone(), Default::default());
    let existing = store.tenants().await?.len();
    for n in existing..args.tenants {
        let name = TenantName::parse(&format!("t{n:05}"))?;
        let tenant = store.create_tenant(&name, SystemClock.now()).await?;
        if n < args.active {
            let on = SyncSettings {
                user_sync_active: true,
                // 1 January, 00:00: not due within the benchmark.
                schedule: "0 0 1 1 *".into(),
                ..SyncSettings::default()
            };
            app.save_settings(&tenant, Expect::Any, &on).await?;
        }
    }
    println!(
        "{} tenants, {} with automatic sync on, {}",
        args.tenants,
        args.active,
        store.backend().name()
    );
    let auto = AutoSync::new(Syncer::new(store.clone(), clock.clone()));
    let (mut now_way, mut old_way) = (Vec::new(), Vec::new());
    // Warm both ways up (connections, prepared statements).
    for _ in 0..10 {
        auto.start_due(clock.now()).await?;
        tick_one_tenant_at_a_time(&store).await?;
    }
    for _ in 0..args.ticks.div_ceil(10) {
        for _ in 0..10 {
            let started = Instant::now();
            let queued = auto.start_due(clock.now()).await?;
            now_way.push(started.elapsed());
            anyhow::ensure!(queued == 0, "a run became due during the benchmark");
        }
        for _ in 0..10 {
            let started = Instant::now();
            tick_one_tenant_at_a_time(&store).await?;
            old_way.push(started.elapsed());
        }
    }
    let new = summary("one query (now)", now_way);
    let old = summary("one tenant at a time (before)", old_way);
    println!("before / now: {:.1}x", old / new);
    println!(
        "wall time spent ticking at one tick per second: now {:.2} %, before {:.2} %",
        new / 10.0,
        old / 10.0
    );
    store.close().await;
    Ok(())
}

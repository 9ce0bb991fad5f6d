//! Sync benchmark (issue 4): seed N staged users (the rules benchmark's synthetic Entra
//! users, most in several groups) into a tenant, then time a preview (and its peak
//! memory), the first full sync, and a re-sync with nothing changed. Each step is its own
//! process (`bench/sync.sh` runs them), so the peak memory of a preview is the preview's.

// The users are the rules benchmark's: one generator for both benchmarks.
#[path = "../../rules/src/users.rs"]
mod users;

use anyhow::Context;
use clap::{Parser, Subcommand};
use scimgate_core::{Clock, SystemClock, TenantName};
use scimgate_rules::Catalog;
use scimgate_scheduler::{Syncer, Trigger};
use scimgate_store::Expect;
use scimgate_store::{IndexedDoc, Member, MemberOp, Mutation, ResourceKind, Store, Tenant, Write};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value = "bench")]
    tenant: String,
    #[command(subcommand)]
    step: Step,
}

#[derive(Subcommand)]
enum Step {
    /// Create the tenant, its catalogue (seats for everyone) and rules/bench.yaml, and
    /// stage N users with their groups through the store's normal write path.
    Seed {
        #[arg(long, default_value_t = 100_000)]
        users: usize,
    },
    /// Time a company preview; print the process's peak memory after it.
    Preview,
    /// Time a company sync (the first creates every account; the next finds nothing to do).
    Sync,
}

fn repo(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// A field of /proc/self/status in MB (`VmHWM`: peak resident; `RssAnon`: resident heap
/// and stacks now, without memory-mapped files such as SQLite's mmap of the database).
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The kernel keeps no peak of anonymous memory: sample it every 5 ms while a step runs.
fn sample_peak_anon() -> (
    Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<f64>,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0.0_f64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            peak = peak.max(status_mb("RssAnon:"));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        peak.max(status_mb("RssAnon:"))
    });
    (stop, sampler)
}

fn memory(
    sampler: (
        Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<f64>,
    ),
) -> String {
    sampler.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let anon = sampler.1.join().unwrap_or(f64::NAN);
    format!(
        "peak memory {anon:.0} MB heap (RssAnon), {:.0} MB resident incl. mapped files (VmHWM)",
        status_mb("VmHWM:")
    )
}

async fn tenant(store: &Store, name: &str) -> anyhow::Result<Tenant> {
    let name = TenantName::parse(name)?;
    Ok(match store.tenant(&name).await? {
        Some(t) => t,
        None => store.create_tenant(&name, SystemClock.now()).await?,
    })
}

fn text(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key).and_then(|x| x.as_str()).map(str::to_owned)
}

async fn seed(store: &Store, tenant: &Tenant, count: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    // The bench catalogue with seats for everyone: the first sync creates every account.
    let mut catalog = Catalog::from_yaml(&std::fs::read_to_string(repo("rules/catalog.yaml"))?)
        .map_err(anyhow::Error::msg)?;
    for plan in &mut catalog.user_plans {
        *plan = scimgate_rules::CatalogEntry::Entry(scimgate_rules::NamedEntry {
            name: plan.name().to_owned(),
            seats: Some(count as u64),
        });
    }
    let app = scimgate_app::App::builtin(store.clone(), Arc::new(SystemClock), Default::default());
    app.replace_catalog(tenant, Expect::Any, catalog).await?;
    let source =
        scimgate_rules::read_source_file(&repo("rules/bench.yaml")).map_err(anyhow::Error::msg)?;
    app.save_rules(tenant, Expect::Any, source).await?;

    let generated = users::generate(count, 42);
    let mut members: BTreeMap<(String, Option<String>), Vec<String>> = BTreeMap::new();
    let mut pending = Vec::new();
    for input in generated {
        let body = input.user;
        let doc = IndexedDoc {
            user_name: text(&body, "userName"),
            external_id: text(&body, "externalId"),
            display_name: text(&body, "displayName"),
            active: body.get("active").and_then(|a| a.as_bool()),
            emails: body
                .get("emails")
                .and_then(|e| e.as_array())
                .map(|list| list.iter().filter_map(|e| text(e, "value")).collect())
                .unwrap_or_default(),
            body,
        };
        let (store, tenant) = (store.clone(), tenant.clone());
        pending.push((
            input.groups,
            tokio::spawn(async move {
                store
                    .write(
                        &tenant,
                        SystemClock.now(),
                        Write::Create {
                            kind: ResourceKind::User,
                            doc,
                            members: vec![],
                        },
                    )
                    .await
            }),
        ));
        // Many writes in flight: group commit packs them into few transactions.
        if pending.len() >= 512 {
            drain(&mut pending, &mut members).await?;
        }
    }
    drain(&mut pending, &mut members).await?;
    eprintln!(
        "{count} users staged in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    for ((name, external_id), ids) in members {
        let doc = IndexedDoc {
            body: json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "externalId": external_id}),
            external_id: external_id.clone(),
            display_name: Some(name.clone()),
            ..IndexedDoc::default()
        };
        let created = store
            .write(
                tenant,
                SystemClock.now(),
                Write::Create {
                    kind: ResourceKind::Group,
                    doc: doc.clone(),
                    members: vec![],
                },
            )
            .await?;
        let id = created.resource.context("created group")?.id;
        // Entra adds members in PATCHes of a few at a time; here 1,000 per write.
        for chunk in ids.chunks(1_000) {
            let add: Vec<Member> = chunk
                .iter()
                .map(|m| Member {
                    value: m.clone(),
                    member_type: None,
                    display: None,
                })
                .collect();
            let doc = doc.clone();
            store
                .write(
                    tenant,
                    SystemClock.now(),
                    Write::Mutate {
                        kind: ResourceKind::Group,
                        id: id.clone(),
                        mutator: Box::new(move |_| {
                            Ok(Mutation {
                                doc: doc.clone(),
                                members: vec![MemberOp::Add(add.clone())],
                            })
                        }),
                    },
                )
                .await?;
        }
    }
    eprintln!(
        "users and groups staged in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

type Pending = Vec<(
    Vec<scimgate_rules::GroupRef>,
    tokio::task::JoinHandle<scimgate_store::Result<scimgate_store::WriteOutcome>>,
)>;

async fn drain(
    pending: &mut Pending,
    members: &mut BTreeMap<(String, Option<String>), Vec<String>>,
) -> anyhow::Result<()> {
    for (groups, task) in pending.drain(..) {
        let id = task.await??.resource.context("created user")?.id;
        for g in groups {
            members
                .entry((g.display_name, g.external_id))
                .or_default()
                .push(id.clone());
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = Store::open(&args.database_url).await?;
    let tenant = tenant(&store, &args.tenant).await?;
    let mut syncer = Syncer::new(store.clone(), Arc::new(SystemClock));
    if std::env::var_os("SYNC_BENCH_STEPS").is_some() {
        // Where a run's time goes: each progress report with the time since the start.
        let start = Instant::now();
        syncer = syncer.with_progress(Arc::new(move |step, done, total| {
            eprintln!(
                "{:>8.3} s  {step} {done}{}",
                start.elapsed().as_secs_f64(),
                total.map(|t| format!("/{t}")).unwrap_or_default()
            );
        }));
    }
    match args.step {
        Step::Seed { users } => seed(&store, &tenant, users).await?,
        Step::Preview => {
            let sampler = sample_peak_anon();
            let start = Instant::now();
            let plan = syncer.preview(&tenant, None).await?;
            let took = start.elapsed();
            let t = &plan.totals;
            println!(
                "preview: {:.2} s, {}; users {}, synced {}, create {}, update {}, deprovision {}, unchanged {}, error {}",
                took.as_secs_f64(),
                memory(sampler),
                t.users_received,
                t.users_synced,
                t.create,
                t.update,
                t.deprovision,
                t.unchanged,
                t.error
            );
        }
        Step::Sync => {
            let sampler = sample_peak_anon();
            let start = Instant::now();
            let outcome = syncer.sync_company(&tenant, Trigger::ManualCompany).await?;
            println!(
                "sync: {:.2} s, {}; created {}, updated {}, deprovisioned {}, unchanged {}, errors {}",
                start.elapsed().as_secs_f64(),
                memory(sampler),
                outcome.created,
                outcome.updated,
                outcome.deprovisioned,
                outcome.unchanged,
                outcome.errors
            );
        }
    }
    store.close().await;
    Ok(())
}

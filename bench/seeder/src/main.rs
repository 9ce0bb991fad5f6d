//! Seeds N Entra-shaped staged users (`seed-<i>@bench.example`) into a tenant through the
//! store's normal write path, many in flight at once so group commit packs them.

use clap::Parser;
use scimgate_core::{Clock, SystemClock, TenantName};
use scimgate_store::{IndexedDoc, ResourceKind, Store, Write};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    users: u64,
    /// Writes in flight at once.
    #[arg(long, default_value_t = 512)]
    concurrency: u64,
}

fn doc(i: u64) -> IndexedDoc {
    let name = format!("seed-{i}@bench.example");
    IndexedDoc {
        body: json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": format!("ext-{i}"),
            "userName": name,
            "active": true,
            "displayName": format!("Seed User {i}"),
            "emails": [{"primary": true, "type": "work", "value": name}],
        }),
        user_name: Some(name.clone()),
        external_id: Some(format!("ext-{i}")),
        display_name: Some(format!("Seed User {i}")),
        active: Some(true),
        emails: vec![name],
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = Store::open(&args.database_url).await?;
    let name = TenantName::parse(&args.tenant)?;
    let tenant = match store.tenant(&name).await? {
        Some(t) => t,
        None => store.create_tenant(&name, SystemClock.now()).await?,
    };
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (store, tenant, next) = (store.clone(), tenant.clone(), next.clone());
        let total = args.users;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(());
                }
                let write = Write::Create {
                    kind: ResourceKind::User,
                    doc: doc(i),
                    members: vec![],
                };
                store.write(&tenant, SystemClock.now(), write).await?;
                if i > 0 && i % 100_000 == 0 {
                    eprintln!(
                        "{i} users seeded ({:.0}/s)",
                        i as f64 / started.elapsed().as_secs_f64()
                    );
                }
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    eprintln!(
        "{} users seeded in {:.1}s",
        args.users,
        started.elapsed().as_secs_f64()
    );
    store.close().await;
    Ok(())
}

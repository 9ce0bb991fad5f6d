//! `scimgate target`: where a tenant's accounts are pushed (a SCIM 2.0 application or a
//! signed webhook), from a terminal. The token or signing secret is sealed with the
//! server key before it is stored and never printed back (a webhook's secret is printed
//! once, when it is made).

use crate::cli::find_tenant;
use anyhow::{bail, Context};
use clap::{ArgGroup, Args, Subcommand};
use scimgate_core::{Clock, SystemClock};
use scimgate_crm::secret::ServerKey;
use scimgate_store::crm_push::{CrmTargetRow, TargetKind};
use scimgate_store::Store;
use serde_json::json;
use std::path::Path;

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The tenant's name.
    #[arg(long)]
    tenant: String,
    #[command(subcommand)]
    command: TargetCommand,
}

#[derive(Debug, Subcommand)]
enum TargetCommand {
    /// Push the tenant's accounts to a SCIM 2.0 application, or POST each as signed JSON
    /// to a webhook (replaces any target).
    #[command(group(ArgGroup::new("kind").required(true).args(["scim", "webhook"])))]
    Set {
        /// The application's SCIM base URL, e.g. https://crm.example.com/scim/v2.
        #[arg(long, requires = "token")]
        scim: Option<String>,
        /// The bearer token the application gave scimgate (with --scim).
        #[arg(long, env = "SCIMGATE_TARGET_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// An https:// (or http://) endpoint that gets each account as JSON, signed with
        /// a secret shown once.
        #[arg(long)]
        webhook: Option<String>,
        /// Also queue every existing account (a first push); otherwise only accounts
        /// that change from now on are pushed.
        #[arg(long)]
        push_all: bool,
    },
    /// The target and its queue: pending, delivered and dead pushes (never the token).
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Stop pushing: the target and its queue are removed; accounts stay.
    Clear,
    /// Queue the dead pushes again (after fixing the target or its token).
    Retry,
}

pub async fn run(
    store: &Store,
    args: TargetArgs,
    policy: scimgate_notify::target::TargetPolicy,
    key_file: &Path,
) -> anyhow::Result<()> {
    let tenant = find_tenant(store, &args.tenant).await?;
    match args.command {
        TargetCommand::Set {
            scim,
            token,
            webhook,
            push_all,
        } => {
            let (kind, url, secret) = match (scim, webhook) {
                (Some(url), _) => {
                    let token = token.unwrap_or_default();
                    if token.trim().is_empty() {
                        bail!("--token is empty: give the bearer token the application issued");
                    }
                    (TargetKind::Scim, url, token.trim().to_owned())
                }
                (None, Some(url)) => (TargetKind::Webhook, url, new_signing_secret()?),
                (None, None) => bail!("give --scim URL --token TOKEN, or --webhook URL"),
            };
            let flag = if kind == TargetKind::Scim {
                "--scim"
            } else {
                "--webhook"
            };
            scimgate_notify::target::check_webhook_url(&url, policy)
                .map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
            let key = ServerKey::load_or_create(key_file)?;
            let row = CrmTargetRow {
                kind,
                url: url.trim_end_matches('/').to_owned(),
                sealed_secret: key.seal(tenant.id, &secret)?,
                updated_at: SystemClock.now().to_rfc3339(),
            };
            let queued = store
                .set_crm_target(&tenant, &row, push_all)
                .await
                .context("saving the CRM target")?;
            match kind {
                TargetKind::Scim => println!(
                    "tenant {}: accounts are pushed to {} (SCIM 2.0); {queued} queued now",
                    tenant.name, row.url
                ),
                TargetKind::Webhook => println!(
                    "tenant {}: accounts are POSTed to {}; {queued} queued now\nSigning secret (shown once; check the {} header): {secret}",
                    tenant.name,
                    row.url,
                    scimgate_crm::push::webhook::SIGNATURE_HEADER
                ),
            }
        }
        TargetCommand::Show { json } => {
            let target = store.crm_target(&tenant).await?;
            let counts = store.push_counts(&tenant).await?;
            match (json, target) {
                (true, target) => println!(
                    "{}",
                    json!({
                        "kind": target.as_ref().map(|t| t.kind.name()),
                        "url": target.as_ref().map(|t| &t.url),
                        "updated_at": target.as_ref().map(|t| &t.updated_at),
                        "pending": counts.pending,
                        "delivered": counts.delivered,
                        "dead": counts.dead,
                    })
                ),
                (false, None) => println!(
                    "tenant {}: no CRM target; accounts stay in scimgate's own table",
                    tenant.name
                ),
                (false, Some(t)) => println!(
                    "tenant {}: {} target {} (set {})\npushes: {} pending, {} delivered, {} dead",
                    tenant.name,
                    t.kind.name(),
                    t.url,
                    t.updated_at,
                    counts.pending,
                    counts.delivered,
                    counts.dead
                ),
            }
        }
        TargetCommand::Clear => match store.clear_crm_target(&tenant).await? {
            true => println!("tenant {}: CRM target removed", tenant.name),
            false => println!("tenant {}: had no CRM target", tenant.name),
        },
        TargetCommand::Retry => {
            let n = (store.retry_dead_pushes(&tenant, SystemClock.now().unix_millis())).await?;
            println!("tenant {}: {n} dead pushes queued again", tenant.name);
        }
    }
    Ok(())
}

/// A webhook's signing secret: 32 random bytes, hex.
fn new_signing_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

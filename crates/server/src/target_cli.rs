//! `scimgate target`: where a tenant's accounts are pushed (a SCIM 2.0 application or a
//! signed webhook), from a terminal. The token or signing secret is sealed with the
//! server key before it is stored and never printed back (a webhook's secret is printed
//! once, when it is made).

use crate::cli::find_tenant;
use anyhow::bail;
use clap::{ArgGroup, Args, Subcommand};
use scimgate_app::{App, AppError, DriftFix, DriftKind, DriftReport, Expect};
use scimgate_app::{ScimCredentials, TargetOptions, TargetSetting};
use scimgate_core::SystemClock;
use scimgate_crm::push::KeySource;
use scimgate_store::Store;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

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
    #[command(group(ArgGroup::new("sign_in").args(["token", "oauth2_token_url"])))]
    Set {
        /// The application's SCIM base URL, e.g. https://crm.example.com/scim/v2.
        #[arg(long, requires = "sign_in")]
        scim: Option<String>,
        /// The bearer token the application gave scimgate (with --scim).
        #[arg(long, env = "SCIMGATE_TARGET_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Or sign in with OAuth 2.0 client credentials: the token endpoint…
        #[arg(long, requires_all = ["client_id", "client_secret"])]
        oauth2_token_url: Option<String>,
        /// …the client id…
        #[arg(long, requires = "oauth2_token_url")]
        client_id: Option<String>,
        /// …its secret…
        #[arg(long, env = "SCIMGATE_TARGET_CLIENT_SECRET", hide_env_values = true)]
        client_secret: Option<String>,
        /// …and the scope to ask for (optional).
        #[arg(long, requires = "oauth2_token_url")]
        scope: Option<String>,
        /// An https:// (or http://) endpoint that gets each account as JSON, signed with
        /// a secret shown once.
        #[arg(long)]
        webhook: Option<String>,
        /// Also queue every existing account (a first push); otherwise only accounts
        /// that change from now on are pushed.
        #[arg(long)]
        push_all: bool,
        /// Delete a deprovisioned account's user on the application (with --scim);
        /// otherwise it is deactivated (`active: false`).
        #[arg(long, requires = "scim")]
        delete_on_deprovision: bool,
        /// Where each account setting goes on the application (a YAML file; see
        /// docs/crm-targets.md); without it, the default mapping.
        #[arg(long, requires = "scim")]
        mapping: Option<std::path::PathBuf>,
        /// Reconcile (read the application's users back and record what differs) every
        /// this many hours, 1 to 720, while `scimgate serve` runs; otherwise on demand only.
        #[arg(long, requires = "scim")]
        reconcile_every_hours: Option<u32>,
    },
    /// The target and its queue: pending, delivered and dead pushes (never the token).
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Test connection: ask the target, with the stored token or secret, whether it
    /// answers (a SCIM application: its features and a one-user read; a webhook: a
    /// signed `target.test` event). Exits non-zero when it does not.
    Test,
    /// Reconcile: read the SCIM target's users back and list what differs from the
    /// accounts (edited, missing, extra users); `--fix` pushes the edited and missing
    /// accounts again.
    Drift {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        fix: bool,
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
    let app = App::builtin(store.clone(), Arc::new(SystemClock), policy)
        .with_server_key(KeySource::File(key_file.to_owned()))
        .acting_as(crate::sync_cli::cli_actor());
    match args.command {
        TargetCommand::Set {
            scim,
            token,
            oauth2_token_url,
            client_id,
            client_secret,
            scope,
            webhook,
            push_all,
            delete_on_deprovision,
            mapping,
            reconcile_every_hours,
        } => {
            let credentials = match oauth2_token_url {
                Some(token_url) => ScimCredentials::OAuth2 {
                    token_url,
                    client_id: client_id.unwrap_or_default(),
                    client_secret: client_secret.unwrap_or_default(),
                    scope,
                },
                None => ScimCredentials::Bearer(token.unwrap_or_default()),
            };
            let setting = match (scim, webhook) {
                (Some(url), _) => TargetSetting::Scim { url, credentials },
                (None, Some(url)) => TargetSetting::Webhook { url },
                (None, None) => bail!("give --scim URL --token TOKEN, or --webhook URL"),
            };
            // The command line sets the target deliberately, not as an edit of one it
            // read: no version to compare.
            let mapping = (mapping.map(|file| {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("--mapping {}: {e}", file.display()))
            }))
            .transpose()?;
            let options = TargetOptions {
                push_all,
                delete_on_deprovision,
                mapping,
                reconcile_every_hours,
            };
            let saved = (app
                .set_crm_target(&tenant, Expect::Any, setting, options)
                .await)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .value;
            let (target, queued) = (&saved.target, saved.queued);
            match &saved.secret {
                None => println!(
                    "tenant {}: accounts are pushed to {} (SCIM 2.0); {queued} queued now",
                    tenant.name, target.url
                ),
                Some(secret) => println!(
                    "tenant {}: accounts are POSTed to {}; {queued} queued now\nSigning secret (shown once; check the {} header): {secret}",
                    tenant.name,
                    target.url,
                    scimgate_crm::push::webhook::SIGNATURE_HEADER
                ),
            }
        }
        TargetCommand::Show { json } => {
            let state = app.crm_target(&tenant).await?.value;
            let queue = state.queue;
            match (json, &state.target) {
                (true, target) => println!(
                    "{}",
                    json!({
                        "kind": target.as_ref().map(|t| t.kind),
                        "url": target.as_ref().map(|t| &t.url),
                        "updated_at": target.as_ref().map(|t| &t.updated_at),
                        "pending": queue.pending,
                        "delivered": queue.delivered,
                        "dead": queue.dead,
                    })
                ),
                (false, None) => println!(
                    "tenant {}: no CRM target; accounts stay in scimgate's own table",
                    tenant.name
                ),
                (false, Some(t)) => {
                    println!(
                        "tenant {}: {} target {} (set {})\npushes: {} pending, {} delivered, {} dead",
                        tenant.name, t.kind, t.url, t.updated_at, queue.pending, queue.delivered, queue.dead
                    );
                    for dead in app.dead_pushes(&tenant, DEAD_SHOWN).await? {
                        let who = dead.username.as_deref().unwrap_or("(account gone)");
                        println!(
                            "dead: {who} after {} attempts: {}",
                            dead.attempts, dead.last_error
                        );
                    }
                }
            }
        }
        TargetCommand::Test => {
            let check = (app.test_crm_target(&tenant).await).map_err(|e| anyhow::anyhow!("{e}"))?;
            match check.ok {
                true => println!("tenant {}: {}", tenant.name, check.detail),
                false => bail!(
                    "tenant {}: the target failed the test: {}",
                    tenant.name,
                    check.detail
                ),
            }
        }
        TargetCommand::Drift { json, fix } => {
            let report = (app.crm_drift(&tenant).await).map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print_drift(&tenant.name, &report);
            }
            if fix {
                let queued = app.fix_crm_drift(&tenant, DriftFix::All).await?;
                println!(
                    "tenant {}: pushes queued for {queued} drifted account(s)",
                    tenant.name
                );
            }
        }
        TargetCommand::Clear => match app.clear_crm_target(&tenant, Expect::Any).await {
            Ok(_) => println!("tenant {}: CRM target removed", tenant.name),
            Err(AppError::NotFound(_)) => println!("tenant {}: had no CRM target", tenant.name),
            Err(e) => return Err(e.into()),
        },
        TargetCommand::Retry => {
            let n = app.retry_pushes(&tenant).await?;
            println!("tenant {}: {n} dead pushes queued again", tenant.name);
        }
    }
    Ok(())
}

fn print_drift(tenant: &scimgate_core::TenantName, report: &DriftReport) {
    println!(
        "tenant {tenant}: {} accounts, {} users on the target, {} out of step",
        report.accounts,
        report.target_users,
        report.drift.len()
    );
    for drift in &report.drift {
        let id = drift.target_id.as_deref().unwrap_or("-");
        match drift.kind {
            DriftKind::Missing => println!("missing  {} (no user on the target)", drift.username),
            DriftKind::Extra => {
                println!("extra    {} (target id {id}; left alone)", drift.username)
            }
            DriftKind::Edited => {
                println!("edited   {} (target id {id})", drift.username);
                for d in &drift.differences {
                    println!(
                        "         {}: expected {}, found {}",
                        d.attribute, d.expected, d.found
                    );
                }
            }
        }
    }
}

/// Dead pushes `show` lists (the newest).
const DEAD_SHOWN: i64 = 10;

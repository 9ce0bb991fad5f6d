//! `scimgate notify`: a tenant's notification subscriptions and outbox from a terminal.

use crate::cli::find_tenant;
use anyhow::bail;
use clap::{ArgGroup, Args, Subcommand};
use scimgate_app::{App, AppError};
use scimgate_core::{OutboxStatus, SystemClock};
use scimgate_notify::{Channel, EventKind, Subscription};
use scimgate_store::Expect;
use scimgate_store::{Store, Tenant};
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// The tenant's name.
    #[arg(long)]
    tenant: String,
    #[command(subcommand)]
    command: NotifyCommand,
}

#[derive(Debug, Subcommand)]
enum NotifyCommand {
    /// Subscribe an e-mail address or a webhook to events (a webhook's secret is shown once).
    #[command(group(ArgGroup::new("target").required(true).args(["email", "webhook"])))]
    Add {
        /// An e-mail address (the SMTP server in the config file sends to it).
        #[arg(long)]
        email: Option<String>,
        /// An http:// or https:// URL; each message is POSTed with an HMAC signature.
        #[arg(long)]
        webhook: Option<String>,
        /// Comma-separated: sync.error, sync.failed, sync.held, seats.exhausted, scim.auth_failures.
        #[arg(long, required = true, value_delimiter = ',')]
        events: Vec<String>,
        /// Print one JSON line: the subscription, and for a webhook its "secret".
        #[arg(long)]
        json: bool,
    },
    /// List the subscriptions (never a webhook's secret).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a subscription by its id (see `notify list`).
    Remove { id: i64 },
    /// Queue a test message to one subscription; a running `scimgate serve` delivers it.
    Test { id: i64 },
    /// The messages sent, waiting and given up on (dead, with the last error), newest first.
    Outbox {
        /// pending, delivered or dead.
        #[arg(long)]
        status: Option<String>,
        /// Messages to show.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

fn events(names: &[String]) -> anyhow::Result<Vec<EventKind>> {
    names
        .iter()
        .map(|name| name.trim())
        .filter(|name| !name.is_empty())
        .map(|name| EventKind::parse_named(name).map_err(anyhow::Error::msg))
        .collect()
}

fn no_subscription(tenant: &Tenant, id: i64) -> impl Fn(AppError) -> anyhow::Error + '_ {
    move |e| match e {
        AppError::NotFound(_) => anyhow::anyhow!("tenant {} has no subscription {id}", tenant.name),
        e => e.into(),
    }
}

fn names(events: &[EventKind]) -> String {
    events
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(",")
}

fn line(s: &Subscription) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}",
        s.id,
        s.channel.name(),
        s.target,
        names(&s.events),
        s.created_at
    )
}

pub async fn run(
    store: &Store,
    args: NotifyArgs,
    webhook_targets: scimgate_notify::target::TargetPolicy,
) -> anyhow::Result<()> {
    let tenant = find_tenant(store, &args.tenant).await?;
    let app = App::builtin(store.clone(), Arc::new(SystemClock), webhook_targets)
        .acting_as(crate::sync_cli::cli_actor());
    match args.command {
        NotifyCommand::Add {
            email,
            webhook,
            events: event_names,
            json,
        } => {
            let (channel, target) = match (email, webhook) {
                (Some(address), None) => (Channel::Email, address),
                (None, Some(url)) => (Channel::Webhook, url),
                _ => bail!("give either --email or --webhook"),
            };
            let kinds = events(&event_names)?;
            // The command line adds and removes deliberately, not as an edit of a list
            // it read: no version to compare.
            let created = (app
                .subscribe(&tenant, Expect::Any, channel, &target, &kinds)
                .await?)
                .value;
            let s = &created.subscription;
            if json {
                let mut value = json!(s);
                if let (Some(secret), Some(map)) = (&created.secret, value.as_object_mut()) {
                    map.insert("secret".into(), json!(secret));
                }
                println!("{value}");
            } else {
                println!(
                    "Subscription {} of tenant {}: {} {} for {}",
                    s.id,
                    tenant.name,
                    s.channel.name(),
                    s.target,
                    names(&s.events)
                );
                if let Some(secret) = &created.secret {
                    println!("Signing secret (shown once, store it now): {secret}");
                }
            }
        }
        NotifyCommand::List { json } => {
            for s in app.subscriptions(&tenant).await?.value {
                if json {
                    println!("{}", json!(s));
                } else {
                    println!("{}", line(&s));
                }
            }
        }
        NotifyCommand::Remove { id } => {
            (app.unsubscribe(&tenant, Expect::Any, id).await)
                .map_err(no_subscription(&tenant, id))?;
            eprintln!("subscription {id} of tenant {} removed", tenant.name);
        }
        NotifyCommand::Test { id } => {
            let outbox_id =
                (app.test_subscription(&tenant, id).await).map_err(no_subscription(&tenant, id))?;
            println!(
                "Test message {outbox_id} queued for subscription {id}; a running server delivers it (see notify outbox)"
            );
        }
        NotifyCommand::Outbox {
            status,
            limit,
            json,
        } => {
            let limit = limit.max(0);
            let status = (status.as_deref().map(OutboxStatus::parse_named))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            for m in app.outbox(&tenant, status, limit).await? {
                if json {
                    println!("{}", json!(m));
                } else {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{} attempts\t{}\t{}",
                        m.id,
                        m.status,
                        m.event,
                        m.channel,
                        m.target,
                        m.attempts,
                        m.created_at,
                        m.last_error.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(())
}

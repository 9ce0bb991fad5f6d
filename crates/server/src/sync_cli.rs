//! `scimgate catalog import`, `rules apply`, `preview`, `sync`, `runs`: the sync loop
//! from a terminal.

use crate::cli::find_tenant;
use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use scimgate_app::{App, AppError, Expect};
use scimgate_core::SystemClock;
use scimgate_notify::target::TargetPolicy;
use scimgate_rules::Catalog;
use scimgate_scheduler::{FieldChange, Plan, PlanItem};
use scimgate_store::Store;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Replace the tenant's catalogue with a YAML file (user_plans with seats,
    /// companies, groups, roles).
    Import {
        #[arg(long)]
        tenant: String,
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    #[arg(long)]
    tenant: String,
    /// Preview a draft rule file instead of the saved rule set (nothing is saved).
    #[arg(long)]
    rules: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[arg(long)]
    tenant: String,
    /// Sync only this user: a staged user id or a userName.
    #[arg(long)]
    user: Option<String>,
    /// Use the draft rules instead of the published ones (the draft stays a draft:
    /// automatic sync keeps using the published rules).
    #[arg(long)]
    draft: bool,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[arg(long)]
    tenant: String,
    /// Show one run with what it did to each user.
    #[arg(long)]
    run: Option<i64>,
    /// Ask this running run to stop at its next safe point (it ends `cancelled`; the
    /// next run completes what it left).
    #[arg(long, conflicts_with = "run")]
    cancel: Option<i64>,
    #[arg(long, default_value_t = 20)]
    limit: i64,
    #[arg(long)]
    json: bool,
}

/// Who makes changes from this terminal, as the audit log and rule versions record it:
/// the operating-system user.
pub fn cli_actor() -> scimgate_app::Actor {
    let user = std::env::var("USER").unwrap_or_default();
    let who = match user.trim() {
        "" => "cli".to_owned(),
        user => format!("cli:{user}"),
    };
    scimgate_app::Actor {
        who,
        via: scimgate_app::Via::Cli,
        from: String::new(),
    }
}

/// The application over `store`, into the built-in CRM, on the system clock, acting as
/// [`cli_actor`].
pub(crate) fn app(store: &Store) -> App {
    let app = App::builtin(
        store.clone(),
        Arc::new(SystemClock),
        TargetPolicy::default(),
    )
    .acting_as(cli_actor());
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        // One line rewritten in place; scripts (no terminal) get only the result.
        app.with_progress(Arc::new(|step, done, total| {
            match total {
                Some(total) => eprint!("\r{step} {done} / {total}   "),
                None => eprint!("\r{step} {done} users   "),
            }
            if total == Some(done) {
                eprintln!();
            }
        }))
    } else {
        app
    }
}

pub async fn catalog(store: &Store, command: CatalogCommand) -> anyhow::Result<()> {
    let CatalogCommand::Import { tenant, file } = command;
    let tenant = find_tenant(store, &tenant).await?;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let catalog =
        Catalog::from_yaml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    // A file import replaces whatever is there (no version to compare); the saved rules
    // must still compile against it.
    app(store)
        .replace_catalog(&tenant, Expect::Any, catalog.clone())
        .await?;
    println!(
        "catalogue of {} imported: {} user plans, {} companies, {} groups, {} roles",
        tenant.name,
        catalog.user_plans.len(),
        catalog.companies.len(),
        catalog.groups.len(),
        catalog.roles.len()
    );
    Ok(())
}

pub async fn rules_apply(
    store: &Store,
    tenant: &str,
    file: &Path,
    comment: &str,
) -> anyhow::Result<()> {
    let tenant = find_tenant(store, tenant).await?;
    let source = scimgate_rules::read_source_file(file).map_err(anyhow::Error::msg)?;
    match (app(store).publish_rules(&tenant, Expect::Any, source, comment)).await {
        Ok(saved) => {
            println!(
                "rule set of {} published as version {}: {} rules",
                tenant.name,
                saved.version,
                saved.value.rules.len()
            );
            Ok(())
        }
        Err(AppError::Rules { problems, .. }) => bail!(
            "{} was not saved:\n{}",
            file.display(),
            scimgate_rules::problems_text(&problems)
        ),
        Err(e) => Err(e.into()),
    }
}

pub async fn preview(store: &Store, args: PreviewArgs) -> anyhow::Result<()> {
    let tenant = find_tenant(store, &args.tenant).await?;
    let draft = match &args.rules {
        Some(path) => Some(scimgate_rules::read_source_file(path).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let plan = app(store).preview(&tenant, draft.as_ref()).await?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
        Format::Csv => print_csv(&plan),
        Format::Table => print_table(&plan),
    }
    Ok(())
}

fn text<S: std::ops::Deref<Target = str>>(v: &Option<S>) -> &str {
    v.as_deref().unwrap_or("")
}

fn print_table(plan: &Plan) {
    println!(
        "{:<12} {:<32} {:<20} {:<18} DETAIL",
        "ACTION", "USER", "USER PLAN", "ROLE"
    );
    for item in &plan.items {
        let target = item.target.as_ref();
        let detail = detail(item, |c| format!("{}: {:?} → {:?}", c.field, c.old, c.new));
        println!(
            "{:<12} {:<32} {:<20} {:<18} {}",
            item.action.name(),
            item.username,
            target.map(|t| text(&t.user_plan)).unwrap_or(""),
            target.map(|t| text(&t.role)).unwrap_or(""),
            detail
        );
    }
    let t = &plan.totals;
    println!();
    println!(
        "users received {}, will be synced {}: create {}, update {}, deprovision {}, unchanged {}, error {}",
        t.users_received, t.users_synced, t.create, t.update, t.deprovision, t.unchanged, t.error
    );
    if t.awaiting_relink > 0 {
        println!(
            "accounts waiting for their user to be sent again (after a restart): {}",
            t.awaiting_relink
        );
    }
    for seat in &plan.seats {
        let purchased = seat
            .purchased
            .map_or_else(|| "unlimited".to_owned(), |p| p.to_string());
        println!("seats {}: {} / {}", seat.user_plan, seat.used, purchased);
    }
}

fn print_csv(plan: &Plan) {
    println!(
        "{}",
        scimgate_core::csv::row(&[
            "action",
            "user_id",
            "username",
            "user_plan",
            "owner_company",
            "primary_group",
            "secondary_groups",
            "role",
            "confidential",
            "detail",
        ])
    );
    for item in &plan.items {
        let t = item.target.as_ref();
        let groups = t.map(|t| t.secondary_groups.join(";")).unwrap_or_default();
        let confidential = t.map(|t| t.confidential.to_string()).unwrap_or_default();
        let detail = detail(item, |c| format!("{}: {} -> {}", c.field, c.old, c.new));
        println!(
            "{}",
            scimgate_core::csv::row(&[
                item.action.name(),
                &item.user_id,
                &item.username,
                t.map(|t| text(&t.user_plan)).unwrap_or(""),
                t.map(|t| text(&t.owner_company)).unwrap_or(""),
                t.map(|t| text(&t.primary_group)).unwrap_or(""),
                &groups,
                t.map(|t| text(&t.role)).unwrap_or(""),
                &confidential,
                &detail,
            ])
        );
    }
}

pub async fn sync(store: &Store, args: SyncArgs) -> anyhow::Result<()> {
    let tenant = find_tenant(store, &args.tenant).await?;
    let app = app(store);
    let rules = match args.draft {
        true => scimgate_app::RuleSetRef::Draft,
        false => scimgate_app::RuleSetRef::Published,
    };
    let outcome = match &args.user {
        Some(user) => app.sync_user_with(&tenant, user, rules).await?,
        None => app.sync_company_with(&tenant, rules).await?,
    };
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprint!("\r\x1b[K"); // clear the progress line
    }
    println!(
        "run {} {}: created {}, updated {}, deprovisioned {}, unchanged {}, errors {}{}",
        outcome.run_id,
        outcome.status.name(),
        outcome.created,
        outcome.updated,
        outcome.deprovisioned,
        outcome.unchanged,
        outcome.errors,
        if outcome.held > 0 {
            format!(
                ", held {} deprovisions (approve or reject the run)",
                outcome.held
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

pub async fn runs(store: &Store, args: RunsArgs) -> anyhow::Result<()> {
    let tenant = find_tenant(store, &args.tenant).await?;
    if let Some(id) = args.cancel {
        app(store).cancel_run(&tenant, id).await?;
        println!(
            "run {id} of {} will stop at its next safe point",
            tenant.name
        );
        return Ok(());
    }
    if let Some(id) = args.run {
        let (run, users) = match app(store).run(&tenant, id).await {
            Err(AppError::NotFound(_)) => bail!("tenant {} has no run {id}", tenant.name),
            found => found?,
        };
        if args.json {
            println!("{}", json!({"run": run, "users": users}));
        } else {
            println!("{}", serde_json::to_string_pretty(&run)?);
            for u in users {
                println!(
                    "{}\t{}\t{}",
                    u.outcome,
                    u.username,
                    u.error.unwrap_or_default()
                );
            }
        }
        return Ok(());
    }
    for run in app(store).runs(&tenant, args.limit).await? {
        if args.json {
            println!("{}", serde_json::to_string(&run)?);
        } else {
            println!(
                "{}\t{}\t{}\t{}\tcreated {} updated {} deprovisioned {} unchanged {} errors {} held {}\t{}",
                run.id,
                run.trigger,
                run.status.name(),
                run.started_at,
                run.created,
                run.updated,
                run.deprovisioned,
                run.unchanged,
                run.errors,
                run.held,
                run.message.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// Why an item does nothing (its reason), or what it changes, each change as `change`
/// writes it.
fn detail(item: &PlanItem, change: impl Fn(&FieldChange) -> String) -> String {
    match &item.reason {
        Some(reason) => reason.clone(),
        None => {
            let changes: Vec<String> = item.changes.iter().map(change).collect();
            changes.join("; ")
        }
    }
}
